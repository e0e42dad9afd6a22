// The Philox keying with 64-bit replicate and group indices (src/common/philox.hpp): below 2^32
// the layout every study has used (key = seed, counter = (call, group, replicate, tag)), so no
// existing stream changed; above it the upper halves enter the key through mix64, a bijection,
// so replicate 2^32 + r and group 2^32 + j name streams of their own. CPU and GPU run this one
// header, so these properties hold on both.

#include "common/philox.hpp"
#include "common/simulate_formulas.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <tuple>
#include <utility>

namespace {

namespace d = shrink::detail;

constexpr std::uint64_t two32 = std::uint64_t{1} << 32;

std::tuple<std::uint32_t, std::uint32_t, std::uint32_t, std::uint32_t> words(const d::philox_words& x)
{
  return {x.w[0], x.w[1], x.w[2], x.w[3]};
}

std::uint32_t tag_of(std::uint32_t scenario, d::purpose p) { return scenario | (static_cast<std::uint32_t>(p) << 24); }

// MurmurHash3's fmix64, checked against an independent implementation (Python integers).
TEST(PhiloxCounter, Mix64KnownAnswers)
{
  EXPECT_EQ(d::mix64(0), 0u);
  EXPECT_EQ(d::mix64(1), 0xB456BCFC34C2CB2Cull);
  EXPECT_EQ(d::mix64(2), 0x3ABF2A20650683E7ull);
  EXPECT_EQ(d::mix64(two32), 0xBA3A9E160A5F1419ull);
  EXPECT_EQ(d::mix64(two32 | 1), 0x0AD0F115ABD5E507ull);
  EXPECT_EQ(d::mix64(~std::uint64_t{0}), 0x64B5720B4B825F21ull);
}

TEST(PhiloxCounter, BelowTwoTo32TheLayoutIsUnchanged)
{
  const std::uint64_t seed = 0x0123456789ABCDEFull;
  for (std::uint64_t r : {std::uint64_t{0}, std::uint64_t{5}, two32 - 1})
    for (std::uint64_t j : {std::uint64_t{0}, std::uint64_t{77}, two32 - 1})
      for (std::uint32_t call : {0u, 3u}) {
        const d::philox_words got = d::make_stream(seed, 9, r, j, d::purpose::s2_chisq)(call);
        const d::philox_words want = d::philox4x32_10(
          d::philox_words{{call, static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(r),
                           tag_of(9, d::purpose::s2_chisq)}},
          static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
        EXPECT_EQ(words(got), words(want)) << "r " << r << " j " << j;
      }
}

TEST(PhiloxCounter, UpperHalvesGoIntoTheKey)
{
  const std::uint64_t seed = 42;
  const std::uint32_t tag = tag_of(3, d::purpose::theta_ybar);
  auto expect_layout = [&](std::uint64_t r, std::uint64_t j) {
    const std::uint64_t key = seed ^ d::mix64(((r >> 32) << 32) | (j >> 32));
    const d::philox_words want = d::philox4x32_10(
      d::philox_words{{0, static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(r), tag}},
      static_cast<std::uint32_t>(key), static_cast<std::uint32_t>(key >> 32));
    EXPECT_EQ(words(d::make_stream(seed, 3, r, j, d::purpose::theta_ybar)(0)), words(want)) << "r " << r << " j " << j;
  };
  expect_layout(two32 + 5, 7);
  expect_layout(5, two32 + 7);
  expect_layout(3 * two32 + 5, 2 * two32 + 7);
  expect_layout(~std::uint64_t{0}, ~std::uint64_t{0});
}

TEST(PhiloxCounter, ReplicateAndGroupTwoTo32PlusXAreNotX)
{
  const std::uint64_t seed = 2024;
  for (std::uint64_t r : {std::uint64_t{0}, std::uint64_t{5}, std::uint64_t{123456}})
    for (std::uint64_t j : {std::uint64_t{0}, std::uint64_t{9}}) {
      const auto base = words(d::make_stream(seed, 1, r, j, d::purpose::theta_ybar)(0));
      for (std::uint64_t hi : {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{0xFFFFFFFF}}) {
        EXPECT_NE(words(d::make_stream(seed, 1, r + hi * two32, j, d::purpose::theta_ybar)(0)), base);
        EXPECT_NE(words(d::make_stream(seed, 1, r, j + hi * two32, d::purpose::theta_ybar)(0)), base);
        // Upper halves of replicate and group are not interchangeable either.
        EXPECT_NE(words(d::make_stream(seed, 1, r + hi * two32, j, d::purpose::theta_ybar)(0)),
                  words(d::make_stream(seed, 1, r, j + hi * two32, d::purpose::theta_ybar)(0)));
      }
    }
}

TEST(PhiloxCounter, OneSeedNeverRepeatsAStream)
{
  // For one seed the key is seed ^ mix64(high), and mix64 is a bijection: every pair of upper
  // halves gets its own key, so (key, counter) is distinct for every (replicate, group, call).
  std::set<std::uint64_t> keys;
  std::set<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t, std::uint32_t>> outputs;
  const std::uint64_t seed = 7;
  for (std::uint64_t rh = 0; rh < 64; ++rh)
    for (std::uint64_t jh = 0; jh < 64; ++jh) {
      keys.insert(d::stream_key(seed, rh << 32, jh << 32));
      outputs.insert(words(d::make_stream(seed, 0, (rh << 32) | 17, (jh << 32) | 4, d::purpose::design)(0)));
    }
  EXPECT_EQ(keys.size(), 64u * 64u);
  EXPECT_EQ(outputs.size(), 64u * 64u);
  EXPECT_EQ(d::stream_key(seed, 5, 9), seed);  // below 2^32 the key is the seed
}

TEST(PhiloxCounter, AtGroupMatchesMakeStream)
{
  // The CPU's vectorised tiles build one stream per 4096-group block and set the low group word
  // per group: the same words as a stream per group, above 2^32 too.
  for (std::uint64_t high : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{77}})
    for (std::uint64_t r : {std::uint64_t{3}, two32 + 3}) {
      const std::uint64_t block = high * two32 + 8192;
      const d::philox_stream base = d::make_stream(11, 2, r, block, d::purpose::theta_ybar);
      for (std::uint32_t i : {0u, 1u, 4095u}) {
        const std::uint64_t j = block + i;
        EXPECT_EQ(words(base.at_group(static_cast<std::uint32_t>(j), 0)),
                  words(d::make_stream(11, 2, r, j, d::purpose::theta_ybar)(0)));
      }
    }
}

TEST(PhiloxCounter, DrawsOfReplicateTwoTo32PlusRDiffer)
{
  d::sim::scenario_params s;
  s.seed = 5;
  s.index = 12;
  s.groups = 100;
  s.n = 4;
  s.tau = 0.7;
  const d::sim::group_design g = d::sim::design_of(s, s.n);
  for (std::uint64_t r : {std::uint64_t{0}, std::uint64_t{31}}) {
    const d::sim::group_draw a = d::sim::draw_group(s, g, r, 3, false);
    const d::sim::group_draw b = d::sim::draw_group(s, g, two32 + r, 3, false);
    EXPECT_NE(a.t, b.t);
    EXPECT_NE(a.d, b.d);
  }
}

}  // namespace
