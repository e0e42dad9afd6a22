#pragma once
// Parsing of command-line values shared by the subcommands (comma lists, numbers, counts, seeds);
// each throws shrink::error naming the option on bad input.

#include <cstdint>
#include <string>
#include <vector>

namespace shrink::cli {

/// Splits a comma list; an empty item is an error.
std::vector<std::string> split_list(const std::string& text, const std::string& what);
/// A whole decimal number (all of `text`). Subnormal numbers are accepted; a number that
/// underflows to zero or overflows to infinity is an error that says so.
double parse_double(const std::string& text, const std::string& what);
/// A whole signed integer (all of `text`).
std::int64_t parse_int(const std::string& text, const std::string& what);
/// A whole non-negative integer in [0, 2^64); a sign, even '+', is rejected.
std::uint64_t parse_unsigned(const std::string& text, const std::string& what);
/// A random seed, the same rule for every command: an integer from 0 to 2^64-1 written as plain
/// decimal digits. A sign, a fraction or an exponent (-1, 1.5, 1e20) is rejected, never wrapped
/// or rounded into another seed.
std::uint64_t parse_seed(const std::string& text, const std::string& what = "--seed");

/// Physical memory available to a new allocation now (MemAvailable of /proc/meminfo, else free
/// pages), in bytes; 0 when unknown.
double available_memory();
/// Throws "not enough memory for ROWS rows (needs X GB, Y GB available)" when `bytes` exceed
/// the available memory, so a too-large run stops with a clear message before allocating.
void require_memory(double bytes, std::uint64_t rows);

}  // namespace shrink::cli
