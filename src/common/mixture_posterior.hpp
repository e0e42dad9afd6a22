#pragma once
// Full-Bayes per-group posteriors: theta_j | y is a finite mixture, over the quadrature nodes of
// tau, of the normal posteriors given tau (mu integrated analytically under its flat prior):
//   theta_j | tau, y ~ N(ybar_j + B_j (mu_hat(tau) - ybar_j),  v_j (1 - B_j) + B_j^2 V_mu(tau)),
//   B_j = v_j / (v_j + tau^2),  V_mu(tau) = 1 / sum_j w_j(tau)   (BDA3 section 5.4).
// Used by both backends (the node arrays live where the backend computes).

#include "macros.hpp"
#include "posterior.hpp"

#include <cmath>

namespace shrink::detail {

/// The quadrature over tau: node g has posterior mass weight[g] (summing to 1), tau2[g],
/// mu_hat(tau_g) and V_mu(tau_g) (relative to offset).
struct mixture_params {
  const double* tau2 = nullptr;
  const double* weight = nullptr;
  const double* mu = nullptr;
  const double* v_mu = nullptr;
  int nodes = 0;
  /// The interval's tails: P(theta_j < lower) = p_lower, P(theta_j > upper) = q_upper (both
  /// (1 - level) / 2; the upper one as a tail, so that levels near 1 keep their digits).
  double p_lower = 0.025, q_upper = 0.025;
  double offset = 0;
};

SHRINK_HD inline double std_normal_cdf(double x) { return 0.5 * std::erfc(-x * 0.7071067811865476); }
SHRINK_HD inline double std_normal_pdf(double x) { return 0.3989422804014327 * std::exp(-0.5 * x * x); }

/// The x with P(X <= x) = q (upper = false) or P(X > x) = q (upper = true: the upper tail summed
/// as such, accurate where 1 - q would round to 1) for X ~ sum_g weight_g N(m_g, s_g^2), where
/// component(g, m, s) fills m and s: Newton steps on the mixture CDF inside a bracket that
/// bisection keeps valid; stops when the step is below 1e-13 of the spread (or after 200 steps).
template <class Component>
SHRINK_HD double mixture_quantile(const double* weight, int nodes, Component component, double q, bool upper,
                                  double x0, double spread)
{
  double lo = -HUGE_VAL, hi = HUGE_VAL;
  double x = x0;
  if (upper) q = -q;  // solve -P(X > x) = -q: increasing in x, like the CDF
  for (int it = 0; it < 200; ++it) {
    double F = 0, f = 0;
    for (int g = 0; g < nodes; ++g) {
      double m, s;
      component(g, m, s);
      const double t = (x - m) / s;
      F += weight[g] * (upper ? -std_normal_cdf(-t) : std_normal_cdf(t));
      f += weight[g] * std_normal_pdf(t) / s;
    }
    if (F < q) lo = x; else hi = x;
    double next = f > 0 ? x - (F - q) / f : x;
    if (!(next > lo && next < hi)) {
      if (std::isfinite(lo) && std::isfinite(hi)) next = 0.5 * (lo + hi);
      else next = F < q ? x + spread : x - spread;
    }
    const double step = std::fabs(next - x);
    x = next;
    if (step <= 1e-13 * spread) break;
  }
  return x;
}

SHRINK_HD inline posterior mixture_posterior_of(double ybar, double v, const mixture_params& p)
{
  auto component = [&](int g, double& m, double& s) {
    const double b = shrinkage_factor(v, p.tau2[g]);
    m = ybar + b * (p.mu[g] - ybar);
    s = std::sqrt(posterior_variance(v, p.tau2[g]) + b * b * p.v_mu[g]);
  };
  double mean = 0, b_mean = 0;
  for (int g = 0; g < p.nodes; ++g) {
    double m, s;
    component(g, m, s);
    mean += p.weight[g] * m;
    b_mean += p.weight[g] * shrinkage_factor(v, p.tau2[g]);
  }
  double var = 0;
  for (int g = 0; g < p.nodes; ++g) {
    double m, s;
    component(g, m, s);
    var += p.weight[g] * (s * s + (m - mean) * (m - mean));
  }
  posterior r;
  r.se = std::sqrt(v);
  r.shrinkage = b_mean;
  r.sd = std::sqrt(var);
  r.estimate = p.offset + mean;
  const double z = 1.959963984540054;
  r.lower = p.offset + mixture_quantile(p.weight, p.nodes, component, p.p_lower, false, mean - z * r.sd, r.sd);
  r.upper = p.offset + mixture_quantile(p.weight, p.nodes, component, p.q_upper, true, mean + z * r.sd, r.sd);
  r.james_stein = 0;
  return r;
}

}  // namespace shrink::detail
