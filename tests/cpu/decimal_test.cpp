// Decimal parsing to about 32 digits, and values stored relative to the column's offset.

#include "io/decimal.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <vector>

namespace {

using shrink::io::exact_number;
using shrink::io::parse_number;
using shrink::io::rebase;
using shrink::io::rebase_offset;

TEST(Decimal, ParsesSignDigitsAndExponent)
{
  exact_number x;
  ASSERT_TRUE(parse_number("-12.5e3", x));
  EXPECT_EQ(x.hi, -12500.0);  // an integer: exact in hi
  EXPECT_EQ(x.lo, 0.0);
  ASSERT_TRUE(parse_number("0.000123", x));
  EXPECT_EQ(x.hi, std::strtod("0.000123", nullptr));
  // Within a long double ulp: far tighter than a double can hold alone (lo carries the rest).
  EXPECT_NEAR(static_cast<long double>(x.hi) + x.lo, 0.000123L, 1e-22L);
  ASSERT_TRUE(parse_number("0.0000000000000000001234", x));  // 22 digits, 4 significant
  EXPECT_EQ(x.hi, 1.234e-19);
  EXPECT_NEAR(static_cast<long double>(x.hi) + x.lo, 1.234e-19L, 1e-37L);
  for (const char* bad : {"", "-", ".", "1e", "1.2.3", "abc", "1e+", "nan", "inf", "12a", "1 2"})
    EXPECT_FALSE(parse_number(bad, x)) << bad;
}

TEST(Decimal, DifferencesFromTheOffsetAreRoundedOnce)
{
  std::vector<double> hi, lo;
  for (const char* text : {"1000000000000.4", "1000000000000.3", "1000000000000.5"}) {
    exact_number x;
    ASSERT_TRUE(parse_number(text, x)) << text;
    hi.push_back(x.hi);
    lo.push_back(x.lo);
  }
  const double offset = rebase_offset(hi.data(), hi.size(), 1);
  EXPECT_EQ(offset, std::strtod("1000000000000.3", nullptr));  // the smallest in the median's binade
  const double residual = lo[1];  // 1000000000000.3 minus its nearest double
  ASSERT_TRUE(rebase(hi.data(), lo.data(), hi.size(), offset, 1));
  // Differences from the offset keep the decimals that the doubles near 1e12 cannot hold.
  EXPECT_EQ(hi[1], residual);
  EXPECT_NE(residual, 0.0);
  EXPECT_NEAR(hi[0] - hi[1], 0.1, 1e-16);
  EXPECT_NEAR(hi[2] - hi[1], 0.2, 1e-16);
  // A plain double parse loses it: the spacing of doubles near 1e12 is 1.2e-4.
  EXPECT_GT(std::abs((std::strtod("1000000000000.5", nullptr) - std::strtod("1000000000000.4", nullptr)) - 0.1), 1e-6);
}

TEST(Decimal, HiIsTheCorrectlyRoundedValue)
{
  for (const char* text : {"0.1", "-2.5", "123456.789", "1e-5", "3.14159265358979", "-0", "1e300", "-1.5e-300",
                           "0.123456789012345678901234", "12345678901234567890123"}) {
    exact_number x;
    ASSERT_TRUE(parse_number(text, x)) << text;
    EXPECT_EQ(x.hi, std::strtod(text, nullptr)) << text;
  }
}

TEST(Decimal, RejectsNonFiniteAndOutOfRange)
{
  exact_number x;
  EXPECT_FALSE(parse_number("1e400", x));
  EXPECT_FALSE(parse_number("NaN", x));
  EXPECT_FALSE(parse_number("-inf", x));
  std::vector<double> hi = {1e308, -1.5e308};
  EXPECT_FALSE(rebase(hi.data(), nullptr, 2, 1e308, 1));  // a difference overflows
}

}  // namespace
