// The CPU backend of the covariate models' sums over groups and fold of rows
// (src/cpu/cross_reduce.cpp) against plain long-double sums and two-pass statistics computed here,
// and the same bits for any thread count, batching or pack split.

#include "api/cross_reduce.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace shrink {
namespace {

/// Relative agreement for sums of ~1e5 terms of mixed sign rounded in a tree: a few ulps of the
/// sum of absolute values (1e-13 of it is far above the tree's error bound, log2(k) ulps).
void expect_close(double computed, long double exact, long double scale, const char* what)
{
  EXPECT_LE(std::fabs(static_cast<long double>(computed) - exact), 1e-13L * scale) << what << ": " << computed << " vs " << static_cast<double>(exact);
}

TEST(CrossReduce, WeightedSumsMatchLongDoubleSumsForAnyThreadCount)
{
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal;
  for (std::size_t k : {0u, 1u, 255u, 256u, 257u, 100000u})
    for (std::size_t p : {1u, 5u, 7u}) {  // 1, 15, 28 entries: packs of 16 cut the last
      std::vector<double> x(k * p), c(k);
      for (double& e : x) e = normal(rng);
      for (double& e : c) e = std::exp(normal(rng));
      std::vector<double> outer1(p * (p + 1) / 2), outer4(outer1.size()), rows1(p), rows4(p);
      detail::make_cross_reducer(backend::cpu, x.data(), k, p, 1)->weighted_outer(c.data(), outer1.data());
      detail::make_cross_reducer(backend::cpu, x.data(), k, p, 4)->weighted_outer(c.data(), outer4.data());
      detail::make_cross_reducer(backend::cpu, x.data(), k, p, 1)->weighted_rows(c.data(), rows1.data());
      detail::make_cross_reducer(backend::cpu, x.data(), k, p, 4)->weighted_rows(c.data(), rows4.data());
      EXPECT_EQ(0, std::memcmp(outer1.data(), outer4.data(), outer1.size() * sizeof(double)));
      EXPECT_EQ(0, std::memcmp(rows1.data(), rows4.data(), rows1.size() * sizeof(double)));
      std::size_t e = 0;
      for (std::size_t a = 0; a < p; ++a) {
        for (std::size_t b = 0; b <= a; ++b, ++e) {
          long double exact = 0, scale = 0;
          for (std::size_t j = 0; j < k; ++j) {
            const long double t = static_cast<long double>(c[j]) * x[j * p + a] * x[j * p + b];
            exact += t;
            scale += std::fabs(t);
          }
          expect_close(outer1[e], exact, scale, "S(c)");
        }
        long double exact = 0, scale = 0;
        for (std::size_t j = 0; j < k; ++j) {
          exact += static_cast<long double>(c[j]) * x[j * p + a];
          scale += std::fabs(static_cast<long double>(c[j]) * x[j * p + a]);
        }
        expect_close(rows1[a], exact, scale, "sum c r");
      }
    }
}

TEST(CrossReduce, FoldGivesTwoPassStatisticsTheSameForAnyThreadsOrBatches)
{
  const std::size_t n = 50000, J = 97, w = 4;
  std::mt19937_64 rng(2);
  std::normal_distribution<double> normal;
  std::vector<std::uint32_t> group(n);
  std::vector<double> z(n * w);
  for (std::size_t i = 0; i < n; ++i) {
    group[i] = static_cast<std::uint32_t>(rng() % J);
    for (std::size_t a = 0; a < w; ++a) z[i * w + a] = 1e6 * static_cast<double>(a) + normal(rng);
  }
  auto fold = [&](int threads, std::size_t batch) {
    auto f = detail::make_cross_folder(backend::cpu, w, threads);
    for (std::size_t b = 0; b < n; b += batch) f->fold(group.data() + b, z.data() + b * w, std::min(batch, n - b), J);
    return f->state();
  };
  const std::vector<double> one = fold(1, n), many = fold(4, 7001);
  ASSERT_EQ(one.size(), J * (1 + 2 * w + w * w));  // n, shift, mean, co-moments
  EXPECT_EQ(0, std::memcmp(one.data(), many.data(), one.size() * sizeof(double)));
  // Two passes in long double: the count, the means, then the centred co-moments.
  for (std::size_t j = 0; j < J; ++j) {
    const double* g = &one[j * (1 + 2 * w + w * w)];
    long double count = 0, mean[w] = {}, com[w * w] = {};
    for (std::size_t i = 0; i < n; ++i)
      if (group[i] == j) {
        count += 1;
        for (std::size_t a = 0; a < w; ++a) mean[a] += z[i * w + a];
      }
    for (long double& m : mean) m /= count;
    for (std::size_t i = 0; i < n; ++i)
      if (group[i] == j)
        for (std::size_t a = 0; a < w; ++a)
          for (std::size_t b = 0; b < w; ++b) com[a * w + b] += (z[i * w + a] - mean[a]) * (z[i * w + b] - mean[b]);
    EXPECT_EQ(g[0], static_cast<double>(count));
    for (std::size_t a = 0; a < w; ++a)
      EXPECT_NEAR(g[1 + a] + g[1 + w + a], static_cast<double>(mean[a]), 1e-12 * (1 + std::fabs(static_cast<double>(mean[a]))));
    // Welford's deviations (z - shift) - mean lose at most ulp(|z|) each (|z| up to 3e6 here,
    // deviations ~1; the shift keeps most of it): the co-moments' error grows at most like n ulp(3e6),
    // with 8x for the tails of the deviations.
    const double tol = 8 * static_cast<double>(count) * 3e6 * 2.220446049250313e-16;
    for (std::size_t e = 0; e < w * w; ++e) EXPECT_NEAR(g[1 + 2 * w + e], static_cast<double>(com[e]), tol);
  }
}

}  // namespace
}  // namespace shrink
