#pragma once
// Counter-based random numbers for simulation studies: Philox4x32-10 (Salmon et al., "Parallel
// random numbers: as easy as 1, 2, 3", SC 2011; the generator behind cuRAND's Philox), and the
// uniform, normal and gamma draws built on it. Host and device run this one code, so the CPU and
// GPU backends draw the same variates; a draw is a pure function of (seed, counter), so results do
// not depend on threads, batches or launch shapes, and nothing needs to be stored between passes:
// a draw is regenerated where it is needed again.
//
// Keying. A draw is named by (seed, scenario, purpose, replicate r, group j, call), with r and j
// 64-bit: the 128-bit counter holds
//   c0 = the index of the call inside the stream (0, 1, 2, ...)
//   c1 = low 32 bits of group j, c2 = low 32 bits of replicate r,
//   c3 = scenario key (low 24 bits) | purpose (high 8 bits)
// and the 64-bit key is the seed, XORed with mix64(high) where high = (r >> 32) << 32 | (j >> 32)
// holds the upper halves of r and j. mix64 is a bijection of the 64-bit words with mix64(0) = 0,
// so (1) for one seed, distinct (r, j, purpose, scenario, call) are distinct Philox inputs: no two
// streams of a study repeat, whatever its size (replicate 2^32 + r is not replicate r); (2) below
// 2^32 the key is the seed itself, the layout every study so far has used, so their draws are
// unchanged; (3) seed s with upper halves h names the same input as seed s ^ mix64(h) with none,
// a seed no one picks by hand (mix64(1) = 0xB456BCFC34C2CB2C).
// (The scenario key is a hash of the scenario's (groups, obs range), not its grid position: see
// stream_key_of in src/api/simulate.cpp.) "purpose" separates independent streams of one
// group-replicate (the theta/ybar pair, the chi-square of s2_j, the t prior's mixing chi-square,
// raw observations, the design's n_j; the count families' prior and count draws).

#include "bits.hpp"
#include "fdlibm_constants.hpp"
#include "macros.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace shrink::detail {

struct philox_words {
  std::uint32_t w[4];
};

namespace philox_constants {
inline constexpr std::uint32_t m0 = 0xD2511F53u;
inline constexpr std::uint32_t m1 = 0xCD9E8D57u;
inline constexpr std::uint32_t w0 = 0x9E3779B9u;  // golden ratio
inline constexpr std::uint32_t w1 = 0xBB67AE85u;  // sqrt(3) - 1
}  // namespace philox_constants

SHRINK_HD inline void philox_mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo)
{
#if defined(__CUDA_ARCH__)
  lo = a * b;
  hi = __umulhi(a, b);
#else
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  lo = static_cast<std::uint32_t>(p);
  hi = static_cast<std::uint32_t>(p >> 32);
#endif
}

/// Philox4x32 with 10 rounds: the bijection of Random123's philox4x32_R(10, ctr, key).
SHRINK_HD inline philox_words philox4x32_10(philox_words ctr, std::uint32_t k0, std::uint32_t k1)
{
  using namespace philox_constants;
#if defined(__CUDA_ARCH__)
#pragma unroll
#elif defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#pragma GCC unroll 10
#endif
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(m0, ctr.w[0], hi0, lo0);
    philox_mulhilo(m1, ctr.w[2], hi1, lo1);
    ctr = philox_words{{hi1 ^ ctr.w[1] ^ k0, lo1, hi0 ^ ctr.w[3] ^ k1, lo0}};
    k0 += w0;
    k1 += w1;
  }
  return ctr;
}

/// The independent streams of one group-replicate (the high byte of counter word 3).
enum class purpose : std::uint32_t {
  theta_ybar = 0,   ///< one call: theta_j's normal and ybar_j's normal (raw mode: theta_j's only)
  s2_chisq = 1,     ///< the pooled chi-square of a block's s2_j (sufficient mode), one call per attempt
  t_mixing = 2,     ///< the chi-square that makes theta_j Student-t, one call per attempt
  observations = 3, ///< raw mode: call i gives observations 2i and 2i+1
  design = 4,       ///< n_j of unequal-size designs (replicate word 0: fixed across replicates)
  prior_a = 5,      ///< count families: theta_j's gamma draw (beta: the first of its two gammas)
  prior_b = 6,      ///< count families: the beta's second gamma
  counts = 7,       ///< count families: y_j given theta_j
};

/// Largest scenario index the counter can name (24 bits).
inline constexpr std::uint32_t max_scenarios = 1u << 24;

/// MurmurHash3's 64-bit finaliser (fmix64): a bijection of the 64-bit words (xor-shifts and
/// multiplications by odd constants are each invertible), with mix64(0) = 0.
SHRINK_HD inline std::uint64_t mix64(std::uint64_t x)
{
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  x ^= x >> 33;
  return x;
}

/// A stream: everything of the Philox input but the call index.
struct philox_stream {
  std::uint32_t k0, k1;  ///< the key: the seed, mixed with the upper halves of replicate and group
  std::uint32_t group, replicate, tag;  ///< counter words 1-3: low halves of group and replicate

  SHRINK_HD philox_words operator()(std::uint32_t call) const
  {
    return philox4x32_10(philox_words{{call, group, replicate, tag}}, k0, k1);
  }

  /// Call `call` of the stream of group (this stream's upper 32 bits of the group | group_low):
  /// what make_stream(..., group, ...)(call) gives, for loops over groups that share the upper
  /// half (the CPU's vectorised tiles).
  SHRINK_HD philox_words at_group(std::uint32_t group_low, std::uint32_t call) const
  {
    return philox4x32_10(philox_words{{call, group_low, replicate, tag}}, k0, k1);
  }
};

/// The Philox key of (seed, replicate, group): the seed when both indices are below 2^32, else
/// the seed XOR mix64 of their upper halves (see the keying note at the top).
SHRINK_HD inline std::uint64_t stream_key(std::uint64_t seed, std::uint64_t replicate, std::uint64_t group)
{
  if (((replicate | group) >> 32) == 0) return seed;  // one test in the hot loop; the rest is rare
  return seed ^ mix64(((replicate >> 32) << 32) | (group >> 32));
}

SHRINK_HD inline philox_stream make_stream(std::uint64_t seed, std::uint32_t scenario, std::uint64_t replicate,
                                           std::uint64_t group, purpose p)
{
  const std::uint64_t key = stream_key(seed, replicate, group);
  return philox_stream{static_cast<std::uint32_t>(key), static_cast<std::uint32_t>(key >> 32),
                       static_cast<std::uint32_t>(group), static_cast<std::uint32_t>(replicate),
                       (scenario & (max_scenarios - 1)) | (static_cast<std::uint32_t>(p) << 24)};
}

// Uniforms, logarithm and sine/cosine below are plain double arithmetic on bit patterns, without
// branches or library calls: the CPU compiler can vectorise a loop of them, the GPU runs them at
// FP64 rate, and with no fused multiply-adds on either side both round every step identically.
// The only library calls of the generator are std::exp and std::log in standard_gamma (the
// chi-square draws): glibc and libdevice may round those an ulp apart, the one place where the CPU
// and GPU draws can differ.

/// 52 random bits from two words.
SHRINK_HD inline std::uint64_t bits52(std::uint32_t hi, std::uint32_t lo)
{
  return (static_cast<std::uint64_t>(hi) << 20) ^ (lo >> 12);
}

/// (b + 0.5) / 2^52 for b < 2^52: the midpoints of 2^52 equal cells of (0, 1), every one exact in
/// double and never 0 or 1 (log() stays finite; a 53-bit version's top cell would round to 1).
SHRINK_HD inline double uniform_of_bits(std::uint64_t b)
{
  return (double_of(0x3FF0000000000000ull | b) - 1.0) + 0x1p-53;  // 1 + b/2^52 is exact
}

/// Uniform on (0, 1) from two words.
SHRINK_HD inline double uniform52(std::uint32_t hi, std::uint32_t lo) { return uniform_of_bits(bits52(hi, lo)); }

/// Uniform on (0, 1) from one word (32 bits), never 0 or 1.
SHRINK_HD inline double uniform32(std::uint32_t w) { return (static_cast<double>(w) + 0.5) * 0x1p-32; }

/// Exact double of an integer |i| < 2^51 by the 1.5 * 2^52 trick (vectorises where int64 ->
/// double conversion does not).
SHRINK_HD inline double double_of_small(std::int64_t i)
{
  return double_of(bits_of(0x1.8p52) + static_cast<std::uint64_t>(i)) - 0x1.8p52;
}

/// log(u) for a normal double 0 < u <= 1 (fdlibm's e_log.c without its special cases; < 1 ulp).
SHRINK_HD inline double log_unit(double u)
{
  using namespace fdlibm;
  const std::uint64_t b = bits_of(u);
  // u = m 2^k with m in [~sqrt(2)/2, ~sqrt(2)): fdlibm's carry trick on the top 20 mantissa bits
  // gives high = 1 exactly when those bits are >= 0x6a09c (m >= 1.41421), without a branch or
  // 64-bit compare.
  const auto high = static_cast<std::int64_t>((((b >> 32) & 0xFFFFFu) + 0x95F64u) >> 20);
  const double m = double_of((b & 0x000FFFFFFFFFFFFFull) | (static_cast<std::uint64_t>(0x3FF - high) << 52));
  const double k = double_of_small(static_cast<std::int64_t>(b >> 52) - 1023 + high);
  const double f = m - 1.0;
  const double hfsq = 0.5 * f * f;
  const double s = f / (2.0 + f);
  const double z = s * s;
  const double w = z * z;
  const double r = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7))) + w * (lg2 + w * (lg4 + w * lg6));
  return k * ln2_hi - ((hfsq - (s * (hfsq + r) + k * ln2_lo)) - f);
}

/// cos and sin of the angle 2 pi (b + 0.5) / 2^52 for b < 2^52: the nearest quarter turn is taken
/// exactly on the integer, the rest (|x| <= pi/4) by fdlibm's k_cos.c / k_sin.c polynomials.
SHRINK_HD inline void cos_sin_turn(std::uint64_t b, double& c, double& s)
{
  using namespace fdlibm;
  constexpr double turn_unit = 3.14159265358979323846 * 0x1p-51;  // 2 pi / 2^52
  const std::uint64_t quarters = (b + (std::uint64_t{1} << 49)) >> 50;  // 0..4, nearest quarter turn
  const std::int64_t rest = static_cast<std::int64_t>(b) - static_cast<std::int64_t>(quarters << 50);
  const double x = (double_of_small(rest) + 0.5) * turn_unit;  // |x| <= pi/4
  const double z = x * x;
  const double w = z * z;
  const double rs = s2 + z * (s3 + z * s4) + z * w * (s5 + z * s6);
  const double sin_x = x + z * x * (s1 + z * rs);
  const double rc = z * (c1 + z * (c2 + z * c3)) + w * w * (c4 + z * (c5 + z * c6));
  const double hz = 0.5 * z;
  const double one_minus = 1.0 - hz;
  const double cos_x = one_minus + (((1.0 - one_minus) - hz) + z * rc);
  const unsigned q = static_cast<unsigned>(quarters) & 3u;
  const double cq = (q & 1u) ? sin_x : cos_x;
  const double sq = (q & 1u) ? cos_x : sin_x;
  c = (q == 1u || q == 2u) ? -cq : cq;
  s = (q >= 2u) ? -sq : sq;
}

/// Box-Muller: two independent standard normals from two uniforms.
struct normal_pair {
  double z0, z1;
};

/// Both normals of one call: the radius from words 0-1, the angle from words 2-3 (52 bits each).
SHRINK_HD inline normal_pair normals_of(const philox_words& x)
{
  const double r = std::sqrt(-2.0 * log_unit(uniform52(x.w[0], x.w[1])));
  double c, s;
  cos_sin_turn(bits52(x.w[2], x.w[3]), c, s);
  return {r * c, r * s};
}

/// One normal: the cosine half, from words 0-2 (the angle from word 2 alone; word 3 is left free).
SHRINK_HD inline double normal_of(const philox_words& x)
{
  const double r = std::sqrt(-2.0 * log_unit(uniform52(x.w[0], x.w[1])));
  double c, s;
  cos_sin_turn(static_cast<std::uint64_t>(x.w[2]) << 20, c, s);
  return r * c;
}

/// Marsaglia & Tsang's (2000) attempts for a standard gamma(shape), shape >= 1, from call `call` of
/// the stream on, one call per attempt (acceptance above 95%): the accepted d v. `log_fn` is the
/// logarithm of the second test (libm's or the portable one: the caller's bits).
template <class Log>
SHRINK_HD inline double marsaglia_tsang(double shape, const philox_stream& s, std::uint32_t call, Log&& log_fn)
{
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;; ++call) {
    const philox_words x = s(call);
    const double z = normal_of(x);
    const double u = uniform32(x.w[3]);
    double v = 1.0 + c * z;
    if (v <= 0.0) continue;
    v = v * v * v;
    const double z2 = z * z;
    if (u < 1.0 - 0.0331 * z2 * z2 || log_unit(u) < 0.5 * z2 + d * (1.0 - v + log_fn(v))) return d * v;
  }
}

/// Standard gamma(shape) by Marsaglia & Tsang; shape < 1 by the boost gamma(a) = gamma(a + 1)
/// U^(1/a), U from call 0. Exact in distribution; the loop ends with probability 1 and almost
/// always at the first call.
SHRINK_HD inline double standard_gamma(double shape, const philox_stream& s)
{
  double boost = 1.0;
  if (shape < 1.0) {
    const philox_words x = s(0);
    boost = std::exp(log_unit(uniform52(x.w[0], x.w[1])) / shape);
    shape += 1.0;
  }
  return marsaglia_tsang(shape, s, 1, [](double v) { return std::log(v); }) * boost;
}

/// Chi-square with `df` degrees of freedom (df > 0).
SHRINK_HD inline double chi_square(double df, const philox_stream& s) { return 2.0 * standard_gamma(0.5 * df, s); }

}  // namespace shrink::detail
