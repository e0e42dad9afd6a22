// The Welford/Chan accumulator against two-pass formulas computed by hand.

#include "common/moments.hpp"

#include <gtest/gtest.h>

#include <vector>

using shrink::detail::moments;

TEST(Moments, MatchesTwoPassMeanAndSumOfSquares)
{
  const std::vector<double> x{2, 4, 4, 4, 5, 5, 7, 9};  // mean 5, sum of squares 32
  moments m;
  for (double v : x) m.add(v);
  EXPECT_DOUBLE_EQ(m.weight, 8);
  EXPECT_DOUBLE_EQ(m.mean, 5);
  EXPECT_DOUBLE_EQ(m.m2, 32);
}

TEST(Moments, ChanMergeEqualsSequential)
{
  moments a, b, all;
  for (int i = 0; i < 10; ++i) {
    const double v = 1e9 + 0.1 * i * i;  // large offset: the naive sum-of-squares formula fails here
    (i < 4 ? a : b).add(v);
    all.add(v);
  }
  const moments merged = a + b;
  EXPECT_EQ(merged.weight, all.weight);
  EXPECT_NEAR(merged.mean, all.mean, 1e-6);
  EXPECT_NEAR(merged.m2, all.m2, 1e-9 * all.m2);
  // Exact value: 0.01 * sum (i^2 - 28.5)^2 over i = 0..9.
  double expected = 0;
  for (int i = 0; i < 10; ++i) expected += 0.01 * (i * i - 28.5) * (i * i - 28.5);
  EXPECT_NEAR(all.m2, expected, 1e-6 * expected);
}

TEST(Moments, WeightedMeanAndSpread)
{
  moments m;
  m.add(1.0, 3.0);
  m.add(5.0, 1.0);
  EXPECT_DOUBLE_EQ(m.mean, 2.0);             // (3*1 + 5) / 4
  EXPECT_DOUBLE_EQ(m.m2, 3.0 * 1 + 1.0 * 9);  // sum w (x - 2)^2
  moments empty;
  const moments same = m + empty;
  EXPECT_EQ(same.mean, m.mean);
  EXPECT_EQ(same.m2, m.m2);
}
