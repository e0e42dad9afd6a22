#pragma once
// Parsing of command-line values shared by the subcommands (comma lists, numbers, counts); each
// throws shrink::error naming the option on bad input.

#include <cstdint>
#include <string>
#include <vector>

namespace shrink::cli {

/// Splits a comma list; an empty item is an error.
std::vector<std::string> split_list(const std::string& text, const std::string& what);
/// A whole decimal number (all of `text`).
double parse_double(const std::string& text, const std::string& what);
/// A whole signed integer (all of `text`).
std::int64_t parse_int(const std::string& text, const std::string& what);
/// A whole non-negative integer in [0, 2^64); a sign, even '+', is rejected.
std::uint64_t parse_unsigned(const std::string& text, const std::string& what);

}  // namespace shrink::cli
