// Raw rows in device memory folded where they lie (see device_columns.hpp and
// kernels/device_columns.cuh): number the keys, take each group's rows relative to its first
// value, run the summary stage, and copy back only the O(groups) table.

#include "device_columns.hpp"

#include "../../kernels/device_columns.cuh"
#include "cuda_backend.hpp"
#include "stream.hpp"
#include "summarize.hpp"

#include <cub/device/device_for.cuh>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_reduce.cuh>
#include <cub/device/device_scan.cuh>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <limits>
#include <string>
#include <type_traits>

namespace shrink::detail {
namespace {

using rows_iterator = thrust::counting_iterator<std::int64_t>;

/// The column must be memory of the GPU shrink runs on (device or managed): anything else (host
/// memory, a stale or made-up pointer, another GPU) is refused before any kernel reads it.
void expect_on_current_device(const void* p, const std::string& what)
{
  int device = 0;
  SHRINK_CUDA_TRY(cudaGetDevice(&device));
  cudaPointerAttributes a{};
  const bool known = cudaPointerGetAttributes(&a, p) == cudaSuccess;
  (void)cudaGetLastError();
  if (!known || (a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged))
    throw error(what + " are not in GPU memory (the array interface's data pointer is not a device pointer)");
  if (a.device != device)
    throw error(what + " are on GPU " + std::to_string(a.device) + " but shrink runs on GPU " + std::to_string(device) +
                " (choose it with CUDA_VISIBLE_DEVICES)");
}

/// Orders `stream` after the work the producer enqueued on its stream, as the CUDA array
/// interface asks of a consumer (DLPack's producers make the data ready on the legacy default
/// stream when no stream is passed to __dlpack__, which the Python layer says as 1).
void wait_for_producer(std::uintptr_t producer, cudaStream_t stream)
{
  if (producer == 0) return;
  const cudaStream_t s = producer == 1   ? cudaStreamLegacy
                         : producer == 2 ? cudaStreamPerThread
                                         : reinterpret_cast<cudaStream_t>(producer);
  cuda_event ready;
  ready.record(s);
  ready.block(stream);
}

template <class F>
void for_each_async(std::int64_t n, F f, cudaStream_t stream)
{
  if (n > 0) SHRINK_CUDA_TRY(cub::DeviceFor::Bulk(n, f, stream));
}

/// Calls f with the values as `const float*` or `const double*`.
template <class F>
void with_values(const device_column& values, F&& f)
{
  if (values.bytes == 4) f(static_cast<const float*>(values.data));
  else f(static_cast<const double*>(values.data));
}

template <class T>
T read_back(const T* d_value, cudaStream_t stream)
{
  T h{};
  SHRINK_CUDA_TRY(cudaMemcpyAsync(&h, d_value, sizeof(T), cudaMemcpyDeviceToHost, stream));
  SHRINK_CUDA_TRY(cudaStreamSynchronize(stream));
  return h;
}

template <class T>
std::vector<T> copy_to_host(const device_buffer<T>& d, cudaStream_t stream)
{
  std::vector<T> h(d.size());
  if (!h.empty()) SHRINK_CUDA_TRY(cudaMemcpyAsync(h.data(), d.data(), d.bytes(), cudaMemcpyDeviceToHost, stream));
  return h;
}

/// The first row whose value is NaN or infinite, or n.
template <class Value>
std::int64_t first_non_finite_row(const Value* values, std::int64_t n, device_scratch& scratch, cudaStream_t stream)
{
  device_buffer<std::int64_t> d_row(1, stream);
  const auto bad = thrust::make_transform_iterator(rows_iterator(0), non_finite_row<Value>{values, n});
  std::size_t bytes = 0;
  SHRINK_CUDA_TRY(cub::DeviceReduce::Min(nullptr, bytes, bad, d_row.data(), n, stream));
  SHRINK_CUDA_TRY(cub::DeviceReduce::Min(scratch.get(bytes), bytes, bad, d_row.data(), n, stream));
  return read_back(d_row.data(), stream);
}

/// Writes keys[0, n) widened to int64 into `out`.
void widen_keys_async(const device_column& keys, std::int64_t n, std::int64_t* out, cudaStream_t stream)
{
  switch (keys.bytes) {
    case 1: return for_each_async(n, widen_key<std::int8_t>{static_cast<const std::int8_t*>(keys.data), out}, stream);
    case 2: return for_each_async(n, widen_key<std::int16_t>{static_cast<const std::int16_t*>(keys.data), out}, stream);
    case 4: return for_each_async(n, widen_key<std::int32_t>{static_cast<const std::int32_t*>(keys.data), out}, stream);
    default: return for_each_async(n, widen_key<std::int64_t>{static_cast<const std::int64_t*>(keys.data), out}, stream);
  }
}

/// Bits that hold every distance from the smallest key to the largest (at least 1).
int span_bits(const key_range& r)
{
  const std::uint64_t span = static_cast<std::uint64_t>(r.high) - static_cast<std::uint64_t>(r.low);
  int bits = 1;
  while (bits < 64 && (span >> bits) != 0) ++bits;
  return bits;
}

/// Each row's group id (groups in key order), and each group's key and first row.
struct numbered_keys {
  device_buffer<std::int32_t> ids;
  device_buffer<std::int64_t> group_keys;
  device_buffer<std::int64_t> first_row;
};

numbered_keys number_keys(const device_column& keys, std::int64_t n, device_scratch& scratch, cudaStream_t stream)
{
  const auto rows = static_cast<std::size_t>(n);
  numbered_keys out{device_buffer<std::int32_t>(rows, stream), {}, {}};
  // The sort's two key and two row buffers (freed on return, before the summary stage).
  device_buffer<std::int64_t> keys0(rows, stream), keys1(rows, stream), rows0(rows, stream), rows1(rows, stream);
  widen_keys_async(keys, n, keys0.data(), stream);

  device_buffer<key_range> d_range(1, stream);
  const auto ranges = thrust::make_transform_iterator(keys0.data(), key_range_of{});
  const key_range empty{std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()};
  std::size_t bytes = 0;
  SHRINK_CUDA_TRY(cub::DeviceReduce::Reduce(nullptr, bytes, ranges, d_range.data(), n, merge_key_ranges{}, empty, stream));
  SHRINK_CUDA_TRY(
    cub::DeviceReduce::Reduce(scratch.get(bytes), bytes, ranges, d_range.data(), n, merge_key_ranges{}, empty, stream));
  const key_range range = read_back(d_range.data(), stream);

  for_each_async(n, rebase_key{keys0.data(), rows0.data(), range.low}, stream);
  // LSD radix sort is stable: a run's first position holds its group's first row.
  cub::DoubleBuffer<std::uint64_t> sorted_keys(reinterpret_cast<std::uint64_t*>(keys0.data()),
                                               reinterpret_cast<std::uint64_t*>(keys1.data()));
  cub::DoubleBuffer<std::int64_t> sorted_rows(rows0.data(), rows1.data());
  const int end_bit = span_bits(range);
  bytes = 0;
  SHRINK_CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, bytes, sorted_keys, sorted_rows, n, 0, end_bit, stream));
  SHRINK_CUDA_TRY(
    cub::DeviceRadixSort::SortPairs(scratch.get(bytes), bytes, sorted_keys, sorted_rows, n, 0, end_bit, stream));

  // The inclusive count of run starts (a group number per sorted position), written over the
  // sort's spare row buffer.
  std::int64_t* runs = sorted_rows.Alternate();
  const auto starts = thrust::make_transform_iterator(rows_iterator(0), run_start{sorted_keys.Current()});
  bytes = 0;
  SHRINK_CUDA_TRY(cub::DeviceScan::InclusiveSum(nullptr, bytes, starts, runs, n, stream));
  SHRINK_CUDA_TRY(cub::DeviceScan::InclusiveSum(scratch.get(bytes), bytes, starts, runs, n, stream));
  const std::int64_t groups = read_back(runs + (n - 1), stream);
  if (groups > std::numeric_limits<std::int32_t>::max()) throw error("more than 2^31-1 groups");

  out.group_keys = device_buffer<std::int64_t>(static_cast<std::size_t>(groups), stream);
  out.first_row = device_buffer<std::int64_t>(static_cast<std::size_t>(groups), stream);
  for_each_async(n,
                 number_groups{sorted_keys.Current(), sorted_rows.Current(), runs, range.low, out.ids.data(),
                               out.first_row.data(), out.group_keys.data()},
                 stream);
  return out;
}

}  // namespace

device_groups fold_device_columns(const device_column& keys, const device_column& values, std::size_t rows,
                                  std::size_t chunk_rows)
{
  if (!cuda_device_usable())
    throw error("GPU arrays need a usable CUDA GPU and there is none here: copy them to host memory "
                "(cupy.asnumpy, tensor.cpu().numpy())");
  if (keys.bytes != 1 && keys.bytes != 2 && keys.bytes != 4 && keys.bytes != 8)
    throw error("group keys in GPU memory must be int8, int16, int32 or int64");
  if (values.bytes != 4 && values.bytes != 8) throw error("values in GPU memory must be float32 or float64");
  device_groups out;
  if (rows == 0) return out;
  expect_on_current_device(keys.data, "the group keys");
  expect_on_current_device(values.data, "the values");

  const auto n = static_cast<std::int64_t>(rows);
  const cuda_stream owned;  // declared first: every buffer below is freed on it before it goes
  const cudaStream_t stream = owned.get();
  wait_for_producer(keys.stream, stream);
  wait_for_producer(values.stream, stream);
  device_scratch scratch(stream);

  // A NaN or infinity is refused (as the host fold does) before any other work.
  std::int64_t bad = n;
  with_values(values, [&](const auto* v) { bad = first_non_finite_row(v, n, scratch, stream); });
  if (bad < n) {
    out.first_non_finite = bad;
    with_values(values, [&](const auto* v) { out.non_finite_value = static_cast<double>(read_back(v + bad, stream)); });
    return out;
  }

  const numbered_keys numbered = number_keys(keys, n, scratch, stream);
  const std::size_t groups = numbered.group_keys.size();
  device_buffer<double> d_shift(groups, stream), d_shifted(rows, stream);
  with_values(values, [&](const auto* v) {
    using value = std::remove_cv_t<std::remove_pointer_t<decltype(v)>>;
    for_each_async(static_cast<std::int64_t>(groups), group_shift<value>{v, numbered.first_row.data(), d_shift.data()},
                   stream);
    for_each_async(n, shifted_value<value>{v, numbered.ids.data(), d_shift.data(), d_shifted.data()}, stream);
  });
  const device_buffer<moments> table =
    summarize_device_rows(numbered.ids.data(), d_shifted.data(), rows, groups, stream, chunk_rows);

  out.keys = copy_to_host(numbered.group_keys, stream);
  out.shift = copy_to_host(d_shift, stream);
  out.d = copy_to_host(table, stream);
  SHRINK_CUDA_TRY(cudaStreamSynchronize(stream));
  return out;
}

}  // namespace shrink::detail
