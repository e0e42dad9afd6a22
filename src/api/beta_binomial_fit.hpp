#pragma once
// The beta-binomial family's hyperparameter estimators on the host (issue 11): the method of
// moments on the observed rates and maximum likelihood by Newton's method on (logit m, log nu),
// over sums the engine reduces (here the CPU's fixed-shape reduction; the same formulas,
// src/common/families/beta_binomial.hpp, are what a GPU engine reduces).

#include "common/families/beta_binomial.hpp"

#include <cstddef>
#include <string>

namespace shrink::detail {

/// The groups as the estimators see them.
struct binomial_groups {
  const beta_binomial::group* groups = nullptr;
  std::size_t count = 0;
  int threads = 0;
};

/// Sums of the data the estimators start from.
struct binomial_totals {
  double successes = 0, trials = 0;  ///< over all groups: complete pooling's rate is their ratio
  double rate_mean = 0;              ///< mean of the rates y_j / n_j
  double rate_variance = 0;          ///< their sample variance (divisor J - 1)
  double log_binomial_coefficients = 0;  ///< sum of log C(n_j, y_j), for the reported log-likelihood
};

binomial_totals binomial_summaries(const binomial_groups& data);

struct beta_binomial_estimate {
  double alpha = 0, beta = 0;        ///< Beta(alpha, beta); both infinite on the boundary
  double mean = 0;                   ///< m = alpha / (alpha + beta)
  double concentration = 0;          ///< nu = alpha + beta (infinite: no over-dispersion)
  double se_logit_mean = 0;          ///< from the observed information in (logit m, log nu)
  double se_log_concentration = 0;
  double log_likelihood = 0;         ///< with the binomial coefficients (as R's dbinom / VGAM)
  double lrt_statistic = 0;          ///< 2 (l - l at nu = infinity): no over-dispersion
  double lrt_p_value = 1;            ///< chi-bar-square: half a chi-square(1) tail (the boundary)
  int iterations = 0;
  bool boundary = false;             ///< nu = infinity: partial pooling is complete pooling
};

/// The method of moments (BDA3 section 5.1): the beta with the rates' mean and variance; rates no
/// more spread than binomial noise allows (nu <= 0) give the boundary nu = infinity.
beta_binomial_estimate beta_binomial_moments(const binomial_groups& data, const binomial_totals& totals);

/// The prior given: Beta(alpha, beta), with its log-likelihood and the over-dispersion test.
beta_binomial_estimate beta_binomial_fixed(const binomial_groups& data, const binomial_totals& totals, double alpha, double beta);

/// Maximum likelihood, Newton on (logit m, log nu) from the moment estimate, with step halving and
/// a Levenberg shift where the Hessian is not negative definite; converged when the Newton
/// decrement falls below 1e-12. Rates all 0 or all 1 are an error (no finite maximum).
beta_binomial_estimate beta_binomial_ml(const binomial_groups& data, const binomial_totals& totals, int max_iterations = 200);

/// Profile-likelihood intervals at `level` for m and nu (each maximised over the other): the set
/// where 2 (l_max - l_profile) stays below the chi-square(1) quantile. An end the likelihood never
/// leaves the set at is open: 0 or 1 for m, 0 or infinity for nu (on the boundary nu = infinity,
/// the upper end is infinite).
struct beta_binomial_intervals {
  double mean_lower = 0, mean_upper = 0;
  double concentration_lower = 0, concentration_upper = 0;
};
beta_binomial_intervals beta_binomial_profile_intervals(const binomial_groups& data, const binomial_totals& totals,
                                                        const beta_binomial_estimate& estimate, double level);

}  // namespace shrink::detail
