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

namespace shrink::detail {
namespace {

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

/// Fails up front, with the remedy, when the table and the chunk buffers do not fit in the free
/// device memory. The chunk is never shrunk to fit (see default_chunk_rows): results must not
/// depend on what else holds GPU memory.
void expect_fits(std::size_t groups, std::size_t chunk, int slots)
{
  std::size_t free_bytes = 0, total_bytes = 0;
  SHRINK_CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
  const std::size_t table_bytes = groups * (sizeof(moments) + sizeof(double));
  const std::size_t reserve = std::size_t{256} << 20;  // CUB scratch, the variances, the runtime
  const std::size_t need = table_bytes + chunk * bytes_per_row(slots) + reserve;
  if (need > free_bytes)
    throw error("out of GPU memory: " + std::to_string(groups) + " groups in chunks of " + std::to_string(chunk) +
                " rows need " + std::to_string(need >> 20) + " MiB, " + std::to_string(free_bytes >> 20) + " of " +
                std::to_string(total_bytes >> 20) + " MiB are free (use --backend cpu)");
}

void expect_ids_in_range(const key_check& check)
{
  if (check.out_of_range != 0) throw error("group ids must lie in [0, groups)");
}

/// Writes the key check of rows [d_keys, d_keys + n) to *d_out, stream-ordered.
void check_keys_async(device_scratch& scratch, const std::int32_t* d_keys, std::size_t n, std::size_t groups,
                      key_check* d_out, cudaStream_t stream)
{
  reduce_async(scratch, key_check_term{d_keys, static_cast<std::int64_t>(groups)}, n, d_out, stream);
}

/// Synchronises a stream when leaving scope, also by an exception: buffers that its work still
/// touches must not be freed on another stream before it has finished.
class drain_on_exit {
 public:
  explicit drain_on_exit(cudaStream_t stream) : stream_(stream) {}
  drain_on_exit(const drain_on_exit&) = delete;
  drain_on_exit& operator=(const drain_on_exit&) = delete;
  ~drain_on_exit() { (void)cudaStreamSynchronize(stream_); }

 private:
  cudaStream_t stream_;
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

/// Device state of the summary stage: the table and the per-chunk working buffers.
class chunk_folder {
 public:
  chunk_folder(std::size_t groups, std::size_t chunk_rows, int slots, cudaStream_t stream)
    : groups_(groups), stream_(stream), scratch_(stream), table_(groups, stream),
      alt_keys_(chunk_rows, stream), alt_values_(chunk_rows, stream),
      starts_(std::min(chunk_rows, std::max<std::size_t>(groups, 1)), stream), num_runs_(1, stream)
  {
    for (int s = 0; s < slots; ++s) {
      in_keys_[s] = device_buffer<std::int32_t>(chunk_rows, stream);
      in_values_[s] = device_buffer<double>(chunk_rows, stream);
    }
  }

  std::int32_t* in_keys(int slot) { return in_keys_[slot].data(); }
  double* in_values(int slot) { return in_values_[slot].data(); }
  device_buffer<moments> release_table() { return std::move(table_); }

  /// Every group empty (the table starts uninitialised): a zero weight is the identity of the merge.
  void reset_async()
  {
    if (groups_ > 0) SHRINK_CUDA_TRY(cudaMemsetAsync(table_.data(), 0, table_.bytes(), stream_));
  }

  /// Folds rows [d_keys, d_keys + n), whose ids were checked to lie in [0, groups), into the
  /// table; `grouped` (no descents) skips the sort. Stream-ordered. Rows outside the slot's own
  /// buffers are copied there before sorting.
  void fold_async(int slot, const std::int32_t* d_keys, const double* d_values, std::size_t n, bool grouped,
                  summarize_report& report)
  {
    ++report.chunks;
    if (grouped) {
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
};

}  // namespace

std::size_t chunk_rows_for(std::size_t requested, std::size_t rows)
{
  const std::size_t chunk = requested != 0 ? requested : default_chunk_rows;
  return std::max<std::size_t>(1, std::min(chunk, rows));
}

device_buffer<moments> summarize_host_rows(const raw_data_view& data, cudaStream_t stream, std::size_t chunk_rows,
                                           summarize_report* report)
{
  summarize_report local;
  summarize_report& rep = report != nullptr ? *report : local;
  const std::size_t chunk = chunk_rows_for(chunk_rows, data.rows);
  expect_fits(data.groups, chunk, 2);
  rep = {chunk, 0, 0};
  chunk_folder folder(data.groups, chunk, 2, stream);
  folder.reset_async();
  std::array<pinned_buffer<std::int32_t>, 2> h_keys{pinned_buffer<std::int32_t>(chunk), pinned_buffer<std::int32_t>(chunk)};
  std::array<pinned_buffer<double>, 2> h_values{pinned_buffer<double>(chunk), pinned_buffer<double>(chunk)};
  pinned_buffer<key_check> h_checks(2);
  cuda_stream copy;
  device_scratch check_scratch(copy.get());
  device_buffer<key_check> d_checks(2, copy.get());
  std::array<cuda_event, 2> ready, consumed;
  // The folder's buffers were allocated on `stream`: the copy stream may touch them only after that.
  cuda_event allocated;
  allocated.record(stream);
  allocated.block(copy.get());
  // Declared last, so it runs first on the way out: when an error leaves mid-pipeline, the copy
  // stream finishes writing the buffers before they are freed.
  const drain_on_exit drain(copy.get());

  // Chunk k: staged in pinned slot k % 2 on the host, copied and key-checked on the copy stream,
  // folded on `stream` in row order. Whether a chunk needs its sort must be known on the host when
  // the sort is enqueued (CUB launches from the host), so the host reads chunk k's check only after
  // chunk k + 1 is staged and enqueued: by then it has long finished, and the host never waits for
  // the compute stream. Host staging of k + 1, the copy of k and the fold of k - 1 overlap.
  const std::size_t chunks = (data.rows + chunk - 1) / chunk;
  auto rows_of = [&](std::size_t k) { return std::min(chunk, data.rows - k * chunk); };
  auto fold_chunk = [&](std::size_t k) {
    const int slot = static_cast<int>(k % 2);
    ready[slot].synchronize();  // waits for the copy stream alone
    const key_check check = h_checks.data()[slot];
    expect_ids_in_range(check);
    ready[slot].block(stream);
    folder.fold_async(slot, folder.in_keys(slot), folder.in_values(slot), rows_of(k), check.descents == 0, rep);
    consumed[slot].record(stream);
  };
  for (std::size_t k = 0; k < chunks; ++k) {
    const int slot = static_cast<int>(k % 2);
    const std::size_t begin = k * chunk;
    const std::size_t n = rows_of(k);
    // The pinned slot's previous chunk (k - 2) finished copying before fold_chunk(k - 2) returned.
    parallel_copy(h_keys[slot].data(), data.group_ids + begin, n * sizeof(std::int32_t));
    parallel_copy(h_values[slot].data(), data.values + begin, n * sizeof(double));
    if (k >= 2) consumed[slot].block(copy.get());  // the device slot's previous chunk is folded
    SHRINK_CUDA_TRY(cudaMemcpyAsync(folder.in_keys(slot), h_keys[slot].data(), n * sizeof(std::int32_t),
                                    cudaMemcpyHostToDevice, copy.get()));
    SHRINK_CUDA_TRY(cudaMemcpyAsync(folder.in_values(slot), h_values[slot].data(), n * sizeof(double),
                                    cudaMemcpyHostToDevice, copy.get()));
    check_keys_async(check_scratch, folder.in_keys(slot), n, data.groups, d_checks.data() + slot, copy.get());
    SHRINK_CUDA_TRY(cudaMemcpyAsync(h_checks.data() + slot, d_checks.data() + slot, sizeof(key_check),
                                    cudaMemcpyDeviceToHost, copy.get()));
    ready[slot].record(copy.get());
    if (k >= 1) fold_chunk(k - 1);
  }
  if (chunks > 0) fold_chunk(chunks - 1);
  // Every copy was waited for by the fold that used it, so freeing on `stream` is ordered after all.
  SHRINK_CUDA_TRY(cudaStreamSynchronize(stream));
  return folder.release_table();
}

struct device_rows_summarizer::state {
  state(std::size_t rows, std::size_t groups, std::size_t chunk, cudaStream_t stream)
    : rows(rows), groups(groups), chunk(chunk), chunks((rows + chunk - 1) / chunk), stream(stream),
      folder(groups, chunk, 1, stream), check_scratch(stream), d_checks(chunks, stream), h_checks(chunks)
  {
  }

  std::size_t rows, groups, chunk, chunks;
  cudaStream_t stream;
  chunk_folder folder;
  device_scratch check_scratch;
  device_buffer<key_check> d_checks;
  pinned_buffer<key_check> h_checks;
};

device_rows_summarizer::device_rows_summarizer(std::size_t rows, std::size_t groups, cudaStream_t stream,
                                               std::size_t chunk_rows)
{
  const std::size_t chunk = chunk_rows_for(chunk_rows, rows);
  expect_fits(groups, chunk, 1);
  state_ = std::make_unique<state>(rows, groups, chunk, stream);
}

device_rows_summarizer::~device_rows_summarizer() = default;

void device_rows_summarizer::run(const std::int32_t* d_keys, const double* d_values, summarize_report* report)
{
  state& st = *state_;
  summarize_report local;
  summarize_report& rep = report != nullptr ? *report : local;
  rep = {st.chunk, 0, 0};
  // The rows are all on the device already: every chunk's check in one pass and one read-back,
  // then every fold enqueued without another wait. The host must know each chunk's path before
  // it enqueues the chunk's sort, and must reject bad ids before any fold indexes the table.
  for (std::size_t k = 0; k < st.chunks; ++k) {
    const std::size_t begin = k * st.chunk;
    check_keys_async(st.check_scratch, d_keys + begin, std::min(st.chunk, st.rows - begin), st.groups,
                     st.d_checks.data() + k, st.stream);
  }
  if (st.chunks > 0) {
    SHRINK_CUDA_TRY(cudaMemcpyAsync(st.h_checks.data(), st.d_checks.data(), st.chunks * sizeof(key_check),
                                    cudaMemcpyDeviceToHost, st.stream));
  }
  SHRINK_CUDA_TRY(cudaStreamSynchronize(st.stream));
  for (std::size_t k = 0; k < st.chunks; ++k) expect_ids_in_range(st.h_checks.data()[k]);

  st.folder.reset_async();
  for (std::size_t k = 0; k < st.chunks; ++k) {
    const std::size_t begin = k * st.chunk;
    st.folder.fold_async(0, d_keys + begin, d_values + begin, std::min(st.chunk, st.rows - begin),
                         st.h_checks.data()[k].descents == 0, rep);
  }
}

device_buffer<moments> device_rows_summarizer::release_table() { return state_->folder.release_table(); }

device_buffer<moments> summarize_device_rows(const std::int32_t* d_keys, const double* d_values, std::size_t rows,
                                             std::size_t groups, cudaStream_t stream, std::size_t chunk_rows,
                                             summarize_report* report)
{
  device_rows_summarizer summarizer(rows, groups, stream, chunk_rows);
  summarizer.run(d_keys, d_values, report);
  return summarizer.release_table();
}

}  // namespace shrink::detail
