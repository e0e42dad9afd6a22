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
};

/// tau2 by `o.method` (any but bayes) from the engine's current v_j; `u` = engine.unweighted().
tau2_estimate estimate_tau2(group_engine& engine, const fit_options& o, const unweighted_sums& u);

/// Raw mode: the pooled within-group variance SSW / sum (n_j - 1); throws shrink::error when
/// there is none (every n_j = 1) or it is zero, telling the user to give --sigma.
double pooled_sigma2(const group_totals& totals);

/// ML (reml = false) or REML log-likelihood of tau2 given the v_j, metafor's constants included
/// (REML with its default REMLf = TRUE term log|X'X| / 2 = log(J) / 2), as metafor's logLik.
double log_likelihood(const weighted_sums& s, std::size_t groups, bool reml);

/// Q-profile confidence interval for tau2 at `level` (Viechtbauer 2007): the tau2 where
/// Q(tau2) equals the upper and lower chi-square(J-1) quantiles; a bound that falls below 0 is 0.
struct interval {
  double lower = 0, upper = 0;
};
interval q_profile_interval(group_engine& engine, double level);

/// Raw mode: the random-intercept model y_ij = mu + b_j + e_ij fitted by REML or ML over
/// sigma2 and tau2 jointly, as lme4 does. sigma2 is profiled out in closed form and the ratio
/// lambda = tau2 / sigma2 found as the root of the profiled deviance's derivative; each step is
/// a reduction over (n_j, ybar_j) with v_j = 1 / n_j. Leaves the engine with v_j = sigma2 / n_j.
struct variance_components {
  double sigma2 = 0, tau2 = 0;
  int iterations = 0;
  double log_likelihood = 0;
  /// Standard errors from the inverse of the expected (Fisher) information of (sigma2, tau2)
  /// (REML: of the restricted likelihood), at the estimates.
  double sigma2_se = 0, tau2_se = 0;
};
variance_components fit_random_intercept(group_engine& engine, const group_totals& totals, bool reml);

}  // namespace shrink::detail
