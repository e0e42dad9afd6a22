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
  // A large offset, where sum(x^2) - n mean^2 loses about 5 of 16 digits; the reference is a
  // two-pass computation in long double on the same (rounded) inputs. Welford's error bound is
  // about n eps kappa, kappa = sqrt(1 + mean^2 / var) = 3.5e5 here: 4e-10 relative.
  moments a, b, all;
  std::vector<double> x;
  for (int i = 0; i < 10; ++i) x.push_back(1e6 + 0.1 * i * i);
  for (int i = 0; i < 10; ++i) {
    (i < 4 ? a : b).add(x[i]);
    all.add(x[i]);
  }
  long double mean = 0, m2 = 0;
  for (double v : x) mean += v;
  mean /= 10;
  for (double v : x) m2 += (v - mean) * (v - mean);
  const moments merged = a + b;
  EXPECT_EQ(merged.weight, 10);
  EXPECT_NEAR(merged.mean, static_cast<double>(mean), 1e-15 * 1e6);
  EXPECT_NEAR(all.mean, static_cast<double>(mean), 1e-15 * 1e6);
  EXPECT_NEAR(merged.m2, static_cast<double>(m2), 1e-9 * static_cast<double>(m2));
  EXPECT_NEAR(all.m2, static_cast<double>(m2), 1e-9 * static_cast<double>(m2));
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
