#pragma once
// Host-side one-dimensional numerics for the tau2 methods: Brent's root finder (the algorithm of
// R's uniroot, so that PM follows metafor step for step), Brent's minimiser, and chi-square
// quantiles for the Q-profile interval. Each function evaluation is an O(J) reduction elsewhere;
// these only decide where to evaluate next.

#include <cfloat>
#include <cmath>
#include <limits>

namespace shrink::detail {

struct root_result {
  double x = 0;
  int iterations = 0;
  bool converged = false;
};

/// Brent's zero of f in [a, b] given fa = f(a), fb = f(b) of opposite signs (R's R_zeroin2, netlib
/// zeroin): stops when the bracket is below 2 eps |x| + tol / 2, or after max_iter evaluations.
template <class F>
root_result find_root(F&& f, double a, double b, double fa, double fb, double tol, int max_iter)
{
  root_result r;
  double c = a, fc = fa;
  if (fa == 0) return {a, 0, true};
  if (fb == 0) return {b, 0, true};
  for (int it = 1; it <= max_iter; ++it) {
    const double prev_step = b - a;
    if (std::fabs(fc) < std::fabs(fb)) {
      a = b; b = c; c = a;
      fa = fb; fb = fc; fc = fa;
    }
    const double tol_act = 2 * DBL_EPSILON * std::fabs(b) + tol / 2;
    double new_step = (c - b) / 2;
    if (std::fabs(new_step) <= tol_act || fb == 0) return {b, it - 1, true};
    if (std::fabs(prev_step) >= tol_act && std::fabs(fa) > std::fabs(fb)) {
      double p, q;
      const double cb = c - b;
      if (a == c) {
        const double t1 = fb / fa;
        p = cb * t1;
        q = 1.0 - t1;
      } else {
        q = fa / fc;
        const double t1 = fb / fc, t2 = fb / fa;
        p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0));
        q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0);
      }
      if (p > 0) q = -q; else p = -p;
      if (p < (0.75 * cb * q - std::fabs(tol_act * q) / 2) && p < std::fabs(prev_step * q / 2)) new_step = p / q;
    }
    if (std::fabs(new_step) < tol_act) new_step = new_step > 0 ? tol_act : -tol_act;
    a = b;
    fa = fb;
    b += new_step;
    fb = f(b);
    r.iterations = it;
    if ((fb > 0 && fc > 0) || (fb < 0 && fc < 0)) {
      c = a;
      fc = fa;
    }
  }
  r.x = b;
  r.converged = false;
  return r;
}

/// Brent's minimiser of f on [a, b] (golden section with parabolic steps, as R's optimize):
/// stops when x is known to within tol + sqrt(eps) |x|.
template <class F>
double minimize(F&& f, double a, double b, double tol, int max_iter = 200)
{
  const double golden = (3.0 - std::sqrt(5.0)) * 0.5;
  const double eps = std::sqrt(DBL_EPSILON);
  double v = a + golden * (b - a), w = v, x = v;
  double d = 0, e = 0;
  double fx = f(x), fv = fx, fw = fx;
  for (int it = 0; it < max_iter; ++it) {
    const double xm = (a + b) / 2;
    const double tol1 = eps * std::fabs(x) + tol / 3;
    const double tol2 = 2 * tol1;
    if (std::fabs(x - xm) <= tol2 - (b - a) / 2) break;
    bool golden_step = true;
    if (std::fabs(e) > tol1) {
      double r = (x - w) * (fx - fv);
      double q = (x - v) * (fx - fw);
      double p = (x - v) * q - (x - w) * r;
      q = (q - r) * 2;
      if (q > 0) p = -p; else q = -q;
      r = e;
      e = d;
      if (std::fabs(p) < std::fabs(q * 0.5 * r) && p > q * (a - x) && p < q * (b - x)) {
        d = p / q;
        const double u = x + d;
        if (u - a < tol2 || b - u < tol2) d = x < xm ? tol1 : -tol1;
        golden_step = false;
      }
    }
    if (golden_step) {
      e = x < xm ? b - x : a - x;
      d = golden * e;
    }
    const double u = std::fabs(d) >= tol1 ? x + d : (d > 0 ? x + tol1 : x - tol1);
    const double fu = f(u);
    if (fu <= fx) {
      if (u < x) b = x; else a = x;
      v = w; fv = fw;
      w = x; fw = fx;
      x = u; fx = fu;
    } else {
      if (u < x) a = u; else b = u;
      if (fu <= fw || w == x) {
        v = w; fv = fw;
        w = u; fw = fu;
      } else if (fu <= fv || v == x || v == w) {
        v = u; fv = fu;
      }
    }
  }
  return x;
}

/// Regularised lower incomplete gamma P(a, x): series for x < a + 1, Lentz's continued fraction
/// for the complement otherwise (relative accuracy near 1e-15).
inline double gamma_p(double a, double x)
{
  if (x <= 0) return 0;
  const double log_front = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1) {
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 10000; ++n) {
      term *= x / (a + n);
      sum += term;
      if (std::fabs(term) < std::fabs(sum) * 1e-17) break;
    }
    return sum * std::exp(log_front);
  }
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < 1e-17) break;
  }
  return 1 - std::exp(log_front) * h;
}

/// Chi-square distribution function with df degrees of freedom.
inline double chi_square_cdf(double x, double df) { return gamma_p(df / 2, x / 2); }

/// Chi-square quantile: bisection on the distribution function to full double precision.
inline double chi_square_quantile(double p, double df)
{
  double lo = 0, hi = df + 10 * std::sqrt(2 * df) + 100;
  while (chi_square_cdf(hi, df) < p) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 4 * DBL_EPSILON * hi; ++i) {
    const double mid = (lo + hi) / 2;
    (chi_square_cdf(mid, df) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

}  // namespace shrink::detail
