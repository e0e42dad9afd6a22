// shrink::fit for per-group counts (include/shrink/counts.hpp): the families of
// src/common/families through the generic estimators of count_fit.hpp, their sums and posteriors on
// the CPU or on the GPU (the same bits).

#include <shrink/counts.hpp>
#include <shrink/error.hpp>

#include "api/count_bayes.hpp"
#include "api/count_fit.hpp"
#include "api/glmm_fit.hpp"
#include "common/count_mixture.hpp"
#include "api/numerics.hpp"
#include "common/normal.hpp"
#include "cpu/glmm_lanes.hpp"
#include "cpu/parallel.hpp"

#include <chrono>
#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <memory>
#include <vector>

namespace shrink {
namespace {

using clock = std::chrono::steady_clock;
using detail::seconds_since;

/// The groups checked and, for poisson, exposures in a unit of a power of two near their mean
/// (dividing by it is exact), so that exposures of 1e-300 or 1e300 keep the likelihood's terms
/// inside double range; theta is then per that unit, and every rate a fit returns is scaled back
/// exactly (binomial: unit 1).
template <class Family>
std::vector<typename Family::group> checked_groups(const count_data_view& data, double& unit)
{
  const std::size_t J = data.groups;
  std::vector<typename Family::group> groups(J);
  for (std::size_t j = 0; j < J; ++j) {
    const double y = data.counts[j], n = data.sizes != nullptr ? data.sizes[j] : 1.0;
    SHRINK_EXPECTS(y >= 0 && y == std::floor(y) && std::isfinite(y), "counts must be whole numbers >= 0");
    if (Family::bounded_mean)
      SHRINK_EXPECTS(n > 0 && n == std::floor(n) && y <= n && std::isfinite(n),
                     "trials must be whole numbers > 0, and successes <= trials");
    else
      SHRINK_EXPECTS(n > 0 && std::isfinite(n), "exposures must be finite and > 0");
    groups[j] = {y, n};
  }
  unit = 1;
  if constexpr (!Family::bounded_mean) {
    double mean_size = 0;
    for (const auto& gr : groups) mean_size += gr.size / static_cast<double>(J);
    unit = std::ldexp(1.0, std::ilogb(mean_size));
    for (auto& gr : groups) gr.size /= unit;
  }
  return groups;
}

template <class Family>
count_fit_result fit_family(const count_data_view& data, const count_options& o, backend used)
{
  const auto t0 = clock::now();
  const std::size_t J = data.groups;
  double unit = 1;
  const std::vector<typename Family::group> groups = checked_groups<Family>(data, unit);
  // The estimators and the posteriors run over the distinct (count, size) pairs, each weighted by
  // its groups: the same sums (up to rounding), a fraction of the work where sizes are small.
  const detail::distinct_groups<Family> distinct = detail::gather_distinct<Family>(groups);
  detail::count_groups<Family> g{distinct.groups.data(), distinct.groups.size(), o.threads, distinct.weights.data()};
  std::unique_ptr<detail::count_device<Family>> device;
  if (used == backend::cuda) {
    device = detail::make_cuda_count_device(g);
    g.device = device.get();
  }

  count_fit_result r;
  r.family = data.family;
  r.used = used;
  r.method = o.method;
  r.level = o.level;
  r.groups = J;
  const detail::count_totals t = detail::count_summaries(g);
  r.total_count = t.count;
  r.total_size = t.size * unit;
  r.complete_pooling = t.count / t.size / unit;

  detail::count_estimate e;
  detail::count_bayes_fit bayes;
  switch (o.method) {
    case count_method::mom:
      // Rates that vary as much as rates of only 0 and 1 (variance >= m (1 - m)) give a moment
      // concentration <= 0: the no-pooling limit, not the infinite boundary.
      SHRINK_EXPECTS(!Family::bounded_mean || !(t.rate_variance >= t.rate_mean * (1 - t.rate_mean)),
                     "the rates vary at least as much as rates of only 0 and 1 (variance >= m (1 - m)): the moment "
                     "concentration is <= 0, the no-pooling limit, so mom has no finite estimate");
      e = detail::count_moments(g, t);
      break;
    case count_method::ml: e = detail::count_ml(g, t, o.max_iterations); break;
    case count_method::fixed:
      SHRINK_EXPECTS(std::isfinite(o.a) && std::isfinite(o.b) && o.a > 0 && o.b > 0,
                     "--method fixed needs a prior with both parameters > 0");
      // Beyond 1e12 (the estimators' own boundary) the prior is a point mass for any data, and the
      // posterior quantiles' continued fraction would need ~sqrt(parameter) terms.
      SHRINK_EXPECTS(o.a <= 1e12 && (!Family::bounded_mean || o.b <= 1e12),
                     std::string("--method fixed: the prior's ") + (Family::bounded_mean ? "alpha and beta" : "shape") +
                       " must be at most 1e12 (a prior that concentrated is its mean for any data)");
      e = detail::count_fixed(g, t, o.a, o.b / unit);  // (poisson: the rate per exposure unit)
      break;
    case count_method::bayes:
      bayes = detail::count_bayes(g, t, o.hyperprior, o.level, unit);
      // The likelihood (and its report) at the posterior medians of the prior's parameters (their
      // means may not exist: count_bayes.cpp, moment_exists).
      e = detail::count_fixed(g, t, bayes.summary.a.median, bayes.summary.b.median / unit);
      break;
  }
  r.a = e.a;
  r.b = e.b * unit;
  r.mean = e.mean / unit;
  r.concentration = e.concentration;
  if (o.method == count_method::bayes) {
    r.mean = bayes.summary.mean.median;
    r.concentration = bayes.summary.concentration.median;
    r.bayes = bayes.summary;
    if (!bayes.summary.log_marginal_likelihood)
      r.notes.push_back("the hyperprior is improper: no log marginal likelihood");
  }
  r.log_likelihood = e.log_likelihood;
  r.boundary = e.boundary;
  r.iterations = e.iterations;
  // The over-dispersion test is the likelihood ratio at the maximum, whichever estimate is reported.
  r.overdispersion_statistic = e.lrt_statistic;
  r.overdispersion_p_value = e.lrt_p_value;
  if (o.method != count_method::ml) {
    try {
      const detail::count_estimate best = detail::count_ml(g, t, o.max_iterations);
      r.overdispersion_statistic = best.lrt_statistic;
      r.overdispersion_p_value = best.lrt_p_value;
    } catch (const error&) {  // no finite maximum (all rates at an end of their range): no test
      r.overdispersion_statistic = r.overdispersion_p_value = std::numeric_limits<double>::quiet_NaN();
    }
  }
  if (o.method == count_method::ml) {
    // Standard errors on the natural scale by the delta method: dm/du = m (1 - m) (logit) or m (log).
    if (std::isfinite(e.se_link_mean))
      r.mean_se = e.se_link_mean * (Family::bounded_mean ? e.mean * (1 - e.mean) : e.mean) / unit;
    if (std::isfinite(e.se_log_concentration)) r.concentration_se = e.se_log_concentration * e.concentration;
    const detail::count_intervals ci = detail::count_profile_intervals(g, t, e, o.level);
    r.mean_ci = interval{ci.mean_lower / unit, ci.mean_upper / unit};
    r.concentration_ci = interval{ci.concentration_lower, ci.concentration_upper};
  }
  if (e.boundary)
    r.notes.push_back(std::string("the ") + (Family::bounded_mean ? "concentration" : "shape") +
                      " estimate is infinite (no over-dispersion beyond " + Family::name +
                      " noise): partial pooling equals complete pooling");
  if (o.method == count_method::mom && !e.boundary && J < 10)
    r.notes.push_back("the method of moments with fewer than 10 groups is rough: consider --method ml");
  r.seconds_estimate = seconds_since(t0);

  // Per group: the conjugate posterior, or the prior mean itself on the boundary.
  const auto t_post = clock::now();
  r.counts.assign(data.counts, data.counts + J);
  r.entry_of = distinct.entry_of;
  r.sizes.resize(J);
  for (std::size_t j = 0; j < J; ++j) r.sizes[j] = groups[j].size * unit;
  for (std::vector<double>* column : {&r.rate, &r.shrinkage, &r.estimate, &r.sd, &r.lower, &r.upper}) column->resize(J);
  const double tail = (1 - o.level) / 2;
  const std::size_t entries = distinct.groups.size();
  std::vector<detail::count_posterior> posterior(entries);
  const int threads = detail::thread_count(o.threads);
  if (o.method == count_method::bayes) {
    // The mixture over the hyperparameters' grid, on the CPU threads for either backend.
    const detail::count_mixture moments{bayes.a.data(), bayes.b.data(), bayes.weight.data(),
                                        static_cast<int>(bayes.weight.size())};
    const detail::count_mixture quantiles{bayes.quantile_a.data(), bayes.quantile_b.data(), bayes.quantile_weight.data(),
                                          static_cast<int>(bayes.quantile_weight.size())};
    detail::for_each_block(entries, 16, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
      for (std::size_t i = begin; i < end; ++i)
        posterior[i] = detail::count_mixture_posterior<Family>(distinct.groups[i], moments, quantiles, tail);
    });
  } else if (e.boundary)
    std::fill(posterior.begin(), posterior.end(), detail::count_posterior{e.mean, 0.0, 1.0, e.mean, e.mean});
  else if (device)
    device->posteriors(e.a, e.b, tail, posterior.data());
  else
    detail::for_each_block(entries, 1 << 10, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
      for (std::size_t i = begin; i < end; ++i) posterior[i] = Family::posterior_of(distinct.groups[i], e.a, e.b, tail);
    });
  detail::for_each_block(J, 1 << 14, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
    for (std::size_t j = begin; j < end; ++j) {
      const detail::count_posterior& p = posterior[distinct.entry_of[j]];
      r.rate[j] = groups[j].count / groups[j].size / unit;
      r.shrinkage[j] = p.shrinkage;
      r.estimate[j] = p.mean / unit;
      r.sd[j] = p.sd / unit;
      r.lower[j] = p.lower / unit;
      r.upper[j] = p.upper / unit;
    }
  });
  r.seconds_posterior = seconds_since(t_post);
  r.seconds_total = seconds_since(t0);
  return r;
}

/// --method fixed for the normal prior on the link scale: the AGHQ log-likelihood at the given
/// (mu, tau), and the test of tau2 = 0 at the maximum, as the conjugate priors' fixed fits report
/// it (none where ml has no finite maximum, e.g. a single group).
template <class Likelihood>
detail::glmm_estimate glmm_fixed(const detail::glmm_groups<Likelihood>& g, const detail::count_totals& t, double mu,
                                 double tau, int max_iterations)
{
  using Family = typename Likelihood::conjugate;
  detail::glmm_estimate e;
  e.mu = mu;
  e.tau = tau;
  e.mu_se = e.tau_se = std::numeric_limits<double>::quiet_NaN();
  e.log_likelihood = (tau > 0 ? detail::glmm_marginal(g, mu, tau).value
                              : Family::limit(t.count, t.size, Likelihood::inverse_link(mu))) +
                     t.log_constants;
  try {
    g.cache.warm = false;  // ml from its own start, as --method ml runs it (the modes at (mu, tau) aside)
    const detail::glmm_estimate best = detail::glmm_ml(g, t.count, t.size, t.log_constants, max_iterations);
    e.lrt_statistic = best.lrt_statistic;
    e.lrt_p_value = best.lrt_p_value;
  } catch (const error&) {
    e.lrt_statistic = e.lrt_p_value = std::numeric_limits<double>::quiet_NaN();
  }
  return e;
}

/// The normal prior on the link scale: maximum likelihood by AGHQ (src/api/glmm_fit.cpp), the
/// posteriors of the entries by the same SHRINK_HD formulas on the CPU threads or the GPU.
template <class Likelihood>
count_fit_result fit_glmm(const count_data_view& data, const count_options& o, backend used)
{
  using Family = typename Likelihood::conjugate;
  const auto t0 = clock::now();
  const std::size_t J = data.groups;
  const bool fixed = o.method == count_method::fixed;
  SHRINK_EXPECTS(o.method == count_method::ml || fixed,
                 std::string("--prior ") + to_string(data.family, o.prior) +
                   " is fitted by --method ml (maximum likelihood, as glmer) or given by --method fixed");
  SHRINK_EXPECTS(fixed || J >= 2, "ml needs at least 2 groups (tau2 is the variance between them)");
  SHRINK_EXPECTS(!fixed || (std::isfinite(o.a) && std::isfinite(o.b) && o.b >= 0),
                 "--method fixed needs a finite mu and a finite tau >= 0");
  SHRINK_EXPECTS(o.quadrature_points >= 1 && o.quadrature_points <= 100,
                 "--quadrature-points must lie between 1 (Laplace) and 100");
  double unit = 1;
  const std::vector<typename Family::group> groups = checked_groups<Family>(data, unit);
  const detail::distinct_groups<Family> distinct = detail::gather_distinct<Family>(groups);
  const detail::hermite_nodes nodes = detail::gauss_hermite(o.quadrature_points);
  detail::glmm_groups<Likelihood> g{{distinct.groups.data(), distinct.groups.size(), o.threads, distinct.weights.data()},
                                    nodes.rule(), {}};
  std::unique_ptr<detail::glmm_device<Likelihood>> device;
  if (used == backend::cuda) {
    device = detail::make_cuda_glmm_device(g);
    g.device = device.get();
  }
  // The totals and the constants (log C(n, y), or y log E - log y!) are the conjugate family's.
  const detail::count_totals t =
    detail::count_summaries(detail::count_groups<Family>{distinct.groups.data(), distinct.groups.size(), o.threads,
                                                         distinct.weights.data()});
  // Poisson: eta = mu + b per exposure unit; per unit of the input's exposure, mu - log(unit).
  const double shift = Likelihood::bounded_mean ? 0.0 : std::log(unit);
  const detail::glmm_estimate e = fixed ? glmm_fixed(g, t, o.a + shift, o.b, o.max_iterations)
                                        : detail::glmm_ml(g, t.count, t.size, t.log_constants, o.max_iterations);

  count_fit_result r;
  r.family = data.family;
  r.prior = count_prior::normal;
  r.quadrature_points = o.quadrature_points;
  r.used = used;
  r.method = o.method;
  r.level = o.level;
  r.groups = J;
  r.total_count = t.count;
  r.total_size = t.size * unit;
  r.complete_pooling = t.count / t.size / unit;
  r.mu = e.mu - shift;
  r.tau2 = e.tau * e.tau;
  r.tau = e.tau;
  r.mean = Likelihood::inverse_link(e.mu) / unit;
  r.a = r.b = r.concentration = std::numeric_limits<double>::quiet_NaN();
  r.log_likelihood = e.log_likelihood;
  r.boundary = e.boundary;
  r.iterations = e.iterations;
  r.overdispersion_statistic = e.lrt_statistic;
  r.overdispersion_p_value = e.lrt_p_value;
  if (!e.boundary && !fixed) {
    r.mu_se = e.mu_se;
    r.tau_se = e.tau_se;
    r.tau2_se = 2 * e.tau * e.tau_se;
  }
  if (e.boundary)
    r.notes.push_back("the tau2 estimate is 0 (no variation beyond " + std::string(Likelihood::name) +
                      " noise): partial pooling equals complete pooling");
  if (fixed && e.tau == 0) r.notes.push_back("tau = 0: every group's rate is the prior's, exp(mu) or expit(mu)");
  if (fixed && std::isnan(e.lrt_statistic))
    r.notes.push_back("no test of tau2 = 0: ml has no finite maximum on these groups");
  if (!fixed) {
    const detail::glmm_intervals ci = detail::glmm_profile_intervals(g, e, t.log_constants, o.level);
    r.mu_ci = interval{ci.mu_lower - shift, ci.mu_upper - shift};
    r.tau2_ci = interval{ci.tau2_lower, ci.tau2_upper};
  }
  r.seconds_estimate = seconds_since(t0);

  const auto t_post = clock::now();
  const double tail = (1 - o.level) / 2;
  const std::size_t entries = distinct.groups.size();
  std::vector<detail::glmm_posterior> posterior(entries);
  const int threads = detail::thread_count(o.threads);
  if (device)
    device->posteriors(e.mu, e.tau, tail, posterior.data());
  else {
    const detail::glmm_lanes::batch<Likelihood> lanes;  // each panel's points in SIMD lanes: the same bits
    detail::for_each_block(entries, 1 << 6, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
      for (std::size_t i = begin; i < end; ++i)
        posterior[i] = detail::glmm_posterior_of<Likelihood>(distinct.groups[i], e.mu, e.tau, tail, lanes);
    });
  }
  r.counts.assign(data.counts, data.counts + J);
  r.entry_of = distinct.entry_of;
  r.sizes.resize(J);
  for (std::size_t j = 0; j < J; ++j) r.sizes[j] = groups[j].size * unit;
  for (std::vector<double>* column : {&r.rate, &r.shrinkage, &r.estimate, &r.sd, &r.lower, &r.upper, &r.mode, &r.mode_sd})
    *column = std::vector<double>(J);  // (value-initialised by memset; resize fills element by element)
  detail::for_each_block(J, 1 << 14, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
    for (std::size_t j = begin; j < end; ++j) {
      const detail::glmm_posterior& p = posterior[distinct.entry_of[j]];
      r.rate[j] = groups[j].count / groups[j].size / unit;
      r.shrinkage[j] = p.theta.shrinkage;
      r.estimate[j] = p.theta.mean / unit;
      r.sd[j] = p.theta.sd / unit;
      r.lower[j] = p.theta.lower / unit;
      r.upper[j] = p.theta.upper / unit;
      r.mode[j] = p.mode;
      r.mode_sd[j] = p.mode_sd;
    }
  });
  r.seconds_posterior = seconds_since(t_post);
  r.seconds_total = seconds_since(t0);
  return r;
}

/// profile_spread for a conjugate prior: the spread is the concentration (binomial) or shape.
template <class Family>
spread_profile profile_family(const count_data_view& data, const count_options& o, const std::vector<spread_point>& points,
                              const std::vector<std::size_t>& listed, const std::vector<std::size_t>& with_intervals)
{
  double unit = 1;
  const std::vector<typename Family::group> groups = checked_groups<Family>(data, unit);
  const detail::distinct_groups<Family> distinct = detail::gather_distinct<Family>(groups);
  const detail::count_groups<Family> g{distinct.groups.data(), distinct.groups.size(), o.threads, distinct.weights.data()};
  const detail::count_totals t = detail::count_summaries(g);
  const double tail = (1 - o.level) / 2;
  spread_profile out;
  double u = Family::link(t.count / t.size);  // the profile's maximiser, carried from point to point
  for (const spread_point& p : points) {
    SHRINK_EXPECTS(p.spread > 0, "a spread of the prior must be positive");
    const bool profiled = std::isnan(p.mean);
    if (!profiled) u = Family::link(p.mean * unit);
    double ll = 0, m = 0;
    if (std::isinf(p.spread)) {  // no spread: every rate is the mean (the pooled rate at the profile)
      m = profiled ? t.count / t.size : Family::mean_of(u);
      ll = Family::limit(t.count, t.size, m);
    } else {
      const double v = std::log(p.spread);
      const detail::parameter_map h = Family::natural(u, v);
      ll = profiled ? detail::profile_over_mean(g, v, u) : detail::marginal_at(g, h.a, h.b).value;
      m = Family::mean_of(u);
    }
    out.log_likelihood.push_back(ll + t.log_constants);
    out.mean.push_back(m / unit);
    const detail::parameter_map h = Family::natural(Family::link(m), std::log(p.spread));
    // The prior is the posterior of a group without data.
    const detail::count_posterior prior =
      std::isinf(p.spread) ? detail::count_posterior{m, 0, 1, m, m} : Family::posterior_of({0, 0}, h.a, h.b, tail);
    out.prior_lower.push_back(prior.lower / unit);
    out.prior_upper.push_back(prior.upper / unit);
    const double total = detail::reduce<double>(distinct.groups.size(), o.threads, [&](std::size_t i) {
      return std::isinf(p.spread) ? distinct.weights[i] : distinct.weights[i] * Family::posterior_moments(distinct.groups[i], h.a, h.b).shrinkage;
    });
    out.mean_shrinkage.push_back(total / t.groups);
    // The posterior's moments are closed forms; its quantiles (most of the time) only where asked.
    const auto posterior = [&](std::size_t j, bool quantiles) {
      if (std::isinf(p.spread)) return detail::count_posterior{m, 0, 1, m, m};
      return quantiles ? Family::posterior_of(groups.at(j), h.a, h.b, tail) : Family::posterior_moments(groups.at(j), h.a, h.b);
    };
    for (std::size_t j : listed) {
      const detail::count_posterior q = posterior(j, false);
      out.estimate.push_back(q.mean / unit);
      out.shrinkage.push_back(q.shrinkage);
    }
    for (std::size_t j : with_intervals) {
      const detail::count_posterior q = posterior(j, true);
      out.lower.push_back(q.lower / unit);
      out.upper.push_back(q.upper / unit);
    }
  }
  return out;
}

/// profile_spread for the normal prior on the link scale: the spread is tau.
template <class Likelihood>
spread_profile profile_glmm(const count_data_view& data, const count_options& o, const std::vector<spread_point>& points,
                            const std::vector<std::size_t>& listed, const std::vector<std::size_t>& with_intervals)
{
  using Family = typename Likelihood::conjugate;
  double unit = 1;
  const std::vector<typename Family::group> groups = checked_groups<Family>(data, unit);
  const detail::distinct_groups<Family> distinct = detail::gather_distinct<Family>(groups);
  const detail::hermite_nodes nodes = detail::gauss_hermite(o.quadrature_points);
  const detail::glmm_groups<Likelihood> g{
    {distinct.groups.data(), distinct.groups.size(), o.threads, distinct.weights.data()}, nodes.rule(), {}};
  const detail::count_totals t =
    detail::count_summaries(detail::count_groups<Family>{distinct.groups.data(), distinct.groups.size(), o.threads,
                                                         distinct.weights.data()});
  const double tail = (1 - o.level) / 2, z = detail::normal_quantile(1 - tail);
  spread_profile out;
  double mu = Family::link(t.count / t.size);
  for (const spread_point& p : points) {
    SHRINK_EXPECTS(p.spread >= 0 && std::isfinite(p.spread), "tau must be finite and >= 0");
    const double tau = p.spread;
    double ll = 0;
    if (std::isnan(p.mean)) {
      ll = detail::glmm_profile_over_mu(g, tau, mu);
    } else {
      mu = Family::link(p.mean * unit);
      ll = detail::glmm_marginal(g, mu, tau).value;
    }
    out.log_likelihood.push_back(ll + t.log_constants);
    out.mean.push_back(Likelihood::inverse_link(mu) / unit);
    out.prior_lower.push_back(Likelihood::inverse_link(mu - z * tau) / unit);
    out.prior_upper.push_back(Likelihood::inverse_link(mu + z * tau) / unit);
    // The shrinkage analogue 1 / c at each entry's conditional mode (glmm_posterior_of's, without its quadrature).
    const double total = detail::reduce<double>(distinct.groups.size(), o.threads, [&](std::size_t i) {
      return distinct.weights[i] / (1 - tau * tau * detail::conditional_mode_terms<Likelihood>(distinct.groups[i], mu, tau).at.f2);
    });
    out.mean_shrinkage.push_back(total / t.groups);
    for (std::size_t j : listed) {
      const detail::count_posterior q = detail::glmm_posterior_of<Likelihood>(groups.at(j), mu, tau, tail).theta;
      out.estimate.push_back(q.mean / unit);
      out.shrinkage.push_back(q.shrinkage);
    }
    for (std::size_t j : with_intervals) {
      const detail::count_posterior q = detail::glmm_posterior_of<Likelihood>(groups.at(j), mu, tau, tail).theta;
      out.lower.push_back(q.lower / unit);
      out.upper.push_back(q.upper / unit);
    }
  }
  return out;
}

}  // namespace

std::string to_string(count_family f) { return f == count_family::binomial ? "binomial" : "poisson"; }

std::string to_string(count_family f, count_prior p)
{
  const bool binomial = f == count_family::binomial;
  if (p == count_prior::conjugate) return binomial ? "beta" : "gamma";
  return binomial ? "logit-normal" : "log-normal";
}

std::string to_string(count_method m)
{
  switch (m) {
    case count_method::mom: return "mom";
    case count_method::ml: return "ml";
    case count_method::fixed: return "fixed";
    case count_method::bayes: return "bayes";
  }
  return "?";
}

count_method parse_count_method(const std::string& name)
{
  for (count_method m : {count_method::mom, count_method::ml, count_method::fixed, count_method::bayes})
    if (name == to_string(m)) return m;
  throw error("unknown --method '" + name + "' for a count family (choose mom, ml, fixed or bayes)");
}

count_hyperprior parse_count_hyperprior(const std::string& text, count_family family)
{
  const bool binomial = family == count_family::binomial;
  const std::string form = binomial ? "\"mean=beta:A,B;concentration=exp:SCALE\""
                                    : "\"mean=gamma:SHAPE,RATE|lognormal:MU,SIGMA;concentration=exp:SCALE\"";
  const auto fail = [&](const std::string& what) -> count_hyperprior {
    throw error("--hyperprior '" + text + "': " + what + " (the form: " + form + ", either part optional)");
  };
  // "1.5,2" -> {1.5, 2}: whole fields of finite numbers only.
  const auto numbers = [&](const std::string& list) {
    std::vector<double> out;
    std::size_t start = 0;
    for (;;) {
      const std::size_t comma = list.find(',', start);
      const std::string field = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      char* end = nullptr;
      const double x = std::strtod(field.c_str(), &end);
      if (field.empty() || end != field.c_str() + field.size() || !std::isfinite(x)) fail("'" + field + "' is not a number");
      out.push_back(x);
      if (comma == std::string::npos) return out;
      start = comma + 1;
    }
  };
  count_hyperprior p;
  bool mean_seen = false, concentration_seen = false;
  std::size_t start = 0;
  if (text.empty()) fail("empty");
  for (;;) {
    const std::size_t semicolon = text.find(';', start);
    const std::string part = text.substr(start, semicolon == std::string::npos ? std::string::npos : semicolon - start);
    const std::size_t equals = part.find('='), colon = part.find(':');
    if (equals == std::string::npos || colon == std::string::npos || colon < equals) fail("'" + part + "' is not NAME=KIND:PARAMETERS");
    const std::string name = part.substr(0, equals), kind = part.substr(equals + 1, colon - equals - 1);
    const std::vector<double> x = numbers(part.substr(colon + 1));
    if (name == "mean") {
      if (mean_seen) fail("the mean's prior is given twice");
      mean_seen = true;
      if (binomial && kind == "beta") p.mean = count_hyperprior::mean_kind::beta;
      else if (!binomial && kind == "gamma") p.mean = count_hyperprior::mean_kind::gamma;
      else if (!binomial && kind == "lognormal") p.mean = count_hyperprior::mean_kind::log_normal;
      else fail("the mean's prior '" + kind + "' is not " + (binomial ? "beta" : "gamma or lognormal"));
      if (x.size() != 2) fail("the mean's prior takes two numbers");
      p.mean_a = x[0];
      p.mean_b = x[1];
      if (!(p.mean_b > 0 && (p.mean == count_hyperprior::mean_kind::log_normal || p.mean_a > 0)))
        fail(p.mean == count_hyperprior::mean_kind::log_normal ? "the log-normal's sigma must be positive"
                                                                : "the mean's prior needs both parameters positive");
    } else if (name == "concentration") {
      if (concentration_seen) fail("the concentration's prior is given twice");
      concentration_seen = true;
      if (kind != "exp") fail("the concentration's prior '" + kind + "' is not exp");
      if (x.size() != 1 || !(x[0] > 0)) fail("exp takes one positive number, its mean");
      p.concentration = count_hyperprior::concentration_kind::exponential;
      p.scale = x[0];
    } else {
      fail("'" + name + "' is neither mean nor concentration");
    }
    if (semicolon == std::string::npos) return p;
    start = semicolon + 1;
  }
}

count_fit_result fit(const count_data_view& data, const count_options& o)
{
  SHRINK_EXPECTS(data.groups > 0, "no groups");
  SHRINK_EXPECTS(data.counts != nullptr && (data.sizes != nullptr || data.family == count_family::poisson),
                 "null data pointer");
  SHRINK_EXPECTS(o.level > 0 && o.level < 1, "--level must lie strictly between 0 and 1");
  SHRINK_EXPECTS(o.max_iterations > 0, "--max-iterations must be positive");
  const backend used = resolve_backend(o.requested_backend);
  if (o.prior == count_prior::normal)
    return data.family == count_family::binomial ? fit_glmm<detail::logit_normal>(data, o, used)
                                                 : fit_glmm<detail::log_normal>(data, o, used);
  return data.family == count_family::binomial ? fit_family<detail::beta_binomial>(data, o, used)
                                               : fit_family<detail::gamma_poisson>(data, o, used);
}

spread_profile profile_spread(const count_data_view& data, const count_options& o, const std::vector<spread_point>& points,
                              const std::vector<std::size_t>& groups, const std::vector<std::size_t>& interval_groups)
{
  SHRINK_EXPECTS(data.groups > 0, "no groups");
  SHRINK_EXPECTS(data.counts != nullptr && (data.sizes != nullptr || data.family == count_family::poisson),
                 "null data pointer");
  SHRINK_EXPECTS(o.level > 0 && o.level < 1, "--level must lie strictly between 0 and 1");
  const bool binomial = data.family == count_family::binomial;
  if (o.prior == count_prior::normal)
    return binomial ? profile_glmm<detail::logit_normal>(data, o, points, groups, interval_groups)
                    : profile_glmm<detail::log_normal>(data, o, points, groups, interval_groups);
  return binomial ? profile_family<detail::beta_binomial>(data, o, points, groups, interval_groups)
                  : profile_family<detail::gamma_poisson>(data, o, points, groups, interval_groups);
}

}  // namespace shrink
