// The CUDA engine's memory: per-group columns copied back through the pinned ring (many copies,
// cut into slices across copy boundaries) arrive byte for byte; posteriors over more than one
// posterior slice (4 Mi groups) and over more bytes than the ring (128 MiB) go through the ring
// and give the CPU engine's bits (the same table, the same SHRINK_HD formulas); and the reused
// reduction scratch and posterior columns give the same bits call after call, for engines of
// different sizes alive at once. Every test skips where no GPU is usable.

#include "test_support.hpp"

#include "api/group_engine.hpp"

#include <shrink/config.hpp>
#include <shrink/fit.hpp>

#if SHRINK_HAS_CUDA
#include "cuda/stream.hpp"
#endif

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace shrink;

#if SHRINK_HAS_CUDA

bool same_bits(const std::vector<double>& a, const std::vector<double>& b)
{
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

void expect_same_columns(const fit_result& c, const fit_result& g, const std::string& what)
{
  EXPECT_EQ(c.n, g.n) << what;
  EXPECT_TRUE(same_bits(c.mean, g.mean)) << what << ": mean";
  EXPECT_TRUE(same_bits(c.se, g.se)) << what << ": se";
  EXPECT_TRUE(same_bits(c.shrinkage, g.shrinkage)) << what << ": shrinkage";
  EXPECT_TRUE(same_bits(c.estimate, g.estimate)) << what << ": estimate";
  EXPECT_TRUE(same_bits(c.sd, g.sd)) << what << ": sd";
  EXPECT_TRUE(same_bits(c.lower, g.lower)) << what << ": lower";
  EXPECT_TRUE(same_bits(c.upper, g.upper)) << what << ": upper";
  EXPECT_TRUE(same_bits(c.james_stein, g.james_stein)) << what << ": james_stein";
}

/// Group summaries already folded on the host: both engines hold exactly this table.
struct table {
  std::vector<std::int64_t> n;
  std::vector<double> mean, m2;
  grouped_data_view view() const { return {n.data(), mean.data(), m2.data(), n.size(), 0.0, nullptr}; }
};

table make_table(std::size_t J, std::uint64_t seed)
{
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  table t;
  t.n.resize(J);
  t.mean.resize(J);
  t.m2.resize(J);
  for (std::size_t j = 0; j < J; ++j) {
    t.n[j] = 2 + static_cast<std::int64_t>(rng() % 40);
    t.mean[j] = 5.0 + normal(rng);
    t.m2[j] = static_cast<double>(t.n[j] - 1) * (0.5 + std::fabs(normal(rng)));
  }
  return t;
}

detail::posterior_params params_for(bool james_stein)
{
  detail::posterior_params p;
  p.mu = 5.03125;
  p.tau2 = 0.7;
  p.z = 1.959963984540054;
  p.james_stein = james_stein;
  p.js_center = 5.0;
  p.js_c = 0.83;
  return p;
}

TEST(CudaStaging, CopiesBackAcrossColumnsAndSlicesByteForByte)
{
  SHRINK_SKIP_WITHOUT_GPU();
  // Copies of 0, 1, 4096 (one slice exactly), 5000 and 12289 bytes through three 4 KiB slices:
  // slices end inside copies and copies end inside the ring's rotation.
  const std::size_t sizes[] = {0, 1, 4096, 5000, 12289, 0, 3};
  std::size_t total = 0;
  for (std::size_t s : sizes) total += s;
  std::vector<unsigned char> src(total);
  std::mt19937_64 rng(3);
  for (auto& b : src) b = static_cast<unsigned char>(rng());
  detail::cuda_stream stream;
  detail::device_buffer<unsigned char> d(total, stream.get());
  SHRINK_CUDA_TRY(cudaMemcpyAsync(d.data(), src.data(), total, cudaMemcpyHostToDevice, stream.get()));
  stream.synchronize();

  std::vector<unsigned char> back(total, 0);
  std::vector<detail::host_copy> copies;
  std::size_t offset = 0, expected_slices = 0;
  for (std::size_t s : sizes) {
    copies.push_back({back.data() + offset, d.data() + offset, s});
    offset += s;
    expected_slices += (s + 4095) / 4096;
  }
  detail::pinned_ring ring(3, 4096);
  {
    const auto lock = ring.lock();
    detail::copy_to_host_staged(ring, copies, stream.get());
  }
  EXPECT_EQ(back, src);
  EXPECT_EQ(ring.slices_used(), expected_slices);

  // The direct path: the same bytes.
  std::vector<unsigned char> direct(total, 0);
  for (auto& c : copies) c.h_dst = direct.data() + (static_cast<unsigned char*>(c.h_dst) - back.data());
  detail::copy_to_host_direct(copies, stream.get());
  EXPECT_EQ(direct, src);
}

TEST(CudaEngine, PosteriorsOverSeveralSlicesThroughTheRingAreTheCpusBits)
{
  SHRINK_SKIP_WITHOUT_GPU();
  // 5e6 groups: two posterior slices (4 Mi groups each at most), 9 columns of 40 MB: more than
  // the ring's 128 MiB, so the copy goes through the ring whether or not it existed before.
  const table t = make_table(5000000, 17);
  auto cpu = detail::make_cpu_engine(t.view(), 0);
  auto gpu = detail::make_cuda_engine(t.view());
  for (auto* e : {cpu.get(), gpu.get()}) e->set_sigma2(1.3);
  const detail::posterior_params p = params_for(true);
  fit_result c, g;
  cpu->posteriors(p, c);
  const std::size_t used = detail::pinned_ring::shared_exists() ? detail::pinned_ring::shared().slices_used() : 0;
  gpu->posteriors(p, g);
  ASSERT_TRUE(detail::pinned_ring::shared_exists());
  // 9 columns of 5e6 x 8 bytes in 32 MiB slices: 2 slices of groups, each column cut in slices.
  EXPECT_GE(detail::pinned_ring::shared().slices_used() - used, 9 * 2u);
  expect_same_columns(c, g, "5e6 groups");

  // The same engine again, with other parameters: the kept columns are rewritten, not reused stale.
  detail::posterior_params q = params_for(false);
  q.tau2 = 0.05;
  fit_result c2, g2;
  cpu->posteriors(q, c2);
  gpu->posteriors(q, g2);
  expect_same_columns(c2, g2, "5e6 groups, second call");
  EXPECT_FALSE(same_bits(g.estimate, g2.estimate));
}

TEST(CudaEngine, ReusedScratchAndColumnsGiveTheSameBitsCallAfterCall)
{
  SHRINK_SKIP_WITHOUT_GPU();
  // Engines of several sizes alive at once (one tile, a few levels, many levels), each asked
  // twice for every reduction and the posteriors: the first answers equal the CPU's, the second
  // the first.
  for (std::size_t J : {1u, 255u, 70000u, 300001u}) {
    SCOPED_TRACE("J " + std::to_string(J));
    const table t = make_table(J, 23 + J);
    auto cpu = detail::make_cpu_engine(t.view(), 3);
    auto gpu = detail::make_cuda_engine(t.view());
    auto small = detail::make_cuda_engine(make_table(3, 5).view());  // another engine between the calls
    for (auto* e : {cpu.get(), gpu.get(), small.get()}) e->set_sigma2(0.9);
    for (int call = 0; call < 2; ++call) {
      const detail::weighted_sums wc = cpu->weighted(0.3), wg = gpu->weighted(0.3);
      (void)small->weighted(0.3);
      EXPECT_EQ(std::memcmp(&wc.wy, &wg.wy, sizeof(wc.wy)), 0);
      EXPECT_EQ(std::memcmp(&wc.sum_log_w, &wg.sum_log_w, sizeof(double)), 0);
      EXPECT_EQ(std::memcmp(&wc.sum_w3v2, &wg.sum_w3v2, sizeof(double)), 0);
      const detail::group_totals tc = cpu->totals(), tg = gpu->totals();
      EXPECT_EQ(std::memcmp(&tc.between, &tg.between, sizeof(tc.between)), 0);
      EXPECT_EQ(std::memcmp(&tc.ss_within, &tg.ss_within, sizeof(double)), 0);
      EXPECT_EQ(tc.observations, tg.observations);
      fit_result c, g, s;
      cpu->posteriors(params_for(J >= 4), c);
      gpu->posteriors(params_for(J >= 4), g);
      small->posteriors(params_for(false), s);
      expect_same_columns(c, g, "call " + std::to_string(call));
    }
  }
}

#endif  // SHRINK_HAS_CUDA

}  // namespace
