// The fixed-shape reduction computed in parts (src/common/fixed_reduce_part.hpp): leaves split into
// contiguous ranges, each range reduced on its own, the parts merged in any order, give the root of
// fixed_reduce_sequential (the tree's reference rendering) bit for bit, for sizes around every tile
// boundary and two levels deep; overlapping parts and a missing leaf are refused.

#include "common/fixed_reduce.hpp"
#include "common/fixed_reduce_part.hpp"

#include <shrink/error.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace {

namespace d = shrink::detail;

/// A non-associative, non-commutative "sum": any change of operand order or grouping changes it.
struct order_hash {
  std::uint64_t h = 0;
  friend order_hash operator+(const order_hash& a, const order_hash& b)
  {
    std::uint64_t x = a.h * 0x9e3779b97f4a7c15ULL + ((b.h << 7) | (b.h >> 57)) + 0x632be59bd9b4e019ULL;
    x ^= x >> 29;
    return {x * 0xbf58476d1ce4e5b9ULL};
  }
};

order_hash leaf(std::size_t i) { return {0x94d049bb133111ebULL * (i + 1)}; }

/// Cuts [0, n) at `cuts` (sorted, inside), reduces each range in its own part (leaves added in a
/// shuffled order), merges the parts in a shuffled order and returns the root.
std::uint64_t root_in_parts(std::size_t n, std::vector<std::size_t> cuts, std::mt19937_64& rng)
{
  cuts.insert(cuts.begin(), 0);
  cuts.push_back(n);
  std::vector<d::fixed_reduce_part<order_hash>> parts;
  for (std::size_t p = 0; p + 1 < cuts.size(); ++p) {
    std::vector<std::size_t> leaves;
    for (std::size_t i = cuts[p]; i < cuts[p + 1]; ++i) leaves.push_back(i);
    std::shuffle(leaves.begin(), leaves.end(), rng);
    d::fixed_reduce_part<order_hash> part(n);
    for (std::size_t i : leaves) part.add(0, i, leaf(i));
    parts.push_back(part);
  }
  std::shuffle(parts.begin(), parts.end(), rng);
  d::fixed_reduce_part<order_hash> all(n);
  for (const auto& part : parts) all.merge(part);
  return all.root().h;
}

TEST(FixedReducePart, PartsGiveTheTreesRoot)
{
  std::mt19937_64 rng(5);
  for (std::size_t n : {1u, 2u, 3u, 255u, 256u, 257u, 511u, 512u, 513u, 65535u, 65536u, 65537u, 65536u * 2 + 300}) {
    const std::uint64_t truth = d::fixed_reduce_sequential<order_hash>(n, leaf).h;
    EXPECT_EQ(root_in_parts(n, {}, rng), truth) << n;
    if (n < 2) continue;
    EXPECT_EQ(root_in_parts(n, {1}, rng), truth) << n;
    EXPECT_EQ(root_in_parts(n, {n - 1}, rng), truth) << n;
    EXPECT_EQ(root_in_parts(n, {n / 2}, rng), truth) << n;
    std::vector<std::size_t> cuts;  // many small parts, cut at random
    for (int k = 0; k < 40; ++k) cuts.push_back(1 + rng() % (n - 1));
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    EXPECT_EQ(root_in_parts(n, cuts, rng), truth) << n;
  }
}

TEST(FixedReducePart, PartsHoldFewNodes)
{
  // A range inside a tree two levels deep holds at most 255 nodes per side and level.
  const std::size_t n = 65536 * 3;
  d::fixed_reduce_part<order_hash> part(n);
  for (std::size_t i = 1000; i < 150000; ++i) part.add(0, i, leaf(i));
  std::size_t held = 0;
  for (std::size_t level = 0; level < part.levels(); ++level) held += part.nodes(level).size();
  EXPECT_LE(held, 2u * 255u * part.levels());
  EXPECT_FALSE(part.complete());
}

TEST(FixedReducePart, RefusesOverlapsAndMissingLeaves)
{
  d::fixed_reduce_part<order_hash> a(1000), b(1000);
  for (std::size_t i = 0; i < 600; ++i) a.add(0, i, leaf(i));
  for (std::size_t i = 500; i < 1000; ++i) b.add(0, i, leaf(i));
  EXPECT_THROW(a.merge(b), shrink::error);  // leaves 500..599 twice (inside a reduced tile of a)
  d::fixed_reduce_part<order_hash> c(1000);
  for (std::size_t i = 0; i < 999; ++i) c.add(0, i, leaf(i));
  EXPECT_FALSE(c.complete());
  EXPECT_THROW(c.root(), shrink::error);
  EXPECT_THROW(c.add(0, 3, leaf(3)), shrink::error);  // inside a reduced tile
  EXPECT_THROW(c.add(0, 1000, leaf(0)), shrink::error);  // past the end
  d::fixed_reduce_part<order_hash> other(999);
  EXPECT_THROW(c.merge(other), shrink::error);
}

}  // namespace
