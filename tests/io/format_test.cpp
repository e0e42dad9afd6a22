// Number output: the shortest text that reads back to the same double. Truth: strtod for the
// round trip, std::to_chars (shortest scientific, libstdc++) for the number of significant digits.

#include "io/number_text.hpp"
#include "io/output.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

/// Significant digits in a number's text (the mantissa without leading zeros).
int significant_digits(const std::string& s)
{
  int n = 0, pending_zeros = 0;
  bool started = false;
  for (char c : s) {
    if (c == 'e' || c == 'E') break;
    if (c < '0' || c > '9') continue;
    if (c == '0') {
      if (started) ++pending_zeros;
      continue;
    }
    started = true;
    n += pending_zeros + 1;
    pending_zeros = 0;
  }
  return std::max(n, 1);
}

void expect_shortest_round_trip(double x)
{
  const std::string s = shrink::io::format_number(x);
  ASSERT_FALSE(s.empty());
  char* end = nullptr;
  const double back = std::strtod(s.c_str(), &end);
  ASSERT_EQ(end, s.c_str() + s.size()) << s;
  ASSERT_EQ(std::memcmp(&back, &x, sizeof x), 0) << s << " for " << x;
  char ref[64];
  const auto r = std::to_chars(ref, ref + sizeof ref, x, std::chars_format::scientific);  // shortest digits
  EXPECT_EQ(significant_digits(s), significant_digits(std::string(ref, r.ptr))) << s << " vs " << std::string(ref, r.ptr);
  EXPECT_LE(s.size(), 24u) << s;
}

TEST(Format, ShortestRoundTripForEdgeValues)
{
  for (double x : {0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 1e-5, 1e-6, 1.5e-5, 123456789012345.6, 1e15, 1e16, 9.999999999999998e15,
                   1e17, 1e21, 1e22, 1e23, 1e100, 1e300, 1.7976931348623157e308, 2.2250738585072014e-308, 5e-324,
                   -4.9406564584124654e-324, 0.123456789012, 5.55, 1000000000.5, 100.0, 123456.0, 0.00012345})
    expect_shortest_round_trip(x);
  EXPECT_EQ(shrink::io::format_number(0.1), "0.1");
  EXPECT_EQ(shrink::io::format_number(100.0), "100");
  EXPECT_EQ(shrink::io::format_number(-2.5e-7), "-2.5e-07");
  EXPECT_EQ(shrink::io::format_number(1e17), "1e+17");
  EXPECT_EQ(shrink::io::format_number(0.00012345), "0.00012345");
  EXPECT_EQ(shrink::io::format_number(1.5e300), "1.5e+300");
  EXPECT_EQ(shrink::io::format_number(std::numeric_limits<double>::quiet_NaN()), "");
}

TEST(Format, ShortestRoundTripForRandomDoubles)
{
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> unit(-1, 1);
  for (int i = 0; i < 200000; ++i) {
    std::uint64_t bits = rng();
    double x;
    std::memcpy(&x, &bits, sizeof x);
    if (std::isfinite(x)) expect_shortest_round_trip(x);
    expect_shortest_round_trip(unit(rng) * std::pow(10.0, static_cast<int>(rng() % 40) - 20));
    expect_shortest_round_trip(std::round(unit(rng) * 1e6) / 1000);  // short decimals
  }
}

// The eight-digit split against division digit by digit: every value of each 4-digit lane (the
// lanes never carry into each other: each product stays below its lane's width), in both lanes.
TEST(Format, EightDigitsOfEveryLaneValue)
{
  auto check = [](std::uint32_t v) {
    const std::uint64_t w = shrink::io::eight_digits(v);
    char text[8];
    std::memcpy(text, &w, sizeof text);
    std::uint32_t r = v;
    for (int i = 7; i >= 0; --i, r /= 10) ASSERT_EQ(text[i], static_cast<char>('0' + r % 10)) << v;
  };
  for (std::uint32_t a = 0; a < 10000; ++a) {
    check(a * 10000 + (a * 7919) % 10000);
    check(((a * 7919) % 10000) * 10000 + a);
  }
  check(99999999);
}

/// The documented layout, built independently from libstdc++'s shortest scientific digits:
/// plain for decimal exponents -5..15 (an integer, digits.digits or 0.000digits), else d.ddde+XX.
std::string expected_text(double x)
{
  char buf[64];
  const std::string sci(buf, std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific).ptr);
  const bool negative = sci[0] == '-';
  const std::size_t at_e = sci.find('e');
  std::string digits;
  for (std::size_t i = negative ? 1 : 0; i < at_e; ++i)
    if (sci[i] != '.') digits += sci[i];
  const int e = std::stoi(sci.substr(at_e + 1));
  const int n = static_cast<int>(digits.size());
  std::string text = negative ? "-" : "";
  if (e >= -5 && e < 16) {
    if (e >= n - 1) text += digits + std::string(static_cast<std::size_t>(e - n + 1), '0');
    else if (e >= 0) text += digits.substr(0, static_cast<std::size_t>(e + 1)) + "." + digits.substr(static_cast<std::size_t>(e + 1));
    else text += "0." + std::string(static_cast<std::size_t>(-e - 1), '0') + digits;
    return text;
  }
  text += digits.substr(0, 1) + (n > 1 ? "." + digits.substr(1) : "") + "e" + (e < 0 ? "-" : "+");
  const int a = std::abs(e);
  return text + (a < 10 ? "0" : "") + std::to_string(a);
}

// The text itself, character for character, for every digit count (1 to 17) at every decimal
// exponent around the plain/scientific boundaries, and for random bit patterns.
TEST(Format, LayoutMatchesTheRuleForEveryDigitCountAndExponent)
{
  std::mt19937_64 rng(5);
  for (int n = 1; n <= 17; ++n)
    for (int e = -9; e <= 20; ++e)
      for (int k = 0; k < 20; ++k) {
        std::uint64_t m = 1 + rng() % 9;  // n digits, the last one not zero
        for (int i = 1; i < n; ++i) m = m * 10 + (i + 1 == n ? 1 + rng() % 9 : rng() % 10);
        const double x = std::strtod((std::to_string(m) + "e" + std::to_string(e - n + 1)).c_str(), nullptr);
        for (double y : {x, -x}) ASSERT_EQ(shrink::io::format_number(y), expected_text(y)) << m << "e" << e - n + 1;
      }
  for (int i = 0; i < 300000; ++i) {
    const std::uint64_t bits = rng();
    double x;
    std::memcpy(&x, &bits, sizeof x);
    if (std::isfinite(x) && x != 0) ASSERT_EQ(shrink::io::format_number(x), expected_text(x));
  }
}

/// --digits N's text for x, as the CSV writes it (the exact path, or {fmt} where it does not reach).
std::string significant_text(double x, int digits)
{
  char buf[64];
  char* end = shrink::io::put_significant(buf, x, digits);
  if (end == nullptr) return "(not handled)";
  return std::string(buf, end);
}

// --digits N against glibc's printf("%.Ng"), character for character: every N at every decimal
// exponent of the exact path's range, exact ties (x.5, x.125, ... rounded to even), values just
// below a power of ten (9.995 -> 10), and random bit patterns; outside the range the path declines.
TEST(Format, SignificantDigitsMatchPrintf)
{
  std::mt19937_64 rng(9);
  std::normal_distribution<double> normal;
  auto expect_printf = [](double x, int n) {
    char ref[64];
    std::snprintf(ref, sizeof ref, "%.*g", n, x);
    const std::string got = significant_text(x, n);
    if (got != "(not handled)") ASSERT_EQ(got, ref) << x << " at " << n << " digits";
  };
  std::size_t handled = 0, tried = 0;
  for (int n = 1; n <= 17; ++n) {
    for (int e = -12; e <= 30; ++e)
      for (int k = 0; k < 200; ++k) {
        const double x = normal(rng) * std::pow(10.0, e);
        expect_printf(x, n);
        handled += significant_text(x, n) != "(not handled)";
        ++tried;
      }
    for (double tie : {0.5, 1.5, 2.5, 0.125, 0.375, 1.0625, 1234.5, 98765.25, 0.0009765625})
      for (double scale : {1.0, 1024.0, 1.0 / 1024}) expect_printf(tie * scale, n);
    for (double edge : {9.995, 99.95, 0.00099995, 999999.5, 9.9999999999999982, 1e15, 1e16, 1e17, 1e-5, 9.99999e-5})
      for (double sign : {1.0, -1.0}) expect_printf(sign * edge, n);
    for (int i = 0; i < 20000; ++i) {
      const std::uint64_t bits = rng();
      double x;
      std::memcpy(&x, &bits, sizeof x);
      if (std::isfinite(x)) expect_printf(x, n);
    }
  }
  EXPECT_GT(handled, tried * 9 / 10);  // the range the fit's columns live in is the exact path's
  for (double x : {0.0, -0.0, 5e-324, std::numeric_limits<double>::infinity()})
    EXPECT_EQ(significant_text(x, 6), "(not handled)") << x;
}

/// Doubles of every kind the formatters meet: normal draws at every scale, uniform(0,1) draws,
/// random bit patterns (NaN and infinities among them), subnormals, integers, powers of ten and
/// their neighbours, +-0, and short decimals.
std::vector<double> every_kind_of_double(std::size_t per_kind, std::uint64_t seed)
{
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> unit;
  auto from_bits = [](std::uint64_t bits) {
    double x;
    std::memcpy(&x, &bits, sizeof x);
    return x;
  };
  std::vector<double> xs = {0.0, -0.0, std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                            std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::max(),
                            std::numeric_limits<double>::min(), std::numeric_limits<double>::denorm_min()};
  for (int k = -323; k <= 308; ++k) {
    const double p = std::strtod(("1e" + std::to_string(k)).c_str(), nullptr);
    for (double x : {p, std::nextafter(p, 0.0), std::nextafter(p, 1e308)}) xs.insert(xs.end(), {x, -x});
  }
  for (std::size_t i = 0; i < per_kind; ++i) {
    xs.push_back(normal(rng) * std::pow(10.0, static_cast<int>(rng() % 61) - 30));
    xs.push_back(unit(rng));
    xs.push_back(from_bits(rng()));
    xs.push_back(from_bits((rng() & 0x800FFFFFFFFFFFFFull)));  // subnormal (or +-0)
    xs.push_back(static_cast<double>(static_cast<std::int64_t>(rng() >> (11 + rng() % 53)) * (rng() % 2 ? 1 : -1)));
    xs.push_back(std::round(normal(rng) * 1e6) / 1000);
  }
  return xs;
}

// The shortest text against the documented layout of libstdc++'s shortest digits (expected_text),
// character for character, for millions of doubles of every kind; zero and infinities as {fmt}
// writes them, NaN as nothing.
TEST(Format, ShortestMatchesTheRuleForMillionsOfDoubles)
{
  const std::vector<double> xs = every_kind_of_double(400000, 21);
  ASSERT_GT(xs.size(), 2000000u);
  for (double x : xs) {
    std::string expected;
    if (std::isnan(x)) expected = "";
    else if (x == 0) expected = std::signbit(x) ? "-0" : "0";
    else if (std::isinf(x)) expected = x < 0 ? "-inf" : "inf";
    else expected = expected_text(x);
    ASSERT_EQ(shrink::io::format_number(x), expected) << std::hexfloat << x;
  }
}

// --digits N (the CSV writer's put_digits: the exact path, {fmt} where it declines) against
// glibc's printf("%.Ng"), character for character, for every N from 1 to 17 on doubles of every kind.
TEST(Format, DigitsMatchPrintfForEveryDigitCountOnEveryKindOfDouble)
{
  const std::vector<double> xs = every_kind_of_double(9000, 23);
  for (int n = 1; n <= 17; ++n)
    for (double x : xs) {
      char got[64], expected[64];
      const std::string text(got, shrink::io::put_digits(got, x, n));
      std::snprintf(expected, sizeof expected, "%.*g", n, x);
      ASSERT_EQ(text, std::isnan(x) ? "" : expected) << std::hexfloat << x << " at " << n << " digits";
    }
}

// The SSE2 layout against the portable one (the path elsewhere than x86-64), byte for byte, for
// every digit count at every decimal exponent either side of both notations' boundaries.
TEST(Format, DecimalLayoutMatchesThePortableOne)
{
  std::mt19937_64 rng(29);
  const std::uint64_t e16 = 10000000000000000ull;
  for (int n = 1; n <= 17; ++n)
    for (int e = -9; e <= 20; ++e)
      for (int plain_to = 1; plain_to <= 17; ++plain_to)
        for (int plain_from : {-5, -4})
          for (int k = 0; k < 4; ++k) {
            // n digits, the first and last not zero, left-aligned to 17.
            std::uint64_t m = 1 + rng() % 9;
            for (int i = 1; i < n; ++i) m = m * 10 + (i + 1 == n ? 1 + rng() % 9 : rng() % 10);
            for (int i = n; i < 17; ++i) m *= 10;
            ASSERT_LT(m, 10 * e16);
            char a[64], b[64];
            const std::string simd(a, shrink::io::put_decimal(a, m, n, e, plain_from, plain_to));
            const std::string portable(b, shrink::io::put_decimal_portable(b, m, n, e, plain_from, plain_to));
            ASSERT_EQ(simd, portable) << m << " n " << n << " e " << e << " plain " << plain_from << ".." << plain_to;
          }
}

}  // namespace

#include "test_support.hpp"

namespace {

// --digits N: every number of the per-group CSV rounded to N significant digits of the exact
// (default) output; 0 is the default; out of range is an error before any work.
TEST(Format, DigitsOptionRoundsEveryNumber)
{
  shrink::test::temp_dir d;
  shrink::test::write_file(d / "in.csv", shrink::test::small_csv);
  const std::string in = shrink::test::quoted(d / "in.csv");
  const auto full = shrink::test::run_shrink("fit " + in + " -q", d);
  ASSERT_EQ(full.status, 0) << full.err;
  EXPECT_EQ(shrink::test::run_shrink("fit " + in + " -q --digits 0", d).out, full.out);
  const auto three = shrink::test::run_shrink("fit " + in + " -q --digits 3", d);
  ASSERT_EQ(three.status, 0) << three.err;
  const auto a = shrink::test::parse_csv(full.out), b = shrink::test::parse_csv(three.out);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a[0], b[0]);
  for (std::size_t r = 1; r < a.size(); ++r)
    for (std::size_t c = 2; c < a[r].size(); ++c) {
      if (a[r][c].empty()) continue;
      const double x = std::stod(a[r][c]);
      char expected[64];
      std::snprintf(expected, sizeof expected, "%.3g", x);
      EXPECT_EQ(std::stod(b[r][c]), std::stod(expected)) << a[0][c] << " " << a[r][c] << " -> " << b[r][c];
      EXPECT_LE(significant_digits(b[r][c]), 3) << b[r][c];
    }
  shrink::test::expect_error(shrink::test::run_shrink("fit " + in + " -q --digits 18", d), "--digits must be 0");
  shrink::test::expect_error(shrink::test::run_shrink("fit " + in + " -q --digits -1", d), "--digits must be 0");
}

}  // namespace
