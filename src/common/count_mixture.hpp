#pragma once
// Full-Bayes per-group posteriors of the count families (`--method bayes`): theta_j | y is a finite
// mixture, over the grid of hyperparameters (a_k, b_k) with posterior weights w_k, of the
// conjugate posteriors (Beta(alpha_k + y, beta_k + n - y), or Gamma(shape_k + y, rate_k + E)).
// Its mean and sd are the mixture's; its quantiles solve the mixture's CDF, built from the
// incomplete beta / gamma functions of special.hpp, by Newton's method inside a bracket.

#include "common/families/family.hpp"
#include "common/macros.hpp"

#include <cmath>

namespace shrink::detail {

/// The mixture's components: weight[k] (summing to 1) on the prior (a[k], b[k]) (for quantiles:
/// heaviest first).
struct count_mixture {
  const double* a = nullptr;
  const double* b = nullptr;
  const double* weight = nullptr;
  int points = 0;
};

/// P(theta <= x | y) (with `upper`, P(theta > x | y), summed as such) and the mixture's density at x.
template <class Family>
SHRINK_HD double count_mixture_cdf(const typename Family::group& g, const count_mixture& m, double x, bool upper,
                                   double& density)
{
  double cdf = 0;
  density = 0;
  for (int k = 0; k < m.points; ++k) {
    double d = 0;
    cdf += m.weight[k] * Family::posterior_cdf(g, m.a[k], m.b[k], x, upper, &d);
    density += m.weight[k] * d;
  }
  return cdf;
}

/// The x with P(theta <= x | y) = tail (with `upper`: P(theta > x | y) = tail), from `start`:
/// Newton's steps on the mixture's CDF, a bisection (or, towards an open end, a step by a factor)
/// wherever a step leaves the bracket; done when a step inside the bracket is below 2^-40 of x
/// (Newton's next error is then below the last bit) or the bracket has closed.
template <class Family>
SHRINK_HD double count_mixture_quantile(const typename Family::group& g, const count_mixture& m, double tail, bool upper,
                                        double start)
{
  double lo = 0, hi = Family::bounded_mean ? 1.0 : HUGE_VAL;
  double x = start > lo && start < hi ? start : (Family::bounded_mean ? 0.5 : 1.0);
  for (int iteration = 0; iteration < 200; ++iteration) {
    double density = 0;
    const double cdf = count_mixture_cdf<Family>(g, m, x, upper, density);
    const double f = upper ? tail - cdf : cdf - tail;  // increasing in x
    if (f == 0) return x;
    if (f < 0) lo = x;
    else hi = x;
    double next = x - f / density;
    const bool inside = next > lo && next < hi;
    if (!inside) {
      if (f > 0) next = lo > 0 ? 0.5 * (lo + hi) : x * 0.0625;
      else next = hi < HUGE_VAL ? 0.5 * (lo + hi) : 4 * x;
    }
    const double change = next > x ? next - x : x - next;
    x = next;
    if ((inside && change <= 0x1p-40 * x) || (hi < HUGE_VAL && hi - lo <= 0x1p-52 * hi)) break;
  }
  return x;
}

/// Group g's posterior: mean, sd and the posterior mean of the shrinkage over the mixture `m`; the
/// central interval with `tail` on each side over `q` (a coarser mixture of the same posterior: each
/// of its points costs an incomplete beta / gamma per step), each quantile solved from the
/// heaviest component's.
template <class Family>
SHRINK_HD count_posterior count_mixture_posterior(const typename Family::group& g, const count_mixture& m,
                                                  const count_mixture& q, double tail)
{
  double mean = 0, shrinkage = 0;
  for (int k = 0; k < m.points; ++k) {
    const count_posterior c = Family::posterior_moments(g, m.a[k], m.b[k]);
    mean += m.weight[k] * c.mean;
    shrinkage += m.weight[k] * c.shrinkage;
  }
  double variance = 0;  // the within-component variances plus the spread of the component means
  for (int k = 0; k < m.points; ++k) {
    const count_posterior c = Family::posterior_moments(g, m.a[k], m.b[k]);
    variance += m.weight[k] * (c.sd * c.sd + (c.mean - mean) * (c.mean - mean));
  }
  const count_posterior heaviest = Family::posterior_of(g, q.a[0], q.b[0], tail);
  count_posterior p;
  p.mean = mean;
  p.sd = std::sqrt(variance);
  p.shrinkage = shrinkage;
  p.lower = count_mixture_quantile<Family>(g, q, tail, false, heaviest.lower);
  p.upper = count_mixture_quantile<Family>(g, q, tail, true, heaviest.upper);
  return p;
}

}  // namespace shrink::detail
