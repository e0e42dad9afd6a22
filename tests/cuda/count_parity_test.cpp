// The count families on the GPU against the CPU: every hyperparameter, statistic and per-group
// column bitwise equal (the same SHRINK_HD formulas, the same fixed reduction tree), for both
// families, every method, J across the reduction's tile boundaries, groups all distinct or mostly
// shared. Skipped where no GPU is usable.

#include "test_support.hpp"

#include <shrink/counts.hpp>
#include <shrink/error.hpp>

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace shrink::test {
namespace {

struct count_data {
  std::vector<double> counts, sizes;
};

/// J groups: binomial trials on 1..max_size (small: many groups share their counts; large: all
/// distinct), rates from a beta; poisson exposures from a continuous range (all distinct).
count_data make_counts(count_family family, std::size_t J, int max_size, std::uint64_t seed)
{
  std::mt19937_64 rng(seed);
  count_data d;
  for (std::size_t j = 0; j < J; ++j) {
    const double theta = std::gamma_distribution<double>(2.0, 1.0)(rng) / 14.0;
    if (family == count_family::binomial) {
      const int n = 1 + static_cast<int>(rng() % static_cast<std::uint64_t>(max_size));
      d.sizes.push_back(n);
      d.counts.push_back(std::binomial_distribution<int>(n, std::min(theta, 0.99))(rng));
    } else {
      const double exposure = 0.1 + std::uniform_real_distribution<double>(0, max_size)(rng);
      d.sizes.push_back(exposure);
      d.counts.push_back(std::poisson_distribution<int>(theta * exposure)(rng));
    }
  }
  return d;
}

void expect_same_bits(const count_fit_result& cpu, const count_fit_result& gpu, const std::string& what)
{
  EXPECT_EQ(gpu.used, backend::cuda) << what;
  EXPECT_EQ(cpu.a, gpu.a) << what;
  EXPECT_EQ(cpu.b, gpu.b) << what;
  EXPECT_EQ(cpu.mean, gpu.mean) << what;
  EXPECT_EQ(cpu.concentration, gpu.concentration) << what;
  EXPECT_EQ(cpu.log_likelihood, gpu.log_likelihood) << what;
  EXPECT_EQ(cpu.overdispersion_statistic, gpu.overdispersion_statistic) << what;
  EXPECT_EQ(cpu.iterations, gpu.iterations) << what;
  EXPECT_EQ(cpu.boundary, gpu.boundary) << what;
  EXPECT_EQ(cpu.mean_se.has_value(), gpu.mean_se.has_value()) << what;
  if (cpu.mean_se && gpu.mean_se) EXPECT_EQ(*cpu.mean_se, *gpu.mean_se) << what;
  if (cpu.mean_ci && gpu.mean_ci) {
    EXPECT_EQ(cpu.mean_ci->lower, gpu.mean_ci->lower) << what;
    EXPECT_EQ(cpu.mean_ci->upper, gpu.mean_ci->upper) << what;
    EXPECT_EQ(cpu.concentration_ci->lower, gpu.concentration_ci->lower) << what;
    EXPECT_EQ(cpu.concentration_ci->upper, gpu.concentration_ci->upper) << what;
  }
  for (const auto& [name, c, g] : {std::tuple{"shrinkage", &cpu.shrinkage, &gpu.shrinkage},
                                   std::tuple{"estimate", &cpu.estimate, &gpu.estimate}, std::tuple{"sd", &cpu.sd, &gpu.sd},
                                   std::tuple{"lower", &cpu.lower, &gpu.lower}, std::tuple{"upper", &cpu.upper, &gpu.upper}}) {
    ASSERT_EQ(c->size(), g->size()) << what << " " << name;
    std::size_t differ = 0;
    for (std::size_t j = 0; j < c->size(); ++j) differ += (*c)[j] != (*g)[j] ? 1 : 0;
    EXPECT_EQ(differ, 0u) << what << ": " << name << " differs in " << differ << " groups";
  }
}

TEST(CountParity, EveryOutputBitwiseAcrossFamiliesMethodsAndSizes)
{
  SHRINK_SKIP_WITHOUT_GPU();
  for (count_family family : {count_family::binomial, count_family::poisson})
    for (std::size_t J : {2u, 31u, 256u, 257u, 1025u, 70000u, 300000u})
      for (int max_size : {20, 100000}) {
        const count_data d = make_counts(family, J, max_size, J * 7 + static_cast<std::uint64_t>(max_size));
        const count_data_view view{family, d.counts.data(), d.sizes.data(), J};
        for (count_method method : {count_method::ml, count_method::mom, count_method::fixed}) {
          count_options o;
          o.method = method;
          o.a = 2.0;
          o.b = family == count_family::binomial ? 14.0 : 2.0;
          o.requested_backend = backend::cpu;
          const std::string what = to_string(family) + " J=" + std::to_string(J) + " sizes<=" + std::to_string(max_size) +
                                   " " + to_string(method);
          count_fit_result cpu, gpu;
          try {
            cpu = fit(view, o);
          } catch (const shrink::error&) {  // e.g. every count 0 in a tiny draw: the GPU must say the same
            o.requested_backend = backend::cuda;
            EXPECT_THROW(fit(view, o), shrink::error) << what;
            continue;
          }
          o.requested_backend = backend::cuda;
          gpu = fit(view, o);
          expect_same_bits(cpu, gpu, what);
        }
      }
}

TEST(CountParity, BayesGridAndMixturesBitwise)
{
  // --method bayes: the grid's marginal sums on the GPU (count_device::marginal_values), the same
  // fixed tree over the same terms as the CPU's, so every summary and column is the CPU's.
  SHRINK_SKIP_WITHOUT_GPU();
  for (count_family family : {count_family::binomial, count_family::poisson})
    for (std::size_t J : {31u, 257u, 70000u})
      for (int max_size : {20, 100000}) {
        if (J == 70000u && max_size == 100000) continue;  // all distinct: minutes of mixtures on the CPU
        const count_data d = make_counts(family, J, max_size, J * 11 + static_cast<std::uint64_t>(max_size));
        const count_data_view view{family, d.counts.data(), d.sizes.data(), J};
        count_options o;
        o.method = count_method::bayes;
        o.requested_backend = backend::cpu;
        const std::string what = to_string(family) + " J=" + std::to_string(J) + " sizes<=" + std::to_string(max_size) + " bayes";
        const count_fit_result cpu = fit(view, o);
        o.requested_backend = backend::cuda;
        const count_fit_result gpu = fit(view, o);
        expect_same_bits(cpu, gpu, what);
        ASSERT_TRUE(cpu.bayes && gpu.bayes) << what;
        for (const auto& [c, g] : {std::pair{&cpu.bayes->a, &gpu.bayes->a}, {&cpu.bayes->b, &gpu.bayes->b},
                                   {&cpu.bayes->mean, &gpu.bayes->mean}, {&cpu.bayes->log_concentration, &gpu.bayes->log_concentration}}) {
          EXPECT_EQ(c->median, g->median) << what;
          EXPECT_EQ(c->lower, g->lower) << what;
          EXPECT_EQ(c->upper, g->upper) << what;
          EXPECT_EQ(c->sd, g->sd) << what;
        }
        EXPECT_EQ(cpu.bayes->grid_points, gpu.bayes->grid_points) << what;
        EXPECT_EQ(cpu.bayes->neglected_mass, gpu.bayes->neglected_mass) << what;
      }
}

}  // namespace
}  // namespace shrink::test
