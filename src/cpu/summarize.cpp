#include "summarize.hpp"

#include "parallel.hpp"

#include <algorithm>

namespace shrink::detail {
namespace {

/// Runs body(t) for t in [0, workers), each on its own thread where the system gives one.
template <class Body>
void on_threads(int workers, Body&& body)
{
  run_workers(workers, body);
}

/// Most partitions (and row blocks) of fold_by_partitioning: its count and offset tables hold
/// partitions^2 entries each, so more threads than this share the partitions instead of growing them.
constexpr int max_partitions = 256;

/// Few threads: each owns a range of group ids and scans every id, updating its own groups.
/// Reads threads x 4 bytes of ids per row, which beats moving the rows while threads are few.
void fold_by_scanning(const raw_data_view& data, int workers, std::vector<moments>& acc)
{
  const std::size_t J = data.groups;
  on_threads(workers, [&](int t) {
    const auto lo = static_cast<std::int32_t>(J * static_cast<std::size_t>(t) / static_cast<std::size_t>(workers));
    const auto hi = static_cast<std::int32_t>(J * static_cast<std::size_t>(t + 1) / static_cast<std::size_t>(workers));
    for (std::size_t i = 0; i < data.rows; ++i) {
      const std::int32_t g = data.group_ids[i];
      if (g >= lo && g < hi) acc[static_cast<std::size_t>(g)].add(data.values[i]);
    }
  });
}

/// Many threads: a stable partition of the rows by id range (count, prefix, scatter), then each
/// thread folds its range. Every row moves once, whatever the thread count.
void fold_by_partitioning(const raw_data_view& data, int threads, std::vector<moments>& acc)
{
  const int workers = std::min(threads, max_partitions);
  const std::size_t J = data.groups, N = data.rows, W = static_cast<std::size_t>(workers);
  // Group ids per partition, rounded up so that the partition is id / span (no division by J).
  const std::size_t span = (J + W - 1) / W;
  auto part_of = [&](std::int32_t g) { return static_cast<std::size_t>(g) / span; };
  auto row_begin = [&](std::size_t t) { return N * t / W; };

  std::vector<std::size_t> count(W * W, 0);  // count[t * W + p]: rows of block t in partition p
  std::vector<char> bad_id(W, 0);
  on_threads(workers, [&](int t) {
    std::size_t* c = &count[static_cast<std::size_t>(t) * W];
    for (std::size_t i = row_begin(static_cast<std::size_t>(t)); i < row_begin(static_cast<std::size_t>(t) + 1); ++i) {
      const std::int32_t g = data.group_ids[i];
      if (g < 0 || static_cast<std::size_t>(g) >= J) {
        bad_id[static_cast<std::size_t>(t)] = 1;
        return;
      }
      ++c[part_of(g)];
    }
  });
  for (char b : bad_id) SHRINK_EXPECTS(!b, "group ids must lie in [0, groups)");
  // Partition p's rows start after all rows of partitions < p; within it, block t's rows follow
  // those of blocks < t, so each partition keeps the input order.
  std::vector<std::size_t> offset(W * W);
  std::size_t next = 0;
  for (std::size_t p = 0; p < W; ++p)
    for (std::size_t t = 0; t < W; ++t) {
      offset[t * W + p] = next;
      next += count[t * W + p];
    }
  std::vector<std::int32_t> ids(N);
  std::vector<double> values(N);
  on_threads(workers, [&](int t) {
    std::size_t* o = &offset[static_cast<std::size_t>(t) * W];
    for (std::size_t i = row_begin(static_cast<std::size_t>(t)); i < row_begin(static_cast<std::size_t>(t) + 1); ++i) {
      const std::size_t dst = o[part_of(data.group_ids[i])]++;
      ids[dst] = data.group_ids[i];
      values[dst] = data.values[i];
    }
  });
  on_threads(workers, [&](int p) {
    const std::size_t begin = offset[static_cast<std::size_t>(p)] - count[static_cast<std::size_t>(p)];
    const std::size_t end = offset[(W - 1) * W + static_cast<std::size_t>(p)];
    for (std::size_t i = begin; i < end; ++i) acc[static_cast<std::size_t>(ids[i])].add(values[i]);
  });
}

}  // namespace

std::vector<group_summary> summarize_groups(const raw_data_view& data, int threads)
{
  const std::size_t J = data.groups;
  std::vector<moments> acc(J);
  const int workers = static_cast<int>(std::min<std::size_t>(std::max(thread_count(threads), 1), std::max<std::size_t>(J, 1)));
  // Either way each group sees Welford's updates over its rows in input order: the summaries are
  // bitwise the same for any thread count.
  constexpr int partition_from = 4;
  if (workers >= partition_from && data.rows >= (std::size_t{1} << 16))
    fold_by_partitioning(data, workers, acc);
  else
    fold_by_scanning(data, workers, acc);

  std::vector<group_summary> out(J);
  for (std::size_t j = 0; j < J; ++j)
    out[j] = {static_cast<std::int64_t>(acc[j].weight), acc[j].mean, acc[j].m2};
  return out;
}

}  // namespace shrink::detail
