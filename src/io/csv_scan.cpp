#include "csv_scan.hpp"

#include "decimal.hpp"

#include <shrink/error.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SHRINK_SCAN_X86 1
#include <immintrin.h>
#else
#define SHRINK_SCAN_X86 0
#endif

namespace shrink::io {
namespace {

/// The classes of one 64-byte block's bytes: bit i for byte i.
struct block_masks {
  std::uint64_t structural = 0, digit = 0;
};

/// Where structural offsets go.
struct tally {
  std::uint32_t* structural = nullptr;  // room for 64 per block still to scan, and 8 more
  std::size_t structurals = 0;
};

/// Stores one block's bitmap words and adds up its counts. Always inlined, so that each level's
/// loop (compiled for its instruction set) gets its own copy, with popcnt where the level has it.
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
inline void record(const block_masks& m, std::uint32_t offset, std::uint64_t* non_digit, tally& t)
{
  // The offsets of the set bits: eight written whatever their number (most blocks have fewer),
  // the rest one by one. ctz of the bits with bit 63 set: defined when none are left (the
  // entries past the count are not used).
  std::uint64_t s = m.structural;
  std::uint32_t* out = t.structural + t.structurals;
  const auto count = static_cast<std::size_t>(__builtin_popcountll(s));
  for (int j = 0; j < 8; ++j) {
    out[j] = offset + static_cast<std::uint32_t>(__builtin_ctzll(s | (std::uint64_t{1} << 63)));
    s &= s - 1;
  }
  for (std::size_t j = 8; j < count; ++j) {
    out[j] = offset + static_cast<std::uint32_t>(__builtin_ctzll(s));
    s &= s - 1;
  }
  t.structurals += count;
  *non_digit = ~m.digit;
}

/// Scans `blocks` blocks of 64 bytes from p, the first at `offset` in the text.
using scan_blocks_fn = void (*)(const char* p, std::size_t blocks, std::uint32_t offset, char delimiter,
                                std::uint64_t* non_digit, tally& t);

/// The high bit of each byte of x that equals zero, exactly (no borrow between bytes).
inline std::uint64_t zero_bytes(std::uint64_t x)
{
  constexpr std::uint64_t low_7 = 0x7F7F7F7F7F7F7F7Full;
  return ~(((x & low_7) + low_7) | x | low_7);
}

/// The high bits of the bytes of h (0x80 or 0) as 8 bits, byte i to bit i.
inline std::uint64_t pack_high_bits(std::uint64_t h)
{
  return ((h & 0x8080808080808080ull) * 0x0002040810204081ull) >> 56;
}

/// Portable code (SWAR): 8 bytes a step, each byte tested exactly.
void scan_blocks_scalar(const char* p, std::size_t blocks, std::uint32_t offset, char delimiter,
                        std::uint64_t* non_digit, tally& t)
{
  constexpr std::uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  const std::uint64_t newline = ones * '\n', delim = ones * static_cast<unsigned char>(delimiter);
  for (std::size_t k = 0; k < blocks; ++k, p += 64) {
    block_masks m;
    for (int q = 0; q < 8; ++q) {
      std::uint64_t x;
      std::memcpy(&x, p + 8 * q, 8);  // little-endian assumed below: byte 0 is the first
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
      x = __builtin_bswap64(x);
#endif
      const std::uint64_t structural = zero_bytes(x ^ newline) | zero_bytes(x ^ delim);
      // '0'..'9': below 0x80, at least 0x30 ((x | 0x80) - 0x30 keeps the high bit) and not 0x3A
      // or more (x + 0x46 sets it); no borrow or carry leaves a byte.
      const std::uint64_t digit = ~x & ((x | high) - ones * 0x30) & ~((x & ~high) + ones * 0x46) & high;
      m.structural |= pack_high_bits(structural) << (8 * q);
      m.digit |= pack_high_bits(digit) << (8 * q);
    }
    record(m, offset + static_cast<std::uint32_t>(64 * k), non_digit + k, t);
  }
}

#if SHRINK_SCAN_X86

// SSE2 is part of x86-64 itself: no target attribute, and no popcnt (not every x86-64 has it).
void scan_blocks_sse2(const char* p, std::size_t blocks, std::uint32_t offset, char delimiter,
                      std::uint64_t* non_digit, tally& t)
{
  const __m128i newline = _mm_set1_epi8('\n'), delim = _mm_set1_epi8(delimiter);
  // Signed compares: bytes >= 0x80 are negative, so below '0' as they should be.
  const __m128i below_0 = _mm_set1_epi8('0' - 1), above_9 = _mm_set1_epi8('9' + 1);
  for (std::size_t k = 0; k < blocks; ++k, p += 64) {
    block_masks m;
    for (int q = 0; q < 4; ++q) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * q));
      const __m128i structural = _mm_or_si128(_mm_cmpeq_epi8(b, newline), _mm_cmpeq_epi8(b, delim));
      const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(b, below_0), _mm_cmplt_epi8(b, above_9));
      m.structural |= static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(structural))) << (16 * q);
      m.digit |= static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(digit))) << (16 * q);
    }
    record(m, offset + static_cast<std::uint32_t>(64 * k), non_digit + k, t);
  }
}

__attribute__((target("avx2,popcnt"))) void scan_blocks_avx2(const char* p, std::size_t blocks, std::uint32_t offset,
                                                              char delimiter, std::uint64_t* non_digit, tally& t)
{
  const __m256i newline = _mm256_set1_epi8('\n'), delim = _mm256_set1_epi8(delimiter);
  const __m256i below_0 = _mm256_set1_epi8('0' - 1), above_9 = _mm256_set1_epi8('9' + 1);
  for (std::size_t k = 0; k < blocks; ++k, p += 64) {
    block_masks m;
    for (int h = 0; h < 2; ++h) {
      const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * h));
      const __m256i structural = _mm256_or_si256(_mm256_cmpeq_epi8(b, newline), _mm256_cmpeq_epi8(b, delim));
      const __m256i digit = _mm256_and_si256(_mm256_cmpgt_epi8(b, below_0), _mm256_cmpgt_epi8(above_9, b));
      m.structural |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(structural))) << (32 * h);
      m.digit |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(digit))) << (32 * h);
    }
    record(m, offset + static_cast<std::uint32_t>(64 * k), non_digit + k, t);
  }
}

__attribute__((target("avx512f,avx512bw,popcnt"))) void scan_blocks_avx512(const char* p, std::size_t blocks,
                                                                            std::uint32_t offset, char delimiter,
                                                                            std::uint64_t* non_digit, tally& t)
{
  const __m512i newline = _mm512_set1_epi8('\n'), delim = _mm512_set1_epi8(delimiter);
  const __m512i digit_0 = _mm512_set1_epi8('0'), ten = _mm512_set1_epi8(10);
  for (std::size_t k = 0; k < blocks; ++k, p += 64) {
    const __m512i b = _mm512_loadu_si512(p);
    block_masks m;
    m.structural = _mm512_cmpeq_epi8_mask(b, newline) | _mm512_cmpeq_epi8_mask(b, delim);
    m.digit = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(b, digit_0), ten);  // unsigned: '0'..'9' only
    record(m, offset + static_cast<std::uint32_t>(64 * k), non_digit + k, t);
  }
}

/// number_from_small_decimal, eight lanes at a time: the same operations in the same order.
__attribute__((target("avx512f,avx512dq"))) void numbers_avx512(const std::uint64_t* mantissa,
                                                                 const std::uint8_t* scale, std::size_t n, double* hi,
                                                                 double* lo)
{
  alignas(64) static constexpr double pow10[32] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  alignas(64) static constexpr double inverse_pow10[32] = {1e0,   1e-1,  1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,
                                                           1e-8,  1e-9,  1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15,
                                                           1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22};
  const __m512i two_53 = _mm512_set1_epi64(std::int64_t{1} << 53), low_5 = _mm512_set1_epi64(31);
  const __m512i sign = _mm512_set1_epi64(std::int64_t{1} << 63);
  const __m512d two_64 = _mm512_set1_pd(18446744073709551616.0), splitter = _mm512_set1_pd(134217729.0);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m512i m = _mm512_loadu_si512(mantissa + i);
    // (The masked forms of the widening and the permutation: GCC 12 warns of the plain ones'
    // deliberately undefined source operand.)
    const __m512i s = _mm512_maskz_cvtepu8_epi64(0xFF, _mm_loadl_epi64(reinterpret_cast<const __m128i*>(scale + i)));
    const __m512i k = _mm512_and_si512(s, low_5);
    const __mmask8 negative = _mm512_test_epi64_mask(s, _mm512_set1_epi64(32));
    const __m512d m_hi = _mm512_cvtepu64_pd(m);
    // m_lo = mantissa - m_hi exactly where the mantissa has more than 53 bits, else +0.
    const __mmask8 big = _mm512_cmpge_epu64_mask(m, two_53);
    const __mmask8 below_2_64 = _mm512_cmp_pd_mask(m_hi, two_64, _CMP_LT_OQ);
    const __m512i rounded = _mm512_maskz_mov_epi64(below_2_64, _mm512_cvttpd_epu64(m_hi));
    const __m512d m_lo = _mm512_maskz_mov_pd(big, _mm512_cvtepi64_pd(_mm512_sub_epi64(m, rounded)));
    const __m512d p = _mm512_permutex2var_pd(_mm512_load_pd(pow10), k, _mm512_load_pd(pow10 + 8));
    const __m512d p_hi = _mm512_maskz_permutexvar_pd(0xFF, k, _mm512_load_pd(pow10 + 16));
    const __mmask8 upper = _mm512_cmpge_epu64_mask(k, _mm512_set1_epi64(16));
    const __m512d ten_k = _mm512_mask_mov_pd(p, upper, p_hi);
    const __m512d inv = _mm512_mask_mov_pd(
      _mm512_permutex2var_pd(_mm512_load_pd(inverse_pow10), k, _mm512_load_pd(inverse_pow10 + 8)), upper,
      _mm512_maskz_permutexvar_pd(0xFF, k, _mm512_load_pd(inverse_pow10 + 16)));
    const __m512d q1 = _mm512_div_pd(m_hi, ten_k);
    // two_prod(q1, ten_k, a, b), Dekker's product as in decimal.hpp.
    const __m512d a = _mm512_mul_pd(q1, ten_k);
    const __m512d ta = _mm512_mul_pd(splitter, q1), tb = _mm512_mul_pd(splitter, ten_k);
    const __m512d ah = _mm512_sub_pd(ta, _mm512_sub_pd(ta, q1)), al = _mm512_sub_pd(q1, ah);
    const __m512d bh = _mm512_sub_pd(tb, _mm512_sub_pd(tb, ten_k)), bl = _mm512_sub_pd(ten_k, bh);
    const __m512d b = _mm512_add_pd(
      _mm512_add_pd(_mm512_add_pd(_mm512_sub_pd(_mm512_mul_pd(ah, bh), a), _mm512_mul_pd(ah, bl)), _mm512_mul_pd(al, bh)),
      _mm512_mul_pd(al, bl));
    const __m512d q2 = _mm512_mul_pd(_mm512_add_pd(_mm512_sub_pd(_mm512_sub_pd(m_hi, a), b), m_lo), inv);
    const __m512d h = _mm512_add_pd(q1, q2);
    const __m512d l = _mm512_sub_pd(q2, _mm512_sub_pd(h, q1));
    // Negation flips the sign bit, as -x does.
    _mm512_storeu_pd(hi + i, _mm512_castsi512_pd(_mm512_mask_xor_epi64(_mm512_castpd_si512(h), negative, _mm512_castpd_si512(h), sign)));
    _mm512_storeu_pd(lo + i, _mm512_castsi512_pd(_mm512_mask_xor_epi64(_mm512_castpd_si512(l), negative, _mm512_castpd_si512(l), sign)));
  }
  for (; i < n; ++i) {
    exact_number v;
    number_from_small_decimal(mantissa[i], scale[i] & 31, (scale[i] & 32) != 0, v);
    hi[i] = v.hi;
    lo[i] = v.lo;
  }
}

/// number_from_small_decimal, four lanes at a time with AVX2, which has no conversions between
/// 64-bit integers and doubles: they are made exactly from 32-bit halves (below).
__attribute__((target("avx2"))) void numbers_avx2(const std::uint64_t* mantissa, const std::uint8_t* scale,
                                                   std::size_t n, double* hi, double* lo)
{
  static constexpr double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  static constexpr double inverse_pow10[] = {1e0,   1e-1,  1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,
                                             1e-8,  1e-9,  1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15,
                                             1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22};
  const __m256i low_32 = _mm256_set1_epi64x(0xFFFFFFFF);
  const __m256i exponent_52 = _mm256_castpd_si256(_mm256_set1_pd(4503599627370496.0));          // 2^52
  const __m256i exponent_84 = _mm256_castpd_si256(_mm256_set1_pd(19342813113834066795298816.0));  // 2^84
  const __m256d two_84_52 = _mm256_set1_pd(19342813118337666422669312.0);                         // 2^84 + 2^52
  const __m256d splitter = _mm256_set1_pd(134217729.0);
  const __m256i sign = _mm256_set1_epi64x(std::int64_t{1} << 63), zero = _mm256_setzero_si256();
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(mantissa + i));
    std::uint32_t packed;
    std::memcpy(&packed, scale + i, 4);
    const __m256i s = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128(static_cast<int>(packed)));
    const __m256i k = _mm256_and_si256(s, _mm256_set1_epi64x(31));
    const __m256i negative = _mm256_cmpeq_epi64(_mm256_and_si256(s, _mm256_set1_epi64x(32)), _mm256_set1_epi64x(32));
    // The halves as exact doubles (2^84 + high 2^32 and 2^52 + low, by their bits); the first
    // subtraction is exact, the sum rounds once: the correctly rounded m, as the scalar
    // conversion gives.
    const __m256d high = _mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(m, 32), exponent_84));
    const __m256d low = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(m, low_32), exponent_52)),
                                      _mm256_set1_pd(4503599627370496.0));
    const __m256d high_exact = _mm256_sub_pd(high, two_84_52);  // high 32 bits x 2^32 + ... - 2^52, exact
    const __m256d m_hi = _mm256_add_pd(high_exact, _mm256_add_pd(low, _mm256_set1_pd(4503599627370496.0)));
    // m - m_hi exactly where m has more than 53 bits (integers below 2^53 apart: each step exact),
    // else +0 as in the scalar code.
    const __m256d high_part = _mm256_add_pd(high_exact, _mm256_set1_pd(4503599627370496.0));  // high 32 bits x 2^32
    const __m256d residual = _mm256_add_pd(_mm256_sub_pd(high_part, m_hi), low);
    const __m256i small = _mm256_cmpeq_epi64(_mm256_srli_epi64(m, 53), zero);
    const __m256d m_lo = _mm256_andnot_pd(_mm256_castsi256_pd(small), residual);
    const __m256d ten_k = _mm256_i64gather_pd(pow10, k, 8);
    const __m256d inv = _mm256_i64gather_pd(inverse_pow10, k, 8);
    const __m256d q1 = _mm256_div_pd(m_hi, ten_k);
    const __m256d a = _mm256_mul_pd(q1, ten_k);
    const __m256d ta = _mm256_mul_pd(splitter, q1), tb = _mm256_mul_pd(splitter, ten_k);
    const __m256d ah = _mm256_sub_pd(ta, _mm256_sub_pd(ta, q1)), al = _mm256_sub_pd(q1, ah);
    const __m256d bh = _mm256_sub_pd(tb, _mm256_sub_pd(tb, ten_k)), bl = _mm256_sub_pd(ten_k, bh);
    const __m256d b = _mm256_add_pd(
      _mm256_add_pd(_mm256_add_pd(_mm256_sub_pd(_mm256_mul_pd(ah, bh), a), _mm256_mul_pd(ah, bl)), _mm256_mul_pd(al, bh)),
      _mm256_mul_pd(al, bl));
    const __m256d q2 = _mm256_mul_pd(_mm256_add_pd(_mm256_sub_pd(_mm256_sub_pd(m_hi, a), b), m_lo), inv);
    const __m256d h = _mm256_add_pd(q1, q2);
    const __m256d l = _mm256_sub_pd(q2, _mm256_sub_pd(h, q1));
    const __m256d flip = _mm256_castsi256_pd(_mm256_and_si256(negative, sign));
    _mm256_storeu_pd(hi + i, _mm256_xor_pd(h, flip));
    _mm256_storeu_pd(lo + i, _mm256_xor_pd(l, flip));
  }
  for (; i < n; ++i) {
    exact_number v;
    number_from_small_decimal(mantissa[i], scale[i] & 31, (scale[i] & 32) != 0, v);
    hi[i] = v.hi;
    lo[i] = v.lo;
  }
}

#endif

std::atomic<int> forced_level{-1};

scan_blocks_fn scanner_for(simd_level level)
{
  switch (level) {
#if SHRINK_SCAN_X86
    case simd_level::avx512: return scan_blocks_avx512;
    case simd_level::avx2: return scan_blocks_avx2;
    case simd_level::sse2: return scan_blocks_sse2;
#endif
    default: return scan_blocks_scalar;
  }
}

}  // namespace

simd_level active_simd_level()
{
  const int forced = forced_level.load(std::memory_order_relaxed);
  return forced >= 0 ? static_cast<simd_level>(forced) : detail::simd_level_requested();
}

void force_simd_level(simd_level level)
{
  if (!detail::simd_supported(level))
    throw error(std::string("SIMD level ") + detail::simd_name(level) + " is not supported here");
  forced_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

void scan_structure(const char* begin, std::size_t size, char delimiter, scan_bitmaps& out)
{
  const std::size_t words = (size + 63) / 64, full = size / 64;
  out.non_digit.resize(words + 1);
  out.size = size;
  const scan_blocks_fn scan = scanner_for(active_simd_level());
  tally t;
  // Batches of 1024 blocks: the offsets' array grows by what the text holds, not 64 per block.
  constexpr std::size_t batch = 1024;
  auto make_room = [&](std::size_t blocks) {
    const std::size_t needed = t.structurals + 64 * blocks + 8;
    if (out.structural.size() < needed) out.structural.resize(std::max(needed, out.structural.size() * 3 / 2));
    t.structural = out.structural.data();
  };
  for (std::size_t k = 0; k < full; k += batch) {
    const std::size_t blocks = std::min(batch, full - k);
    make_room(blocks);
    scan(begin + 64 * k, blocks, static_cast<std::uint32_t>(64 * k), delimiter, out.non_digit.data() + k, t);
  }
  if (full < words) {
    // The last partial block, padded with digits: they are neither structural nor counted.
    char tail[64];
    std::memset(tail, '0', sizeof tail);
    std::memcpy(tail, begin + 64 * full, size - 64 * full);
    make_room(1);
    scan(tail, 1, static_cast<std::uint32_t>(64 * full), delimiter, out.non_digit.data() + full, t);
  }
  out.non_digit[words] = 0;
  // Two sentinels: a reader may look at the offsets of a row's delimiter and line end unchecked.
  out.structurals = t.structurals;
  out.structural[t.structurals] = static_cast<std::uint32_t>(size);
  out.structural[t.structurals + 1] = static_cast<std::uint32_t>(size);
}

void numbers_from_small_decimals(const std::uint64_t* mantissa, const std::uint8_t* scale, std::size_t n, double* hi,
                                 double* lo)
{
#if SHRINK_SCAN_X86
  if (active_simd_level() == simd_level::avx512) {
    numbers_avx512(mantissa, scale, n, hi, lo);
    return;
  }
  if (active_simd_level() == simd_level::avx2) {
    numbers_avx2(mantissa, scale, n, hi, lo);
    return;
  }
#endif
  for (std::size_t i = 0; i < n; ++i) {
    exact_number v;
    number_from_small_decimal(mantissa[i], scale[i] & 31, (scale[i] & 32) != 0, v);
    hi[i] = v.hi;
    lo[i] = v.lo;
  }
}

}  // namespace shrink::io
