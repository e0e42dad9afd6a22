// Studies in blocks of replicates on the GPU: ranges run by the CUDA backend (its launches start at
// the range, its block moments merge into the same fixed-shape tree on the host) merge into the
// single GPU run's CSV byte for byte; count-family parts from the two backends mix (their draws are
// the same bits). Skipped where no GPU is usable.

#include "test_support.hpp"

#include <shrink/simulate.hpp>

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace {

using namespace shrink;

/// The study of `o` run in the given ranges, the i-th on backends[i % 2], merged.
std::string csv_in_parts(simulate_options o, const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges,
                         const backend (&backends)[2])
{
  std::vector<simulate_partial> parts;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    o.requested_backend = backends[i % 2];
    parts.push_back(simulate_partial_from_json(to_json(simulate_range(o, ranges[i].first, ranges[i].second))));
  }
  return test::simulate_csv(finish_partial(merge_partials(parts)));
}

TEST(SimulateBlocksGpu, GpuPartsMergeToTheGpuRun)
{
  SHRINK_SKIP_WITHOUT_GPU();
  simulate_options o;
  o.groups = {31, 1025};
  o.obs = {obs_range{4, 4}, obs_range{1, 30}};
  o.tau = {0.0, 0.5};
  o.replicates = 300;
  o.seed = 12;
  o.requested_backend = backend::cuda;
  const backend gpu[2] = {backend::cuda, backend::cuda};
  for (simulation_mode mode : {simulation_mode::sufficient, simulation_mode::raw}) {
    o.mode = mode;
    const std::string single = test::simulate_csv(simulate(o));
    EXPECT_EQ(csv_in_parts(o, {{0, 64}, {64, 192}, {256, 44}}, gpu), single);
    EXPECT_EQ(csv_in_parts(o, {{0, 128}, {128, 128}, {256, 44}}, gpu), single);
  }
}

TEST(SimulateBlocksGpu, CountPartsFromBothBackendsMerge)
{
  SHRINK_SKIP_WITHOUT_GPU();
  simulate_options o;
  o.family = count_family::binomial;
  o.groups = {33};
  o.obs = {obs_range{1, 200}};
  o.prior_mean = 0.2;
  o.concentration = {3.0};
  o.replicates = 200;
  o.seed = 4;
  o.requested_backend = backend::cpu;
  const std::string single = test::simulate_csv(simulate(o));
  const backend both[2] = {backend::cuda, backend::cpu};
  EXPECT_EQ(csv_in_parts(o, {{0, 64}, {64, 64}, {128, 72}}, both), single);
}

}  // namespace
