// The beta-binomial estimators (src/api/beta_binomial_fit.cpp): maximum likelihood on BDA3's rat
// tumours against an independent maximisation in R, the method of moments against BDA3, the
// boundary nu = infinity, a Polya urn whose prior is known, bad input, and thread-count invariance.

#include "api/beta_binomial_fit.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace shrink::detail {
namespace {

std::vector<beta_binomial::group> rat_tumours_historical()
{
  std::ifstream in(test::reference_data() / "rat_tumors.csv");
  EXPECT_TRUE(in.good()) << "tests/data/rat_tumors.csv is missing";
  std::vector<beta_binomial::group> groups;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == 'y') continue;
    const std::size_t comma = line.find(',');
    groups.push_back({std::stod(line.substr(0, comma)), std::stod(line.substr(comma + 1))});
  }
  groups.resize(70);  // the 71st is the current experiment
  return groups;
}

beta_binomial_estimate ml_of(const std::vector<beta_binomial::group>& g, int threads = 1)
{
  const binomial_groups data{g.data(), g.size(), threads};
  return beta_binomial_ml(data, binomial_summaries(data));
}

TEST(BetaBinomialFit, RatTumoursMlMatchesAnIndependentMaximisation)
{
  // R 4.2 (tests/data/rat_tumors_ml.R): nlminb on -sum(lbeta(y + a, K - y + b) - lbeta(a, b)),
  // polished by Newton on the score with R's digamma/trigamma to a score of 3e-14; log-likelihood
  // with lchoose(K, y); the binomial log-likelihood at the pooled rate for the ratio test.
  const beta_binomial_estimate e = ml_of(rat_tumours_historical());
  EXPECT_FALSE(e.boundary);
  EXPECT_NEAR(e.alpha, 2.30478331212428, 1e-11 * 2.3);
  EXPECT_NEAR(e.beta, 14.0798090315476, 1e-11 * 14.1);
  EXPECT_NEAR(e.mean, 0.140667723906749, 1e-13);
  EXPECT_NEAR(e.log_likelihood, -154.140249665197, 1e-11);
  EXPECT_NEAR(e.lrt_statistic, 31.006664410615, 1e-10);
  // p = P(chi2_1 > s) / 2 = erfc(sqrt(s / 2)) / 2.
  EXPECT_NEAR(e.lrt_p_value, 0.5 * std::erfc(std::sqrt(e.lrt_statistic / 2)), 1e-13 * e.lrt_p_value);
  EXPECT_LT(e.iterations, 20);
  // At the optimum the score is zero.
  const auto groups = rat_tumours_historical();
  beta_binomial::marginal_sums s;
  for (const beta_binomial::group& g : groups) s += beta_binomial::marginal(g, e.alpha, e.beta);
  EXPECT_LT(std::abs(s.d_alpha), 1e-8);
  EXPECT_LT(std::abs(s.d_beta), 1e-8);
  // The standard errors are the observed information's: finite and of the size the curvature says.
  EXPECT_GT(e.se_log_concentration, 0.1);
  EXPECT_LT(e.se_log_concentration, 1.0);
}

TEST(BetaBinomialFit, RatTumoursMomentsMatchBda3)
{
  const auto groups = rat_tumours_historical();
  const binomial_groups data{groups.data(), groups.size(), 1};
  const binomial_totals t = binomial_summaries(data);
  const beta_binomial_estimate e = beta_binomial_moments(data, t);
  EXPECT_NEAR(e.alpha, 1.4, 0.05);  // BDA3: Beta(1.4, 8.6)
  EXPECT_NEAR(e.beta, 8.6, 0.15);
  EXPECT_NEAR(e.mean, t.rate_mean, 0);
  EXPECT_NEAR(e.alpha / (e.alpha + e.beta), 0.136, 0.0005);
  // The moment estimate's likelihood is below the maximum.
  EXPECT_LT(e.log_likelihood, ml_of(groups).log_likelihood);
}

TEST(BetaBinomialFit, NoOverdispersionIsTheBoundary)
{
  // Identical rates: no spread beyond binomial noise, so nu = infinity, complete pooling.
  std::vector<beta_binomial::group> groups;
  for (int j = 0; j < 40; ++j) groups.push_back({static_cast<double>(3 * (1 + j % 4)), static_cast<double>(10 * (1 + j % 4))});
  const beta_binomial_estimate e = ml_of(groups);
  EXPECT_TRUE(e.boundary);
  EXPECT_TRUE(std::isinf(e.concentration));
  EXPECT_DOUBLE_EQ(e.mean, 0.3);
  EXPECT_EQ(e.lrt_statistic, 0);
  EXPECT_EQ(e.lrt_p_value, 1);
  const binomial_groups data{groups.data(), groups.size(), 1};
  EXPECT_TRUE(beta_binomial_moments(data, binomial_summaries(data)).boundary);
}

TEST(BetaBinomialFit, PolyaUrnRecoversItsPrior)
{
  // A Polya urn started with 2 white balls and 1 black, each draw returned with one more of its
  // colour: the white draws of n are beta-binomial with Beta(2, 1) (de Finetti). 20000 urns of 20
  // draws: the fit must recover alpha = 2, beta = 1 within 4 of its own standard errors.
  std::mt19937_64 rng(20261201);
  std::vector<beta_binomial::group> groups;
  for (int j = 0; j < 20000; ++j) {
    double white = 2, black = 1, y = 0;
    for (int draw = 0; draw < 20; ++draw) {
      const bool is_white = std::uniform_real_distribution<double>(0, white + black)(rng) < white;
      (is_white ? white : black) += 1;
      y += is_white ? 1 : 0;
    }
    groups.push_back({y, 20});
  }
  const beta_binomial_estimate e = ml_of(groups);
  EXPECT_NEAR(std::log(e.mean / (1 - e.mean)), std::log(2.0), 4 * e.se_logit_mean);
  EXPECT_NEAR(std::log(e.concentration), std::log(3.0), 4 * e.se_log_concentration);
  EXPECT_LT(e.lrt_p_value, 1e-10);  // strongly over-dispersed
}

TEST(BetaBinomialFit, SameBitsForAnyThreadCount)
{
  std::mt19937_64 rng(7);
  std::vector<beta_binomial::group> groups;
  for (int j = 0; j < 100000; ++j) {
    const double n = 1 + static_cast<double>(rng() % 50);
    groups.push_back({static_cast<double>(rng() % static_cast<std::uint64_t>(n + 1)), n});
  }
  const beta_binomial_estimate one = ml_of(groups, 1), three = ml_of(groups, 3);
  EXPECT_EQ(one.alpha, three.alpha);
  EXPECT_EQ(one.beta, three.beta);
  EXPECT_EQ(one.log_likelihood, three.log_likelihood);
}

/// The message of the shrink::error that fit() throws ("" if none).
template <class Fit>
std::string error_of(Fit&& fit)
{
  try {
    fit();
  } catch (const shrink::error& e) {
    return e.what();
  }
  return "";
}

TEST(BetaBinomialFit, NoMaximumIsAnError)
{
  const std::vector<beta_binomial::group> zeros{{0, 5}, {0, 7}, {0, 2}};
  EXPECT_NE(error_of([&] { ml_of(zeros); }).find("every group has 0 successes"), std::string::npos);
  const std::vector<beta_binomial::group> all{{5, 5}, {7, 7}};
  EXPECT_NE(error_of([&] { ml_of(all); }).find("only successes"), std::string::npos);
}

}  // namespace
}  // namespace shrink::detail
