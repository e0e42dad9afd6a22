#pragma once
// The one device reduction every per-group sum uses: sum over i of term(i) with T's operator+ (a
// Chan merge for the moments inside T), in the fixed tree of src/common/fixed_reduce.hpp, the CPU
// backend's too. The tree depends on n alone, never on the grid, the device or the toolkit, and
// no atomics are used, so the result is bitwise the same run to run, on every GPU and on the CPU
// (given terms that are themselves bitwise: see README, Numerics and reproducibility). A new
// field in a sums struct needs no GPU change. Include only from the .cu files that instantiate it.
//
// One launch per level of the tree: block b of a level reduces its tiles b, b + grid, ... Each
// block has fixed_tile / Items threads; thread t loads the tile's nodes t + k (fixed_tile / Items)
// (coalesced: consecutive threads read consecutive nodes), does the widest levels of the tile tree
// in registers (fixed_tile_thread_levels) and the rest in shared memory (fixed_tile_step), the
// last five of them within one warp. Level 1 evaluates term(i) as it loads; higher levels read
// the previous level's nodes from device scratch.

#include "../common/fixed_reduce.hpp"
#include "cuda_check.hpp"
#include "reduce_scratch.hpp"
#include "stream.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <utility>

namespace shrink::detail {

/// Nodes per thread at level loads: small T get more (fewer, fuller blocks; loads in flight),
/// large T keep their registers and shared memory (fixed_tile x sizeof(T) at most) in bounds.
template <class T>
inline constexpr int fixed_items = sizeof(T) <= 32 ? 4 : (sizeof(T) <= 64 ? 2 : 1);

/// A level above the first: node i of the previous level.
template <class T>
struct level_load {
  const T* nodes;
  __device__ T operator()(std::size_t i) const { return nodes[i]; }
};

/// out[tile] = the tile tree over load(i), i in [tile * fixed_tile, min(count, (tile + 1) * fixed_tile)),
/// for every tile < tiles; with count = 0, out[0] = T{}.
template <class T, int Items, class Load>
__global__ void __launch_bounds__(fixed_tile / Items)
  fixed_tile_kernel(Load load, std::size_t count, std::size_t tiles, T* out)
{
  constexpr unsigned threads = static_cast<unsigned>(fixed_tile / Items);
  static_assert(threads >= 64, "the last five levels run in warp 0 while the others wait");
  // Static shared memory stops at 48 KiB: a larger sums struct must fail here, by name, not in ptxas.
  static_assert(threads * sizeof(T) <= 48 * 1024, "a sums struct too large for the tile's shared memory");
  __shared__ alignas(T) unsigned char storage[threads * sizeof(T)];
  T* shared = reinterpret_cast<T*>(storage);
  const unsigned t = threadIdx.x;
  for (std::size_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const std::size_t base = tile * fixed_tile;
    const std::size_t left = count - base;  // count >= base: tile < tiles (or count = 0)
    const std::size_t m = left < fixed_tile ? left : fixed_tile;
    T x[Items];
#pragma unroll
    for (int k = 0; k < Items; ++k) {
      const std::size_t i = t + static_cast<std::size_t>(k) * threads;
      if (i < m) x[k] = load(base + i);
    }
    fixed_tile_thread_levels<Items>(x, t, m);
    if (t < m) shared[t] = x[0];
    __syncthreads();
    for (unsigned stride = threads / 2; stride >= 32; stride /= 2) {
      fixed_tile_step(shared, t, stride, m);
      __syncthreads();
    }
    if (t < 32) {
      // Warp 0 alone: __syncwarp orders its shared-memory writes between the levels.
      for (unsigned stride = 16; stride > 0; stride /= 2) {
        fixed_tile_step(shared, t, stride, m);
        __syncwarp();
      }
      if (t == 0) out[tile] = m > 0 ? shared[0] : T{};
    }
    __syncthreads();  // `shared` is refilled by the block's next tile
  }
}

/// One level: count nodes given by load(i) into fixed_tiles(count) nodes at out (1 when count is 0).
template <class T, class Load>
void launch_level(const Load& load, std::size_t count, T* out, cudaStream_t stream)
{
  constexpr int items = fixed_items<T>;
  // The grid only bounds the launch; the tree, and so the result, does not depend on it.
  constexpr std::size_t max_blocks = std::size_t{1} << 16;
  const std::size_t tiles = std::max<std::size_t>(fixed_tiles(count), 1);
  const auto blocks = static_cast<unsigned>(std::min(tiles, max_blocks));
  fixed_tile_kernel<T, items><<<blocks, static_cast<unsigned>(fixed_tile / items), 0, stream>>>(load, count, tiles,
                                                                                                 out);
  SHRINK_CUDA_CHECK_LAUNCH();
}

/// Writes sum_{i < n} term(i) to *d_out with `scratch` of fixed_reduce_scratch_bytes(n, sizeof(T))
/// bytes (256-byte aligned), stream-ordered. Levels alternate between two areas of the scratch
/// (level 1 in the first, 2 in the second, 3 in the first, ...); the root goes to d_out.
template <class T, class Term>
void reduce_into(void* scratch, const Term& term, std::size_t n, T* d_out, cudaStream_t stream)
{
  const std::size_t c1 = fixed_tiles(n);
  if (c1 <= 1) {
    launch_level<T>(term, n, d_out, stream);
    return;
  }
  auto* bytes = static_cast<unsigned char*>(scratch);
  T* src = reinterpret_cast<T*>(bytes);
  T* dst = reinterpret_cast<T*>(bytes + (c1 * sizeof(T) + 255) / 256 * 256);
  launch_level<T>(term, n, src, stream);
  for (std::size_t count = c1;;) {
    const std::size_t next = fixed_tiles(count);
    launch_level<T>(level_load<T>{src}, count, next == 1 ? d_out : dst, stream);
    if (next == 1) return;
    count = next;
    std::swap(src, dst);
  }
}

/// The sum on the host (synchronises `stream`); sum_{i < n} term(i), T{} when n is 0.
template <class T, class Term>
T reduce(reduce_scratch& scratch, Term term, std::size_t n, cudaStream_t stream)
{
  static_assert(sizeof(T) <= reduce_result_bytes, "a sums struct larger than reduce_result_bytes");
  static_assert(std::is_trivially_copyable_v<T>, "the result is copied back as bytes");
  unsigned char* base = scratch.device(reduce_result_bytes + fixed_reduce_scratch_bytes(n, sizeof(T)));
  T* d_out = reinterpret_cast<T*>(base);
  reduce_into<T>(base + reduce_result_bytes, term, n, d_out, stream);
  SHRINK_CUDA_TRY(cudaMemcpyAsync(scratch.host(), d_out, sizeof(T), cudaMemcpyDeviceToHost, stream));
  SHRINK_CUDA_TRY(cudaStreamSynchronize(stream));
  T h_out;
  std::memcpy(&h_out, scratch.host(), sizeof(T));
  return h_out;
}

}  // namespace shrink::detail
