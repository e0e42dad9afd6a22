// The logit-normal and log-normal priors on the GPU against the CPU: mu, tau2, the log-likelihood,
// the test and every per-group column bitwise equal (the same SHRINK_HD formulas, the same fixed
// reduction tree), J across the reduction's tile boundaries, groups all distinct or mostly shared,
// K = 1 and 10. Skipped where no GPU is usable.

#include "test_support.hpp"

#include <shrink/counts.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace shrink::test {
namespace {

TEST(GlmmParity, EveryOutputBitwise)
{
  SHRINK_SKIP_WITHOUT_GPU();
  for (count_family family : {count_family::binomial, count_family::poisson})
    for (std::size_t J : {2u, 31u, 257u, 1025u, 70000u})
      for (int max_size : {20, 100000})
        for (int K : {1, 10}) {
          std::mt19937_64 rng(J * 13 + static_cast<std::uint64_t>(max_size) + static_cast<std::uint64_t>(K));
          std::vector<double> counts, sizes;
          for (std::size_t j = 0; j < J; ++j) {
            const double eta = -2 + 0.8 * std::normal_distribution<double>()(rng);
            if (family == count_family::binomial) {
              const int n = 1 + static_cast<int>(rng() % static_cast<std::uint64_t>(max_size));
              sizes.push_back(n);
              counts.push_back(std::binomial_distribution<int>(n, 1 / (1 + std::exp(-eta)))(rng));
            } else {
              const double exposure = 0.1 + std::uniform_real_distribution<double>(0, max_size)(rng);
              sizes.push_back(exposure);
              counts.push_back(std::poisson_distribution<int>(exposure * std::exp(eta))(rng));
            }
          }
          counts[0] = 1;  // never all zero
          const count_data_view view{family, counts.data(), sizes.data(), J};
          count_options o;
          o.prior = count_prior::normal;
          o.quadrature_points = K;
          o.requested_backend = backend::cpu;
          const std::string what = to_string(family) + " J=" + std::to_string(J) + " sizes<=" + std::to_string(max_size) +
                                   " K=" + std::to_string(K);
          const count_fit_result cpu = fit(view, o);
          o.requested_backend = backend::cuda;
          const count_fit_result gpu = fit(view, o);
          EXPECT_EQ(gpu.used, backend::cuda) << what;
          EXPECT_EQ(cpu.mu, gpu.mu) << what;
          EXPECT_EQ(cpu.tau2, gpu.tau2) << what;
          EXPECT_EQ(cpu.log_likelihood, gpu.log_likelihood) << what;
          EXPECT_EQ(cpu.overdispersion_statistic, gpu.overdispersion_statistic) << what;
          EXPECT_EQ(cpu.iterations, gpu.iterations) << what;
          for (const auto& [name, c, g] :
               {std::tuple{"shrinkage", &cpu.shrinkage, &gpu.shrinkage}, std::tuple{"estimate", &cpu.estimate, &gpu.estimate},
                std::tuple{"sd", &cpu.sd, &gpu.sd}, std::tuple{"lower", &cpu.lower, &gpu.lower},
                std::tuple{"upper", &cpu.upper, &gpu.upper}, std::tuple{"mode", &cpu.mode, &gpu.mode},
                std::tuple{"mode_sd", &cpu.mode_sd, &gpu.mode_sd}}) {
            ASSERT_EQ(c->size(), g->size()) << what << " " << name;
            std::size_t differ = 0;
            for (std::size_t j = 0; j < c->size(); ++j) differ += (*c)[j] != (*g)[j] ? 1 : 0;
            EXPECT_EQ(differ, 0u) << what << ": " << name << " differs in " << differ << " groups";
          }
        }
}

}  // namespace
}  // namespace shrink::test
