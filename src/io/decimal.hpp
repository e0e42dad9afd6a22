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

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace shrink::io {

/// A decimal number mantissa * 10^exponent with at most 19 significant digits.
struct decimal {
  std::uint64_t mantissa = 0;
  int exponent = 0;
  bool negative = false;
};

/// Parses [+-]digits[.digits][(e|E)[+-]digits]; false for anything else or more than 19
/// significant digits.
bool parse_decimal(std::string_view text, decimal& out);

/// hi + lo with |lo| <= ulp(hi) / 2: a number to about 106 bits.
struct exact_number {
  double hi = 0;
  double lo = 0;
};

/// A finite number from text in the syntax of parse_decimal (more significant digits and any
/// exponent allowed): false for anything else, for infinities and NaN, and for numbers beyond
/// the range of double. `out.hi` is the nearest double (up to the last bit in rare ties).
bool parse_number(std::string_view text, exact_number& out);

/// parse_number() for a number already split into digits: (-1)^negative * mantissa * 10^exponent
/// with at most 19 digits in the mantissa. Same result as parse_number on its text.
bool number_from_decimal(std::uint64_t mantissa, int exponent, bool negative, exact_number& out);

/// Why parse_number failed on `text`, for an error message: "is not a number", "is infinite or
/// NaN", "is too large for a double" or "is too small for a double (it rounds to zero)".
const char* number_problem(std::string_view text);

/// The offset of a column of hi parts: the smallest value among those whose binary exponent and
/// sign are the median's. It depends on the values as a multiset only, and lies within a factor
/// of two of the median, so that hi - offset is exact or near exact for the bulk of the data.
/// Deterministic for any thread count. 0 for an empty column.
double rebase_offset(const double* hi, std::size_t n, int threads);

/// Overwrites hi[i] with (hi[i] - offset) + lo[i], rounded once (lo may be null: zeros); false
/// when a difference overflows double.
bool rebase(double* hi, const double* lo, std::size_t n, double offset, int threads);

}  // namespace shrink::io
