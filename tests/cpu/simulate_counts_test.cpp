// Simulation studies of the count families (shrink::simulate with simulate_options::family):
//   - the oracle's risk against the exact Bayes risk E Var(theta | y), summed here over y with the
//     beta-binomial (negative-binomial) pmf from std::lgamma, and against the study within MCSE;
//   - the oracle's posterior intervals cover at --level (exact Bayesian coverage) within MCSE;
//   - the Polya urn: Beta(2, 1) over Bernoulli draws. The study's counts follow the urn's law
//     (the beta-binomial pmf, by a chi-square test) and its ml fits recover the prior's
//     over-dispersion 1 / (1 + nu) = 1/4 within MCSE;
//   - bitwise the same CSV for any thread count and batch; degenerate replicates (every count 0)
//     give finite rows; invalid options are one-line errors.

#include "api/count_fit.hpp"
#include "api/simulate_backend.hpp"

#include "test_support.hpp"

#include <shrink/error.hpp>
#include <shrink/simulate.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace sim = shrink::detail::sim;
using shrink::count_family;
using shrink::estimator;
using shrink::estimator_performance;
using shrink::simulate_options;

simulate_options binomial_study(std::int64_t groups, std::int64_t trials, double mean, double concentration,
                                std::uint64_t replicates)
{
  simulate_options o;
  o.family = count_family::binomial;
  o.groups = {groups};
  o.obs = {shrink::obs_range{trials, trials}};
  o.prior_mean = mean;
  o.concentration = {concentration};
  o.replicates = replicates;
  o.seed = 2026;
  o.requested_backend = shrink::backend::cpu;
  o.threads = 2;
  return o;
}

const estimator_performance& row(const shrink::scenario_result& s, estimator e)
{
  for (const auto& p : s.estimators)
    if (p.which == e) return p;
  throw std::runtime_error("no such row");
}

double log_beta_binomial_pmf(double n, double a, double b, double k)
{
  return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1) + std::lgamma(a + k) +
         std::lgamma(b + n - k) - std::lgamma(a + b + n) - (std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b));
}

/// E Var(theta | y) under Beta(a, b) with n trials: the sum over y of p(y) times the posterior
/// Beta(a + y, b + n - y)'s variance.
double binomial_bayes_risk(double n, double a, double b)
{
  double risk = 0;
  for (double y = 0; y <= n; ++y) {
    const double s = a + b + n, pa = a + y, pb = b + n - y;
    risk += std::exp(log_beta_binomial_pmf(n, a, b, y)) * pa * pb / (s * s * (s + 1));
  }
  return risk;
}

/// E Var(theta | y) under Gamma(shape, rate) with exposure E: the negative-binomial pmf times the
/// posterior Gamma(shape + y, rate + E)'s variance, summed until the tail is negligible.
double poisson_bayes_risk(double exposure, double shape, double rate)
{
  const double p = rate / (rate + exposure);
  double risk = 0;
  for (double y = 0; y < 5000; ++y) {
    const double log_pmf =
      std::lgamma(shape + y) - std::lgamma(shape) - std::lgamma(y + 1) + shape * std::log(p) + y * std::log1p(-p);
    risk += std::exp(log_pmf) * (shape + y) / ((rate + exposure) * (rate + exposure));
  }
  return risk;
}

TEST(SimulateCounts, BinomialOracleRiskAndCoverage)
{
  // Beta(0.6, 1.4) (m = 0.3, nu = 2): wide spread, 12 trials a group.
  const simulate_options o = binomial_study(50, 12, 0.3, 2.0, 400);
  const auto r = shrink::simulate(o);
  ASSERT_EQ(r.scenarios.size(), 1u);
  const auto& s = r.scenarios[0];
  const double exact = binomial_bayes_risk(12, 0.6, 1.4);
  ASSERT_TRUE(s.oracle_risk.has_value());
  EXPECT_NEAR(*s.oracle_risk, exact, 1e-14 * exact);  // the closed form against the sum over y
  const auto& oracle = row(s, estimator::oracle);
  EXPECT_NEAR(oracle.mse, exact, 4 * oracle.mse_mcse);
  EXPECT_NEAR(oracle.bias, 0.0, 4 * oracle.bias_mcse);
  ASSERT_TRUE(oracle.coverage.has_value());
  EXPECT_NEAR(*oracle.coverage, 0.95, 4 * *oracle.coverage_mcse);
  // No estimator beats the Bayes rule; partial pooling is far better than no pooling here.
  for (const auto& p : s.estimators) EXPECT_GE(p.mse, oracle.mse - 4 * oracle.mse_mcse) << shrink::to_string(p.which);
  EXPECT_LT(row(s, estimator::partial_pool).mse, row(s, estimator::no_pool).mse);
  EXPECT_FALSE(row(s, estimator::no_pool).coverage.has_value());
  EXPECT_TRUE(row(s, estimator::partial_pool_mom).coverage.has_value());
  // no_pool is unbiased for theta_j (E y / n = theta).
  const auto& no_pool = row(s, estimator::no_pool);
  EXPECT_NEAR(no_pool.bias, 0.0, 4 * no_pool.bias_mcse);
  // Its risk is E theta (1 - theta) / n = m (1 - m) nu / ((nu + 1) n) exactly.
  EXPECT_NEAR(no_pool.mse, 0.3 * 0.7 * 2.0 / (3.0 * 12), 4 * no_pool.mse_mcse);
}

TEST(SimulateCounts, PoissonOracleRiskAndCoverage)
{
  simulate_options o;
  o.family = count_family::poisson;
  o.groups = {40};
  o.obs = {shrink::obs_range{3, 3}};
  o.prior_mean = 2.5;
  o.concentration = {1.5};  // Gamma(1.5, 0.6)
  o.replicates = 400;
  o.seed = 11;
  o.requested_backend = shrink::backend::cpu;
  const auto r = shrink::simulate(o);
  const auto& s = r.scenarios[0];
  const double exact = poisson_bayes_risk(3, 1.5, 0.6);
  ASSERT_TRUE(s.oracle_risk.has_value());
  EXPECT_NEAR(*s.oracle_risk, exact, 1e-12 * exact);
  const auto& oracle = row(s, estimator::oracle);
  EXPECT_NEAR(oracle.mse, exact, 4 * oracle.mse_mcse);
  EXPECT_NEAR(*oracle.coverage, 0.95, 4 * *oracle.coverage_mcse);
  // no_pool's risk: E theta / E = m / E.
  const auto& no_pool = row(s, estimator::no_pool);
  EXPECT_NEAR(no_pool.mse, 2.5 / 3, 4 * no_pool.mse_mcse);
}

TEST(SimulateCounts, UnequalTrialsOracleRiskIsTheDesignMean)
{
  simulate_options o = binomial_study(30, 1, 0.5, 4.0, 300);
  o.obs = {shrink::obs_range{1, 40}};
  const auto r = shrink::simulate(o);
  const auto& s = r.scenarios[0];
  const auto& oracle = row(s, estimator::oracle);
  EXPECT_NEAR(oracle.mse, *s.oracle_risk, 4 * oracle.mse_mcse);
  EXPECT_NEAR(*oracle.coverage, 0.95, 4 * *oracle.coverage_mcse);
}

// The Polya urn with two white balls and one black, each draw returned with one more of its colour:
// its white draws in n steps follow the beta-binomial(n, 2, 1) law (de Finetti: Bernoulli draws
// under a Beta(2, 1) prior). The study's counts follow that law, and its ml fits recover nu = 3.
TEST(SimulateCounts, PolyaUrnIsRecovered)
{
  const double n = 10;
  // The urn's law, step by step (an independent computation: the urn's own transition probabilities).
  std::vector<double> law(11, 0.0);
  law[0] = 1;  // P(k white so far), before any draw
  for (int step = 0; step < 10; ++step) {
    std::vector<double> next(11, 0.0);
    for (int k = 0; k <= step; ++k) {
      const double white = 2.0 + k, total = 3.0 + step;
      next[static_cast<std::size_t>(k + 1)] += law[static_cast<std::size_t>(k)] * white / total;
      next[static_cast<std::size_t>(k)] += law[static_cast<std::size_t>(k)] * (total - white) / total;
    }
    law = next;
  }
  for (int k = 0; k <= 10; ++k) EXPECT_NEAR(law[static_cast<std::size_t>(k)], std::exp(log_beta_binomial_pmf(n, 2, 1, k)), 1e-13);

  // The study's draws (the samplers the backends run) against the urn's law.
  sim::count_scenario p;
  p.seed = 5;
  p.index = 9;
  p.groups = 1;
  p.binomial = true;
  p.a = 2;
  p.b = 1;
  std::vector<double> counts(11, 0.0);
  const int draws = 100000;
  for (int i = 0; i < draws; ++i) counts[static_cast<std::size_t>(sim::draw_count_group(p, n, static_cast<std::uint64_t>(i), 0).y)] += 1;
  double chi2 = 0;
  for (int k = 0; k <= 10; ++k) {
    const double e = draws * law[static_cast<std::size_t>(k)];
    chi2 += (counts[static_cast<std::size_t>(k)] - e) * (counts[static_cast<std::size_t>(k)] - e) / e;
  }
  EXPECT_LT(chi2, 40.0);  // chi-square, 10 df: P(> 40) ~ 2e-5

  // The study: many groups (the ml fit's O(1/J) bias is well below the MCSE), its fits' mean over-
  // dispersion 1 / (1 + nu) against the urn's 1/4.
  const auto r = shrink::simulate(binomial_study(4000, 10, 2.0 / 3, 3.0, 64));
  const auto& pp = row(r.scenarios[0], estimator::partial_pool);
  ASSERT_TRUE(pp.tau_hat_mean.has_value());
  EXPECT_NEAR(*pp.tau_hat_mean, 0.25, 4 * *pp.tau_hat_mean_mcse);
  EXPECT_EQ(*pp.p_tau_zero, 0.0);
  EXPECT_NEAR(*pp.coverage, 0.95, 4 * *pp.coverage_mcse);
}

TEST(SimulateCounts, SameBitsForAnyThreadsAndBatch)
{
  simulate_options o = binomial_study(37, 1, 0.2, 5.0, 300);
  o.obs = {shrink::obs_range{5, 5}, shrink::obs_range{1, 30}};
  o.concentration = {1.0, 50.0};
  std::string first;
  for (int threads : {1, 2, 5})
    for (std::uint64_t batch : {0, 64, 192}) {
      o.threads = threads;
      o.batch_replicates = batch;
      const std::string csv = shrink::test::simulate_csv(shrink::simulate(o));
      if (first.empty()) first = csv;
      EXPECT_EQ(csv, first) << "threads " << threads << " batch " << batch;
    }
  o.family = count_family::poisson;
  o.threads = 1;
  o.batch_replicates = 0;
  const std::string one = shrink::test::simulate_csv(shrink::simulate(o));
  o.threads = 3;
  o.batch_replicates = 128;
  EXPECT_EQ(shrink::test::simulate_csv(shrink::simulate(o)), one);
}

// Where most replicates have no success at all, the fits sit on the boundary (the pooled rate):
// every row stays finite and p_tau_zero counts those replicates, at least P(no success) =
// E[(1 - theta)^2]^2 = (1 - 2 m + m^2 + m (1 - m) / (nu + 1))^2 = 0.9606 for two groups of two trials
// (4.4 of its Monte Carlo sds above 0.9 at 200 replicates).
TEST(SimulateCounts, CoverageFromIntervalBoundsIsTheExactIntervalsCount)
{
  // One replicate whose theta_j sit on the ml and moment fits' interval ends, an ulp either side and
  // at the posterior mean: the evaluator's coverage (bounds from one incomplete beta, the ends only
  // where a theta_j lies between them) must count lower <= theta_j <= upper of posterior_of's ends.
  using namespace shrink::detail;
  constexpr double trials = 20;
  std::vector<beta_binomial::group> entries;  // counts 2..12, 13 groups each (gather's entries)
  std::vector<double> weights;
  for (double k = 2; k <= 12; ++k) {
    entries.push_back({k, trials});
    weights.push_back(13);
  }
  const count_groups<beta_binomial> data{entries.data(), entries.size(), 1, weights.data(), nullptr};
  const count_totals totals = count_summaries(data);
  const count_estimate fits[2] = {count_ml(data, totals), count_moments(data, totals)};
  std::vector<double> theta, y;
  double expected[2] = {0, 0};
  for (const beta_binomial::group& g : entries) {
    count_posterior p[2];
    for (int f = 0; f < 2; ++f) {
      ASSERT_FALSE(fits[f].boundary);
      ASSERT_GE(fits[f].a, 1);  // shapes >= 1: the bounds serve
      ASSERT_GE(fits[f].b, 1);
      p[f] = beta_binomial::posterior_of(g, fits[f].a, fits[f].b, 0.025);
    }
    std::vector<double> at = {p[0].mean};
    for (const count_posterior& q : p)
      for (double end : {q.lower, q.upper})
        for (double t : {end, std::nextafter(end, 0.0), std::nextafter(end, 1.0)}) at.push_back(t);
    for (double t : at) {
      theta.push_back(t);
      y.push_back(g.count);
      for (int f = 0; f < 2; ++f) expected[f] += p[f].lower <= t && t <= p[f].upper ? 1 : 0;
    }
  }
  ASSERT_EQ(theta.size(), 13 * entries.size());
  sim::count_job job;
  job.params.binomial = true;
  job.params.groups = static_cast<std::int64_t>(theta.size());
  job.params.a = 3;
  job.params.b = 7;
  job.params.equal_size = true;
  job.params.size = trials;
  job.size_min = job.size_max = static_cast<std::int64_t>(trials);
  job.replicates = 2;
  job.count = 1;
  double metrics[sim::metric_count];
  sim::make_count_evaluator(job)->evaluate(0, theta.data(), y.data(), metrics);
  const double J = static_cast<double>(theta.size());
  EXPECT_EQ(metrics[sim::metric_coverage(sim::partial_pool)], expected[0] / J);
  EXPECT_EQ(metrics[sim::metric_coverage(sim::partial_pool_mom)], expected[1] / J);
  EXPECT_GT(expected[0], 0);
  EXPECT_LT(expected[0], J);
}

TEST(SimulateCounts, ReplicatesWithoutSuccessesAreTheBoundary)
{
  const auto r = shrink::simulate(binomial_study(2, 2, 0.01, 1000, 200));
  const auto& s = r.scenarios[0];
  for (const auto& p : s.estimators) {
    EXPECT_TRUE(std::isfinite(p.mse)) << shrink::to_string(p.which);
    EXPECT_TRUE(std::isfinite(p.bias)) << shrink::to_string(p.which);
  }
  EXPECT_GT(*row(s, estimator::partial_pool).p_tau_zero, 0.9);
}

// A U-shaped prior (nu = 0.05) and 200 trials: most groups have 0 or n successes. A replicate whose
// counts are all 0 or n_j (but not all the same) has its ml supremum at nu = 0, no pooling: its
// over-dispersion 1 / (1 + nu) is 1. So the mean over-dispersion is at least that case's probability,
// p^J - p0^J - pn^J with p0 = P(y = 0) = B(a, b + n) / B(a, b), pn = P(y = n) = B(a + n, b) / B(a, b).
TEST(SimulateCounts, AllCountsExtremeIsNoPooling)
{
  const double a = 0.035, b = 0.015, n = 200, J = 6;
  const auto log_b = [](double x, double y) { return std::lgamma(x) + std::lgamma(y) - std::lgamma(x + y); };
  const double p0 = std::exp(log_b(a, b + n) - log_b(a, b)), pn = std::exp(log_b(a + n, b) - log_b(a, b));
  const double no_pooling = std::pow(p0 + pn, J) - std::pow(p0, J) - std::pow(pn, J);
  const auto r = shrink::simulate(binomial_study(6, 200, 0.7, 0.05, 500));
  const auto& pp = row(r.scenarios[0], estimator::partial_pool);
  for (const auto& p : r.scenarios[0].estimators) EXPECT_TRUE(std::isfinite(p.mse)) << shrink::to_string(p.which);
  EXPECT_GT(no_pooling, 0.3);
  EXPECT_GE(*pp.tau_hat_mean, no_pooling - 4 * std::sqrt(no_pooling * (1 - no_pooling) / 500));
  EXPECT_LE(*pp.tau_hat_mean, 1.0);
}

// Two groups of two trials under a U-shaped prior (nu = 1e-6): P(y = 1) = 2 m (1 - m) nu / (nu + 1)
// = 5e-7 per group, so (this seed's) replicates' rates are (0, 1) or (1, 0), whose sample variance 1/2
// exceeds m (1 - m) = 1/4 (no pooling for both fits: the moment concentration m (1 - m) / v - 1 < 0,
// and ml's supremum at nu = 0), or (0, 0) and (1, 1), where the pooled rate is each group's own. So
// every fit's estimate is y_j / n_j: both partial poolings have no pooling's errors, bit for bit.
TEST(SimulateCounts, RatesOfOnlyZeroAndOneAreNoPoolingForBothFits)
{
  const auto r = shrink::simulate(binomial_study(2, 2, 0.5, 1e-6, 400));
  const auto& s = r.scenarios[0];
  const auto& none = row(s, estimator::no_pool);
  for (estimator e : {estimator::partial_pool, estimator::partial_pool_mom}) {
    EXPECT_EQ(row(s, e).mse, none.mse) << shrink::to_string(e);
    EXPECT_EQ(row(s, e).bias, none.bias) << shrink::to_string(e);
  }
  EXPECT_NE(row(s, estimator::complete_pool).mse, none.mse);
}

// One trial per group: P(y_j = 1) = m whatever the concentration, so ml has no estimate in any
// replicate. The study is refused with the words `shrink fit` refuses such data with.
TEST(SimulateCounts, OneTrialPerGroupIsNotIdentifiedAsInFit)
{
  for (const shrink::obs_range trials : {shrink::obs_range{1, 1}}) {
    simulate_options o = binomial_study(5, 1, 0.5, 1.0, 10);
    o.obs = {trials};
    try {
      shrink::simulate(o);
      ADD_FAILURE() << "a study of one trial per group was run";
    } catch (const shrink::error& e) {
      EXPECT_NE(std::string(e.what()).find("--trials: every group has one trial"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("not identified"), std::string::npos) << e.what();
    }
  }
  // Poisson exposures of 1 are fine: a count is not a single trial.
  simulate_options poisson = binomial_study(5, 1, 0.5, 1.0, 10);
  poisson.family = count_family::poisson;
  EXPECT_NO_THROW(shrink::simulate(poisson));
}

// Large means: the Monte Carlo errors against closed forms. E = 1, m = 1e6, shape s = 1e3,
// theta ~ Gamma(s, s / m); no pooling's error y - theta has E[(y - theta)^2] = E theta = m, and
// (y - theta)^2 has variance E[theta + 2 theta^2] + Var theta = m + (2 + 3/s) m^2 (Poisson central
// moments lambda and lambda + 3 lambda^2), so the replicate mean over J groups has mcse
// sqrt((m + (2 + 3/s) m^2) / (J R)).
TEST(SimulateCounts, LargeMeansMatchClosedFormMonteCarloErrors)
{
  simulate_options o = binomial_study(50, 1, 1e6, 1e3, 400);
  o.family = count_family::poisson;
  const auto r = shrink::simulate(o);
  const double m = 1e6, shape = 1e3, J = 50, R = 400;
  const auto& none = row(r.scenarios[0], estimator::no_pool);
  const double none_mcse = std::sqrt((m + (2 + 3 / shape) * m * m) / (J * R));
  // The sample sd over R replicates of a mean of J squared near-normal errors: relative error about
  // sqrt((kurtosis - 1) / (4 R)) with the replicate means' kurtosis ~3, so 20% is > 5 sd.
  EXPECT_NEAR(none.mse_mcse, none_mcse, 0.2 * none_mcse);
  EXPECT_NEAR(none.mse, m, 4 * none_mcse);
}

// --mean 1e100: a count's Poisson noise (~1e50) is far below the spacing of doubles there (~1e84),
// so the draws are rounding (y = theta) and the squares of the prior's spread (~1e94) overflowed the
// mse's Monte Carlo error to inf. No double result exists: the study is refused, at 2^53 and beyond
// (mean x exposure); LargeMeansMatchClosedFormMonteCarloErrors runs below.
TEST(SimulateCounts, CountsBeyondExactDoublesAreRefused)
{
  for (const auto& [mean, exposure] : {std::pair{1e100, 1.0}, {0x1p53, 1.0}, {0x1p43, 1024.0}}) {
    simulate_options o = binomial_study(10, 1, mean, 1e12, 10);
    o.family = count_family::poisson;
    o.obs = {shrink::obs_range{1, static_cast<std::int64_t>(exposure)}};
    try {
      shrink::simulate(o);
      ADD_FAILURE() << "a study at mean " << mean << " x exposure " << exposure << " was run";
    } catch (const shrink::error& e) {
      EXPECT_NE(std::string(e.what()).find("below 2^53"), std::string::npos) << e.what();
    }
  }
}

TEST(SimulateCounts, InvalidOptionsAreErrors)
{
  const auto fails = [](simulate_options o, const std::string& what) {
    try {
      shrink::simulate(o);
      ADD_FAILURE() << "no error for " << what;
    } catch (const shrink::error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  fails(binomial_study(10, 5, 1.0, 2, 10), "--mean");
  fails(binomial_study(10, 5, 0.0, 2, 10), "--mean");
  fails(binomial_study(10, 5, 0.5, -1, 10), "--concentration");
  fails(binomial_study(10, 5, 0.5, std::nan(""), 10), "--concentration");
  fails(binomial_study(1, 5, 0.5, 2, 10), "--groups");
  fails(binomial_study(10, 5, 0.5, 2, 1), "--replicates");
  simulate_options poisson = binomial_study(10, 5, 0.5, 2, 10);
  poisson.family = count_family::poisson;
  poisson.concentration = {0};
  fails(poisson, "--shape");
}

}  // namespace
