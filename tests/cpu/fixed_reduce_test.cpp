// The fixed-shape reduction both backends use (src/common/fixed_reduce.hpp): the CPU's parallel
// reduce gives the same bits for every thread count and equals a plain sequential rendering of the
// tree for J from 1 to 1e7 around every tile and task boundary; the GPU's thread mapping (the same
// SHRINK_HD helpers the kernel calls, run here thread by thread) is the same tree; the tree is
// accurate against long double; and portable_log is within an ulp of the true logarithm.

#include "common/fixed_reduce.hpp"
#include "common/group_sums.hpp"
#include "common/portable_log.hpp"
#include "cpu/parallel.hpp"

#include "api/group_engine.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
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

/// The tree written out as plainly as possible: every level cut into tiles of 256, each tile
/// reduced by "x[i] = x[i] + x[i + s] for i < s with i + s < m", s = 128, ..., 1.
template <class T>
T plain_tree(std::vector<T> x)
{
  if (x.empty()) return T{};
  do {
    std::vector<T> next;
    for (std::size_t begin = 0; begin < x.size(); begin += 256) {
      const std::size_t m = std::min<std::size_t>(256, x.size() - begin);
      std::vector<T> tile(x.begin() + static_cast<std::ptrdiff_t>(begin),
                          x.begin() + static_cast<std::ptrdiff_t>(begin + m));
      for (std::size_t s = 128; s >= 1; s /= 2)
        for (std::size_t i = 0; i < s; ++i)
          if (i + s < m) tile[i] = tile[i] + tile[i + s];
      next.push_back(tile[0]);
    }
    x.swap(next);
  } while (x.size() > 1);
  return x[0];
}

/// The tree's expression for n leaves "0".."n-1", as text.
struct expr {
  std::string s;
  friend expr operator+(const expr& a, const expr& b) { return {"(" + a.s + "+" + b.s + ")"}; }
};

std::string shape(std::size_t n)
{
  return d::fixed_reduce_sequential<expr>(n, [](std::size_t i) { return expr{std::to_string(i)}; }).s;
}

TEST(FixedReduce, ShapeOfSmallTrees)
{
  EXPECT_EQ(shape(0), "");
  EXPECT_EQ(shape(1), "0");
  EXPECT_EQ(shape(2), "(0+1)");
  EXPECT_EQ(shape(3), "((0+2)+1)");
  EXPECT_EQ(shape(4), "((0+2)+(1+3))");
  EXPECT_EQ(shape(5), "(((0+4)+2)+(1+3))");
  EXPECT_EQ(shape(8), "(((0+4)+(2+6))+((1+5)+(3+7)))");
  // 257 leaves: a full tile, then a tile of one, joined at the next level.
  EXPECT_EQ(shape(257), "(" + shape(256) + "+256)");
  EXPECT_EQ(shape(256).rfind("((((((((0+128)+(64+192))+", 0), 0u);
}

TEST(FixedReduce, SequentialEqualsThePlainTree)
{
  for (std::size_t n : {1, 2, 3, 7, 128, 129, 255, 256, 257, 300, 511, 512, 513, 65535, 65536, 65537, 65536 + 255,
                        100000}) {
    std::vector<order_hash> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = leaf(i);
    EXPECT_EQ(d::fixed_reduce_sequential<order_hash>(n, leaf).h, plain_tree(x).h) << n;
  }
}

std::vector<std::size_t> boundary_sizes()
{
  // Tile (256), task (2^14), level-2 tile (2^16) and level-3 tile (2^24) boundaries, where the
  // upper levels become parallel (n >= 2^24), and 1e6, 1e7.
  std::vector<std::size_t> sizes;
  for (std::size_t b : {std::size_t{1}, std::size_t{256}, std::size_t{512}, std::size_t{1} << 14,
                        std::size_t{1} << 16, (std::size_t{1} << 16) * 3, std::size_t{1} << 22, std::size_t{1} << 24})
    for (std::ptrdiff_t delta : {-1, 0, 1})
      if (static_cast<std::ptrdiff_t>(b) + delta >= 1) sizes.push_back(static_cast<std::size_t>(static_cast<std::ptrdiff_t>(b) + delta));
  for (std::size_t n : {2, 3, 1000, 1000000, 10000000, (1 << 24) + 257}) sizes.push_back(static_cast<std::size_t>(n));
  return sizes;
}

TEST(FixedReduce, ParallelReduceIsTheTreeForEveryThreadCount)
{
  for (std::size_t n : boundary_sizes()) {
    const std::uint64_t expected = d::fixed_reduce_sequential<order_hash>(n, leaf).h;
    for (int threads : {1, 2, 3, 8}) {
      EXPECT_EQ(d::reduce<order_hash>(n, threads, leaf).h, expected) << "n " << n << " threads " << threads;
    }
  }
  EXPECT_EQ(d::reduce<order_hash>(0, 4, leaf).h, 0u);
}

/// The GPU kernel's mapping of one tile of m nodes onto fixed_tile / Items threads, run here
/// thread by thread, level by level (within a level the threads read indices >= stride and
/// write indices < stride, so any order of the threads gives the lock-step result).
template <int Items>
order_hash gpu_mapping(const std::vector<order_hash>& x, std::size_t m)
{
  constexpr std::size_t threads = d::fixed_tile / Items;
  std::vector<order_hash> shared(threads);
  for (std::size_t t = 0; t < threads; ++t) {
    order_hash r[Items];
    for (int k = 0; k < Items; ++k) {
      const std::size_t i = t + static_cast<std::size_t>(k) * threads;
      if (i < m) r[k] = x[i];
    }
    d::fixed_tile_thread_levels<Items>(r, t, m);
    if (t < m) shared[t] = r[0];
  }
  for (std::size_t stride = threads / 2; stride > 0; stride /= 2)
    for (std::size_t t = 0; t < threads; ++t) d::fixed_tile_step(shared.data(), t, stride, m);
  return shared[0];
}

TEST(FixedReduce, GpuThreadMappingIsTheTileTree)
{
  std::vector<order_hash> x(d::fixed_tile);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = leaf(1000 + i);
  for (std::size_t m = 1; m <= d::fixed_tile; ++m) {
    std::vector<order_hash> copy = x;
    const std::uint64_t expected = d::fixed_tile_tree(copy.data(), m).h;
    EXPECT_EQ(gpu_mapping<1>(x, m).h, expected) << m;
    EXPECT_EQ(gpu_mapping<2>(x, m).h, expected) << m;
    EXPECT_EQ(gpu_mapping<4>(x, m).h, expected) << m;
  }
}

TEST(FixedReduce, AccurateAgainstLongDouble)
{
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> z;
  for (std::size_t n : {std::size_t{1000}, std::size_t{65537}, std::size_t{10000000}}) {
    std::vector<double> x(n), y(n);
    long double sum = 0, abs_sum = 0, mean = 0;
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = u(rng);
      y[i] = 1e3 + z(rng);
      sum += x[i];
      abs_sum += std::fabs(x[i]);
      mean += y[i];
    }
    mean /= static_cast<long double>(n);
    long double ss = 0;
    for (double v : y) ss += (v - mean) * (v - mean);
    // A pairwise tree: error at most depth x eps x sum |x| (depth = 8 per level); in practice far less.
    const double s = d::reduce<double>(n, 2, [&](std::size_t i) { return x[i]; });
    const double eps = std::numeric_limits<double>::epsilon();
    EXPECT_LE(std::fabs(s - static_cast<double>(sum)), 32 * eps * static_cast<double>(abs_sum)) << n;
    EXPECT_LE(std::fabs(s - static_cast<double>(sum)), 1e-15 * static_cast<double>(sum)) << n;
    // Moments of values near 1e3 with sd 1 (Chan merges): the mean and the sum of squares.
    const d::unweighted_sums m =
      d::reduce<d::unweighted_sums>(n, 3, [&](std::size_t i) { return d::unweighted_sums::of(y[i], 1.0); });
    EXPECT_EQ(m.ybar.weight, static_cast<double>(n));
    EXPECT_LE(std::fabs(m.ybar.mean - static_cast<double>(mean)), 1e-15 * static_cast<double>(mean)) << n;
    EXPECT_LE(std::fabs(m.ybar.m2 - static_cast<double>(ss)), 1e-12 * static_cast<double>(ss)) << n;
  }
}

/// Field-by-field bitwise equality of the reduction results (variance_range has padding).
bool same(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }
bool same(const d::moments& a, const d::moments& b) { return same(a.weight, b.weight) && same(a.mean, b.mean) && same(a.m2, b.m2); }
bool same(const d::weighted_sums& a, const d::weighted_sums& b)
{
  return same(a.wy, b.wy) && same(a.w2y, b.w2y) && same(a.sum_w2, b.sum_w2) && same(a.sum_w3, b.sum_w3) &&
         same(a.sum_log_w, b.sum_log_w) && same(a.sum_w2v, b.sum_w2v) && same(a.sum_w3v, b.sum_w3v) &&
         same(a.sum_w2v2, b.sum_w2v2) && same(a.sum_w3v2, b.sum_w3v2);
}
bool same(const d::newton_sums& a, const d::newton_sums& b)
{
  return same(a.sw, b.sw) && same(a.swd, b.swd) && same(a.swdd, b.swdd) && same(a.sw2, b.sw2) &&
         same(a.sw2d, b.sw2d) && same(a.sw2dd, b.sw2dd) && same(a.sw3, b.sw3) && same(a.sw3d, b.sw3d) &&
         same(a.sw3dd, b.sw3dd);
}

TEST(FixedReduce, CpuEngineReductionsAreTheSequentialTreeForAnyThreadCount)
{
  std::mt19937_64 rng(11);
  std::normal_distribution<double> z;
  std::uniform_real_distribution<double> u(0.5, 2.0);
  for (std::size_t J : {1, 255, 256, 257, 65535, 65536, 65537, 1000000}) {
    std::vector<double> est(J), se(J);
    for (std::size_t j = 0; j < J; ++j) {
      est[j] = 5 + z(rng);
      se[j] = u(rng);
    }
    const shrink::summary_data_view view{est.data(), se.data(), J, 0};
    auto term_v = [&](std::size_t j) { return se[j] * se[j]; };
    const d::weighted_sums ref_w = d::fixed_reduce_sequential<d::weighted_sums>(
      J, [&](std::size_t j) { return d::weighted_sums::of(est[j], term_v(j), 0.37, true); });
    const d::weighted_sums ref_nolog = d::fixed_reduce_sequential<d::weighted_sums>(
      J, [&](std::size_t j) { return d::weighted_sums::of(est[j], term_v(j), 0.37, false); });
    const d::unweighted_sums ref_u = d::fixed_reduce_sequential<d::unweighted_sums>(
      J, [&](std::size_t j) { return d::unweighted_sums::of(est[j], term_v(j)); });
    const d::newton_sums ref_n = d::fixed_reduce_sequential<d::newton_sums>(
      J, [&](std::size_t j) { return d::newton_sums::of(est[j], term_v(j), 1e-6, 5.0); });
    for (int threads : {1, 2, 3, 8}) {
      SCOPED_TRACE("J " + std::to_string(J) + " threads " + std::to_string(threads));
      auto engine = d::make_cpu_engine(view, threads);
      EXPECT_TRUE(same(engine->weighted(0.37), ref_w));
      EXPECT_TRUE(same(engine->weighted(0.37, false), ref_nolog));
      const d::unweighted_sums un = engine->unweighted();
      EXPECT_TRUE(same(un.ybar, ref_u.ybar) && same(un.sum_v, ref_u.sum_v) && same(un.sum_v2, ref_u.sum_v2));
      EXPECT_TRUE(same(engine->newton(1e-6, 5.0), ref_n));
      const d::variance_range vr = engine->variances();
      EXPECT_TRUE(vr.finite);
      EXPECT_EQ(vr.min, *std::min_element(se.begin(), se.end()) * *std::min_element(se.begin(), se.end()));
    }
  }
}

TEST(PortableLog, WithinAnUlpOfTheTrueLogarithm)
{
  std::mt19937_64 rng(5);
  double worst = 0;
  auto check = [&](double x) {
    const double got = d::portable_log(x);
    const long double truth = std::log(static_cast<long double>(x));
    const double t = static_cast<double>(truth);
    const double ulp = std::nextafter(std::fabs(t), HUGE_VAL) - std::fabs(t);
    worst = std::max(worst, static_cast<double>(std::fabs(static_cast<long double>(got) - truth)) / ulp);
  };
  for (int i = 0; i < 2000000; ++i) {
    const double x = d::double_of(rng() & 0x7fefffffffffffffULL);  // every finite positive exponent
    if (x > 0) check(x);
  }
  std::uniform_real_distribution<double> near_one(0.5, 2.0);
  for (int i = 0; i < 1000000; ++i) check(near_one(rng));
  // Within 2^-20 of 1 (fdlibm's shortcut there is left out) and at the ends of the reduced range.
  for (int i = 1; i <= 200000; ++i) {
    check(1.0 + i * 0x1p-52);
    check(1.0 - i * 0x1p-53);
    check(1.0 + std::ldexp(near_one(rng), -21 - i % 30));
    check(1.0 - std::ldexp(near_one(rng), -22 - i % 30));
    check(std::sqrt(2.0) * (1.0 + (i - 100000) * 0x1p-52));
    check(std::ldexp(std::sqrt(0.5) * (1.0 + (i - 100000) * 0x1p-52), i % 2000 - 1000));
  }
  for (double x : {1.0, 2.0, 0.5, 1e-100, 1e100, 1e-300, 4.9e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                   1.0000000000000002, 0.9999999999999999, 2.225073858507201e-308, 1e-310})
    check(x);
  EXPECT_LT(worst, 1.0);
  EXPECT_EQ(d::portable_log(1.0), 0.0);
  EXPECT_EQ(d::portable_log(0.0), -HUGE_VAL);
  EXPECT_EQ(d::portable_log(-0.0), -HUGE_VAL);
  EXPECT_EQ(d::portable_log(HUGE_VAL), HUGE_VAL);
  EXPECT_TRUE(std::isnan(d::portable_log(-1.0)));
  EXPECT_TRUE(std::isnan(d::portable_log(std::nan(""))));
}

}  // namespace
