#pragma once
// The seam between the backend-independent study (src/api/simulate.cpp) and a backend: run every
// replicate of some scenarios and return, per scenario, the moments of the per-replicate metrics
// merged in replicate order (blocks of sim::replicate_block, Chan between blocks in block order).

#include "../common/simulate_formulas.hpp"

#include <cstdint>
#include <functional>
#include <vector>

namespace shrink::detail::sim {

struct scenario_job {
  scenario_params params;
  std::vector<std::int32_t> n;   ///< the design's n_j when !params.equal_n, else empty
  /// When !params.equal_n: sum of (n_j - 1) per block of ss_block groups; with params.redraw
  /// (no fixed blocks) and params.q_by_df, the t quantiles for df = params.df_min + i instead.
  std::vector<double> block_df;
  std::uint64_t replicates = 0;
};

/// Reports group-replicates finished since the last call.
using progress_fn = std::function<void(std::uint64_t group_replicates_done)>;

/// What a backend returns: per scenario, the merged metrics; and the seconds its replicate loop
/// took (after device setup: context, stream and buffers).
struct backend_run {
  std::vector<metric_moments> moments;
  double seconds = 0;
};

/// batch: replicates per chunk (rounded up to a multiple of replicate_block) or 0 for automatic.
backend_run run_cpu(const std::vector<scenario_job>& jobs, int threads, std::uint64_t batch, const progress_fn& progress);

/// Defined in src/cuda/simulate.cu when CUDA is built; else throws.
backend_run run_cuda(const std::vector<scenario_job>& jobs, std::uint64_t batch, const progress_fn& progress);

/// Replicates per chunk for `groups` groups when the caller asked for `requested` (0 = automatic:
/// about target_group_replicates of work), at most max_replicates (a multiple of replicate_block)
/// and the study's `replicates` rounded up to a multiple of replicate_block: a multiple of
/// replicate_block, whatever `requested` is.
std::uint64_t batch_size(std::uint64_t requested, std::int64_t groups, std::uint64_t target_group_replicates,
                         std::uint64_t max_replicates, std::uint64_t replicates);

}  // namespace shrink::detail::sim
