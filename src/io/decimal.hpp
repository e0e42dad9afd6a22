#pragma once
// Decimal text to double, relative to a reference value of the column.
//
// Values like 1000000000000.4 cannot be held exactly in a double (the spacing of doubles near
// 1e12 is 1.2e-4), so a column of them parsed straight to double has already lost the digits that
// a variance needs. Parsing each decimal as an integer mantissa and exponent, subtracting the
// reference exactly in 128-bit integers, and rounding only the difference keeps them: the NIST StRD
// ANOVA sets then reach full accuracy.

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

/// Parses a column's numbers as differences from a reference value of that column.
class relative_parser {
 public:
  /// `reference` is the text of the column's reference value (e.g. its first value); an empty
  /// view means reference 0 (scale columns such as standard errors).
  explicit relative_parser(std::string_view reference = {});

  /// The reference as a double (the offset to add back); 0 for an empty reference.
  double offset() const { return offset_; }

  /// value - reference, rounded once where the value has at most 19 significant digits;
  /// false when the text is not a finite number.
  bool parse(std::string_view text, double& out) const;

  /// parse() for a number already split into its digits: value = (-1)^negative * mantissa *
  /// 10^exponent with mantissa < 10^19 (any text parse_decimal accepts gives such a triple). The
  /// same arithmetic as parse(), so the same bits; false where parse() would take its slow path
  /// (the caller then calls parse() on the text).
  bool from_decimal(std::uint64_t mantissa, int exponent, bool negative, double& out) const;

 private:
  decimal reference_{};
  bool reference_exact_ = true;
  double offset_ = 0;
};

}  // namespace shrink::io
