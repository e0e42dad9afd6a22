#include "decimal.hpp"

#include <charconv>
#include <climits>
#include <cstdint>
#include <cmath>

namespace shrink::io {
namespace {

constexpr double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

constexpr std::uint64_t pow10_u64[] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
                                        100000000ull, 1000000000ull, 10000000000ull, 100000000000ull,
                                        1000000000000ull, 10000000000000ull, 100000000000000ull,
                                        1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
                                        1000000000000000000ull, 10000000000000000000ull};

/// mantissa * 10^shift as a signed 128-bit integer (shift <= 19, so it cannot overflow).
__int128 scaled(std::uint64_t mantissa, int shift, bool negative)
{
  const __int128 v = static_cast<__int128>(mantissa) * pow10_u64[shift];
  return negative ? -v : v;
}

bool parse_double(std::string_view text, double& out)
{
  const char* first = text.data();
  const char* last = first + text.size();
  if (first != last && *first == '+') ++first;
  const auto [ptr, ec] = std::from_chars(first, last, out);
  return ec == std::errc() && ptr == last && std::isfinite(out);
}

}  // namespace

bool parse_decimal(std::string_view s, decimal& d)
{
  const char* p = s.data();
  const char* const end = p + s.size();
  d = decimal{};
  if (p < end && (*p == '+' || *p == '-')) d.negative = *p++ == '-';
  // Digits accumulate into the mantissa; a number with more than 19 digits in all (leading zeros
  // included) takes the careful path below, which is rare.
  const char* const digits_begin = p;
  std::uint64_t m = 0;
  int digits = 0, fraction = 0;
  for (; p < end && static_cast<unsigned>(*p - '0') < 10; ++p, ++digits) m = m * 10 + static_cast<unsigned>(*p - '0');
  if (p < end && *p == '.') {
    ++p;
    const char* f = p;
    for (; p < end && static_cast<unsigned>(*p - '0') < 10; ++p) m = m * 10 + static_cast<unsigned>(*p - '0');
    fraction = static_cast<int>(p - f);
    digits += fraction;
  }
  if (digits == 0) return false;
  if (digits > 19) {
    // Recount without leading zeros (0.000...), which carry no digits.
    m = 0;
    int significant = 0;
    for (const char* q = digits_begin; q < p; ++q) {
      if (*q == '.') continue;
      if (significant == 0 && *q == '0') continue;
      if (++significant > 19) return false;
      m = m * 10 + static_cast<unsigned>(*q - '0');
    }
  }
  int exponent = -fraction;
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    bool negative_exp = false;
    if (p < end && (*p == '+' || *p == '-')) negative_exp = *p++ == '-';
    if (p == end) return false;
    int e = 0;
    for (; p < end; ++p) {
      if (static_cast<unsigned>(*p - '0') >= 10) return false;
      if (e < 100000) e = e * 10 + (*p - '0');
    }
    exponent += negative_exp ? -e : e;
  }
  if (p != end) return false;
  d.mantissa = m;
  d.exponent = exponent;
  return true;
}

relative_parser::relative_parser(std::string_view reference)
{
  if (reference.empty()) return;
  reference_exact_ = parse_decimal(reference, reference_);
  if (!parse_double(reference, offset_)) offset_ = 0, reference_exact_ = false, reference_ = {};
}

bool relative_parser::from_decimal(std::uint64_t mantissa, int exponent, bool negative, double& out) const
{
  if (!reference_exact_) return false;
  const int e_min = std::min(exponent, reference_.mantissa == 0 ? exponent : reference_.exponent);
  const int shift_v = exponent - e_min;
  const int shift_r = reference_.exponent - e_min;
  if (mantissa == 0) {
    out = -offset_;
    return true;
  }
  if (shift_v <= 19 && (reference_.mantissa == 0 || shift_r <= 19) && e_min >= -22 && e_min <= 22) {
    // The same exact difference in 64 bits where it fits (the common case; no 128-bit products).
    std::int64_t sv, sr = 0, d64;
    if (mantissa <= static_cast<std::uint64_t>(INT64_MAX) &&
        !__builtin_mul_overflow(static_cast<std::int64_t>(mantissa), static_cast<std::int64_t>(pow10_u64[shift_v]), &sv) &&
        (reference_.mantissa == 0 ||
         (reference_.mantissa <= static_cast<std::uint64_t>(INT64_MAX) &&
          !__builtin_mul_overflow(static_cast<std::int64_t>(reference_.mantissa),
                                  static_cast<std::int64_t>(pow10_u64[shift_r]), &sr))) &&
        !__builtin_sub_overflow(negative ? -sv : sv, reference_.negative ? -sr : sr, &d64)) {
      // One correctly rounded conversion, as from the 128-bit integer below.
      const double magnitude = static_cast<double>(d64);
      out = e_min < 0 ? magnitude / exact_pow10[-e_min] : magnitude * exact_pow10[e_min];
      return std::isfinite(out);
    }
    const __int128 diff = scaled(mantissa, shift_v, negative) -
                          (reference_.mantissa == 0 ? 0 : scaled(reference_.mantissa, shift_r, reference_.negative));
    // Differences that fit 53 bits convert exactly with a plain int64 conversion (the common
    // case); the one rounding is then the division by the exact power of ten.
    constexpr __int128 exact_limit = static_cast<__int128>(1) << 53;
    const double magnitude = (diff < exact_limit && diff > -exact_limit)
                               ? static_cast<double>(static_cast<std::int64_t>(diff))
                               : static_cast<double>(diff);
    out = e_min < 0 ? magnitude / exact_pow10[-e_min] : magnitude * exact_pow10[e_min];
    return std::isfinite(out);
  }
  return false;
}

bool relative_parser::parse(std::string_view text, double& out) const
{
  decimal v;
  if (reference_exact_ && parse_decimal(text, v)) {
    const int e_min = std::min(v.exponent, reference_.mantissa == 0 ? v.exponent : reference_.exponent);
    const int shift_v = v.exponent - e_min;
    const int shift_r = reference_.exponent - e_min;
    if (v.mantissa == 0 ||
        (shift_v <= 19 && (reference_.mantissa == 0 || shift_r <= 19) && e_min >= -22 && e_min <= 22))
      return from_decimal(v.mantissa, v.exponent, v.negative, out);
  }
  double value;
  if (!parse_double(text, value)) return false;
  out = value - offset_;
  return std::isfinite(out);
}

}  // namespace shrink::io
