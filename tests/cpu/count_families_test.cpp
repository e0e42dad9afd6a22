// The count families' formulas (src/common/families): rising-factorial differences against sums of
// logs, each marginal likelihood against its pmf summed over y, gradients and Hessians and the
// working-parameter maps against finite differences, posteriors against closed forms, and BDA3's rat
// tumours (section 5.1).

#include "common/families/beta_binomial.hpp"
#include "common/families/gamma_poisson.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <array>
#include <fstream>
#include <string>
#include <vector>

namespace shrink::detail {
namespace {

TEST(BetaBinomial, RisingDifferencesAgainstSumsOfLogs)
{
  // Every branch: small counts (products), a >= 10 (Stirling differences), a < 10 with many trials,
  // against log Gamma(a + k) - log Gamma(a) = sum_{i<k} log(a + i) in long double.
  for (double a : {1e-3, 0.37, 1.0, 2.5, 9.99, 10.0, 57.3, 1e4, 3e9})
    for (double k : {0.0, 1.0, 3.0, 16.0, 17.0, 250.0, 1e5}) {
      long double want = 0;
      for (double i = 0; i < k; ++i) want += std::log(static_cast<long double>(a) + i);
      EXPECT_NEAR(log_rising(a, k), static_cast<double>(want), 1e-14 * std::max(1.0L, std::abs(want)) + 1e-15)
        << "a=" << a << " k=" << k;
    }
}

TEST(BetaBinomial, DigammaAndTrigammaDifferencesAgainstTheirSums)
{
  // psi(a + k) - psi(a) = sum 1/(a + i), psi'(a + k) - psi'(a) = -sum 1/(a + i)^2 (summed in long double).
  for (double a : {0.2, 1.5, 12.0, 3e3})
    for (double k : {5.0, 16.0, 17.0, 400.0}) {
      long double s1 = 0, s2 = 0;
      for (double i = 0; i < k; ++i) {
        s1 += 1.0L / (a + i);
        s2 += 1.0L / ((a + i) * (a + i));
      }
      EXPECT_NEAR(digamma_rising(a, k), static_cast<double>(s1), 1e-14 * static_cast<double>(s1)) << a << " " << k;
      EXPECT_NEAR(trigamma_rising(a, k), -static_cast<double>(s2), 1e-14 * static_cast<double>(s2)) << a << " " << k;
    }
}

TEST(BetaBinomial, MarginalIsAProbabilityMassFunction)
{
  // exp(marginal + log C(n, y)) is the beta-binomial pmf: it sums to 1 over y, and its mean is n m.
  for (const auto& [alpha, beta] : std::vector<std::pair<double, double>>{{1.4, 8.6}, {0.3, 0.7}, {25, 40}}) {
    const double n = 30;
    double total = 0, mean = 0;
    for (double y = 0; y <= n; ++y) {
      const beta_binomial::group g{y, n};
      const double p = std::exp(beta_binomial::marginal(g, alpha, beta).value + beta_binomial::log_constant(g));
      total += p;
      mean += y * p;
    }
    EXPECT_NEAR(total, 1.0, 1e-13);
    EXPECT_NEAR(mean, n * alpha / (alpha + beta), 1e-11);
  }
  // y = 0 of n: B(alpha, beta + n) / B(alpha, beta) = prod_{i<n} (beta + i) / (nu + i), by hand.
  const double alpha = 2.0, beta = 3.0;
  long double by_hand = 1;
  for (int i = 0; i < 5; ++i) by_hand *= (beta + i) / (alpha + beta + i);
  EXPECT_NEAR(std::exp(beta_binomial::marginal({0, 5}, alpha, beta).value), static_cast<double>(by_hand), 1e-15);
}

TEST(BetaBinomial, PosteriorClosedForms)
{
  const count_posterior p = beta_binomial::posterior_of({4, 14}, 1.4, 8.6, 0.025);
  EXPECT_DOUBLE_EQ(p.mean, 5.4 / 24);
  EXPECT_DOUBLE_EQ(p.sd, std::sqrt(5.4 * 18.6 / (24.0 * 24.0 * 25.0)));
  EXPECT_DOUBLE_EQ(p.shrinkage, 10.0 / 24);
  // The interval's ends are the Beta(5.4, 18.6) quantiles: I at them gives back the tails.
  EXPECT_NEAR(incomplete_beta(5.4, 18.6, p.lower), 0.025, 1e-14);
  EXPECT_NEAR(incomplete_beta(5.4, 18.6, p.upper, true), 0.025, 1e-14);
  EXPECT_LT(p.lower, p.mean);
  EXPECT_GT(p.upper, p.mean);
}

TEST(BetaBinomial, RatTumoursMatchBda3)
{
  // BDA3 section 5.1: the 70 historical rates have mean 0.136 and sd 0.103, which moment-match
  // Beta(1.4, 8.6); the current experiment (4 of 14) then has posterior mean 0.223 and sd 0.083.
  std::vector<beta_binomial::group> groups;
  for (const auto& [y, n] : test::rat_tumours()) groups.push_back({y, n});
  ASSERT_EQ(groups.size(), 71u);
  double mean = 0, m2 = 0;
  for (int j = 0; j < 70; ++j) {
    const double rate = groups[j].count / groups[j].size, delta = rate - mean;
    mean += delta / (j + 1);
    m2 += delta * (rate - mean);
  }
  const double sd = std::sqrt(m2 / 69);
  EXPECT_NEAR(mean, 0.136, 0.0005);
  EXPECT_NEAR(sd, 0.103, 0.0005);
  const double nu = beta_binomial::concentration_from_moments(mean, sd * sd, 0);
  const parameter_map h = beta_binomial::natural(beta_binomial::link(mean), std::log(nu));
  EXPECT_NEAR(h.a, 1.4, 0.05);
  EXPECT_NEAR(h.b, 8.6, 0.15);
  const count_posterior p = beta_binomial::posterior_of(groups[70], h.a, h.b, 0.025);
  EXPECT_NEAR(p.mean, 0.223, 0.0005);
  EXPECT_NEAR(p.sd, 0.083, 0.0005);
}

TEST(GammaPoisson, MarginalIsTheNegativeBinomial)
{
  // exp(marginal + log_constant) is the negative binomial pmf of y: it sums to 1, its mean is m E and
  // its variance m E + (m E)^2 / shape.
  for (const auto& [shape, rate, exposure] : std::vector<std::array<double, 3>>{{2.5, 0.5, 1.0}, {0.4, 0.1, 3.0}, {30, 6, 0.7}}) {
    double total = 0, mean = 0, second = 0;
    for (double y = 0; y < 2000; ++y) {
      const gamma_poisson::group g{y, exposure};
      const double p = std::exp(gamma_poisson::marginal(g, shape, rate).value + gamma_poisson::log_constant(g));
      total += p;
      mean += y * p;
      second += y * y * p;
    }
    const double mu = shape / rate * exposure;
    EXPECT_NEAR(total, 1.0, 1e-12);
    EXPECT_NEAR(mean, mu, 1e-10 * mu);
    EXPECT_NEAR(second - mean * mean, mu + mu * mu / shape, 1e-9 * (mu + mu * mu / shape));
  }
}

template <class Family>
void expect_derivatives_match_finite_differences(const typename Family::group& g, double a, double b)
{
  const double h = 1e-5;
  const auto at = [&](double x, double y) { return Family::marginal(g, x, y); };
  const marginal_sums m = at(a, b);
  const double d_a = (at(a + h, b).value - at(a - h, b).value) / (2 * h);
  const double d_b = (at(a, b + h).value - at(a, b - h).value) / (2 * h);
  EXPECT_NEAR(m.d_a, d_a, 2e-7 * (1 + std::abs(d_a)));
  EXPECT_NEAR(m.d_b, d_b, 2e-7 * (1 + std::abs(d_b)));
  const double d_aa = (at(a + h, b).d_a - at(a - h, b).d_a) / (2 * h);
  const double d_ab = (at(a, b + h).d_a - at(a, b - h).d_a) / (2 * h);
  const double d_bb = (at(a, b + h).d_b - at(a, b - h).d_b) / (2 * h);
  EXPECT_NEAR(m.d_aa, d_aa, 1e-7 * (1 + std::abs(d_aa)));
  EXPECT_NEAR(m.d_ab, d_ab, 1e-7 * (1 + std::abs(d_ab)));
  EXPECT_NEAR(m.d_bb, d_bb, 1e-7 * (1 + std::abs(d_bb)));
}

TEST(CountFamilies, GradientsAndHessiansAgainstFiniteDifferences)
{
  // Central differences carry ~eps |value| / h ~ 1e-8 of rounding at h = 1e-5 (values of ~500).
  for (const beta_binomial::group g : {beta_binomial::group{4, 14}, beta_binomial::group{0, 20}, beta_binomial::group{150, 400}})
    expect_derivatives_match_finite_differences<beta_binomial>(g, 1.7, 9.2);
  for (const gamma_poisson::group g : {gamma_poisson::group{0, 1}, gamma_poisson::group{7, 2.5}, gamma_poisson::group{300, 40}})
    expect_derivatives_match_finite_differences<gamma_poisson>(g, 3.2, 0.8);
}

/// The working-parameter map's derivatives against finite differences of the map itself, and the
/// chain rule's gradient against finite differences of the likelihood in (u, v).
template <class Family>
void expect_map_matches_finite_differences(const typename Family::group& g, double u, double v)
{
  const double h = 1e-5;
  const parameter_map p = Family::natural(u, v);
  const parameter_map pu = Family::natural(u + h, v), mu = Family::natural(u - h, v);
  const parameter_map pv = Family::natural(u, v + h), mv = Family::natural(u, v - h);
  EXPECT_NEAR(p.a_u, (pu.a - mu.a) / (2 * h), 1e-8 * (1 + std::abs(p.a)));
  EXPECT_NEAR(p.b_u, (pu.b - mu.b) / (2 * h), 1e-8 * (1 + std::abs(p.b)));
  EXPECT_NEAR(p.a_v, (pv.a - mv.a) / (2 * h), 1e-8 * (1 + std::abs(p.a)));
  EXPECT_NEAR(p.b_v, (pv.b - mv.b) / (2 * h), 1e-8 * (1 + std::abs(p.b)));
  EXPECT_NEAR(p.a_uu, (pu.a_u - mu.a_u) / (2 * h), 1e-7 * (1 + std::abs(p.a)));
  EXPECT_NEAR(p.b_uu, (pu.b_u - mu.b_u) / (2 * h), 1e-7 * (1 + std::abs(p.b)));
  EXPECT_NEAR(p.a_uv, (pv.a_u - mv.a_u) / (2 * h), 1e-7 * (1 + std::abs(p.a)));
  EXPECT_NEAR(p.b_uv, (pv.b_u - mv.b_u) / (2 * h), 1e-7 * (1 + std::abs(p.b)));
  EXPECT_NEAR(p.a_vv, (pv.a_v - mv.a_v) / (2 * h), 1e-7 * (1 + std::abs(p.a)));
  EXPECT_NEAR(p.b_vv, (pv.b_v - mv.b_v) / (2 * h), 1e-7 * (1 + std::abs(p.b)));
  const auto value = [&](double uu, double vv) {
    const parameter_map q = Family::natural(uu, vv);
    return Family::marginal(g, q.a, q.b).value;
  };
  const working_terms w = to_working(Family::marginal(g, p.a, p.b), p);
  EXPECT_NEAR(w.g_u, (value(u + h, v) - value(u - h, v)) / (2 * h), 1e-7 * (1 + std::abs(w.g_u)));
  EXPECT_NEAR(w.g_v, (value(u, v + h) - value(u, v - h)) / (2 * h), 1e-7 * (1 + std::abs(w.g_v)));
  const auto gradient = [&](double uu, double vv) {
    const parameter_map q = Family::natural(uu, vv);
    return to_working(Family::marginal(g, q.a, q.b), q);
  };
  EXPECT_NEAR(w.h_uu, (gradient(u + h, v).g_u - gradient(u - h, v).g_u) / (2 * h), 1e-6 * (1 + std::abs(w.h_uu)));
  EXPECT_NEAR(w.h_uv, (gradient(u, v + h).g_u - gradient(u, v - h).g_u) / (2 * h), 1e-6 * (1 + std::abs(w.h_uv)));
  EXPECT_NEAR(w.h_vv, (gradient(u, v + h).g_v - gradient(u, v - h).g_v) / (2 * h), 1e-6 * (1 + std::abs(w.h_vv)));
}

TEST(CountFamilies, WorkingParametersAndChainRule)
{
  expect_map_matches_finite_differences<beta_binomial>({4, 14}, -1.3, 2.2);
  expect_map_matches_finite_differences<beta_binomial>({150, 400}, 0.4, 5.0);
  expect_map_matches_finite_differences<gamma_poisson>({7, 2.5}, 0.9, 1.1);
  expect_map_matches_finite_differences<gamma_poisson>({0, 0.3}, -2.0, -0.5);
  // The maps reproduce their definitions: beta-binomial m = a / (a + b), nu = a + b; gamma m = a / b.
  const parameter_map p = beta_binomial::natural(beta_binomial::link(0.2), std::log(10.0));
  EXPECT_NEAR(p.a, 2.0, 1e-14);
  EXPECT_NEAR(p.b, 8.0, 1e-14);
  const parameter_map q = gamma_poisson::natural(gamma_poisson::link(3.0), std::log(2.0));
  EXPECT_NEAR(q.a, 2.0, 1e-14);
  EXPECT_NEAR(q.b, 2.0 / 3.0, 1e-15);
}

TEST(GammaPoisson, PosteriorClosedForms)
{
  // 7 counts over exposure 2.5 under Gamma(3, 1.5): posterior Gamma(10, 4).
  const count_posterior p = gamma_poisson::posterior_of({7, 2.5}, 3, 1.5, 0.025);
  EXPECT_DOUBLE_EQ(p.mean, 10.0 / 4);
  EXPECT_DOUBLE_EQ(p.sd, std::sqrt(10.0) / 4);
  EXPECT_DOUBLE_EQ(p.shrinkage, 1.5 / 4);
  EXPECT_NEAR(incomplete_gamma(10, 4 * p.lower), 0.025, 1e-14);
  EXPECT_NEAR(incomplete_gamma(10, 4 * p.upper, true), 0.025, 1e-14);
  // Shape 1 (exponential): the quantile is -log(1 - q) / rate.
  const count_posterior e = gamma_poisson::posterior_of({0, 1}, 1, 1, 0.05);
  EXPECT_NEAR(e.lower, -std::log1p(-0.05) / 2, 1e-15);
  EXPECT_NEAR(e.upper, -std::log(0.05) / 2, 1e-15);
}

}  // namespace
}  // namespace shrink::detail
