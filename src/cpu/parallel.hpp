#pragma once
// Deterministic CPU parallelism: work is cut into blocks whose boundaries depend on the problem
// size alone, never on the thread count, and reductions combine in the fixed tree of
// src/common/fixed_reduce.hpp, the GPU backend's too. So a reduction gives bitwise the same
// result for 1, 2 or 64 threads, and the same as the GPU's.

#include "../common/fixed_reduce.hpp"

#include <algorithm>
#include <cstddef>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

namespace shrink::detail {

/// At most this many threads per hardware thread: more only adds stacks and per-thread scratch.
inline constexpr int max_threads_per_hardware_thread = 4;

/// Number of threads to use for `requested` (0 = all hardware threads), at most
/// max_threads_per_hardware_thread x the hardware's: results do not depend on it, so a larger
/// request (--threads 100000) runs as the cap.
inline int thread_count(int requested)
{
  const unsigned reported = std::thread::hardware_concurrency();
  const int hw = reported == 0 ? 1 : static_cast<int>(std::min<unsigned>(reported, 1u << 16));
  if (requested > 0) return std::min(requested, max_threads_per_hardware_thread * hw);
  return hw;
}

/// Runs fn(w) once for every w in [0, workers), fn(0) on the calling thread and the others on
/// threads of their own. Where the system refuses a thread (std::system_error: a process or memory
/// limit), the workers left without one run on the calling thread after fn(0), in order; every
/// started thread is joined. The fn(w) must be independent of each other (each writes its own
/// outputs), so the results are the same however they were scheduled.
template <class Fn>
void run_workers(int workers, Fn&& fn)
{
  if (workers <= 1) {
    fn(0);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(workers - 1));
  int started = 1;
  try {
    for (; started < workers; ++started) pool.emplace_back(fn, started);
  } catch (const std::system_error&) {
    // started: the first worker without a thread; the calling thread takes it and the rest.
  }
  try {
    fn(0);
    for (int w = started; w < workers; ++w) fn(w);
  } catch (...) {
    for (auto& th : pool) th.join();
    throw;
  }
  for (auto& th : pool) th.join();
}

/// Calls body(block_begin, block_end, block_index) for blocks of `block` items, on `threads`
/// threads; blocks are handed out round-robin.
template <class Body>
void for_each_block(std::size_t n, std::size_t block, int threads, Body&& body)
{
  const std::size_t blocks = (n + block - 1) / block;
  const int workers = static_cast<int>(std::min<std::size_t>(std::max(threads, 1), std::max<std::size_t>(blocks, 1)));
  run_workers(workers, [&](int t) {
    for (std::size_t b = static_cast<std::size_t>(t); b < blocks; b += static_cast<std::size_t>(workers)) {
      const std::size_t begin = b * block;
      body(begin, std::min(n, begin + block), b);
    }
  });
}

/// Items per task of the per-group maps: fixed, though the results would not depend on it either.
inline constexpr std::size_t reduce_block = 1 << 14;

/// Room for a tile's nodes, left uninitialised: T's default member initialisers would zero all 256
/// (12 KiB for the count fits' sums) where a small reduction writes and reads a few.
template <class T>
union tile_buffer {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>, "nodes are plain values");
  T node[fixed_tile];
  tile_buffer() {}
};

/// The tile tree over load(i), i in [begin, end), end - begin <= fixed_tile, in `buffer`.
template <class T, class Load>
T reduce_tile(std::size_t begin, std::size_t end, Load&& load, T* buffer)
{
  for (std::size_t i = begin; i < end; ++i) buffer[i - begin] = load(i);
  return fixed_tile_tree(buffer, end - begin);
}

/// Sum over i in [0, n) of term(i) with T's operator+, by the fixed tree of
/// src/common/fixed_reduce.hpp (the GPU's reduction too): the same bits for any thread count,
/// and the same as fixed_reduce_sequential. T{} when n is 0.
///
/// Large n: a task computes one node of level 2 (the tile tree over the roots of up to 256 tiles
/// of 256 terms: 65536 groups) in two stack buffers, so no level is stored but the small ones
/// above. Smaller n (fewer than 4 such nodes per thread): tasks of 16 tiles store the level-1
/// roots (n / 256 of them), so that expensive terms (the t prior's quadrature) still spread over
/// the threads. The calling thread finishes the upper levels.
template <class T, class Term>
T reduce(std::size_t n, int threads, Term&& term)
{
  if (n == 0) return T{};
  if (n <= fixed_tile) {
    tile_buffer<T> terms;
    return reduce_tile(0, n, term, terms.node);
  }
  const std::size_t tiles = fixed_tiles(n);
  const std::size_t nodes = fixed_tiles(tiles);
  std::vector<T> level;
  if (nodes >= 4 * static_cast<std::size_t>(std::max(threads, 1))) {
    level.resize(nodes);
    for_each_block(nodes, 1, threads, [&](std::size_t node, std::size_t, std::size_t) {
      tile_buffer<T> terms, roots;
      const std::size_t first = node * fixed_tile, last = std::min(tiles, first + fixed_tile);
      for (std::size_t t = first; t < last; ++t)
        roots.node[t - first] = reduce_tile(t * fixed_tile, std::min(n, (t + 1) * fixed_tile), term, terms.node);
      level[node] = fixed_tile_tree(roots.node, last - first);
    });
  } else {
    level.resize(tiles);
    for_each_block(tiles, 16, threads, [&](std::size_t first, std::size_t last, std::size_t) {
      tile_buffer<T> terms;
      for (std::size_t t = first; t < last; ++t)
        level[t] = reduce_tile(t * fixed_tile, std::min(n, (t + 1) * fixed_tile), term, terms.node);
    });
  }
  // The levels above, in place: tile k's root goes to index k, which no later tile reads.
  for (std::size_t count = level.size(); count > 1;) {
    const std::size_t next = fixed_tiles(count);
    for (std::size_t k = 0; k < next; ++k)
      level[k] = fixed_tile_tree(level.data() + k * fixed_tile, std::min(fixed_tile, count - k * fixed_tile));
    count = next;
  }
  return level[0];
}

}  // namespace shrink::detail
