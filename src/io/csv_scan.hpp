#pragma once
// The structural scan of CSV text, 64 bytes a step: bitmaps of where the delimiters and line ends
// are and of which bytes are not digits, so that the fast row parser (table_reader.cpp) knows each
// field's boundaries before it reads the field, and reads digits without a branch per byte.
//
// The instruction set is chosen at run time from the CPU's features (AVX-512BW, AVX2, SSE2, or
// portable code on other CPUs), so one x86-64 binary runs anywhere and uses AVX-512 where it is
// present. Every level gives the same bitmaps and counts, bit for bit (tests/io/csv_scan_test.cpp).

#include "../cpu/simd_level.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace shrink::io {

using detail::simd_level;  // src/cpu/simd_level.hpp

/// The level the scan uses: the best one supported, or the one SHRINK_SIMD names (simd_level.hpp:
/// read once; an unknown level or one this CPU lacks is an error).
simd_level active_simd_level();

/// For tests: scan with `level` from now on (it must be supported).
void force_simd_level(simd_level level);

/// What scan_structure found in [begin, begin + size): the offsets of the structural bytes, and a
/// bitmap of the bytes that are not digits (bit i of word w: byte 64 w + i; bits past `size` are
/// 0, and one more zero word follows the last, so that a reader may always load the word after
/// the one it is in).
struct scan_bitmaps {
  std::vector<std::uint32_t> structural;  ///< offsets of the delimiters and '\n' in order, then 2 x size
  std::size_t structurals = 0;            ///< how many (the entries before the two `size`s)
  std::vector<std::uint64_t> non_digit;   ///< anything but '0'..'9'
  std::size_t size = 0;                   ///< bytes scanned
};

/// Fills `out` for the `size` (< 2^32 - 64) bytes at `begin` (nothing past them is read). Memory
/// follows `size`: callers scan a long text in batches.
void scan_structure(const char* begin, std::size_t size, char delimiter, scan_bitmaps& out);

/// number_from_small_decimal (decimal.hpp) for n numbers: value i is (-1)^negative mantissa[i] /
/// 10^k with k = scale[i] & 31 (at most 22) and negative = scale[i] & 32. Eight at a time with
/// AVX-512 (each operation the scalar code's, rounded alike: the same bits), else one at a time.
void numbers_from_small_decimals(const std::uint64_t* mantissa, const std::uint8_t* scale, std::size_t n, double* hi,
                                 double* lo);

}  // namespace shrink::io
