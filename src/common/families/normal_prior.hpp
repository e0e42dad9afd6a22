#pragma once
// The normal prior on the link scale (issue 11): lme4's
//   glmer(cbind(y, n - y) ~ 1 + (1 | g), binomial)            logit_normal: y ~ Binomial(n, expit(mu + b))
//   glmer(y ~ 1 + offset(log(E)) + (1 | g), poisson)          log_normal:   y ~ Poisson(E exp(mu + b))
// with b = tau u, u ~ N(0, 1) (lme4's spherical random effect). Per group, h(u) = f(mu + tau u) - u^2/2,
// f the group's log-likelihood in eta (without constants); the marginal likelihood by adaptive
// Gauss-Hermite quadrature with K nodes at the conditional mode u^, scaled by the curvature
// c = -h''(u^) = 1 - tau^2 f''(eta^) >= 1:
//   l = h(u^) - log(c)/2 + log sum_k w_k exp(h(u^ + z_k / sqrt c) - h(u^) + z_k^2/2)   (K = 1: Laplace)
// and its gradient and Hessian in (mu, tau) by implicit differentiation of the mode (the Hessian
// needs the fourth derivative of f: closed forms below). Written once for both backends.

#include "common/families/beta_binomial.hpp"
#include "common/families/family.hpp"
#include "common/families/gamma_poisson.hpp"
#include "common/macros.hpp"
#include "common/quadrature.hpp"
#include "common/special.hpp"

#include <cmath>
#include <cstddef>

namespace shrink::detail {

/// f(eta), its first four derivatives, and theta = the inverse link at eta (computed on the way).
struct eta_terms {
  double f0 = 0, f1 = 0, f2 = 0, f3 = 0, f4 = 0;
  double theta = 0;
};

struct logit_normal {
  static constexpr const char* name = "binomial";
  static constexpr bool bounded_mean = true;
  using conjugate = beta_binomial;  ///< same groups, constants and no-spread limit
  using group = beta_binomial::group;
  /// f and the inverse link are analytic for |Im eta| < smooth (log(1 + e^eta) and expit: pi).
  static constexpr double smooth = 3.14159265358979323846;

  /// y eta - n log(1 + e^eta): f' = y - n p, f'' = -n p q, f''' = -n p q (q - p), f'''' = -n p q (1 - 6 p q).
  SHRINK_HD static eta_terms at(const group& g, double eta)
  {
    const double e = portable_exp(eta >= 0 ? -eta : eta);  // e^-|eta|: no overflow
    const double p = eta >= 0 ? 1 / (1 + e) : e / (1 + e), q = eta >= 0 ? e / (1 + e) : 1 / (1 + e);
    const double npq = g.size * p * q;
    // y eta - n log(1 + e^eta) as (y - n) eta - n log1p(e^-eta), and y - n p as (y - n) + n q, where
    // p is near 1: no cancellation of n eta against y eta, or of n p against y, where y is near n
    // (it would swamp the conditional mode's line search in rounding).
    const double f0 = (eta >= 0 ? (g.count - g.size) * eta : g.count * eta) - g.size * portable_log1p(e);
    const double f1 = eta >= 0 ? (g.count - g.size) + g.size * q : g.count - g.size * p;
    return {f0, f1, -npq, -npq * (q - p), -npq * (1 - 6 * p * q), p};
  }
  /// The link of the group's own rate and the likelihood's information there, (y + 1/2) / (n + 1)
  /// kept off 0 and 1: where a normal approximation of f peaks (the conditional mode's start).
  SHRINK_HD static void saturated(const group& g, double& eta, double& information)
  {
    const double p = (g.count + 0.5) / (g.size + 1);
    eta = portable_log((g.count + 0.5) / (g.size - g.count + 0.5));
    information = g.size * p * (1 - p);
  }
  SHRINK_HD static double inverse_link(double eta) { return beta_binomial::mean_of(eta); }
};

struct log_normal {
  static constexpr const char* name = "poisson";
  static constexpr bool bounded_mean = false;
  using conjugate = gamma_poisson;
  using group = gamma_poisson::group;
  /// e^(-E e^eta) stays bounded for |Im eta| < smooth = pi / 2 (logit_normal::smooth).
  static constexpr double smooth = 1.57079632679489661923;

  /// y eta - E e^eta: every derivative from the second on is -E e^eta.
  SHRINK_HD static eta_terms at(const group& g, double eta)
  {
    const double rate = portable_exp(eta), m = g.size * rate;
    return {g.count * eta - m, g.count - m, -m, -m, -m, rate};
  }
  /// log((y + 1/2) / E) and its information y + 1/2 (as logit_normal::saturated).
  SHRINK_HD static void saturated(const group& g, double& eta, double& information)
  {
    eta = portable_log((g.count + 0.5) / g.size);
    information = g.count + 0.5;
  }
  SHRINK_HD static double inverse_link(double eta) { return portable_exp(eta); }
};

/// A Gauss-Hermite rule for N(0, 1): nodes z and weights w (summing to 1), K of each.
struct hermite_rule {
  const double* z = nullptr;
  const double* w = nullptr;
  int points = 0;
};

/// The conditional mode u^ of h and f's terms there.
struct mode_terms {
  double u = 0;
  eta_terms at;
};

/// The conditional mode u^ of h (strictly concave: h'' <= -1) by Halley's method (the third
/// derivative is tau^3 f'''), each step halved while it lowers h; stopped after a step below 1e-7,
/// which leaves an error of about its cube: the derivatives below assume h'(u^) = 0 to the last
/// bits. The start is `start` where it is finite (mode_memory's), else the mode with f replaced by
/// its normal approximation about the group's own rate (Likelihood::saturated): about two fewer
/// steps than from u = 0 where the groups are large.
template <class Likelihood>
SHRINK_HD mode_terms conditional_mode_terms(const typename Likelihood::group& g, double mu, double tau,
                                            double start = not_a_number())
{
  double u = start;
  if (!(u - u == 0)) {
    double eta_y = 0, information = 0;
    Likelihood::saturated(g, eta_y, information);
    u = tau * information * (eta_y - mu) / (1 + tau * tau * information);
  }
  eta_terms here = Likelihood::at(g, mu + tau * u);
  for (int iteration = 0; iteration < 200; ++iteration) {
    const double h = here.f0 - 0.5 * u * u;
    const double h1 = tau * here.f1 - u, h2 = tau * tau * here.f2 - 1, h3 = tau * tau * tau * here.f3;
    const double newton = -h1 / h2, damp = 0.5 * newton * h3 / h2;
    double step = damp < 0.5 && damp > -0.5 ? newton / (1 - damp) : newton;
    eta_terms next{};
    for (int halving = 0; halving < 60; ++halving, step *= 0.5) {
      next = Likelihood::at(g, mu + tau * (u + step));
      const double h_next = next.f0 - 0.5 * (u + step) * (u + step);
      // Near the mode h changes by less than its rounding: accept what does not fall beyond that.
      if (h_next == h_next && h_next >= h - 1e-14 * (1 + (h < 0 ? -h : h))) break;
    }
    u += step;
    here = next;  // at mu + tau * u: the same sum as the step's
    if ((step < 0 ? -step : step) <= 1e-7 * (1 + (u < 0 ? -u : u))) break;
  }
  return {u, here};
}

template <class Likelihood>
SHRINK_HD double conditional_mode(const typename Likelihood::group& g, double mu, double tau)
{
  return conditional_mode_terms<Likelihood>(g, mu, tau).u;
}

/// An entry's conditional mode at the (mu, tau) of the last sum, with the mode's first and second
/// derivatives in (mu, tau) there: the next sum's start by Taylor's formula. Newton's and the
/// intervals' points move by about a standard error, so the start is close enough for Halley's
/// first step to end the search (2 likelihood evaluations a mode instead of ~5).
struct mode_memory {
  double u = 0, du_mu = 0, du_tau = 0, du_mu_mu = 0, du_mu_tau = 0, du_tau_tau = 0;

  /// The start at the remembered point moved by (d_mu, d_tau); NaN (none) for a move beyond 1/4 in
  /// either, where the fresh start is the surer one.
  SHRINK_HD double start(double d_mu, double d_tau) const
  {
    if (!(d_mu <= 0.25 && d_mu >= -0.25 && d_tau <= 0.25 && d_tau >= -0.25)) return not_a_number();
    return u + (du_mu * d_mu + du_tau * d_tau) +
           0.5 * (du_mu_mu * d_mu * d_mu + 2 * du_mu_tau * d_mu * d_tau + du_tau_tau * d_tau * d_tau);
  }
};

/// The conditional mode's part of the AGHQ terms, from eta's derivatives f (f0..f4) at the mode u0:
/// u^'s first and second derivatives in (mu, tau) (subscripts 1 = mu, 2 = tau, by implicit
/// differentiation of h_u(u^) = 0), and the nodes' scale s = c^(-1/2), c = -h_uu >= 1, with the
/// derivatives of log s and of s. Written once over the value type T: double (here and on the GPU)
/// or the CPU's SIMD lanes (src/cpu/glmm_lanes_impl.hpp), whose operators round as double's do, in
/// the same order; sqrt_of(T) is found by overload.
template <class T>
struct mode_scale {
  T du1, du2, duu11, duu12, duu22;
  T s, dls1, dls2, dls11, dls12, dls22, ds1, ds2, ds11, ds12, ds22;
};

SHRINK_HD inline double sqrt_of(double x) { return std::sqrt(x); }

template <class T, class Terms>
SHRINK_HD mode_scale<T> mode_scale_at(double tau, T u0, const Terms& f)
{
  const double t2 = tau * tau;
  // At the mode: c = -h_uu >= 1, then h's third and fourth derivatives with two or more u's.
  const T c = 1 - t2 * f.f2;
  const T h_u1 = tau * f.f2, h_u2 = tau * u0 * f.f2 + f.f1;
  const T h_uuu = t2 * tau * f.f3, h_uu1 = t2 * f.f3, h_uu2 = t2 * u0 * f.f3 + 2 * tau * f.f2;
  const T h_u11 = tau * f.f3, h_u12 = tau * u0 * f.f3 + f.f2, h_u22 = tau * u0 * u0 * f.f3 + 2 * u0 * f.f2;
  const T h_uuuu = t2 * t2 * f.f4, h_uuu1 = t2 * tau * f.f4, h_uuu2 = t2 * tau * u0 * f.f4 + 3 * t2 * f.f3;
  const T h_uu11 = t2 * f.f4, h_uu12 = t2 * u0 * f.f4 + 2 * tau * f.f3;
  const T h_uu22 = t2 * u0 * u0 * f.f4 + 4 * tau * u0 * f.f3 + 2 * f.f2;
  // u^'s first and second derivatives, and c's.
  const T du1 = h_u1 / c, du2 = h_u2 / c;
  const T duu11 = (h_uuu * du1 * du1 + 2 * h_uu1 * du1 + h_u11) / c;
  const T duu12 = (h_uuu * du1 * du2 + h_uu1 * du2 + h_uu2 * du1 + h_u12) / c;
  const T duu22 = (h_uuu * du2 * du2 + 2 * h_uu2 * du2 + h_u22) / c;
  const T dc1 = -(h_uuu * du1 + h_uu1), dc2 = -(h_uuu * du2 + h_uu2);
  const T dcc11 = -(h_uuuu * du1 * du1 + 2 * h_uuu1 * du1 + h_uu11 + h_uuu * duu11);
  const T dcc12 = -(h_uuuu * du1 * du2 + h_uuu1 * du2 + h_uuu2 * du1 + h_uu12 + h_uuu * duu12);
  const T dcc22 = -(h_uuuu * du2 * du2 + 2 * h_uuu2 * du2 + h_uu22 + h_uuu * duu22);
  // log s = -log(c)/2, s = c^(-1/2): the nodes' scale, and its derivatives.
  const T s = 1 / sqrt_of(c), c2 = c * c;
  const T dls1 = -0.5 * dc1 / c, dls2 = -0.5 * dc2 / c;
  const T dls11 = -0.5 * (dcc11 / c - dc1 * dc1 / c2), dls12 = -0.5 * (dcc12 / c - dc1 * dc2 / c2);
  const T dls22 = -0.5 * (dcc22 / c - dc2 * dc2 / c2);
  return {du1, du2, duu11, duu12, duu22, s, dls1, dls2, dls11, dls12, dls22, s * dls1, s * dls2,
          s * (dls11 + dls1 * dls1), s * (dls12 + dls1 * dls2), s * (dls22 + dls2 * dls2)};
}

/// The sums over the AGHQ nodes: A = sum_k a_k, G = sum_k a_k dh_k and S = sum_k a_k (d2h_k +
/// dh_k dh_k'), with a_k node k's weight times e^(h_k - h0 + z_k^2/2) and dh_k, d2h_k h's gradient
/// and Hessian in (mu, tau) at u_k = u^ + z_k s, by the chain rule through u_k(mu, tau). Written
/// once over T, as mode_scale_at is.
template <class T>
struct node_sums {
  T A = 0.0, G1 = 0.0, G2 = 0.0, S11 = 0.0, S12 = 0.0, S22 = 0.0;

  /// Adds node z at u_k = uk, its a_k = a and eta's derivatives n (f1, f2) there.
  template <class Terms>
  SHRINK_HD void add(double z, T uk, T a, const Terms& n, double tau, const mode_scale<T>& m)
  {
    const double t2 = tau * tau;
    // h's derivatives at the node, then the chain rule through u_k(mu, tau).
    const T hu = tau * n.f1 - uk, huu = t2 * n.f2 - 1, hu1 = tau * n.f2, hu2 = tau * uk * n.f2 + n.f1;
    const T duk1 = m.du1 + z * m.ds1, duk2 = m.du2 + z * m.ds2;
    const T dh1 = n.f1 + hu * duk1, dh2 = n.f1 * uk + hu * duk2;
    const T d2h11 = n.f2 + 2 * hu1 * duk1 + huu * duk1 * duk1 + hu * (m.duu11 + z * m.ds11);
    const T d2h12 = uk * n.f2 + hu1 * duk2 + hu2 * duk1 + huu * duk1 * duk2 + hu * (m.duu12 + z * m.ds12);
    const T d2h22 = uk * uk * n.f2 + 2 * hu2 * duk2 + huu * duk2 * duk2 + hu * (m.duu22 + z * m.ds22);
    A = A + a;
    G1 = G1 + a * dh1;
    G2 = G2 + a * dh2;
    S11 = S11 + a * (d2h11 + dh1 * dh1);
    S12 = S12 + a * (d2h12 + dh1 * dh2);
    S22 = S22 + a * (d2h22 + dh2 * dh2);
  }
};

/// A group's AGHQ log marginal likelihood (without constants) with its gradient and Hessian in
/// (mu, tau), as marginal_sums with (a, b) = (mu, tau). With `memory`, the mode search starts from
/// memory->start(d_mu, d_tau) (when `warm`), and the mode and its derivatives here replace it.
///
/// The derivatives of h(u; mu, tau) = f(mu + tau u) - u^2/2 by the chain rule (eta = mu + tau u:
/// d eta = (tau, 1, u) in (u, mu, tau), d2 eta / du dtau = 1), written out; subscripts 1 = mu,
/// 2 = tau. The mode's derivatives in (mu, tau) by implicit differentiation of h_u(u^) = 0.
template <class Likelihood>
SHRINK_HD marginal_sums aghq_terms(const typename Likelihood::group& g, double mu, double tau, hermite_rule rule,
                                   mode_memory* memory = nullptr, bool warm = false, double d_mu = 0, double d_tau = 0)
{
  const mode_terms mode =
    conditional_mode_terms<Likelihood>(g, mu, tau, memory != nullptr && warm ? memory->start(d_mu, d_tau) : not_a_number());
  const double u0 = mode.u;
  const eta_terms& f = mode.at;
  const mode_scale<double> m = mode_scale_at(tau, u0, f);
  if (memory != nullptr) *memory = {u0, m.du1, m.du2, m.duu11, m.duu12, m.duu22};
  const double s = m.s, dls1 = m.dls1, dls2 = m.dls2, dls11 = m.dls11, dls12 = m.dls12, dls22 = m.dls22;
  // Node k: u_k = u^ + z_k s, h_k = h(u_k(theta), theta); l = log s + log sum_k w_k e^(h_k + z_k^2/2).
  const double h0 = f.f0 - 0.5 * u0 * u0;
  node_sums<double> nodes;
  for (int k = 0; k < rule.points; ++k) {
    const double z = rule.z[k], uk = u0 + z * s;
    const eta_terms n = z == 0 ? f : Likelihood::at(g, mu + tau * uk);  // (K = 1: the mode itself)
    nodes.add(z, uk, rule.w[k] * portable_exp(n.f0 - 0.5 * uk * uk - h0 + 0.5 * z * z), n, tau, m);
  }
  const double A = nodes.A, S11 = nodes.S11, S12 = nodes.S12, S22 = nodes.S22;
  const double g1 = nodes.G1 / A, g2 = nodes.G2 / A;
  marginal_sums out;
  out.value = h0 + portable_log(s) + (A == 1 ? 0.0 : portable_log(A));  // K = 1: A = 1
  out.d_a = dls1 + g1;
  out.d_b = dls2 + g2;
  out.d_aa = dls11 + S11 / A - g1 * g1;
  out.d_ab = dls12 + S12 / A - g1 * g2;
  out.d_bb = dls22 + S22 / A - g2 * g2;
  return out;
}

/// The reduction term of entry i (weighted), as marginal_term is for the conjugate families.
/// `memory` (one per entry, or null) carries the modes from sum to sum: `warm` once it holds those
/// at (mu - d_mu, tau - d_tau). An entry's start depends only on the points summed before, so the
/// bits are the same for any thread count and on either backend.
template <class Likelihood>
struct aghq_term {
  const typename Likelihood::group* groups;
  const double* weights;  ///< null: every entry one group
  double mu, tau;
  hermite_rule rule;
  mode_memory* memory = nullptr;
  bool warm = false;
  double d_mu = 0, d_tau = 0;
  SHRINK_HD marginal_sums operator()(std::size_t i) const
  {
    return scaled(aghq_terms<Likelihood>(groups[i], mu, tau, rule, memory != nullptr ? memory + i : nullptr, warm, d_mu, d_tau),
                  weights != nullptr ? weights[i] : 1.0);
  }
};

/// A group's posterior under the normal prior: lme4's conditional mode of b = tau u and its
/// conditional sd, and theta = inverse_link(mu + b)'s posterior mean, sd and central interval.
struct glmm_posterior {
  count_posterior theta;   ///< mean, sd, lower, upper of theta; shrinkage = 1 / c (see below)
  double mode = 0;         ///< tau u^: ranef()
  double mode_sd = 0;      ///< |tau| / sqrt(c): ranef(condVar = TRUE)'s sd
};

namespace glmm_detail {

/// Panels of the posterior integrals in z (u = u^ + s z), on each side of the mode: width 1 to
/// |z| = 4, then each half as wide again as the last (the tails of a log-concave density whose
/// curvature may fall far from the mode); a side ends where the mass beyond is negligible. The
/// 7-point Gauss rule is exact to degree 13: on such panels ~1e-14 of a normal's mass. `wide`: to
/// |z| = 4 two panels of width 2 with the 10-point rule (exact to degree 19, 20 points instead of
/// 28), where the posterior sd of eta, tau s, is at most Likelihood::smooth / (2 pi): the density
/// and theta are then analytic for |Im z| < 2 pi, far enough for the wider panels to keep the
/// accuracy (measured against brute force: tests/cpu/glmm_fit_test.cpp); else (a posterior wide
/// on the link scale, whose theta bends within a panel) the narrow ones.
struct panel_layout {
  bool wide = false;
  SHRINK_HD double edge(int i) const
  {
    if (wide) {
      if (i <= 2) return 2.0 * i;
      i += 2;
    }
    if (i <= 4) return i;
    double edge = 4, width = 1;
    for (int k = 4; k < i; ++k) edge += (width *= 1.5);
    return edge;
  }
  SHRINK_HD int points(int i) const { return wide && i < 2 ? 10 : 7; }
  /// Point k of panel [a, b] of `points` with weight w, in order.
  SHRINK_HD static double point(double a, double b, int points, int k, double& w)
  {
    return points == 10 ? gauss10_point(a, b, k, w) : gauss7_point(a, b, k, w);
  }
};
constexpr int max_panels = 80;
constexpr double negligible = 1e-20;  // of the mode's density: beyond it, < 1e-20 of the mass

/// The density ratio r(z) = exp(h(u^ + s z) - h(u^)) <= 1 (log-concave), with theta at z, the
/// slope of log r, s h'(u), and its curvature, s^2 h''(u).
template <class Likelihood>
struct posterior_density {
  typename Likelihood::group g;
  double mu, tau, u0, s, h0;
  SHRINK_HD double operator()(double z, double* theta = nullptr, double* slope = nullptr, double* curvature = nullptr) const
  {
    const double u = u0 + s * z;
    const eta_terms t = Likelihood::at(g, mu + tau * u);
    if (theta != nullptr) *theta = t.theta;
    if (slope != nullptr) *slope = s * (tau * t.f1 - u);
    if (curvature != nullptr) *curvature = s * s * (tau * tau * t.f2 - 1);
    return portable_exp(t.f0 - 0.5 * u * u - h0);
  }
};

/// r, theta and the slope of log r at the points z[0, n) of one panel (n <= 10), point by point.
/// The CPU passes glmm_posterior_of one that computes them in SIMD lanes, the same bits
/// (src/cpu/glmm_lanes.hpp).
struct pointwise {
  template <class Density>
  SHRINK_HD void operator()(const Density& r, const double* z, int n, double* value, double* theta, double* slope) const
  {
    for (int k = 0; k < n; ++k) value[k] = r(z[k], theta + k, slope + k);
  }
};

/// The integral of r over [a, b] by the Gauss rule of `points` (7 or 10).
template <class Density, class Batch>
SHRINK_HD double panel_mass(const Density& r, double a, double b, int points, const Batch& batch)
{
  double z[10], w[10], value[10], theta[10], slope[10];
  for (int k = 0; k < points; ++k) z[k] = panel_layout::point(a, b, points, k, w[k]);
  batch(r, z, points, value, theta, slope);
  double sum = 0;
  for (int k = 0; k < points; ++k) sum += w[k] * value[k];
  return sum;
}

/// The z with mass `target` of r beyond it, counted from the far end of `side` (-1: from the left):
/// the panels' masses (`here`: this side's, outwards from the mode; `there`: the other side's) are
/// summed inwards from the far end to the panel that holds the point, which is then found by Halley's
/// method on the panel's partial integral (from `guess` where it lies in the panel; bisection where
/// a step leaves the panel).
template <class Density, class Batch>
SHRINK_HD double tail_point(const Density& r, const Batch& batch, panel_layout layout, int side, const double* here,
                            int panels_here, const double* there, int panels_there, double target, double guess)
{
  double cumulative = 0;
  for (int step = 0; step < panels_here + panels_there; ++step) {
    const bool near_side = step < panels_here;
    const int i = near_side ? panels_here - 1 - step : step - panels_here;
    const double mass = near_side ? here[i] : there[i];
    if (cumulative + mass < target && step + 1 < panels_here + panels_there) {
      cumulative += mass;
      continue;
    }
    // The panel in z, and phi(x) = +-(mass(outer end .. x) - needed), increasing in x, 0 inside it.
    const double outer = side * (near_side ? layout.edge(i + 1) : -layout.edge(i));
    const double inner = side * (near_side ? layout.edge(i) : -layout.edge(i + 1));
    const double a = outer < inner ? outer : inner, b = outer < inner ? inner : outer;
    const double needed = target - cumulative;
    double lo = a, hi = b;
    double x = guess > a && guess < b ? guess : outer + (inner - outer) * (mass > 0 ? needed / mass : 0.5);
    // r and its first two derivatives at the last point.
    double from_outer = 0, last_x = 0, last[3] = {0, 0, 0};
    for (int iteration = 0; iteration < 100; ++iteration) {
      double slope = 0, curvature = 0;
      const double density = r(x, nullptr, &slope, &curvature);
      const double here[3] = {density, slope * density, (slope * slope + curvature) * density};
      // The mass from the outer end to x: where the last Halley step was at most 0.03 long, the
      // last point's plus the two-point Hermite rule on r, r', r'' between them (exact to degree 5,
      // error L^7 max|r^(6)| / 100800: ~1e-15 here), else the Gauss rule over [outer end, x].
      const double L = x - last_x;
      if (iteration > 0 && L <= 0.03 && L >= -0.03) {
        const double between =
          L / 2 * (last[0] + here[0]) + L * L / 10 * (last[1] - here[1]) + L * L * L / 120 * (last[2] + here[2]);
        from_outer += side < 0 ? between : -between;
      } else {
        from_outer =
          side < 0 ? panel_mass(r, a, x, layout.points(i), batch) : panel_mass(r, x, b, layout.points(i), batch);
      }
      last_x = x;
      for (int k = 0; k < 3; ++k) last[k] = here[k];
      const double phi = side < 0 ? from_outer - needed : needed - from_outer;
      if (phi > 0) hi = x;
      else lo = x;
      const double newton = phi / density, damp = 0.5 * newton * slope;  // phi'' / phi' = slope
      double next = x - (damp < 1 && damp > -1 ? newton / (1 - damp) : newton);
      const bool halley = next > lo && next < hi;
      if (!halley) next = 0.5 * (lo + hi);
      const double change = next > x ? next - x : x - next;
      x = next;
      // Halley's error is about the cube of its step: ~1e-18 after a step below 1e-6.
      if ((halley && change <= 1e-6 * (1 + (x < 0 ? -x : x))) || hi - lo <= 1e-15 * (1 + (x < 0 ? -x : x))) break;
    }
    return x;
  }
  return 0;
}

}  // namespace glmm_detail

/// The posterior of theta = inverse_link(mu + tau u) given (mu, tau) for one group: its mean and
/// sd, and its `tail` and 1 - `tail` quantiles (those of u mapped through the increasing link), by
/// Gauss panels (panel_layout) over the exact posterior of u (not the K-point rule: at K = 1 that would
/// be a point mass). The shrinkage analogue is 1 / c = (conditional variance of b) / tau^2, the
/// normal model's B_j with the likelihood's curvature at the mode in place of 1 / sigma_j^2.
/// `batch` evaluates the density at a panel's points (glmm_detail::pointwise's interface).
template <class Likelihood, class Batch = glmm_detail::pointwise>
SHRINK_HD glmm_posterior glmm_posterior_of(const typename Likelihood::group& g, double mu, double tau, double tail,
                                           const Batch& batch = {})
{
  using namespace glmm_detail;
  if (tau < 0) tau = -tau;
  glmm_posterior p;
  const mode_terms mode = conditional_mode_terms<Likelihood>(g, mu, tau);
  const double u0 = mode.u;
  const eta_terms& at_mode = mode.at;
  const double c = 1 - tau * tau * at_mode.f2, s = 1 / std::sqrt(c);
  const double theta0 = at_mode.theta;
  p.mode = tau * u0;
  p.mode_sd = tau * s;
  p.theta.shrinkage = 1 / c;
  if (tau == 0) {  // the boundary: the prior is a point mass
    p.theta.mean = p.theta.lower = p.theta.upper = theta0;
    return p;
  }
  const posterior_density<Likelihood> r{g, mu, tau, u0, s, at_mode.f0 - 0.5 * u0 * u0};
  const panel_layout layout{tau * s <= Likelihood::smooth / (2 * 3.14159265358979323846)};
  // The moments of theta about its value at the mode (no cancellation), panel by panel outwards.
  double m0 = 0, m1 = 0, m2 = 0;
  double mass[2][max_panels];  // each panel's, kept for the quantiles
  int panels[2] = {max_panels, max_panels};
  double outermost = 1, outward_slope = 0;  // r and -d log r / d|z| at the last panel's outermost Gauss point
  for (int side = 0; side < 2; ++side)
    for (int i = 0; i < max_panels; ++i) {
      const double a = layout.edge(i), b = layout.edge(i + 1);
      const int points = layout.points(i);
      double z[10], w[10], value[10], theta[10], slope[10];
      for (int k = 0; k < points; ++k) z[k] = (side == 0 ? -1.0 : 1.0) * panel_layout::point(a, b, points, k, w[k]);
      batch(r, z, points, value, theta, slope);
      mass[side][i] = 0;
      for (int k = 0; k < points; ++k) {
        const double weight = w[k] * value[k], d = theta[k] - theta0;
        mass[side][i] += weight;
        m1 += weight * d;
        m2 += weight * d * d;
      }
      const int last = points - 1;  // the outermost
      outermost = w[last] * value[last] / w[last];
      outward_slope = side == 0 ? slope[last] : -slope[last];
      m0 += mass[side][i];
      // r falls outwards (log-concave): below `negligible` at the panel's outermost point, it is
      // below it at the panel's end and beyond; and log r lies below its tangent there, so the
      // mass beyond is at most r / outward_slope: the side ends once that is below 1e-16 of m0.
      if (outermost < negligible || outermost < 1e-16 * m0 * outward_slope) {
        panels[side] = i + 1;
        break;
      }
    }
  const double shift = m1 / m0, variance = m2 / m0 - shift * shift;
  p.theta.mean = theta0 + shift;
  p.theta.sd = variance > 0 ? std::sqrt(variance) : 0.0;
  const double z_normal = special_detail::rough_normal_quantile(tail);  // the normal posterior's, > 0
  // Both moved by the skewness at the mode (Cornish-Fisher: log r = -z^2/2 + k z^3/6 + ..., with
  // k = s^3 tau^3 f''' there, has its quantiles at z + k (z^2 + 2) / 6): a Halley step closer.
  const double skew = s * s * s * tau * tau * tau * at_mode.f3 / 6 * (z_normal * z_normal + 2);
  const double z_lower = tail_point(r, batch, layout, -1, mass[0], panels[0], mass[1], panels[1], tail * m0, -z_normal + skew);
  const double z_upper = tail_point(r, batch, layout, 1, mass[1], panels[1], mass[0], panels[0], tail * m0, z_normal + skew);
  p.theta.lower = Likelihood::inverse_link(mu + tau * (u0 + s * z_lower));
  p.theta.upper = Likelihood::inverse_link(mu + tau * (u0 + s * z_upper));
  return p;
}

}  // namespace shrink::detail
