#pragma once
// The one reduction over groups that both backends run: a tree of fixed shape, so the CPU (any
// thread count) and the GPU (any grid, any device) combine the same values in the same order and
// produce the same bits.
//
// Shape. Level 0 is the n per-group terms term(0), ..., term(n - 1). Level k + 1 cuts level k into
// tiles of `fixed_tile` (256) consecutive nodes, the last one possibly partial, and reduces each
// tile to one node by the tile tree below; the levels end at the first level of one node (a
// single tile at level 0 is already the result; n = 0 gives T{}). The tile tree over x[0, m),
// m <= 256, is the pairwise tree of a shared-memory block reduction:
//
//     for stride = 128, 64, ..., 1:  x[i] = x[i] + x[i + stride]  for every i < stride with i + stride < m
//
// and its result is x[0]. Nodes past the end of a partial tile are never combined (there is no
// padding with an identity), and the left operand is always the lower index, so T's operator+
// need be neither associative nor commutative: the shape alone fixes every rounding. Depth:
// 8 levels per tile, ceil(log_256 n) tiles deep (4 for n <= 2^32).
//
// Mapping. The CPU (src/cpu/parallel.hpp) computes tiles in parallel, each with fixed_tile_tree
// on a local buffer (a task: one node of level 2, or 16 tiles of level 1 for small n); the thread
// count only decides who computes which tile. The GPU (src/cuda/device_reduce.cuh) runs one block
// of fixed_tile / Items threads per tile and one launch per level: thread t holds the nodes
// t + k (256 / Items), k < Items, does the levels whose stride is a multiple of 256 / Items in
// registers (fixed_tile_thread_levels), and the rest in shared memory (fixed_tile_step), which is
// the same tree. tests/cpu/fixed_reduce_test.cpp runs these helpers thread by thread on the CPU
// and checks them against fixed_tile_tree.

#include "macros.hpp"

#include <cstddef>
#include <vector>

namespace shrink::detail {

/// Nodes per tile of every level.
inline constexpr std::size_t fixed_tile = 256;
static_assert((fixed_tile & (fixed_tile - 1)) == 0 && (fixed_tile & 0x5555555555555555ULL) != 0,
              "a power of 4: fixed_tile_tree takes the levels of a whole tile two at a time");

/// Nodes of the next level: ceil(count / fixed_tile).
SHRINK_HD constexpr std::size_t fixed_tiles(std::size_t count) { return (count + fixed_tile - 1) / fixed_tile; }

/// The tile tree over x[0, m), 1 <= m <= fixed_tile, in place; returns its root.
template <class T>
SHRINK_HD T fixed_tile_tree(T* x, std::size_t m)
{
  if (m == fixed_tile) {
    // The common case, two levels at a time (strides s and s/2: one store for three merges).
    for (std::size_t s = fixed_tile / 2; s > 1; s /= 4) {
      const std::size_t h = s / 2;
      for (std::size_t i = 0; i < h; ++i) x[i] = (x[i] + x[i + s]) + (x[i + h] + x[i + h + s]);
    }
    return x[0];
  }
  for (std::size_t stride = fixed_tile / 2; stride > 0; stride /= 2) {
    if (m <= stride) continue;
    const std::size_t pairs = m - stride < stride ? m - stride : stride;  // i < stride, i + stride < m
    for (std::size_t i = 0; i < pairs; ++i) x[i] = x[i] + x[i + stride];
  }
  return x[0];
}

/// GPU mapping, register part: thread t of fixed_tile / Items threads holds x[k] = node
/// t + k (fixed_tile / Items) of a tile of m nodes (those at or past m are never read) and does
/// the levels whose stride is a multiple of fixed_tile / Items. Afterwards x[0] is node t of the
/// tree after those levels (meaningful when t < m).
template <int Items, class T>
SHRINK_HD void fixed_tile_thread_levels(T (&x)[Items], std::size_t t, std::size_t m)
{
  constexpr std::size_t threads = fixed_tile / Items;
  static_assert(Items >= 1 && fixed_tile % Items == 0 && (Items & (Items - 1)) == 0, "Items: a power of two");
  for (int s = Items / 2; s > 0; s /= 2)
    for (int k = 0; k < s; ++k)
      if (t + static_cast<std::size_t>(k + s) * threads < m) x[k] = x[k] + x[k + s];
}

/// GPU mapping, shared-memory part: thread t's share of the level `stride` of the tile tree.
template <class T>
SHRINK_HD void fixed_tile_step(T* x, std::size_t t, std::size_t stride, std::size_t m)
{
  if (t < stride && t + stride < m) x[t] = x[t] + x[t + stride];
}

/// The whole reduction, sequentially: the reference the backends are tested against (host only).
template <class T, class Term>
T fixed_reduce_sequential(std::size_t n, Term&& term)
{
  if (n == 0) return T{};
  std::vector<T> level(n);
  for (std::size_t i = 0; i < n; ++i) level[i] = term(i);
  std::size_t count = n;
  do {
    // In place: tile t's root goes to index t, which no later tile of this level reads.
    const std::size_t next = fixed_tiles(count);
    for (std::size_t t = 0; t < next; ++t) {
      const std::size_t begin = t * fixed_tile;
      const std::size_t m = count - begin < fixed_tile ? count - begin : fixed_tile;
      level[t] = fixed_tile_tree(level.data() + begin, m);
    }
    count = next;
  } while (count > 1);
  return level[0];
}

}  // namespace shrink::detail
