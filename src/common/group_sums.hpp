#pragma once
// The reductions over groups that every tau2 method and every summary statistic is built from.
// Each is a per-group term plus an associative-enough merge; backends reduce in a fixed order
// (fixed blocks on the CPU, CUB on the GPU), so results are bitwise reproducible.

#include "moments.hpp"

#include <cmath>
#include <cstdint>

namespace shrink::detail {

/// One group's summary: n_j observations with mean ybar_j and sum of squared deviations m2_j.
/// Locations are relative to the data's offset (see raw_data_view::offset).
struct group_summary {
  std::int64_t n = 0;
  double mean = 0;
  double m2 = 0;
};

/// Totals over groups in raw mode: the one-way ANOVA and the pooled within-group variance.
struct group_totals {
  moments between;         ///< ybar_j weighted by n_j: mean = grand mean, m2 = SS between
  double ss_within = 0;    ///< sum_j m2_j
  double df_within = 0;    ///< sum_j (n_j - 1)
  std::int64_t observations = 0;

  SHRINK_HD static group_totals of(const group_summary& g)
  {
    group_totals t;
    if (g.n > 0) t.between.add(g.mean, static_cast<double>(g.n));
    t.ss_within = g.m2;
    t.df_within = g.n > 0 ? static_cast<double>(g.n - 1) : 0.0;
    t.observations = g.n;
    return t;
  }
  SHRINK_HD friend group_totals operator+(const group_totals& a, const group_totals& b)
  {
    group_totals r;
    r.between = a.between + b.between;
    r.ss_within = a.ss_within + b.ss_within;
    r.df_within = a.df_within + b.df_within;
    r.observations = a.observations + b.observations;
    return r;
  }
};

/// Unweighted sums over groups: moments of the ybar_j and the sum of sampling variances v_j.
/// Give the moment (HE) estimator of tau2 and James-Stein's spread.
struct unweighted_sums {
  moments ybar;
  double sum_v = 0;

  SHRINK_HD static unweighted_sums of(double ybar, double v)
  {
    unweighted_sums s;
    s.ybar.add(ybar);
    s.sum_v = v;
    return s;
  }
  SHRINK_HD friend unweighted_sums operator+(const unweighted_sums& a, const unweighted_sums& b)
  {
    return {a.ybar + b.ybar, a.sum_v + b.sum_v};
  }
};

/// Sums with weights w_j = 1 / (v_j + tau2) for a given tau2: mu_hat(tau2) = wy.mean,
/// the generalised Q(tau2) = wy.m2 (Cochran's Q at tau2 = 0), and the further sums that the
/// DerSimonian-Laird and I^2 formulas need.
struct weighted_sums {
  moments wy;          ///< ybar_j weighted by w_j
  double sum_w2 = 0;   ///< sum_j w_j^2

  SHRINK_HD static weighted_sums of(double ybar, double v, double tau2)
  {
    weighted_sums s;
    const double w = 1.0 / (v + tau2);
    s.wy.add(ybar, w);
    s.sum_w2 = w * w;
    return s;
  }
  SHRINK_HD friend weighted_sums operator+(const weighted_sums& a, const weighted_sums& b)
  {
    return {a.wy + b.wy, a.sum_w2 + b.sum_w2};
  }
};

/// Range of the sampling variances v_j (NaN-safe: a NaN makes `finite` false).
struct variance_range {
  double min = HUGE_VAL;
  double max = -HUGE_VAL;
  bool finite = true;

  SHRINK_HD static variance_range of(double v) { return {v, v, std::isfinite(v)}; }
  SHRINK_HD friend variance_range operator+(const variance_range& a, const variance_range& b)
  {
    return {std::fmin(a.min, b.min), std::fmax(a.max, b.max), a.finite && b.finite};
  }
};

}  // namespace shrink::detail
