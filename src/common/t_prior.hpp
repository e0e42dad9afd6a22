#pragma once
// Student-t prior for the group means: theta_j ~ mu + s t_nu, ybar_j | theta_j ~ N(theta_j, v_j).
// Each group's marginal density and posterior moments are one-dimensional integrals over theta of
//   h(theta) = N(theta; ybar_j, v_j) t_nu(theta; mu, s),
// computed by globally adaptive Gauss-Kronrod 7/15 over the hull of ybar_j +- 10 sqrt(v_j) and
// mu +- 10 s (beyond it the normal factor is below e^-50 of its peak and the t factor falls
// further), cut at ybar_j, mu and the ends of both ranges, until the error estimate of the
// integral and of the first moment is below 1e-10 of the integral (at most `t_max_panels`
// panels; a group that stops at the cap is counted). Host and device.

#include "macros.hpp"
#include "mixture_posterior.hpp"
#include "quadrature.hpp"

#include <cmath>

namespace shrink::detail {

struct t_prior_params {
  double mu = 0;     ///< location, relative to offset
  double scale = 1;  ///< s
  double nu = 1;     ///< degrees of freedom
  double log_norm = 0;  ///< lgamma((nu+1)/2) - lgamma(nu/2) - log(nu pi)/2 - log s
  double p_lower = 0.025, p_upper = 0.975;
  double offset = 0;
};

inline constexpr int t_max_panels = 48;
inline constexpr double t_rel_tol = 1e-10;

/// log h(theta) without the constant -log(2 pi v)/2.
SHRINK_HD inline double t_log_integrand(double theta, double ybar, double v, const t_prior_params& p)
{
  const double d = theta - ybar;
  const double z = (theta - p.mu) / p.scale;
  return -0.5 * d * d / v + p.log_norm - 0.5 * (p.nu + 1) * std::log1p(z * z / p.nu);
}

/// One group's integrals: panels of [lo, hi] with their Kronrod sums of h, (theta - ybar) h and
/// (theta - ybar)^2 h, scaled by exp(-ref).
struct t_group_integral {
  double a[t_max_panels], b[t_max_panels];
  double z[t_max_panels], m1[t_max_panels], m2[t_max_panels], err[t_max_panels];
  int panels = 0;
  double ref = 0;  ///< log scale factor
  double Z = 0, M1 = 0, M2 = 0;
  bool converged = true;
};

SHRINK_HD inline void t_panel(double a, double b, double ybar, double v, const t_prior_params& p, double ref,
                              double& z, double& m1, double& m2, double& err)
{
  double zk = 0, zg = 0, mk = 0, mg = 0, sk = 0;
  for (int k = 0; k < 15; ++k) {
    double wk, wg;
    const double x = gk15_point(a, b, k, wk, wg);
    const double h = std::exp(t_log_integrand(x, ybar, v, p) - ref);
    const double d = x - ybar;
    zk += wk * h;
    zg += wg * h;
    mk += wk * d * h;
    mg += wg * d * h;
    sk += wk * d * d * h;
  }
  z = zk;
  m1 = mk;
  m2 = sk;
  err = std::fabs(zk - zg) + std::fabs(mk - mg) / std::sqrt(v);
}

SHRINK_HD inline void t_integrate(double ybar, double v, const t_prior_params& p, t_group_integral& g)
{
  const double sd = std::sqrt(v);
  g.ref = std::fmax(t_log_integrand(ybar, ybar, v, p), t_log_integrand(p.mu, ybar, v, p));
  // Initial panels cut at the likelihood's range, the prior's peak and its +- 10 s shoulders;
  // the domain covers both, so a sharp prior far from ybar_j (large nu, small s) is not missed.
  double cuts[6] = {ybar - 10 * sd, ybar + 10 * sd, ybar, p.mu - 10 * p.scale, p.mu, p.mu + 10 * p.scale};
  for (int i = 1; i < 6; ++i)
    for (int j = i; j > 0 && cuts[j] < cuts[j - 1]; --j) {
      const double t = cuts[j];
      cuts[j] = cuts[j - 1];
      cuts[j - 1] = t;
    }
  g.panels = 0;
  for (int i = 0; i + 1 < 6; ++i) {
    if (!(cuts[i + 1] > cuts[i])) continue;
    const int k = g.panels++;
    g.a[k] = cuts[i];
    g.b[k] = cuts[i + 1];
    t_panel(g.a[k], g.b[k], ybar, v, p, g.ref, g.z[k], g.m1[k], g.m2[k], g.err[k]);
  }
  g.converged = false;
  for (;;) {
    double Z = 0, M1 = 0, E = 0;
    int worst = 0;
    for (int k = 0; k < g.panels; ++k) {
      Z += g.z[k];
      M1 += g.m1[k];
      E += g.err[k];
      if (g.err[k] > g.err[worst]) worst = k;
    }
    if (E <= t_rel_tol * Z) {
      g.converged = true;
      break;
    }
    if (g.panels + 1 > t_max_panels) break;
    // Bisect the panel with the largest error estimate.
    const double a = g.a[worst], b = g.b[worst], mid = 0.5 * (a + b);
    const int k = g.panels++;
    g.a[worst] = a;
    g.b[worst] = mid;
    t_panel(a, mid, ybar, v, p, g.ref, g.z[worst], g.m1[worst], g.m2[worst], g.err[worst]);
    g.a[k] = mid;
    g.b[k] = b;
    t_panel(mid, b, ybar, v, p, g.ref, g.z[k], g.m1[k], g.m2[k], g.err[k]);
  }
  g.Z = g.M1 = g.M2 = 0;
  for (int k = 0; k < g.panels; ++k) {
    g.Z += g.z[k];
    g.M1 += g.m1[k];
    g.M2 += g.m2[k];
  }
}

/// Reduction: sum_j log p(ybar_j | mu, s, nu), and how many groups stopped at the panel cap.
struct t_marginal_sums {
  double log_likelihood = 0;
  double unconverged = 0;

  SHRINK_HD static t_marginal_sums of(double ybar, double v, const t_prior_params& p)
  {
    t_group_integral g;
    t_integrate(ybar, v, p, g);
    t_marginal_sums s;
    s.log_likelihood = g.ref + std::log(g.Z) - 0.5 * std::log(6.283185307179586 * v);
    s.unconverged = g.converged ? 0.0 : 1.0;
    return s;
  }
  SHRINK_HD friend t_marginal_sums operator+(const t_marginal_sums& a, const t_marginal_sums& b)
  {
    return {a.log_likelihood + b.log_likelihood, a.unconverged + b.unconverged};
  }
};

/// theta with P(theta_j <= theta | ybar_j) = q: the panel where the cumulative mass crosses q,
/// then Newton steps (bisection-guarded) on the 7-point Gauss integral of the partial panel.
SHRINK_HD inline double t_quantile(const t_group_integral& g, double ybar, double v, const t_prior_params& p,
                                   double q)
{
  // Panels are not stored in order: walk them by increasing left end.
  double target = q * g.Z, cum = 0, prev_a = -HUGE_VAL;
  int k = -1;
  for (int step = 0; step < g.panels; ++step) {
    int next = -1;
    for (int i = 0; i < g.panels; ++i)
      if (g.a[i] > prev_a && (next < 0 || g.a[i] < g.a[next])) next = i;
    if (next < 0) break;
    k = next;
    prev_a = g.a[k];
    if (cum + g.z[k] >= target) break;
    cum += g.z[k];
  }
  if (k < 0) return ybar;
  double lo = g.a[k], hi = g.b[k];
  double x = 0.5 * (lo + hi);
  for (int it = 0; it < 100; ++it) {
    double F = cum;
    for (int j = 0; j < 7; ++j) {
      double w;
      const double t = gauss7_point(g.a[k], x, j, w);
      F += w * std::exp(t_log_integrand(t, ybar, v, p) - g.ref);
    }
    const double f = std::exp(t_log_integrand(x, ybar, v, p) - g.ref);
    if (F < target) lo = x; else hi = x;
    double nx = f > 0 ? x - (F - target) / f : 0.5 * (lo + hi);
    if (!(nx > lo && nx < hi)) nx = 0.5 * (lo + hi);
    const double step = std::fabs(nx - x);
    x = nx;
    if (step <= 1e-12 * std::sqrt(v) || hi - lo <= 1e-12 * std::sqrt(v)) break;
  }
  return x;
}

/// One group's posterior under the t prior (mu and s given).
SHRINK_HD inline posterior t_posterior_of(double ybar, double v, const t_prior_params& p)
{
  t_group_integral g;
  t_integrate(ybar, v, p, g);
  const double d = g.M1 / g.Z;
  const double var = std::fmax(0.0, g.M2 / g.Z - d * d);
  posterior r;
  r.se = std::sqrt(v);
  r.estimate = p.offset + (ybar + d);
  r.sd = std::sqrt(var);
  // Shrinkage as the fraction of the way from ybar_j to mu that the posterior mean moved.
  r.shrinkage = p.mu != ybar ? d / (p.mu - ybar) : 1.0;
  r.lower = p.offset + t_quantile(g, ybar, v, p, p.p_lower);
  r.upper = p.offset + t_quantile(g, ybar, v, p, p.p_upper);
  r.james_stein = 0;
  return r;
}

}  // namespace shrink::detail
