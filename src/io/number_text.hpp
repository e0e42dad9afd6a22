#pragma once
// The shortest text of a double that reads back to exactly the same double: the per-group CSV's
// numbers. The digits come from {fmt}'s Dragonbox (the shortest correctly rounded decimal); the
// layout is written here, plain for decimal exponents -5..15 and scientific (1.25e-07, 3e+20)
// beyond; and `--digits N`'s text (printf's %.Ng). Separate from output.cpp so that benchmarks/format_bench.cpp times this very code.

#include <fmt/compile.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace shrink::io {

/// Room put_shortest and put_digits may write into: they store in fixed-size pieces (no
/// variable-length copies, whose size branches mispredict), up to 24 bytes past `p` whatever the
/// text's length (at most 24 characters). The returned end is what counts.
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
inline constexpr powers pow10_table = powers_of(10), pow5_table = powers_of(5);

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

// put_decimal(p, m17, n, e, plain_from, plain_to) writes a number from its digits: the n (1 to 17)
// significant digits of m17, which has exactly 17 digits (the first significant one first, then
// zeros after the n-th), and e, the decimal exponent of the first digit. Plain where
// plain_from <= e < plain_to (-5 or -4 <= plain_from, plain_to <= 17): an integer (m17's zeros
// where n <= e), I.F or 0.000F; else d.ddde+XX. Writes up to 24 bytes at `p`, in fixed-size
// pieces, and returns the end of the text.

/// put_decimal in plain C++: the layout elsewhere than x86-64, and the reference the SSE2 path is
/// tested against.
inline char* put_decimal_portable(char* p, std::uint64_t m17, int n, int e, int plain_from, int plain_to)
{
  char digits[32];  // m17's 17 digits, then zeros
  const std::uint64_t t = m17 / 10000000000000000ull, v = m17 % 10000000000000000ull;
  digits[0] = static_cast<char>('0' + t);
  const std::uint64_t words[2] = {eight_digits(static_cast<std::uint32_t>(v / 100000000)),
                                  eight_digits(static_cast<std::uint32_t>(v % 100000000))};
  std::memcpy(digits + 1, words, sizeof words);
  std::memset(digits + 17, '0', 15);
  if (e < plain_from || e >= plain_to) {
    p[0] = digits[0];
    p[1] = '.';
    std::memcpy(p + 2, digits + 1, 16);
    return put_exponent(p + (n > 1 ? n + 1 : 1), e);
  }
  if (e < 0) {  // 0. and -e - 1 zeros (at most 4), then the digits
    std::memcpy(p, "0.000000", 8);
    std::memcpy(p + 1 - e, digits, 17);
    return p + 1 - e + n;
  }
  const int integer = e + 1;  // digits before the point
  std::memcpy(p, digits, 17);
  p[integer] = '.';  // past the end for an integer
  std::memcpy(p + integer + 1, digits + integer, static_cast<std::size_t>(17 - integer));
  return p + (n > integer ? n + 1 : integer);
}

#if defined(__SSE2__)
/// The sixteen decimal digits of hi * 10^8 + lo (hi, lo < 10^8), most significant first, as
/// characters. All at once: hi and lo split into 4 + 4 digits in 64-bit lanes (x / 10^4 =
/// x * 109951163 >> 40, exact for x < 10^8), then the four 4-digit groups, in 16-bit lanes, into
/// 2 + 2 and 1 + 1 digits as in eight_digits (x / 100 = x * 5243 >> 19 for x < 10^4, x / 10 =
/// x * 6554 >> 16 for x < 100).
inline __m128i sixteen_digits(std::uint64_t hi, std::uint64_t lo)
{
  const __m128i halves = _mm_set_epi64x(static_cast<long long>(lo), static_cast<long long>(hi));
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
  return _mm_add_epi8(ones, _mm_set1_epi8('0'));
}

/// Byte k is 0xFF where k > i, for i = 0..17: the bytes after a decimal point at i.
struct point_masks {
  alignas(16) unsigned char after[18][16];
};
constexpr point_masks make_point_masks()
{
  point_masks m{};
  for (int i = 0; i < 18; ++i)
    for (int k = 0; k < 16; ++k) m.after[i][k] = k > i ? 0xFF : 0;
  return m;
}
inline constexpr point_masks point_mask = make_point_masks();
#endif

/// put_decimal (above): with SSE2 (every x86-64) the digits stay in a register and each piece of
/// text is a store of it, never read back (a load of bytes just stored in other pieces waits for
/// them to reach the cache). I.F is the digits blended with themselves one place on, at the point.
inline char* put_decimal(char* p, std::uint64_t m17, int n, int e, int plain_from, int plain_to)
{
#if defined(__SSE2__)
  // m17 = (t * 10^8 + hi) * 10^8 + lo: the first digit t and two 8-digit halves, in two short steps.
  const std::uint64_t upper = m17 / 100000000, lo = m17 - upper * 100000000;
  const std::uint64_t t = upper / 100000000;
  const __m128i rest = sixteen_digits(upper - t * 100000000, lo);  // digits 2 to 17
  const char first = static_cast<char>('0' + t);
  if (e < plain_from || e >= plain_to) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 2), rest);
    p[0] = first;
    p[1] = '.';
    return put_exponent(p + (n > 1 ? n + 1 : 1), e);
  }
  if (e < 0) {  // 0. and -e - 1 zeros (at most 4), then the digits
    std::memcpy(p, "0.000000", 8);
    char* q = p + 1 - e;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 1), rest);
    *q = first;
    return q + n;
  }
  const int integer = e + 1;  // digits before the point
  const __m128i digits = _mm_or_si128(_mm_slli_si128(rest, 1), _mm_cvtsi32_si128(static_cast<unsigned char>(first)));
  const __m128i after = _mm_load_si128(reinterpret_cast<const __m128i*>(point_mask.after[integer]));
  // Text bytes 16 and 17: digits 16 and 17 one place on, or digit 17 in place for a 17-digit
  // integer; the blend then writes bytes 0 to 15 over the rest of this store.
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p + (integer < 17 ? 2 : 1)), rest);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                   _mm_or_si128(_mm_and_si128(after, _mm_slli_si128(digits, 1)), _mm_andnot_si128(after, digits)));
  p[integer] = '.';  // past the end for an integer
  return p + (n > integer ? n + 1 : integer);
#else
  return put_decimal_portable(p, m17, n, e, plain_from, plain_to);
#endif
}

/// Writes the shortest text that reads back to exactly `x` at `p` (nothing for NaN: the CSV's empty
/// field) and returns its end; needs shortest_room bytes at `p`. Plain for decimal exponents
/// -5..15, else d.ddde+XX.
inline char* put_shortest(char* p, double x)
{
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  // One test for the rare values: 2 * bits - 1 wraps for +-0 and is at least 0xFFDF... for the
  // infinities and NaNs (all exponent bits set).
  if ((bits << 1) - 1 >= 0xFFDFFFFFFFFFFFFFull)
    return std::isnan(x) ? p : fmt::format_to(p, FMT_COMPILE("{}"), x);
  const auto d = fmt::detail::dragonbox::to_decimal(x);
  *p = '-';
  p += bits >> 63;
  const int n = fmt::detail::count_digits(d.significand);
  return put_decimal(p, d.significand * pow10_table.at[17 - n], n, d.exponent + n - 1, -5, 16);
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
  // x 10^s as floor and rounded; false where 128 bits do not hold the operands.
  auto scaled = [&](int s, std::uint64_t& floor, std::uint64_t& rounded) {
    u128 quotient, remainder, divisor;
    if (s >= 0) {
      if (s > 27) return false;  // 5^27 < 2^63: M 5^s < 2^116
      const u128 product = u128{M} * pow5_table.at[s];
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
      const u128 scale = pow10_table.at[-s];
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
  if (floor >= pow10_table.at[digits]) {
    ++e;
    if (!scaled(digits - 1 - e, floor, q)) return nullptr;
  }
  if (q == pow10_table.at[digits]) {  // rounded up to the next power of ten: 9.995 -> 10.0
    q /= 10;
    ++e;
  }
  // The digits without trailing zeros (%g drops them, and the point with them).
  int n = digits;
  while (n > 1 && q % 10 == 0) {
    q /= 10;
    --n;
  }
  *p = '-';
  p += std::signbit(x) ? 1 : 0;
  return put_decimal(p, q * pow10_table.at[17 - n], n, e, -4, digits);
}

/// --digits N's text of x: put_significant, or {fmt} where that declines (zero, infinities,
/// subnormals, extreme magnitudes); nothing for NaN. Not inlined, so that put_shortest, the
/// default, stays inlined in the row loops.
[[gnu::noinline]] inline char* put_digits(char* p, double x, int digits)
{
  if (std::isnan(x)) return p;
  if (char* end = put_significant(p, x, digits)) return end;
  return fmt::format_to(p, FMT_COMPILE("{:.{}g}"), x, digits);
}

}  // namespace shrink::io
