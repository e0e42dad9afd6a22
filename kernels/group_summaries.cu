#include "group_summaries.cuh"

#include "../src/cuda/cuda_check.hpp"

#include <cub/block/block_reduce.cuh>

#include <algorithm>

namespace shrink::detail {
namespace {

constexpr int block_threads = 256;

struct moments_merge {
  __device__ moments operator()(const moments& a, const moments& b) const { return a + b; }
};

__device__ std::int64_t run_end(const chunk_runs_ref& runs, std::int64_t r, std::int64_t num_runs)
{
  return r + 1 < num_runs ? runs.starts[r + 1] : runs.rows;
}

/// One thread per short run: Welford's update continued from the group's running state.
__device__ void fold_short_runs(moments* table, const chunk_runs_ref& runs)
{
  const std::int64_t num_runs = *runs.num_runs;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < num_runs; r += stride) {
    const std::int64_t begin = runs.starts[r];
    const std::int64_t end = run_end(runs, r, num_runs);
    if (end - begin > long_run_rows) continue;
    const std::int32_t g = runs.keys[begin];
    moments acc = table[g];
    for (std::int64_t i = begin; i < end; ++i) acc.add(runs.values[i]);
    table[g] = acc;
  }
}

/// One block per long run: each thread folds a contiguous slice, the slices merge in a fixed tree.
/// Blocks take windows of block_threads runs, find the window's long runs in parallel, then fold
/// them one after another with the whole block.
__device__ void fold_long_runs(moments* table, const chunk_runs_ref& runs)
{
  using block_reduce = cub::BlockReduce<moments, block_threads>;
  __shared__ typename block_reduce::TempStorage scratch;
  __shared__ std::int64_t long_runs[block_threads];
  __shared__ int long_count;
  const std::int64_t num_runs = *runs.num_runs;
  const std::int64_t window_stride = static_cast<std::int64_t>(gridDim.x) * block_threads;
  for (std::int64_t window = static_cast<std::int64_t>(blockIdx.x) * block_threads; window < num_runs;
       window += window_stride) {
    if (threadIdx.x == 0) long_count = 0;
    __syncthreads();
    const std::int64_t mine = window + threadIdx.x;
    if (mine < num_runs && run_end(runs, mine, num_runs) - runs.starts[mine] > long_run_rows) {
      // An integer slot counter: the order in which the window's long runs are folded does not
      // matter, each writes only its own group with a fixed arithmetic sequence.
      long_runs[atomicAdd(&long_count, 1)] = mine;
    }
    __syncthreads();
    const int count = long_count;
    for (int k = 0; k < count; ++k) {
      const std::int64_t r = long_runs[k];
      const std::int64_t begin = runs.starts[r];
      const std::int64_t length = run_end(runs, r, num_runs) - begin;
      const std::int64_t lo = begin + length * threadIdx.x / block_threads;
      const std::int64_t hi = begin + length * (threadIdx.x + 1) / block_threads;
      moments part;
      for (std::int64_t i = lo; i < hi; ++i) part.add(runs.values[i]);
      const moments total = block_reduce(scratch).Reduce(part, moments_merge{});
      if (threadIdx.x == 0) {
        const std::int32_t g = runs.keys[begin];
        table[g] = table[g] + total;
      }
      __syncthreads();  // before the next run reuses the block's scratch
    }
    __syncthreads();  // every thread has read long_count before the next window resets it
  }
}

__global__ void fold_short_runs_kernel(moments* table, chunk_runs_ref runs) { fold_short_runs(table, runs); }

__global__ void __launch_bounds__(block_threads) fold_long_runs_kernel(moments* table, chunk_runs_ref runs)
{
  fold_long_runs(table, runs);
}

}  // namespace

void fold_runs_async(moments* d_table, const chunk_runs_ref& runs, std::int64_t max_runs, cudaStream_t stream)
{
  if (max_runs <= 0) return;
  int device = 0, sms = 0;
  SHRINK_CUDA_TRY(cudaGetDevice(&device));
  SHRINK_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  // Grid sizes change only which thread handles a run, never the arithmetic: results do not
  // depend on them. Both kernels write disjoint groups, so they may run in either order.
  const std::int64_t short_blocks =
    std::min<std::int64_t>((max_runs + block_threads - 1) / block_threads, std::int64_t{sms} * 32);
  fold_short_runs_kernel<<<static_cast<unsigned>(short_blocks), block_threads, 0, stream>>>(d_table, runs);
  SHRINK_CUDA_CHECK_LAUNCH();
  const std::int64_t long_blocks =
    std::min<std::int64_t>((max_runs + block_threads - 1) / block_threads, std::int64_t{sms} * 4);
  fold_long_runs_kernel<<<static_cast<unsigned>(long_blocks), block_threads, 0, stream>>>(d_table, runs);
  SHRINK_CUDA_CHECK_LAUNCH();
}

}  // namespace shrink::detail
