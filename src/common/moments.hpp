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

/// Count, mean and the sums of 2nd, 3rd and 4th powers of deviations from the mean, updated one
/// value at a time and merged (Pebay 2008, the higher-order Welford/Chan formulas): what the Monte
/// Carlo error of a standard deviation needs (its delta-method variance uses the 4th moment).
struct moments4 {
  double n = 0, mean = 0, m2 = 0, m3 = 0, m4 = 0;

  SHRINK_HD void add(double x)
  {
    const double n1 = n;
    n += 1;
    const double delta = x - mean;
    const double dn = delta / n, dn2 = dn * dn;
    const double term = delta * dn * n1;
    mean += dn;
    m4 += term * dn2 * (n * n - 3 * n + 3) + 6 * dn2 * m2 - 4 * dn * m3;
    m3 += term * dn * (n - 2) - 3 * dn * m2;
    m2 += term;
  }

  SHRINK_HD friend moments4 operator+(const moments4& a, const moments4& b)
  {
    if (b.n == 0) return a;
    if (a.n == 0) return b;
    moments4 r;
    r.n = a.n + b.n;
    const double delta = b.mean - a.mean, d2 = delta * delta;
    const double na = a.n, nb = b.n, n = r.n;
    r.mean = a.mean + delta * (nb / n);
    r.m2 = a.m2 + b.m2 + d2 * (na * nb / n);
    r.m3 = a.m3 + b.m3 + d2 * delta * (na * nb * (na - nb) / (n * n)) + 3 * delta * (na * b.m2 - nb * a.m2) / n;
    r.m4 = a.m4 + b.m4 + d2 * d2 * (na * nb * (na * na - na * nb + nb * nb) / (n * n * n)) +
           6 * d2 * (na * na * b.m2 + nb * nb * a.m2) / (n * n) + 4 * delta * (na * b.m3 - nb * a.m3) / n;
    return r;
  }
};

}  // namespace shrink::detail
