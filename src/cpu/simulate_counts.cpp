// The count families' simulation studies on the CPU (`shrink simulate --family binomial|poisson`).
// Threads run whole replicates: a replicate draws (theta_j, y_j) for its J groups, gathers the
// groups with equal (size, count) into weighted entries, fits the prior by ml and by moments
// (src/api/count_fit.cpp, on one thread: its fixed reduction tree gives the same bits anywhere),
// takes each entry's posterior under the ml fit, the moment fit and the true prior, and sums the
// errors and interval hits over groups in group order. A replicate's metrics are a function of its
// draws alone, and replicates merge in fixed blocks (merge_replicates): the study's bits do not
// depend on the thread count or the batch.

#include "../api/count_fit.hpp"
#include "../api/simulate_backend.hpp"
#include "parallel.hpp"
#include "simulate_lanes.hpp"

#include <shrink/error.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace shrink::detail::sim {

namespace {

/// Dense (size, count) tables above this many cells are not built: the replicate's groups are
/// then its entries, one each.
constexpr std::uint64_t max_table = std::uint64_t{1} << 22;

/// A posterior reduced to what the metrics need: its mean and bounds on its interval's ends
/// (lower_lo <= lower <= lower_hi, upper_lo <= upper <= upper_hi), equal to the ends once computed.
struct entry_posterior {
  double mean = 0, lower_lo = 0, lower_hi = 0, upper_lo = 0, upper_hi = 0;

  static entry_posterior exact(double mean, double lower, double upper) { return {mean, lower, lower, upper, upper}; }

  /// Whether [lower, upper] holds t: 1 or 0, or -1 where the bounds cannot tell.
  int covers(double t) const
  {
    if (t < lower_lo || t > upper_hi) return 0;
    return t >= lower_hi && t <= upper_lo ? 1 : -1;
  }
};

template <class Family>
class family_evaluator final : public count_evaluator {
  using group = typename Family::group;

 public:
  explicit family_evaluator(const count_job& job) : job_(job) {}

  void evaluate(std::uint64_t r, const double* theta, const double* y, double* metrics) override
  {
    const auto J = static_cast<std::size_t>(job_.params.groups);
    gather(y);
    const count_groups<Family> data{entries_.data(), entries_.size(), 1, weights_.empty() ? nullptr : weights_.data(),
                                    nullptr};
    const count_totals totals = count_summaries(data);
    count_estimate ml, mom;
    // Binomial counts all 0 or n_j: the likelihood grows as nu falls to 0 (each such group's factor
    // does, and no group has the factor nu an interior count brings), so its supremum is no
    // pooling: every posterior a point mass at y_j / n_j.
    bool ml_no_pooling = Family::bounded_mean;
    for (const group& g : entries_) ml_no_pooling = ml_no_pooling && (g.count == 0 || g.count == g.size);
    // Rates varying as much as rates of only 0 and 1 (v >= m (1 - m)) put the moment concentration
    // at <= 0: the same limit for the moments (as `shrink fit --method mom` says).
    bool mom_no_pooling = Family::bounded_mean && totals.rate_variance >= totals.rate_mean * (1 - totals.rate_mean);
    // All counts 0 (or every trial a success) has no finite fit: both estimates are the pooled
    // rate with no spread (the boundary), as the likelihood's supremum is.
    if (totals.count == 0 || (Family::bounded_mean && totals.count == totals.size)) {
      ml.boundary = mom.boundary = true;
      ml.mean = mom.mean = totals.count / totals.size;
      ml_no_pooling = mom_no_pooling = false;
    } else {
      try {
        if (!mom_no_pooling) mom = count_moments(data, totals);
        if (!ml_no_pooling) ml = count_ml(data, totals);
      } catch (const error& e) {
        throw error(std::string(e.what()) + " (replicate " + std::to_string(r) + " of the study)");
      }
    }
    const double tail = job_.tail;
    const auto posterior = [&](const count_estimate& e, const group& g, bool at_rate) {
      if (at_rate) return entry_posterior::exact(g.count / g.size, g.count / g.size, g.count / g.size);
      if (e.boundary) return entry_posterior::exact(e.mean, e.mean, e.mean);  // a point mass at the mean
      const count_posterior p = Family::posterior_of(g, e.a, e.b, tail);
      return entry_posterior::exact(p.mean, p.lower, p.upper);
    };
    // The fits' intervals only as far as coverage needs them: bounds on each end from one incomplete
    // beta (inverse_incomplete_beta_bounds), the ends themselves only for entries with a theta_j
    // between the bounds (below). Coverage is a count: the same bits in any order.
    const auto bounded = [&](const count_estimate& e, const group& g, bool at_rate) {
      if constexpr (std::is_same_v<Family, beta_binomial>) {
        if (!at_rate && !e.boundary) {
          const double a = e.a + g.count, b = e.b + (g.size - g.count);
          const beta_prefactor pf = bounds_prefactor_of(a, b);
          entry_posterior p;
          p.mean = Family::posterior_moments(g, e.a, e.b).mean;
          constexpr double inf = std::numeric_limits<double>::infinity();
          if (!inverse_incomplete_beta_bounds(pf, tail, false, p.lower_lo, p.lower_hi)) p.lower_lo = -inf, p.lower_hi = inf;
          if (!inverse_incomplete_beta_bounds(pf, tail, true, p.upper_lo, p.upper_hi)) p.upper_lo = -inf, p.upper_hi = inf;
          return p;
        }
      }
      return posterior(e, g, at_rate);
    };
    const count_estimate truth = true_prior();
    post_.resize(3 * entries_.size());
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      post_[3 * i] = bounded(ml, entries_[i], ml_no_pooling);
      post_[3 * i + 1] = bounded(mom, entries_[i], mom_no_pooling);
      post_[3 * i + 2] = oracle_of(entries_[i], [&] { return posterior(truth, entries_[i], false); });
    }

    double se2[estimator_count] = {}, se[estimator_count] = {}, covered[estimator_count] = {};
    const double pooled = totals.count / totals.size;
    for (std::size_t j = 0; j < J; ++j) {
      const entry_posterior* p = post_.data() + 3 * entry_of(j);
      const double t = theta[j];
      double estimate[estimator_count];
      estimate[no_pool] = y[j] / size_of(j);
      estimate[complete_pool] = pooled;
      estimate[partial_pool] = p[0].mean;
      estimate[partial_pool_mom] = p[1].mean;
      estimate[oracle] = p[2].mean;
      for (int e = 0; e < estimator_count; ++e) {
        const double err = estimate[e] - t;
        se2[e] += err * err;
        se[e] += err;
      }
      for (int fit = 0; fit < 2; ++fit) {
        const int hit = p[fit].covers(t);
        if (hit < 0) undecided_.push_back(2 * j + static_cast<std::size_t>(fit));
        else covered[fit == 0 ? partial_pool : partial_pool_mom] += hit;
      }
      covered[oracle] += p[2].lower_lo <= t && t <= p[2].upper_hi ? 1.0 : 0.0;
    }
    // The rare theta_j the bounds could not place: its entry's interval itself, once per entry and fit.
    for (const std::size_t k : undecided_) {
      const std::size_t j = k / 2, fit = k % 2, i = entry_of(j);
      entry_posterior& p = post_[3 * i + fit];
      const double t = theta[j];
      if (p.covers(t) < 0)
        p = fit == 0 ? posterior(ml, entries_[i], ml_no_pooling) : posterior(mom, entries_[i], mom_no_pooling);
      covered[fit == 0 ? partial_pool : partial_pool_mom] += p.lower_lo <= t && t <= p.upper_hi ? 1.0 : 0.0;
    }
    undecided_.clear();
    const double groups = static_cast<double>(J);
    for (int e = 0; e < estimator_count; ++e) {
      metrics[metric_mse(e)] = se2[e] / groups;
      metrics[metric_bias(e)] = se[e] / groups;
      metrics[metric_coverage(e)] = covered[e] / groups;
    }
    // The over-dispersion 1 / (1 + nu) (the intra-class correlation) or 1 / shape: 0 at the boundary,
    // 1 at no pooling (nu = 0).
    metrics[metric_tau_hat] = ml_no_pooling ? 1.0
                              : ml.boundary ? 0.0
                                            : 1.0 / (Family::bounded_mean ? 1.0 + ml.concentration : ml.concentration);
    metrics[metric_tau_zero] = ml.boundary ? 1.0 : 0.0;
  }

 private:
  double size_of(std::size_t j) const
  {
    return job_.params.equal_size ? job_.params.size : static_cast<double>(job_.size[j]);
  }
  std::size_t entry_of(std::size_t j) const { return gathered_ ? entry_index_[j] : j; }

  count_estimate true_prior() const
  {
    count_estimate e;
    e.a = job_.params.a;
    e.b = job_.params.b;
    return e;
  }

  /// The oracle's posterior of a (size, count) pair is the same in every replicate: computed once
  /// (by `compute`) and kept, up to max_table pairs.
  template <class Compute>
  entry_posterior oracle_of(const group& g, const Compute& compute)
  {
    const std::pair<double, double> key{g.size, g.count};
    const auto it = oracle_.find(key);
    if (it != oracle_.end()) return it->second;
    const entry_posterior p = compute();
    if (oracle_.size() < max_table) oracle_.emplace(key, p);
    return p;
  }

  /// The replicate's entries: with a dense table of (size - size_min, count) cells, the distinct
  /// pairs in (size, count) order, each weighted by its number of groups; else every group.
  void gather(const double* y)
  {
    const auto J = static_cast<std::size_t>(job_.params.groups);
    const double y_max = *std::max_element(y, y + J);
    const auto span = static_cast<std::uint64_t>(job_.size_max - job_.size_min + 1);
    const double cells = static_cast<double>(span) * (y_max + 1);
    entries_.clear();
    weights_.clear();
    gathered_ = cells <= static_cast<double>(max_table);
    if (!gathered_) {
      for (std::size_t j = 0; j < J; ++j) entries_.push_back(group{y[j], size_of(j)});
      return;
    }
    const auto width = static_cast<std::uint64_t>(y_max) + 1;
    if (table_.size() < static_cast<std::size_t>(cells)) table_.assign(static_cast<std::size_t>(cells), 0);
    entry_index_.resize(J);
    const auto cell_of = [&](std::size_t j) {
      return static_cast<std::size_t>((static_cast<std::uint64_t>(size_of(j)) - static_cast<std::uint64_t>(job_.size_min)) *
                                        width + static_cast<std::uint64_t>(y[j]));
    };
    touched_.clear();
    for (std::size_t j = 0; j < J; ++j)
      if (table_[cell_of(j)]++ == 0) touched_.push_back(static_cast<std::uint32_t>(cell_of(j)));
    std::sort(touched_.begin(), touched_.end());
    for (std::size_t i = 0; i < touched_.size(); ++i) {
      const std::uint32_t cell = touched_[i];
      entries_.push_back(group{static_cast<double>(cell % width), static_cast<double>(job_.size_min) +
                                                                      static_cast<double>(cell / width)});
      weights_.push_back(static_cast<double>(table_[cell]));
      table_[cell] = static_cast<std::uint32_t>(i);  // the cell now names its entry
    }
    for (std::size_t j = 0; j < J; ++j) entry_index_[j] = table_[cell_of(j)];
    for (const std::uint32_t cell : touched_) table_[cell] = 0;
  }

  const count_job& job_;
  bool gathered_ = false;
  std::vector<group> entries_;
  std::vector<double> weights_;
  std::vector<std::uint32_t> table_, touched_, entry_index_;
  std::vector<entry_posterior> post_;  ///< per entry: ml, mom, oracle
  std::vector<std::size_t> undecided_;  ///< 2 j + fit (0 ml, 1 mom) whose coverage the bounds left open
  std::map<std::pair<double, double>, entry_posterior> oracle_;  ///< by (size, count)
};

}  // namespace

std::unique_ptr<count_evaluator> make_count_evaluator(const count_job& job)
{
  if (job.params.binomial) return std::make_unique<family_evaluator<beta_binomial>>(job);
  return std::make_unique<family_evaluator<gamma_poisson>>(job);
}

/// Runs fn(w) for w in [0, workers) (run_workers), each worker's exception rethrown here: a thread
/// must not throw (std::terminate).
template <class Fn>
void run_workers_rethrow(int workers, Fn&& fn)
{
  std::vector<std::exception_ptr> failed(static_cast<std::size_t>(workers));
  run_workers(workers, [&](int w) {
    try {
      fn(w);
    } catch (...) {
      failed[static_cast<std::size_t>(w)] = std::current_exception();
    }
  });
  for (const std::exception_ptr& e : failed)
    if (e) std::rethrow_exception(e);
}

namespace {

/// The scenario's replicates in chunks (`batch`, or automatic, at most `max_batch`):
/// `evaluate_chunk(r0, count, metrics)` fills the metrics of replicates [r0, r0 + count), merged in
/// fixed blocks (merge_replicates).
template <class EvaluateChunk>
replicate_fold run_chunks(const count_job& job, int threads, std::uint64_t batch, std::uint64_t max_batch,
                          const progress_fn& progress, EvaluateChunk&& evaluate_chunk)
{
  const std::uint64_t R = job.count;
  const std::uint64_t chunk = batch_size(batch, job.params.groups, count_chunk_target, max_batch, R);
  std::vector<double> metrics(static_cast<std::size_t>(std::min(chunk, R) * metric_count));
  std::vector<metric_moments> scratch;
  replicate_fold total = empty_fold(job.replicates);
  for (std::uint64_t r0 = job.first; r0 < job.first + R; r0 += chunk) {
    const std::uint64_t count = std::min(chunk, job.first + R - r0);
    evaluate_chunk(r0, count, metrics.data());
    merge_replicates(metrics.data(), r0, count, threads, scratch, total);
    if (progress) progress(count * static_cast<std::uint64_t>(job.params.groups));
  }
  return total;
}

/// An evaluator per worker: `threads` of them, at most a chunk's replicates.
std::vector<std::unique_ptr<count_evaluator>> evaluators_of(const count_job& job, int threads, std::uint64_t batch,
                                                            std::uint64_t max_batch)
{
  const std::uint64_t chunk = batch_size(batch, job.params.groups, count_chunk_target, max_batch, job.count);
  const auto workers = std::min<std::uint64_t>(static_cast<std::uint64_t>(threads), std::min(chunk, job.count));
  std::vector<std::unique_ptr<count_evaluator>> evaluators;
  for (std::uint64_t w = 0; w < workers; ++w) evaluators.push_back(make_count_evaluator(job));
  return evaluators;
}

}  // namespace

replicate_fold run_count_scenario(const count_job& job, int threads, std::uint64_t batch, std::uint64_t max_batch,
                                  const progress_fn& progress, const count_draw_fn& draw)
{
  const auto groups = static_cast<std::size_t>(job.params.groups);
  const auto evaluators = evaluators_of(job, threads, batch, max_batch);
  const int workers = static_cast<int>(evaluators.size());
  std::vector<double> theta, y;
  return run_chunks(job, threads, batch, max_batch, progress, [&](std::uint64_t r0, std::uint64_t count, double* metrics) {
    theta.resize(static_cast<std::size_t>(count) * groups);
    y.resize(theta.size());
    draw(r0, count, theta.data(), y.data());
    run_workers_rethrow(workers, [&](int w) {
      for (std::uint64_t i = static_cast<std::uint64_t>(w); i < count; i += static_cast<std::uint64_t>(workers))
        evaluators[static_cast<std::size_t>(w)]->evaluate(r0 + i, theta.data() + i * groups, y.data() + i * groups,
                                                          metrics + i * metric_count);
    });
  });
}

backend_run run_counts_cpu(const std::vector<count_job>& jobs, int threads, std::uint64_t batch,
                           const progress_fn& progress)
{
  const auto t0 = std::chrono::steady_clock::now();
  const int t = thread_count(threads);
  backend_run out;
  for (const count_job& job : jobs) {
    const auto groups = static_cast<std::size_t>(job.params.groups);
    // Prior shapes >= 1 draw in SIMD lanes (simulate_lanes.hpp), the same bits.
    const bool in_lanes = job.params.a >= 1 && (!job.params.binomial || job.params.b >= 1);
    const lane_kernels& kernels = kernels_of(simd_level_in_use());
    const count_block_args args = count_block_args_of(job.params);
    // Each worker draws its replicate and evaluates it at once, in buffers of one replicate that stay
    // in cache (a chunk's draws first would pass them through memory): each draw a function of (r, j).
    const auto evaluators = evaluators_of(job, t, batch, std::uint64_t{1} << 16);
    const int workers = static_cast<int>(evaluators.size());
    std::vector<std::vector<double>> theta(static_cast<std::size_t>(workers), std::vector<double>(groups)),
      y = theta;
    std::vector<redo_lanes> redo(in_lanes ? static_cast<std::size_t>(workers) : 0);
    const auto draw = [&](std::uint64_t r, double* th, double* yy, int w) {
      if (in_lanes && (r >> 32) == 0) {  // groups are below 2^31: the key is the seed's
        count_block_args a = args;
        a.replicate = static_cast<std::uint32_t>(r);
        for (std::size_t j0 = 0; j0 < groups; j0 += count_block) {
          a.first = static_cast<std::uint32_t>(j0);
          a.count = static_cast<std::uint32_t>(std::min<std::size_t>(count_block, groups - j0));
          a.n = job.params.equal_size ? nullptr : job.size.data() + j0;
          draw_count_block(kernels, a, th + j0, yy + j0, redo[static_cast<std::size_t>(w)]);
        }
        return;
      }
      for (std::size_t j = 0; j < groups; ++j) {
        const double size = job.params.equal_size ? job.params.size : static_cast<double>(job.size[j]);
        const count_draw d = draw_count_group(job.params, size, r, j);
        th[j] = d.theta;
        yy[j] = d.y;
      }
    };
    const auto evaluate_chunk = [&](std::uint64_t r0, std::uint64_t count, double* metrics) {
      run_workers_rethrow(workers, [&](int w) {
        const auto ww = static_cast<std::size_t>(w);
        for (std::uint64_t i = ww; i < count; i += static_cast<std::uint64_t>(workers)) {
          draw(r0 + i, theta[ww].data(), y[ww].data(), w);
          evaluators[ww]->evaluate(r0 + i, theta[ww].data(), y[ww].data(), metrics + i * metric_count);
        }
      });
    };
    out.moments.push_back(run_chunks(job, t, batch, std::uint64_t{1} << 16, progress, evaluate_chunk));
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace shrink::detail::sim
