// The backend-independent fit: checks the input, picks the backend, and estimates sigma^2, tau^2
// and mu from the O(J) reductions that a group_engine provides.

#include <shrink/fit.hpp>

#include "../common/bits.hpp"
#include "../common/macros.hpp"
#include "../common/normal.hpp"
#include "bayes.hpp"
#include "group_engine.hpp"
#include "numerics.hpp"
#include "tau_estimators.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace shrink {

std::string to_string(tau_method m)
{
  switch (m) {
    case tau_method::mom: return "mom";
    case tau_method::dl: return "dl";
    case tau_method::pm: return "pm";
    case tau_method::sj: return "sj";
    case tau_method::ml: return "ml";
    case tau_method::reml: return "reml";
    case tau_method::eb: return "eb";
    case tau_method::fixed: return "fixed";
    case tau_method::bayes: return "bayes";
  }
  return "?";
}

tau_method parse_tau_method(const std::string& name)
{
  for (tau_method m : {tau_method::mom, tau_method::dl, tau_method::pm, tau_method::sj, tau_method::ml,
                       tau_method::reml, tau_method::eb, tau_method::fixed, tau_method::bayes})
    if (name == to_string(m)) return m;
  throw error("unknown --tau-method '" + name + "' (choose mom, dl, pm, sj, ml, reml, eb, fixed or bayes)");
}

namespace {

double parse_positive(const std::string& text, const std::string& what)
{
  std::size_t used = 0;
  double x = 0;
  try {
    x = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  SHRINK_EXPECTS(used == text.size() && used > 0 && std::isfinite(x) && x > 0, what + " must be a finite number > 0, got '" + text + "'");
  return x;
}

}  // namespace

tau_prior parse_tau_prior(const std::string& text)
{
  tau_prior p;
  const std::string usage = "--tau-prior must be uniform, half-cauchy:SCALE or inv-gamma:SHAPE,SCALE";
  if (text == "uniform") return p;
  const auto colon = text.find(':');
  SHRINK_EXPECTS(colon != std::string::npos, usage + ", got '" + text + "'");
  const std::string name = text.substr(0, colon), args = text.substr(colon + 1);
  if (name == "half-cauchy") {
    p.type = tau_prior::kind::half_cauchy;
    p.scale = parse_positive(args, "the half-Cauchy scale");
    return p;
  }
  if (name == "inv-gamma") {
    const auto comma = args.find(',');
    SHRINK_EXPECTS(comma != std::string::npos, usage + ", got '" + text + "'");
    p.type = tau_prior::kind::inverse_gamma;
    p.shape = parse_positive(args.substr(0, comma), "the inverse-gamma shape");
    p.scale = parse_positive(args.substr(comma + 1), "the inverse-gamma scale");
    return p;
  }
  throw error(usage + ", got '" + text + "'");
}

std::string to_string(const tau_prior& p)
{
  switch (p.type) {
    case tau_prior::kind::uniform: return "uniform";
    case tau_prior::kind::half_cauchy: return "half-cauchy:" + std::to_string(p.scale);
    case tau_prior::kind::inverse_gamma: return "inv-gamma:" + std::to_string(p.shape) + "," + std::to_string(p.scale);
  }
  return "?";
}

std::optional<double> parse_group_prior(const std::string& text)
{
  if (text == "normal") return std::nullopt;
  SHRINK_EXPECTS(text.rfind("t:", 0) == 0, "--prior must be normal or t:NU, got '" + text + "'");
  return parse_positive(text.substr(2), "the t prior's degrees of freedom NU");
}

namespace {

using clock = std::chrono::steady_clock;
using detail::seconds_since;

std::string short_number(double x);

void check_options(const fit_options& o)
{
  SHRINK_EXPECTS(o.level > 0 && o.level < 1, "--level must lie strictly between 0 and 1");
  SHRINK_EXPECTS(o.threads >= 0, "--threads must be 0 (all) or positive");
  if (o.method == tau_method::fixed)
    SHRINK_EXPECTS(std::isfinite(o.tau) && o.tau >= 0, "--tau must be a finite number >= 0");
  if (o.sigma) {
    SHRINK_EXPECTS(std::isfinite(*o.sigma) && *o.sigma > 0, "--sigma must be a finite number > 0");
    SHRINK_EXPECTS(*o.sigma * *o.sigma >= 1e-100 && *o.sigma * *o.sigma <= 1e100,
                   "--sigma " + short_number(*o.sigma) + ": its square lies outside [1e-100, 1e100], where the "
                   "variances lose precision in double: rescale the values");
  }
  SHRINK_EXPECTS(o.max_iterations > 0, "--max-iterations must be a positive integer");
  SHRINK_EXPECTS(o.threshold > 0 && o.root_tol > 0, "convergence threshold and tolerance must be positive");
  if (o.t_prior_df) {
    SHRINK_EXPECTS(std::isfinite(*o.t_prior_df) && *o.t_prior_df > 0, "--prior t:NU needs NU > 0");
    SHRINK_EXPECTS(o.method != tau_method::bayes && o.method != tau_method::fixed,
                   "--prior t:NU fits its own scale by marginal likelihood: use it with an estimating --tau-method");
  }
}

std::unique_ptr<detail::group_engine> make_engine(backend b, const raw_data_view& d, int threads)
{
  return b == backend::cuda ? detail::make_cuda_engine(d) : detail::make_cpu_engine(d, threads);
}

std::unique_ptr<detail::group_engine> make_engine(backend b, const summary_data_view& d, int threads)
{
  return b == backend::cuda ? detail::make_cuda_engine(d) : detail::make_cpu_engine(d, threads);
}

/// Sampling variances the sums of the estimators hold in double precision: they take w_j^3 with
/// w_j = 1 / v_j at tau2 = 0, which overflows below v ~ 1e-102 and loses digits to underflow above
/// v ~ 1e102.
constexpr double min_variance = 1e-100, max_variance = 1e100;

std::string short_number(double x)
{
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", x);
  return buf;
}

/// A tau2 estimate made before fit_groups (raw-mode ml/reml, jointly with sigma2) and the
/// fixed-effect sums engine.weighted(0) it reduced on the way.
struct preset_estimate {
  detail::tau2_estimate estimate;
  detail::weighted_sums fixed_effect;
};

/// Whether every x[i] is finite: an infinity or a NaN has all eleven exponent bits set, and only
/// then does adding 1 to the exponent carry into the sign bit. Written on the bits with additions
/// and ors so that the loop vectorises (each per-group column is read once, at memory speed).
bool all_finite(const std::vector<double>& x)
{
  constexpr std::uint64_t exponent = 0x7ff0000000000000ULL, exponent_one = 0x0010000000000000ULL;
  std::uint64_t carries = 0;
  for (double v : x) carries |= (detail::bits_of(v) & exponent) + exponent_one;
  return (carries >> 63) == 0;
}

/// Everything after the per-group variances v_j are known; shared by raw and summary mode.
/// sigma_df: the degrees of freedom of an estimated sigma^2 behind the v_j (raw mode without
/// --sigma), 0 when the v_j are known.
void fit_groups(detail::group_engine& engine, const fit_options& o, double offset, fit_result& r,
                clock::time_point t_tau, double sigma_df, const preset_estimate* preset = nullptr)
{
  const std::size_t J = engine.groups();
  r.groups = J;
  r.method = o.method;
  r.level = o.level;

  const detail::variance_range vr = engine.variances();
  SHRINK_EXPECTS(vr.finite && vr.min > 0,
                 "sampling variances must be finite and positive (se too small, too large or zero?)");
  SHRINK_EXPECTS(vr.min >= min_variance,
                 "a sampling variance of " + short_number(vr.min) +
                   " is too small for double precision (the weights 1/v^3 overflow below 1e-100, se below 1e-50): "
                   "rescale the values, e.g. change their unit");
  SHRINK_EXPECTS(vr.max <= max_variance,
                 "a sampling variance of " + short_number(vr.max) +
                   " is too large for double precision (the weights 1/v^3 underflow above 1e100, se above 1e50): "
                   "rescale the values, e.g. change their unit");
  SHRINK_EXPECTS(J >= 2 || o.method == tau_method::fixed || o.apply,
                 "only one group: tau cannot be estimated from a single group (use --tau-method fixed --tau VALUE)");
  const posterior_parameters* applied = o.apply ? &*o.apply : nullptr;

  const detail::unweighted_sums u = engine.unweighted();
  // Each sum is reduced once and handed to what needs it; the logarithm only for the likelihoods.
  const detail::weighted_sums fixed_effect =
    preset ? preset->fixed_effect : engine.weighted(0.0, detail::needs_log_likelihood(o.method));
  std::optional<detail::weighted_sums> known_at_tau;
  std::optional<detail::bayes_fit> bayes;
  if (applied) {
    r.method = tau_method::fixed;
    r.tau2 = applied->tau2;
    r.notes.push_back("--apply: mu, tau2, sigma2 and the interval quantile are the given fit's; Q, I2, H2 and mu_se "
                      "describe the groups given here");
  } else if (o.method == tau_method::bayes) {
    bayes = detail::fit_bayes(engine, o.prior_tau, o.level);
    r.tau_post = bayes->tau;
    // A point value for I^2, H^2 and the summary: the posterior median of tau, squared.
    r.tau2 = bayes->tau.median * bayes->tau.median;
  } else {
    const detail::tau2_estimate est = preset ? preset->estimate : detail::estimate_tau2(engine, o, u, fixed_effect);
    r.tau2 = est.tau2;
    r.tau2_se = est.se;
    r.iterations = est.iterations;
    r.log_likelihood = est.log_likelihood;
    known_at_tau = est.at_tau;
  }
  const detail::weighted_sums at_tau =
    known_at_tau ? *known_at_tau : (r.tau2 == 0 ? fixed_effect : engine.weighted(r.tau2, false));
  r.mu = applied ? applied->mu : offset + at_tau.wy.mean;
  r.complete_pooling = offset + fixed_effect.wy.mean;

  // Uncertainty in mu (metafor's vb = 1 / sum w), the prediction interval for a new group's theta
  // (metafor's predict: mu +- z sqrt(se^2 + tau2)) and the Q-profile interval for tau2.
  const double z_level = detail::interval_quantile(o.level);
  r.mu_se = std::sqrt(1.0 / at_tau.sum_w());
  r.mu_lower = r.mu - z_level * r.mu_se;
  r.mu_upper = r.mu + z_level * r.mu_se;
  if (bayes) {
    r.mu = offset + bayes->mu_mean;
    r.mu_se = bayes->mu_sd;
    r.mu_lower = offset + bayes->mu_lower;
    r.mu_upper = offset + bayes->mu_upper;
  }
  const double pred_sd = std::sqrt(r.mu_se * r.mu_se + r.tau2);
  r.pred_lower = r.mu - z_level * pred_sd;
  r.pred_upper = r.mu + z_level * pred_sd;
  if (bayes) {
    // The posterior predictive of a new group's theta (finite even where mu's sd is infinite).
    r.pred_lower = offset + bayes->pred_lower;
    r.pred_upper = offset + bayes->pred_upper;
    if (!std::isfinite(r.mu_se))
      r.notes.push_back("bayes: the posterior sd of mu is infinite (uniform prior on tau with " + std::to_string(J) +
                        " groups: p(tau | y) falls only as tau^-" + std::to_string(J - 1) +
                        "), so mu_se is null; mu's interval and the prediction interval are its exact quantiles");
  }
  if (J >= 2 && !bayes && !applied) {
    const detail::interval ci = detail::q_profile_interval(engine, o.level, fixed_effect, r.tau2, at_tau, u, vr);
    r.tau2_lower = ci.lower;
    r.tau2_upper = ci.upper;
  }

  // Cochran's Q and metafor's I^2 = tau2 / (tau2 + s2), s2 the "typical" sampling variance.
  r.Q = fixed_effect.wy.m2;
  const double sw = fixed_effect.wy.weight;
  const double s2 = J >= 2 ? static_cast<double>(J - 1) * sw / (sw * sw - fixed_effect.sum_w2) : 0.0;
  r.I2 = J >= 2 ? 100.0 * r.tau2 / (r.tau2 + s2) : 0.0;
  r.H2 = J >= 2 ? (r.tau2 + s2) / s2 : 1.0;

  detail::posterior_params p;
  p.mu = applied ? applied->mu - offset : at_tau.wy.mean;
  p.tau2 = r.tau2;
  p.z = z_level;
  p.offset = offset;
  // The per-group intervals theta_hat_j +- q sqrt(V_j) of the normal model: V_j is built on
  // v_j = sigma2_hat / n_j when sigma is estimated, and as tau2 grows the interval becomes the
  // no-pooling ybar_j +- q sigma_hat / sqrt(n_j), whose exact coverage needs the t quantile on the
  // degrees of freedom of sigma2_hat. Bayes and --prior t replace these intervals with their own.
  if (sigma_df > 0 && o.method != tau_method::bayes && !o.t_prior_df && !applied) {
    p.z = detail::interval_quantile(o.level, sigma_df);
    r.notes.push_back("per-group intervals use the t quantile on the " + short_number(sigma_df) +
                      " within-group degrees of freedom of the estimated sigma2 (" + short_number(p.z) + " for level " +
                      short_number(o.level) + ")");
  }
  if (applied) {
    p.z = applied->interval_quantile;
    p.james_stein = applied->james_stein_c.has_value() && applied->james_stein_center.has_value();
    if (p.james_stein) {
      p.js_center = *applied->james_stein_center - offset;
      p.js_c = *applied->james_stein_c;
      r.james_stein_c = p.js_c;
    }
  } else if (J >= 4) {
    // Positive-part James-Stein towards the mean of the ybar_j (Efron & Morris 1973).
    const double spread = u.ybar.m2;
    const double mean_v = u.sum_v / static_cast<double>(J);
    p.james_stein = true;
    p.js_center = u.ybar.mean;
    p.js_c = detail::james_stein_factor(spread, mean_v, static_cast<double>(J));
    r.james_stein_c = p.js_c;
  } else {
    r.notes.push_back("James-Stein needs at least 4 groups: its column is left empty");
  }
  // Under --prior t:NU the posteriors are not the normal model's, so tau2 = 0 does not make them
  // complete pooling (fit_t_prior notes when its own scale is at the floor).
  if (!bayes && !o.t_prior_df)
    r.posterior = posterior_parameters{r.mu, r.tau2, r.sigma2, o.level, p.z,
                                       p.james_stein ? std::optional<double>(offset + p.js_center) : std::nullopt,
                                       r.james_stein_c};
  if (o.method != tau_method::fixed && o.method != tau_method::bayes && !o.t_prior_df && r.tau2 == 0 && !applied)
    r.notes.push_back(
      "tau2 = 0: the group means vary no more than sampling noise explains, so partial pooling equals "
      "complete pooling");
  r.seconds.tau = seconds_since(t_tau);

  const auto t_post = clock::now();
  engine.posteriors(p, r);
  if (bayes) {
    // Every group's theta averaged over the posterior of tau (mu integrated analytically).
    detail::mixture_params mp = bayes->mixture(o.level, offset);
    engine.mixture_posteriors(mp, r);
    r.notes.push_back("bayes: estimate/sd are the posterior mean/sd of theta_j averaged over tau; "
                      "lower/upper its posterior quantiles; shrinkage the posterior mean of B_j");
  }
  // Replaces mu, mu_se, mu_lower/upper and the prediction interval with the t model's.
  if (o.t_prior_df) detail::fit_t_prior(engine, *o.t_prior_df, o.level, offset, r);
  r.seconds.posterior = seconds_since(t_post);

  // Never a silent NaN or infinity in what we hand back: every scalar and every per-group column
  // (but bayes's mu_se, infinite where the posterior sd of mu is, which the JSON writes as null).
  const char* overflow =
    "the fit overflowed double precision (values too large in magnitude, or far apart relative to their standard "
    "errors: rescale or center them)";
  for (double x : {r.mu, r.tau2, r.Q, r.I2, r.H2, r.mu_lower, r.mu_upper, r.pred_lower, r.pred_upper})
    SHRINK_EXPECTS(std::isfinite(x), overflow);
  SHRINK_EXPECTS(bayes || std::isfinite(r.mu_se), overflow);
  for (const std::vector<double>* column : {&r.mean, &r.se, &r.shrinkage, &r.estimate, &r.sd, &r.lower, &r.upper, &r.james_stein})
    SHRINK_EXPECTS(all_finite(*column), overflow);
}

}  // namespace

namespace {

/// Anchors every location column on each group's exact mean: the engine's columns are offset +
/// (a number relative to the offset), which for a group far from the offset carries the rounding
/// of that distance; their distance from the group's own mean does not.
void anchor_on_exact_means(const double* exact, fit_result& r)
{
  const std::size_t J = r.mean.size();
  for (std::vector<double>* column : {&r.estimate, &r.lower, &r.upper, &r.james_stein}) {
    if (column->empty()) continue;
    double* c = column->data();
    for (std::size_t j = 0; j < J; ++j) c[j] = exact[j] + (c[j] - r.mean[j]);  // one column at a time: vectorises
  }
  r.mean.assign(exact, exact + J);
}

/// Raw mode after the group summaries: sigma2 (pooled or given, or jointly with tau2 for ml/reml),
/// the ANOVA table, then fit_groups.
fit_result fit_raw(detail::group_engine& engine, const fit_options& options, double offset, std::size_t rows,
                   clock::time_point t0, fit_result r)
{
  const detail::group_totals t = engine.totals();
  r.observations = t.observations;
  SHRINK_EXPECTS(t.observations == static_cast<std::int64_t>(rows), "group ids must lie in [0, groups)");
  SHRINK_EXPECTS(std::isfinite(t.between.m2) && std::isfinite(t.ss_within) && std::isfinite(t.between.mean),
                 "sums of squares overflow double precision (values too large in magnitude?)");
  r.seconds.summarize = seconds_since(t0);
  const auto t_tau = clock::now();

  double sigma2 = 0;
  if (options.apply) {
    SHRINK_EXPECTS(options.apply->sigma2.has_value(),
                   "--apply: the given fit is of per-group estimates (no sigma2); apply it to estimates with their se");
    sigma2 = *options.apply->sigma2;
  } else if (options.sigma) {
    sigma2 = *options.sigma * *options.sigma;
  } else {
    sigma2 = detail::pooled_sigma2(t);
  }
  r.sigma2 = sigma2;

  const std::size_t J = engine.groups();
  std::optional<preset_estimate> joint;
  if (!options.sigma && !options.apply && J >= 2 && (options.method == tau_method::reml || options.method == tau_method::ml)) {
    // The random-intercept model itself: sigma2 and tau2 jointly, as lme4 does (it sets the v_j).
    const bool reml = options.method == tau_method::reml;
    const detail::variance_components vc = detail::fit_random_intercept(engine, t, reml);
    r.sigma2_pooled = sigma2;
    r.sigma2 = vc.sigma2;
    joint = preset_estimate{{vc.tau2, vc.tau2_se, vc.iterations, vc.log_likelihood, vc.at_tau}, vc.fixed_effect};
  } else {
    engine.set_sigma2(sigma2);
  }
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

  fit_groups(engine, options, offset, r, t_tau, options.sigma ? 0.0 : t.df_within, joint ? &*joint : nullptr);
  r.seconds.total = seconds_since(t0);
  return r;
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
  return fit_raw(*engine, options, data.offset, data.rows, t0, std::move(r));
}

fit_result fit(const grouped_data_view& data, const fit_options& options)
{
  const auto t0 = clock::now();
  check_options(options);
  SHRINK_EXPECTS(data.groups > 0 && data.groups <= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()),
                 "the number of groups must be between 1 and 2^31-1");
  SHRINK_EXPECTS(data.n != nullptr && data.mean != nullptr && data.m2 != nullptr, "null data pointer");
  SHRINK_EXPECTS(std::isfinite(data.offset), "offset must be finite");
  std::size_t rows = 0;
  for (std::size_t j = 0; j < data.groups; ++j) {
    SHRINK_EXPECTS(data.n[j] > 0, "every group needs at least one observation");
    SHRINK_EXPECTS(std::isfinite(data.mean[j]) && std::isfinite(data.m2[j]) && data.m2[j] >= 0,
                   "group means and sums of squares must be finite (and the sums >= 0)");
    rows += static_cast<std::size_t>(data.n[j]);
  }

  fit_result r;
  r.used = resolve_backend(options.requested_backend);
  auto engine = r.used == backend::cuda ? detail::make_cuda_engine(data) : detail::make_cpu_engine(data, options.threads);
  r = fit_raw(*engine, options, data.offset, rows, t0, std::move(r));
  if (data.exact_mean != nullptr) anchor_on_exact_means(data.exact_mean, r);
  return r;
}

fit_result fit(const summary_data_view& data, const fit_options& options)
{
  const auto t0 = clock::now();
  check_options(options);
  SHRINK_EXPECTS(data.groups > 0, "no groups");
  SHRINK_EXPECTS(data.estimates != nullptr && data.standard_errors != nullptr, "null data pointer");
  SHRINK_EXPECTS(!options.sigma, "--sigma applies to raw data; summary input gives each group's se");
  SHRINK_EXPECTS(!options.apply || !options.apply->sigma2,
                 "--apply: the given fit is of raw rows (it has sigma2); apply it to raw rows or their summaries");
  for (std::size_t j = 0; j < data.groups; ++j) {
    SHRINK_EXPECTS(std::isfinite(data.estimates[j]), "estimates must be finite");
    SHRINK_EXPECTS(std::isfinite(data.standard_errors[j]) && data.standard_errors[j] > 0,
                   "standard errors must be finite and positive");
  }

  fit_result r;
  r.used = resolve_backend(options.requested_backend);
  auto engine = make_engine(r.used, data, options.threads);
  r.observations = static_cast<std::int64_t>(data.groups);
  fit_groups(*engine, options, data.offset, r, clock::now(), 0.0);
  r.seconds.total = seconds_since(t0);
  if (data.exact_estimates != nullptr) anchor_on_exact_means(data.exact_estimates, r);
  return r;
}

}  // namespace shrink
