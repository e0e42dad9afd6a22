#pragma once
// Stage 1 on the GPU: per-group moments (n_j, ybar_j, m2_j) from rows keyed by dense group id.
//
// A chunk of rows is stable-sorted by key (skipped when the chunk is already grouped), cut into
// runs of equal keys, and each run is folded into its group's row of the table. Every group occurs
// in at most one run per chunk, so the table update needs no atomics, and chunks are folded in row
// order. A run of at most `long_run` rows is folded by one thread with Welford's update, continuing
// from the group's running state: exactly the CPU backend's sequence of operations, so those groups'
// summaries are bitwise equal to the CPU's. Longer runs are split over a block and merged with
// Chan's formula in a fixed tree: deterministic, and equal to the CPU's to rounding.

#include "common/moments.hpp"

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace shrink::detail {

/// Runs longer than this go to a whole block instead of one thread.
inline constexpr std::int64_t long_run_rows = 1024;

/// What decides a chunk's path: ids outside [0, groups) are an error, and a chunk without
/// descents is already grouped by key and needs no sort.
struct key_check {
  unsigned long long descents = 0;
  unsigned long long out_of_range = 0;

  SHRINK_HD friend key_check operator+(const key_check& a, const key_check& b)
  {
    return {a.descents + b.descents, a.out_of_range + b.out_of_range};
  }
};

struct key_check_term {
  const std::int32_t* keys;
  std::int64_t groups;

  SHRINK_HD key_check operator()(std::size_t i) const
  {
    const std::int32_t k = keys[i];
    key_check c;
    c.descents = (i > 0 && k < keys[i - 1]) ? 1 : 0;
    c.out_of_range = (k < 0 || k >= groups) ? 1 : 0;
    return c;
  }
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

/// Folds every run of `runs` into `d_table` (one `moments` per group), stream-ordered.
/// `max_runs` bounds the device-side run count (it sizes the launch).
void fold_runs_async(moments* d_table, const chunk_runs_ref& runs, std::int64_t max_runs, cudaStream_t stream);

}  // namespace shrink::detail
