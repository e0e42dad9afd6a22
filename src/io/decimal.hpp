#pragma once
// Decimal text to numbers that keep every digit, and the offset that keeps them in double.
//
// Values like 1000000000000.4 cannot be held exactly in a double (the spacing of doubles near
// 1e12 is 1.2e-4), so a column of them parsed straight to double has already lost the digits that
// a variance needs. Each value is therefore parsed to an unevaluated sum of two doubles hi + lo
// (about 32 significant digits: every decimal of up to 19 significant digits to 2^-104 relative),
// and once the whole column is read it is stored as one double relative to an offset of the
// column: value - offset, rounded once. The offset is chosen from the column's values as a
// multiset (rebase_offset), so the stored numbers do not depend on the order of the rows, and it
// lies among the bulk of the values (an outlier anywhere costs the other values nothing).

#include "../common/exact_arithmetic.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace shrink::io {

/// hi + lo with |lo| <= ulp(hi) / 2: a number to about 106 bits.
struct exact_number {
  double hi = 0;
  double lo = 0;
};

// Error-free sums and products and the ~32-digit difference, shared with the shared formulas
// (common/exact_arithmetic.hpp).
using detail::difference;
using detail::two_prod;
using detail::two_sum;

/// (shift_hi + shift_lo) + d as hi + lo, hi the sum rounded about once: a mean kept relative to a
/// shift, back to ~32 digits (difference's inverse).
inline void add_shift(double shift_hi, double shift_lo, double d, double& hi, double& lo)
{
  double s, e;
  two_sum(shift_hi, d, s, e);
  e += shift_lo;
  hi = s + e;
  lo = e - (hi - s);
}

/// A finite number from text in the syntax of parse_decimal (more significant digits and any
/// exponent allowed): false for anything else, for infinities and NaN, and for numbers beyond
/// the range of double. `out.hi` is the nearest double (up to the last bit in rare ties).
bool parse_number(std::string_view text, exact_number& out);


/// number_from_decimal beyond its fast path (decimal.cpp).
bool number_from_decimal_general(std::uint64_t mantissa, int exponent, bool negative, exact_number& out);

/// number_from_decimal for exponents -22..0 (the common text): mantissa / 10^k, k = -exponent.
/// One code for the row-at-a-time and the batched callers (table_reader.cpp), so the same bits.
inline void number_from_small_decimal(std::uint64_t mantissa, int k, bool negative, exact_number& out)
{
  // q1 = m / 10^k (one division; correctly rounded when m fits 53 bits), then the exact residual
  // (m - q1 10^k) scaled by 1/10^k, whose own rounding lies far below q1's last bit. A mantissa
  // of 54 to 64 bits is first split exactly into m_hi + m_lo.
  static constexpr double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  static constexpr double inverse_pow10[] = {1e0,   1e-1,  1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,
                                             1e-8,  1e-9,  1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15,
                                             1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22};
  const double m_hi = static_cast<double>(mantissa);
  double m_lo = 0;
  if (mantissa >= (std::uint64_t{1} << 53)) {
    // |mantissa - m_hi| <= 2^11; m_hi may be 2^64 itself, one past the largest uint64 (the
    // wrapped difference is then the right negative number).
    const std::uint64_t rounded = m_hi >= 18446744073709551616.0 ? 0 : static_cast<std::uint64_t>(m_hi);
    m_lo = static_cast<double>(static_cast<std::int64_t>(mantissa - rounded));
  }
  const double p = pow10[k];
  const double q1 = m_hi / p;
  double a, b;
  two_prod(q1, p, a, b);
  const double q2 = (((m_hi - a) - b) + m_lo) * inverse_pow10[k];
  const double hi = q1 + q2;
  const double lo = q2 - (hi - q1);
  out.hi = negative ? -hi : hi;
  out.lo = negative ? -lo : lo;
}

/// parse_number() for a number already split into digits: (-1)^negative * mantissa * 10^exponent
/// with at most 19 digits in the mantissa. Same result as parse_number on its text.
inline bool number_from_decimal(std::uint64_t mantissa, int exponent, bool negative, exact_number& out)
{
  if (exponent > 0 || exponent < -22) return number_from_decimal_general(mantissa, exponent, negative, out);
  number_from_small_decimal(mantissa, -exponent, negative, out);
  return true;
}

/// Why parse_number failed on `text`, for an error message: "is not a number", "is infinite or
/// NaN", "is too large for a double" or "is too small for a double (it rounds to zero)".
const char* number_problem(std::string_view text);

/// The offset of a column of hi parts: the smallest value among those whose binary exponent and
/// sign are the median's. It depends on the values as a multiset only, and lies within a factor
/// of two of the median, so that hi - offset is exact or near exact for the bulk of the data.
/// Deterministic for any thread count. 0 for an empty column.
double rebase_offset(const double* hi, std::size_t n, int threads);

/// Writes (hi[i] - offset) + lo[i], rounded once, to out[i] (lo may be null: zeros; out may be hi
/// or lo); false when a difference overflows double.
bool rebase(const double* hi, const double* lo, double* out, std::size_t n, double offset, int threads);
/// The same, over hi.
inline bool rebase(double* hi, const double* lo, std::size_t n, double offset, int threads)
{
  return rebase(hi, lo, hi, n, offset, threads);
}

}  // namespace shrink::io
