// shrink::fit for per-group counts: the beta-binomial model (include/shrink/binomial.hpp).

#include <shrink/binomial.hpp>
#include <shrink/error.hpp>

#include "api/beta_binomial_fit.hpp"
#include "cpu/parallel.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

namespace shrink {
namespace {

using clock = std::chrono::steady_clock;
double seconds_since(clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); }

/// The estimate's standard errors on the natural scale, by the delta method from logit m and log nu.
void set_standard_errors(const detail::beta_binomial_estimate& e, binomial_fit_result& r)
{
  if (std::isfinite(e.se_logit_mean)) r.mean_se = e.se_logit_mean * e.mean * (1 - e.mean);
  if (std::isfinite(e.se_log_concentration)) r.concentration_se = e.se_log_concentration * e.concentration;
}

}  // namespace

std::string to_string(binomial_method m)
{
  switch (m) {
    case binomial_method::mom: return "mom";
    case binomial_method::ml: return "ml";
    case binomial_method::fixed: return "fixed";
  }
  return "?";
}

binomial_method parse_binomial_method(const std::string& name)
{
  for (binomial_method m : {binomial_method::mom, binomial_method::ml, binomial_method::fixed})
    if (name == to_string(m)) return m;
  throw error("unknown --method '" + name + "' for --family binomial (choose mom, ml or fixed)");
}

binomial_fit_result fit(const binomial_data_view& data, const binomial_options& o)
{
  const auto t0 = clock::now();
  SHRINK_EXPECTS(data.groups > 0, "no groups");
  SHRINK_EXPECTS(data.successes != nullptr && data.trials != nullptr, "null data pointer");
  SHRINK_EXPECTS(o.level > 0 && o.level < 1, "--level must lie strictly between 0 and 1");
  SHRINK_EXPECTS(o.max_iterations > 0, "--max-iterations must be positive");
  const backend used = resolve_backend(o.requested_backend);
  SHRINK_EXPECTS(used == backend::cpu || o.requested_backend == backend::automatic,
                 "--family binomial runs on the CPU backend so far (its CUDA kernels are not built yet): use --backend cpu or auto");
  std::vector<detail::beta_binomial::group> groups(data.groups);
  for (std::size_t j = 0; j < data.groups; ++j) {
    const double y = data.successes[j], n = data.trials[j];
    SHRINK_EXPECTS(n > 0 && y >= 0 && y <= n && y == std::floor(y) && n == std::floor(n),
                   "counts must be whole numbers with 0 <= successes <= trials and trials > 0");
    groups[j] = {y, n};
  }
  const detail::binomial_groups g{groups.data(), groups.size(), o.threads};

  binomial_fit_result r;
  r.used = backend::cpu;
  r.method = o.method;
  r.level = o.level;
  r.groups = data.groups;
  const detail::binomial_totals t = detail::binomial_summaries(g);
  r.total_successes = t.successes;
  r.total_trials = t.trials;
  r.complete_pooling = t.successes / t.trials;

  detail::beta_binomial_estimate e;
  switch (o.method) {
    case binomial_method::mom: e = detail::beta_binomial_moments(g, t); break;
    case binomial_method::ml: e = detail::beta_binomial_ml(g, t, o.max_iterations); break;
    case binomial_method::fixed: {
      SHRINK_EXPECTS(std::isfinite(o.alpha) && std::isfinite(o.beta) && o.alpha > 0 && o.beta > 0,
                     "--method fixed needs a prior with alpha > 0 and beta > 0 (--alpha/--beta or --mean/--concentration)");
      e = detail::beta_binomial_fixed(g, t, o.alpha, o.beta);
      break;
    }
  }
  r.alpha = e.alpha;
  r.beta = e.beta;
  r.mean = e.mean;
  r.concentration = e.concentration;
  r.log_likelihood = e.log_likelihood;
  // The over-dispersion test is the likelihood ratio at the maximum, whichever estimate is reported.
  r.overdispersion_statistic = e.lrt_statistic;
  r.overdispersion_p_value = e.lrt_p_value;
  if (o.method != binomial_method::ml) {
    try {
      const detail::beta_binomial_estimate best = detail::beta_binomial_ml(g, t, o.max_iterations);
      r.overdispersion_statistic = best.lrt_statistic;
      r.overdispersion_p_value = best.lrt_p_value;
    } catch (const error&) {  // no finite maximum (all rates 0 or 1): no test
      r.overdispersion_statistic = r.overdispersion_p_value = std::numeric_limits<double>::quiet_NaN();
    }
  }
  r.boundary = e.boundary;
  r.iterations = e.iterations;
  if (o.method == binomial_method::ml) {
    set_standard_errors(e, r);
    const detail::beta_binomial_intervals ci = detail::beta_binomial_profile_intervals(g, t, e, o.level);
    r.mean_ci = interval{ci.mean_lower, ci.mean_upper};
    r.concentration_ci = interval{ci.concentration_lower, ci.concentration_upper};
  }
  if (e.boundary)
    r.notes.push_back("the concentration estimate is infinite (no over-dispersion beyond binomial noise): "
                      "partial pooling equals complete pooling");
  if (o.method == binomial_method::mom && !e.boundary && data.groups < 10)
    r.notes.push_back("the method of moments with fewer than 10 groups is rough: consider --method ml");
  r.seconds_estimate = seconds_since(t0);

  // Per group: the conjugate posterior Beta(alpha + y, beta + n - y), or the pooled rate on the boundary.
  const auto t_post = clock::now();
  const std::size_t J = data.groups;
  r.trials.assign(data.trials, data.trials + J);
  r.successes.assign(data.successes, data.successes + J);
  r.rate.resize(J);
  r.shrinkage.resize(J);
  r.estimate.resize(J);
  r.sd.resize(J);
  r.lower.resize(J);
  r.upper.resize(J);
  const double tail = (1 - o.level) / 2;
  detail::for_each_block(J, 1 << 12, detail::thread_count(o.threads), [&](std::size_t begin, std::size_t end, std::size_t) {
    for (std::size_t j = begin; j < end; ++j) {
      r.rate[j] = groups[j].successes / groups[j].trials;
      if (e.boundary) {
        r.shrinkage[j] = 1;
        r.estimate[j] = r.lower[j] = r.upper[j] = e.mean;
        r.sd[j] = 0;
        continue;
      }
      const detail::beta_binomial::posterior p = detail::beta_binomial::posterior_of(groups[j], e.alpha, e.beta, tail);
      r.shrinkage[j] = p.shrinkage;
      r.estimate[j] = p.mean;
      r.sd[j] = p.sd;
      r.lower[j] = p.lower;
      r.upper[j] = p.upper;
    }
  });
  r.seconds_posterior = seconds_since(t_post);
  r.seconds_total = seconds_since(t0);
  return r;
}

}  // namespace shrink
