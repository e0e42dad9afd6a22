#pragma once
// The tau2 estimators of the summary-level model ybar_j ~ N(mu, v_j + tau2), the Q-profile
// interval, and the joint (sigma2, tau2) fit of the random-intercept model in raw mode. Each is
// written in the O(J) reductions of a group_engine: no J x J matrix, O(J) memory.

#include "group_engine.hpp"

#include <optional>

namespace shrink::detail {

struct tau2_estimate {
  double tau2 = 0;
  std::optional<double> se;  ///< metafor's standard error of the estimator
  int iterations = 0;
  std::optional<double> log_likelihood;  ///< ml/reml: the (restricted) log-likelihood at tau2
  /// engine.weighted(tau2) where the method computed it anyway (pm, ml, reml, eb; with the
  /// logarithm for ml and reml), so that the fit need not reduce again for mu_hat and its se.
  std::optional<weighted_sums> at_tau;
};

/// Whether `method` needs the log-likelihood, i.e. weighted sums with their logarithm.
inline bool needs_log_likelihood(tau_method method) { return method == tau_method::ml || method == tau_method::reml; }

/// tau2 by `o.method` (any but bayes) from the engine's current v_j; `u` = engine.unweighted(),
/// `fixed_effect` = engine.weighted(0, needs_log_likelihood(o.method)).
tau2_estimate estimate_tau2(group_engine& engine, const fit_options& o, const unweighted_sums& u,
                            const weighted_sums& fixed_effect);
/// The same, reducing for the fixed-effect sums itself.
tau2_estimate estimate_tau2(group_engine& engine, const fit_options& o, const unweighted_sums& u);

/// Raw mode: the pooled within-group variance SSW / sum (n_j - 1); throws shrink::error when
/// there is none (every n_j = 1) or it is zero, telling the user to give --sigma.
double pooled_sigma2(const group_totals& totals);

/// ML (reml = false) or REML log-likelihood of tau2 given the v_j, metafor's constants included
/// (REML with its default REMLf = TRUE term log|X'X| / 2 = log(J) / 2), as metafor's logLik.
double log_likelihood(const weighted_sums& s, std::size_t groups, bool reml);

/// Q-profile confidence interval for tau2 at `level` (Viechtbauer 2007): the tau2 where
/// Q(tau2) equals the upper and lower chi-square(J-1) quantiles; a bound that falls below 0 is 0.
/// `fixed_effect` = engine.weighted(0), `at_tau` = engine.weighted(tau2) at the estimate tau2,
/// `u` = engine.unweighted(), `vr` = engine.variances(). Each bound is a safeguarded Newton /
/// Halley iteration on 1 / Q(tau2) from the nearer of 0 and tau2, solved to about 1e-15 relative
/// (far below the interval's own sampling uncertainty); `passes`, when given, is increased by the
/// number of reductions over the groups it took.
struct interval {
  double lower = 0, upper = 0;
};
interval q_profile_interval(group_engine& engine, double level, const weighted_sums& fixed_effect, double tau2,
                            const weighted_sums& at_tau, const unweighted_sums& u, const variance_range& vr,
                            int* passes = nullptr);

/// Raw mode: the random-intercept model y_ij = mu + b_j + e_ij fitted by REML or ML over
/// sigma2 and tau2 jointly, as lme4 does. sigma2 is profiled out in closed form and the ratio
/// lambda = tau2 / sigma2 found as the root of the profiled deviance's derivative by safeguarded
/// Newton steps on its analytic second derivative; each step is one reduction over (n_j, ybar_j)
/// with v_j = 1 / n_j, without logarithms. Leaves the engine with v_j = sigma2 / n_j.
struct variance_components {
  double sigma2 = 0, tau2 = 0;
  int iterations = 0;  ///< reductions over the groups to find lambda
  double log_likelihood = 0;
  /// Standard errors from the inverse of the expected (Fisher) information of (sigma2, tau2)
  /// (REML: of the restricted likelihood), at the estimates.
  double sigma2_se = 0, tau2_se = 0;
  /// engine.weighted(0) and engine.weighted(tau2) at v_j = sigma2 / n_j, logarithms included:
  /// the likelihood and the information are built from them, and the fit reuses them.
  weighted_sums fixed_effect, at_tau;
};
variance_components fit_random_intercept(group_engine& engine, const group_totals& totals, bool reml);

}  // namespace shrink::detail
