#pragma once
// What the SIMD-lane tests share: the levels to run at, a double's bits, and a guard that restores
// the level in use when a test ends.

#include "cpu/simd_level.hpp"

#include <cstdint>
#include <cstring>

namespace shrink::test {

inline constexpr detail::sim::simd_level simd_levels[] = {detail::sim::simd_level::sse2, detail::sim::simd_level::avx2,
                                                          detail::sim::simd_level::avx512};

inline std::uint64_t bits(double x)
{
  std::uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

/// Restores the level in use when a test ends.
class forced_level {
 public:
  forced_level() : saved_(detail::sim::simd_level_in_use()) {}
  ~forced_level() { detail::sim::force_simd_level(saved_); }

 private:
  detail::sim::simd_level saved_;
};

}  // namespace shrink::test

#define EXPECT_SAME_BITS(a, b, what) \
  EXPECT_EQ(shrink::test::bits(a), shrink::test::bits(b)) << what << ": " << (a) << " vs " << (b)
