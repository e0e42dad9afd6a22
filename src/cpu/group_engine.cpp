// The CPU backend: group summaries from rows and the per-group reductions, in double precision
// on std::threads, bitwise reproducible for any thread count; every reduction over groups is the
// fixed tree of src/common/fixed_reduce.hpp (parallel.hpp's reduce), the GPU backend's too.

#include "../api/group_engine.hpp"
#include "parallel.hpp"
#include "summarize.hpp"

#include <cmath>
#include <iterator>

namespace shrink::detail {
namespace {

/// The group table as columns (n_j, ybar_j, m2_j): a pass over the groups reads only the columns
/// its terms use (most: ybar and v, 16 bytes a group).
struct group_columns {
  const std::int64_t* n = nullptr;
  const double* mean = nullptr;
  const double* m2 = nullptr;
};

class cpu_engine final : public group_engine {
 public:
  // threads: as --threads (0 = all hardware threads); the results do not depend on it.

  /// Reads the caller's columns where they are (no copy): they must outlive the engine.
  cpu_engine(group_columns columns, std::size_t groups, int threads)
    : groups_(groups), threads_(thread_count(threads)), columns_(columns)
  {
  }

  /// Owns the summaries (folded from rows here).
  cpu_engine(const std::vector<group_summary>& summaries, int threads)
    : groups_(summaries.size()), threads_(thread_count(threads)), own_n_(groups_), own_mean_(groups_), own_m2_(groups_)
  {
    for (std::size_t j = 0; j < groups_; ++j) {
      own_n_[j] = summaries[j].n;
      own_mean_[j] = summaries[j].mean;
      own_m2_[j] = summaries[j].m2;
    }
    columns_ = {own_n_.data(), own_mean_.data(), own_m2_.data()};
  }

  cpu_engine(const summary_data_view& data, int threads)
    : groups_(data.groups), threads_(thread_count(threads)), own_n_(groups_, 1),
      own_mean_(data.estimates, data.estimates + groups_), own_m2_(groups_, 0.0), v_(groups_)
  {
    for (std::size_t j = 0; j < groups_; ++j) v_[j] = data.standard_errors[j] * data.standard_errors[j];
    columns_ = {own_n_.data(), own_mean_.data(), own_m2_.data()};
  }

  std::size_t groups() const override { return groups_; }

  group_totals totals() override
  {
    const group_columns c = columns_;
    return reduce<group_totals>(groups(), threads_,
                                [&](std::size_t j) { return group_totals::of({c.n[j], c.mean[j], c.m2[j]}); });
  }

  void set_sigma2(double sigma2) override
  {
    v_.resize(groups());
    double* v = v_.data();
    const std::int64_t* n = columns_.n;
    for_each_block(groups(), reduce_block, threads_, [&](std::size_t begin, std::size_t end, std::size_t) {
      for (std::size_t j = begin; j < end; ++j) v[j] = sigma2 / static_cast<double>(n[j]);
    });
  }

  variance_range variances() override
  {
    const double* v = v_.data();
    return reduce<variance_range>(groups(), threads_, [&](std::size_t j) { return variance_range::of(v[j]); });
  }

  unweighted_sums unweighted() override
  {
    const double *mean = columns_.mean, *v = v_.data();
    return reduce<unweighted_sums>(groups(), threads_, [&](std::size_t j) { return unweighted_sums::of(mean[j], v[j]); });
  }

  newton_sums newton(double tau2, double center) override
  {
    const double *mean = columns_.mean, *v = v_.data();
    return reduce<newton_sums>(groups(), threads_,
                               [&](std::size_t j) { return newton_sums::of(mean[j], v[j], tau2, center); });
  }

  weighted_sums weighted(double tau2, bool with_log = true) override
  {
    const double *mean = columns_.mean, *v = v_.data();
    return reduce<weighted_sums>(groups(), threads_,
                                 [&](std::size_t j) { return weighted_sums::of(mean[j], v[j], tau2, with_log); });
  }

  void posteriors(const posterior_params& p, fit_result& out) override
  {
    const std::size_t J = groups();
    // Sizing the columns writes each of their pages for the first time (72 bytes a group), which
    // costs more than the map below: the columns are sized on the worker threads, one each.
    std::vector<double>* const columns[] = {&out.mean, &out.se,    &out.shrinkage, &out.estimate,
                                            &out.sd,   &out.lower, &out.upper,     &out.james_stein};
    for_each_block(std::size(columns) + 1, 1, threads_, [&](std::size_t c, std::size_t, std::size_t) {
      if (c == std::size(columns)) out.n.resize(J);
      else columns[c]->resize(columns[c] == &out.james_stein && !p.james_stein ? 0 : J);
    });
    const double *mean = columns_.mean, *v = v_.data();
    for_each_block(J, reduce_block, threads_, [&](std::size_t begin, std::size_t end, std::size_t) {
      for (std::size_t j = begin; j < end; ++j) {
        const posterior r = posterior_of(mean[j], v[j], p);
        out.n[j] = columns_.n[j];
        out.mean[j] = p.offset + mean[j];
        out.se[j] = r.se;
        out.shrinkage[j] = r.shrinkage;
        out.estimate[j] = r.estimate;
        out.sd[j] = r.sd;
        out.lower[j] = r.lower;
        out.upper[j] = r.upper;
        if (p.james_stein) out.james_stein[j] = r.james_stein;
      }
    });
  }

  void mixture_posteriors(const mixture_params& p, fit_result& out) override
  {
    overwrite(out, [&](std::size_t j) { return mixture_posterior_of(columns_.mean[j], v_[j], p); });
  }

  t_marginal_sums t_marginal(const t_prior_params& p) override
  {
    return reduce<t_marginal_sums>(groups(), threads_,
                                   [&](std::size_t j) { return t_marginal_sums::of(columns_.mean[j], v_[j], p); });
  }

  void t_posteriors(const t_prior_params& p, fit_result& out) override
  {
    overwrite(out, [&](std::size_t j) { return t_posterior_of(columns_.mean[j], v_[j], p); });
  }

 private:
  /// Replaces the model-dependent columns of `out` by those of `of(j)`.
  template <class Of>
  void overwrite(fit_result& out, Of&& of)
  {
    for_each_block(groups(), reduce_block, threads_, [&](std::size_t begin, std::size_t end, std::size_t) {
      for (std::size_t j = begin; j < end; ++j) {
        const posterior r = of(j);
        out.shrinkage[j] = r.shrinkage;
        out.estimate[j] = r.estimate;
        out.sd[j] = r.sd;
        out.lower[j] = r.lower;
        out.upper[j] = r.upper;
      }
    });
  }

  std::size_t groups_;
  int threads_;
  std::vector<std::int64_t> own_n_;  // the columns, where the engine owns them
  std::vector<double> own_mean_, own_m2_;
  group_columns columns_;
  std::vector<double> v_;  // sampling variance of each ybar_j
};

}  // namespace

std::unique_ptr<group_engine> make_cpu_engine(const raw_data_view& data, int threads)
{
  return std::make_unique<cpu_engine>(summarize_groups(data, threads), threads);
}

std::unique_ptr<group_engine> make_cpu_engine(const summary_data_view& data, int threads)
{
  return std::make_unique<cpu_engine>(data, threads);
}

std::unique_ptr<group_engine> make_cpu_engine(const grouped_data_view& data, int threads)
{
  return std::make_unique<cpu_engine>(group_columns{data.n, data.mean, data.m2}, data.groups, threads);
}

}  // namespace shrink::detail
