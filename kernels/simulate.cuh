#pragma once
// Simulation studies on the GPU: one team of threads per replicate runs the three passes of
// src/common/simulate_formulas.hpp over the replicate's groups, regenerating each group's Philox
// draws in every pass instead of storing them (nothing is kept per group-replicate), and writes the
// replicate's metrics; a second kernel merges the metrics in fixed blocks of replicates.
//
// Kernel shape. Blocks of 256 threads. A team is 256 threads (one block) when J >= 4096, else a
// power of two of at most 32 lanes (a warp or part of one, about four groups per lane), so small
// studies with many replicates fill the GPU as well as large ones. Lane l of a team takes groups
// l, l + T, l + 2T, ... in order, then the team sums the lanes' partials with a fixed butterfly
// (warp shuffles, then the block's 8 warp totals in warp order). A block team (J >= 4096) sums
// each chunk of split_chunk groups that way and adds the chunks' sums in chunk order, starting
// from 0: the same arithmetic as the split path below, so the two paths give the same bits and
// the choice between them (from the launch's replicates against the GPU's resident blocks) never
// changes a result. The result depends on J alone (through T and the chunks), never on the batch,
// the grid, the path or the device, and holds no floating-point atomics.

#include "common/simulate_formulas.hpp"

#include <cuda_runtime.h>

#include <cstdint>

namespace shrink::detail::sim {

/// Threads per block of the replicate kernel.
inline constexpr int simulate_block_threads = 256;

/// Team size for J groups: 256 (the block) from 4096 groups, else a power of two <= 32.
int team_size(std::int64_t groups);

/// Launches the replicate kernel for replicates [first, first + count) of scenario `s`, writing
/// count x metric_count doubles (replicate-major) to d_metrics. d_n and d_block_df: the design's
/// n_j and per-block degrees of freedom on the device when !s.equal_n (else unused).
void launch_replicates_async(const scenario_params& s, const std::int32_t* d_n, const double* d_block_df,
                             std::uint64_t first, std::uint64_t count, double* d_metrics, cudaStream_t stream);

/// The split path, for launches of too few replicates to fill the GPU with one block each: each
/// replicate's groups in chunks of split_chunk, one block per (replicate, chunk) and pass, the
/// chunks' partial sums folded in chunk order by one thread per replicate between passes.
inline constexpr std::int64_t split_chunk = std::int64_t{1} << 14;
static_assert(split_chunk % ss_block == 0, "chunks hold whole blocks of the pooled chi-square");

std::uint64_t split_chunks(std::int64_t groups);

/// Whether a launch of `count` replicates of scenario `s` takes the split path: J >= 4096 (block
/// teams), at least two chunks, and count x chunks blocks fill the GPU's waves (resident blocks:
/// SMs x the kernels' occupancy) at least 10% better than count blocks do. R = 100 replicates of
/// J = 1e5 groups on an H200 (132 SMs, 2 blocks each): 100 blocks fill 38% of one wave, 700
/// blocks 88% of three. The bits are the same either way (see the kernel shape above).
bool use_split(const scenario_params& s, std::uint64_t count);

/// Tests only: 0 chooses as use_split says, 1 always the team path, 2 the split path whenever
/// J >= 4096. Process-wide.
void force_path_for_testing(int path);

/// Split path for replicates [first, first + count): d_partials holds count x split_chunks(J) x 13
/// doubles and d_hats count entries, both scratch; metrics as launch_replicates_async.
void launch_split_async(const scenario_params& s, const std::int32_t* d_n, const double* d_block_df,
                        std::uint64_t first, std::uint64_t count, double* d_partials, replicate_hats* d_hats,
                        double* d_metrics, cudaStream_t stream);

/// Merges count replicates' metrics in blocks of replicate_block (Welford in replicate order) into
/// ceil(count / replicate_block) entries of d_blocks. `count` replicates start at a multiple of
/// replicate_block, so these are the study's fixed blocks.
void launch_merge_async(const double* d_metrics, std::uint64_t count, metric_moments* d_blocks, cudaStream_t stream);

}  // namespace shrink::detail::sim
