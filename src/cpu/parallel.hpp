#pragma once
// Deterministic CPU parallelism: work is cut into blocks whose boundaries depend on the problem
// size alone, never on the thread count, and partial results are combined in block order. So a
// reduction gives bitwise the same result for 1, 2 or 64 threads.

#include <algorithm>
#include <cstddef>
#include <system_error>
#include <thread>
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
