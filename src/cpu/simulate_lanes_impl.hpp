// The SIMD kernels of simulate_lanes.hpp, written once over a register type V (avx2_ops or
// avx512_ops below) and instantiated by simulate_lanes_avx2.cpp and simulate_lanes_avx512.cpp, each
// compiled for its instruction set. Everything here has internal linkage (an unnamed namespace),
// so no function built for AVX-512 can stand in for a portable one at link time; and nothing here
// calls outside it.
//
// Each step is the scalar formula of src/common/philox.hpp and simulate_formulas.hpp (the count
// families: count_samplers.hpp, portable_log.hpp and special.hpp's exp) on V::width groups at once,
// operation for operation (the comments name the scalar lines): same bits. The count samplers'
// rejection loops run per lane under masks, a lane that has accepted keeping its draw while the
// others take their next Philox call, so each draw stays a function of its own stream.

#include "simulate_lanes.hpp"

#include "../common/philox.hpp"   // constants only: no function of these headers is called here
#include "../common/special.hpp"

#include <immintrin.h>

#include <cstdint>

namespace shrink::detail::sim {
namespace {

#if defined(__AVX512F__) && defined(__AVX512DQ__)
/// 8 doubles / 8 64-bit words a register.
struct avx512_ops {
  static constexpr int width = 8;
  using d = __m512d;
  using u = __m512i;
  using mask = __mmask8;
  static d set(double x) { return _mm512_set1_pd(x); }
  static u set(std::uint64_t x) { return _mm512_set1_epi64(static_cast<long long>(x)); }
  static u iota() { return _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0); }
  static d load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, d x) { _mm512_storeu_pd(p, x); }
  static u load32(const std::uint32_t* p) { return _mm512_cvtepu32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static d int32_to_double(const std::int32_t* p) { return _mm512_cvtepi32_pd(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static d add(d a, d b) { return _mm512_add_pd(a, b); }
  static d sub(d a, d b) { return _mm512_sub_pd(a, b); }
  static d mul(d a, d b) { return _mm512_mul_pd(a, b); }
  static d div(d a, d b) { return _mm512_div_pd(a, b); }
  static d sqrt(d a) { return _mm512_sqrt_pd(a); }
  static u add(u a, u b) { return _mm512_add_epi64(a, b); }
  static u sub(u a, u b) { return _mm512_sub_epi64(a, b); }
  static u bit_and(u a, u b) { return _mm512_and_si512(a, b); }
  static u bit_or(u a, u b) { return _mm512_or_si512(a, b); }
  static u bit_xor(u a, u b) { return _mm512_xor_si512(a, b); }
  static u xor3(u a, u b, u c) { return _mm512_ternarylogic_epi64(a, b, c, 0x96); }
  template <int k> static u shl(u a) { return _mm512_slli_epi64(a, k); }
  template <int k> static u shr(u a) { return _mm512_srli_epi64(a, k); }
  /// Low 32 bits of each word times low 32 bits: the 64-bit products.
  static u mul32(u a, u b) { return _mm512_mul_epu32(a, b); }
  static d as_double(u a) { return _mm512_castsi512_pd(a); }
  static u as_bits(d a) { return _mm512_castpd_si512(a); }
  /// where the sign bit of `sel` is set: a, else b.
  static d select_by_sign(u sel, d a, d b) { return _mm512_mask_blend_pd(_mm512_movepi64_mask(sel), b, a); }
  static mask less_equal(d a, d b) { return _mm512_cmp_pd_mask(a, b, _CMP_LE_OQ); }
  /// x where m, else +0.
  static d keep(mask m, d x) { return _mm512_maskz_mov_pd(m, x); }
  /// All lanes below `count` (count < width).
  static mask first(int count) { return static_cast<mask>((1u << count) - 1u); }
  static mask less(d a, d b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
  static mask equal(d a, d b) { return _mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ); }
  /// Bit l set where lane l of m is true.
  static unsigned bits(mask m) { return m; }
  /// where m: a, else b.
  static d select(mask m, d a, d b) { return _mm512_mask_blend_pd(m, b, a); }
  static d floor(d a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  /// Truncation towards 0 of |a| < 2^31 (through int32, as static_cast<int>).
  static d trunc_small(d a) { return _mm512_cvtepi32_pd(_mm512_cvttpd_epi32(a)); }
  static mask both(mask a, mask b) { return static_cast<mask>(a & b); }
  /// The mask of lanes l with bit l of b set.
  static mask from_bits(unsigned b) { return static_cast<mask>(b); }
};
#endif

#if defined(__AVX2__)
/// 4 doubles / 4 64-bit words a register.
struct avx2_ops {
  static constexpr int width = 4;
  using d = __m256d;
  using u = __m256i;
  using mask = __m256d;  // all ones where true
  static d set(double x) { return _mm256_set1_pd(x); }
  static u set(std::uint64_t x) { return _mm256_set1_epi64x(static_cast<long long>(x)); }
  static u iota() { return _mm256_set_epi64x(3, 2, 1, 0); }
  static d load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, d x) { _mm256_storeu_pd(p, x); }
  static u load32(const std::uint32_t* p) { return _mm256_cvtepu32_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static d int32_to_double(const std::int32_t* p) { return _mm256_cvtepi32_pd(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static d add(d a, d b) { return _mm256_add_pd(a, b); }
  static d sub(d a, d b) { return _mm256_sub_pd(a, b); }
  static d mul(d a, d b) { return _mm256_mul_pd(a, b); }
  static d div(d a, d b) { return _mm256_div_pd(a, b); }
  static d sqrt(d a) { return _mm256_sqrt_pd(a); }
  static u add(u a, u b) { return _mm256_add_epi64(a, b); }
  static u sub(u a, u b) { return _mm256_sub_epi64(a, b); }
  static u bit_and(u a, u b) { return _mm256_and_si256(a, b); }
  static u bit_or(u a, u b) { return _mm256_or_si256(a, b); }
  static u bit_xor(u a, u b) { return _mm256_xor_si256(a, b); }
  static u xor3(u a, u b, u c) { return _mm256_xor_si256(_mm256_xor_si256(a, b), c); }
  template <int k> static u shl(u a) { return _mm256_slli_epi64(a, k); }
  template <int k> static u shr(u a) { return _mm256_srli_epi64(a, k); }
  static u mul32(u a, u b) { return _mm256_mul_epu32(a, b); }
  static d as_double(u a) { return _mm256_castsi256_pd(a); }
  static u as_bits(d a) { return _mm256_castpd_si256(a); }
  static d select_by_sign(u sel, d a, d b) { return _mm256_blendv_pd(b, a, _mm256_castsi256_pd(sel)); }
  static mask less_equal(d a, d b) { return _mm256_cmp_pd(a, b, _CMP_LE_OQ); }
  static d keep(mask m, d x) { return _mm256_and_pd(m, x); }
  static mask first(int count)
  {
    const __m256i lanes = _mm256_set_epi64x(3, 2, 1, 0);
    return _mm256_castsi256_pd(_mm256_cmpgt_epi64(_mm256_set1_epi64x(count), lanes));
  }
  static mask less(d a, d b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
  static mask equal(d a, d b) { return _mm256_cmp_pd(a, b, _CMP_EQ_OQ); }
  static unsigned bits(mask m) { return static_cast<unsigned>(_mm256_movemask_pd(m)); }
  static d select(mask m, d a, d b) { return _mm256_blendv_pd(b, a, m); }
  static d floor(d a) { return _mm256_round_pd(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static d trunc_small(d a) { return _mm256_cvtepi32_pd(_mm256_cvttpd_epi32(a)); }
  static mask both(mask a, mask b) { return _mm256_and_pd(a, b); }
  static mask from_bits(unsigned b)
  {
    const __m256i lane = _mm256_set_epi64x(8, 4, 2, 1);
    return _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x(b), lane), lane));
  }
};
#endif

/// Philox4x32-10 of the counters (0, c1, c2, c3), key (k0, k1), where only c1 differs between
/// lanes: the words that do not depend on c1 are worked out once per block (plan_of), which
/// leaves 1, 1 and 2 of the first three rounds' 6 lane multiplies to the lanes.
struct philox_plan {
  std::uint64_t x0_1;        ///< round 1: x0 = c1 ^ x0_1
  std::uint64_t x1_2;        ///< round 2: x1 (lane-independent)
  std::uint64_t x2_2;        ///< round 2: x2 = hi(m0 x0) ^ x2_2
  std::uint64_t x0_3;        ///< round 3: x0 = hi(m1 x2) ^ x0_3
  std::uint64_t x2_3;        ///< round 3: x2 = x3 ^ x2_3
  std::uint64_t x2_4;        ///< round 4: x2 = hi(m0 x0) ^ x2_4
  std::uint64_t k0[10], k1[10];  ///< the round keys
  std::uint32_t c2, c3;          ///< the counter's words 2 and 3
};

inline philox_plan plan_of(std::uint32_t c2, std::uint32_t c3, std::uint32_t k0, std::uint32_t k1)
{
  using namespace philox_constants;
  philox_plan p{};
  p.c2 = c2;
  p.c3 = c3;
  for (int r = 0; r < 10; ++r) {
    p.k0[r] = k0 + static_cast<std::uint32_t>(r) * w0;
    p.k1[r] = k1 + static_cast<std::uint32_t>(r) * w1;
  }
  const auto hi = [](std::uint64_t x) { return static_cast<std::uint32_t>(x >> 32); };
  const auto lo = [](std::uint64_t x) { return static_cast<std::uint32_t>(x); };
  // Round 1 on (0, c1, c2, c3): m0 * 0 = 0; x = {hi(m1 c2) ^ c1 ^ k0, lo(m1 c2), c3 ^ k1, 0}.
  const std::uint64_t q1 = std::uint64_t{m1} * c2;
  p.x0_1 = hi(q1) ^ static_cast<std::uint32_t>(p.k0[0]);
  const std::uint32_t x1_1 = lo(q1), x2_1 = c3 ^ static_cast<std::uint32_t>(p.k1[0]);
  // Round 2: m0 x0 in the lanes, m1 x2 here; x = {hi(m1 x2) ^ x1 ^ k0, lo(m1 x2), hi(m0 x0) ^ 0 ^ k1, lo(m0 x0)}.
  const std::uint64_t q2 = std::uint64_t{m1} * x2_1;
  const std::uint32_t x0_2 = hi(q2) ^ x1_1 ^ static_cast<std::uint32_t>(p.k0[1]);
  p.x1_2 = lo(q2);
  p.x2_2 = static_cast<std::uint32_t>(p.k1[1]);
  // Round 3: m0 x0 here, m1 x2 in the lanes; x = {hi(m1 x2) ^ x1 ^ k0, lo(m1 x2), hi(m0 x0) ^ x3 ^ k1, lo(m0 x0)}.
  const std::uint64_t q3 = std::uint64_t{m0} * x0_2;
  p.x0_3 = p.x1_2 ^ static_cast<std::uint32_t>(p.k0[2]);
  p.x2_3 = hi(q3) ^ static_cast<std::uint32_t>(p.k1[2]);
  // Round 4: both products in the lanes; x3 = lo(q3) is still lane-independent.
  p.x2_4 = lo(q3) ^ static_cast<std::uint32_t>(p.k1[3]);
  return p;
}

#if defined(__SSE2__)
/// 2 doubles / 2 64-bit words a register: every x86-64 machine.
struct sse2_ops {
  static constexpr int width = 2;
  using d = __m128d;
  using u = __m128i;
  using mask = __m128d;  // all ones where true
  static d set(double x) { return _mm_set1_pd(x); }
  static u set(std::uint64_t x) { return _mm_set1_epi64x(static_cast<long long>(x)); }
  static u iota() { return _mm_set_epi64x(1, 0); }
  static d load(const double* p) { return _mm_loadu_pd(p); }
  static void store(double* p, d x) { _mm_storeu_pd(p, x); }
  static u load32(const std::uint32_t* p)
  {
    return _mm_unpacklo_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), _mm_setzero_si128());
  }
  static d int32_to_double(const std::int32_t* p) { return _mm_cvtepi32_pd(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
  static d add(d a, d b) { return _mm_add_pd(a, b); }
  static d sub(d a, d b) { return _mm_sub_pd(a, b); }
  static d mul(d a, d b) { return _mm_mul_pd(a, b); }
  static d div(d a, d b) { return _mm_div_pd(a, b); }
  static d sqrt(d a) { return _mm_sqrt_pd(a); }
  static u add(u a, u b) { return _mm_add_epi64(a, b); }
  static u sub(u a, u b) { return _mm_sub_epi64(a, b); }
  static u bit_and(u a, u b) { return _mm_and_si128(a, b); }
  static u bit_or(u a, u b) { return _mm_or_si128(a, b); }
  static u bit_xor(u a, u b) { return _mm_xor_si128(a, b); }
  static u xor3(u a, u b, u c) { return _mm_xor_si128(_mm_xor_si128(a, b), c); }
  template <int k> static u shl(u a) { return _mm_slli_epi64(a, k); }
  template <int k> static u shr(u a) { return _mm_srli_epi64(a, k); }
  static u mul32(u a, u b) { return _mm_mul_epu32(a, b); }
  static d as_double(u a) { return _mm_castsi128_pd(a); }
  static u as_bits(d a) { return _mm_castpd_si128(a); }
  static d select_by_sign(u sel, d a, d b)
  {
    // The sign bit spread over its 64-bit word: the high halves' arithmetic shift, copied low.
    const d m = _mm_castsi128_pd(_mm_shuffle_epi32(_mm_srai_epi32(sel, 31), _MM_SHUFFLE(3, 3, 1, 1)));
    return _mm_or_pd(_mm_and_pd(m, a), _mm_andnot_pd(m, b));
  }
  static mask less_equal(d a, d b) { return _mm_cmple_pd(a, b); }
  static d keep(mask m, d x) { return _mm_and_pd(m, x); }
  static mask first(int count) { return _mm_castsi128_pd(_mm_set_epi64x(0, count > 0 ? -1 : 0)); }
  static mask less(d a, d b) { return _mm_cmplt_pd(a, b); }
  static mask equal(d a, d b) { return _mm_cmpeq_pd(a, b); }
  static unsigned bits(mask m) { return static_cast<unsigned>(_mm_movemask_pd(m)); }
  static d select(mask m, d a, d b) { return _mm_or_pd(_mm_and_pd(m, a), _mm_andnot_pd(m, b)); }
  /// std::floor without SSE4.1: |a| rounded to a whole number by adding and taking away 2^52 (exact
  /// below 2^52), given a's sign, less 1 where that rounded up; from 2^52 on a is whole already.
  static d floor(d a)
  {
    const d sign = _mm_set1_pd(-0.0), big = _mm_set1_pd(0x1p52);
    const d magnitude = _mm_andnot_pd(sign, a);
    d t = _mm_sub_pd(_mm_add_pd(magnitude, big), big);
    t = _mm_or_pd(t, _mm_and_pd(sign, a));
    t = _mm_sub_pd(t, _mm_and_pd(_mm_cmpgt_pd(t, a), _mm_set1_pd(1.0)));
    return select(_mm_cmplt_pd(magnitude, big), t, a);
  }
  static d trunc_small(d a) { return _mm_cvtepi32_pd(_mm_cvttpd_epi32(a)); }
  static mask both(mask a, mask b) { return _mm_and_pd(a, b); }
  static mask from_bits(unsigned b)
  {
    const __m128i lane = _mm_set_epi32(2, 2, 1, 1);  // both halves of each 64-bit lane
    return _mm_castsi128_pd(_mm_cmpeq_epi32(_mm_and_si128(_mm_set1_epi32(static_cast<int>(b)), lane), lane));
  }
};
#endif

/// Two registers of V as one: the draws of 2 V::width groups at once, their instructions
/// interleaved, so that the out-of-order core has independent dependency chains (Philox's rounds,
/// the logarithm's division, the square root) to overlap.
template <class V>
struct twice {
  static constexpr int width = 2 * V::width;
  struct d {
    typename V::d h[2];
  };
  struct u {
    typename V::u h[2];
  };
  template <class R, class F, class... A>
  static R both(F f, const A&... a)
  {
    return R{{f(a.h[0]...), f(a.h[1]...)}};
  }
  static d set(double x) { return d{{V::set(x), V::set(x)}}; }
  static u set(std::uint64_t x) { return u{{V::set(x), V::set(x)}}; }
  static u iota() { return u{{V::iota(), V::add(V::iota(), V::set(std::uint64_t{V::width}))}}; }
  static d add(d a, d b) { return both<d>([](auto x, auto y) { return V::add(x, y); }, a, b); }
  static d sub(d a, d b) { return both<d>([](auto x, auto y) { return V::sub(x, y); }, a, b); }
  static d mul(d a, d b) { return both<d>([](auto x, auto y) { return V::mul(x, y); }, a, b); }
  static d div(d a, d b) { return both<d>([](auto x, auto y) { return V::div(x, y); }, a, b); }
  static d sqrt(d a) { return both<d>([](auto x) { return V::sqrt(x); }, a); }
  static u add(u a, u b) { return both<u>([](auto x, auto y) { return V::add(x, y); }, a, b); }
  static u sub(u a, u b) { return both<u>([](auto x, auto y) { return V::sub(x, y); }, a, b); }
  static u bit_and(u a, u b) { return both<u>([](auto x, auto y) { return V::bit_and(x, y); }, a, b); }
  static u bit_or(u a, u b) { return both<u>([](auto x, auto y) { return V::bit_or(x, y); }, a, b); }
  static u bit_xor(u a, u b) { return both<u>([](auto x, auto y) { return V::bit_xor(x, y); }, a, b); }
  static u xor3(u a, u b, u c) { return both<u>([](auto x, auto y, auto z) { return V::xor3(x, y, z); }, a, b, c); }
  template <int k> static u shl(u a) { return both<u>([](auto x) { return V::template shl<k>(x); }, a); }
  template <int k> static u shr(u a) { return both<u>([](auto x) { return V::template shr<k>(x); }, a); }
  static u mul32(u a, u b) { return both<u>([](auto x, auto y) { return V::mul32(x, y); }, a, b); }
  static d as_double(u a) { return both<d>([](auto x) { return V::as_double(x); }, a); }
  static u as_bits(d a) { return both<u>([](auto x) { return V::as_bits(x); }, a); }
  static d select_by_sign(u sel, d a, d b)
  {
    return both<d>([](auto s, auto x, auto y) { return V::select_by_sign(s, x, y); }, sel, a, b);
  }
};

/// The draws' arithmetic over registers V (avx2_ops, avx512_ops or twice of them).
template <class V>
struct draw_math {
  using d = typename V::d;
  using u = typename V::u;

  /// The four words, clean 32-bit values in 64-bit lanes. Between rounds the low halves of the
  /// products keep garbage above bit 31 (mul32 reads only the low 32 bits and xors keep the low 32
  /// exact); the words are masked at the end.
  static void philox(u c1, const philox_plan& p, u (&w)[4])
  {
    using namespace philox_constants;
    const u m0v = V::set(std::uint64_t{m0}), m1v = V::set(std::uint64_t{m1});
    // Round 1.
    u x0 = V::bit_xor(c1, V::set(p.x0_1));
    // Round 2.
    u q = V::mul32(m0v, x0);
    u x2 = V::bit_xor(V::template shr<32>(q), V::set(p.x2_2));
    u x3 = q;
    // Round 3.
    q = V::mul32(m1v, x2);
    x0 = V::bit_xor(V::template shr<32>(q), V::set(p.x0_3));
    u x1 = q;
    x2 = V::bit_xor(x3, V::set(p.x2_3));
    // Round 4.
    {
      const u p0 = V::mul32(m0v, x0), p1 = V::mul32(m1v, x2);
      x0 = V::xor3(V::template shr<32>(p1), x1, V::set(p.k0[3]));
      x1 = p1;
      x2 = V::bit_xor(V::template shr<32>(p0), V::set(p.x2_4));
      x3 = p0;
    }
    // Rounds 5-10: ctr = {hi1 ^ w1 ^ k0, lo1, hi0 ^ w3 ^ k1, lo0}.
    for (int round = 4; round < 10; ++round) philox_round(m0v, m1v, p.k0[round], p.k1[round], x0, x1, x2, x3);
    low_words(x0, x1, x2, x3, w);
  }

  /// The words of call `call` (counter word 0) of the plan's streams: all ten rounds in the lanes.
  static void philox_at(std::uint32_t call, u c1, const philox_plan& p, u (&w)[4])
  {
    using namespace philox_constants;
    const u m0v = V::set(std::uint64_t{m0}), m1v = V::set(std::uint64_t{m1});
    u x0 = V::set(std::uint64_t{call}), x1 = c1, x2 = V::set(std::uint64_t{p.c2}), x3 = V::set(std::uint64_t{p.c3});
    for (int round = 0; round < 10; ++round) philox_round(m0v, m1v, p.k0[round], p.k1[round], x0, x1, x2, x3);
    low_words(x0, x1, x2, x3, w);
  }

  /// Hormann's transformed rejection (BTRS, PTRS) from one call's words: U - 1/2, V and 1/2 - |U - 1/2|.
  static void transformed_rejection_uniforms(const u (&w)[4], d& uu, d& v, d& us)
  {
    const d half = V::set(0.5);
    uu = V::sub(uniform_of_bits(bits52(w[0], w[1])), half);
    v = uniform_of_bits(bits52(w[2], w[3]));
    us = V::sub(half, V::as_double(V::bit_and(V::as_bits(uu), V::set(std::uint64_t{0x7FFFFFFFFFFFFFFFull}))));
  }

  /// One Philox-4x32 round with keys (k0, k1): the products' high halves xored into the other words.
  static void philox_round(u m0v, u m1v, std::uint64_t k0, std::uint64_t k1, u& x0, u& x1, u& x2, u& x3)
  {
    const u p0 = V::mul32(m0v, x0), p1 = V::mul32(m1v, x2);
    x0 = V::xor3(V::template shr<32>(p1), x1, V::set(k0));
    x1 = p1;
    x2 = V::xor3(V::template shr<32>(p0), x3, V::set(k1));
    x3 = p0;
  }

  /// The words' low 32 bits (the rounds leave garbage above them).
  static void low_words(u x0, u x1, u x2, u x3, u (&w)[4])
  {
    const u low = V::set(std::uint64_t{0xFFFFFFFFu});
    w[0] = V::bit_and(x0, low);
    w[1] = V::bit_and(x1, low);
    w[2] = V::bit_and(x2, low);
    w[3] = V::bit_and(x3, low);
  }

  /// bits52(hi, lo) = (hi << 20) ^ (lo >> 12) of clean 32-bit words.
  static u bits52(u hi, u lo) { return V::bit_xor(V::template shl<20>(hi), V::template shr<12>(lo)); }

  /// double_of_small(i) = double_of(bits_of(1.5 * 2^52) + i) - 1.5 * 2^52 (two's complement add;
  /// 0x4338... is the bit pattern of 1.5 * 2^52).
  static d double_of_small(u i)
  {
    return V::sub(V::as_double(V::add(V::set(std::uint64_t{0x4338000000000000ull}), i)), V::set(0x1.8p52));
  }

  /// uniform_of_bits: (double_of(0x3FF0... | b) - 1.0) + 2^-53.
  static d uniform_of_bits(u b)
  {
    return V::add(V::sub(V::as_double(V::bit_or(V::set(std::uint64_t{0x3FF0000000000000ull}), b)), V::set(1.0)),
                  V::set(0x1p-53));
  }

  /// log_unit(u): philox.hpp's, step for step.
  static d log_unit(d x)
  {
    using namespace fdlibm;
    const u b = V::as_bits(x);
    // high = (((b >> 32) & 0xFFFFF) + 0x95F64) >> 20
    const u high = V::template shr<20>(
        V::add(V::bit_and(V::template shr<32>(b), V::set(std::uint64_t{0xFFFFFu})), V::set(std::uint64_t{0x95F64u})));
    // m = double_of((b & mantissa) | ((0x3FF - high) << 52))
    const d m = V::as_double(V::bit_or(V::bit_and(b, V::set(std::uint64_t{0x000FFFFFFFFFFFFFull})),
                                       V::template shl<52>(V::sub(V::set(std::uint64_t{0x3FF}), high))));
    // k = double_of_small((b >> 52) - 1023 + high)
    const d k = double_of_small(V::add(V::sub(V::template shr<52>(b), V::set(std::uint64_t{1023})), high));
    const d f = V::sub(m, V::set(1.0));
    const d hfsq = V::mul(V::mul(V::set(0.5), f), f);
    const d s = V::div(f, V::add(V::set(2.0), f));
    const d z = V::mul(s, s);
    const d w = V::mul(z, z);
    // r = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7))) + w * (lg2 + w * (lg4 + w * lg6))
    const d odd = V::mul(z, V::add(V::set(lg1), V::mul(w, V::add(V::set(lg3), V::mul(w, V::add(V::set(lg5), V::mul(w, V::set(lg7))))))));
    const d even = V::mul(w, V::add(V::set(lg2), V::mul(w, V::add(V::set(lg4), V::mul(w, V::set(lg6))))));
    const d r = V::add(odd, even);
    // k * ln2_hi - ((hfsq - (s * (hfsq + r) + k * ln2_lo)) - f)
    return V::sub(V::mul(k, V::set(ln2_hi)),
                  V::sub(V::sub(hfsq, V::add(V::mul(s, V::add(hfsq, r)), V::mul(k, V::set(ln2_lo)))), f));
  }

  /// cos_sin_turn(b, c, s): philox.hpp's, step for step; the quadrant's swaps and signs by bits.
  static void cos_sin_turn(u b, d& c, d& s)
  {
    using namespace fdlibm;
    constexpr double turn_unit = 3.14159265358979323846 * 0x1p-51;
    const u quarters = V::template shr<50>(V::add(b, V::set(std::uint64_t{1} << 49)));
    const u rest = V::sub(b, V::template shl<50>(quarters));
    const d x = V::mul(V::add(double_of_small(rest), V::set(0.5)), V::set(turn_unit));
    const d z = V::mul(x, x);
    const d w = V::mul(z, z);
    // rs = s2 + z * (s3 + z * s4) + z * w * (s5 + z * s6)
    const d rs = V::add(V::add(V::set(s2), V::mul(z, V::add(V::set(s3), V::mul(z, V::set(s4))))),
                        V::mul(V::mul(z, w), V::add(V::set(s5), V::mul(z, V::set(s6)))));
    // sin_x = x + z * x * (s1 + z * rs)
    const d sin_x = V::add(x, V::mul(V::mul(z, x), V::add(V::set(s1), V::mul(z, rs))));
    // rc = z * (c1 + z * (c2 + z * c3)) + w * w * (c4 + z * (c5 + z * c6))
    const d rc = V::add(V::mul(z, V::add(V::set(c1), V::mul(z, V::add(V::set(c2), V::mul(z, V::set(c3)))))),
                        V::mul(V::mul(w, w), V::add(V::set(c4), V::mul(z, V::add(V::set(c5), V::mul(z, V::set(c6)))))));
    const d hz = V::mul(V::set(0.5), z);
    const d one_minus = V::sub(V::set(1.0), hz);
    // cos_x = one_minus + (((1 - one_minus) - hz) + z * rc)
    const d cos_x = V::add(one_minus, V::add(V::sub(V::sub(V::set(1.0), one_minus), hz), V::mul(z, rc)));
    // q = quarters & 3: odd q swaps sine and cosine; q = 1, 2 negate the cosine (bit 1 of q + 1),
    // q = 2, 3 the sine (bit 1 of q). Negation flips the sign bit, as unary minus does.
    const d cq = V::select_by_sign(V::template shl<63>(quarters), sin_x, cos_x);
    const d sq = V::select_by_sign(V::template shl<63>(quarters), cos_x, sin_x);
    const u two = V::set(std::uint64_t{2});
    c = V::as_double(V::bit_xor(V::as_bits(cq), V::template shl<62>(V::bit_and(V::add(quarters, V::set(std::uint64_t{1})), two))));
    s = V::as_double(V::bit_xor(V::as_bits(sq), V::template shl<62>(V::bit_and(quarters, two))));
  }

  /// normals_of(): the radius from words 0-1, the angle from words 2-3.
  static void normals(const u (&w)[4], d& z0, d& z1)
  {
    const d r = V::sqrt(V::mul(V::set(-2.0), log_unit(uniform_of_bits(bits52(w[0], w[1])))));
    d c, s;
    cos_sin_turn(bits52(w[2], w[3]), c, s);
    z0 = V::mul(r, c);
    z1 = V::mul(r, s);
  }

  /// The normals of groups first + i + lane (counter word 1), lane < V::width.
  static void normals_at(std::uint32_t first, const philox_plan& plan, d& z0, d& z1)
  {
    u w[4];
    philox(V::add(V::set(std::uint64_t{first}), V::iota()), plan, w);
    normals(w, z0, z1);
  }

  /// portable_log_normal(x, 0) of portable_log.hpp for positive normal x, step for step (fdlibm's
  /// wide and narrow formulas both, one selected by the bits as there).
  static d log_normal(d x)
  {
    using namespace fdlibm;
    const u b = V::as_bits(x);
    const u top = V::template shr<32>(b);  // the high word (x > 0: no sign)
    const u hx = V::bit_and(top, V::set(std::uint64_t{0x000fffff}));
    const u i = V::bit_and(V::add(hx, V::set(std::uint64_t{0x95f64})), V::set(std::uint64_t{0x100000}));
    // m = double_of(((hx | (i ^ 0x3ff00000)) << 32) | (bits & 0xffffffff))
    const d m = V::as_double(
        V::bit_or(V::template shl<32>(V::bit_or(hx, V::bit_xor(i, V::set(std::uint64_t{0x3ff00000})))),
                  V::bit_and(b, V::set(std::uint64_t{0xffffffffu}))));
    // k = (top >> 20) - 1023 + (i >> 20)
    const d dk = double_of_small(
        V::add(V::sub(V::template shr<20>(top), V::set(std::uint64_t{1023})), V::template shr<20>(i)));
    const d f = V::sub(m, V::set(1.0));
    const d s = V::div(f, V::add(V::set(2.0), f));
    const d z = V::mul(s, s);
    const d w = V::mul(z, z);
    const d t1 = V::mul(w, V::add(V::set(lg2), V::mul(w, V::add(V::set(lg4), V::mul(w, V::set(lg6))))));
    const d t2 = V::mul(z, V::add(V::set(lg1), V::mul(w, V::add(V::set(lg3), V::mul(w, V::add(V::set(lg5), V::mul(w, V::set(lg7))))))));
    const d r = V::add(t2, t1);
    const d hfsq = V::mul(V::mul(V::set(0.5), f), f);
    const d hi = V::mul(dk, V::set(ln2_hi)), lo = V::mul(dk, V::set(ln2_lo));
    // wide = k ln2_hi - ((hfsq - (s (hfsq + r) + k ln2_lo)) - f); narrow = k ln2_hi - ((s (f - r) - k ln2_lo) - f)
    const d wide = V::sub(hi, V::sub(V::sub(hfsq, V::add(V::mul(s, V::add(hfsq, r)), lo)), f));
    const d narrow = V::sub(hi, V::sub(V::sub(V::mul(s, V::sub(f, r)), lo), f));
    // wide where (hx - 0x6147a) | (0x6b851 - hx) > 0 (it is never 0): where its sign bit is clear.
    const u sel = V::bit_or(V::sub(hx, V::set(std::uint64_t{0x6147a})), V::sub(V::set(std::uint64_t{0x6b851}), hx));
    return V::select_by_sign(sel, narrow, wide);
  }

  /// special_detail::stirling_correction(x), x >= 10.
  static d stirling(d x)
  {
    const d r = V::div(V::set(1.0), x), r2 = V::mul(r, r);
    d p = V::add(V::set(-691.0 / 360360), V::mul(r2, V::set(1.0 / 156)));
    p = V::add(V::set(1.0 / 1188), V::mul(r2, p));
    p = V::add(V::set(-1.0 / 1680), V::mul(r2, p));
    p = V::add(V::set(1.0 / 1260), V::mul(r2, p));
    p = V::add(V::set(-1.0 / 360), V::mul(r2, p));
    p = V::add(V::set(1.0 / 12), V::mul(r2, p));
    return V::mul(r, p);
  }
};

template <class V>
struct lanes {
  using d = typename V::d;
  using u = typename V::u;
  static constexpr int width = V::width;
  /// Registers per 8 sum lanes: group i of a block goes to lane i mod 8, register (i / width) mod regs.
  static constexpr int regs = sum_lanes / width;
  using math = draw_math<V>;

  /// Pass 1 of a block: its sums by lane, in registers.
  struct pass1_registers {
    d d_[regs], dd[regs], nd[regs], n[regs], inv_n[regs];
  };

  /// t_j, d_j of groups [i, i + width) from their normals, stored (the first `left` when left <
  /// width), and added into the sums' registers (vector `step` of the block).
  static void finish(const draw_block_args& a, std::uint32_t i, std::uint32_t step, d z0, d z1, double* t,
                     double* dd, pass1_registers& acc)
  {
    const std::uint32_t left = a.count - i;
    {
      d nj = V::set(a.n_equal), sigma_j = V::set(a.sigma_equal), inv_n = V::set(0.0);
      if (a.n != nullptr) {
        // design_of(): inv_n = 1 / n_j, sigma_j = sigma sqrt(inv_n). A short tail reads a padded copy.
        std::int32_t pad[width];
        const std::int32_t* n = a.n + i;
        if (left < width) {
          for (int l = 0; l < width; ++l) pad[l] = l < static_cast<int>(left) ? n[l] : 1;
          n = pad;
        }
        nj = V::int32_to_double(n);
        inv_n = V::div(V::set(1.0), nj);
        sigma_j = V::mul(V::set(a.sigma), V::sqrt(inv_n));
      }
      const d tv = V::mul(V::set(a.tau), z0);
      d dv = V::add(tv, V::mul(sigma_j, z1));
      if (left >= width) {
        V::store(t + i, tv);
        V::store(dd + i, dv);
      } else {
        // Tail: lanes past the block add +0 to the sums (which are never -0, so unchanged).
        alignas(64) double tt[width], ds[width];
        V::store(tt, tv);
        V::store(ds, dv);
        for (std::uint32_t l = 0; l < left; ++l) {
          t[i + l] = tt[l];
          dd[i + l] = ds[l];
        }
        const auto m = V::first(static_cast<int>(left));
        dv = V::keep(m, dv);
        nj = V::keep(m, nj);
        inv_n = V::keep(m, inv_n);
      }
      const int k = static_cast<int>(step % regs);
      acc.d_[k] = V::add(acc.d_[k], dv);
      acc.dd[k] = V::add(acc.dd[k], V::mul(dv, dv));
      acc.nd[k] = V::add(acc.nd[k], V::mul(nj, dv));
      if (a.n != nullptr) {
        acc.n[k] = V::add(acc.n[k], nj);
        acc.inv_n[k] = V::add(acc.inv_n[k], inv_n);
      }
    }
  }

  static void draw_block(const draw_block_args& a, double* t, double* dd, pass1_lanes& sums)
  {
    pass1_registers acc;
    for (int k = 0; k < regs; ++k) acc.d_[k] = acc.dd[k] = acc.nd[k] = acc.n[k] = acc.inv_n[k] = V::set(0.0);
    const philox_plan plan = plan_of(a.replicate, a.tag, a.k0, a.k1);
    std::uint32_t i = 0, step = 0;
    // Four registers at a time (four independent chains: 9.6 instead of 13 cycles a group on
    // Zen 4 with AVX-512, 14.5 instead of 20.6 with AVX2), then one (and the tail).
    using quad = twice<twice<V>>;
    for (; a.count - i >= 4 * width; i += 4 * width, step += 4) {
      typename quad::d z0, z1;
      draw_math<quad>::normals_at(a.first + i, plan, z0, z1);
      finish(a, i, step, z0.h[0].h[0], z1.h[0].h[0], t, dd, acc);
      finish(a, i + width, step + 1, z0.h[0].h[1], z1.h[0].h[1], t, dd, acc);
      finish(a, i + 2 * width, step + 2, z0.h[1].h[0], z1.h[1].h[0], t, dd, acc);
      finish(a, i + 3 * width, step + 3, z0.h[1].h[1], z1.h[1].h[1], t, dd, acc);
    }
    for (; i < a.count; i += width, ++step) {
      d z0, z1;
      math::normals_at(a.first + i, plan, z0, z1);
      finish(a, i, step, z0, z1, t, dd, acc);
    }
    for (int k = 0; k < regs; ++k) {
      V::store(sums.d + k * width, acc.d_[k]);
      V::store(sums.dd + k * width, acc.dd[k]);
      V::store(sums.nd + k * width, acc.nd[k]);
      V::store(sums.n + k * width, acc.n[k]);
      V::store(sums.inv_n + k * width, acc.inv_n[k]);
    }
  }

  /// A group's constants of pass 3 (group_constants), one per lane.
  struct constants_v {
    d b_hat, half_np, half_pp, b_oracle, half_or;
  };

  /// Pass 3 over groups [0, count): pass3_sums::add in lanes; constants_at(i, left) gives the
  /// constants of groups [i, i + width) (left of them in the block).
  template <class ConstantsAt>
  static void pass3_loop(const double* t, const double* dp, std::uint32_t count, double mu_pooled_s, double mu_s,
                         double js_center_s, double js_c_s, ConstantsAt&& constants_at, pass3_lanes& sums)
  {
    d se2[5][regs], se[5][regs], cov_np[regs], cov_pp[regs], cov_or[regs];
    for (int k = 0; k < regs; ++k) {
      for (int e = 0; e < 5; ++e) se2[e][k] = se[e][k] = V::set(0.0);
      cov_np[k] = cov_pp[k] = cov_or[k] = V::set(0.0);
    }
    const d mu_pooled = V::set(mu_pooled_s), mu = V::set(mu_s), js_center = V::set(js_center_s), js_c = V::set(js_c_s);
    const d one = V::set(1.0);
    const u magnitude = V::set(std::uint64_t{0x7FFFFFFFFFFFFFFFull});
    const auto abs = [&](d x) { return V::as_double(V::bit_and(V::as_bits(x), magnitude)); };  // std::fabs
    for (std::uint32_t i = 0, step = 0; i < count; i += width, ++step) {
      const std::uint32_t left = count - i;
      d tv, dv;
      if (left >= width) {
        tv = V::load(t + i);
        dv = V::load(dp + i);
      } else {
        alignas(64) double tt[width] = {}, ds[width] = {};
        for (std::uint32_t l = 0; l < left; ++l) {
          tt[l] = t[i + l];
          ds[l] = dp[i + l];
        }
        tv = V::load(tt);
        dv = V::load(ds);
      }
      const constants_v c = constants_at(i, left);
      // pass3_sums::add: the five errors, and the three coverage indicators.
      d err[5];
      err[0] = V::sub(dv, tv);
      err[1] = V::sub(mu_pooled, tv);
      err[2] = V::sub(V::add(dv, V::mul(c.b_hat, V::sub(mu, dv))), tv);
      err[3] = V::sub(V::sub(dv, V::mul(c.b_oracle, dv)), tv);
      err[4] = V::sub(V::add(js_center, V::mul(js_c, V::sub(dv, js_center))), tv);
      d hit_np = V::keep(V::less_equal(abs(err[0]), c.half_np), one);
      d hit_pp = V::keep(V::less_equal(abs(err[2]), c.half_pp), one);
      d hit_or = V::keep(V::less_equal(abs(err[3]), c.half_or), one);
      if (left < width) {  // lanes past the block add +0
        const auto m = V::first(static_cast<int>(left));
        for (d& e : err) e = V::keep(m, e);
        hit_np = V::keep(m, hit_np);
        hit_pp = V::keep(m, hit_pp);
        hit_or = V::keep(m, hit_or);
      }
      const int k = static_cast<int>(step % regs);
      for (int e = 0; e < 5; ++e) {
        se2[e][k] = V::add(se2[e][k], V::mul(err[e], err[e]));
        se[e][k] = V::add(se[e][k], err[e]);
      }
      cov_np[k] = V::add(cov_np[k], hit_np);
      cov_pp[k] = V::add(cov_pp[k], hit_pp);
      cov_or[k] = V::add(cov_or[k], hit_or);
    }
    for (int k = 0; k < regs; ++k) {
      for (int e = 0; e < 5; ++e) {
        V::store(sums.se2[e] + k * width, se2[e][k]);
        V::store(sums.se[e] + k * width, se[e][k]);
      }
      V::store(sums.covered_np + k * width, cov_np[k]);
      V::store(sums.covered_pp + k * width, cov_pp[k]);
      V::store(sums.covered_or + k * width, cov_or[k]);
    }
  }

  static void pass3_block(const double* t, const double* dp, std::uint32_t count, const pass3_constants& c,
                          pass3_lanes& sums)
  {
    const constants_v equal{V::set(c.b_hat), V::set(c.half_np), V::set(c.half_pp), V::set(c.b_oracle),
                            V::set(c.half_or)};
    pass3_loop(t, dp, count, c.mu_pooled, c.mu, c.js_center, c.js_c,
               [&](std::uint32_t, std::uint32_t) { return equal; }, sums);
  }

  /// design_of(s, n_j).inv_n of groups [i, i + width): 1 / n_j (a short tail reads n_j = 1).
  static d inv_n_at(const std::int32_t* n, std::uint32_t left)
  {
    std::int32_t pad[width];
    if (left < width) {
      for (int l = 0; l < width; ++l) pad[l] = l < static_cast<int>(left) ? n[l] : 1;
      n = pad;
    }
    return V::div(V::set(1.0), V::int32_to_double(n));
  }

  static void pass3_block_design(const double* t, const double* dp, const std::int32_t* n, std::uint32_t count,
                                 const design_constants& c, pass3_lanes& sums)
  {
    const d sigma = V::set(c.sigma), sigma2 = V::set(c.sigma2), tau2 = V::set(c.tau2), q = V::set(c.q);
    const d theta_var = V::set(c.theta_var), z = V::set(c.z);
    // constants_of(s, design_of(s, n_j), h), step for step.
    const auto constants_at = [&](std::uint32_t i, std::uint32_t left) {
      const d inv_n = inv_n_at(n + i, left);
      const d sigma_j = V::mul(sigma, V::sqrt(inv_n));
      const d v = V::mul(sigma2, inv_n);
      const d v_plus = V::add(v, tau2);
      const d v_true = V::mul(sigma_j, sigma_j);
      const d v_true_plus = V::add(v_true, theta_var);
      constants_v k;
      k.b_hat = V::div(v, v_plus);
      k.half_pp = V::mul(q, V::sqrt(V::div(V::mul(v, tau2), v_plus)));
      k.half_np = V::mul(q, V::sqrt(v));
      k.b_oracle = V::div(v_true, v_true_plus);
      k.half_or = V::mul(z, V::sqrt(V::div(V::mul(v_true, theta_var), v_true_plus)));
      return k;
    };
    pass3_loop(t, dp, count, c.mu_pooled, c.mu, c.js_center, c.js_c, constants_at, sums);
  }

  static void pass2_block(const double* dp, const std::int32_t* n, std::uint32_t count, const design_constants& c,
                          pass2_lanes& sums)
  {
    d w[regs], wd[regs];
    for (int k = 0; k < regs; ++k) w[k] = wd[k] = V::set(0.0);
    const d sigma2 = V::set(c.sigma2), tau2 = V::set(c.tau2);
    for (std::uint32_t i = 0, step = 0; i < count; i += width, ++step) {
      const std::uint32_t left = count - i;
      d dv;
      if (left >= width) {
        dv = V::load(dp + i);
      } else {
        alignas(64) double ds[width] = {};
        for (std::uint32_t l = 0; l < left; ++l) ds[l] = dp[i + l];
        dv = V::load(ds);
      }
      // pass2_sums::add: w_j = 1 / (sigma2 inv_n + tau2).
      d wj = V::div(V::set(1.0), V::add(V::mul(sigma2, inv_n_at(n + i, left)), tau2));
      if (left < width) wj = V::keep(V::first(static_cast<int>(left)), wj);  // lanes past the block add +0
      const int k = static_cast<int>(step % regs);
      w[k] = V::add(w[k], wj);
      wd[k] = V::add(wd[k], V::mul(wj, dv));
    }
    for (int k = 0; k < regs; ++k) {
      V::store(sums.w + k * width, w[k]);
      V::store(sums.wd + k * width, wd[k]);
    }
  }

  static void normals_of_words(const std::uint32_t* w0, const std::uint32_t* w1, const std::uint32_t* w2,
                               const std::uint32_t* w3, std::uint32_t count, double* z0, double* z1)
  {
    for (std::uint32_t i = 0; i < count; i += width) {
      std::uint32_t pad[4][width] = {};
      const std::uint32_t* in[4] = {w0 + i, w1 + i, w2 + i, w3 + i};
      const std::uint32_t left = count - i;
      if (left < width) {
        for (int k = 0; k < 4; ++k) {
          for (std::uint32_t l = 0; l < left; ++l) pad[k][l] = in[k][l];
          in[k] = pad[k];
        }
      }
      const u w[4] = {V::load32(in[0]), V::load32(in[1]), V::load32(in[2]), V::load32(in[3])};
      d a, b;
      math::normals(w, a, b);
      alignas(64) double za[width], zb[width];
      V::store(za, a);
      V::store(zb, b);
      for (std::uint32_t l = 0; l < left && l < static_cast<std::uint32_t>(width); ++l) {
        z0[i + l] = za[l];
        z1[i + l] = zb[l];
      }
    }
  }

  /// All lanes of a register, as bits.
  static constexpr unsigned all = (1u << width) - 1u;
  /// BTRS attempts the lanes make before leaving a draw to the scalar sampler.
  static constexpr std::uint32_t max_attempts = 8;

  /// terms[x] for whole x in [0, small_terms), else `other`.
  static d small_or(d x, const double* terms, d other)
  {
    for (int j = 0; j < small_terms; ++j) other = V::select(V::equal(x, V::set(static_cast<double>(j))), V::set(terms[j]), other);
    return other;
  }

  /// Lanes where !(a < b): a >= b for numbers.
  static unsigned not_less(d a, d b) { return all & ~V::bits(V::less(a, b)); }

  /// portable_exp(x) (special.hpp) for -708 < x < 709, step for step; `ok` gets the lanes in that range.
  static d exp_lanes(d x, unsigned& ok)
  {
    using namespace fdlibm;
    ok = not_less(x, V::set(-708.0)) & V::bits(V::less(x, V::set(709.0)));
    const d zero = V::set(0.0), one = V::set(1.0);
    const d ax = V::as_double(V::bit_and(V::as_bits(x), V::set(std::uint64_t{0x7FFFFFFFFFFFFFFFull})));
    // k = int(inv_ln2 x +- 0.5) where |x| > ln2 / 2, else 0.
    const d t = V::select(V::less(V::set(0.5 * 6.93147180559945286227e-01), ax),
                          V::trunc_small(V::add(V::mul(V::set(inv_ln2), x),
                                                V::select(V::less(x, zero), V::set(-0.5), V::set(0.5)))),
                          zero);
    const d hi = V::sub(x, V::mul(t, V::set(ln2_hi)));  // x itself where t = 0
    const d lo = V::mul(t, V::set(ln2_lo));
    const d r = V::sub(hi, lo);
    const d tt = V::mul(r, r);
    const d c = V::sub(r, V::mul(tt, V::add(V::set(exp_p1), V::mul(tt, V::add(V::set(exp_p2), V::mul(tt, V::add(V::set(exp_p3), V::mul(tt, V::add(V::set(exp_p4), V::mul(tt, V::set(exp_p5)))))))))));
    const d rc = V::mul(r, c);
    const d at_0 = V::sub(one, V::sub(V::div(rc, V::sub(c, V::set(2.0))), r));
    const d y = V::sub(one, V::sub(V::sub(lo, V::div(rc, V::sub(V::set(2.0), c))), hi));
    // y 2^k by the exponent bits: k's two's complement from t (double_of_small's inverse).
    const u k = V::sub(V::as_bits(V::add(t, V::set(0x1.8p52))), V::set(std::uint64_t{0x4338000000000000ull}));
    const d scaled = V::as_double(V::add(V::as_bits(y), V::template shl<52>(k)));
    const d e = V::select(V::less(t, zero), scaled, V::select(V::less(zero, t), scaled, at_0));
    return V::select(V::less(ax, V::set(0x1p-28)), V::add(one, x), e);
  }

  /// binomial_inversion(n, p, s) with u from call 0 (u0), where `lanes` (p <= 1/2); `ok` gets the
  /// lanes whose logarithm and exponential stayed in the lanes' range.
  static d binomial_inversion(d n, d p, d u0, typename V::mask lanes, unsigned& ok)
  {
    const d zero = V::set(0.0), one = V::set(1.0);
    const d ratio = V::div(p, V::sub(one, p));
    // portable_log1p(-p) = log(1 - p) (-p / ((1 - p) - 1)), 1 - p rounded (never 1 here: checked).
    const d x = V::sub(zero, p);
    const d u1 = V::add(one, x);
    unsigned in_range = 0;
    d f = exp_lanes(V::mul(n, V::mul(math::log_normal(u1), V::div(x, V::sub(u1, one)))), in_range);
    ok = V::bits(V::less(u1, one)) & in_range;
    d cdf = f, k = zero;
    auto go = V::both(lanes, V::both(V::less(cdf, u0), V::both(V::less(k, n), V::less(zero, f))));
    while (V::bits(go) != 0) {
      // f *= (n - k) / (k + 1) * ratio; k += 1; cdf += f
      f = V::select(go, V::mul(f, V::mul(V::div(V::sub(n, k), V::add(k, one)), ratio)), f);
      k = V::select(go, V::add(k, one), k);
      cdf = V::select(go, V::add(cdf, f), cdf);
      go = V::both(go, V::both(V::less(cdf, u0), V::both(V::less(k, n), V::less(zero, f))));
    }
    return k;
  }

  /// marsaglia_tsang(shape, s, 0, portable_log) (shape >= 1), step for step, attempts at calls 0,
  /// 1, ... while a lane is left: d v^3, and in `ok` the lanes settled (not those left after
  /// max_attempts, or whose second test would take the logarithm of a subnormal v^3: the scalar
  /// sampler's).
  static d gamma_lanes(u c1, const philox_plan& plan, double shape, unsigned& ok)
  {
    const d dd = V::set(shape - 1.0 / 3.0);
    const d c = V::div(V::set(1.0), V::sqrt(V::mul(V::set(9.0), dd)));
    d out = V::set(0.0);
    ok = 0;
    unsigned left = all;
    u w[4];
    math::philox(c1, plan, w);
    for (std::uint32_t call = 0; left != 0 && call < max_attempts; ++call) {
      if (call > 0) math::philox_at(call, c1, plan, w);
      // normal_of(): the radius from words 0-1, the angle from word 2 alone.
      const d radius = V::sqrt(V::mul(V::set(-2.0), math::log_unit(math::uniform_of_bits(math::bits52(w[0], w[1])))));
      d cosine, sine;
      math::cos_sin_turn(V::template shl<20>(w[2]), cosine, sine);
      const d z = V::mul(radius, cosine);
      const d uu = V::mul(V::add(math::double_of_small(w[3]), V::set(0.5)), V::set(0x1p-32));  // uniform32
      const d v1 = V::add(V::set(1.0), V::mul(c, z));
      const d v = V::mul(V::mul(v1, v1), v1);
      const d z2 = V::mul(z, z);
      // v <= 0: the next attempt. Else u < 1 - 0.0331 z2 z2, or log_unit(u) < 0.5 z2 + d (1 - v + log(v)).
      const unsigned positive = left & V::bits(V::less(V::set(0.0), v1));
      unsigned accepted = positive & V::bits(V::less(uu, V::sub(V::set(1.0), V::mul(V::mul(V::set(0.0331), z2), z2))));
      const unsigned second = positive & ~accepted;
      if (second != 0) {
        const unsigned normal = not_less(v, V::set(0x1p-1022));
        left &= ~(second & ~normal);
        const d rhs = V::add(V::mul(V::set(0.5), z2),
                             V::mul(dd, V::add(V::sub(V::set(1.0), v), math::log_normal(v))));
        accepted |= second & normal & V::bits(V::less(math::log_unit(uu), rhs));
      }
      out = V::select(V::from_bits(accepted), V::mul(dd, v), out);
      ok |= accepted;
      left &= ~accepted;
    }
    return out;
  }

  /// binomial_draw(n, p, s), step for step (terms[x] = log_factorial_correction(x)): the count, and
  /// in `ok` the lanes it settled (not those with p at 0 or 1, or those BTRS has not settled in
  /// max_attempts calls: the scalar sampler's).
  static d binomial_lanes(u c1, const philox_plan& plan, d n, d p, double inversion_limit, const double* terms,
                          unsigned& ok)
  {
    const d one = V::set(1.0), half = V::set(0.5);
    const auto valid_mask = V::both(V::less(V::set(0.0), p), V::less(p, one));
    const unsigned valid = V::bits(valid_mask);
    const auto flip = V::less(half, p);
    const d small = V::select(flip, V::sub(one, p), p);
    const d np = V::mul(n, small);
    const auto inversion = V::both(valid_mask, V::less(np, V::set(inversion_limit)));
    const unsigned btrs = valid & ~V::bits(inversion);
    u w[4];
    math::philox(c1, plan, w);
    const d u0 = math::uniform_of_bits(math::bits52(w[0], w[1]));
    d k = V::set(0.0);
    ok = 0;
    if (V::bits(inversion) != 0) {
      unsigned settled = 0;
      k = binomial_inversion(n, small, u0, inversion, settled);
      ok = V::bits(inversion) & settled;
    }
    if (btrs == 0) return V::select(flip, V::sub(n, k), k);
    // binomial_btrs(n, small): its constants, then attempts at calls 0, 1, ... while a lane is left.
    const d q = V::sub(one, small);
    const d spq = V::sqrt(V::mul(np, q));
    const d b = V::add(V::set(1.15), V::mul(V::set(2.53), spq));
    const d a = V::add(V::add(V::set(-0.0873), V::mul(V::set(0.0248), b)), V::mul(V::set(0.01), small));
    const d c = V::add(np, half);
    const d v_r = V::sub(V::set(0.92), V::div(V::set(4.2), b));
    const d r = V::div(small, q);
    const d alpha = V::mul(V::add(V::set(2.83), V::div(V::set(5.1), b)), spq);
    const d m = V::floor(V::mul(V::add(n, one), small));
    const d n_m = V::sub(n, m);
    // log_factorial_correction(x): Stirling's series from 9, below it the caller's table.
    const auto lfc = [&](d x) { return small_or(x, terms, math::stirling(V::add(x, one))); };
    d bound_m = V::set(0.0);
    bool have_bound_m = false;
    unsigned left = btrs;
    for (std::uint32_t call = 0; left != 0 && call < max_attempts; ++call) {
      if (call > 0) math::philox_at(call, c1, plan, w);
      d uu, v, us;
      math::transformed_rejection_uniforms(w, uu, v, us);
      const d kk = V::floor(V::add(V::mul(V::add(V::div(V::mul(V::set(2.0), a), us), b), uu), c));
      // us >= 0.07 && v <= v_r: accepted.
      unsigned accepted = left & not_less(us, V::set(0.07)) & not_less(v_r, v);
      // k < 0 or k > n: the next attempt.
      const unsigned in_range = left & ~accepted & not_less(kk, V::set(0.0)) & not_less(n, kk);
      if (in_range != 0) {
        const d n_k = V::sub(n, kk);
        if (!have_bound_m) {
          // bound_m = (m + 0.5) log((m + 1) / (r (n - m + 1))) + lfc(m) + lfc(n - m)
          bound_m = V::add(
              V::add(V::mul(V::add(m, half), math::log_normal(V::div(V::add(m, one), V::mul(r, V::add(n_m, one))))), lfc(m)),
              lfc(n_m));
          have_bound_m = true;
        }
        const d log_v = math::log_normal(V::div(V::mul(v, alpha), V::add(V::div(a, V::mul(us, us)), b)));
        // bound = bound_m + (n + 1) log((n - m + 1) / (n - k + 1)) + (k + 0.5) log((n - k + 1) r / (k + 1))
        //         - lfc(k) - lfc(n - k)
        const d bound = V::sub(
            V::sub(V::add(V::add(bound_m, V::mul(V::add(n, one), math::log_normal(V::div(V::add(n_m, one), V::add(n_k, one))))),
                          V::mul(V::add(kk, half), math::log_normal(V::div(V::mul(V::add(n_k, one), r), V::add(kk, one))))),
                   lfc(kk)),
            lfc(n_k));
        accepted |= in_range & not_less(bound, log_v);  // log_v <= bound
      }
      k = V::select(V::from_bits(accepted), kk, k);
      ok |= accepted;
      left &= ~accepted;
    }
    return V::select(flip, V::sub(n, k), k);
  }

  /// poisson_draw(mean, s), step for step (terms[k] = log_gamma(k + 1)): the count, and in `ok` the
  /// lanes it settled (not those with mean <= 0, or those PTRS has not settled in max_attempts
  /// calls: the scalar sampler's).
  static d poisson_lanes(u c1, const philox_plan& plan, d mean, double inversion_limit, const double* terms,
                         unsigned& ok)
  {
    const d zero = V::set(0.0), one = V::set(1.0), half = V::set(0.5);
    const auto valid = V::less(zero, mean);
    const auto inversion = V::both(valid, V::less(mean, V::set(inversion_limit)));
    const unsigned ptrs = V::bits(valid) & ~V::bits(inversion);
    u w[4];
    math::philox(c1, plan, w);
    const d u0 = math::uniform_of_bits(math::bits52(w[0], w[1]));
    d k = zero;
    ok = 0;
    if (V::bits(inversion) != 0) {
      // f = e^-mean, cdf = f; while (u > cdf && f > 0) { k += 1; f *= mean / k; cdf += f; }
      unsigned in_range = 0;
      d f = exp_lanes(V::sub(zero, mean), in_range);
      d cdf = f;
      auto go = V::both(inversion, V::both(V::less(cdf, u0), V::less(zero, f)));
      while (V::bits(go) != 0) {
        k = V::select(go, V::add(k, one), k);
        f = V::select(go, V::mul(f, V::div(mean, k)), f);
        cdf = V::select(go, V::add(cdf, f), cdf);
        go = V::both(go, V::both(V::less(cdf, u0), V::less(zero, f)));
      }
      ok = V::bits(inversion) & in_range;
    }
    if (ptrs == 0) return k;
    // PTRS: its constants, then attempts at calls 0, 1, ... while a lane is left.
    const d log_mean = math::log_normal(mean);
    const d b = V::add(V::set(0.931), V::mul(V::set(2.53), V::sqrt(mean)));
    const d a = V::add(V::set(-0.059), V::mul(V::set(0.02483), b));
    const d log_inv_alpha = math::log_normal(V::add(V::set(1.1239), V::div(V::set(1.1328), V::sub(b, V::set(3.4)))));
    const d v_r = V::sub(V::set(0.9277), V::div(V::set(3.6224), V::sub(b, V::set(2.0))));
    unsigned left = ptrs;
    for (std::uint32_t call = 0; left != 0 && call < max_attempts; ++call) {
      if (call > 0) math::philox_at(call, c1, plan, w);
      d uu, v, us;
      math::transformed_rejection_uniforms(w, uu, v, us);
      const d kk = V::floor(V::add(V::add(V::mul(V::add(V::div(V::mul(V::set(2.0), a), us), b), uu), mean), V::set(0.43)));
      // us >= 0.07 && v <= v_r: accepted; k < 0 or (us < 0.013 && v > us): the next attempt.
      unsigned accepted = left & not_less(us, V::set(0.07)) & not_less(v_r, v);
      const unsigned rejected = V::bits(V::less(kk, zero)) | (V::bits(V::less(us, V::set(0.013))) & V::bits(V::less(us, v)));
      unsigned test = left & ~accepted & ~rejected;
      if (test != 0) {
        const d x = V::add(kk, one);
        // log v + log(1/alpha) - log(a / us^2 + b) <= -mean + k log(mean) - log_gamma(k + 1)
        const d lhs = V::sub(V::add(math::log_normal(v), log_inv_alpha),
                             math::log_normal(V::add(V::div(a, V::mul(us, us)), b)));
        // log_gamma(k + 1): Stirling's series from 10, below it the caller's table.
        const d log_gamma = small_or(kk, terms, V::add(V::add(V::sub(V::mul(V::sub(x, half), math::log_normal(x)), x),
                                                              V::set(special_detail::half_log_two_pi)),
                                                       math::stirling(x)));
        const d rhs = V::sub(V::add(V::sub(zero, mean), V::mul(kk, log_mean)), log_gamma);
        accepted |= test & not_less(rhs, lhs);
      }
      k = V::select(V::from_bits(accepted), kk, k);
      ok |= accepted;
      left &= ~accepted;
    }
    return k;
  }

  /// n of groups [i, i + width) of the block (`left` of them; 1 in the lanes past the end).
  static d sizes_at(const count_block_args& a, const std::uint32_t* index, std::uint32_t left)
  {
    if (a.n == nullptr) return V::set(a.n_equal);
    std::int32_t n[width];
    for (int l = 0; l < width; ++l) n[l] = static_cast<std::uint32_t>(l) < left ? a.n[index[l]] : 1;
    return V::int32_to_double(n);
  }

  static void count_block(const count_block_args& a, double* theta, double* y, redo_lanes& redo)
  {
    const philox_plan plan_a = plan_of(a.replicate, a.tag_a, a.k0, a.k1);
    const philox_plan plan_b = plan_of(a.replicate, a.tag_b, a.k0, a.k1);
    const philox_plan plan_y = plan_of(a.replicate, a.tag_y, a.k0, a.k1);
    redo.theta_count = redo.y_count = 0;
    // The priors' draws in group order; then the counts with the groups their sampler inverts first
    // and the rest (BTRS, PTRS) after, so that a register seldom runs both samplers' loops for
    // lanes of each. Each lane's draws are its group's: only the grouping into registers changes.
    std::uint32_t order[sim::count_block + width];
    std::uint64_t theta_redone[sim::count_block / 64] = {};  // a theta_j the scalar samplers redraw redraws its count too
    std::uint32_t inverted = 0, other = a.count;
    for (std::uint32_t i = 0; i < a.count; i += width) {
      const std::uint32_t left = a.count - i;
      const unsigned live = left >= static_cast<std::uint32_t>(width) ? all : (1u << left) - 1u;
      const u c1 = V::add(V::set(std::uint64_t{a.first + i}), V::iota());
      std::uint32_t index[width];
      for (int l = 0; l < width; ++l) index[l] = i + (static_cast<std::uint32_t>(l) < left ? static_cast<std::uint32_t>(l) : 0);
      const d n = sizes_at(a, index, left);
      unsigned theta_ok = 0;
      d t;
      if (a.binomial) {
        unsigned ok_a = 0, ok_b = 0;
        const d ga = gamma_lanes(c1, plan_a, a.a, ok_a);
        const d gb = gamma_lanes(c1, plan_b, a.b, ok_b);
        t = V::div(ga, V::add(ga, gb));  // beta_draw: G_a / (G_a + G_b)
        theta_ok = ok_a & ok_b;
      } else {
        // portable_exp(log_standard_gamma(a, s)) / b: log G + 0 (no boost at shape >= 1), G normal.
        unsigned ok_g = 0, ok_e = 0;
        const d g = gamma_lanes(c1, plan_a, a.a, ok_g);
        const d e = exp_lanes(V::add(math::log_normal(g), V::set(0.0)), ok_e);
        t = V::div(e, V::set(a.b));
        theta_ok = ok_g & ok_e & not_less(g, V::set(0x1p-1022));
      }
      alignas(64) double ts[width], ns[width];
      V::store(ts, t);
      V::store(ns, n);
      for (std::uint32_t l = 0; l < left && l < static_cast<std::uint32_t>(width); ++l) {
        theta[i + l] = ts[l];
        const double mean = ns[l] * (a.binomial && ts[l] > 0.5 ? 1 - ts[l] : ts[l]);
        if (mean < a.inversion_limit) order[inverted++] = i + l;
        else order[--other] = i + l;
      }
      for (unsigned bad = live & ~theta_ok; bad != 0; bad &= bad - 1) {
        const std::uint32_t j = i + static_cast<std::uint32_t>(__builtin_ctz(bad));
        redo.theta[redo.theta_count++] = j;
        theta_redone[j / 64] |= std::uint64_t{1} << (j % 64);
      }
    }
    for (std::uint32_t i = 0; i < a.count; i += width) {
      const std::uint32_t left = a.count - i;
      const std::uint32_t* index = order + i;
      for (std::uint32_t l = left; l < static_cast<std::uint32_t>(width); ++l) order[i + l] = order[i];  // padding
      const u c1 = V::add(V::set(std::uint64_t{a.first}), V::load32(index));
      const d n = sizes_at(a, index, left);
      alignas(64) double ts[width], ks[width];
      for (int l = 0; l < width; ++l) ts[l] = theta[index[l]];
      const d t = V::load(ts);
      unsigned y_ok = 0;
      const d k = a.binomial ? binomial_lanes(c1, plan_y, n, t, a.inversion_limit, a.small, y_ok)
                             : poisson_lanes(c1, plan_y, V::mul(n, t), a.inversion_limit, a.small, y_ok);
      V::store(ks, k);
      for (std::uint32_t l = 0; l < left && l < static_cast<std::uint32_t>(width); ++l) {
        y[index[l]] = ks[l];
        const std::uint32_t j = index[l];
        if (!(y_ok >> l & 1u) && !(theta_redone[j / 64] >> (j % 64) & 1u)) redo.y[redo.y_count++] = j;
      }
    }
  }

  static void logs(const double* x, std::uint32_t count, double* out)
  {
    for (std::uint32_t i = 0; i < count; i += width) {
      alignas(64) double in[width], res[width];
      for (std::uint32_t l = 0; l < static_cast<std::uint32_t>(width); ++l) in[l] = i + l < count ? x[i + l] : 1.0;
      V::store(res, math::log_normal(V::load(in)));
      for (std::uint32_t l = 0; l < static_cast<std::uint32_t>(width) && i + l < count; ++l) out[i + l] = res[l];
    }
  }

  static const lane_kernels& table()
  {
    static const lane_kernels k{draw_block, pass3_block, pass3_block_design, pass2_block, normals_of_words, count_block, logs};
    return k;
  }
};

}  // namespace
}  // namespace shrink::detail::sim
