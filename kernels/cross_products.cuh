#pragma once
// The covariate models on the GPU (host side: src/cuda/cross_products.cu).
//
// The fold of raw rows: a chunk of rows is stable-sorted by group id (CUB's LSD radix sort keeps
// each group's rows in input order), cut into runs of equal ids, and each run is folded by one
// thread with cross_product_update, continuing from its group's running state (n, shift, mean,
// co-moments; the first row of a group sets its shift, as on the CPU). Chunks are folded in
// row order, so every group sees exactly the CPU's sequence of updates: the table is bitwise the
// CPU's for any chunking. (Unlike the plain fold's long runs, no run is split: a group with a very
// large share of a chunk's rows is one thread's work.)
//
// The sums over groups: one term functor per kind, pack `pack` of the shared SHRINK_HD term, for
// the fixed reduction of src/cuda/device_reduce.cuh.

#include "common/cross_products.hpp"

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace shrink::detail {

/// Widest z the fold's generic kernel takes (its scratch is a per-thread array).
inline constexpr std::size_t max_device_width = 64;

/// The runs of a sorted chunk: run r is sorted rows [starts[r], starts[r + 1]) (the last ends at
/// `rows`); row_of gives each sorted row's index in the chunk.
struct cross_runs_ref {
  const std::int32_t* keys;  ///< sorted ids
  const std::uint32_t* row_of;
  const std::int64_t* starts;
  const std::int64_t* num_runs;  ///< on the device
  std::int64_t rows;
};

/// Folds run r of `runs` into its group's state (n, shift, mean, co-moments: 1 + 2 w + w^2 numbers
/// a group). W: w known at
/// compile time (the state is then folded in registers), or 0 (in place, w <= max_device_width).
template <std::size_t W>
__global__ void fold_cross_runs_kernel(double* state, const double* z_rows, cross_runs_ref runs, std::size_t w,
                                       std::int64_t max_runs)
{
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= max_runs || r >= *runs.num_runs) return;
  const std::int64_t begin = runs.starts[r], end = r + 1 < *runs.num_runs ? runs.starts[r + 1] : runs.rows;
  const std::size_t width = W != 0 ? W : w, stride_g = 1 + 2 * width + width * width;
  double* g = state + static_cast<std::size_t>(runs.keys[begin]) * stride_g;
  if constexpr (W != 0) {
    double local[1 + 2 * W + W * W], delta[W];
    for (std::size_t i = 0; i < stride_g; ++i) local[i] = g[i];
    for (std::int64_t i = begin; i < end; ++i)
      cross_product_update(local[0], local + 1, local + 1 + W, local + 1 + 2 * W, z_rows + runs.row_of[i] * W, delta, W);
    for (std::size_t i = 0; i < stride_g; ++i) g[i] = local[i];
  } else {
    double delta[max_device_width];
    for (std::int64_t i = begin; i < end; ++i)
      cross_product_update(g[0], g + 1, g + 1 + width, g + 1 + 2 * width, z_rows + runs.row_of[i] * width, delta, width);
  }
}

/// Row index i of the chunk, the radix sort's values.
__global__ inline void iota_kernel(std::uint32_t* out, std::size_t n)
{
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = static_cast<std::uint32_t>(i);
}

/// Term j of S(c): pack `pack` of c_j x_j x_j'.
struct weighted_outer_term {
  const double* x;
  const double* c;
  std::size_t width, pack;
  __device__ cross_pack operator()(std::size_t j) const { return weighted_outer_pack(c[j], x + j * width, width, pack); }
};

/// Term j of sum_j c_j r_j: pack `pack` of c_j r_j.
struct weighted_row_term {
  const double* x;
  const double* c;
  std::size_t width, pack;
  __device__ cross_pack operator()(std::size_t j) const { return weighted_row_pack(c[j], x + j * width, width, pack); }
};

}  // namespace shrink::detail
