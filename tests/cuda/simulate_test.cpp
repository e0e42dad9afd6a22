// Simulation studies on the GPU against the CPU backend: both draw the same Philox variates, so
// their CSVs agree to 1e-9 relative; the GPU against itself across batch sizes (bitwise); and the
// oracle's closed form at a size only the GPU makes quick. Every test skips where no GPU is usable.

#include <shrink/backend.hpp>
#include <shrink/simulate.hpp>

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace shrink;

// The backends run the same double-precision formulas on the same Philox words; they differ only
// in std::exp/std::log inside the gamma draws (libdevice and glibc may round those an ulp apart)
// and in the order of the sums over groups. Those move a study's numbers by ~1e-14 relative;
// test::expect_close_csv holds them to the 1e-9. A discrete flip (an interval end or
// tau2_hat = 0 decided differently by an ulp) would show as a larger difference and fail loudly.

simulate_options base(backend b)
{
  simulate_options o;
  o.mu = -2.5;
  o.sigma = {1.0, 3.0};
  o.tau = {0.0, 0.7};
  o.replicates = 200;
  o.seed = 2024;
  o.requested_backend = b;
  return o;
}

TEST(SimulateCuda, MatchesCpuAcrossTeamShapesModesAndPriors)
{
  SHRINK_SKIP_WITHOUT_GPU();
  struct variant {
    std::vector<std::int64_t> groups;
    obs_range n;
    simulation_mode mode;
    prior_family prior;
  };
  // Group counts straddle every team size (1..32 lanes, the 256-thread block from 4096 groups).
  const variant variants[] = {
    {{2, 3, 4, 7, 31, 32, 33}, {8, 8}, simulation_mode::sufficient, prior_family::normal},
    {{127, 128, 129, 1025}, {2, 40}, simulation_mode::sufficient, prior_family::normal},
    {{4095, 4096, 5000}, {1, 1}, simulation_mode::sufficient, prior_family::student_t},
    {{5, 300}, {1, 9}, simulation_mode::raw, prior_family::normal},
    {{4100}, {3, 3}, simulation_mode::raw, prior_family::student_t},
    // Few replicates of many groups: the split path (chunks of 65536 groups, one block each).
    {{300000}, {2, 9}, simulation_mode::sufficient, prior_family::normal},
    {{270000}, {4, 4}, simulation_mode::sufficient, prior_family::student_t},
  };
  for (const variant& v : variants) {
    simulate_options o = base(backend::cpu);
    o.groups = v.groups;
    o.obs = {v.n};
    o.mode = v.mode;
    o.prior = v.prior;
    o.prior_df = 4;
    if (v.groups.front() >= 4000) o.replicates = 70;  // crosses a replicate-block boundary
    if (v.groups.front() >= 200000) o.sigma = {1.0};
    const std::string cpu = shrink::test::simulate_csv(simulate(o));
    o.requested_backend = backend::cuda;
    const simulate_result g = simulate(o);
    EXPECT_EQ(g.used, backend::cuda);
    shrink::test::expect_close_csv(cpu, shrink::test::simulate_csv(g), "J " + std::to_string(v.groups.front()) + " n " + to_string(v.n));
  }
}

TEST(SimulateCuda, BitwiseReproducibleAcrossBatchesAndRuns)
{
  SHRINK_SKIP_WITHOUT_GPU();
  for (std::int64_t J : {9, 6000, 300000}) {
    simulate_options o = base(backend::cuda);
    o.groups = {J};
    o.obs = {obs_range{2, 20}};
    o.replicates = J >= 200000 ? 150 : 300;  // few replicates of many groups: the split path fills the GPU
    const std::string ref = shrink::test::simulate_csv(simulate(o));
    for (std::uint64_t batch : {64, 128, 192, 0}) {
      o.batch_replicates = batch;
      EXPECT_EQ(shrink::test::simulate_csv(simulate(o)), ref) << "J " << J << " batch " << batch;
    }
  }
}

TEST(SimulateCuda, OracleMatchesClosedFormAtScale)
{
  SHRINK_SKIP_WITHOUT_GPU();
  simulate_options o = base(backend::cuda);
  o.groups = {100000};
  o.obs = {obs_range{5, 5}};
  o.sigma = {1.0};
  o.tau = {0.3};
  o.replicates = 400;
  const scenario_result s = simulate(o).scenarios.at(0);
  const auto& orc = s.estimators.at(static_cast<std::size_t>(estimator::oracle));
  ASSERT_TRUE(s.oracle_risk);
  EXPECT_NEAR(orc.mse, *s.oracle_risk, 3 * orc.mse_mcse);
  EXPECT_NEAR(*orc.coverage, 0.95, 3 * *orc.coverage_mcse);
  const auto& np = s.estimators.at(static_cast<std::size_t>(estimator::no_pool));
  EXPECT_NEAR(np.mse, 0.2, 3 * np.mse_mcse);
}

}  // namespace
