#pragma once
// The shortest text of a double that reads back to exactly the same double: the per-group CSV's
// numbers. The digits come from {fmt}'s Dragonbox (the shortest correctly rounded decimal); the
// layout is written here, plain for decimal exponents -5..15 and scientific (1.25e-07, 3e+20)
// beyond; and `--digits N`'s text (printf's %.Ng). Separate from output.cpp so that benchmarks/format_bench.cpp times this very code.

#include <fmt/compile.h>
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace shrink::io {

/// Room put_shortest may write into: it copies in fixed-size pieces (no variable-length copies,
/// whose size branches mispredict), so it writes up to this many bytes past `p` although the
/// text is at most 24 characters long. The returned end is what counts.
constexpr std::size_t shortest_room = 48;

/// The eight decimal digits of v < 10^8, most significant first, as eight bytes in memory order
/// (little-endian). All lanes are split at once: 4 + 4 digits (32-bit lanes), 2 + 2 (16-bit),
/// 1 + 1 (8-bit), each by a multiply with a rounded-up reciprocal that is exact for the lane's
/// range (x / 100 = x * 10486 >> 20 for x < 10^4, x / 10 = x * 103 >> 10 for x < 100).
inline std::uint64_t eight_digits(std::uint32_t v)
{
  std::uint64_t x = (v / 10000) | (std::uint64_t{v % 10000} << 32);
  const std::uint64_t hundreds = ((x * 10486) >> 20) & 0x0000007F0000007Full;
  x = hundreds | ((x - 100 * hundreds) << 16);
  const std::uint64_t tens = ((x * 103) >> 10) & 0x000F000F000F000Full;
  x = tens | ((x - 10 * tens) << 8);
  return x | 0x3030303030303030ull;
}

/// The sixteen decimal digits of v < 10^16, most significant first, at `out`. With SSE2 (every
/// x86-64) all at once: v = hi * 10^8 + lo; hi and lo split into 4 + 4 digits in 64-bit lanes
/// (x / 10^4 = x * 109951163 >> 40, exact for x < 10^8), then the four 4-digit groups, in 16-bit
/// lanes, into 2 + 2 and 1 + 1 digits as in eight_digits (x / 100 = x * 5243 >> 19 for x < 10^4,
/// x / 10 = x * 6554 >> 16 for x < 100); elsewhere eight_digits twice.
inline void put_sixteen_digits(char* out, std::uint64_t v)
{
#if defined(__SSE2__)
  const __m128i halves = _mm_set_epi64x(static_cast<long long>(v % 100000000), static_cast<long long>(v / 100000000));
  const __m128i high4 = _mm_srli_epi64(_mm_mul_epu32(halves, _mm_set1_epi64x(109951163)), 40);
  const __m128i low4 = _mm_sub_epi64(halves, _mm_mul_epu32(high4, _mm_set1_epi64x(10000)));
  // 16-bit lanes: the groups of 4 digits in order (hi's two, then lo's two).
  const __m128i fours = _mm_shuffle_epi32(_mm_or_si128(high4, _mm_slli_epi64(low4, 16)), _MM_SHUFFLE(3, 1, 2, 0));
  // The multipliers 100 and 10 hidden from the optimiser: it would replace each pmullw by 4-5
  // shifts and adds.
  __m128i hundred = _mm_set1_epi16(100), ten = _mm_set1_epi16(10);
  asm("" : "+x"(hundred), "+x"(ten));
  const __m128i high2 = _mm_srli_epi16(_mm_mulhi_epu16(fours, _mm_set1_epi16(5243)), 3);
  const __m128i low2 = _mm_sub_epi16(fours, _mm_mullo_epi16(high2, hundred));
  const __m128i twos = _mm_unpacklo_epi16(high2, low2);  // eight groups of 2 digits, in order
  const __m128i high1 = _mm_mulhi_epu16(twos, _mm_set1_epi16(6554));
  const __m128i low1 = _mm_sub_epi16(twos, _mm_mullo_epi16(high1, ten));
  const __m128i ones = _mm_or_si128(high1, _mm_slli_epi16(low1, 8));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_add_epi8(ones, _mm_set1_epi8('0')));
#else
  const std::uint64_t words[2] = {eight_digits(static_cast<std::uint32_t>(v / 100000000)),
                                  eight_digits(static_cast<std::uint32_t>(v % 100000000))};
  std::memcpy(out, words, sizeof words);
#endif
}

/// A decimal exponent as printf writes it: e+05, e-07, e+300.
inline char* put_exponent(char* p, int e)
{
  *p++ = 'e';
  *p++ = e < 0 ? '-' : '+';
  const int a = e < 0 ? -e : e;
  if (a >= 100) *p++ = static_cast<char>('0' + a / 100);
  p[0] = static_cast<char>('0' + a % 100 / 10);
  p[1] = static_cast<char>('0' + a % 10);
  return p + 2;
}

/// Writes the shortest text that reads back to exactly `x` at `p` (nothing for NaN: the CSV's empty
/// field) and returns its end; needs shortest_room bytes at `p`.
inline char* put_shortest(char* p, double x)
{
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  // One test for the rare values: 2 * bits - 1 wraps for +-0 and is at least 0xFFDF... for the
  // infinities and NaNs (all exponent bits set).
  if ((bits << 1) - 1 >= 0xFFDFFFFFFFFFFFFFull) [[unlikely]]
    return std::isnan(x) ? p : fmt::format_to(p, FMT_COMPILE("{}"), x);
  const auto d = fmt::detail::dragonbox::to_decimal(x);
  *p = '-';
  p += std::signbit(x) ? 1 : 0;
  // The significand (at most 17 digits) right-aligned in 24 characters with leading '0's, then
  // 24 bytes of slack for the fixed-size copies below.
  const std::uint64_t m = d.significand;
  char digits[48];
  std::memset(digits + 24, '0', 24);  // defined bytes, though they never reach the text
  const std::uint64_t first = 0x3030303030303030ull | (m / 10000000000000000ull) << 56;
  std::memcpy(digits, &first, sizeof first);
  put_sixteen_digits(digits + 8, m % 10000000000000000ull);
  const int n = fmt::detail::count_digits(m);
  const char* q = digits + 24 - n;
  const int e = d.exponent + n - 1;  // the decimal exponent of the first digit
  if (e >= -5 && e < 16) {
    if (d.exponent >= 0) {  // an integer: its digits, then exponent zeros (n + exponent <= 16)
      std::memcpy(p, q, 16);
      std::memset(p + n, '0', 16);
      return p + n + d.exponent;
    }
    // I integer digits ("0" below 1: a leading zero of the padding), '.', F fraction digits (the
    // padding's zeros give 0.000ddd).
    const int fraction = -d.exponent;
    const int integer = e >= 0 ? e + 1 : 1;
    std::memcpy(p, digits + 24 - fraction - integer, 16);
    p[integer] = '.';
    std::memcpy(p + integer + 1, digits + 24 - fraction, 24);
    return p + integer + 1 + fraction;
  }
  p[0] = q[0];
  p[1] = '.';
  std::memcpy(p + 2, q + 1, 16);
  p += n > 1 ? n + 1 : 1;
  return put_exponent(p, e);
}

/// base^0 .. base^27 (5^27 and 10^19 are the largest used; 10^20 and above are not used).
struct powers {
  std::uint64_t at[28];
};
constexpr powers powers_of(std::uint64_t base)
{
  powers p{};
  p.at[0] = 1;
  for (int i = 1; i < 28; ++i) p.at[i] = p.at[i - 1] * base;  // wraps past 10^19, unused there
  return p;
}

/// `digits` (1 to 17) significant digits of x, as printf's (and {fmt}'s) %.{digits}g write them,
/// at `p` (needs 32 bytes); returns the end, or nullptr where this exact integer path does not
/// reach (zero, infinities, subnormals, and magnitudes beyond about 1e-11..1e35 for 17 digits):
/// the caller then asks {fmt}. x = M 2^E exactly, so x 10^s (s = digits - 1 - the decimal
/// exponent) is M 5^s 2^(E+s) or M 2^E / 10^-s, an integer quotient and a remainder in 128 bits:
/// rounding to nearest, ties to even, is decided exactly, as printf decides it.
inline char* put_significant(char* p, double x, int digits)
{
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const int biased = static_cast<int>(bits >> 52 & 0x7FF);
  if (biased == 0 || biased == 0x7FF) return nullptr;
  const std::uint64_t M = (bits & ((std::uint64_t{1} << 52) - 1)) | std::uint64_t{1} << 52;
  const int E = biased - 1075;
  using u128 = unsigned __int128;
  static constexpr powers pow10 = powers_of(10), pow5 = powers_of(5);
  // x 10^s as floor and rounded; false where 128 bits do not hold the operands.
  auto scaled = [&](int s, std::uint64_t& floor, std::uint64_t& rounded) {
    u128 quotient, remainder, divisor;
    if (s >= 0) {
      if (s > 27) return false;  // 5^27 < 2^63: M 5^s < 2^116
      const u128 product = u128{M} * pow5.at[s];
      const int shift = E + s;
      if (shift >= 0) {
        if (shift > 10) return false;
        floor = rounded = static_cast<std::uint64_t>(product << shift);
        return true;
      }
      if (shift <= -116) return false;
      divisor = u128{1} << -shift;
      quotient = product >> -shift;
      remainder = product & (divisor - 1);
    } else {
      if (s < -19 || E > 60) return false;
      const u128 scale = pow10.at[-s];
      const u128 numerator = E >= 0 ? u128{M} << E : u128{M};
      divisor = E >= 0 ? scale : scale << -E;  // < 2^64 2^52
      quotient = numerator / divisor;
      remainder = numerator % divisor;
    }
    if (quotient >> 64 != 0) return false;
    floor = static_cast<std::uint64_t>(quotient);
    const u128 twice = remainder * 2;
    rounded = floor + ((twice > divisor || (twice == divisor && (floor & 1) != 0)) ? 1 : 0);
    return true;
  };
  // The decimal exponent: floor(log10 |x|) is floor(k log10 2) or one more, 2^k <= |x| < 2^(k+1).
  int e = ((biased - 1023) * 78913) >> 18;
  std::uint64_t floor = 0, q = 0;
  if (!scaled(digits - 1 - e, floor, q)) return nullptr;
  if (floor >= pow10.at[digits]) {
    ++e;
    if (!scaled(digits - 1 - e, floor, q)) return nullptr;
  }
  if (q == pow10.at[digits]) {  // rounded up to the next power of ten: 9.995 -> 10.0
    q /= 10;
    ++e;
  }
  // The digits without trailing zeros (%g drops them, and the point with them).
  int n = digits;
  while (n > 1 && q % 10 == 0) {
    q /= 10;
    --n;
  }
  char text[24];
  std::to_chars(text, text + sizeof text, q);
  *p = '-';
  p += std::signbit(x) ? 1 : 0;
  if (e < -4 || e >= digits) {  // d.ddde+XX
    *p++ = text[0];
    if (n > 1) {
      *p++ = '.';
      std::memcpy(p, text + 1, static_cast<std::size_t>(n - 1));
      p += n - 1;
    }
    return put_exponent(p, e);
  }
  if (e < 0) {  // 0.000ddd
    *p++ = '0';
    *p++ = '.';
    for (int i = 0; i < -e - 1; ++i) *p++ = '0';
    std::memcpy(p, text, static_cast<std::size_t>(n));
    return p + n;
  }
  for (int i = 0; i <= e; ++i) *p++ = i < n ? text[i] : '0';  // the integer part
  if (n > e + 1) {
    *p++ = '.';
    std::memcpy(p, text + e + 1, static_cast<std::size_t>(n - e - 1));
    p += n - e - 1;
  }
  return p;
}

}  // namespace shrink::io
