#pragma once
// Error-free transformations of double arithmetic (Knuth's TwoSum, Dekker's product), for the
// host and the GPU. Both builds turn fused multiply-adds off (-ffp-contract=off, --fmad=false),
// which these rely on.

#include "macros.hpp"

namespace shrink::detail {

/// s + e == a + b exactly, s the rounded sum (Knuth's TwoSum).
SHRINK_HD inline void two_sum(double a, double b, double& s, double& e)
{
  s = a + b;
  const double bb = s - a;
  e = (a - (s - bb)) + (b - bb);
}

/// p + e == a * b exactly (Dekker's product by splitting; no fused multiply-add needed), barring
/// overflow of the split (|a|, |b| < 2^996).
SHRINK_HD inline void two_prod(double a, double b, double& p, double& e)
{
  constexpr double splitter = 134217729.0;  // 2^27 + 1
  p = a * b;
  const double ta = splitter * a, tb = splitter * b;
  const double ah = ta - (ta - a), al = a - ah;
  const double bh = tb - (tb - b), bl = b - bh;
  e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

/// (hi + lo) - (shift_hi + shift_lo), rounded about once: the difference of two ~32-digit numbers.
/// The host's readers take each value relative to its group's first by it, and the GPU takes
/// device-resident rows the same way.
SHRINK_HD inline double difference(double hi, double lo, double shift_hi, double shift_lo)
{
  double s, e;
  two_sum(hi, -shift_hi, s, e);
  return s + (e + (lo - shift_lo));
}

}  // namespace shrink::detail
