#pragma once
// Full Bayes for the count families (`--method bayes`, issue 11): the hyperparameters' posterior
// p(u, v | y) on the working parameters u = link of the prior mean (logit or log), v = log of the
// concentration (or shape), by adaptive 2-D quadrature:
//   - the mode by Newton's method (from count_ml's estimate), the Hessian there;
//   - a lattice in the coordinates z that the Hessian makes standard ((u, v) = mode + L z, L L' the
//     inverse of minus the Hessian), spacing h (start 0.5): every point has the same weight (the
//     trapezoidal rule, which converges geometrically for a smooth density that vanishes at the edges);
//   - each side grown until the mass beyond it and its second moment in z, extrapolated from its
//     last two lines, are below count_bayes_tail_tolerance of the total (a heavy tail needs the
//     second: the sds); then h halved until the lattice and its every-other-point sublattice give
//     the mass and the first and second moments of z to count_bayes_refine_tolerance;
//   - means and sds of every quantity from the lattice; medians and intervals from 1-D marginal
//     densities (7-point Gauss panels one sd wide, each node a trapezoidal line integral across the
//     other coordinate), whose CDF inside a panel is the integral of the nodes' Legendre interpolant.
// Every density value is a sum over the entries of Family::marginal_value (one batch of grid points
// at a time: marginal_values, on the GPU when the data have a device).

#include "api/count_fit.hpp"

#include <shrink/counts.hpp>

#include <vector>

namespace shrink::detail {

/// Mass beyond the lattice's edges, relative to the total, that the growth stops below.
inline constexpr double count_bayes_tail_tolerance = 1e-10;
/// Agreement of the lattice and its sublattice (mass relative; moments of z) that refinement stops at.
inline constexpr double count_bayes_refine_tolerance = 1e-8;
/// The per-group mixtures' grid: the lattice's points this many sds apart, the lightest holding
/// count_bayes_pruned_mass of the posterior left out (a mixture's CDF is then within twice that;
/// the left-out points are mostly the far tail of large concentrations, whose incomplete beta
/// functions cost ~sqrt(concentration) terms each). Measured against R's full-grid mixtures: the
/// interval's ends of the rat tumours' theta_71 and the 10th pump's rate to 1.5e-8 relative (one sd
/// apart: 3e-7 and 4e-6).
inline constexpr double count_bayes_mixture_spacing = 0.5;
inline constexpr double count_bayes_pruned_mass = 1e-7;

struct count_bayes_fit {
  count_bayes_summary summary;  ///< in the data's units
  /// The per-group mixtures (internal units; weights summing to 1): over the whole lattice for the
  /// moments, over the pruned sublattice (heaviest first) for the quantiles.
  std::vector<double> a, b, weight;
  std::vector<double> quantile_a, quantile_b, quantile_weight;
};

/// The hyperparameters' posterior (count_bayes_summary, at `level`) and the mixture's grid. `unit`:
/// the Poisson exposure unit the groups' sizes were divided by (1 for the binomial). Throws
/// shrink::error where the posterior is improper (no group informative about the spread under the
/// default hyperprior) or the quadrature cannot reach its tolerances.
template <class Family>
count_bayes_fit count_bayes(const count_groups<Family>& data, const count_totals& totals, const count_hyperprior& prior,
                            double level, double unit);

}  // namespace shrink::detail
