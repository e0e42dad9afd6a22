#pragma once
// Host-side one-dimensional numerics for the tau2 methods: Brent's root finder (the algorithm of
// R's uniroot, so that PM follows metafor step for step), Brent's minimiser, chi-square
// quantiles for the Q-profile interval and Student-t quantiles for the t prior's prediction
// interval. Each function evaluation is an O(J) reduction elsewhere;
// these only decide where to evaluate next.

#include "../common/macros.hpp"
#include "../common/normal.hpp"
#include "../common/student_t.hpp"

#include <cfloat>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>

namespace shrink::detail {

/// Wall-clock seconds since t0: the stage timings every fit reports.
inline double seconds_since(std::chrono::steady_clock::time_point t0)
{
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// metafor's Fisher scoring step for tau2 (ML, REML, EB), safeguarded. The score's root lies
/// between the last point where the step pointed up (lo) and the last where it pointed down (hi);
/// a step that lands outside a closed bracket overshoots (plain scoring can then cycle for ever, as
/// metafor's does without its `stepadj` remedy), so it bisects the bracket instead. A fit whose
/// steps stay inside (monotone or shrinking oscillating steps, the usual case) keeps metafor's
/// path bit for bit; a step too small to move tau2 ends the scoring as it does in metafor.
class scoring_steps {
 public:
  /// The next tau2 from tau2 and the scoring step adj (finite).
  double next(double tau2, double adj)
  {
    (adj > 0 ? lo_ : hi_) = tau2;
    while (tau2 + adj < 0) adj /= 2;  // metafor's step halving at tau2.min = 0
    const double to = tau2 + adj;
    const bool inside = to > lo_ && to < hi_;
    return inside || to == tau2 ? to : lo_ + (hi_ - lo_) / 2;
  }

 private:
  double lo_ = 0, hi_ = std::numeric_limits<double>::infinity();
};

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

/// One panel [a, b] of a density integrated piecewise: `mass` by the accurate rule, `end_mass` the
/// partial integral's own value at b (the two rules differ within the quadrature's error).
struct quantile_panel {
  double a, b, mass, end_mass;
};

/// Where the integral of a density reaches `target`: `panel(k)` gives panel k (in order, k < n)
/// and `partial(k, x)` the integral over [a_k, x]. The panel is chosen by partial's own value at
/// its right end and the root's bracket is evaluated with partial itself, so the bracket's signs
/// are those of the function solved; where the cumulative mass steps past target between panels
/// (the accurate mass exceeding the partial rule's), the answer is that panel edge. Throws
/// shrink::error if the root finder does not converge.
template <class Panel, class Partial>
double panel_quantile(std::size_t n, Panel&& panel, Partial&& partial, double target, double tol)
{
  double cum = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const quantile_panel p = panel(k);
    if (cum >= target) return p.a;
    if (cum + p.end_mass < target && k + 1 < n) {
      cum += p.mass;
      continue;
    }
    auto gap = [&](double x) { return cum + partial(k, x) - target; };
    const double f_hi = gap(p.b);
    if (f_hi <= 0) return p.b;  // the last panel, or rounding between end_mass and partial(k, b)
    const root_result root = find_root(gap, p.a, p.b, cum - target, f_hi, tol, 200);
    SHRINK_EXPECTS(root.converged, "quantile: root finding within a quadrature panel did not converge");
    return root.x;
  }
  SHRINK_FAIL("panel_quantile: no panels");
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

/// Iteration cap of the series and continued fractions below: they need O(sqrt(a)) terms near
/// the transition x ~ a (at most about 9 sqrt(a) for 1e-17), so the cap grows with sqrt(a)
/// instead of silently truncating for large a (chi-square df above ~1e5).
inline int special_function_cap(double a) { return 200 + static_cast<int>(40 * std::sqrt(a)); }

/// t - log(1 + t) without the cancellation of the direct form for small |t|.
inline double t_minus_log1p(double t)
{
  if (std::fabs(t) >= 0.1) return t - std::log1p(t);
  double power = t * t, sum = 0;
  for (int n = 2; n < 60; ++n, power *= -t) {
    const double term = power / n;
    sum += term;
    if (std::fabs(term) <= 1e-17 * std::fabs(sum)) break;
  }
  return sum;
}

/// log(x^a e^-x / Gamma(a)), the factor in front of the series and continued fraction. For large
/// a, Stirling's series with the O(a log a) terms cancelled analytically, so that the result keeps
/// full relative accuracy (the direct form loses log10(a log a) digits).
inline double gamma_log_front(double a, double x)
{
  if (a < 100) return a * std::log(x) - x - std::lgamma(a);
  // lgamma(a) = (a - 1/2) log a - a + log(2 pi) / 2 + 1/(12a) - 1/(360a^3) + 1/(1260a^5) - ...
  const double a2 = a * a;
  const double stirling = (1.0 / 12 - (1.0 / 360 - (1.0 / 1260 - 1.0 / (1680 * a2)) / a2) / a2) / a;
  return 0.5 * std::log(a / 6.283185307179586) - a * t_minus_log1p((x - a) / a) - stirling;
}

/// Regularised lower incomplete gamma P(a, x): series for x < a + 1, Lentz's continued fraction
/// for the complement otherwise (relative accuracy near 1e-15). Throws if either fails to
/// converge within special_function_cap(a) terms.
inline double gamma_p(double a, double x)
{
  if (x <= 0) return 0;
  const double log_front = gamma_log_front(a, x);
  const int cap = special_function_cap(a);
  if (x < a + 1) {
    double term = 1.0 / a, sum = term;
    for (int n = 1;; ++n) {
      SHRINK_EXPECTS(n < cap, "incomplete gamma: the series did not converge (a = " + std::to_string(a) + ")");
      term *= x / (a + n);
      sum += term;
      if (std::fabs(term) < std::fabs(sum) * 1e-17) break;
    }
    return sum * std::exp(log_front);
  }
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int i = 1;; ++i) {
    SHRINK_EXPECTS(i < cap, "incomplete gamma: the continued fraction did not converge (a = " + std::to_string(a) + ")");
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

/// Student-t quantile t with P(T > t) = q for 0 < q < 1 (the upper tail: accurate for q near 0,
/// where 1 - q would round). Any nu > 0; very large nu give the normal's quantile. Throws if the
/// iteration fails (src/common/student_t.hpp).
inline double student_t_upper_quantile(double q, double nu)
{
  if (q == 0.5) return 0;
  if (q > 0.5) return -student_t_upper_quantile(1 - q, nu);
  const double t = student_t_upper_quantile(q, nu, -normal_quantile(q));
  SHRINK_EXPECTS(std::isfinite(t), "Student-t quantile: the iteration did not converge (nu = " + std::to_string(nu) + ")");
  return t;
}

/// Student-t quantile for p in (0, 1).
inline double student_t_quantile(double p, double nu) { return -student_t_upper_quantile(p, nu); }

/// The two-sided quantile of a central interval at `level` (0 < level < 1): the normal's z, or the
/// t's on df degrees of freedom when df is given (an interval built on a variance estimated with
/// df degrees of freedom). From the tail (1 - level) / 2, so that levels near 1 keep their digits.
inline double interval_quantile(double level, double df = 0)
{
  const double tail = 0.5 * (1 - level);
  return df > 0 ? student_t_upper_quantile(tail, df) : -normal_quantile(tail);
}

}  // namespace shrink::detail
