#include "arguments.hpp"

#include <shrink/error.hpp>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unistd.h>

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
  // strtod rather than std::stod: stod throws out_of_range for subnormal results (errno ERANGE),
  // which are valid numbers; here ERANGE is an error only when the result is 0 or infinite.
  if (text.empty() || std::isspace(static_cast<unsigned char>(text.front())) != 0)
    throw error(what + ": '" + text + "' is not a number");
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) throw error(what + ": '" + text + "' is not a number");
  if (errno == ERANGE && std::isinf(v))
    throw error(what + ": '" + text + "' is too large (it overflows a double, whose largest value is about 1.8e308)");
  if (errno == ERANGE && v == 0)
    throw error(what + ": '" + text + "' underflows to zero (the smallest positive double is about 4.9e-324)");
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

std::uint64_t parse_seed(const std::string& text, const std::string& what)
{
  const std::string rule = " (a seed is an integer from 0 to 18446744073709551615 written in plain digits)";
  if (text.empty()) throw error(what + ": empty" + rule);
  if (text.front() == '-') throw error(what + ": '" + text + "' is negative" + rule);
  for (char c : text)
    if (c < '0' || c > '9') {
      const bool exponent = text.find_first_of("eE") != std::string::npos;
      const bool fraction = text.find('.') != std::string::npos;
      throw error(what + ": '" + text + "' " +
                  (exponent ? "has an exponent" : fraction ? "is not a whole number" : "is not an integer") + rule);
    }
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) throw error(what + ": '" + text + "' is too large" + rule);
  return v;
}

double available_memory()
{
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    std::istringstream s(line);
    std::string key;
    double kib = 0;
    if (s >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  const long pages = ::sysconf(_SC_AVPHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0;
}

void require_memory(double bytes, std::uint64_t rows)
{
  const double available = available_memory();
  if (available <= 0 || bytes <= available) return;
  char text[160];
  std::snprintf(text, sizeof text, "not enough memory for %llu rows (needs %.1f GB, %.1f GB available)",
                static_cast<unsigned long long>(rows), bytes / 1e9, available / 1e9);
  throw error(text);
}

}  // namespace shrink::cli
