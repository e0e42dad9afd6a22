// Decimal parsing relative to a reference: exact differences where a plain double parse is not.

#include "io/decimal.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

namespace {

using shrink::io::decimal;
using shrink::io::parse_decimal;
using shrink::io::relative_parser;

TEST(Decimal, ParsesMantissaAndExponent)
{
  decimal d;
  ASSERT_TRUE(parse_decimal("-12.5e3", d));
  EXPECT_EQ(d.mantissa, 125u);
  EXPECT_EQ(d.exponent, 2);
  EXPECT_TRUE(d.negative);
  ASSERT_TRUE(parse_decimal("0.000123", d));
  EXPECT_EQ(d.mantissa, 123u);
  EXPECT_EQ(d.exponent, -6);
  ASSERT_TRUE(parse_decimal("0.0000000000000000001234", d));  // 22 digits, 4 significant
  EXPECT_EQ(d.mantissa, 1234u);
  EXPECT_EQ(d.exponent, -22);
  for (const char* bad : {"", "-", ".", "1e", "1.2.3", "abc", "1e+", "nan", "inf", "12a", "1 2"})
    EXPECT_FALSE(parse_decimal(bad, d)) << bad;
  EXPECT_FALSE(parse_decimal("12345678901234567890", d));  // 20 significant digits
}

TEST(Decimal, DifferencesFromTheReferenceAreRoundedOnce)
{
  const relative_parser p("1000000000000.4");
  double v;
  ASSERT_TRUE(p.parse("1000000000000.3", v));
  EXPECT_EQ(v, -0.1);  // exact decimal difference, one rounding
  ASSERT_TRUE(p.parse("1000000000000.5", v));
  EXPECT_EQ(v, 0.1);
  // A plain double parse loses it: the spacing of doubles near 1e12 is 1.2e-4.
  EXPECT_NE(std::strtod("1000000000000.5", nullptr) - std::strtod("1000000000000.4", nullptr), 0.1);
  EXPECT_EQ(p.offset(), 1000000000000.4);
}

TEST(Decimal, ReferenceZeroGivesCorrectlyRoundedValues)
{
  const relative_parser p;
  for (const char* text : {"0.1", "-2.5", "123456.789", "1e-5", "3.14159265358979", "-0"}) {
    double v;
    ASSERT_TRUE(p.parse(text, v)) << text;
    EXPECT_EQ(v, std::strtod(text, nullptr)) << text;
  }
}

TEST(Decimal, FallsBackForLongAndExtremeNumbersAndRejectsNonFinite)
{
  const relative_parser p("2");
  double v;
  ASSERT_TRUE(p.parse("0.123456789012345678901234", v));  // 24 significant digits
  EXPECT_EQ(v, std::strtod("0.123456789012345678901234", nullptr) - 2);
  ASSERT_TRUE(p.parse("1e300", v));
  EXPECT_EQ(v, 1e300);
  EXPECT_FALSE(p.parse("1e400", v));
  EXPECT_FALSE(p.parse("NaN", v));
  EXPECT_FALSE(p.parse("-inf", v));
  EXPECT_FALSE(relative_parser("1e308").parse("-1.5e308", v));  // difference overflows
}

}  // namespace
