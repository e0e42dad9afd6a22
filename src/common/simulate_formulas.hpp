#pragma once
// One replicate of a simulation study, written once for both backends (SHRINK_HD).
//
// A replicate of scenario s draws theta_j and the data of J groups, then evaluates five
// estimators. Everything is computed relative to the true mu (d_j = ybar_j - mu,
// t_j = theta_j - mu), which keeps digits for any mu and makes the shifted sums below stable:
// the d_j have mean near 0 and spread tau^2 + sigma_j^2, so sum d^2 - (sum d)^2 / J never cancels
// badly. Three passes over the groups, each regenerating the draws it needs from Philox:
//   pass 1  sum d_j, sum d_j^2, sum n_j d_j, sum (n_j - 1) s2_j  -> sigma2_hat, tau2_hat, mu_hat(0), JS
//   pass 2  (unequal n_j and tau2_hat > 0 only) sum w_j, sum w_j d_j -> mu_hat(tau2_hat)
//   pass 3  per group and estimator: error, squared error, interval coverage
// Within a replicate every sum is over groups in a fixed order chosen by the backend (fixed blocks
// on the CPU, a fixed tree per team on the GPU); replicates' metrics are then merged in fixed blocks
// of `replicate_block` (Welford inside a block), and the blocks by the fixed-shape tree of
// fixed_reduce.hpp (Chan at each node), so that blocks run apart merge into the same bits.
//
// Sufficient mode draws ybar_j ~ N(theta_j, sigma^2 / n_j) per group. The estimators read the
// within-group variances only through the pooled sum sum_j (n_j - 1) s2_j (sigma2_hat, as `shrink
// fit` pools them), and a sum of independent sigma^2 chi2_{n_j - 1} is sigma^2 chi2 with the summed
// degrees of freedom: so that sum is drawn once per block of `ss_block` groups, exactly the same
// law as drawing every s2_j and adding them. Raw mode draws every observation and sums them.
//
// Intervals built on sigma2_hat (no_pool, partial_pool) use the t quantile on its df_within pooled
// degrees of freedom (scenario_params::q, from the host), the oracle's the normal z. With redraw
// (--redraw-obs) each replicate draws its own n_j (the design stream keyed by the replicate); pass 1
// also sums n_j and 1 / n_j, and hats_of takes the design constants, the pooled chi-square (one per
// replicate: its df are known only after pass 1) and the t quantile from the replicate itself.
//
// Work per group-replicate, sufficient mode (the speed goal's case):
//   random numbers: one Philox4x32-10 call (4 words: radius and angle of one Box-Muller pair
//     giving theta_j's and ybar_j's normals) per pass that reads the group, plus one gamma draw
//     (1-2 calls) per 4096 groups. GPU: passes 1 and 3 regenerate, so 2 calls = 8 words (3 calls
//     when n_j vary and tau2_hat > 0); CPU: pass 1 draws, passes 2-3 read (t_j, d_j) kept in memory.
//   a Philox call: 10 rounds x (2 32x32->64-bit multiplies, 4 xors, 2 key adds) = ~80 integer ops.
//   double operations (add, mul, div, sqrt counted one each; no FMA: both backends build without
//     contraction): uniform 2, log_unit ~30 (one division), -2x and sqrt 2, cos_sin_turn ~40,
//     the two products and theta/ybar 5 => ~80 per Box-Muller pair; pass 1 sums 6; pass 3 ~40
//     (5 estimators x estimate, error, square, two adds; 3 interval compares).
//   integer operations besides Philox: ~25 per pair (bit fields of the uniforms, log and angle).
//   GPU per group-replicate (equal n): 2 x (80 + 25) = ~210 integer ops and 2 x 80 + 6 + 40 =
//     ~205 double ops. Raw mode adds n_j / 2 Philox calls and pairs per pass that reads data.

#include "macros.hpp"
#include "moments.hpp"
#include "philox.hpp"
#include "posterior.hpp"
#include "student_t.hpp"

#include <cmath>
#include <cstdint>

namespace shrink::detail::sim {

/// Estimators in output order.
inline constexpr int estimator_count = 5;
enum estimator_index : int { no_pool = 0, complete_pool = 1, partial_pool = 2, oracle = 3, james_stein = 4 };

/// Per-replicate metrics: for estimator e, 3e = mean squared error, 3e+1 = bias, 3e+2 = coverage
/// (complete_pool and james_stein have none: 0); then tau_hat and whether tau2_hat == 0.
inline constexpr int metric_count = 17;
inline constexpr int metric_tau_hat = 15;
inline constexpr int metric_tau_zero = 16;
SHRINK_HD constexpr int metric_mse(int e) { return 3 * e; }
SHRINK_HD constexpr int metric_bias(int e) { return 3 * e + 1; }
SHRINK_HD constexpr int metric_coverage(int e) { return 3 * e + 2; }

/// Replicates are merged in blocks of this many (absolute replicate indices), whatever the batch.
inline constexpr std::uint64_t replicate_block = 64;

/// One scenario, flattened for kernels: the grid point and the constants of its design.
struct scenario_params {
  /// Scenario word of the Philox counter: a hash of (groups, obs range) alone, so a row's draws do
  /// not depend on the rest of the grid and scenarios differing only in mu, sigma or tau share their
  /// standard normals and design (common random numbers).
  std::uint32_t index = 0;
  std::uint64_t seed = 0;
  std::int64_t groups = 0;
  std::int64_t n = 0;          ///< n_j when equal_n
  bool equal_n = true;         ///< else n_j from the design array, or drawn per replicate (redraw)
  /// --redraw-obs: n_j uniform on [n_min, n_max] drawn afresh for every replicate (design stream
  /// keyed by the replicate), so the design constants below come from each replicate's own sums.
  bool redraw = false;
  std::int64_t n_min = 0, n_max = 0;
  /// With redraw: the replicate's df_within lies in [df_min, df_min + span]; when q_by_df the host
  /// tabulated the t quantiles of that range (short ranges: small J), else each replicate solves its own.
  bool q_by_df = false;
  std::int64_t df_min = 0;
  bool raw = false;            ///< draw every observation
  bool t_prior = false;
  double t_df = 0;
  double sigma = 1, tau = 1;   ///< true within-group sd and between-group sd (t: scale)
  /// Var(theta_j) = tau^2 (normal) or tau^2 nu / (nu - 2) (t, nu > 2): the linear oracle's prior
  /// variance. For t with nu <= 2 the variance is infinite and the oracle is not reported.
  double theta_var = 1;
  double z = 1.959963984540054;  ///< normal quantile of the intervals: -Phi^-1(tail)
  double tail = 0.025;           ///< (1 - level) / 2
  /// Quantile of the intervals built on sigma2_hat: the t's on df_within when sigma is estimated
  /// (pooled over df_within degrees of freedom), else z. With redraw, per replicate (hats_of).
  double q = 1.959963984540054;
  // Constants of the design (n_j), the same for every replicate:
  bool estimate_sigma = true;  ///< some n_j >= 2: sigma^2 is pooled from the s2_j, else known
  double mean_inv_n = 1;       ///< mean_j 1 / n_j
  double sum_n = 0;            ///< sum_j n_j
  double df_within = 0;        ///< sum_j (n_j - 1)
};

/// Design of one group: n_j and what follows from it.
struct group_design {
  std::int64_t n;
  double inv_n;
  double sigma_j;  ///< true sd of ybar_j: sigma / sqrt(n_j)
};

SHRINK_HD inline group_design design_of(const scenario_params& s, std::int64_t n)
{
  const double inv_n = 1.0 / static_cast<double>(n);
  return {n, inv_n, s.sigma * std::sqrt(inv_n)};
}

/// n_j of an unequal design: uniform on [n_min, n_max]. replicate 0 names the design fixed across
/// replicates (drawn once per scenario); with redraw, replicate r's own.
SHRINK_HD inline std::int64_t design_n(std::uint64_t seed, std::uint32_t scenario, std::uint64_t replicate,
                                       std::uint64_t group, std::int64_t n_min, std::int64_t n_max)
{
  const philox_words x = make_stream(seed, scenario, replicate, group, purpose::design)(0);
  const double u = uniform52(x.w[0], x.w[1]);
  const std::int64_t span = n_max - n_min + 1;
  const std::int64_t k = static_cast<std::int64_t>(u * static_cast<double>(span));
  return n_min + (k < span ? k : span - 1);
}

/// n_j of group j in replicate r: s.n for equal sizes, the scenario's design array `n` (indexed
/// by group), or (redraw) drawn for the replicate.
SHRINK_HD inline std::int64_t n_of(const scenario_params& s, const std::int32_t* n, std::uint64_t replicate,
                                   std::uint64_t group)
{
  if (s.equal_n) return s.n;
  if (s.redraw) return design_n(s.seed, s.index, replicate, group, s.n_min, s.n_max);
  return n[group];
}

/// What a pass reads of one group: the truth, the group mean and (raw mode, pass 1) the
/// within-group sum of squares.
struct group_draw {
  double t;   ///< theta_j - mu
  double d;   ///< ybar_j - mu
  double ss;  ///< raw mode: (n_j - 1) s2_j when asked for; else 0 (sufficient mode: block_ss)
};

/// Groups per block of the pooled within-group sum of squares in sufficient mode.
inline constexpr std::int64_t ss_block = 4096;

/// Degrees of freedom sum_j (n_j - 1) of block b; block_df: the design's per-block sums when n_j vary.
SHRINK_HD inline double block_df_of(const scenario_params& s, std::int64_t b, const double* block_df)
{
  if (!s.equal_n) return block_df[b];
  const std::int64_t begin = b * ss_block;
  const std::int64_t end = begin + ss_block < s.groups ? begin + ss_block : s.groups;
  return static_cast<double>(end - begin) * static_cast<double>(s.n - 1);
}

/// Sufficient mode: sum over block b's groups of (n_j - 1) s2_j ~ sigma^2 chi2(df), drawn from the
/// stream of the block's first group. 0 when there is nothing to pool (every n_j = 1, or raw mode)
/// and with redraw (hats_of draws the replicate's total at once: its df are known only after pass 1).
SHRINK_HD inline double block_ss(const scenario_params& s, std::uint64_t replicate, std::int64_t b,
                                 const double* block_df)
{
  if (s.raw || !s.estimate_sigma || s.redraw) return 0.0;
  const double df = block_df_of(s, b, block_df);
  if (df <= 0) return 0.0;
  return s.sigma * s.sigma *
         chi_square(df, make_stream(s.seed, s.index, replicate, static_cast<std::uint64_t>(b * ss_block), purpose::s2_chisq));
}

/// theta_j - mu from the normal z: normal prior tau z, t prior tau z / sqrt(chi2_nu / nu).
SHRINK_HD inline double prior_draw(const scenario_params& s, double z, std::uint64_t replicate, std::uint64_t group)
{
  if (!s.t_prior) return s.tau * z;
  const double w = chi_square(s.t_df, make_stream(s.seed, s.index, replicate, group, purpose::t_mixing));
  return s.tau * z * std::sqrt(s.t_df / w);
}

/// Draws group j of replicate r. `with_ss`: raw mode's within-group sum of squares too (pass 1).
SHRINK_HD inline group_draw draw_group(const scenario_params& s, const group_design& g, std::uint64_t replicate,
                                       std::uint64_t group, bool with_ss)
{
  const philox_words x = make_stream(s.seed, s.index, replicate, group, purpose::theta_ybar)(0);
  const normal_pair zz = normals_of(x);
  group_draw out;
  out.t = prior_draw(s, zz.z0, replicate, group);
  out.ss = 0;
  if (!s.raw) {
    out.d = out.t + g.sigma_j * zz.z1;  // ybar_j ~ N(theta_j, sigma^2 / n_j); s2_j pooled by block_ss
    return out;
  }
  // Raw: every observation y_ij = theta_j + sigma z_ij; shifted sums of the z_ij are stable
  // (their mean is near 0 and their spread 1).
  const philox_stream obs = make_stream(s.seed, s.index, replicate, group, purpose::observations);
  double sz = 0, szz = 0;
  const std::int64_t pairs = g.n / 2;
  for (std::int64_t i = 0; i < pairs; ++i) {
    const normal_pair p = normals_of(obs(static_cast<std::uint32_t>(i)));
    sz += p.z0 + p.z1;
    szz += p.z0 * p.z0 + p.z1 * p.z1;
  }
  if (g.n % 2 != 0) {
    const double z = normals_of(obs(static_cast<std::uint32_t>(pairs))).z0;
    sz += z;
    szz += z * z;
  }
  const double mean_z = sz * g.inv_n;
  out.d = out.t + s.sigma * mean_z;
  if (with_ss) out.ss = s.sigma * s.sigma * (szz - sz * mean_z);
  return out;
}

/// Observation i of group j (raw mode's stream), relative to mu; for figures.
SHRINK_HD inline double observation(const scenario_params& s, std::uint64_t replicate, std::uint64_t group,
                                    double t, std::int64_t i)
{
  const philox_stream obs = make_stream(s.seed, s.index, replicate, group, purpose::observations);
  const normal_pair p = normals_of(obs(static_cast<std::uint32_t>(i / 2)));
  return t + s.sigma * (i % 2 == 0 ? p.z0 : p.z1);
}

/// Pass 1 sums over groups; n and inv_n (sum n_j, sum 1 / n_j) serve redraw's per-replicate design.
struct pass1_sums {
  double d = 0, dd = 0, nd = 0, ss = 0, n = 0, inv_n = 0;

  SHRINK_HD void add(const group_draw& x, const group_design& g)
  {
    const double nj = static_cast<double>(g.n);
    d += x.d;
    dd += x.d * x.d;
    nd += nj * x.d;
    ss += x.ss;
    n += nj;
    inv_n += g.inv_n;
  }
  SHRINK_HD friend pass1_sums operator+(const pass1_sums& a, const pass1_sums& b)
  {
    return {a.d + b.d, a.dd + b.dd, a.nd + b.nd, a.ss + b.ss, a.n + b.n, a.inv_n + b.inv_n};
  }
};

/// Pass 2 sums: precision weights w_j = 1 / (sigma2_hat / n_j + tau2_hat).
struct pass2_sums {
  double w = 0, wd = 0;

  SHRINK_HD void add(double d, double inv_n, double sigma2, double tau2)
  {
    const double wj = 1.0 / (sigma2 * inv_n + tau2);
    w += wj;
    wd += wj * d;
  }
  SHRINK_HD friend pass2_sums operator+(const pass2_sums& a, const pass2_sums& b) { return {a.w + b.w, a.wd + b.wd}; }
};

/// A replicate's estimated hyperparameters (locations relative to mu).
struct replicate_hats {
  double sigma2;     ///< pooled within-group variance (the true one when every n_j = 1)
  double tau2;       ///< moment (HE) estimate: max(0, S^2_ybar - mean_j sigma2 / n_j)
  double mu;         ///< mu_hat(tau2): precision-weighted mean of the ybar_j
  double mu_pooled;  ///< mu_hat(0) = sum n_j ybar_j / sum n_j: complete pooling
  double js_center;  ///< mean of the ybar_j
  double js_c;       ///< positive-part James-Stein factor (0 when J < 4)
  double q;          ///< quantile of the intervals on sigma2_hat (t on df_within, or z when sigma is known)
  bool needs_pass2;  ///< mu_hat(tau2) needs the weighted pass
};

/// table: with s.redraw and s.q_by_df, the t quantiles for df = s.df_min + i (the job's block_df
/// array, which a redrawn design does not need for block sums); else unused.
SHRINK_HD inline replicate_hats hats_of(const scenario_params& s, const pass1_sums& p, std::uint64_t replicate,
                                        const double* table)
{
  const double J = static_cast<double>(s.groups);
  replicate_hats h;
  double mean_inv_n = s.mean_inv_n, sum_n = s.sum_n, df = s.df_within, ss = p.ss;
  h.q = s.q;
  if (s.redraw) {
    // This replicate's design: its constants, its pooled chi-square (sufficient mode: one draw of
    // sigma^2 chi2(df), the law of the sum of the groups' (n_j - 1) s2_j) and its t quantile.
    mean_inv_n = p.inv_n / J;
    sum_n = p.n;
    df = p.n - J;
    if (!s.raw && df > 0)
      ss = s.sigma * s.sigma * chi_square(df, make_stream(s.seed, s.index, replicate, 0, purpose::s2_chisq));
    if (!(df > 0)) h.q = s.z;
    else if (s.q_by_df) h.q = table[static_cast<std::int64_t>(df) - s.df_min];
    else h.q = student_t_upper_quantile(s.tail, df, s.z);
  }
  h.sigma2 = df > 0 ? ss / df : s.sigma * s.sigma;
  const double mean_v = h.sigma2 * mean_inv_n;
  double spread = p.dd - p.d * (p.d / J);  // sum_j (d_j - dbar)^2
  spread = spread > 0 ? spread : 0.0;
  h.tau2 = he_tau2(spread, mean_v, J);
  h.js_center = p.d / J;
  h.mu_pooled = p.nd / sum_n;
  // Equal weights (equal n) give the plain mean; tau2 = 0 gives weights n_j, i.e. mu_hat(0).
  h.needs_pass2 = !s.equal_n && h.tau2 > 0;
  h.mu = s.equal_n ? h.js_center : h.mu_pooled;
  h.js_c = s.groups >= 4 ? james_stein_factor(spread, mean_v, J) : 0.0;
  return h;
}

SHRINK_HD inline void finish_hats(replicate_hats& h, const pass2_sums& p) { h.mu = p.wd / p.w; }

/// Per-group constants of pass 3 (per replicate when n is equal).
struct group_constants {
  double b_hat;     ///< estimated shrinkage sigma2_hat/n_j / (sigma2_hat/n_j + tau2_hat)
  double half_pp;   ///< half-width of the partial-pooling interval
  double half_np;   ///< half-width of the no-pooling interval q sqrt(sigma2_hat / n_j)
  double b_oracle;  ///< true shrinkage sigma_j^2 / (sigma_j^2 + Var theta_j)
  double half_or;   ///< half-width of the oracle's interval
};

SHRINK_HD inline group_constants constants_of(const scenario_params& s, const group_design& g, const replicate_hats& h)
{
  group_constants c;
  const double v = h.sigma2 * g.inv_n;
  c.b_hat = shrinkage_factor(v, h.tau2);
  // Intervals on sigma2_hat take its t quantile (h.q); the oracle's, on the true sigma, z.
  c.half_pp = h.q * std::sqrt(posterior_variance(v, h.tau2));
  c.half_np = h.q * std::sqrt(v);
  // The oracle is the best linear predictor of theta_j from ybar_j given the true mu, sigma and
  // Var(theta_j): the posterior mean under the normal prior, the linear oracle under the t prior.
  const double v_true = g.sigma_j * g.sigma_j;
  c.b_oracle = shrinkage_factor(v_true, s.theta_var);
  c.half_or = s.z * std::sqrt(posterior_variance(v_true, s.theta_var));
  return c;
}

/// Pass 3 sums over groups: per estimator sum of squared errors and of errors; coverage counts.
struct pass3_sums {
  double se2[estimator_count] = {0, 0, 0, 0, 0};
  double se[estimator_count] = {0, 0, 0, 0, 0};
  double covered_np = 0, covered_pp = 0, covered_or = 0;

  SHRINK_HD void add_error(int e, double err)
  {
    se2[e] += err * err;
    se[e] += err;
  }

  SHRINK_HD void add(const group_draw& g, const group_constants& c, const replicate_hats& h)
  {
    const double e_np = g.d - g.t;
    add_error(no_pool, e_np);
    covered_np += std::fabs(e_np) <= c.half_np ? 1.0 : 0.0;
    add_error(complete_pool, h.mu_pooled - g.t);
    const double e_pp = g.d + c.b_hat * (h.mu - g.d) - g.t;
    add_error(partial_pool, e_pp);
    covered_pp += std::fabs(e_pp) <= c.half_pp ? 1.0 : 0.0;
    const double e_or = g.d - c.b_oracle * g.d - g.t;  // shrinks toward the true mu (0 here)
    add_error(oracle, e_or);
    covered_or += std::fabs(e_or) <= c.half_or ? 1.0 : 0.0;
    add_error(james_stein, h.js_center + h.js_c * (g.d - h.js_center) - g.t);
  }

  SHRINK_HD friend pass3_sums operator+(const pass3_sums& a, const pass3_sums& b)
  {
    pass3_sums r;
    for (int e = 0; e < estimator_count; ++e) {
      r.se2[e] = a.se2[e] + b.se2[e];
      r.se[e] = a.se[e] + b.se[e];
    }
    r.covered_np = a.covered_np + b.covered_np;
    r.covered_pp = a.covered_pp + b.covered_pp;
    r.covered_or = a.covered_or + b.covered_or;
    return r;
  }
};

/// The replicate's metrics (means over groups) from its pass 3 sums and hats.
SHRINK_HD inline void metrics_of(const scenario_params& s, const pass3_sums& p, const replicate_hats& h, double* out)
{
  const double J = static_cast<double>(s.groups);
  for (int e = 0; e < estimator_count; ++e) {
    out[metric_mse(e)] = p.se2[e] / J;
    out[metric_bias(e)] = p.se[e] / J;
    out[metric_coverage(e)] = 0;
  }
  out[metric_coverage(no_pool)] = p.covered_np / J;
  out[metric_coverage(partial_pool)] = p.covered_pp / J;
  out[metric_coverage(oracle)] = p.covered_or / J;
  out[metric_tau_hat] = std::sqrt(h.tau2);
  out[metric_tau_zero] = h.tau2 == 0 ? 1.0 : 0.0;
}

/// Running moments of every metric over replicates (merged with Chan's formula), and the 3rd and
/// 4th of tau_hat (the Monte Carlo error of its sd).
struct metric_moments {
  moments m[metric_count];
  moments4 tau_hat;

  SHRINK_HD void add(const double* metrics)
  {
    for (int k = 0; k < metric_count; ++k) m[k].add(metrics[k]);
    tau_hat.add(metrics[metric_tau_hat]);
  }
  SHRINK_HD void merge(const metric_moments& o)
  {
    for (int k = 0; k < metric_count; ++k) m[k] = m[k] + o.m[k];
    tau_hat = tau_hat + o.tau_hat;
  }
  /// Chan's merge as a sum: the node combination of the fixed-shape tree over replicate blocks.
  SHRINK_HD friend metric_moments operator+(metric_moments a, const metric_moments& b)
  {
    a.merge(b);
    return a;
  }
};

/// Welford over the replicates [begin, end) of a row-major metrics array (replicate-major).
SHRINK_HD inline metric_moments accumulate_block(const double* metrics, std::uint64_t begin, std::uint64_t end)
{
  metric_moments acc;
  for (std::uint64_t r = begin; r < end; ++r) acc.add(metrics + r * metric_count);
  return acc;
}

}  // namespace shrink::detail::sim
