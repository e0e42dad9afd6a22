// The backend-independent fit: checks the input, picks the backend, and estimates sigma^2, tau^2
// and mu from the O(J) reductions that a group_engine provides.

#include <shrink/fit.hpp>

#include "../common/macros.hpp"
#include "../common/normal.hpp"
#include "group_engine.hpp"

#include <chrono>
#include <cmath>
#include <limits>

namespace shrink {

std::string to_string(tau_method m)
{
  switch (m) {
    case tau_method::mom: return "mom";
    case tau_method::fixed: return "fixed";
  }
  return "?";
}

tau_method parse_tau_method(const std::string& name)
{
  if (name == "mom") return tau_method::mom;
  if (name == "fixed") return tau_method::fixed;
  throw error("unknown --tau-method '" + name + "' (choose mom or fixed)");
}

namespace {

using clock = std::chrono::steady_clock;

double seconds_since(clock::time_point t0)
{
  return std::chrono::duration<double>(clock::now() - t0).count();
}

void check_options(const fit_options& o)
{
  SHRINK_EXPECTS(o.level > 0 && o.level < 1, "--level must lie strictly between 0 and 1");
  SHRINK_EXPECTS(o.threads >= 0, "--threads must be 0 (all) or positive");
  if (o.method == tau_method::fixed)
    SHRINK_EXPECTS(std::isfinite(o.tau) && o.tau >= 0, "--tau must be a finite number >= 0");
  if (o.sigma) SHRINK_EXPECTS(std::isfinite(*o.sigma) && *o.sigma > 0, "--sigma must be a finite number > 0");
}

std::unique_ptr<detail::group_engine> make_engine(backend b, const raw_data_view& d, int threads)
{
  return b == backend::cuda ? detail::make_cuda_engine(d) : detail::make_cpu_engine(d, threads);
}

std::unique_ptr<detail::group_engine> make_engine(backend b, const summary_data_view& d, int threads)
{
  return b == backend::cuda ? detail::make_cuda_engine(d) : detail::make_cpu_engine(d, threads);
}

double estimate_tau2(const fit_options& o, const detail::unweighted_sums& u, std::size_t J)
{
  switch (o.method) {
    case tau_method::fixed: return o.tau * o.tau;
    case tau_method::mom: {
      // S^2 of the ybar_j minus the mean sampling variance (metafor's HE, intercept only).
      const double s2 = u.ybar.m2 / static_cast<double>(J - 1);
      return std::max(0.0, s2 - u.sum_v / static_cast<double>(J));
    }
  }
  SHRINK_FAIL("unhandled tau method");
}

/// Everything after the per-group variances v_j are known; shared by raw and summary mode.
void fit_groups(detail::group_engine& engine, const fit_options& o, double offset, fit_result& r,
                clock::time_point t_tau)
{
  const std::size_t J = engine.groups();
  r.groups = J;
  r.method = o.method;
  r.level = o.level;

  const detail::variance_range vr = engine.variances();
  SHRINK_EXPECTS(vr.finite && vr.min > 0,
                 "sampling variances must be finite and positive (se too small, too large or zero?)");
  SHRINK_EXPECTS(J >= 2 || o.method == tau_method::fixed,
                 "only one group: tau cannot be estimated from a single group (use --tau-method fixed --tau VALUE)");

  const detail::unweighted_sums u = engine.unweighted();
  const detail::weighted_sums fixed_effect = engine.weighted(0.0);
  r.tau2 = estimate_tau2(o, u, J);
  const detail::weighted_sums at_tau = r.tau2 == 0 ? fixed_effect : engine.weighted(r.tau2);
  r.mu = offset + at_tau.wy.mean;
  r.complete_pooling = offset + fixed_effect.wy.mean;

  // Cochran's Q and metafor's I^2 = tau2 / (tau2 + s2), s2 the "typical" sampling variance.
  r.Q = fixed_effect.wy.m2;
  const double sw = fixed_effect.wy.weight;
  const double s2 = J >= 2 ? static_cast<double>(J - 1) * sw / (sw * sw - fixed_effect.sum_w2) : 0.0;
  r.I2 = J >= 2 ? 100.0 * r.tau2 / (r.tau2 + s2) : 0.0;
  r.H2 = J >= 2 ? (r.tau2 + s2) / s2 : 1.0;

  detail::posterior_params p;
  p.mu = at_tau.wy.mean;
  p.tau2 = r.tau2;
  p.z = detail::normal_quantile(0.5 + o.level / 2);
  p.offset = offset;
  if (J >= 4) {
    // Positive-part James-Stein towards the mean of the ybar_j (Efron & Morris 1973).
    const double spread = u.ybar.m2;
    const double mean_v = u.sum_v / static_cast<double>(J);
    p.james_stein = true;
    p.js_center = u.ybar.mean;
    p.js_c = spread > 0 ? std::max(0.0, 1.0 - static_cast<double>(J - 3) * mean_v / spread) : 0.0;
    r.james_stein_c = p.js_c;
  } else {
    r.notes.push_back("James-Stein needs at least 4 groups: its column is left empty");
  }
  if (o.method != tau_method::fixed && r.tau2 == 0)
    r.notes.push_back(
      "tau2 = 0: the group means vary no more than sampling noise explains, so partial pooling equals "
      "complete pooling");
  r.seconds.tau = seconds_since(t_tau);

  const auto t_post = clock::now();
  engine.posteriors(p, r);
  r.seconds.posterior = seconds_since(t_post);

  const bool finite = std::isfinite(r.mu) && std::isfinite(r.tau2) && std::isfinite(r.Q) &&
                      std::isfinite(r.I2) && std::isfinite(r.H2);
  SHRINK_EXPECTS(finite, "the fit overflowed double precision (values too large in magnitude?)");
  for (std::size_t j = 0; j < J; ++j)
    SHRINK_EXPECTS(std::isfinite(r.lower[j]) && std::isfinite(r.upper[j]) && std::isfinite(r.mean[j]),
                   "the fit overflowed double precision (values too large in magnitude?)");
}

}  // namespace

fit_result fit(const raw_data_view& data, const fit_options& options)
{
  const auto t0 = clock::now();
  check_options(options);
  SHRINK_EXPECTS(data.rows > 0, "no observations");
  SHRINK_EXPECTS(data.groups > 0 && data.groups <= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()),
                 "the number of groups must be between 1 and 2^31-1");
  SHRINK_EXPECTS(data.group_ids != nullptr && data.values != nullptr, "null data pointer");
  SHRINK_EXPECTS(std::isfinite(data.offset), "offset must be finite");

  fit_result r;
  r.used = resolve_backend(options.requested_backend);
  auto engine = make_engine(r.used, data, options.threads);

  const detail::group_totals t = engine->totals();
  r.observations = t.observations;
  SHRINK_EXPECTS(t.observations == static_cast<std::int64_t>(data.rows),
                 "group ids must lie in [0, groups)");
  SHRINK_EXPECTS(std::isfinite(t.between.m2) && std::isfinite(t.ss_within) && std::isfinite(t.between.mean),
                 "sums of squares overflow double precision (values too large in magnitude?)");
  r.seconds.summarize = seconds_since(t0);
  const auto t_tau = clock::now();

  double sigma2 = 0;
  if (options.sigma) {
    sigma2 = *options.sigma * *options.sigma;
  } else {
    SHRINK_EXPECTS(t.df_within > 0,
                   "no within-group variance: every group has one observation (give the known sd with --sigma)");
    sigma2 = t.ss_within / t.df_within;
    SHRINK_EXPECTS(sigma2 > 0,
                   "the within-group variance is zero: every group's values are identical (give the known sd with --sigma)");
  }
  r.sigma2 = sigma2;
  engine->set_sigma2(sigma2);

  const std::size_t J = engine->groups();
  if (J >= 2) {
    anova_table a;
    a.df_between = static_cast<double>(J - 1);
    a.df_within = t.df_within;
    a.ss_between = t.between.m2;
    a.ss_within = t.ss_within;
    a.ms_between = a.ss_between / a.df_between;
    a.ms_within = a.df_within > 0 ? a.ss_within / a.df_within : 0.0;
    a.F = a.ms_within > 0 ? a.ms_between / a.ms_within : std::numeric_limits<double>::infinity();
    r.anova = a;
  }

  fit_groups(*engine, options, data.offset, r, t_tau);
  r.seconds.total = seconds_since(t0);
  return r;
}

fit_result fit(const summary_data_view& data, const fit_options& options)
{
  const auto t0 = clock::now();
  check_options(options);
  SHRINK_EXPECTS(data.groups > 0, "no groups");
  SHRINK_EXPECTS(data.estimates != nullptr && data.standard_errors != nullptr, "null data pointer");
  SHRINK_EXPECTS(!options.sigma, "--sigma applies to raw data; summary input gives each group's se");
  for (std::size_t j = 0; j < data.groups; ++j) {
    SHRINK_EXPECTS(std::isfinite(data.estimates[j]), "estimates must be finite");
    SHRINK_EXPECTS(std::isfinite(data.standard_errors[j]) && data.standard_errors[j] > 0,
                   "standard errors must be finite and positive");
  }

  fit_result r;
  r.used = resolve_backend(options.requested_backend);
  auto engine = make_engine(r.used, data, options.threads);
  r.observations = static_cast<std::int64_t>(data.groups);
  fit_groups(*engine, options, data.offset, r, clock::now());
  r.seconds.total = seconds_since(t0);
  return r;
}

}  // namespace shrink
