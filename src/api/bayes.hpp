#pragma once
// Full Bayes over (mu, tau) for the two-level normal model: flat prior on mu, a chosen prior on
// tau; mu is integrated analytically and tau numerically (BDA3 section 5.4):
//   p(tau | y) ∝ p(tau) V_mu(tau)^(1/2) prod_j (v_j + tau^2)^(-1/2) exp(-Q(tau^2) / 2),
// which is p(tau) times the restricted likelihood; every evaluation is one O(J) reduction.
//
// Quadrature: tau = c u / (1 - u) maps [0, inf) to u in [0, 1) (c = the root mean v_j); the
// mode of the density in u is found by Brent's method, the range where it is above e^-50 of
// the mode is integrated by adaptive Gauss-Kronrod (7/15) to a relative error estimate of 1e-10
// in the normalising constant; posterior moments use the same nodes, and quantiles of tau solve
// CDF(u) = p to 1e-12 in u with 7-point Gauss on the partial panel.

#include "../common/mixture_posterior.hpp"
#include "group_engine.hpp"

#include <shrink/fit.hpp>

#include <cstddef>
#include <functional>
#include <vector>

namespace shrink::detail {

/// The posterior of tau by the quadrature above, for any model whose location is integrated out.
struct tau_quadrature {
  fit_result::tau_posterior posterior;  ///< `nodes` left 0: the caller counts the nodes it keeps
  std::vector<double> tau, weight;      ///< every quadrature node and its posterior mass (summing to 1)
  double max_weight = 0;
  double tail = 0;  ///< p(tau | y) falls as tau^-tail
  /// log of the integral of p(tau) exp(log_restricted(tau)) over tau: the posterior density is
  /// exp(log_tau_prior(tau) + log_restricted(tau) - log_normaliser).
  double log_normaliser = 0;
  /// Nodes with no visible mass are left out of the per-group mixtures.
  bool visible(std::size_t g) const { return weight[g] > 1e-18 * max_weight; }
};

/// log p(tau) up to a constant (the same constant in log_normaliser).
double log_tau_prior(double tau, const tau_prior& p);

/// Integrates p(tau | y) ∝ p(tau) exp(log_restricted(tau)), where log_restricted is the log of the
/// likelihood with the location (mu, or beta under its flat prior) integrated out, up to a constant;
/// `c` is the typical standard error (the scale of the map to u) and residual_df = k - p (the
/// restricted likelihood falls as tau^-(k - p)). Throws shrink::error for an improper posterior.
tau_quadrature integrate_tau(const std::function<double(double)>& log_restricted, const tau_prior& prior, double c,
                             double residual_df, double level);

struct bayes_fit {
  fit_result::tau_posterior tau;
  /// mu | y, relative to the offset; mu_sd is infinite where the posterior variance of mu is
  /// (uniform prior on tau with J <= 4: p(tau | y) falls only as tau^-(J-1)).
  double mu_mean = 0, mu_sd = 0, mu_lower = 0, mu_upper = 0;
  /// Central interval of a new group's theta | y (the posterior predictive), relative to the offset.
  double pred_lower = 0, pred_upper = 0;
  // The nodes over tau: posterior mass, tau2, mu_hat(tau), V_mu(tau).
  std::vector<double> weight, tau2, mu, v_mu;

  /// The node arrays as the per-group mixture map takes them (valid while *this lives).
  mixture_params mixture(double level, double offset) const;
};

/// Integrates over tau; throws shrink::error for an improper posterior (uniform prior, J < 3).
bayes_fit fit_bayes(group_engine& engine, const tau_prior& prior, double level);

/// --prior t:NU: fits mu and the scale of a Student-t prior for the theta_j by marginal maximum
/// likelihood (each group's marginal density by adaptive 1-D quadrature) and replaces the
/// per-group estimate, sd, lower, upper and shrinkage columns of `r` with the t-prior posteriors.
void fit_t_prior(group_engine& engine, double nu, double level, double offset, fit_result& r);

}  // namespace shrink::detail
