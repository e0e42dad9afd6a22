// Full Bayes over tau (see bayes.hpp for the quadrature and its accuracy).

#include "bayes.hpp"

#include "../common/macros.hpp"
#include "../common/quadrature.hpp"
#include "numerics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>
#include <string>

namespace shrink::detail {

double log_tau_prior(double tau, const tau_prior& p)
{
  switch (p.type) {
    case tau_prior::kind::uniform: return 0;
    case tau_prior::kind::half_cauchy: {
      const double r = tau / p.scale;
      return -std::log1p(r * r);
    }
    case tau_prior::kind::inverse_gamma: {
      // p(tau2) tau2^-(a+1) exp(-b / tau2), times d tau2 / d tau = 2 tau: -(a + 1/2) log tau2 - b / tau2,
      // written about its mode m = b / (a + 1/2) as -(a + 1/2) (r - 1 - log r), r = m / tau2 (up to
      // a constant), without the cancellation of two terms of size a log tau2: a large shape would
      // leave only rounding noise for the quadrature to integrate. Near the mode r - 1 - log r =
      // t - log1p(t) with t = (m - tau2) / tau2; elsewhere from log r (no overflow of r).
      if (tau <= 0) return -std::numeric_limits<double>::infinity();
      const double k = p.shape + 0.5;
      const double mode = p.scale / k, tau2 = tau * tau;
      if (std::fabs(mode - tau2) < 0.5 * tau2) return -k * t_minus_log1p((mode - tau2) / tau2);
      const double log_r = std::log(mode) - 2 * std::log(tau);
      return -k * (std::exp(log_r) - 1 - log_r);
    }
  }
  return 0;
}

namespace {

/// The posterior of tau on u in [0, 1), tau = c u / (1 - u).
struct tau_density {
  const std::function<double(double)>& log_restricted;
  const tau_prior& prior;
  double c;

  double tau(double u) const { return c * u / (1 - u); }

  struct point {
    double log_density;  ///< log p(tau | y) + log |d tau / d u|, unnormalised
    double tau;
  };

  /// log p(tau | y) without the Jacobian.
  double log_posterior(double t) const { return log_tau_prior(t, prior) + log_restricted(t); }

  point at(double u) const
  {
    const double t = tau(u);
    return {log_posterior(t) + std::log(c) - 2 * std::log1p(-u), t};
  }
};

struct panel {
  double a, b;
  double mass, gauss, error;  // Kronrod and Gauss sums of exp(log density - ref), |Kronrod - Gauss|
  tau_density::point x[15];
  double kronrod_w[15];
};

panel make_panel(const tau_density& d, double a, double b, double ref)
{
  panel p{};
  p.a = a;
  p.b = b;
  double k = 0, g = 0;
  for (int i = 0; i < 15; ++i) {
    double wk, wg;
    const double u = gk15_point(a, b, i, wk, wg);
    p.x[i] = d.at(u);
    p.kronrod_w[i] = wk;
    const double f = std::exp(p.x[i].log_density - ref);
    k += wk * f;
    g += wg * f;
  }
  p.mass = k;
  p.gauss = g;
  p.error = std::fabs(k - g);
  return p;
}

constexpr double bayes_rel_tol = 1e-10;
constexpr double log_range = 50;  // integrate where the density exceeds e^-50 of its mode
constexpr int max_panels = 400;

}  // namespace

mixture_params bayes_fit::mixture(double level, double offset) const
{
  mixture_params p;
  p.tau2 = tau2.data();
  p.weight = weight.data();
  p.mu = mu.data();
  p.v_mu = v_mu.data();
  p.nodes = static_cast<int>(weight.size());
  p.p_lower = (1 - level) / 2;
  p.q_upper = p.p_lower;
  p.offset = offset;
  return p;
}

tau_quadrature integrate_tau(const std::function<double(double)>& log_restricted, const tau_prior& prior, double c,
                             double residual_df, double level)
{
  SHRINK_EXPECTS(prior.type != tau_prior::kind::uniform || residual_df >= 2,
                 "bayes with the uniform prior on tau needs at least 2 more groups than coefficients (3 without covariates; the "
                 "posterior is improper otherwise); use --tau-prior half-cauchy:SCALE");
  const tau_density d{log_restricted, prior, c};

  // Mode of the density in u, then the range where it is within e^-50 of the mode.
  const double u_top = 1 - 1e-12;
  const double u_mode = minimize([&](double x) { return -d.at(x).log_density; }, 0.0, u_top, 1e-12);
  const double at_zero = d.at(0.0).log_density;
  const double ref = std::max(d.at(u_mode).log_density, at_zero);
  // An extreme --tau-prior can put the mass where tau cannot be resolved: below 1e-12 times the
  // typical standard error c (the density still rising there, e.g. inverse-gamma with a shape far
  // above its scale, or both near 0: p(tau) ~ 1/tau down to tau ~ sqrt(scale)), or beyond 1e12 c.
  SHRINK_EXPECTS(std::isfinite(ref) && !(d.log_posterior(1e-15 * d.c) > d.log_posterior(1e-12 * d.c) + 1),
                 "bayes: the posterior of tau keeps rising below 1e-12 times the typical standard error, where the "
                 "quadrature cannot follow it (an extreme --tau-prior: an inverse-gamma shape far above its scale, "
                 "or shape and scale both near 0?)");
  const double tau_top = d.tau(u_top);
  SHRINK_EXPECTS(!(d.log_posterior(tau_top) > d.log_posterior(0.5 * tau_top)),
                 "bayes: the posterior of tau still rises at 1e12 times the typical standard error (an extreme "
                 "--tau-prior, e.g. an inverse-gamma scale far above the data's variance?)");
  const double floor = ref - log_range;
  auto below = [&](double x) { return d.at(x).log_density - floor; };
  double a = 0, b = u_top;
  if (!(at_zero > floor)) a = find_root(below, 0.0, u_mode, at_zero - floor, ref - floor, 1e-15, 200).x;
  const double at_top = below(u_top);
  if (at_top < 0) b = find_root(below, u_mode, u_top, ref - floor, at_top, 1e-15, 200).x;

  // Globally adaptive Gauss-Kronrod: bisect the panel with the largest error estimate.
  std::vector<panel> panels;
  const int initial = 8;
  for (int i = 0; i < initial; ++i)
    panels.push_back(make_panel(d, a + (b - a) * i / initial, a + (b - a) * (i + 1) / initial, ref));
  for (;;) {
    double total = 0, error = 0;
    std::size_t worst = 0;
    for (std::size_t i = 0; i < panels.size(); ++i) {
      total += panels[i].mass;
      error += panels[i].error;
      if (panels[i].error > panels[worst].error) worst = i;
    }
    if (error <= bayes_rel_tol * total) break;
    SHRINK_EXPECTS(static_cast<int>(panels.size()) < max_panels,
                   "bayes: the integral over tau did not reach its accuracy in " + std::to_string(max_panels) +
                     " panels (a posterior of tau too narrow or too irregular: an extreme --tau-prior?)");
    const double lo = panels[worst].a, hi = panels[worst].b, mid = 0.5 * (lo + hi);
    panels[worst] = make_panel(d, lo, mid, ref);
    panels.push_back(make_panel(d, mid, hi, ref));
  }
  std::sort(panels.begin(), panels.end(), [](const panel& x, const panel& y) { return x.a < y.a; });
  double total = 0;
  for (const panel& p : panels) total += p.mass;

  tau_quadrature r;
  r.posterior.prior = prior;
  r.log_normaliser = ref + std::log(total);
  double tau_mean = 0, tau2_mean = 0;
  for (const panel& p : panels)
    for (int i = 0; i < 15; ++i) {
      const double w = p.kronrod_w[i] * std::exp(p.x[i].log_density - ref) / total;
      tau_mean += w * p.x[i].tau;
      tau2_mean += w * p.x[i].tau * p.x[i].tau;
      r.max_weight = std::max(r.max_weight, w);
      r.weight.push_back(w);
      r.tau.push_back(p.x[i].tau);
    }
  // p(tau | y) falls as tau^-tail (the restricted likelihood as tau^-(k - p), times the prior's
  // tail): moment m exists only when tail > m + 1 (uniform prior and few groups); the truncated
  // quadrature would otherwise report a finite number for an infinite one.
  r.tail = prior.type == tau_prior::kind::uniform       ? residual_df
           : prior.type == tau_prior::kind::half_cauchy ? residual_df + 2
                                                        : 2 * prior.shape + 1 + residual_df;
  const double inf = std::numeric_limits<double>::infinity();
  r.posterior.mean = r.tail > 2 ? tau_mean : inf;
  r.posterior.tau2_mean = r.tail > 3 ? tau2_mean : inf;
  r.posterior.sd = r.tail > 3 ? std::sqrt(std::max(0.0, tau2_mean - tau_mean * tau_mean)) : inf;

  // Quantiles of tau: the panel where the cumulative mass crosses p, then the root in u of the
  // 7-point Gauss integral over the partial panel (panel_quantile keeps the bracket consistent
  // with that integral and checks convergence).
  auto quantile = [&](double prob) {
    auto panel_at = [&](std::size_t k) {
      return quantile_panel{panels[k].a, panels[k].b, panels[k].mass, panels[k].gauss};
    };
    auto partial = [&](std::size_t k, double x) {
      double s = 0;
      for (int i = 0; i < 7; ++i) {
        double w;
        const double t = gauss7_point(panels[k].a, x, i, w);
        s += w * std::exp(d.at(t).log_density - ref);
      }
      return s;
    };
    return d.tau(panel_quantile(panels.size(), panel_at, partial, prob * total, 1e-13));
  };
  const double alpha = 1 - level;
  r.posterior.median = quantile(0.5);
  r.posterior.lower = quantile(alpha / 2);
  r.posterior.upper = quantile(1 - alpha / 2);
  // Mode of p(tau | y) itself (no Jacobian), on the integrated range.
  const double tau_hi = d.tau(b);
  const double tau_mode = minimize([&](double t) { return -d.log_posterior(t); }, 0.0, tau_hi, 1e-10 * tau_hi);
  r.posterior.mode = d.log_posterior(0.0) >= d.log_posterior(tau_mode) ? 0.0 : tau_mode;
  return r;
}

bayes_fit fit_bayes(group_engine& engine, const tau_prior& prior, double level)
{
  const std::size_t J = engine.groups();
  const unweighted_sums u = engine.unweighted();
  // mu_hat(tau) and V_mu(tau) come with each evaluation: kept for the nodes, not reduced again.
  std::map<double, std::pair<double, double>> location;
  const std::function<double(double)> log_restricted = [&](double t) {
    const weighted_sums s = engine.weighted(t * t);
    location[t] = {s.wy.mean, 1 / s.sum_w()};
    return 0.5 * s.sum_log_w - 0.5 * std::log(s.sum_w()) - 0.5 * s.q();
  };
  const tau_quadrature q =
    integrate_tau(log_restricted, prior, std::sqrt(u.sum_v / static_cast<double>(J)), static_cast<double>(J) - 1, level);

  bayes_fit r;
  r.tau = q.posterior;
  double mu_mean = 0;
  for (std::size_t g = 0; g < q.weight.size(); ++g) {
    const std::pair<double, double>& at = location.at(q.tau[g]);
    mu_mean += q.weight[g] * at.first;
    if (!q.visible(g)) continue;
    r.weight.push_back(q.weight[g]);
    r.tau2.push_back(q.tau[g] * q.tau[g]);
    r.mu.push_back(at.first);
    r.v_mu.push_back(at.second);
  }
  r.tau.nodes = static_cast<int>(r.weight.size());
  const double tail = q.tail, alpha = 1 - level;
  const double inf = std::numeric_limits<double>::infinity();

  // mu | y: the mixture of N(mu_hat(tau), V_mu(tau)) over the nodes.
  double mu_var = 0;
  for (std::size_t g = 0; g < r.weight.size(); ++g)
    mu_var += r.weight[g] * (r.v_mu[g] + (r.mu[g] - mu_mean) * (r.mu[g] - mu_mean));
  r.mu_mean = mu_mean;
  r.mu_sd = tail > 3 ? std::sqrt(mu_var) : inf;  // V_mu(tau) grows as tau^2 / J
  auto component = [&](int g, double& m, double& s) {
    m = r.mu[g];
    s = std::sqrt(r.v_mu[g]);
  };
  const int G = static_cast<int>(r.weight.size());
  const double spread = std::sqrt(mu_var);
  r.mu_lower = mixture_quantile(r.weight.data(), G, component, alpha / 2, false, mu_mean - 2 * spread, spread);
  r.mu_upper = mixture_quantile(r.weight.data(), G, component, alpha / 2, true, mu_mean + 2 * spread, spread);
  // A new group's theta | y: the mixture of N(mu_hat(tau), V_mu(tau) + tau^2) (BDA3 5.5's
  // posterior predictive), finite for every proper posterior even where mu's sd is not.
  double pred_var = 0;
  for (std::size_t g = 0; g < r.weight.size(); ++g)
    pred_var += r.weight[g] * (r.v_mu[g] + r.tau2[g] + (r.mu[g] - mu_mean) * (r.mu[g] - mu_mean));
  const double pred_spread = std::sqrt(pred_var);
  auto predictive = [&](int g, double& m, double& s) {
    m = r.mu[g];
    s = std::sqrt(r.v_mu[g] + r.tau2[g]);
  };
  r.pred_lower =
    mixture_quantile(r.weight.data(), G, predictive, alpha / 2, false, mu_mean - 2 * pred_spread, pred_spread);
  r.pred_upper =
    mixture_quantile(r.weight.data(), G, predictive, alpha / 2, true, mu_mean + 2 * pred_spread, pred_spread);
  return r;
}

}  // namespace shrink::detail
