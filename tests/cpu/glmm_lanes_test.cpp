// The normal-prior posteriors' SIMD kernels (src/cpu/glmm_lanes.hpp) against the scalar SHRINK_HD
// formulas the GPU runs: at every level this machine supports, the density, theta and slope bit for
// bit at any points (those the lanes leave, out of their exponential's range, by the scalar formula),
// and so glmm_posterior_of's mean, sd and interval bit for bit; the AGHQ terms and the modes they
// remember, sum after sum, bit for bit.

#include "api/glmm_fit.hpp"
#include "cpu/glmm_lanes.hpp"
#include "cpu/simulate_lanes.hpp"
#include "simd_levels.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <iterator>
#include <random>
#include <algorithm>
#include <vector>

namespace {

using namespace shrink::detail;
namespace sim = shrink::detail::sim;

using shrink::test::bits;
using shrink::test::forced_level;
using shrink::test::simd_levels;

/// The density of group g at (mu, tau), as glmm_posterior_of builds it.
template <class Likelihood>
glmm_detail::posterior_density<Likelihood> density_of(const typename Likelihood::group& g, double mu, double tau)
{
  const mode_terms m = conditional_mode_terms<Likelihood>(g, mu, tau);
  return {g, mu, tau, m.u, 1 / std::sqrt(1 - tau * tau * m.at.f2), m.at.f0 - 0.5 * m.u * m.u};
}

/// Every batch size 1..10 at points spread over [-spread, spread]; returns the points left to the scalar formula.
template <class Likelihood>
int check_points(const glmm_detail::posterior_density<Likelihood>& r, double spread, std::mt19937_64& rng, const char* level)
{
  const glmm_lanes::batch<Likelihood> lanes;
  const glmm_lanes::density_kernel kernel = Likelihood::bounded_mean ? lanes.k->logit : lanes.k->log;
  std::uniform_real_distribution<double> point(-spread, spread);
  int left = 0;
  for (int n = 1; n <= 10; ++n) {
    double z[10], value[10], theta[10], slope[10], v[10], t[10], s[10];
    for (int k = 0; k < n; ++k) z[k] = point(rng);
    left += __builtin_popcount(kernel({r.g.count, r.g.size, r.mu, r.tau, r.u0, r.s, r.h0}, z, n, v, t, s));
    lanes(r, z, n, value, theta, slope);
    for (int k = 0; k < n; ++k) {
      double theta_ref = 0, slope_ref = 0;
      const double value_ref = r(z[k], &theta_ref, &slope_ref);
      EXPECT_SAME_BITS(value[k], value_ref, level << " r at z = " << z[k] << " (y " << r.g.count << ", n " << r.g.size << ")");
      EXPECT_SAME_BITS(theta[k], theta_ref, level << " theta at z = " << z[k]);
      EXPECT_SAME_BITS(slope[k], slope_ref, level << " slope at z = " << z[k]);
    }
  }
  return left;
}

TEST(GlmmLanes, DensityBitForBitAtEveryLevel)
{
  const forced_level restore;
  for (sim::simd_level level : simd_levels) {
    if (!sim::simd_supported(level)) {
      std::cout << "[ SKIPPED  ] " << sim::simd_name(level) << ": not on this machine\n";
      continue;
    }
    sim::force_simd_level(level);
    ASSERT_NE(glmm_lanes::kernels_in_use(), nullptr);
    std::mt19937_64 rng(11);
    int left = 0;
    for (double n : {1.0, 5.0, 60.0, 2000.0, 1e6})
      for (double share : {0.0, 0.013, 0.5, 0.97, 1.0})
        for (double mu : {-6.0, -2.0, 0.0, 1.5, 30.0})
          for (double tau : {0.05, 0.5, 2.5}) {
            const double y = std::floor(share * n);
            const auto r = density_of<logit_normal>({y, n}, mu, tau);
            // Near the mode; far out (r below 1e-300, then past the lanes' exponential: the scalar formula).
            left += check_points(r, 6.0, rng, sim::simd_name(level));
            left += check_points(r, 2000.0, rng, sim::simd_name(level));
            const auto p = density_of<log_normal>({y, n * 0.01 + 0.5}, mu * 0.3, tau);
            left += check_points(p, 6.0, rng, sim::simd_name(level));
            left += check_points(p, 2000.0, rng, sim::simd_name(level));
          }
    EXPECT_GT(left, 1000) << "the scalar fallback was not exercised";
  }
}

TEST(GlmmLanes, PosteriorsBitForBitAtEveryLevel)
{
  const forced_level restore;
  for (sim::simd_level level : simd_levels) {
    if (!sim::simd_supported(level)) continue;
    sim::force_simd_level(level);
    const glmm_lanes::batch<logit_normal> lanes;
    const glmm_lanes::batch<log_normal> lanes_log;
    const auto same = [&](const glmm_posterior& a, const glmm_posterior& b, const char* what, double y, double n) {
      EXPECT_SAME_BITS(a.theta.mean, b.theta.mean, sim::simd_name(level) << " " << what << " mean, y " << y << " n " << n);
      EXPECT_SAME_BITS(a.theta.sd, b.theta.sd, sim::simd_name(level) << " " << what << " sd, y " << y << " n " << n);
      EXPECT_SAME_BITS(a.theta.lower, b.theta.lower, sim::simd_name(level) << " " << what << " lower, y " << y << " n " << n);
      EXPECT_SAME_BITS(a.theta.upper, b.theta.upper, sim::simd_name(level) << " " << what << " upper, y " << y << " n " << n);
    };
    for (double n : {2.0, 7.0, 40.0, 300.0, 5e4})
      for (double share : {0.0, 0.02, 0.3, 0.9, 1.0})
        for (double mu : {-4.0, -1.0, 0.5, 3.0})
          for (double tau : {0.1, 0.7, 3.0}) {
            const double y = std::floor(share * n);
            same(glmm_posterior_of<logit_normal>({y, n}, mu, tau, 0.025, lanes),
                 glmm_posterior_of<logit_normal>({y, n}, mu, tau, 0.025), "binomial", y, n);
            same(glmm_posterior_of<log_normal>({y, n * 0.1}, mu, tau, 0.05, lanes_log),
                 glmm_posterior_of<log_normal>({y, n * 0.1}, mu, tau, 0.05), "poisson", y, n);
          }
  }
}

/// The AGHQ kernel against aghq_term along a path of (mu, tau) like Newton's (warm starts, moves
/// of a standard error, then a jump beyond 1/4: fresh starts), entries weighted or not.
template <class Likelihood>
void check_aghq(const std::vector<typename Likelihood::group>& groups, const std::vector<double>& weights, int points,
                const char* level, int& left)
{
  const hermite_nodes nodes = gauss_hermite(points);
  const glmm_lanes::kernels* k = glmm_lanes::kernels_in_use();
  const glmm_lanes::aghq_kernel kernel = Likelihood::bounded_mean ? k->aghq_logit : k->aghq_log;
  const std::size_t count = groups.size();
  std::vector<mode_memory> lanes_memory(count), scalar_memory(count);
  const double path[][2] = {{-1.9, 0.6}, {-1.8, 0.65}, {-1.81, 0.64}, {-1.5, 0.2}, {-1.52, 0.21}, {2.0, 3.0}, {2.1, 2.9}};
  double last_mu = 0, last_tau = 0;
  for (std::size_t step = 0; step < std::size(path); ++step) {
    const double mu = path[step][0], tau = path[step][1];
    const bool warm = step > 0;
    const aghq_term<Likelihood> term{groups.data(), weights.empty() ? nullptr : weights.data(), mu, tau, nodes.rule(),
                                     scalar_memory.data(), warm, mu - last_mu, tau - last_tau};
    aghq_term<Likelihood> lane_term = term;
    lane_term.memory = lanes_memory.data();
    const glmm_lanes::aghq_args a{reinterpret_cast<const double*>(groups.data()), term.weights, mu, tau, nodes.z.data(),
                                  nodes.w.data(), points, lanes_memory.data(), warm, term.d_mu, term.d_tau};
    for (std::size_t i = 0; i < count; i += 8) {
      const int n = static_cast<int>(std::min<std::size_t>(8, count - i));
      marginal_sums out[8];
      unsigned lanes_left = kernel(a, i, n, out);
      left += __builtin_popcount(lanes_left);
      for (; lanes_left != 0; lanes_left &= lanes_left - 1) out[__builtin_ctz(lanes_left)] = lane_term(i + __builtin_ctz(lanes_left));
      for (int j = 0; j < n; ++j) {
        const marginal_sums ref = term(i + j);
        const auto& g = groups[i + j];
        const double got[6] = {out[j].value, out[j].d_a, out[j].d_b, out[j].d_aa, out[j].d_ab, out[j].d_bb};
        const double want[6] = {ref.value, ref.d_a, ref.d_b, ref.d_aa, ref.d_ab, ref.d_bb};
        for (int f = 0; f < 6; ++f)
          EXPECT_SAME_BITS(got[f], want[f], level << " K " << points << " field " << f << " at (" << mu << ", " << tau
                                                  << "), y " << g.count << " n " << g.size);
        EXPECT_EQ(std::memcmp(&lanes_memory[i + j], &scalar_memory[i + j], sizeof(mode_memory)), 0)
          << level << " memory, y " << g.count << " n " << g.size;
      }
    }
    last_mu = mu;
    last_tau = tau;
  }
}

TEST(GlmmLanes, AghqTermsBitForBitAtEveryLevel)
{
  const forced_level restore;
  std::vector<logit_normal::group> binomial;
  std::vector<log_normal::group> poisson;
  for (double n : {1.0, 2.0, 5.0, 17.0, 200.0, 3000.0, 1e6})
    for (double share : {0.0, 0.01, 0.12, 0.5, 0.93, 1.0}) {
      binomial.push_back({std::floor(share * n), n});
      poisson.push_back({std::floor(share * n), 0.05 * n + 0.01});
    }
  // Far beyond the lanes' exponential: left to the scalar formula.
  binomial.push_back({3, 1e300});
  poisson.push_back({0, 1e-300});
  std::vector<double> weights(binomial.size());
  for (std::size_t i = 0; i < weights.size(); ++i) weights[i] = i % 3 == 0 ? 1.0 : 1.0 + i;
  for (sim::simd_level level : simd_levels) {
    if (!sim::simd_supported(level)) continue;
    sim::force_simd_level(level);
    int left = 0;
    for (int points : {1, 4, 9}) {
      check_aghq<logit_normal>(binomial, {}, points, sim::simd_name(level), left);
      check_aghq<logit_normal>(binomial, weights, points, sim::simd_name(level), left);
      check_aghq<log_normal>(poisson, weights, points, sim::simd_name(level), left);
    }
    EXPECT_GT(left, 0) << "the scalar fallback was not exercised";
  }
}

}  // namespace
