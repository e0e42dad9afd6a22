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
// (warp shuffles, then the block's 8 warp totals in warp order): the result depends on J alone
// (through T), never on the batch or the grid, and holds no floating-point atomics. Studies of
// fewer than 512 replicates of at least 2^18 groups take the split path below instead.

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

/// The split path, for studies of few replicates of many groups (one block per replicate would
/// leave most of the GPU idle): each replicate's groups in chunks of split_chunk, one block per
/// (replicate, chunk) and pass, the chunks' partial sums folded in chunk order by one thread per
/// replicate between passes. Chosen from the study (groups and replicates) alone, never from the
/// batch, so a study's bits still do not depend on how it is launched.
inline constexpr std::int64_t split_chunk = std::int64_t{1} << 16;
inline constexpr std::uint64_t split_max_replicates = 512;

std::uint64_t split_chunks(std::int64_t groups);
bool use_split(std::int64_t groups, std::uint64_t replicates);

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
