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

class cpu_engine final : public group_engine {
 public:
  // threads: as --threads (0 = all hardware threads); the results do not depend on it.
  cpu_engine(std::vector<group_summary> summaries, int threads)
    : summaries_(std::move(summaries)), threads_(thread_count(threads))
  {
  }

  cpu_engine(const summary_data_view& data, int threads) : threads_(thread_count(threads)), v_(data.groups)
  {
    summaries_.resize(data.groups);
    for (std::size_t j = 0; j < data.groups; ++j) {
      summaries_[j] = {1, data.estimates[j], 0.0};
      v_[j] = data.standard_errors[j] * data.standard_errors[j];
    }
  }

  std::size_t groups() const override { return summaries_.size(); }

  group_totals totals() override
  {
    return reduce<group_totals>(groups(), threads_,
                                [&](std::size_t j) { return group_totals::of(summaries_[j]); });
  }

  void set_sigma2(double sigma2) override
  {
    v_.resize(groups());
    for_each_block(groups(), reduce_block, threads_, [&](std::size_t begin, std::size_t end, std::size_t) {
      for (std::size_t j = begin; j < end; ++j) v_[j] = sigma2 / static_cast<double>(summaries_[j].n);
    });
  }

  variance_range variances() override
  {
    return reduce<variance_range>(groups(), threads_, [&](std::size_t j) { return variance_range::of(v_[j]); });
  }

  unweighted_sums unweighted() override
  {
    return reduce<unweighted_sums>(groups(), threads_, [&](std::size_t j) {
      return unweighted_sums::of(summaries_[j].mean, v_[j]);
    });
  }

  newton_sums newton(double tau2, double center) override
  {
    return reduce<newton_sums>(groups(), threads_, [&](std::size_t j) {
      return newton_sums::of(summaries_[j].mean, v_[j], tau2, center);
    });
  }

  weighted_sums weighted(double tau2, bool with_log = true) override
  {
    return reduce<weighted_sums>(groups(), threads_, [&](std::size_t j) {
      return weighted_sums::of(summaries_[j].mean, v_[j], tau2, with_log);
    });
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
    for_each_block(J, reduce_block, threads_, [&](std::size_t begin, std::size_t end, std::size_t) {
      for (std::size_t j = begin; j < end; ++j) {
        const posterior r = posterior_of(summaries_[j].mean, v_[j], p);
        out.n[j] = summaries_[j].n;
        out.mean[j] = p.offset + summaries_[j].mean;
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
    overwrite(out, [&](std::size_t j) { return mixture_posterior_of(summaries_[j].mean, v_[j], p); });
  }

  t_marginal_sums t_marginal(const t_prior_params& p) override
  {
    return reduce<t_marginal_sums>(groups(), threads_,
                                   [&](std::size_t j) { return t_marginal_sums::of(summaries_[j].mean, v_[j], p); });
  }

  void t_posteriors(const t_prior_params& p, fit_result& out) override
  {
    overwrite(out, [&](std::size_t j) { return t_posterior_of(summaries_[j].mean, v_[j], p); });
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

  std::vector<group_summary> summaries_;
  int threads_;
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
  return std::make_unique<cpu_engine>(group_summaries_of(data), threads);
}

}  // namespace shrink::detail
