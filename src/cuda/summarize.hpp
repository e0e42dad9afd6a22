#pragma once
// Stage 1 host side: rows stream through the GPU in chunks and fold into a device table of
// per-group moments (see kernels/group_summaries.cuh for the deterministic scheme).

#include "../common/moments.hpp"
#include "device_buffer.hpp"
#include "stream.hpp"

#include <shrink/fit.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace shrink::detail {

/// Bits that hold every id in [0, groups): the radix sort skips the rest (ids are checked to lie
/// in that range before any sort).
inline int key_bits(std::size_t groups)
{
  int bits = 1;
  while (bits < 31 && (std::size_t{1} << bits) < groups) ++bits;
  return bits;
}

/// Rows per chunk: 32 Mi rows keep the working set near 1.4 GiB (host rows: two input slots, the
/// sort's alternate buffers and the run starts, 44 bytes a row; device rows: the sorted copy, CUB's
/// alternate buffers and the run starts, 32 bytes a row). Never reduced when GPU memory is
/// short: chunk boundaries decide the Chan-merge order of runs longer than long_run_rows, so a
/// size that followed free memory would make results depend on what else holds the GPU.
inline constexpr std::size_t default_chunk_rows = std::size_t{1} << 25;

/// The chunk size of a problem: `requested` (0 = default_chunk_rows), at most `rows`. A function
/// of its arguments alone, so the same input always folds in the same chunks.
std::size_t chunk_rows_for(std::size_t requested, std::size_t rows);

/// What the summary stage did, for tests and `shrink bench`.
struct summarize_report {
  std::size_t chunk_rows = 0;
  std::size_t chunks = 0;
  std::size_t sorted_chunks = 0;  ///< chunks that were already grouped and skipped the sort
};

/// Per-group moments of host-resident rows (values relative to data.offset). Rows go to the device
/// on a second stream while earlier chunks are folded: page-locked rows directly, pageable ones
/// through `ring` (nullptr: pinned_ring::shared(), held for the duration), slice by slice.
/// `chunk_rows` 0 picks the default. Throws shrink::error for ids outside [0, groups) and when
/// the table and the chunk buffers do not fit in free GPU memory.
device_buffer<moments> summarize_host_rows(const raw_data_view& data, cudaStream_t stream, std::size_t chunk_rows = 0,
                                           summarize_report* report = nullptr, pinned_ring* ring = nullptr);

/// The same for rows already on the device (left unmodified); bitwise the same result as
/// summarize_host_rows for the same chunk size.
device_buffer<moments> summarize_device_rows(const std::int32_t* d_keys, const double* d_values, std::size_t rows,
                                             std::size_t groups, cudaStream_t stream, std::size_t chunk_rows = 0,
                                             summarize_report* report = nullptr);

/// summarize_device_rows with its device memory allocated once, up front: `run` may be repeated
/// on rows of the size given at construction (`shrink bench` times it without allocations).
class device_rows_summarizer {
 public:
  device_rows_summarizer(std::size_t rows, std::size_t groups, cudaStream_t stream, std::size_t chunk_rows = 0);
  ~device_rows_summarizer();
  device_rows_summarizer(const device_rows_summarizer&) = delete;
  device_rows_summarizer& operator=(const device_rows_summarizer&) = delete;

  /// Zeroes the table and folds the rows into it. Stream-ordered except for one read-back of every
  /// chunk's key check (ids in range, already grouped) before the first fold. Allocates nothing:
  /// every buffer, CUB's scratch included, is sized at construction.
  void run(const std::int32_t* d_keys, const double* d_values, summarize_report* report = nullptr);

  /// The table of the last run; the summarizer is spent afterwards.
  device_buffer<moments> release_table();

 private:
  struct state;  // the chunk buffers, the table and the key checks (summarize.cu)
  std::unique_ptr<state> state_;
};

}  // namespace shrink::detail
