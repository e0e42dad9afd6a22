// The beta-binomial family's formulas (src/common/families/beta_binomial.hpp): rising-factorial
// differences against long-double lgamma, the marginal likelihood against the pmf summed by hand,
// its gradient and Hessian against finite differences, the posterior against closed forms, and the
// rat tumours against BDA3 (section 5.1).

#include "common/families/beta_binomial.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
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
      const double p = std::exp(beta_binomial::marginal(g, alpha, beta).value + beta_binomial::log_binomial_coefficient(g));
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

TEST(BetaBinomial, GradientAndHessianAgainstFiniteDifferences)
{
  for (const beta_binomial::group g : {beta_binomial::group{4, 14}, beta_binomial::group{0, 20}, beta_binomial::group{150, 400}}) {
    const double alpha = 1.7, beta = 9.2, h = 1e-5;
    const auto at = [&](double a, double b) { return beta_binomial::marginal(g, a, b); };
    const beta_binomial::marginal_sums m = at(alpha, beta);
    const double d_alpha = (at(alpha + h, beta).value - at(alpha - h, beta).value) / (2 * h);
    const double d_beta = (at(alpha, beta + h).value - at(alpha, beta - h).value) / (2 * h);
    // Central differences carry ~eps |value| / h ~ 1e-8 of rounding at h = 1e-5 (values of ~500).
    EXPECT_NEAR(m.d_alpha, d_alpha, 2e-7 * (1 + std::abs(d_alpha)));
    EXPECT_NEAR(m.d_beta, d_beta, 2e-7 * (1 + std::abs(d_beta)));
    const double d_aa = (at(alpha + h, beta).d_alpha - at(alpha - h, beta).d_alpha) / (2 * h);
    const double d_ab = (at(alpha, beta + h).d_alpha - at(alpha, beta - h).d_alpha) / (2 * h);
    const double d_bb = (at(alpha, beta + h).d_beta - at(alpha, beta - h).d_beta) / (2 * h);
    EXPECT_NEAR(m.d_alpha_alpha, d_aa, 1e-7 * (1 + std::abs(d_aa)));
    EXPECT_NEAR(m.d_alpha_beta, d_ab, 1e-7 * (1 + std::abs(d_ab)));
    EXPECT_NEAR(m.d_beta_beta, d_bb, 1e-7 * (1 + std::abs(d_bb)));
  }
}

TEST(BetaBinomial, PosteriorClosedForms)
{
  const beta_binomial::posterior p = beta_binomial::posterior_of({4, 14}, 1.4, 8.6, 0.025);
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
  std::ifstream in(test::reference_data() / "rat_tumors.csv");
  ASSERT_TRUE(in.good()) << "tests/data/rat_tumors.csv is missing";
  std::vector<beta_binomial::group> groups;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == 'y') continue;
    const std::size_t comma = line.find(',');
    groups.push_back({std::stod(line.substr(0, comma)), std::stod(line.substr(comma + 1))});
  }
  ASSERT_EQ(groups.size(), 71u);
  double mean = 0, m2 = 0;
  for (int j = 0; j < 70; ++j) {
    const double rate = groups[j].successes / groups[j].trials, delta = rate - mean;
    mean += delta / (j + 1);
    m2 += delta * (rate - mean);
  }
  const double sd = std::sqrt(m2 / 69);
  EXPECT_NEAR(mean, 0.136, 0.0005);
  EXPECT_NEAR(sd, 0.103, 0.0005);
  const beta_binomial::hyperparameters h = beta_binomial::from_rate_moments(mean, sd * sd);
  EXPECT_NEAR(h.alpha, 1.4, 0.05);
  EXPECT_NEAR(h.beta, 8.6, 0.15);
  const beta_binomial::posterior p = beta_binomial::posterior_of(groups[70], h.alpha, h.beta, 0.025);
  EXPECT_NEAR(p.mean, 0.223, 0.0005);
  EXPECT_NEAR(p.sd, 0.083, 0.0005);
}

}  // namespace
}  // namespace shrink::detail
