#include "summarize.hpp"

#include "parallel.hpp"

#include <thread>

namespace shrink::detail {

std::vector<group_summary> summarize_groups(const raw_data_view& data, int threads)
{
  std::vector<moments> acc(data.groups);
  const std::size_t J = data.groups;
  const int workers = static_cast<int>(std::min<std::size_t>(std::max(thread_count(threads), 1), std::max<std::size_t>(J, 1)));

  auto work = [&](int t) {
    const auto lo = static_cast<std::int32_t>(J * static_cast<std::size_t>(t) / static_cast<std::size_t>(workers));
    const auto hi = static_cast<std::int32_t>(J * static_cast<std::size_t>(t + 1) / static_cast<std::size_t>(workers));
    const std::int32_t* ids = data.group_ids;
    const double* y = data.values;
    for (std::size_t i = 0; i < data.rows; ++i) {
      const std::int32_t g = ids[i];
      if (g >= lo && g < hi) acc[static_cast<std::size_t>(g)].add(y[i]);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < workers; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();

  std::vector<group_summary> out(J);
  for (std::size_t j = 0; j < J; ++j)
    out[j] = {static_cast<std::int64_t>(acc[j].weight), acc[j].mean, acc[j].m2};
  return out;
}

}  // namespace shrink::detail
