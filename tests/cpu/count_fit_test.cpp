// The count families' estimators (src/api/count_fit.cpp): maximum likelihood and profile intervals
// on BDA3's rat tumours (beta-binomial) and the pump failures (gamma-Poisson) against independent
// maximisations in R, the method of moments against BDA3, the boundary (no over-dispersion), a
// Polya urn whose prior is known, bad input, and thread-count invariance.

#include "api/count_fit.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <random>
#include <type_traits>
#include <string>
#include <vector>

namespace shrink::detail {
namespace {

std::vector<beta_binomial::group> rat_tumours_historical()
{
  std::vector<beta_binomial::group> groups;
  for (const auto& [y, n] : test::rat_tumours()) groups.push_back({y, n});
  groups.resize(70);  // the 71st is the current experiment
  return groups;
}

template <class Group>
auto groups_of(const std::vector<Group>& g, int threads)
{
  using family = std::conditional_t<std::is_same_v<Group, beta_binomial::group>, beta_binomial, gamma_poisson>;
  return count_groups<family>{g.data(), g.size(), threads};
}

template <class Group>
count_estimate ml_of(const std::vector<Group>& g, int threads = 1)
{
  const auto data = groups_of(g, threads);
  return count_ml(data, count_summaries(data));
}

std::vector<gamma_poisson::group> pumps()
{
  // tests/data/pumps.csv: failures in thousands of hours.
  return {{5, 94.32}, {1, 15.72}, {5, 62.88}, {14, 125.76}, {3, 5.24},
          {19, 31.44}, {1, 1.048}, {1, 1.048}, {4, 2.096}, {22, 10.48}};
}

TEST(CountFit, RatTumoursMlMatchesAnIndependentMaximisation)
{
  // R 4.2 (tests/data/rat_tumors_ml.R): nlminb on -sum(lbeta(y + a, K - y + b) - lbeta(a, b)),
  // polished by Newton on the score with R's digamma/trigamma to a score of 3e-14; log-likelihood
  // with lchoose(K, y); the binomial log-likelihood at the pooled rate for the ratio test.
  const count_estimate e = ml_of(rat_tumours_historical());
  EXPECT_FALSE(e.boundary);
  EXPECT_NEAR(e.a, 2.30478331212428, 1e-11 * 2.3);
  EXPECT_NEAR(e.b, 14.0798090315476, 1e-11 * 14.1);
  EXPECT_NEAR(e.mean, 0.140667723906749, 1e-13);
  EXPECT_NEAR(e.log_likelihood, -154.140249665197, 1e-11);
  EXPECT_NEAR(e.lrt_statistic, 31.006664410615, 1e-10);
  // p = P(chi2_1 > s) / 2 = erfc(sqrt(s / 2)) / 2.
  EXPECT_NEAR(e.lrt_p_value, 0.5 * std::erfc(std::sqrt(e.lrt_statistic / 2)), 1e-13 * e.lrt_p_value);
  EXPECT_LT(e.iterations, 20);
  // At the optimum the score is zero.
  const auto groups = rat_tumours_historical();
  marginal_sums s;
  for (const beta_binomial::group& g : groups) s += beta_binomial::marginal(g, e.a, e.b);
  EXPECT_LT(std::abs(s.d_a), 1e-8);
  EXPECT_LT(std::abs(s.d_b), 1e-8);
  // Profile-likelihood intervals (R: optimize inside uniroot, to 1e-13).
  const count_intervals ci = count_profile_intervals(groups_of(groups, 1), count_summaries(groups_of(groups, 1)), e, 0.95);
  EXPECT_NEAR(ci.mean_lower, 0.116360022769, 1e-10);
  EXPECT_NEAR(ci.mean_upper, 0.168198925069, 1e-10);
  EXPECT_NEAR(ci.concentration_lower, 8.76364758368, 1e-9);
  EXPECT_NEAR(ci.concentration_upper, 33.9284171016, 1e-9);
  // The standard errors are the observed information's: finite and of the size the curvature says.
  EXPECT_GT(e.se_log_concentration, 0.1);
  EXPECT_LT(e.se_log_concentration, 1.0);
}

TEST(CountFit, RatTumoursMomentsMatchBda3)
{
  const auto groups = rat_tumours_historical();
  const auto data = groups_of(groups, 1);
  const count_totals t = count_summaries(data);
  const count_estimate e = count_moments(data, t);
  EXPECT_NEAR(e.a, 1.4, 0.05);  // BDA3: Beta(1.4, 8.6)
  EXPECT_NEAR(e.b, 8.6, 0.15);
  EXPECT_NEAR(e.mean, t.rate_mean, 1e-15);
  EXPECT_NEAR(e.a / (e.a + e.b), 0.136, 0.0005);
  // The moment estimate's likelihood is below the maximum.
  EXPECT_LT(e.log_likelihood, ml_of(groups).log_likelihood);
}

TEST(CountFit, NoOverdispersionIsTheBoundary)
{
  // Identical rates: no spread beyond binomial noise, so nu = infinity, complete pooling.
  std::vector<beta_binomial::group> groups;
  for (int j = 0; j < 40; ++j) groups.push_back({static_cast<double>(3 * (1 + j % 4)), static_cast<double>(10 * (1 + j % 4))});
  const count_estimate e = ml_of(groups);
  EXPECT_TRUE(e.boundary);
  EXPECT_TRUE(std::isinf(e.concentration));
  EXPECT_DOUBLE_EQ(e.mean, 0.3);
  EXPECT_EQ(e.lrt_statistic, 0);
  EXPECT_EQ(e.lrt_p_value, 1);
  const auto data = groups_of(groups, 1);
  EXPECT_TRUE(count_moments(data, count_summaries(data)).boundary);
  // The same for counts: rates all equal to 2 per unit exposure.
  const std::vector<gamma_poisson::group> even{{2, 1}, {4, 2}, {6, 3}, {20, 10}};
  const count_estimate p = ml_of(even);
  EXPECT_TRUE(p.boundary);
  EXPECT_DOUBLE_EQ(p.mean, 2.0);
}

TEST(CountFit, PolyaUrnRecoversItsPrior)
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
  const count_estimate e = ml_of(groups);
  EXPECT_NEAR(std::log(e.mean / (1 - e.mean)), std::log(2.0), 4 * e.se_link_mean);
  EXPECT_NEAR(std::log(e.concentration), std::log(3.0), 4 * e.se_log_concentration);
  EXPECT_LT(e.lrt_p_value, 1e-10);  // strongly over-dispersed
}

TEST(CountFit, SameBitsForAnyThreadCount)
{
  std::mt19937_64 rng(7);
  std::vector<beta_binomial::group> groups;
  for (int j = 0; j < 100000; ++j) {
    const double n = 1 + static_cast<double>(rng() % 50);
    groups.push_back({static_cast<double>(rng() % static_cast<std::uint64_t>(n + 1)), n});
  }
  const count_estimate one = ml_of(groups, 1), three = ml_of(groups, 3);
  EXPECT_EQ(one.a, three.a);
  EXPECT_EQ(one.b, three.b);
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

TEST(CountFit, NoMaximumIsAnError)
{
  const std::vector<beta_binomial::group> zeros{{0, 5}, {0, 7}, {0, 2}};
  EXPECT_NE(error_of([&] { ml_of(zeros); }).find("every group's count is 0"), std::string::npos);
  const std::vector<beta_binomial::group> all{{5, 5}, {7, 7}};
  EXPECT_NE(error_of([&] { ml_of(all); }).find("only successes"), std::string::npos);
  const std::vector<gamma_poisson::group> none{{0, 5}, {0, 7}};
  EXPECT_NE(error_of([&] { ml_of(none); }).find("every group's count is 0"), std::string::npos);
}

TEST(CountFit, NoPoolingLimitAndOneTrialPerGroupAreErrors)
{
  // Counts all 0 or n_j: as nu falls to 0 at a fixed mean m, P(y = 0) = prod_i (b + i) / (nu + i)
  // -> 1 - m and P(y = n) -> m, so the log-likelihood rises to 2 log m + 2 log(1 - m) here (log
  // C(n, y) = 0): no finite maximum.
  const std::vector<beta_binomial::group> extreme{{0, 5}, {7, 7}, {0, 2}, {3, 3}};
  const auto data = groups_of(extreme, 1);
  const count_totals t = count_summaries(data);
  const double m = 0.4;
  double previous = -std::numeric_limits<double>::infinity();
  for (double nu : {100.0, 10.0, 1.0, 0.1, 0.01, 1e-5}) {
    const double l = count_fixed(data, t, m * nu, (1 - m) * nu).log_likelihood;
    EXPECT_GT(l, previous) << nu;
    previous = l;
  }
  EXPECT_NEAR(previous, 2 * std::log(m) + 2 * std::log(1 - m), 1e-4);
  EXPECT_NE(error_of([&] { ml_of(extreme); }).find("every group's successes are 0 or all its trials: the likelihood rises "
                                                   "as the concentration falls to 0, the no-pooling limit"),
            std::string::npos);
  // One trial per group: P(y = 1) = m for every nu (the same log-likelihood 2 log m + log(1 - m)).
  const std::vector<beta_binomial::group> bernoulli{{0, 1}, {1, 1}, {1, 1}};
  const auto one = groups_of(bernoulli, 1);
  for (double nu : {0.01, 1.0, 1e6})
    EXPECT_NEAR(count_fixed(one, count_summaries(one), m * nu, (1 - m) * nu).log_likelihood,
                2 * std::log(m) + std::log(1 - m), 1e-12) << nu;
  EXPECT_NE(error_of([&] { ml_of(bernoulli); }).find("every group has one trial: the likelihood does not depend on the "
                                                     "concentration"),
            std::string::npos);
  // One group with an interior count is enough for a finite maximum.
  std::vector<beta_binomial::group> interior = extreme;
  interior.push_back({2, 4});
  EXPECT_GT(ml_of(interior).concentration, 0);
}

TEST(CountFit, PumpFailuresMlMatchesR)
{
  // tests/data/pumps_ml.R: nlminb on R's dnbinom, polished by Newton on the score (~1e-15); MASS's
  // glm.nb with an offset agrees to its own 1e-8.
  const auto groups = pumps();
  const count_estimate e = ml_of(groups);
  EXPECT_FALSE(e.boundary);
  EXPECT_NEAR(e.a, 0.822268649688647, 1e-11);
  EXPECT_NEAR(e.b, 1.25895444337072, 1e-11);
  EXPECT_NEAR(e.mean, 0.653136143264333, 1e-12);
  EXPECT_NEAR(e.log_likelihood, -32.2630670449524, 1e-11);
  EXPECT_NEAR(e.lrt_statistic, 93.4475038003712, 1e-10);
  const auto data = groups_of(groups, 1);
  const count_intervals ci = count_profile_intervals(data, count_summaries(data), e, 0.95);
  EXPECT_NEAR(ci.mean_lower, 0.305628508489, 1e-10);
  EXPECT_NEAR(ci.mean_upper, 1.70721653016, 1e-9);
  EXPECT_NEAR(ci.concentration_lower, 0.333870696014, 1e-10);
  EXPECT_NEAR(ci.concentration_upper, 1.83485155864, 1e-9);
  // Pump 1's posterior Gamma(shape + 5, rate + 94.32): R's qgamma.
  const count_posterior p = gamma_poisson::posterior_of(groups[0], e.a, e.b, 0.025);
  EXPECT_NEAR(p.lower, 0.021933243209303836, 1e-13);
  EXPECT_NEAR(p.upper, 0.11945755486799196, 1e-13);
}

}  // namespace
}  // namespace shrink::detail
