#pragma once
// A natural logarithm that gives the same bits on the host and on the GPU: std::log (glibc) and
// CUDA's log are each accurate to about an ulp but not always to the same ulp, so a sum of
// per-group logarithms (weighted_sums::sum_log_w, in the ML/REML log-likelihood and the full-Bayes
// posterior of tau) would differ between the backends in its last bits. This one uses only IEEE
// additions, multiplications and one division (correctly rounded on both; the build turns off
// fused multiply-adds on both: -ffp-contract=off, --fmad=false) and integer operations on the
// bits, so both sides compute it identically.
//
// The algorithm and its coefficients are fdlibm's e_log.c (Sun Microsystems, 1993: "Permission to
// use, copy, modify, and distribute this software is freely granted, provided that this notice is
// preserved."): x = 2^k (1 + f) with sqrt(2)/2 < 1 + f < sqrt(2), s = f / (2 + f),
// log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), R a degree-14 minimax polynomial; error below
// 1 ulp (tests/cpu/fixed_reduce_test.cpp checks it against long double over the whole range).
// Without branches on normal arguments it costs on the CPU about what glibc's std::log does
// (see README, Numerics and reproducibility).

#include "bits.hpp"
#include "fdlibm_constants.hpp"
#include "macros.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace shrink::detail {

/// log(2^k0 x) for a positive normal x, without branches on the value (fdlibm's two final
/// formulas are both evaluated and one selected, so random arguments cost no mispredictions;
/// fdlibm's shortcuts for k = 0 and |f| < 2^-20 are left out: the general formulas give the same
/// accuracy there).
SHRINK_HD inline double portable_log_normal(double x, int k0)
{
  using namespace fdlibm;

  const std::uint64_t bits = bits_of(x);
  auto hx = static_cast<std::int32_t>(bits >> 32);
  int k = k0 + (hx >> 20) - 1023;
  hx &= 0x000fffff;
  const std::int32_t i = (hx + 0x95f64) & 0x100000;
  // x or x/2 normalised into [sqrt(2)/2, sqrt(2)): x = 2^k (1 + f).
  const double m = double_of(
    (static_cast<std::uint64_t>(static_cast<std::uint32_t>(hx | (i ^ 0x3ff00000))) << 32) | (bits & 0xffffffffu));
  k += i >> 20;
  const double f = m - 1.0;
  const double dk = static_cast<double>(k);
  const double s = f / (2.0 + f);
  const double z = s * s;
  const double w = z * z;
  const double t1 = w * (lg2 + w * (lg4 + w * lg6));
  const double t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)));
  const double r = t2 + t1;
  const double hfsq = 0.5 * f * f;
  const double wide = dk * ln2_hi - ((hfsq - (s * (hfsq + r) + dk * ln2_lo)) - f);
  const double narrow = dk * ln2_hi - ((s * (f - r) - dk * ln2_lo) - f);
  return ((hx - 0x6147a) | (0x6b851 - hx)) > 0 ? wide : narrow;
}

/// log(x), the same bits on host and device: -inf at +-0, NaN below 0 and for NaN, +inf at +inf.
SHRINK_HD inline double portable_log(double x)
{
  const auto hx = static_cast<std::int32_t>(bits_of(x) >> 32);
  if (hx < 0x00100000 || hx >= 0x7ff00000) {  // rare: zero, negative, subnormal, infinite or NaN
    if (x == 0) return -HUGE_VAL;
    if (!(x > 0)) return (x - x) / (x - x);  // negative or NaN: NaN
    if (hx >= 0x7ff00000) return x;           // +inf
    return portable_log_normal(x * 1.80143985094819840000e+16, -54);  // subnormal: times 2^54
  }
  return portable_log_normal(x, 0);
}

}  // namespace shrink::detail
