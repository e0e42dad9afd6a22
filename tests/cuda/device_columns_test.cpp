// Raw rows in GPU memory (io::fold_device_rows: src/cuda/device_columns.cu) against the host fold
// of the same numbers (io::array_fold: how shrink.fit reads NumPy arrays and `shrink fit
// --group-npy` reads .npy columns): keys of every width (negative, sparse, in random order, the
// int64 extremes), float32 and float64 values, one chunk and many. The keys, n, means, sums of
// squares and offset are bitwise the host's where every group's run in a chunk is short (the
// summary stage's promise, kernels/group_summaries.cuh), equal to rounding for long runs; a NaN and
// empty columns give the host's messages; host memory and the producer's streams are handled.
// Every test skips where no GPU is usable.

#include "test_support.hpp"

#include <shrink/config.hpp>
#include <shrink/error.hpp>

#include "io/array_fold.hpp"
#if SHRINK_HAS_CUDA
#include "cuda/device_buffer.hpp"
#include "cuda/stream.hpp"
#endif

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using namespace shrink;

#if SHRINK_HAS_CUDA

/// Long runs are Chan merges of warp-folded pieces where the host adds row by row: a few roundings
/// of the mean of differences and of m2 per merge, relative.
constexpr double merge_rounding = 1e-12;

template <class Key, class Value>
struct host_rows {
  std::vector<Key> keys;
  std::vector<Value> values;
};

/// n rows over `groups` distinct keys drawn from all of Key's range (negative ones included), in
/// random order; values with a large common part, so that a changed rounding shows.
template <class Key, class Value>
host_rows<Key, Value> random_rows(std::size_t n, std::size_t groups, std::uint64_t seed)
{
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int64_t> any_key(std::numeric_limits<Key>::min(), std::numeric_limits<Key>::max());
  std::vector<Key> pool;
  std::set<std::int64_t> seen;
  while (pool.size() < groups) {
    const std::int64_t k = any_key(rng);
    if (seen.insert(k).second) pool.push_back(static_cast<Key>(k));
  }
  std::uniform_int_distribution<std::size_t> pick(0, groups - 1);
  std::normal_distribution<double> noise;
  host_rows<Key, Value> r;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t g = pick(rng);
    r.keys.push_back(pool[g]);
    r.values.push_back(static_cast<Value>(1000.0 + 3.0 * static_cast<double>(g % 7) + noise(rng)));
  }
  return r;
}

template <class Key, class Value>
io::group_table host_table(const host_rows<Key, Value>& r)
{
  io::array_fold fold(2, "y");
  io::key_array keys;
  keys.ints = r.keys.data();
  keys.int_bytes = sizeof(Key);
  fold.add(keys, {r.values.data(), std::is_same_v<Value, float>}, r.values.size());
  return fold.finish();
}

template <class T>
detail::device_buffer<T> upload(const std::vector<T>& h, cudaStream_t stream)
{
  detail::device_buffer<T> d(h.size(), stream);
  if (!h.empty()) SHRINK_CUDA_TRY(cudaMemcpyAsync(d.data(), h.data(), d.bytes(), cudaMemcpyHostToDevice, stream));
  SHRINK_CUDA_TRY(cudaStreamSynchronize(stream));
  return d;
}

template <class Key, class Value>
io::group_table device_table(const host_rows<Key, Value>& r, std::size_t chunk_rows = 0, std::uintptr_t producer = 0)
{
  detail::cuda_stream stream;
  const auto d_keys = upload(r.keys, stream.get());
  const auto d_values = upload(r.values, stream.get());
  return io::fold_device_rows({d_keys.data(), static_cast<int>(sizeof(Key)), producer},
                              {d_values.data(), static_cast<int>(sizeof(Value)), producer},
                              r.values.size(), "y", 2, chunk_rows);
}

void expect_same_bits(const std::vector<double>& want, const std::vector<double>& got, const char* what)
{
  ASSERT_EQ(want.size(), got.size()) << what;
  for (std::size_t j = 0; j < want.size(); ++j)
    if (std::memcmp(&want[j], &got[j], sizeof(double)) != 0) {
      ADD_FAILURE() << what << "[" << j << "]: host " << want[j] << " device " << got[j];
      return;
    }
}

void expect_same_table(const io::group_table& want, const io::group_table& got)
{
  EXPECT_EQ(want.keys, got.keys);
  EXPECT_EQ(want.n, got.n);
  EXPECT_EQ(want.rows, got.rows);
  expect_same_bits(want.exact_mean, got.exact_mean, "exact_mean");
  expect_same_bits(want.mean, got.mean, "mean");
  expect_same_bits(want.m2, got.m2, "m2");
  expect_same_bits({want.offset}, {got.offset}, "offset");
}

template <class Key, class Value>
void expect_device_equals_host(std::size_t n, std::uint64_t seed)
{
  const std::size_t groups = std::max<std::size_t>(1, std::min<std::size_t>(n / 3 + 1, 200));
  const auto r = random_rows<Key, Value>(n, groups, seed);
  const io::group_table want = host_table(r);
  for (std::size_t chunk : {std::size_t{0}, std::size_t{64}}) {
    SCOPED_TRACE("key bytes " + std::to_string(sizeof(Key)) + ", value bytes " + std::to_string(sizeof(Value)) +
                 ", rows " + std::to_string(n) + ", chunk " + std::to_string(chunk));
    expect_same_table(want, device_table(r, chunk));
  }
}

template <class Key>
void expect_both_value_types(std::size_t n, std::uint64_t seed)
{
  expect_device_equals_host<Key, double>(n, seed);
  expect_device_equals_host<Key, float>(n, seed + 1);
}

TEST(CudaDeviceColumns, EveryKeyWidthAndValueTypeIsTheHostFoldBitwise)
{
  SHRINK_SKIP_WITHOUT_GPU();
  for (std::size_t n : {1, 31, 32, 33, 1025, 20000}) {
    expect_both_value_types<std::int8_t>(n, 10 + n);
    expect_both_value_types<std::int16_t>(n, 20 + n);
    expect_both_value_types<std::int32_t>(n, 30 + n);
    expect_both_value_types<std::int64_t>(n, 40 + n);
  }
}

TEST(CudaDeviceColumns, ExtremeAndEqualKeysAreTheHostFoldBitwise)
{
  SHRINK_SKIP_WITHOUT_GPU();
  // A span of 2^64 - 1 (all 64 bits sorted) and a span of 0 (one group).
  host_rows<std::int64_t, double> wide;
  host_rows<std::int32_t, double> one;
  const std::int64_t extremes[] = {std::numeric_limits<std::int64_t>::max(), 0, std::numeric_limits<std::int64_t>::min(), -1};
  for (int i = 0; i < 400; ++i) {
    wide.keys.push_back(extremes[(i * 7) % 4]);
    wide.values.push_back(1e6 + 0.1 * i);
    one.keys.push_back(-5);
    one.values.push_back(2.5 - 0.01 * i);
  }
  expect_same_table(host_table(wide), device_table(wide));
  expect_same_table(host_table(one), device_table(one));
}

TEST(CudaDeviceColumns, LongRunsEqualTheHostFoldToRounding)
{
  SHRINK_SKIP_WITHOUT_GPU();
  auto r = random_rows<std::int32_t, double>(3000, 40, 7);
  for (int i = 0; i < 5000; ++i) {  // one group of 5000 more rows: a long run in the one chunk
    r.keys.push_back(123456);
    r.values.push_back(1e4 + std::sin(i));
  }
  const io::group_table want = host_table(r), got = device_table(r);
  ASSERT_EQ(want.keys, got.keys);
  EXPECT_EQ(want.n, got.n);
  for (std::size_t j = 0; j < want.keys.size(); ++j) {
    EXPECT_NEAR(got.exact_mean[j], want.exact_mean[j], merge_rounding * std::fabs(want.exact_mean[j])) << j;
    EXPECT_NEAR(got.m2[j], want.m2[j], merge_rounding * want.m2[j]) << j;
  }
}

std::string message_of(const std::function<void()>& f)
{
  try {
    f();
  } catch (const error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CudaDeviceColumns, NonFiniteValuesAndNoRowsGiveTheHostMessages)
{
  SHRINK_SKIP_WITHOUT_GPU();
  for (double bad : {std::nan(""), -HUGE_VAL}) {
    auto r = random_rows<std::int16_t, double>(100, 10, 3);
    r.values[41] = bad;
    r.values[77] = HUGE_VAL;
    const std::string want = message_of([&] { host_table(r); });
    EXPECT_EQ(want, message_of([&] { device_table(r); }));
    EXPECT_NE(want.find("row 41"), std::string::npos) << want;
  }
  const host_rows<std::int64_t, float> none;
  const std::string want = message_of([&] { host_table(none); });
  EXPECT_EQ(want, "no data rows: y is empty");
  EXPECT_EQ(want, message_of([&] { device_table(none); }));
}

TEST(CudaDeviceColumns, HostMemoryIsRefused)
{
  SHRINK_SKIP_WITHOUT_GPU();
  const auto r = random_rows<std::int32_t, double>(10, 3, 1);
  detail::cuda_stream stream;
  const auto d_values = upload(r.values, stream.get());
  EXPECT_EQ(message_of([&] { io::fold_device_rows({r.keys.data(), 4, 0}, {d_values.data(), 8, 0}, 10, "y", 1); }),
            "the group keys are not in GPU memory (the array interface's data pointer is not a device pointer)");
}

TEST(CudaDeviceColumns, ProducerStreamsAreWaitedFor)
{
  SHRINK_SKIP_WITHOUT_GPU();
  const auto r = random_rows<std::int32_t, float>(5000, 50, 9);
  const io::group_table want = host_table(r);
  expect_same_table(want, device_table(r, 0, 1));  // the legacy default stream
  expect_same_table(want, device_table(r, 0, 2));  // the per-thread default stream
  // The rows written on the producer's own stream and handed over before that stream is waited for.
  detail::cuda_stream producer;
  detail::device_buffer<std::int32_t> d_keys(r.keys.size(), producer.get());
  detail::device_buffer<float> d_values(r.values.size(), producer.get());
  SHRINK_CUDA_TRY(cudaMemsetAsync(d_values.data(), 0, d_values.bytes(), producer.get()));
  SHRINK_CUDA_TRY(cudaMemcpyAsync(d_keys.data(), r.keys.data(), d_keys.bytes(), cudaMemcpyHostToDevice, producer.get()));
  SHRINK_CUDA_TRY(cudaMemcpyAsync(d_values.data(), r.values.data(), d_values.bytes(), cudaMemcpyHostToDevice, producer.get()));
  const auto handle = reinterpret_cast<std::uintptr_t>(producer.get());
  expect_same_table(want, io::fold_device_rows({d_keys.data(), 4, handle}, {d_values.data(), 4, handle},
                                               r.values.size(), "y", 2));
}

#endif

}  // namespace
