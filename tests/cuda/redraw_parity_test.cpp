// --redraw-obs and the t quantile of intervals on an estimated sigma on the GPU against the CPU:
// both evaluate src/common/simulate_formulas.hpp on the same Philox words (the redrawn n_j, the
// replicate's pooled chi-square and its t quantile included), so the CSVs agree to 1e-9 relative
// (see simulate_test.cpp for why that bound). Skips where no GPU is usable.

#include <shrink/backend.hpp>
#include <shrink/simulate.hpp>

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>

namespace {

using namespace shrink;

TEST(SimulateCudaRedraw, MatchesCpuForRedrawnDesignsAndSmallDegreesOfFreedom)
{
  SHRINK_SKIP_WITHOUT_GPU();
  struct variant {
    std::int64_t groups;
    obs_range n;
    bool redraw;
    simulation_mode mode;
    std::uint64_t replicates;
  };
  // Small teams, a whole-block team, the split path (few replicates of >= 2^18 groups); fixed
  // small-df designs (t quantiles from the host) and redrawn ones (from the device).
  const variant variants[] = {{2, {3, 3}, false, simulation_mode::sufficient, 500},
                              {3, {1, 6}, true, simulation_mode::sufficient, 500},
                              {9, {1, 7}, true, simulation_mode::raw, 300},
                              {5000, {2, 12}, true, simulation_mode::sufficient, 70},
                              {300000, {1, 4}, true, simulation_mode::sufficient, 3}};
  for (const variant& v : variants) {
    simulate_options o;
    o.groups = {v.groups};
    o.obs = {v.n};
    o.redraw_obs = v.redraw;
    o.mode = v.mode;
    o.sigma = {1.0};
    o.tau = {0.0, 0.7};
    o.replicates = v.replicates;
    o.seed = 77;
    o.requested_backend = backend::cpu;
    const std::string cpu = shrink::test::simulate_csv(simulate(o));
    o.requested_backend = backend::cuda;
    shrink::test::expect_close_csv(cpu, shrink::test::simulate_csv(simulate(o)), "J " + std::to_string(v.groups));
  }
}

}  // namespace
