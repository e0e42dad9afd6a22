#include "group_summaries.cuh"

#include "../src/cuda/cuda_check.hpp"

#include <algorithm>
#include <climits>

namespace shrink::detail {
namespace {

constexpr int block_threads = 256;
constexpr int warps_per_block = block_threads / 32;
constexpr unsigned full_mask = 0xffffffffu;
/// Values per shared-memory tile of the short-run fold (16 KiB).
constexpr int tile_rows = 2048;

int sm_count()
{
  int device = 0, sms = 0;
  SHRINK_CUDA_TRY(cudaGetDevice(&device));
  SHRINK_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return std::max(sms, 1);
}

/// Blocks for `work` items of `per_block` each, at most `cap`: the kernels below loop over their
/// items grid-stride, and the grid changes only which block takes an item, never the arithmetic.
unsigned grid_for(std::int64_t work, std::int64_t per_block, std::int64_t cap)
{
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min((work + per_block - 1) / per_block, cap)));
}

__device__ std::int64_t run_end(const chunk_runs_ref& runs, std::int64_t r, std::int64_t num_runs)
{
  return r + 1 < num_runs ? runs.starts[r + 1] : runs.rows;
}

__device__ moments shuffle_xor(const moments& m, int offset)
{
  moments o;
  o.weight = __shfl_xor_sync(full_mask, m.weight, offset);
  o.mean = __shfl_xor_sync(full_mask, m.mean, offset);
  o.m2 = __shfl_xor_sync(full_mask, m.m2, offset);
  return o;
}

/// Chan merge of the 32 lanes' moments in lane order by a fixed butterfly: at every step the
/// partner with the lower lane is the left operand, so both partners compute the same merge and
/// every lane ends with the same (((l0 + l1) + (l2 + l3)) + ...) + (...). All 32 lanes call it.
__device__ moments warp_merge(moments m)
{
  const int lane = static_cast<int>(threadIdx.x % 32);
#pragma unroll
  for (int offset = 1; offset < 32; offset *= 2) {
    const moments other = shuffle_xor(m, offset);
    m = (lane & offset) != 0 ? other + m : m + other;
  }
  return m;
}

/// Short runs: a block takes windows of block_threads runs (one per thread) and streams the rows
/// the window's short runs need through shared memory: each tile starts at the lowest row any
/// thread still needs (long runs between short ones are skipped), is loaded coalesced, and every
/// thread continues Welford's update over its run's rows in the tile, in row order: the same
/// operations, in the same order, as one thread reading its run from global memory. The window's
/// long runs are listed, and their segments' slots marked for the piece kernels.
__global__ void __launch_bounds__(block_threads)
  fold_short_runs_kernel(moments* table, chunk_runs_ref runs, segment_pieces_ref pieces)
{
  __shared__ double tile[tile_rows];
  __shared__ unsigned long long cursor;
  __shared__ std::int64_t long_runs[block_threads];
  __shared__ int long_count;
  const std::int64_t num_runs = *runs.num_runs;
  const std::int64_t window_stride = static_cast<std::int64_t>(gridDim.x) * block_threads;
  for (std::int64_t window = static_cast<std::int64_t>(blockIdx.x) * block_threads; window < num_runs;
       window += window_stride) {
    const std::int64_t r = window + threadIdx.x;
    std::int64_t begin = 0, end = 0;
    if (r < num_runs) {
      begin = runs.starts[r];
      end = run_end(runs, r, num_runs);
    }
    const bool is_long = end - begin > long_run_rows;
    if (threadIdx.x == 0) long_count = 0;
    __syncthreads();
    // An integer slot counter: the list's order does not matter, each long run marks only its
    // own segments' slots.
    if (is_long) long_runs[atomicAdd(&long_count, 1)] = r;

    moments acc;
    std::int32_t g = 0;
    std::int64_t next = end;  // this thread's rows still to fold are [next, end)
    if (r < num_runs && !is_long) {
      g = runs.keys[begin];
      acc = table[g];
      next = begin;
    }
    for (;;) {
      if (threadIdx.x == 0) cursor = ULLONG_MAX;
      __syncthreads();
      if (next < end) atomicMin(&cursor, static_cast<unsigned long long>(next));
      __syncthreads();
      const unsigned long long first = cursor;
      if (first == ULLONG_MAX) break;  // the same value in every thread: the whole block leaves
      const auto t0 = static_cast<std::int64_t>(first);
      const std::int64_t t1 = t0 + tile_rows < runs.rows ? t0 + tile_rows : runs.rows;
      for (std::int64_t i = t0 + threadIdx.x; i < t1; i += block_threads) tile[i - t0] = runs.values[i];
      __syncthreads();
      const std::int64_t stop = end < t1 ? end : t1;
      for (; next < stop; ++next) acc.add(tile[next - t0]);
      __syncthreads();  // the tile is read before the next one overwrites it
    }
    if (r < num_runs && !is_long) table[g] = acc;

    const int count = long_count;
    for (int k = 0; k < count; ++k) {
      const std::int64_t lr = long_runs[k];
      const std::int64_t b = runs.starts[lr];
      const std::int64_t first_segment = b / segment_rows;
      const std::int64_t last_segment = (run_end(runs, lr, num_runs) - 1) / segment_rows;
      for (std::int64_t s = first_segment + threadIdx.x; s <= last_segment; s += block_threads)
        pieces.run_of[2 * s + ((s == first_segment && b != s * segment_rows) ? 1 : 0)] = lr;
    }
    __syncthreads();  // every thread has read long_count and the list before the next window
  }
}

/// One warp per segment: each marked slot's rows of the segment folded (lane l: rows l, l + 32,
/// ... of the piece, Welford) and merged in the fixed butterfly.
__global__ void __launch_bounds__(block_threads)
  fold_pieces_kernel(chunk_runs_ref runs, segment_pieces_ref pieces, std::int64_t segments)
{
  const std::int64_t num_runs = *runs.num_runs;
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * warps_per_block;
  const int lane = static_cast<int>(threadIdx.x % 32);
  for (std::int64_t s = (static_cast<std::int64_t>(blockIdx.x) * block_threads + threadIdx.x) / 32; s < segments;
       s += warps) {
    for (int slot = 0; slot < 2; ++slot) {
      const std::int64_t r = pieces.run_of[2 * s + slot];
      if (r < 0) continue;  // the same for the whole warp
      const std::int64_t seg_begin = s * segment_rows;
      const std::int64_t run_begin = runs.starts[r];
      const std::int64_t run_stop = run_end(runs, r, num_runs);
      const std::int64_t lo = run_begin > seg_begin ? run_begin : seg_begin;
      const std::int64_t hi = run_stop < seg_begin + segment_rows ? run_stop : seg_begin + segment_rows;
      moments part;
      for (std::int64_t i = lo + lane; i < hi; i += 32) part.add(runs.values[i]);
      part = warp_merge(part);
      if (lane == 0) pieces.piece[2 * s + slot] = part;
    }
  }
}

/// One block per segment in which a long run starts: the run's pieces merged in run order (thread
/// t merges pieces [P t / 256, P (t + 1) / 256) one after another, the warps merge in the fixed
/// butterfly, thread 0 the eight warp totals in warp order) and added to the group's row.
__global__ void __launch_bounds__(block_threads)
  merge_pieces_kernel(moments* table, chunk_runs_ref runs, segment_pieces_ref pieces, std::int64_t segments)
{
  __shared__ double total_weight[warps_per_block], total_mean[warps_per_block], total_m2[warps_per_block];
  const std::int64_t num_runs = *runs.num_runs;
  for (std::int64_t s = blockIdx.x; s < segments; s += gridDim.x) {
    // The long run starting in segment s: slot 1, or slot 0 when it starts at the segment's first
    // row (both cannot hold one: a run starting at the first row and ending inside is short).
    std::int64_t r = pieces.run_of[2 * s + 1];
    int first_slot = 1;
    if (r < 0) {
      r = pieces.run_of[2 * s];
      first_slot = 0;
      if (r < 0 || runs.starts[r] != s * segment_rows) continue;  // the same for the whole block
    }
    const std::int64_t count = (run_end(runs, r, num_runs) - 1) / segment_rows - s + 1;
    const std::int64_t p0 = count * threadIdx.x / block_threads;
    const std::int64_t p1 = count * (threadIdx.x + 1) / block_threads;
    moments part;
    for (std::int64_t p = p0; p < p1; ++p) part = part + pieces.piece[2 * (s + p) + (p == 0 ? first_slot : 0)];
    part = warp_merge(part);
    const unsigned warp = threadIdx.x / 32;
    if (threadIdx.x % 32 == 0) {
      total_weight[warp] = part.weight;
      total_mean[warp] = part.mean;
      total_m2[warp] = part.m2;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      moments total;
      for (int w = 0; w < warps_per_block; ++w) {
        moments m;
        m.weight = total_weight[w];
        m.mean = total_mean[w];
        m.m2 = total_m2[w];
        total = total + m;
      }
      const std::int32_t g = runs.keys[runs.starts[r]];
      table[g] = table[g] + total;
    }
    __syncthreads();  // the totals are read before the next segment's warps write them
  }
}

__global__ void __launch_bounds__(block_threads)
  check_keys_kernel(const std::int32_t* keys, std::int64_t n, std::int64_t groups, key_check* out)
{
  unsigned long long descents = 0, out_of_range = 0;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * block_threads;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * block_threads + threadIdx.x; i < n; i += stride) {
    const std::int32_t k = keys[i];
    descents += (i > 0 && k < keys[i - 1]) ? 1 : 0;
    out_of_range += (k < 0 || k >= groups) ? 1 : 0;
  }
#pragma unroll
  for (int offset = 16; offset >= 1; offset /= 2) {
    descents += __shfl_down_sync(full_mask, descents, offset);
    out_of_range += __shfl_down_sync(full_mask, out_of_range, offset);
  }
  // Integer counts: the sum is exact in any order.
  if (threadIdx.x % 32 == 0 && (descents | out_of_range) != 0) {
    atomicAdd(&out->descents, descents);
    atomicAdd(&out->out_of_range, out_of_range);
  }
}

}  // namespace

void check_keys_async(const std::int32_t* d_keys, std::size_t n, std::size_t groups, key_check* d_out,
                      cudaStream_t stream)
{
  SHRINK_CUDA_TRY(cudaMemsetAsync(d_out, 0, sizeof(key_check), stream));
  if (n == 0) return;
  const auto rows = static_cast<std::int64_t>(n);
  check_keys_kernel<<<grid_for(rows, block_threads * 8, std::int64_t{sm_count()} * 8), block_threads, 0, stream>>>(
    d_keys, rows, static_cast<std::int64_t>(groups), d_out);
  SHRINK_CUDA_CHECK_LAUNCH();
}

void fold_runs_async(moments* d_table, const chunk_runs_ref& runs, std::int64_t max_runs,
                     const segment_pieces_ref& pieces, cudaStream_t stream)
{
  if (max_runs <= 0 || runs.rows <= 0) return;
  const std::int64_t sms = sm_count();
  const std::int64_t segments = segments_for(runs.rows);
  // A chunk of at most long_run_rows rows has no long run: the piece kernels have nothing to do.
  const bool long_runs_possible = runs.rows > long_run_rows;
  if (long_runs_possible) {
    SHRINK_EXPECTS(segments <= pieces.segments, "internal: the segment scratch is smaller than the chunk");
    SHRINK_CUDA_TRY(cudaMemsetAsync(pieces.run_of, 0xFF, 2 * static_cast<std::size_t>(segments) * sizeof(std::int64_t),
                                    stream));
  }
  fold_short_runs_kernel<<<grid_for(max_runs, block_threads, sms * 8), block_threads, 0, stream>>>(d_table, runs, pieces);
  SHRINK_CUDA_CHECK_LAUNCH();
  if (!long_runs_possible) return;
  fold_pieces_kernel<<<grid_for(segments, warps_per_block, sms * 16), block_threads, 0, stream>>>(runs, pieces,
                                                                                                  segments);
  SHRINK_CUDA_CHECK_LAUNCH();
  merge_pieces_kernel<<<grid_for(segments, 1, sms * 8), block_threads, 0, stream>>>(d_table, runs, pieces, segments);
  SHRINK_CUDA_CHECK_LAUNCH();
}

}  // namespace shrink::detail
