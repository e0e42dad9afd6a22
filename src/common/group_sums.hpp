#pragma once
// The reductions over groups that every tau2 method and every summary statistic is built from.
// Each is a per-group term plus a merge; both backends reduce in the one fixed tree of
// fixed_reduce.hpp, so results are bitwise reproducible and the same on the CPU and the GPU.
//
// Each term and each merge builds its result in one aggregate initialisation: the reductions copy
// these structs between the tree's buffers, and with a struct filled field by field after a
// default initialisation GCC's code for weighted_sums' CPU pass ran 2-3x slower (measured; likely
// its wide copies reading back narrow stores). The arithmetic, and so every bit, is the same.

#include "moments.hpp"
#include "portable_log.hpp"

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

/// A moments accumulator holding the one value x with weight w > 0: bitwise what
/// moments{}.add(x, w) gives (0 + x is x, -0 becoming +0 as there; w / w is 1), without its division.
SHRINK_HD inline moments single_moment(double x, double w) { return {w, 0.0 + x, 0.0}; }

/// Totals over groups in raw mode: the one-way ANOVA and the pooled within-group variance.
struct group_totals {
  moments between;         ///< ybar_j weighted by n_j: mean = grand mean, m2 = SS between
  /// ybar_j weighted by n_j^2: sum_j n_j^2 (its weight) and, with `between`, the random-intercept
  /// fit's Y'PPY at tau2 = 0, sum_j n_j^2 (ybar_j - grand mean)^2, so that no pass over the groups
  /// is needed there.
  moments between_n2;
  double ss_within = 0;    ///< sum_j m2_j
  double df_within = 0;    ///< sum_j (n_j - 1)
  std::int64_t observations = 0;

  SHRINK_HD static group_totals of(const group_summary& g)
  {
    if (g.n <= 0) return {moments{}, moments{}, g.m2, 0.0, g.n};
    const double n = static_cast<double>(g.n);
    return {single_moment(g.mean, n), single_moment(g.mean, n * n), g.m2, static_cast<double>(g.n - 1), g.n};
  }
  SHRINK_HD friend group_totals operator+(const group_totals& a, const group_totals& b)
  {
    return {a.between + b.between, a.between_n2 + b.between_n2, a.ss_within + b.ss_within,
            a.df_within + b.df_within, a.observations + b.observations};
  }
};

/// Unweighted sums over groups: moments of the ybar_j and the sum of sampling variances v_j.
/// Give the moment (HE) estimator of tau2 and James-Stein's spread.
struct unweighted_sums {
  moments ybar;
  double sum_v = 0;
  double sum_v2 = 0;  ///< sum_j v_j^2: the standard error of the HE estimator

  SHRINK_HD static unweighted_sums of(double ybar, double v) { return {single_moment(ybar, 1.0), v, v * v}; }
  SHRINK_HD friend unweighted_sums operator+(const unweighted_sums& a, const unweighted_sums& b)
  {
    return {a.ybar + b.ybar, a.sum_v + b.sum_v, a.sum_v2 + b.sum_v2};
  }
};

/// The sums that Newton's method on tau2 needs, taken around a fixed `center` c close to
/// mu_hat(tau2) (the previous iterate's): with w_j = 1 / (v_j + tau2) and d_j = ybar_j - c,
/// plain sums of w^a d^b for a = 1..3, b = 0..2. Plain sums merge with nine additions, no
/// division (weighted_sums' moments need one per merge), and lose no digits as long as the center
/// is near mu_hat: every expression below subtracts only terms of order delta = mu_hat - c.
/// With e_j = ybar_j - mu_hat and P = W - w w' / sum w (see weighted_sums):
///   Q = Y'PY = sum w e^2,  Y'PPY = sum w^2 e^2,  Y'PPPY = sum w^3 e^2 - (sum w^2 e)^2 / sum w,
/// and dQ/dtau2 = -Y'PPY, d(Y'PPY)/dtau2 = -2 Y'PPPY, d(tr P)/dtau2 = -tr PP, d(sum w)/dtau2 = -sum w^2.
struct newton_sums {
  double sw = 0, swd = 0, swdd = 0;     ///< sum w, sum w d, sum w d^2
  double sw2 = 0, sw2d = 0, sw2dd = 0;  ///< the same with w^2
  double sw3 = 0, sw3d = 0, sw3dd = 0;  ///< and with w^3

  SHRINK_HD static newton_sums of(double ybar, double v, double tau2, double center)
  {
    const double w = 1.0 / (v + tau2);
    const double d = ybar - center;
    const double wd = w * d;
    const double w2 = w * w;
    const double w3 = w2 * w;
    return {w, wd, wd * d, w2, w2 * d, w2 * d * d, w3, w3 * d, w3 * d * d};
  }
  SHRINK_HD friend newton_sums operator+(const newton_sums& a, const newton_sums& b)
  {
    return {a.sw + b.sw,     a.swd + b.swd,     a.swdd + b.swdd,  a.sw2 + b.sw2,   a.sw2d + b.sw2d,
            a.sw2dd + b.sw2dd, a.sw3 + b.sw3, a.sw3d + b.sw3d, a.sw3dd + b.sw3dd};
  }

  /// mu_hat(tau2) - center.
  SHRINK_HD double delta() const { return swd / sw; }
  /// Q(tau2) = sum w e^2 = sum w d^2 - delta sum w d.
  SHRINK_HD double q() const { return swdd - delta() * swd; }
  /// Y'PPY = sum w^2 e^2 = sum w^2 d^2 - delta (2 sum w^2 d - delta sum w^2).
  SHRINK_HD double ypp() const
  {
    const double m = delta();
    return sw2dd - m * (2 * sw2d - m * sw2);
  }
  /// Y'PPPY = sum w^3 e^2 - (sum w^2 e)^2 / sum w.
  SHRINK_HD double yppp() const
  {
    const double m = delta();
    const double w2e = sw2d - m * sw2;
    return sw3dd - m * (2 * sw3d - m * sw3) - w2e * w2e / sw;
  }
  SHRINK_HD double trace_p() const { return sw - sw2 / sw; }
  SHRINK_HD double trace_pp() const
  {
    const double r = sw2 / sw;
    return sw2 - 2 * sw3 / sw + r * r;
  }
};

/// Sums with weights w_j = 1 / (v_j + tau2) for a given tau2: mu_hat(tau2) = wy.mean,
/// the generalised Q(tau2) = wy.m2 (Cochran's Q at tau2 = 0), and the further sums that the
/// DerSimonian-Laird and I^2 formulas, the Fisher scoring steps of ML/REML/EB, the (restricted)
/// log-likelihood and metafor's standard errors of tau2 need. With P = W - w w' / sum(w) the
/// intercept-only projection of metafor's notes, everything is a sum over groups:
///   Y'P Y = wy.m2,   Y'P P Y = w2y.m2 + w2y.weight (w2y.mean - wy.mean)^2,
///   tr P = sum w - sum w^2 / sum w,   tr PP = sum w^2 - 2 sum w^3 / sum w + (sum w^2 / sum w)^2.
struct weighted_sums {
  moments wy;          ///< ybar_j weighted by w_j
  moments w2y;         ///< ybar_j weighted by w_j^2 (for Y'PPY without cancellation)
  double sum_w2 = 0;   ///< sum_j w_j^2
  double sum_w3 = 0;   ///< sum_j w_j^3
  double sum_log_w = 0;  ///< sum_j log w_j = -sum_j log(v_j + tau2) (portable_log: same bits on the GPU)
  double sum_w2v = 0;    ///< sum_j w_j^2 v_j
  double sum_w3v = 0;    ///< sum_j w_j^3 v_j
  double sum_w2v2 = 0;   ///< sum_j w_j^2 v_j^2
  double sum_w3v2 = 0;   ///< sum_j w_j^3 v_j^2

  /// with_log = false leaves sum_log_w at 0: the logarithm is most of a term's cost, and only the
  /// likelihoods need it.
  SHRINK_HD static weighted_sums of(double ybar, double v, double tau2, bool with_log)
  {
    const double w = 1.0 / (v + tau2);
    const double w2 = w * w;
    // std::log and CUDA's log may differ in the last bit: portable_log has the same bits on both.
    const double log_w = with_log ? -portable_log(v + tau2) : 0.0;
    return {single_moment(ybar, w), single_moment(ybar, w2), w2, w2 * w, log_w, w2 * v, w2 * w * v, w2 * v * v,
            w2 * w * v * v};
  }
  SHRINK_HD friend weighted_sums operator+(const weighted_sums& a, const weighted_sums& b)
  {
    return {a.wy + b.wy,
            a.w2y + b.w2y,
            a.sum_w2 + b.sum_w2,
            a.sum_w3 + b.sum_w3,
            a.sum_log_w + b.sum_log_w,
            a.sum_w2v + b.sum_w2v,
            a.sum_w3v + b.sum_w3v,
            a.sum_w2v2 + b.sum_w2v2,
            a.sum_w3v2 + b.sum_w3v2};
  }

  /// Q(tau2) = Y'PY = sum_j w_j (ybar_j - mu_hat(tau2))^2.
  SHRINK_HD double q() const { return wy.m2; }
  /// Y'PPY = sum_j w_j^2 (ybar_j - mu_hat(tau2))^2.
  SHRINK_HD double ypp() const
  {
    const double d = w2y.mean - wy.mean;
    return w2y.m2 + w2y.weight * d * d;
  }
  SHRINK_HD double sum_w() const { return wy.weight; }
  SHRINK_HD double trace_p() const { return wy.weight - sum_w2 / wy.weight; }
  SHRINK_HD double trace_pp() const
  {
    const double r = sum_w2 / wy.weight;
    return sum_w2 - 2 * sum_w3 / wy.weight + r * r;
  }
};

/// Range of the sampling variances v_j (NaN-safe: a NaN makes `finite` false).
struct variance_range {
  double min = HUGE_VAL;
  double max = -HUGE_VAL;
  bool finite = true;

  SHRINK_HD static variance_range of(double v) { return {v, v, std::isfinite(v)}; }
  /// Comparisons rather than std::fmin / fmax (a library call on the CPU): they differ only where
  /// a NaN is involved, and then `finite` is false and the fit refuses the input.
  SHRINK_HD friend variance_range operator+(const variance_range& a, const variance_range& b)
  {
    return {b.min < a.min ? b.min : a.min, b.max > a.max ? b.max : a.max, a.finite && b.finite};
  }
};

}  // namespace shrink::detail
