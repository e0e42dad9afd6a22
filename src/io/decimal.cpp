#include "decimal.hpp"

#include <charconv>
#include <cmath>

namespace shrink::io {
namespace {

constexpr double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

__int128 pow10_int(int k)
{
  __int128 p = 1;
  for (int i = 0; i < k; ++i) p *= 10;
  return p;
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
  std::size_t i = 0;
  const std::size_t n = s.size();
  d = decimal{};
  if (i < n && (s[i] == '+' || s[i] == '-')) d.negative = s[i++] == '-';
  int significant = 0;
  int exponent = 0;
  bool any_digit = false;
  bool seen_point = false;
  for (; i < n; ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      any_digit = true;
      if (seen_point) --exponent;
      if (significant == 0 && c == '0') continue;  // leading zeros carry no digits
      if (++significant > 19) return false;
      d.mantissa = d.mantissa * 10 + static_cast<std::uint64_t>(c - '0');
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else {
      break;
    }
  }
  if (!any_digit) return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool negative_exp = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) negative_exp = s[i++] == '-';
    if (i == n) return false;
    int e = 0;
    for (; i < n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      if (e < 100000) e = e * 10 + (s[i] - '0');
    }
    exponent += negative_exp ? -e : e;
  }
  if (i != n) return false;
  d.exponent = exponent;
  return true;
}

relative_parser::relative_parser(std::string_view reference)
{
  if (reference.empty()) return;
  reference_exact_ = parse_decimal(reference, reference_);
  if (!parse_double(reference, offset_)) offset_ = 0, reference_exact_ = false, reference_ = {};
}

bool relative_parser::parse(std::string_view text, double& out) const
{
  decimal v;
  if (reference_exact_ && parse_decimal(text, v)) {
    const int e_min = std::min(v.exponent, reference_.mantissa == 0 ? v.exponent : reference_.exponent);
    const int shift_v = v.exponent - e_min;
    const int shift_r = reference_.exponent - e_min;
    if (v.mantissa == 0) {
      out = -offset_;
      return true;
    }
    if (shift_v <= 19 && (reference_.mantissa == 0 || shift_r <= 19) && e_min >= -22 && e_min <= 22) {
      __int128 a = static_cast<__int128>(v.mantissa) * pow10_int(shift_v);
      if (v.negative) a = -a;
      __int128 b = 0;
      if (reference_.mantissa != 0) {
        b = static_cast<__int128>(reference_.mantissa) * pow10_int(shift_r);
        if (reference_.negative) b = -b;
      }
      const __int128 diff = a - b;
      const double magnitude = static_cast<double>(diff);
      out = e_min < 0 ? magnitude / exact_pow10[-e_min] : magnitude * exact_pow10[e_min];
      return std::isfinite(out);
    }
  }
  double value;
  if (!parse_double(text, value)) return false;
  out = value - offset_;
  return std::isfinite(out);
}

}  // namespace shrink::io
