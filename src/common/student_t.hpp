#pragma once
// Student-t distribution function and quantiles, host and device (SHRINK_HD): the intervals built
// on an estimated sigma (simulation studies on both backends, the fit's per-group intervals) use
// the t quantile on the pooled within-group degrees of freedom, and the --prior t:NU prediction
// interval the t quantile on NU. Written once here; nothing in it throws (NaN reports failure, the
// host wrappers in src/api/numerics.hpp turn that into an error).
//
// Accuracy for any nu > 0, including nu -> infinity (1e16 and beyond give the normal's values):
//   log Gamma(a + 1/2) - log Gamma(a) by Stirling's differences for a >= 10 (no cancellation of
//     two huge lgamma values), the direct difference below;
//   the tail P(T > t) = I_x(nu/2, 1/2) / 2, x = nu / (nu + t^2): for nu >= 200 and t^2 < nu by
//     a series of incomplete gammas (the tail itself, whatever nu), else by Lentz's continued
//     fraction on the side where it converges fast, with 1 - x formed as t^2 / (nu + t^2);
//   quantiles by Newton's method from the Cornish-Fisher expansion, which converges monotonically
//     (the tail is convex in t > 0) to a few ulps.

#include "macros.hpp"

#include <cmath>

namespace shrink::detail {

/// log Gamma(a + 1/2) - log Gamma(a) for a > 0.
SHRINK_HD inline double log_gamma_half_ratio(double a)
{
  if (a < 10) return std::lgamma(a + 0.5) - std::lgamma(a);
  // Stirling's series of both terms: 1/2 log a + sum over odd k of
  // (-1)^(k+1) (2^-k - 2) B_(k+1) / (k (k+1) a^k), k = 1..11; the first term left out (k = 13)
  // is 0.0128 / a^13, below 1.3e-15 for a >= 10.
  const double r = 1 / a, r2 = r * r;
  const double series =
    r * (-1.0 / 8 +
         r2 * (1.0 / 192 + r2 * (-1.0 / 640 + r2 * (17.0 / 14336 + r2 * (-31.0 / 18432 + r2 * 0.0038341346153846154)))));
  return 0.5 * std::log(a) + series;
}

/// Lentz's evaluation of the continued fraction of I_x(a, b) (Numerical Recipes' betacf): the
/// factor that multiplies x^a (1-x)^b / (a B(a, b)). NaN when it has not converged in max_terms.
SHRINK_HD inline double beta_fraction(double a, double b, double x, int max_terms)
{
  const double tiny = 1e-300;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  if (std::fabs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= max_terms; ++m) {
    const double m2 = 2.0 * m;
    double an = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + an * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    an = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + an * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < 3e-16) return h;  // within about one ulp of 1
  }
  return NAN;
}

/// P(T > t) for nu >= 200 and t^2 < nu, as the tail itself (no 1 - I cancellation): with
/// s = e^-v in I_x(a, 1/2) = integral_0^x s^(a-1) (1-s)^(-1/2) ds / B(a, 1/2), a = nu/2, and
/// (1 - e^-v)^(-1/2) = v^(-1/2) sum_k c_k v^k (c_k: the series of sqrt(v / (1 - e^-v)), radius
/// 2 pi), the tail is a sum of upper incomplete gammas Gamma(k + 1/2, a v0), v0 = log(1 + t^2/nu)
/// < log 2, each from the last (Temme's and TOMS 708's bgrat route). The k-th term is below
/// max(v0, k / a)^k c_k of the first: 26 terms reach double precision.
SHRINK_HD inline double student_t_upper_tail_large_nu(double t2, double nu)
{
  constexpr double c[26] = {1, 0.25, 0.010416666666666666, -0.0026041666666666665, -9.7656250000000005e-05,
                            5.1540798611111111e-05, 1.2756024718915344e-06, -1.1100970878802909e-06,
                            -1.9670584004181822e-08, 2.4836319884715677e-08, 3.3966619960386745e-10,
                            -5.6900718339421874e-10, -6.3372301556671304e-12, 1.3251315155878903e-11,
                            1.2468358960996804e-13, -3.1229993780631886e-13, -2.546988626356897e-15,
                            7.4267023509181585e-15, 5.3488858900327365e-17, -1.7785792610889221e-16,
                            -1.1473989542270475e-18, 4.2834766547261282e-18, 2.5030337435180244e-20,
                            -1.0363862910759544e-19, -5.5354983791784772e-22, 2.517185267159961e-21};
  const double sqrt_pi = 1.7724538509055160;
  const double a = 0.5 * nu;
  const double v0 = std::log1p(t2 / nu);
  const double u = a * v0;
  const double root_u = std::sqrt(u), e_u = std::exp(-u);
  // r_k = Gamma(k + 1/2, u) / a^k: r_0 = sqrt(pi) erfc(sqrt(u)), r_k = ((k - 1/2) r_(k-1) + sqrt(u) v0^(k-1) e^-u) / a.
  double r = sqrt_pi * std::erfc(root_u);
  double sum = r, v_power = 1;
  for (int k = 1; k < 26; ++k) {
    r = ((k - 0.5) * r + root_u * v_power * e_u) / a;
    v_power *= v0;
    sum += c[k] * r;
  }
  // Times 1 / (2 B(a, 1/2) sqrt(a)) = exp(log Gamma(a + 1/2) - log Gamma(a) - log(a) / 2) / (2 sqrt(pi)).
  return 0.5 * std::exp(log_gamma_half_ratio(a) - 0.5 * std::log(a)) / sqrt_pi * sum;
}

/// P(T > t) for T ~ t_nu and t >= 0 (NaN if a continued fraction failed).
SHRINK_HD inline double student_t_upper_tail(double t, double nu)
{
  const double t2 = t * t;
  if (t2 == 0) return 0.5;
  if (nu >= 200 && t2 < nu) return student_t_upper_tail_large_nu(t2, nu);
  const double x = nu / (nu + t2), y = t2 / (nu + t2);  // y = 1 - x without cancellation
  const double a = 0.5 * nu;
  // log of x^a y^(1/2) / B(a, 1/2), B(a, 1/2) = Gamma(a) Gamma(1/2) / Gamma(a + 1/2).
  const double log_front = log_gamma_half_ratio(a) - 0.5723649429247001 - a * std::log1p(t2 / nu) + 0.5 * std::log(y);
  // The fraction of I_x(a, 1/2) (the tail itself) on the side where it converges fast,
  // x < (a + 1) / (a + 5/2), i.e. t^2 > 3 nu / (nu + 2): O(sqrt(a)) terms near the transition, a
  // few where t^2 >= nu (x <= 1/2). Else 1 - I_y(1/2, a), where the tail is above 0.04 (t^2 < 3)
  // and the subtraction costs no digits.
  if (t2 * (nu + 2) > 3 * nu) return 0.5 * std::exp(log_front) * beta_fraction(a, 0.5, x, 1000) / a;
  return 0.5 * (1 - std::exp(log_front) * beta_fraction(0.5, a, y, 1000) / 0.5);
}

/// Density of t_nu at t.
SHRINK_HD inline double student_t_density(double t, double nu)
{
  return std::exp(log_gamma_half_ratio(0.5 * nu) - 0.5 * std::log(nu * 3.141592653589793) -
                  0.5 * (nu + 1) * std::log1p(t * t / nu));
}

/// The t with P(T > t) = q for T ~ t_nu, 0 < q < 1/2; z = the normal's (-Phi^-1(q)), which the
/// caller supplies (host code: -normal_quantile(q)). NaN if Newton's method fails to converge.
SHRINK_HD inline double student_t_upper_quantile(double q, double nu, double z)
{
  // Cornish-Fisher (Abramowitz & Stegun 26.7.5) as the start: exact to O(nu^-5) for large nu.
  const double z2 = z * z;
  const double g1 = (z2 + 1) * z / 4;
  const double g2 = ((5 * z2 + 16) * z2 + 3) * z / 96;
  const double g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384;
  const double g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160;
  const double r = 1 / nu;
  double t = z + r * (g1 + r * (g2 + r * (g3 + r * g4)));
  if (!(t > 0) || !std::isfinite(t)) t = z;
  // Newton on the tail, convex and decreasing in t > 0: from either side the iterates reach the
  // root's left and then rise to it monotonically, so the steps shrink to the rounding floor.
  // Stops at a step of a few ulps, or where rounding in the tail makes the steps stop shrinking.
  double previous = HUGE_VAL;
  for (int it = 0; it < 400; ++it) {
    const double f = student_t_upper_tail(t, nu) - q;
    const double step = f / student_t_density(t, nu);
    if (!std::isfinite(step)) return NAN;
    double next = t + step;
    if (!(next > 0)) next = 0.5 * t;  // overshoot below 0 from the right: halve instead
    const double size = std::fabs(next - t);
    if (size <= 4e-16 * next || (size < 1e-12 * next && size >= previous)) return next;
    previous = size;
    t = next;
  }
  return NAN;
}

}  // namespace shrink::detail
