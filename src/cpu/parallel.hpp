#pragma once
// Deterministic CPU parallelism: work is cut into blocks whose boundaries depend on the problem
// size alone, never on the thread count, and partial results are combined in block order. So a
// reduction gives bitwise the same result for 1, 2 or 64 threads.

#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

namespace shrink::detail {

/// Number of threads to use for `requested` (0 = all hardware threads).
inline int thread_count(int requested)
{
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

/// Calls body(block_begin, block_end, block_index) for blocks of `block` items, on `threads`
/// threads; blocks are handed out round-robin.
template <class Body>
void for_each_block(std::size_t n, std::size_t block, int threads, Body&& body)
{
  const std::size_t blocks = (n + block - 1) / block;
  const int workers = static_cast<int>(std::min<std::size_t>(std::max(threads, 1), std::max<std::size_t>(blocks, 1)));
  auto work = [&](int t) {
    for (std::size_t b = static_cast<std::size_t>(t); b < blocks; b += static_cast<std::size_t>(workers)) {
      const std::size_t begin = b * block;
      body(begin, std::min(n, begin + block), b);
    }
  };
  if (workers <= 1) {
    work(0);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(workers - 1));
  for (int t = 1; t < workers; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
}

/// Block size of reductions over groups: fixed, so results do not depend on the thread count.
inline constexpr std::size_t reduce_block = 1 << 14;

/// Sum over i in [0, n) of term(i), with T's operator+, reduced in a fixed order.
template <class T, class Term>
T reduce(std::size_t n, int threads, Term&& term)
{
  const std::size_t blocks = (n + reduce_block - 1) / reduce_block;
  std::vector<T> partial(blocks);
  for_each_block(n, reduce_block, threads, [&](std::size_t begin, std::size_t end, std::size_t b) {
    T acc{};
    for (std::size_t i = begin; i < end; ++i) acc = acc + term(i);
    partial[b] = acc;
  });
  T total{};
  for (const T& p : partial) total = total + p;
  return total;
}

}  // namespace shrink::detail
