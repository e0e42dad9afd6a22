// Stage 1 host side: chunking, staging, the key check, the sort and the run boundaries (CUB), and
// the fold launch. All CUB instantiations of this stage live in this one translation unit.

#include "summarize.hpp"

#include "../../kernels/group_summaries.cuh"
#include "../cpu/parallel.hpp"
#include "device_reduce.cuh"
#include "stream.hpp"

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_select.cuh>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

namespace shrink::detail {
namespace {

constexpr std::size_t min_chunk_rows = std::size_t{1} << 16;

/// Bits that hold every id in [0, groups): the radix sort skips the rest.
int key_bits(std::size_t groups)
{
  int bits = 1;
  while (bits < 31 && (std::size_t{1} << bits) < groups) ++bits;
  return bits;
}

/// Device bytes per chunk row: `slots` input buffers, the sort's alternate buffers, run starts.
std::size_t bytes_per_row(int slots)
{
  return static_cast<std::size_t>(slots) * (sizeof(std::int32_t) + sizeof(double)) + sizeof(std::int32_t) +
         sizeof(double) + sizeof(std::int64_t);
}

/// The chunk size: the request (or the default), halved while the working set would not fit in
/// the free device memory. Smaller chunks change only the rounding of groups with runs longer
/// than long_run_rows, and only when memory is short.
std::size_t pick_chunk_rows(std::size_t requested, std::size_t rows, std::size_t groups, int slots)
{
  std::size_t chunk = requested != 0 ? requested : default_chunk_rows;
  chunk = std::max<std::size_t>(1, std::min(chunk, rows));
  std::size_t free_bytes = 0, total_bytes = 0;
  SHRINK_CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
  const std::size_t table_bytes = groups * (sizeof(moments) + sizeof(double));
  const std::size_t reserve = std::size_t{256} << 20;  // CUB scratch, the variances, the runtime
  auto fits = [&](std::size_t c) { return table_bytes + c * bytes_per_row(slots) + reserve <= free_bytes; };
  while (!fits(chunk) && chunk > min_chunk_rows) chunk = std::max(min_chunk_rows, chunk / 2);
  if (!fits(chunk))
    throw error("out of GPU memory: " + std::to_string(groups) + " groups need " +
                std::to_string((table_bytes + chunk * bytes_per_row(slots) + reserve) >> 20) + " MiB, " +
                std::to_string(free_bytes >> 20) + " MiB free (use --backend cpu)");
  return chunk;
}

/// Device state of the summary stage: the table and the per-chunk working buffers.
class chunk_folder {
 public:
  chunk_folder(std::size_t groups, std::size_t chunk_rows, int slots, cudaStream_t stream)
    : groups_(groups), stream_(stream), scratch_(stream), table_(groups, stream),
      alt_keys_(chunk_rows, stream), alt_values_(chunk_rows, stream),
      starts_(std::min(chunk_rows, std::max<std::size_t>(groups, 1)), stream), num_runs_(1, stream),
      check_(1, stream), h_check_(1)
  {
    for (int s = 0; s < slots; ++s) {
      in_keys_[s] = device_buffer<std::int32_t>(chunk_rows, stream);
      in_values_[s] = device_buffer<double>(chunk_rows, stream);
    }
    // A zero weight is the identity of the merge: every group starts empty.
    if (groups > 0) SHRINK_CUDA_TRY(cudaMemsetAsync(table_.data(), 0, table_.bytes(), stream));
  }

  std::int32_t* in_keys(int slot) { return in_keys_[slot].data(); }
  double* in_values(int slot) { return in_values_[slot].data(); }
  device_buffer<moments> release_table() { return std::move(table_); }

  /// Folds rows [d_keys, d_keys + n) into the table, stream-ordered except for the key check
  /// (one small read-back). Rows outside the slot's own buffers are copied there before sorting.
  void fold(int slot, const std::int32_t* d_keys, const double* d_values, std::size_t n, summarize_report& report)
  {
    reduce_async(scratch_, key_check_term{d_keys, static_cast<std::int64_t>(groups_)}, n, check_.data(), stream_);
    SHRINK_CUDA_TRY(cudaMemcpyAsync(h_check_.data(), check_.data(), sizeof(key_check), cudaMemcpyDeviceToHost, stream_));
    SHRINK_CUDA_TRY(cudaStreamSynchronize(stream_));
    if (h_check_.data()->out_of_range != 0) throw error("group ids must lie in [0, groups)");

    ++report.chunks;
    if (h_check_.data()->descents == 0) {
      ++report.sorted_chunks;
    } else {
      if (d_keys != in_keys(slot)) {
        SHRINK_CUDA_TRY(cudaMemcpyAsync(in_keys(slot), d_keys, n * sizeof(std::int32_t), cudaMemcpyDeviceToDevice, stream_));
        SHRINK_CUDA_TRY(cudaMemcpyAsync(in_values(slot), d_values, n * sizeof(double), cudaMemcpyDeviceToDevice, stream_));
      }
      // Ids were checked to be non-negative, so their unsigned bits sort the same way. LSD radix
      // sort is stable: rows of a group keep their input order, which the fold relies on.
      cub::DoubleBuffer<std::uint32_t> keys(reinterpret_cast<std::uint32_t*>(in_keys(slot)),
                                            reinterpret_cast<std::uint32_t*>(alt_keys_.data()));
      cub::DoubleBuffer<double> values(in_values(slot), alt_values_.data());
      const int end_bit = key_bits(groups_);
      std::size_t bytes = 0;
      SHRINK_CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys, values, n, 0, end_bit, stream_));
      SHRINK_CUDA_TRY(cub::DeviceRadixSort::SortPairs(scratch_.get(bytes), bytes, keys, values, n, 0, end_bit, stream_));
      d_keys = reinterpret_cast<const std::int32_t*>(keys.Current());
      d_values = values.Current();
    }

    const auto rows = thrust::counting_iterator<std::int64_t>(0);
    const run_head head{d_keys};
    const auto count = static_cast<std::int64_t>(n);
    std::size_t bytes = 0;
    SHRINK_CUDA_TRY(cub::DeviceSelect::If(nullptr, bytes, rows, starts_.data(), num_runs_.data(), count, head, stream_));
    SHRINK_CUDA_TRY(
      cub::DeviceSelect::If(scratch_.get(bytes), bytes, rows, starts_.data(), num_runs_.data(), count, head, stream_));

    const chunk_runs_ref runs{d_keys, d_values, starts_.data(), num_runs_.data(), count};
    fold_runs_async(table_.data(), runs, static_cast<std::int64_t>(std::min(n, groups_)), stream_);
  }

 private:
  std::size_t groups_;
  cudaStream_t stream_;
  device_scratch scratch_;
  device_buffer<moments> table_;
  std::array<device_buffer<std::int32_t>, 2> in_keys_;
  std::array<device_buffer<double>, 2> in_values_;
  device_buffer<std::int32_t> alt_keys_;
  device_buffer<double> alt_values_;
  device_buffer<std::int64_t> starts_;
  device_buffer<std::int64_t> num_runs_;
  device_buffer<key_check> check_;
  pinned_buffer<key_check> h_check_;
};

/// memcpy on several threads: one thread cannot keep up with the PCIe link.
void parallel_copy(void* dst, const void* src, std::size_t bytes)
{
  constexpr std::size_t block = std::size_t{8} << 20;
  const int threads = std::min(thread_count(0), 8);
  for_each_block(bytes, block, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
    std::memcpy(static_cast<char*>(dst) + begin, static_cast<const char*>(src) + begin, end - begin);
  });
}

}  // namespace

device_buffer<moments> summarize_host_rows(const raw_data_view& data, cudaStream_t stream, std::size_t chunk_rows,
                                           summarize_report* report)
{
  summarize_report local;
  summarize_report& rep = report != nullptr ? *report : local;
  const std::size_t chunk = pick_chunk_rows(chunk_rows, data.rows, data.groups, 2);
  rep = {chunk, 0, 0};
  chunk_folder folder(data.groups, chunk, 2, stream);
  std::array<pinned_buffer<std::int32_t>, 2> h_keys{pinned_buffer<std::int32_t>(chunk), pinned_buffer<std::int32_t>(chunk)};
  std::array<pinned_buffer<double>, 2> h_values{pinned_buffer<double>(chunk), pinned_buffer<double>(chunk)};
  cuda_stream copy;
  std::array<cuda_event, 2> copied, consumed;
  // The buffers were allocated on `stream`; the copy stream may touch them only after that.
  SHRINK_CUDA_TRY(cudaStreamSynchronize(stream));

  // Chunk k: stage it in pinned slot k % 2 (on the host, while the GPU folds chunk k - 1), copy it
  // on the copy stream, fold it on `stream`. Chunks fold in row order on the one compute stream.
  const std::size_t chunks = (data.rows + chunk - 1) / chunk;
  for (std::size_t k = 0; k < chunks; ++k) {
    const int slot = static_cast<int>(k % 2);
    const std::size_t begin = k * chunk;
    const std::size_t n = std::min(chunk, data.rows - begin);
    if (k >= 2) copied[slot].synchronize();  // the pinned slot's previous copy has finished
    parallel_copy(h_keys[slot].data(), data.group_ids + begin, n * sizeof(std::int32_t));
    parallel_copy(h_values[slot].data(), data.values + begin, n * sizeof(double));
    if (k >= 2) consumed[slot].block(copy.get());  // the device slot's previous chunk is folded
    SHRINK_CUDA_TRY(cudaMemcpyAsync(folder.in_keys(slot), h_keys[slot].data(), n * sizeof(std::int32_t),
                                    cudaMemcpyHostToDevice, copy.get()));
    SHRINK_CUDA_TRY(cudaMemcpyAsync(folder.in_values(slot), h_values[slot].data(), n * sizeof(double),
                                    cudaMemcpyHostToDevice, copy.get()));
    copied[slot].record(copy.get());
    copied[slot].block(stream);
    folder.fold(slot, folder.in_keys(slot), folder.in_values(slot), n, rep);
    consumed[slot].record(stream);
  }
  // Every copy was waited for by the fold that used it, so freeing on `stream` is ordered after all.
  SHRINK_CUDA_TRY(cudaStreamSynchronize(stream));
  return folder.release_table();
}

device_buffer<moments> summarize_device_rows(const std::int32_t* d_keys, const double* d_values, std::size_t rows,
                                             std::size_t groups, cudaStream_t stream, std::size_t chunk_rows,
                                             summarize_report* report)
{
  summarize_report local;
  summarize_report& rep = report != nullptr ? *report : local;
  const std::size_t chunk = pick_chunk_rows(chunk_rows, rows, groups, 1);
  rep = {chunk, 0, 0};
  chunk_folder folder(groups, chunk, 1, stream);
  for (std::size_t begin = 0; begin < rows; begin += chunk)
    folder.fold(0, d_keys + begin, d_values + begin, std::min(chunk, rows - begin), rep);
  return folder.release_table();
}

}  // namespace shrink::detail
