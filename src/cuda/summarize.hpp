#pragma once
// Stage 1 host side: rows stream through the GPU in chunks and fold into a device table of
// per-group moments (see kernels/group_summaries.cuh for the deterministic scheme).

#include "../common/moments.hpp"
#include "device_buffer.hpp"

#include <shrink/fit.hpp>

#include <cstddef>
#include <cstdint>

namespace shrink::detail {

/// Rows per chunk unless memory is short: 32 Mi rows keep the working set near 1.4 GiB.
inline constexpr std::size_t default_chunk_rows = std::size_t{1} << 25;

/// What the summary stage did, for tests and `shrink bench`.
struct summarize_report {
  std::size_t chunk_rows = 0;
  std::size_t chunks = 0;
  std::size_t sorted_chunks = 0;  ///< chunks that were already grouped and skipped the sort
};

/// Per-group moments of host-resident rows (values relative to data.offset). Chunks are staged
/// through pinned buffers and copied on a second stream while the previous chunk is folded.
/// `chunk_rows` 0 picks the default, reduced when free GPU memory is short. Throws shrink::error
/// for ids outside [0, groups) and when even the smallest chunk does not fit.
device_buffer<moments> summarize_host_rows(const raw_data_view& data, cudaStream_t stream, std::size_t chunk_rows = 0,
                                           summarize_report* report = nullptr);

/// The same for rows already on the device (left unmodified); bitwise the same result as
/// summarize_host_rows for the same chunk size.
device_buffer<moments> summarize_device_rows(const std::int32_t* d_keys, const double* d_values, std::size_t rows,
                                             std::size_t groups, cudaStream_t stream, std::size_t chunk_rows = 0,
                                             summarize_report* report = nullptr);

}  // namespace shrink::detail
