#pragma once
// The beta-binomial family (issue 11): y_j ~ Binomial(n_j, theta_j), theta_j ~ Beta(alpha, beta),
// alpha = m nu, beta = (1 - m) nu (mean m, concentration nu), in the shape family.hpp describes;
// the conjugate posterior is Beta(alpha + y, beta + n - y). Also the rising-factorial differences
// both count families' likelihoods are made of.

#include "common/families/family.hpp"
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
  static constexpr const char* name = "binomial";
  static constexpr bool bounded_mean = true;  ///< the prior mean lies in (0, 1)

  /// A group: successes y (`count`) of n trials (`size`); whole numbers, 0 <= y <= n, n > 0.
  struct group {
    double count = 0;
    double size = 0;
  };

  /// log B(alpha + y, beta + n - y) - log B(alpha, beta) and its derivatives in (alpha, beta): the
  /// group's log p(y | alpha, beta) up to log C(n, y).
  SHRINK_HD static marginal_sums marginal(const group& g, double alpha, double beta)
  {
    const double failures = g.size - g.count, nu = alpha + beta;
    const double psi_nu = digamma_rising(nu, g.size), psi1_nu = trigamma_rising(nu, g.size);
    marginal_sums m;
    m.value = marginal_value(g, alpha, beta);
    m.d_a = digamma_rising(alpha, g.count) - psi_nu;
    m.d_b = digamma_rising(beta, failures) - psi_nu;
    m.d_aa = trigamma_rising(alpha, g.count) - psi1_nu;
    m.d_ab = -psi1_nu;
    m.d_bb = trigamma_rising(beta, failures) - psi1_nu;
    return m;
  }

  /// The value alone (the full-Bayes grid needs no derivatives).
  SHRINK_HD static double marginal_value(const group& g, double alpha, double beta)
  {
    return log_rising(alpha, g.count) + log_rising(beta, g.size - g.count) - log_rising(alpha + beta, g.size);
  }

  /// log C(n, y): added back for the reported log-likelihood.
  SHRINK_HD static double log_constant(const group& g)
  {
    // C(n, y) = 1 / ((n + 1) B(y + 1, n - y + 1)): no cancellation of three log-gammas of ~n log n.
    return -portable_log(g.size + 1) - log_beta(g.count + 1, g.size - g.count + 1);
  }

  /// u = logit m, v = log nu: alpha = nu m, beta = nu (1 - m).
  SHRINK_HD static double mean_of(double u) { return 1 / (1 + portable_exp(-u)); }
  SHRINK_HD static double link(double m) { return portable_log(m / (1 - m)); }
  SHRINK_HD static parameter_map natural(double u, double v)
  {
    const double m = mean_of(u), nu = portable_exp(v);
    const double m_u = m * (1 - m), m_uu = m_u * (1 - 2 * m);
    parameter_map p;
    p.a = nu * m;
    p.b = nu * (1 - m);
    p.a_u = nu * m_u;
    p.b_u = -p.a_u;
    p.a_v = p.a;
    p.b_v = p.b;
    p.a_uu = nu * m_uu;
    p.b_uu = -p.a_uu;
    p.a_uv = p.a_u;
    p.b_uv = p.b_u;
    p.a_vv = p.a;
    p.b_vv = p.b;
    return p;
  }

  /// The log-likelihood (without constants) as nu goes to infinity at mean m: binomial.
  SHRINK_HD static double limit(double count, double size, double m)
  {
    return (count > 0 ? count * portable_log(m) : 0.0) + (size > count ? (size - count) * portable_log1p(-m) : 0.0);
  }

  /// The method of moments on the observed rates as BDA3 section 5.1 uses it for the rat tumours: the
  /// beta with their mean m and variance v, nu = m (1 - m) / v - 1, the rates' binomial noise left in
  /// v (a crude estimate, as the book says; ml is the default). nu <= 0 (v >= m (1 - m), the largest
  /// spread a beta allows) has no beta: the caller reports the boundary.
  SHRINK_HD static double concentration_from_moments(double mean, double variance, double /*mean_inverse_size*/)
  {
    return mean * (1 - mean) / variance - 1;
  }

  /// The posterior Beta(alpha + y, beta + n - y): mean, sd and shrinkage (no interval).
  SHRINK_HD static count_posterior posterior_moments(const group& g, double alpha, double beta)
  {
    const double a = alpha + g.count, b = beta + (g.size - g.count), s = a + b;
    count_posterior p;
    p.mean = a / s;
    p.sd = std::sqrt(p.mean * (b / s) / (s + 1));  // a b / (s^2 (s + 1)), without overflowing s^3
    p.shrinkage = (alpha + beta) / s;
    return p;
  }

  /// The posterior's P(theta <= x) (with `upper`, P(theta > x)) and its density at x. Far from the
  /// mean of a concentrated posterior (a + b >= 1e4) they are 0 or 1, and 0, to within 2^-90:
  /// Beta(a, b) is sub-Gaussian with variance proxy 1 / (4 (a + b + 1)) (Marchal and Arbel 2017),
  /// so P(|theta - a / (a + b)| >= d) <= exp(-2 d^2 (a + b + 1)). That spares the continued
  /// fraction its ~sqrt(a + b) terms where --method bayes mixes over concentrations up to ~1e13.
  SHRINK_HD static double posterior_cdf(const group& g, double alpha, double beta, double x, bool upper, double* density)
  {
    const double a = alpha + g.count, b = beta + (g.size - g.count), s = a + b;
    if (s >= 1e4) {
      const double d = x - a / s;
      if (d * d * (s + 1) >= 31.2) {  // exp(-2 d^2 (s + 1)) <= exp(-62.4) < 2^-90
        if (density) *density = 0;
        return (d > 0) != upper ? 1.0 : 0.0;
      }
    }
    return incomplete_beta(a, b, x, upper, density);
  }

  /// The posterior with its exact central interval (tail probability `tail` each side).
  SHRINK_HD static count_posterior posterior_of(const group& g, double alpha, double beta, double tail)
  {
    const double a = alpha + g.count, b = beta + (g.size - g.count);
    count_posterior p = posterior_moments(g, alpha, beta);
    const beta_prefactor pf = beta_prefactor_of(a, b);  // both ends, every Halley step
    p.lower = inverse_incomplete_beta(pf, tail);
    p.upper = inverse_incomplete_beta(pf, tail, true);
    return p;
  }
};

}  // namespace shrink::detail
