#pragma once
// The beta-binomial family (issue 11): y_j ~ Binomial(n_j, theta_j), theta_j ~ Beta(alpha, beta),
// alpha = m nu, beta = (1 - m) nu (mean m, concentration nu). Written once, for both backends:
// a group's summary, its marginal log-likelihood with the gradient and Hessian in (alpha, beta) (so a
// Newton step is one reduction of six sums), and its conjugate posterior Beta(alpha + y, beta + n - y).
// The estimators (moments, ML, Bayes) run on the host over these terms.

#include "common/macros.hpp"
#include "common/special.hpp"

namespace shrink::detail {

/// Counts below which the rising-factorial differences below are exact sums (no cancellation of two
/// large log-gamma values).
constexpr double rising_sum_limit = 16;

/// log Gamma(a + k) - log Gamma(a), a > 0, k >= 0 a count: a sum of logarithms for small k (one
/// log of the product), Stirling differences for a >= 10, else the difference itself.
SHRINK_HD inline double log_rising(double a, double k)
{
  using namespace special_detail;
  if (k <= rising_sum_limit && a < 1e15) {  // the product stays below 1e255
    double product = 1;
    for (double i = 0; i < k; i += 1) product *= a + i;
    return portable_log(product);
  }
  if (a >= 10) {
    // (a + k - 1/2) log(a + k) - (a - 1/2) log a - k + corrections, rearranged without cancellation.
    return (a - 0.5) * portable_log1p(k / a) + k * (portable_log(a + k) - 1) + stirling_correction(a + k) -
           stirling_correction(a);
  }
  return log_gamma(a + k) - log_gamma(a);
}

/// psi(a + k) - psi(a), as log_rising: sum_{i<k} 1/(a + i) for small k; for a >= 10 the asymptotic
/// series' differences, log1p(k/a) + k / (2a(a + k)) - ..., without the cancellation of two psi values.
SHRINK_HD inline double digamma_rising(double a, double k)
{
  using namespace special_detail;
  if (k <= rising_sum_limit) {
    double sum = 0;
    for (double i = 0; i < k; i += 1) sum += 1 / (a + i);
    return sum;
  }
  if (a >= 10) return portable_log1p(k / a) + k / (2 * a * (a + k)) - (digamma_series(a + k) - digamma_series(a));
  return digamma(a + k) - digamma(a);
}

/// psi'(a + k) - psi'(a) = -sum_{i<k} 1/(a + i)^2 for small k; for a >= 10 the asymptotic series'
/// differences, as digamma_rising.
SHRINK_HD inline double trigamma_rising(double a, double k)
{
  using namespace special_detail;
  if (k <= rising_sum_limit) {
    double sum = 0;
    for (double i = 0; i < k; i += 1) sum += 1 / ((a + i) * (a + i));
    return -sum;
  }
  if (a >= 10) {
    const double b = a + k;
    return -k / (a * b) - k * (a + b) / (2 * a * a * b * b) + (trigamma_series(b) - trigamma_series(a));
  }
  return trigamma(a + k) - trigamma(a);
}

struct beta_binomial {
  /// A group's sufficient statistics: successes y and trials n (counts, 0 <= y <= n, n > 0).
  struct group {
    double successes = 0;
    double trials = 0;
  };

  /// Sums over groups of the marginal log-likelihood (without the binomial coefficients, which do
  /// not depend on the hyperparameters), its gradient and Hessian in (alpha, beta).
  struct marginal_sums {
    double value = 0;
    double d_alpha = 0, d_beta = 0;
    double d_alpha_alpha = 0, d_alpha_beta = 0, d_beta_beta = 0;

    SHRINK_HD marginal_sums& operator+=(const marginal_sums& o)
    {
      value += o.value;
      d_alpha += o.d_alpha;
      d_beta += o.d_beta;
      d_alpha_alpha += o.d_alpha_alpha;
      d_alpha_beta += o.d_alpha_beta;
      d_beta_beta += o.d_beta_beta;
      return *this;
    }
    SHRINK_HD friend marginal_sums operator+(marginal_sums a, const marginal_sums& b) { return a += b; }
  };

  /// log B(alpha + y, beta + n - y) - log B(alpha, beta) and its derivatives: the group's
  /// log p(y | alpha, beta) up to log C(n, y).
  SHRINK_HD static marginal_sums marginal(const group& g, double alpha, double beta)
  {
    const double failures = g.trials - g.successes, nu = alpha + beta;
    const double psi_nu = digamma_rising(nu, g.trials), psi1_nu = trigamma_rising(nu, g.trials);
    marginal_sums m;
    m.value = log_rising(alpha, g.successes) + log_rising(beta, failures) - log_rising(nu, g.trials);
    m.d_alpha = digamma_rising(alpha, g.successes) - psi_nu;
    m.d_beta = digamma_rising(beta, failures) - psi_nu;
    m.d_alpha_alpha = trigamma_rising(alpha, g.successes) - psi1_nu;
    m.d_alpha_beta = -psi1_nu;
    m.d_beta_beta = trigamma_rising(beta, failures) - psi1_nu;
    return m;
  }

  /// The method of moments on the observed rates y_j / n_j (BDA3 section 5.1): the beta with their
  /// mean m and variance v, nu = m (1 - m) / v - 1; nu <= 0 (rates no more spread than their mean
  /// allows) has no beta: returned as is for the caller to report.
  struct hyperparameters {
    double alpha = 0, beta = 0;
  };
  SHRINK_HD static hyperparameters from_rate_moments(double mean, double variance)
  {
    const double nu = mean * (1 - mean) / variance - 1;
    return {mean * nu, (1 - mean) * nu};
  }

  /// log C(n, y): added back for the reported log-likelihood.
  SHRINK_HD static double log_binomial_coefficient(const group& g)
  {
    return log_gamma(g.trials + 1) - log_gamma(g.successes + 1) - log_gamma(g.trials - g.successes + 1);
  }

  /// A group's posterior Beta(alpha + y, beta + n - y).
  struct posterior {
    double mean = 0;       ///< (alpha + y) / (nu + n): partial pooling
    double sd = 0;         ///< the posterior's standard deviation
    double shrinkage = 0;  ///< nu / (nu + n): the weight of the prior mean
    double lower = 0;      ///< the `tail` quantile
    double upper = 0;      ///< the 1 - `tail` quantile
  };

  SHRINK_HD static posterior posterior_of(const group& g, double alpha, double beta, double tail)
  {
    const double a = alpha + g.successes, b = beta + (g.trials - g.successes), s = a + b;
    posterior p;
    p.mean = a / s;
    p.sd = std::sqrt(a * b / (s * s * (s + 1)));
    p.shrinkage = (alpha + beta) / s;
    p.lower = inverse_incomplete_beta(a, b, tail);
    p.upper = inverse_incomplete_beta(a, b, tail, true);
    return p;
  }
};

}  // namespace shrink::detail
