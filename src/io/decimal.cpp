#include "decimal.hpp"

#include "../cpu/parallel.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace shrink::io {
namespace {

/// A decimal number mantissa * 10^exponent with at most 19 significant digits.
struct decimal {
  std::uint64_t mantissa = 0;
  int exponent = 0;
  bool negative = false;
};

constexpr double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// Error-free transformations (Dekker 1971, Knuth): the library builds with -ffp-contract=off, so
// the compiler fuses nothing and each rounding below is the one written.
inline void quick_two_sum(double a, double b, double& s, double& e)  // |a| >= |b|
{
  s = a + b;
  e = b - (s - a);
}

/// Scans [+-]digits[.digits][(e|E)[+-]digits]. Keeps the first 19 significant digits in
/// `mantissa`; `truncated` says whether nonzero digits beyond them were dropped.
bool scan_decimal(std::string_view s, decimal& d, bool& truncated)
{
  const char* p = s.data();
  const char* const end = p + s.size();
  d = decimal{};
  truncated = false;
  if (p < end && (*p == '+' || *p == '-')) d.negative = *p++ == '-';
  std::uint64_t m = 0;
  int significant = 0, digits = 0;
  long exponent = 0;
  bool point = false;
  for (; p < end; ++p) {
    if (*p == '.') {
      if (point) return false;
      point = true;
      continue;
    }
    const unsigned digit = static_cast<unsigned>(*p - '0');
    if (digit >= 10) break;
    ++digits;
    if (significant == 0 && digit == 0) {
      if (point) --exponent;
      continue;
    }
    if (significant < 19) {
      m = m * 10 + digit;
      ++significant;
      if (point) --exponent;
    } else {
      truncated = truncated || digit != 0;
      if (!point) ++exponent;
    }
  }
  if (digits == 0) return false;
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    bool negative_exp = false;
    if (p < end && (*p == '+' || *p == '-')) negative_exp = *p++ == '-';
    if (p == end) return false;
    long e = 0;
    for (; p < end; ++p) {
      if (static_cast<unsigned>(*p - '0') >= 10) return false;
      if (e < 100000) e = e * 10 + (*p - '0');
    }
    exponent += negative_exp ? -e : e;
  }
  if (p != end) return false;
  d.mantissa = m;
  d.exponent = static_cast<int>(std::clamp<long>(exponent, -200000, 200000));
  return true;
}

/// The correctly rounded double of the decimal (for the rare numbers outside the double-double
/// path: extreme exponents); false when it is infinite or rounds to zero.
bool nearest_double(std::uint64_t mantissa, int exponent, bool negative, double& out)
{
  char text[48];
  const int n = std::snprintf(text, sizeof text, "%llue%d", static_cast<unsigned long long>(mantissa), exponent);
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text, text + n, v);
  if (ec != std::errc() || ptr != text + n || !std::isfinite(v)) return false;
  out = negative ? -v : v;
  return true;
}

}  // namespace

bool number_from_decimal_general(std::uint64_t mantissa, int exponent, bool negative, exact_number& out)
{
  out = exact_number{};
  if (mantissa == 0) return true;
  // The mantissa exactly as hi + lo: exact in hi below 2^53 (the common case); else hi <= 2^64
  // and the residual fits 128 bits, then 12.
  double hi = static_cast<double>(mantissa);
  double lo = 0;
  if (mantissa >= (std::uint64_t{1} << 53)) {
    // |mantissa - hi| <= 2^11; hi may be 2^64 itself, one past the largest uint64.
    const std::uint64_t rounded = hi >= 18446744073709551616.0 ? 0 : static_cast<std::uint64_t>(hi);
    lo = static_cast<double>(static_cast<std::int64_t>(mantissa - rounded));
  }
  int e = exponent;
  while (e != 0) {
    const int k = std::min(e > 0 ? e : -e, 22);
    const double p = exact_pow10[k];
    double a, b;
    if (e > 0) {
      if (hi > 1e285) return nearest_double(mantissa, exponent, negative, out.hi);
      two_prod(hi, p, a, b);
      b += lo * p;
      e -= k;
    } else {
      if (hi < 1e-280) {
        if (!nearest_double(mantissa, exponent, negative, out.hi)) return false;
        return true;
      }
      const double q1 = hi / p;
      two_prod(q1, p, a, b);
      const double q2 = (((hi - a) - b) + lo) / p;
      a = q1;
      b = q2;
      e += k;
    }
    quick_two_sum(a, b, hi, lo);
  }
  out.hi = negative ? -hi : hi;
  out.lo = negative ? -lo : lo;
  return std::isfinite(out.hi);
}

bool parse_number(std::string_view text, exact_number& out)
{
  decimal d;
  bool truncated = false;
  return scan_decimal(text, d, truncated) && number_from_decimal(d.mantissa, d.exponent, d.negative, out);
}

const char* number_problem(std::string_view text)
{
  decimal d;
  bool truncated = false;
  if (!scan_decimal(text, d, truncated)) {
    std::string lower(text.substr(0, 16));
    for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (!lower.empty() && (lower[0] == '+' || lower[0] == '-')) lower.erase(0, 1);
    if (lower == "inf" || lower == "infinity" || lower == "nan") return "is infinite or NaN";
    return "is not a number";
  }
  // Digits of the integer part: positive powers of ten beyond the double range overflow.
  int magnitude = d.exponent;
  for (std::uint64_t m = d.mantissa; m >= 10; m /= 10) ++magnitude;
  return magnitude > 0 ? "is too large for a double" : "is too small for a double (it rounds to zero)";
}

double rebase_offset(const double* hi, std::size_t n, int threads)
{
  if (n == 0) return 0;
  // Buckets by sign and binary exponent, ordered as the values are: 0..2047 negative (most
  // negative first), 2048..4095 non-negative. Counts and minima are exact whatever the order of
  // the rows or the split into blocks.
  constexpr std::size_t buckets = 4096;
  auto bucket_of = [](double x) {
    std::uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    const std::size_t exponent = static_cast<std::size_t>((bits >> 52) & 0x7FF);
    return (bits >> 63) != 0 ? (x == 0 ? 2048 : 2047 - exponent) : 2048 + exponent;
  };
  const std::size_t blocks = std::min<std::size_t>(64, (n + 65535) / 65536);
  const std::size_t block = (n + blocks - 1) / blocks;
  std::vector<std::array<std::uint64_t, buckets>> count(blocks);
  std::vector<std::array<double, buckets>> smallest(blocks);
  detail::for_each_block(n, block, threads, [&](std::size_t begin, std::size_t end, std::size_t b) {
    count[b].fill(0);
    smallest[b].fill(std::numeric_limits<double>::infinity());
    for (std::size_t i = begin; i < end; ++i) {
      const std::size_t k = bucket_of(hi[i]);
      ++count[b][k];
      smallest[b][k] = std::min(smallest[b][k], hi[i]);
    }
  });
  const std::uint64_t median_rank = (n - 1) / 2;  // the lower median
  std::uint64_t below = 0;
  for (std::size_t k = 0; k < buckets; ++k) {
    std::uint64_t c = 0;
    double lowest = std::numeric_limits<double>::infinity();
    for (std::size_t b = 0; b < blocks; ++b) c += count[b][k], lowest = std::min(lowest, smallest[b][k]);
    if (below + c > median_rank) return lowest == 0 ? 0.0 : lowest;  // +0 for -0
    below += c;
  }
  return 0;  // unreachable: the counts add up to n
}

bool rebase(const double* hi, const double* lo, double* out, std::size_t n, double offset, int threads)
{
  bool finite = true;
  std::vector<char> block_finite((n + 65535) / 65536, 1);
  detail::for_each_block(n, 65536, threads, [&](std::size_t begin, std::size_t end, std::size_t b) {
    bool ok = true;
    for (std::size_t i = begin; i < end; ++i) {
      out[i] = difference(hi[i], lo != nullptr ? lo[i] : 0.0, offset, 0.0);
      ok = ok && std::isfinite(out[i]);
    }
    block_finite[b] = ok;
  });
  for (char ok : block_finite) finite = finite && ok;
  return finite;
}

}  // namespace shrink::io
