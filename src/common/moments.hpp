#pragma once
// Weighted running mean and sum of squared deviations (Welford), mergeable (Chan et al. 1979).
// This one accumulator serves every reduction in shrink: rows within a group (weight 1), group
// means weighted by n_j (the ANOVA between-groups sum of squares), group means weighted by
// 1 / (v_j + tau2) (mu_hat and Cochran's Q) and unweighted group means (S^2 of the ybar_j).

#include "macros.hpp"

namespace shrink::detail {

struct moments {
  double weight = 0;  ///< sum of weights (the count when every weight is 1)
  double mean = 0;    ///< weighted mean
  double m2 = 0;      ///< sum of weight * (x - mean)^2

  SHRINK_HD void add(double x, double w = 1.0)
  {
    weight += w;
    const double delta = x - mean;
    mean += delta * (w / weight);
    m2 += w * delta * (x - mean);
  }

  /// Chan's merge; `a + b` and the rows of a then b added one by one agree up to rounding.
  SHRINK_HD friend moments operator+(const moments& a, const moments& b)
  {
    if (b.weight == 0) return a;
    if (a.weight == 0) return b;
    moments r;
    r.weight = a.weight + b.weight;
    const double delta = b.mean - a.mean;
    r.mean = a.mean + delta * (b.weight / r.weight);
    r.m2 = a.m2 + b.m2 + delta * delta * (a.weight * (b.weight / r.weight));
    return r;
  }
};

}  // namespace shrink::detail
