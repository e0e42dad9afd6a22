#include "arguments.hpp"

#include <shrink/error.hpp>

#include <charconv>
#include <exception>

namespace shrink::cli {

std::vector<std::string> split_list(const std::string& text, const std::string& what)
{
  std::vector<std::string> out;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t comma = text.find(',', begin);
    out.push_back(text.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin));
    if (out.back().empty()) throw error(what + ": empty item in '" + text + "' (give a comma list of values)");
    if (comma == std::string::npos) return out;
    begin = comma + 1;
  }
}

double parse_double(const std::string& text, const std::string& what)
{
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty()) throw error(what + ": '" + text + "' is not a number");
  return v;
}

std::int64_t parse_int(const std::string& text, const std::string& what)
{
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty()) throw error(what + ": '" + text + "' is not an integer");
  return v;
}

std::uint64_t parse_unsigned(const std::string& text, const std::string& what)
{
  std::uint64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end)
    throw error(what + ": '" + text + "' is not a non-negative integer below 2^64");
  return v;
}

}  // namespace shrink::cli
