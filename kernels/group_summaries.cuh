#pragma once
// Stage 1 on the GPU: per-group moments (n_j, ybar_j, m2_j) from rows keyed by dense group id.
//
// A chunk of rows is stable-sorted by key (skipped when the chunk is already grouped), cut into
// runs of equal keys, and each run is folded into its group's row of the table. Every group occurs
// in at most one run per chunk, so the table update needs no atomics, and chunks are folded in row
// order.
//
// Short runs (at most long_run_rows rows) are folded by one thread each with Welford's update,
// continuing from the group's running state: exactly the CPU backend's sequence of operations, so
// those groups' summaries are bitwise equal to the CPU's. A block takes a window of 256 runs and
// streams the window's rows through shared memory in coalesced tiles; each thread folds its run's
// rows of each tile in row order.
//
// Long runs are cut into pieces by a fixed grid of segments of segment_rows rows of the chunk
// (segment s = chunk rows [s S, (s + 1) S)), so a long run of any length spreads over all the GPU:
// a warp folds each piece (lane l takes rows l, l + 32, ... of the piece with Welford's update; the
// lanes merge with Chan's formula in a fixed butterfly), then a block merges the run's pieces in
// run order (fixed slices per thread, then the same fixed tree) and adds the total to the group's
// row. Every step depends on the chunk's rows alone, never on the grid, the SM count or the
// device: deterministic, and equal to the CPU's to rounding. Because segment_rows <= long_run_rows,
// at most two long runs meet a segment: the run holding its first row (slot 0) and one run that
// starts inside it (slot 1).

#include "common/moments.hpp"

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace shrink::detail {

/// Runs longer than this are long (folded by pieces over many warps).
inline constexpr std::int64_t long_run_rows = 1024;
/// Rows per segment of the long-run pieces' grid.
inline constexpr std::int64_t segment_rows = 1024;
static_assert(segment_rows <= long_run_rows + 2, "a segment must meet at most two long runs");

/// What decides a chunk's path: ids outside [0, groups) are an error, and a chunk without
/// descents is already grouped by key and needs no sort.
struct key_check {
  unsigned long long descents = 0;
  unsigned long long out_of_range = 0;
};

/// True at the first row of each run of equal keys.
struct run_head {
  const std::int32_t* keys;

  SHRINK_HD bool operator()(std::int64_t i) const { return i == 0 || keys[i] != keys[i - 1]; }
};

/// The runs of one grouped chunk: run r is rows [starts[r], starts[r + 1]) (the last ends at
/// `rows`) of group keys[starts[r]]. The run count stays on the device.
struct chunk_runs_ref {
  const std::int32_t* keys;
  const double* values;
  const std::int64_t* starts;
  const std::int64_t* num_runs;
  std::int64_t rows;
};

/// Device scratch of the long-run pieces: two slots per segment.
struct segment_pieces_ref {
  std::int64_t* run_of;  ///< [2 s + slot]: the long run of that slot, or -1
  moments* piece;        ///< [2 s + slot]: its rows in segment s, folded
  std::int64_t segments; ///< ceil(rows / segment_rows) for the largest chunk
};

/// Segments of a chunk of `rows` rows.
inline std::int64_t segments_for(std::int64_t rows) { return (rows + segment_rows - 1) / segment_rows; }

/// Writes the key check of rows [d_keys, d_keys + n) to *d_out, stream-ordered (integer counts:
/// exact in any order).
void check_keys_async(const std::int32_t* d_keys, std::size_t n, std::size_t groups, key_check* d_out,
                      cudaStream_t stream);

/// Folds every run of `runs` into `d_table` (one `moments` per group), stream-ordered.
/// `max_runs` bounds the device-side run count (it sizes the launch); `pieces` must hold
/// segments_for(runs.rows) segments.
void fold_runs_async(moments* d_table, const chunk_runs_ref& runs, std::int64_t max_runs,
                     const segment_pieces_ref& pieces, cudaStream_t stream);

}  // namespace shrink::detail
