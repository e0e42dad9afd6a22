// `shrink bench`'s tau stage (src/cuda/bench.hpp, plain C++) against fit(): the same HE estimate,
// mu and interval quantile, and the same error when there is no within-group variance.

#include "api/group_engine.hpp"
#include "cuda/bench.hpp"

#include <shrink/error.hpp>
#include <shrink/fit.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using namespace shrink;

TEST(BenchTauStage, MatchesTheMomentFit)
{
  // Four groups of unequal size with clear heterogeneity.
  const std::vector<std::int32_t> g{0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3};
  const std::vector<double> x{1.0, 1.4, 0.8, 3.1, 2.7, -0.5, 0.1, -0.2, 0.3, 2.0, 2.6};
  const raw_data_view d{g.data(), x.data(), g.size(), 4, 0.0};
  fit_options o;
  o.method = tau_method::mom;
  o.requested_backend = backend::cpu;
  const fit_result r = fit(d, o);
  ASSERT_GT(r.tau2, 0);
  auto engine = detail::make_cpu_engine(d, 1);
  const detail::posterior_params p = detail::tau_stage(*engine);
  EXPECT_NEAR(p.tau2, r.tau2, 1e-14 * r.tau2);
  EXPECT_NEAR(p.mu, r.mu, 1e-14);
  EXPECT_NEAR(p.z, 1.959963984540054, 1e-15);  // the standard normal 0.975 quantile
}

TEST(BenchTauStage, NoWithinGroupVarianceIsTheFitsError)
{
  // One observation per group: fit() refuses without --sigma; so must the bench (it substituted
  // sigma2 = 1 before).
  const std::vector<std::int32_t> g{0, 1, 2};
  const std::vector<double> x{1.0, 2.0, 4.0};
  const raw_data_view d{g.data(), x.data(), g.size(), 3, 0.0};
  fit_options o;
  o.requested_backend = backend::cpu;
  std::string fit_message, bench_message;
  try {
    (void)fit(d, o);
  } catch (const error& e) {
    fit_message = e.what();
  }
  auto engine = detail::make_cpu_engine(d, 1);
  try {
    (void)detail::tau_stage(*engine);
  } catch (const error& e) {
    bench_message = e.what();
  }
  ASSERT_FALSE(fit_message.empty());
  EXPECT_EQ(bench_message, fit_message);
}

}  // namespace
