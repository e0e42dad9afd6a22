#pragma once
// Per-group partial-pooling formulas of the two-level normal model, used by both backends.

#include "macros.hpp"

#include <cmath>

namespace shrink::detail {

/// What the per-group stage needs besides the group's own (ybar_j, v_j).
struct posterior_params {
  double mu = 0;         ///< mu_hat, relative to offset
  double tau2 = 0;
  double z = 0;          ///< normal quantile of the interval
  double offset = 0;     ///< added back to every location output
  bool james_stein = false;
  double js_center = 0;  ///< mean of the ybar_j, relative to offset
  double js_c = 0;       ///< positive-part James-Stein factor
};

/// One group's outputs (locations include the offset).
struct posterior {
  double se, shrinkage, estimate, sd, lower, upper, james_stein;
};

/// B_j = v_j / (v_j + tau2): the weight on the pooled mean.
SHRINK_HD inline double shrinkage_factor(double v, double tau2) { return v / (v + tau2); }

/// V_j = v_j (1 - B_j), written as v tau2 / (v + tau2) so that B_j near 1 loses no digits.
SHRINK_HD inline double posterior_variance(double v, double tau2) { return v * tau2 / (v + tau2); }

/// Moment (HE) estimate of tau2 from the J group means: max(0, spread / (J - 1) - mean_v), where
/// spread = sum_j (ybar_j - mean ybar)^2 and mean_v = mean_j v_j.
SHRINK_HD inline double he_tau2(double spread, double mean_v, double J)
{
  const double t = spread / (J - 1.0) - mean_v;
  return t > 0 ? t : 0.0;
}

/// Positive-part James-Stein factor max(0, 1 - (J - 3) mean_v / spread) towards the mean of the
/// ybar_j; 0 when spread is 0. Meaningful for J >= 4.
SHRINK_HD inline double james_stein_factor(double spread, double mean_v, double J)
{
  if (!(spread > 0)) return 0.0;
  const double c = 1.0 - (J - 3.0) * mean_v / spread;
  return c > 0 ? c : 0.0;
}

SHRINK_HD inline posterior posterior_of(double ybar, double v, const posterior_params& p)
{
  posterior r;
  r.se = std::sqrt(v);
  r.shrinkage = shrinkage_factor(v, p.tau2);
  const double theta = ybar + r.shrinkage * (p.mu - ybar);
  r.sd = std::sqrt(posterior_variance(v, p.tau2));
  r.estimate = p.offset + theta;
  r.lower = p.offset + (theta - p.z * r.sd);
  r.upper = p.offset + (theta + p.z * r.sd);
  // ybar + (1 - c)(center - ybar): as estimate, a move away from the group's own mean, so a group
  // that is barely shrunk keeps its digits however far the center lies.
  r.james_stein = p.james_stein ? p.offset + (ybar + (1.0 - p.js_c) * (p.js_center - ybar)) : 0.0;
  return r;
}

}  // namespace shrink::detail
