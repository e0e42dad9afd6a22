#pragma once
// The CPU simulation's per-group work in SIMD lanes: group j of a 4096-group block in lane j mod 8.
//
// Four implementations of each kernel, chosen once at run time: scalar (the SHRINK_HD formulas of
// src/common, group by group: the reference, and the code for other processors), SSE2 (2 doubles a
// register: every x86-64 machine), AVX2 (4 doubles a register) and AVX-512 (8 doubles a register). The lane code does the same IEEE
// operations in the same order as the scalar formulas: Philox's 32x32->64-bit products, adds,
// multiplies, one division and one square root per draw, all correctly rounded (no FMA: the
// library builds with -ffp-contract=off, the lane code has no FMA intrinsics), and integer<->double
// conversions that are exact (the 1.5 * 2^52 trick of double_of_small; int32 -> double). So every
// level gives the same per-group values and, with the sums' order fixed by the lane index, the same
// bits of every study: the GPU's per-group values too (sums over groups are ordered differently there).
//
// SHRINK_SIMD=scalar|sse2|avx2|avx512 forces a level (read once; a level this machine lacks is an error).

#include "simd_level.hpp"

#include <cstdint>

namespace shrink::detail::sim {

/// Lanes of the sums over groups: group j of a block adds into lane j mod 8, and the lanes are
/// folded ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) at the end of the block.
inline constexpr int sum_lanes = 8;

using detail::simd_level;
using detail::simd_name;
using detail::simd_supported;

/// The level in use: SHRINK_SIMD if set (throws shrink::error if it names an unknown level or one
/// this machine lacks), else the best supported (simd_level.hpp); decided on the first call.
simd_level simd_level_in_use();
/// For tests: run `level` from now on (it must be supported).
void force_simd_level(simd_level level);

/// Sufficient mode, normal prior: groups [first, first + count) of one replicate's block
/// (count <= 4096, first a multiple of 4096 in the low 32 bits of the group index).
struct draw_block_args {
  std::uint32_t k0, k1;     ///< the Philox key of the block's stream (purpose theta_ybar)
  std::uint32_t replicate;  ///< counter word 2: low 32 bits of the replicate
  std::uint32_t tag;        ///< counter word 3: scenario | purpose
  std::uint32_t first;      ///< counter word 1 of the block's first group
  std::uint32_t count;
  double tau;               ///< t_j = tau z0
  double sigma;             ///< d_j = t_j + sigma_j z1 with sigma_j = sigma sqrt(1 / n_j)
  double n_equal;           ///< n_j when n is null
  double sigma_equal;       ///< sigma_j when n is null (design_of(s, n).sigma_j)
  const std::int32_t* n;    ///< the block's n_j, or null for equal sizes
};

/// Pass 1 sums of a block, by lane (pass1_sums' fields; ss is added by the caller).
struct pass1_lanes {
  double d[sum_lanes], dd[sum_lanes], nd[sum_lanes], n[sum_lanes], inv_n[sum_lanes];
};

/// Pass 3 of equal-size designs: the replicate's hats and group constants.
struct pass3_constants {
  double mu_pooled, mu, js_center, js_c;  ///< from replicate_hats
  double b_hat, half_np, half_pp, b_oracle, half_or;  ///< from group_constants
};

/// Passes 2 and 3 of designs with unequal n_j: what constants_of() needs besides n_j.
struct design_constants {
  double mu_pooled, mu, js_center, js_c;  ///< from replicate_hats
  double sigma2, tau2, q;                  ///< from replicate_hats
  double sigma, theta_var, z;              ///< from scenario_params
};

/// Pass 2 sums of a block, by lane (pass2_sums' fields).
struct pass2_lanes {
  double w[sum_lanes], wd[sum_lanes];
};

/// Pass 3 sums of a block, by lane (pass3_sums' fields).
struct pass3_lanes {
  double se2[5][sum_lanes], se[5][sum_lanes], covered_np[sum_lanes], covered_pp[sum_lanes], covered_or[sum_lanes];
};

/// Whole arguments below which the samplers' terms come from count_block_args::small.
inline constexpr int small_terms = 9;

/// Count families, a Beta(a, b) prior with a, b >= 1 or a Gamma(a, rate b) prior with a >= 1: the
/// draws of groups [first, first + count) of one replicate (count <= count_block).
struct count_block_args {
  bool binomial = true;              ///< else poisson
  std::uint32_t k0, k1;              ///< the Philox key (the seed: replicate and groups below 2^32)
  std::uint32_t replicate;           ///< counter word 2: the replicate
  std::uint32_t tag_a, tag_b, tag_y; ///< counter word 3 of the streams prior_a, prior_b (beta) and counts
  std::uint32_t first, count;
  double a, b;                       ///< the prior's shapes, or its shape and rate
  double inversion_limit;            ///< sim::inversion_limit
  double n_equal;                    ///< trials or exposure when n is null
  const std::int32_t* n;             ///< the block's trials or exposures, or null for equal ones
  /// The samplers' own terms at x = 0 .. small_terms - 1, where Stirling's series does not serve:
  /// binomial log_factorial_correction(x), poisson log_gamma(x + 1).
  double small[small_terms];
};

struct count_scenario;

/// The arguments of scenario s's blocks (the seed's key: replicates and groups below 2^32), but for
/// replicate, first, count and n.
count_block_args count_block_args_of(const count_scenario& s);

/// Groups a count block holds at most.
inline constexpr std::uint32_t count_block = 4096;

/// The groups (offsets in the block) whose draws a SIMD level left to the scalar samplers (rare: a
/// sampler's ninth attempt, a logarithm of a subnormal). `theta`: both draws; `y`: the count alone.
struct redo_lanes {
  std::uint32_t theta_count = 0, y_count = 0;
  std::uint32_t theta[count_block], y[count_block];
};

/// One level's kernels.
struct lane_kernels {
  /// Draws t_j, d_j into t[0..count), d[0..count) and adds pass 1's terms into `sums` (zeroed by
  /// the caller): d, d^2, n_j d; with n non-null also n_j and 1 / n_j.
  void (*draw_block)(const draw_block_args& a, double* t, double* d, pass1_lanes& sums);
  /// Adds pass 3's terms of groups [0, count) (t, d as drawn) into `sums` (zeroed by the caller).
  void (*pass3_block)(const double* t, const double* d, std::uint32_t count, const pass3_constants& c,
                      pass3_lanes& sums);
  /// The same with each group's constants from its n_j (n[0..count)), as constants_of() makes them.
  void (*pass3_block_design)(const double* t, const double* d, const std::int32_t* n, std::uint32_t count,
                             const design_constants& c, pass3_lanes& sums);
  /// Adds pass 2's terms (pass2_sums::add with inv_n = 1 / n_j) into `sums` (zeroed by the caller).
  void (*pass2_block)(const double* d, const std::int32_t* n, std::uint32_t count, const design_constants& c,
                      pass2_lanes& sums);
  /// normals_of() of the words (w0[i], w1[i], w2[i], w3[i]), i < count: for tests of the arithmetic.
  void (*normals)(const std::uint32_t* w0, const std::uint32_t* w1, const std::uint32_t* w2,
                  const std::uint32_t* w3, std::uint32_t count, double* z0, double* z1);
  /// theta_j from the prior and y_j given it into theta[0..count), y[0..count), the bits of
  /// draw_count_group, except the groups listed in `redo` (reset here).
  void (*count_block)(const count_block_args& a, double* theta, double* y, redo_lanes& redo);
  /// portable_log(x[i]) of positive normal x[i], i < count: for tests of the lanes' logarithm.
  void (*logs)(const double* x, std::uint32_t count, double* out);
};

/// The draws of a count block, every one draw_count_group's bits: the level's kernel, then its redo
/// list by the scalar samplers.
void draw_count_block(const lane_kernels& k, const count_block_args& a, double* theta, double* y, redo_lanes& redo);

/// The kernels of `level` (which must be supported).
const lane_kernels& kernels_of(simd_level level);

// The x86-64 levels, each in its own translation unit built for its instruction set.
const lane_kernels& sse2_kernels();
const lane_kernels& avx2_kernels();
const lane_kernels& avx512_kernels();

}  // namespace shrink::detail::sim
