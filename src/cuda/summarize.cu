// Stage 1 host side: chunking, staging, the key check, the sort and the run boundaries (CUB), and
// the fold launch. All CUB instantiations of this stage live in this one translation unit.

#include "summarize.hpp"

#include "../../kernels/group_summaries.cuh"
#include "stream.hpp"

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_select.cuh>
#include <thrust/iterator/counting_iterator.h>

#include <algorithm>
#include <array>
#include <vector>

namespace shrink::detail {
namespace {

/// Where a chunk's rows are when it is folded: in the folder's own input slots (host rows, copied
/// there), which the sort may overwrite; or in the caller's device memory, left unmodified.
enum class chunk_input { own_slots, caller_device };

/// Device bytes per chunk row. Own slots: the two input slots, the sort's alternate buffers and
/// the run starts (the sort ping-pongs between a slot and the alternates). Caller's rows: the
/// sorted copy, CUB's internal alternate buffers (in its scratch) and the run starts: the sort
/// reads the caller's rows in its first pass, so nothing is copied before it.
std::size_t bytes_per_row(chunk_input input)
{
  const std::size_t row = sizeof(std::int32_t) + sizeof(double);
  return (input == chunk_input::own_slots ? 3 : 2) * row + sizeof(std::int64_t);
}

/// Fails up front, with the remedy, when the table and the chunk buffers do not fit in the device
/// memory still available (the driver's free memory and what the pool holds unused). The chunk is
/// never shrunk to fit (see default_chunk_rows): results must not depend on what else holds GPU
/// memory.
void expect_fits(std::size_t groups, std::size_t chunk, chunk_input input)
{
  const std::size_t available = device_available_bytes();
  const std::size_t table_bytes = groups * (sizeof(moments) + sizeof(double));
  // CUB's other scratch (histograms, the select's tiles), the segment pieces (64 bytes per 1024
  // rows), the variances' reductions, the runtime.
  const std::size_t reserve = std::size_t{256} << 20;
  const std::size_t need = table_bytes + chunk * bytes_per_row(input) + reserve;
  if (need > available)
    throw error("out of GPU memory: " + std::to_string(groups) + " groups in chunks of " + std::to_string(chunk) +
                " rows need " + std::to_string(need >> 20) + " MiB, " + std::to_string(available >> 20) +
                " MiB are available (use --backend cpu)");
}

void expect_ids_in_range(const key_check& check)
{
  if (check.out_of_range != 0) throw error("group ids must lie in [0, groups)");
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

/// Device state of the summary stage: the table and the per-chunk working buffers, all allocated
/// at construction (CUB's scratch included), so folding allocates nothing.
class chunk_folder {
 public:
  chunk_folder(std::size_t groups, std::size_t chunk_rows, chunk_input input, cudaStream_t stream)
    : groups_(groups), input_(input), stream_(stream), scratch_(stream), table_(groups, stream),
      sorted_keys_(chunk_rows, stream), sorted_values_(chunk_rows, stream),
      starts_(std::min(chunk_rows, std::max<std::size_t>(groups, 1)), stream), num_runs_(1, stream),
      segments_(segments_for(static_cast<std::int64_t>(chunk_rows))),
      run_of_(2 * static_cast<std::size_t>(segments_), stream), pieces_(2 * static_cast<std::size_t>(segments_), stream)
  {
    if (input == chunk_input::own_slots) {
      for (int s = 0; s < 2; ++s) {
        in_keys_[s] = device_buffer<std::int32_t>(chunk_rows, stream);
        in_values_[s] = device_buffer<double>(chunk_rows, stream);
      }
    }
    scratch_.reserve(std::max(sort_bytes(chunk_rows), select_bytes(chunk_rows)));
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
  /// table; `grouped` (no descents) skips the sort. Stream-ordered. Own-slot rows are input slot
  /// `slot`, which the sort may overwrite; the caller's rows are sorted into the folder's buffers.
  void fold_async(const std::int32_t* d_keys, const double* d_values, std::size_t n, bool grouped, int slot,
                  summarize_report& report)
  {
    ++report.chunks;
    const int end_bit = key_bits(groups_);
    std::size_t bytes = 0;
    if (grouped) {
      ++report.sorted_chunks;
    } else if (input_ == chunk_input::own_slots) {
      // Ids are non-negative, so their unsigned bits sort the same way. LSD radix sort is stable:
      // rows of a group keep their input order, which the fold relies on.
      cub::DoubleBuffer<std::uint32_t> keys(reinterpret_cast<std::uint32_t*>(in_keys(slot)),
                                            reinterpret_cast<std::uint32_t*>(sorted_keys_.data()));
      cub::DoubleBuffer<double> values(in_values(slot), sorted_values_.data());
      SHRINK_CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys, values, n, 0, end_bit, stream_));
      SHRINK_CUDA_TRY(cub::DeviceRadixSort::SortPairs(scratch_.get(bytes), bytes, keys, values, n, 0, end_bit, stream_));
      d_keys = reinterpret_cast<const std::int32_t*>(keys.Current());
      d_values = values.Current();
    } else {
      // The caller's rows are read by the sort's first pass and never written: the overload with
      // separate output buffers (its alternates live in CUB's scratch), no copy before it.
      const auto* in = reinterpret_cast<const std::uint32_t*>(d_keys);
      auto* out = reinterpret_cast<std::uint32_t*>(sorted_keys_.data());
      SHRINK_CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, bytes, in, out, d_values, sorted_values_.data(), n, 0,
                                                      end_bit, stream_));
      SHRINK_CUDA_TRY(cub::DeviceRadixSort::SortPairs(scratch_.get(bytes), bytes, in, out, d_values,
                                                      sorted_values_.data(), n, 0, end_bit, stream_));
      d_keys = sorted_keys_.data();
      d_values = sorted_values_.data();
    }

    const auto rows = thrust::counting_iterator<std::int64_t>(0);
    const run_head head{d_keys};
    const auto count = static_cast<std::int64_t>(n);
    bytes = 0;
    SHRINK_CUDA_TRY(cub::DeviceSelect::If(nullptr, bytes, rows, starts_.data(), num_runs_.data(), count, head, stream_));
    SHRINK_CUDA_TRY(
      cub::DeviceSelect::If(scratch_.get(bytes), bytes, rows, starts_.data(), num_runs_.data(), count, head, stream_));

    const chunk_runs_ref runs{d_keys, d_values, starts_.data(), num_runs_.data(), count};
    const segment_pieces_ref pieces{run_of_.data(), pieces_.data(), segments_};
    fold_runs_async(table_.data(), runs, static_cast<std::int64_t>(std::min(n, groups_)), pieces, stream_);
  }

 private:
  /// CUB's scratch for sorting a chunk of n rows the way this folder sorts.
  std::size_t sort_bytes(std::size_t n) const
  {
    std::size_t bytes = 0;
    const int end_bit = key_bits(groups_);
    if (input_ == chunk_input::own_slots) {
      cub::DoubleBuffer<std::uint32_t> keys(nullptr, nullptr);
      cub::DoubleBuffer<double> values(nullptr, nullptr);
      SHRINK_CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys, values, n, 0, end_bit, stream_));
    } else {
      SHRINK_CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, bytes, static_cast<const std::uint32_t*>(nullptr),
                                                      static_cast<std::uint32_t*>(nullptr),
                                                      static_cast<const double*>(nullptr),
                                                      static_cast<double*>(nullptr), n, 0, end_bit, stream_));
    }
    return bytes;
  }

  std::size_t select_bytes(std::size_t n) const
  {
    std::size_t bytes = 0;
    SHRINK_CUDA_TRY(cub::DeviceSelect::If(nullptr, bytes, thrust::counting_iterator<std::int64_t>(0),
                                          static_cast<std::int64_t*>(nullptr), static_cast<std::int64_t*>(nullptr),
                                          static_cast<std::int64_t>(n), run_head{nullptr}, stream_));
    return bytes;
  }

  std::size_t groups_;
  chunk_input input_;
  cudaStream_t stream_;
  device_scratch scratch_;
  device_buffer<moments> table_;
  std::array<device_buffer<std::int32_t>, 2> in_keys_;
  std::array<device_buffer<double>, 2> in_values_;
  device_buffer<std::int32_t> sorted_keys_;
  device_buffer<double> sorted_values_;
  device_buffer<std::int64_t> starts_;
  device_buffer<std::int64_t> num_runs_;
  std::int64_t segments_;
  device_buffer<std::int64_t> run_of_;
  device_buffer<moments> pieces_;
};

/// Copies `bytes` of host memory to the device on `stream`: directly when it is page-locked,
/// else through the ring.
void upload_async(pinned_ring& ring, bool page_locked, void* d_dst, const void* h_src, std::size_t bytes,
                  cudaStream_t stream)
{
  if (page_locked) SHRINK_CUDA_TRY(cudaMemcpyAsync(d_dst, h_src, bytes, cudaMemcpyHostToDevice, stream));
  else copy_to_device_staged(ring, d_dst, h_src, bytes, stream);
}

/// Copies n keys of pageable host memory to the device through the ring (as
/// copy_to_device_staged) and returns their key check, computed by the threads that copy them
/// into the ring's slices: the keys are read once.
key_check stage_keys_checked(pinned_ring& ring, std::int32_t* d_dst, const std::int32_t* h_src, std::size_t n,
                             std::size_t groups, cudaStream_t stream)
{
  const std::size_t per_slice = ring.slice_bytes() / sizeof(std::int32_t);
  constexpr std::size_t block = std::size_t{1} << 20;  // keys per thread's block
  const int threads = std::min(thread_count(0), 8);
  const auto limit = static_cast<std::int64_t>(groups);
  key_check total;
  std::vector<key_check> partial;
  for (std::size_t offset = 0; offset < n; offset += per_slice) {
    const std::size_t count = std::min(per_slice, n - offset);
    const pinned_ring::slice s = ring.next();
    auto* staged = reinterpret_cast<std::int32_t*>(s.data);
    partial.assign((count + block - 1) / block, key_check{});
    for_each_block(count, block, threads, [&](std::size_t b, std::size_t e, std::size_t index) {
      const std::int32_t* src = h_src + offset;
      unsigned long long descents = 0, out_of_range = 0;
      // Row 0 of the chunk has no predecessor; every other row is compared with the one before,
      // across slice and block boundaries.
      for (std::size_t i = b; i < e; ++i) {
        const std::int32_t k = src[i];
        staged[i] = k;
        out_of_range += (k < 0 || static_cast<std::int64_t>(k) >= limit) ? 1 : 0;
        descents += (offset + i > 0 && k < h_src[offset + i - 1]) ? 1 : 0;
      }
      partial[index] = key_check{descents, out_of_range};
    });
    for (const key_check& c : partial) {
      total.descents += c.descents;
      total.out_of_range += c.out_of_range;
    }
    SHRINK_CUDA_TRY(cudaMemcpyAsync(d_dst + offset, staged, count * sizeof(std::int32_t), cudaMemcpyHostToDevice, stream));
    s.done->record(stream);
  }
  return total;
}

}  // namespace

std::size_t chunk_rows_for(std::size_t requested, std::size_t rows)
{
  const std::size_t chunk = requested != 0 ? requested : default_chunk_rows;
  return std::max<std::size_t>(1, std::min(chunk, rows));
}

device_buffer<moments> summarize_host_rows(const raw_data_view& data, cudaStream_t stream, std::size_t chunk_rows,
                                           summarize_report* report, pinned_ring* ring)
{
  summarize_report local;
  summarize_report& rep = report != nullptr ? *report : local;
  const std::size_t chunk = chunk_rows_for(chunk_rows, data.rows);
  expect_fits(data.groups, chunk, chunk_input::own_slots);
  rep = {chunk, 0, 0};
  chunk_folder folder(data.groups, chunk, chunk_input::own_slots, stream);
  folder.reset_async();
  pinned_ring& staging = ring != nullptr ? *ring : pinned_ring::shared();
  const bool keys_locked = is_page_locked(data.group_ids, data.rows * sizeof(std::int32_t));
  const bool values_locked = is_page_locked(data.values, data.rows * sizeof(double));
  std::unique_lock<std::mutex> staging_lock;
  if (!keys_locked || !values_locked) staging_lock = staging.lock();
  pinned_buffer<key_check> h_checks(keys_locked ? 2 : 0);
  cuda_stream copy;
  device_buffer<key_check> d_checks(keys_locked ? 2 : 0, copy.get());
  std::array<cuda_event, 2> ready, consumed;
  // The folder's buffers were allocated on `stream`: the copy stream may touch them only after that.
  cuda_event allocated;
  allocated.record(stream);
  allocated.block(copy.get());
  // Declared last, so it runs first on the way out: when an error leaves mid-pipeline, the copy
  // stream finishes writing the buffers before they are freed.
  const drain_on_exit drain(copy.get());

  // Chunk k is copied into device slot k % 2 on the copy stream and folded on `stream` in row
  // order; the copy of chunk k waits for the fold of chunk k - 2 (the slot's previous chunk).
  // Whether a chunk needs its sort must be known on the host when the sort is enqueued (CUB
  // launches from the host):
  //  - pageable keys go through the pinned ring slice by slice, and the host checks them while it
  //    copies them there (one pass over the keys, no device check): chunk k's fold is enqueued as
  //    soon as chunk k is staged, and runs while the host stages chunk k + 1;
  //  - page-locked keys are copied directly and checked on the device; the host reads chunk k's
  //    check only after chunk k + 1 is enqueued (by then it has long finished), so it never waits
  //    for the compute stream.
  const std::size_t chunks = (data.rows + chunk - 1) / chunk;
  auto rows_of = [&](std::size_t k) { return std::min(chunk, data.rows - k * chunk); };
  auto fold = [&](std::size_t k, const key_check& check) {
    const int slot = static_cast<int>(k % 2);
    expect_ids_in_range(check);
    ready[slot].block(stream);
    folder.fold_async(folder.in_keys(slot), folder.in_values(slot), rows_of(k), check.descents == 0, slot, rep);
    consumed[slot].record(stream);
  };
  auto fold_device_checked = [&](std::size_t k) {
    const int slot = static_cast<int>(k % 2);
    ready[slot].synchronize();  // waits for the copy stream alone
    fold(k, h_checks.data()[slot]);
  };
  for (std::size_t k = 0; k < chunks; ++k) {
    const int slot = static_cast<int>(k % 2);
    const std::size_t begin = k * chunk;
    const std::size_t n = rows_of(k);
    if (k >= 2) consumed[slot].block(copy.get());  // the device slot's previous chunk is folded
    key_check host_check;
    if (keys_locked) {
      SHRINK_CUDA_TRY(cudaMemcpyAsync(folder.in_keys(slot), data.group_ids + begin, n * sizeof(std::int32_t),
                                      cudaMemcpyHostToDevice, copy.get()));
      check_keys_async(folder.in_keys(slot), n, data.groups, d_checks.data() + slot, copy.get());
      SHRINK_CUDA_TRY(cudaMemcpyAsync(h_checks.data() + slot, d_checks.data() + slot, sizeof(key_check),
                                      cudaMemcpyDeviceToHost, copy.get()));
    } else {
      host_check = stage_keys_checked(staging, folder.in_keys(slot), data.group_ids + begin, n, data.groups, copy.get());
    }
    upload_async(staging, values_locked, folder.in_values(slot), data.values + begin, n * sizeof(double), copy.get());
    ready[slot].record(copy.get());
    if (!keys_locked) fold(k, host_check);
    else if (k >= 1) fold_device_checked(k - 1);
  }
  if (keys_locked && chunks > 0) fold_device_checked(chunks - 1);
  // Every copy was waited for by the fold that used it, so freeing on `stream` is ordered after all.
  SHRINK_CUDA_TRY(cudaStreamSynchronize(stream));
  return folder.release_table();
}

struct device_rows_summarizer::state {
  state(std::size_t rows, std::size_t groups, std::size_t chunk, cudaStream_t stream)
    : rows(rows), groups(groups), chunk(chunk), chunks((rows + chunk - 1) / chunk), stream(stream),
      folder(groups, chunk, chunk_input::caller_device, stream), d_checks(chunks, stream), h_checks(chunks)
  {
  }

  std::size_t rows, groups, chunk, chunks;
  cudaStream_t stream;
  chunk_folder folder;
  device_buffer<key_check> d_checks;
  pinned_buffer<key_check> h_checks;
};

device_rows_summarizer::device_rows_summarizer(std::size_t rows, std::size_t groups, cudaStream_t stream,
                                               std::size_t chunk_rows)
{
  const std::size_t chunk = chunk_rows_for(chunk_rows, rows);
  expect_fits(groups, chunk, chunk_input::caller_device);
  state_ = std::make_unique<state>(rows, groups, chunk, stream);
}

device_rows_summarizer::~device_rows_summarizer() = default;

void device_rows_summarizer::run(const std::int32_t* d_keys, const double* d_values, summarize_report* report)
{
  state& st = *state_;
  summarize_report local;
  summarize_report& rep = report != nullptr ? *report : local;
  rep = {st.chunk, 0, 0};
  // The rows are all on the device already: every chunk's check, then one read-back, then every
  // fold enqueued without another wait. The host must know each chunk's path before it enqueues
  // the chunk's sort, and must reject bad ids before any fold indexes the table.
  for (std::size_t k = 0; k < st.chunks; ++k) {
    const std::size_t begin = k * st.chunk;
    check_keys_async(d_keys + begin, std::min(st.chunk, st.rows - begin), st.groups, st.d_checks.data() + k, st.stream);
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
    st.folder.fold_async(d_keys + begin, d_values + begin, std::min(st.chunk, st.rows - begin),
                         st.h_checks.data()[k].descents == 0, 0, rep);
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
