// The GPU's summary stage against an exact host model of its arithmetic, bit for bit: short runs
// (Welford from the group's running state, as the CPU), long runs cut into pieces on the chunk's
// fixed 1024-row segment grid (lane-strided Welford, a fixed butterfly per piece, pieces merged in
// run order by fixed slices and the same butterfly); sorted and unsorted input; host rows through
// the pinned ring (many slices, many chunks), page-locked host rows, device rows; the ring's
// device-to-host copy; and the split and team paths of simulation studies (the same bits). Every
// test skips where no GPU is usable.

#include "test_support.hpp"

#include <shrink/config.hpp>
#include <shrink/error.hpp>
#include <shrink/fit.hpp>
#include <shrink/simulate.hpp>

#if SHRINK_HAS_CUDA
#include "../kernels/simulate.cuh"
#include "cuda/cuda_backend.hpp"
#include "cuda/stream.hpp"
#include "cuda/summarize.hpp"
#endif

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace shrink;

#if SHRINK_HAS_CUDA
using detail::moments;

struct rows {
  std::vector<std::int32_t> ids;
  std::vector<double> y;
  std::size_t groups = 0;
  raw_data_view view() const { return {ids.data(), y.data(), y.size(), groups, 0.0}; }
};

/// Groups of the given sizes, rows of a group consecutive (grouped input), values with a large
/// common part so that rounding differences would show.
rows grouped_rows(const std::vector<std::size_t>& sizes, std::uint64_t seed)
{
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  rows r;
  r.groups = sizes.size();
  for (std::size_t j = 0; j < sizes.size(); ++j) {
    const double theta = 1000.0 + 3.0 * normal(rng);
    for (std::size_t i = 0; i < sizes[j]; ++i) {
      r.ids.push_back(static_cast<std::int32_t>(j));
      r.y.push_back(theta + normal(rng));
    }
  }
  return r;
}

rows shuffled(const rows& in, std::uint64_t seed)
{
  std::vector<std::size_t> order(in.y.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  rows out;
  out.groups = in.groups;
  for (std::size_t i : order) {
    out.ids.push_back(in.ids[i]);
    out.y.push_back(in.y[i]);
  }
  return out;
}

/// A stable sort by id: each group's rows keep their order.
rows stably_sorted(const rows& in)
{
  std::vector<std::size_t> order(in.y.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return in.ids[a] < in.ids[b]; });
  rows out;
  out.groups = in.groups;
  for (std::size_t i : order) {
    out.ids.push_back(in.ids[i]);
    out.y.push_back(in.y[i]);
  }
  return out;
}

/// The device's butterfly over 32 values: at each step the lower lane is the left operand.
moments butterfly(std::vector<moments> v)
{
  for (std::size_t offset = 1; offset < 32; offset *= 2) {
    std::vector<moments> next(32);
    for (std::size_t l = 0; l < 32; ++l) next[l] = (l & offset) != 0 ? v[l ^ offset] + v[l] : v[l] + v[l ^ offset];
    v = next;
  }
  return v[0];
}

/// The GPU summary stage's arithmetic on the host (kernels/group_summaries.cuh), chunk by chunk.
std::vector<moments> model_of_gpu(const rows& r, std::size_t chunk)
{
  constexpr std::size_t long_run = 1024, segment = 1024;
  std::vector<moments> table(r.groups);
  for (std::size_t begin = 0; begin < r.y.size(); begin += chunk) {
    const std::size_t end = std::min(r.y.size(), begin + chunk);
    std::vector<std::size_t> idx(end - begin);
    std::iota(idx.begin(), idx.end(), begin);
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return r.ids[a] < r.ids[b]; });
    const std::size_t m = idx.size();
    for (std::size_t b = 0; b < m;) {
      std::size_t e = b;
      while (e < m && r.ids[idx[e]] == r.ids[idx[b]]) ++e;
      moments& g = table[static_cast<std::size_t>(r.ids[idx[b]])];
      if (e - b <= long_run) {
        for (std::size_t p = b; p < e; ++p) g.add(r.y[idx[p]]);
      } else {
        std::vector<moments> pieces;
        for (std::size_t s = b / segment; s <= (e - 1) / segment; ++s) {
          const std::size_t lo = std::max(b, s * segment), hi = std::min(e, (s + 1) * segment);
          std::vector<moments> lanes(32);
          for (std::size_t i = lo; i < hi; ++i) lanes[(i - lo) % 32].add(r.y[idx[i]]);
          pieces.push_back(butterfly(lanes));
        }
        const std::size_t count = pieces.size();
        std::vector<moments> part(256);
        for (std::size_t t = 0; t < 256; ++t)
          for (std::size_t p = count * t / 256; p < count * (t + 1) / 256; ++p) part[t] = part[t] + pieces[p];
        moments total;
        for (std::size_t w = 0; w < 8; ++w)
          total = total + butterfly(std::vector<moments>(part.begin() + 32 * w, part.begin() + 32 * (w + 1)));
        g = g + total;
      }
      b = e;
    }
  }
  return table;
}

std::vector<moments> to_host(const detail::device_buffer<moments>& d, cudaStream_t stream)
{
  std::vector<moments> h(d.size());
  SHRINK_CUDA_TRY(cudaMemcpyAsync(h.data(), d.data(), d.bytes(), cudaMemcpyDeviceToHost, stream));
  SHRINK_CUDA_TRY(cudaStreamSynchronize(stream));
  return h;
}

void expect_same_bits(const std::vector<moments>& want, const std::vector<moments>& got, const std::string& what)
{
  ASSERT_EQ(want.size(), got.size()) << what;
  int failures = 0;
  for (std::size_t j = 0; j < want.size() && failures < 5; ++j) {
    if (std::memcmp(&want[j], &got[j], sizeof(moments)) != 0) {
      ++failures;
      ADD_FAILURE() << what << " group " << j << ": want (" << want[j].weight << ", " << want[j].mean << ", "
                    << want[j].m2 << ") got (" << got[j].weight << ", " << got[j].mean << ", " << got[j].m2 << ")";
    }
  }
}

/// The table of device-resident rows.
std::vector<moments> device_rows_table(const rows& r, std::size_t chunk, detail::summarize_report* report = nullptr)
{
  detail::cuda_stream stream;
  detail::device_buffer<std::int32_t> d_keys(r.ids.size(), stream.get());
  detail::device_buffer<double> d_values(r.y.size(), stream.get());
  SHRINK_CUDA_TRY(cudaMemcpyAsync(d_keys.data(), r.ids.data(), d_keys.bytes(), cudaMemcpyHostToDevice, stream.get()));
  SHRINK_CUDA_TRY(cudaMemcpyAsync(d_values.data(), r.y.data(), d_values.bytes(), cudaMemcpyHostToDevice, stream.get()));
  const auto table =
    detail::summarize_device_rows(d_keys.data(), d_values.data(), r.y.size(), r.groups, stream.get(), chunk, report);
  return to_host(table, stream.get());
}

std::vector<moments> host_rows_table(const rows& r, std::size_t chunk, detail::pinned_ring* ring = nullptr,
                                     detail::summarize_report* report = nullptr)
{
  detail::cuda_stream stream;
  const auto table = detail::summarize_host_rows(r.view(), stream.get(), chunk, report, ring);
  return to_host(table, stream.get());
}

/// Run lengths around every boundary of the long-run scheme: 1024 (short), 1025 (long), pieces
/// that start and end on and off the segment grid, a run of over 300000 rows (about 300 pieces
/// over many blocks), singletons between them.
std::vector<std::size_t> boundary_sizes()
{
  return {1, 1024, 1025, 1023, 2048, 2049, 3, 300001, 1, 4097, 700, 1026, 1, 65536, 2};
}

TEST(CudaSummaries, SegmentedLongRunsMatchTheModelBitwise)
{
  SHRINK_SKIP_WITHOUT_GPU();
  const rows grouped = grouped_rows(boundary_sizes(), 3);
  const rows mixed = shuffled(grouped, 4);
  for (std::size_t chunk : {std::size_t{0}, std::size_t{5000}, std::size_t{1} << 17}) {
    SCOPED_TRACE(chunk);
    const std::size_t c = detail::chunk_rows_for(chunk, grouped.y.size());
    for (const rows* r : {&grouped, &mixed}) {
      const std::vector<moments> want = model_of_gpu(*r, c);
      expect_same_bits(want, host_rows_table(*r, chunk), "host rows");
      expect_same_bits(want, device_rows_table(*r, chunk), "device rows");
    }
  }
}

TEST(CudaSummaries, FewGroupsOverManyRowsSpreadAndStayExact)
{
  SHRINK_SKIP_WITHOUT_GPU();
  // Under 1000 groups over 4 million rows: every run is long, and each group's pieces spread over
  // all the SMs. The model gives the bits; the CPU agrees to rounding; run to run is bitwise.
  std::vector<std::size_t> sizes(7, 600000);
  sizes[3] = 1;
  sizes[5] = 4096;
  const rows r = shuffled(grouped_rows(sizes, 8), 9);
  const std::vector<moments> gpu = host_rows_table(r, 0);
  expect_same_bits(model_of_gpu(r, r.y.size()), gpu, "model");
  expect_same_bits(gpu, host_rows_table(r, 0), "run to run");
  auto cpu = detail::make_cpu_engine(r.view(), 2);
  const detail::group_totals ct = cpu->totals();
  double n = 0;
  for (const moments& m : gpu) n += m.weight;
  EXPECT_EQ(static_cast<double>(ct.observations), n);
}

TEST(CudaSummaries, SortedAndUnsortedInputGiveTheSameBits)
{
  SHRINK_SKIP_WITHOUT_GPU();
  // One chunk: the stable sort of the unsorted input is the sorted input, so every run, and every
  // bit of the table, is the same; the sorted input skips the sort.
  std::vector<std::size_t> sizes;
  std::mt19937_64 rng(10);
  for (int j = 0; j < 3000; ++j) sizes.push_back(1 + rng() % 40);
  sizes[17] = 5000;
  sizes[2999] = 2500;
  const rows unsorted = shuffled(grouped_rows(sizes, 11), 12);
  const rows sorted = stably_sorted(unsorted);
  detail::summarize_report ru, rs;
  const std::vector<moments> a = host_rows_table(unsorted, 0, nullptr, &ru);
  const std::vector<moments> b = host_rows_table(sorted, 0, nullptr, &rs);
  EXPECT_EQ(ru.sorted_chunks, 0u);
  EXPECT_EQ(rs.sorted_chunks, 1u);
  expect_same_bits(a, b, "host rows, unsorted vs sorted");
  expect_same_bits(a, device_rows_table(unsorted, 0), "device rows, unsorted");
  expect_same_bits(a, device_rows_table(sorted, 0), "device rows, sorted");
  expect_same_bits(model_of_gpu(unsorted, unsorted.y.size()), a, "model");
}

TEST(CudaSummaries, PinnedRingWithManySlicesAndChunks)
{
  SHRINK_SKIP_WITHOUT_GPU();
  // A ring of three 4 KiB slices: every chunk of 7000 rows goes through ~7 key slices and ~14
  // value slices, the ring wraps hundreds of times, and the host checks the keys as it stages them.
  const rows r = shuffled(grouped_rows(std::vector<std::size_t>(900, 150), 13), 14);
  detail::pinned_ring ring(3, 4096);
  detail::summarize_report report;
  const std::vector<moments> staged = host_rows_table(r, 7000, &ring, &report);
  EXPECT_EQ(report.chunks, (r.y.size() + 6999) / 7000);
  EXPECT_GT(ring.slices_used(), 3 * report.chunks);
  expect_same_bits(model_of_gpu(r, 7000), staged, "ring");
  expect_same_bits(staged, device_rows_table(r, 7000), "device rows");

  // Page-locked rows skip the ring and are checked on the device: the same bits.
  detail::pinned_buffer<std::int32_t> ids(r.ids.size());
  detail::pinned_buffer<double> y(r.y.size());
  std::copy(r.ids.begin(), r.ids.end(), ids.data());
  std::copy(r.y.begin(), r.y.end(), y.data());
  const std::size_t used = ring.slices_used();
  detail::cuda_stream stream;
  const raw_data_view locked{ids.data(), y.data(), r.y.size(), r.groups, 0.0};
  const auto table = detail::summarize_host_rows(locked, stream.get(), 7000, nullptr, &ring);
  EXPECT_EQ(ring.slices_used(), used);
  expect_same_bits(staged, to_host(table, stream.get()), "page-locked rows");

  // A bad id fails on either path.
  rows bad = r;
  bad.ids[12345] = static_cast<std::int32_t>(r.groups);
  EXPECT_THROW(host_rows_table(bad, 7000, &ring), error);
  ids.data()[12345] = -1;
  EXPECT_THROW(detail::summarize_host_rows(locked, stream.get(), 7000, nullptr, &ring), error);
}

TEST(CudaSummaries, RingCopiesBackToPageableMemory)
{
  SHRINK_SKIP_WITHOUT_GPU();
  std::vector<double> src(100003);
  std::iota(src.begin(), src.end(), 0.5);
  detail::pinned_ring ring(2, 8192);
  detail::cuda_stream stream;
  detail::device_buffer<double> d(src.size(), stream.get());
  {
    const auto lock = ring.lock();
    detail::copy_to_device_staged(ring, d.data(), src.data(), src.size() * sizeof(double), stream.get());
    std::vector<double> back(src.size());
    detail::copy_to_host_staged(ring, back.data(), d.data(), back.size() * sizeof(double), stream.get());
    EXPECT_EQ(back, src);
  }
}

TEST(CudaSimulate, SplitAndTeamPathsGiveTheSameBits)
{
  SHRINK_SKIP_WITHOUT_GPU();
  struct variant {
    std::int64_t groups;
    obs_range n;
    simulation_mode mode;
    prior_family prior;
    bool redraw;
  };
  // One chunk (4096, 16384), a partial last chunk, several chunks; equal and unequal n (the
  // weighted pass), raw mode, the t prior, redrawn designs.
  const variant variants[] = {{4096, {5, 5}, simulation_mode::sufficient, prior_family::normal, false},
                              {16384, {2, 9}, simulation_mode::sufficient, prior_family::normal, false},
                              {40000, {4, 4}, simulation_mode::sufficient, prior_family::student_t, false},
                              {50001, {1, 6}, simulation_mode::sufficient, prior_family::normal, true},
                              {20000, {2, 3}, simulation_mode::raw, prior_family::normal, false}};
  for (const variant& v : variants) {
    SCOPED_TRACE(v.groups);
    simulate_options o;
    o.groups = {v.groups};
    o.obs = {v.n};
    o.mode = v.mode;
    o.prior = v.prior;
    o.prior_df = 4;
    o.redraw_obs = v.redraw;
    o.sigma = {1.0};
    o.tau = {0.0, 0.6};
    o.replicates = 70;
    o.seed = 99;
    o.requested_backend = backend::cuda;
    detail::sim::force_path_for_testing(1);
    const std::string team = test::simulate_csv(simulate(o));
    detail::sim::force_path_for_testing(2);
    const std::string split = test::simulate_csv(simulate(o));
    detail::sim::force_path_for_testing(0);
    const std::string automatic = test::simulate_csv(simulate(o));
    EXPECT_EQ(team, split);
    EXPECT_EQ(team, automatic);
  }
}

#endif  // SHRINK_HAS_CUDA

}  // namespace
