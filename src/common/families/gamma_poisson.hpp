#pragma once
// The gamma-Poisson family (issue 11): y_j ~ Poisson(E_j theta_j) (E_j the exposure, default 1),
// theta_j ~ Gamma(shape, rate), mean m = shape / rate, in the shape family.hpp describes: the
// marginal is negative binomial, the conjugate posterior Gamma(shape + y, rate + E).

#include "common/families/beta_binomial.hpp"  // log_rising and friends
#include "common/families/family.hpp"
#include "common/macros.hpp"
#include "common/special.hpp"

namespace shrink::detail {

struct gamma_poisson {
  static constexpr const char* name = "poisson";
  static constexpr bool bounded_mean = false;  ///< the prior mean is any positive rate

  /// A group: a count y (`count`, a whole number >= 0) over an exposure E (`size`, > 0).
  struct group {
    double count = 0;
    double size = 1;
  };

  /// log Gamma(y + a) - log Gamma(a) + a log(b / (b + E)) - y log(b + E) and its derivatives in
  /// (a, b) = (shape, rate): the group's log p(y | a, b) up to y log E - log y!.
  SHRINK_HD static marginal_sums marginal(const group& g, double shape, double rate)
  {
    const double total = rate + g.size;  // the posterior's rate
    marginal_sums m;
    m.value = marginal_value(g, shape, rate);
    m.d_a = digamma_rising(shape, g.count) - portable_log1p(g.size / rate);
    m.d_b = shape / rate - (shape + g.count) / total;
    m.d_aa = trigamma_rising(shape, g.count);
    m.d_ab = 1 / rate - 1 / total;
    m.d_bb = -shape / (rate * rate) + (shape + g.count) / (total * total);
    return m;
  }

  /// The value alone (the full-Bayes grid needs no derivatives); a log(b / (b + E)) = -a log1p(E / b):
  /// no cancellation for small exposures.
  SHRINK_HD static double marginal_value(const group& g, double shape, double rate)
  {
    return log_rising(shape, g.count) - shape * portable_log1p(g.size / rate) - g.count * portable_log(rate + g.size);
  }

  /// y log E - log y!: added back for the reported log-likelihood (as R's dpois / dnbinom).
  SHRINK_HD static double log_constant(const group& g)
  {
    return (g.count > 0 ? g.count * portable_log(g.size) : 0.0) - log_gamma(g.count + 1);
  }

  /// u = log m, v = log shape: shape = e^v, rate = shape / m = e^(v - u).
  SHRINK_HD static double mean_of(double u) { return portable_exp(u); }
  SHRINK_HD static double link(double m) { return portable_log(m); }
  SHRINK_HD static parameter_map natural(double u, double v)
  {
    parameter_map p;
    p.a = portable_exp(v);
    p.b = portable_exp(v - u);
    p.a_v = p.a_vv = p.a;
    p.b_u = -p.b;
    p.b_v = p.b;
    p.b_uu = p.b;
    p.b_uv = -p.b;
    p.b_vv = p.b;
    return p;
  }

  /// The log-likelihood (without constants) as the shape goes to infinity at mean m: Poisson.
  SHRINK_HD static double limit(double count, double size, double m)
  {
    return (count > 0 ? count * portable_log(m) : 0.0) - m * size;
  }

  /// The method of moments on the observed rates r_j = y_j / E_j: E r = m, Var r = m^2 / shape +
  /// m mean(1 / E_j), so shape = m^2 / (v - m mean(1/E)) (<= 0: no spread beyond Poisson noise).
  SHRINK_HD static double concentration_from_moments(double mean, double variance, double mean_inverse_size)
  {
    const double excess = variance - mean * mean_inverse_size;
    return excess > 0 ? mean * mean / excess : -1.0;
  }

  /// The posterior Gamma(shape + y, rate + E): mean (shape + y) / (rate + E), shrinkage rate / (rate + E).
  SHRINK_HD static count_posterior posterior_moments(const group& g, double shape, double rate)
  {
    const double a = shape + g.count, b = rate + g.size;
    count_posterior p;
    p.mean = a / b;
    p.sd = std::sqrt(a) / b;
    p.shrinkage = rate / b;
    return p;
  }

  /// The posterior's P(theta <= x) (with `upper`, P(theta > x)) and its density at x.
  SHRINK_HD static double posterior_cdf(const group& g, double shape, double rate, double x, bool upper, double* density)
  {
    const double a = shape + g.count, b = rate + g.size;
    if (density != nullptr) *density = x > 0 ? portable_exp(log_gamma_prefactor(a, b * x)) / x : 0.0;
    return incomplete_gamma(a, b * x, upper);
  }

  /// The posterior with its exact central interval (tail probability `tail` each side).
  SHRINK_HD static count_posterior posterior_of(const group& g, double shape, double rate, double tail)
  {
    const double a = shape + g.count, b = rate + g.size;
    count_posterior p = posterior_moments(g, shape, rate);
    p.lower = inverse_incomplete_gamma(a, tail) / b;
    p.upper = inverse_incomplete_gamma(a, tail, true) / b;
    return p;
  }
};

}  // namespace shrink::detail
