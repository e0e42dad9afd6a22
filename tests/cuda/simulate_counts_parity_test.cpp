// The count families' studies on the GPU against the CPU backend: the device draws with the CPU's
// SHRINK_HD samplers and the host evaluates both, so the CSVs must be bitwise equal. Skipped where
// no GPU is usable.

#include "test_support.hpp"

#include <shrink/simulate.hpp>

#include <gtest/gtest.h>

namespace {

TEST(SimulateCountsParity, GpuStudyIsTheCpuStudy)
{
  SHRINK_SKIP_WITHOUT_GPU();
  for (const shrink::count_family family : {shrink::count_family::binomial, shrink::count_family::poisson}) {
    shrink::simulate_options o;
    o.family = family;
    o.groups = {2, 31, 33, 1025};  // J = 1 is refused: the prior needs two groups
    o.obs = {shrink::obs_range{7, 7}, shrink::obs_range{1, 200}, shrink::obs_range{5000, 5000}};
    o.prior_mean = family == shrink::count_family::binomial ? 0.15 : 3.0;
    o.concentration = {0.5, 40};
    o.replicates = 130;
    o.seed = 99;
    o.requested_backend = shrink::backend::cpu;
    const auto cpu = shrink::simulate(o);
    o.requested_backend = shrink::backend::cuda;
    const auto gpu = shrink::simulate(o);
    EXPECT_EQ(gpu.used, shrink::backend::cuda);
    EXPECT_EQ(shrink::test::simulate_csv(gpu), shrink::test::simulate_csv(cpu)) << to_string(family);
  }
}

}  // namespace
