// The count families' samplers (src/common/count_samplers.hpp) against their exact laws:
// chi-square goodness of fit of the binomial and Poisson draws to their pmfs (closed forms, with
// std::lgamma: independent of the project's special functions) on both sides of the switch from
// inversion to rejection, and of the gamma and beta draws to R's deciles (tests/data/
// count_samplers_quantiles.csv from count_samplers_quantiles.R), plus their means and variances.
// The draws are a pure function of the seed, so each test is deterministic; the thresholds are the
// chi-square's 1 - 1e-6 quantiles, so a correct sampler passes with that margin and a wrong one
// (a pmf off by ~1% at 2e5 draws) fails.

#include "common/count_samplers.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace {

namespace d = shrink::detail;
namespace sim = shrink::detail::sim;

constexpr int draws = 200000;

d::philox_stream stream_of(std::uint64_t draw, d::purpose p) { return d::make_stream(12345, 77, draw, 3, p); }

/// P(chi2_df > x) <= 1e-6 threshold by Wilson-Hilferty (z = 4.753): accurate to a few percent for df >= 3.
double chi_square_threshold(int df)
{
  const double v = 2.0 / (9.0 * df);
  const double c = 1 - v + 4.753 * std::sqrt(v);
  return df * c * c * c;
}

/// Pearson's statistic of counts against expected frequencies, merging the tails (and any cell)
/// until every merged cell expects at least 5; returns (statistic, degrees of freedom).
std::pair<double, int> pearson(const std::vector<double>& observed, const std::vector<double>& expected)
{
  double stat = 0, o = 0, e = 0;
  int cells = 0;
  for (std::size_t k = 0; k < observed.size(); ++k) {
    o += observed[k];
    e += expected[k];
    if (e >= 5 || k + 1 == observed.size()) {
      stat += (o - e) * (o - e) / e;
      ++cells;
      o = e = 0;
    }
  }
  return {stat, cells - 1};
}

/// Draws `draws` values of a discrete sampler and tests them against pmf(k), k = 0..kmax (the
/// tail beyond kmax merged into the last cell).
void check_discrete(const std::function<double(std::uint64_t)>& draw, const std::function<double(double)>& log_pmf,
                    int kmax, double mean, double variance)
{
  std::vector<double> observed(static_cast<std::size_t>(kmax) + 1, 0.0), expected(observed.size(), 0.0);
  double sum = 0, sum2 = 0;
  for (int i = 0; i < draws; ++i) {
    const double k = draw(static_cast<std::uint64_t>(i));
    ASSERT_EQ(k, std::floor(k));
    ASSERT_GE(k, 0);
    observed[static_cast<std::size_t>(std::min<double>(k, kmax))] += 1;
    sum += k;
    sum2 += k * k;
  }
  double below = 0;
  for (int k = 0; k < kmax; ++k) {
    expected[static_cast<std::size_t>(k)] = draws * std::exp(log_pmf(k));
    below += expected[static_cast<std::size_t>(k)];
  }
  expected[static_cast<std::size_t>(kmax)] = draws - below;
  const auto [stat, df] = pearson(observed, expected);
  EXPECT_LT(stat, chi_square_threshold(df)) << "df " << df;
  // Means within 5 standard errors; variances within 5 (their se ~ variance sqrt(2 / draws)).
  const double m = sum / draws, v = sum2 / draws - m * m;
  EXPECT_NEAR(m, mean, 5 * std::sqrt(variance / draws));
  EXPECT_NEAR(v, variance, 5 * variance * std::sqrt(3.0 / draws) + 1e-12);
}

double log_binomial_pmf(double n, double p, double k)
{
  return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1) + k * std::log(p) + (n - k) * std::log1p(-p);
}

double log_poisson_pmf(double mean, double k) { return k * std::log(mean) - mean - std::lgamma(k + 1); }

struct binomial_case {
  double n, p;
};

class BinomialSampler : public ::testing::TestWithParam<binomial_case> {};

TEST_P(BinomialSampler, MatchesThePmf)
{
  const auto [n, p] = GetParam();
  const int kmax = static_cast<int>(std::min(n, n * p + 8 * std::sqrt(n * p * (1 - p)) + 10));
  check_discrete([&](std::uint64_t i) { return sim::binomial_draw(n, p, stream_of(i, d::purpose::counts)); },
                 [&](double k) { return log_binomial_pmf(n, p, k); }, kmax, n * p, n * p * (1 - p));
}

// Inversion (n p < 10), BTRS (n p >= 10), the reflection p > 1/2 of each, a large n.
INSTANTIATE_TEST_SUITE_P(Cases, BinomialSampler,
                         ::testing::Values(binomial_case{1, 0.3}, binomial_case{20, 0.1}, binomial_case{30, 0.9},
                                           binomial_case{100, 0.099}, binomial_case{100, 0.5}, binomial_case{40, 0.75},
                                           binomial_case{1000, 0.3}, binomial_case{100000, 0.02}));

class PoissonSampler : public ::testing::TestWithParam<double> {};

TEST_P(PoissonSampler, MatchesThePmf)
{
  const double mean = GetParam();
  const int kmax = static_cast<int>(mean + 8 * std::sqrt(mean) + 10);
  check_discrete([&](std::uint64_t i) { return sim::poisson_draw(mean, stream_of(i, d::purpose::counts)); },
                 [&](double k) { return log_poisson_pmf(mean, k); }, kmax, mean, mean);
}

// Inversion below 10, PTRS from 10.
INSTANTIATE_TEST_SUITE_P(Cases, PoissonSampler, ::testing::Values(0.01, 0.7, 3.5, 9.99, 10.0, 47.3, 20000.0));

TEST(CountSamplers, DegenerateArguments)
{
  const d::philox_stream s = stream_of(0, d::purpose::counts);
  EXPECT_EQ(sim::binomial_draw(10, 0, s), 0);
  EXPECT_EQ(sim::binomial_draw(10, 1, s), 10);
  EXPECT_EQ(sim::binomial_draw(0, 0.5, s), 0);
  EXPECT_EQ(sim::poisson_draw(0, s), 0);
}

/// R's deciles (tests/data/count_samplers_quantiles.csv), by (distribution, a, b).
std::map<std::string, std::vector<double>> deciles()
{
  std::ifstream in(shrink::test::reference_data() / "count_samplers_quantiles.csv");
  EXPECT_TRUE(in.good()) << "tests/data/count_samplers_quantiles.csv is missing";
  std::map<std::string, std::vector<double>> out;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::size_t start = 0;
    for (std::size_t comma; (comma = line.find(',', start)) != std::string::npos; start = comma + 1)
      f.push_back(line.substr(start, comma - start));
    f.push_back(line.substr(start));
    const std::string key = f[0] + ":" + std::to_string(std::stod(f[1])) + ":" + std::to_string(std::stod(f[2]));
    out[key].push_back(std::stod(f[4]));
  }
  return out;
}

/// Draws into the ten decile bins: each expects a tenth.
void check_deciles(const std::vector<double>& q, const std::function<double(std::uint64_t)>& draw, double mean,
                   double variance)
{
  ASSERT_EQ(q.size(), 9u);
  std::vector<double> observed(10, 0.0), expected(10, draws / 10.0);
  double sum = 0, sum2 = 0;
  for (int i = 0; i < draws; ++i) {
    const double x = draw(static_cast<std::uint64_t>(i));
    ASSERT_TRUE(std::isfinite(x));
    std::size_t bin = 0;
    while (bin < 9 && x > q[bin]) ++bin;
    observed[bin] += 1;
    sum += x;
    sum2 += x * x;
  }
  const auto [stat, df] = pearson(observed, expected);
  EXPECT_EQ(df, 9);
  EXPECT_LT(stat, chi_square_threshold(df));
  const double m = sum / draws;
  EXPECT_NEAR(m, mean, 5 * std::sqrt(variance / draws));
  EXPECT_NEAR(sum2 / draws - m * m, variance, 0.05 * variance);
}

TEST(CountSamplers, GammaMatchesRsDeciles)
{
  const auto table = deciles();
  for (double shape : {0.05, 0.3, 1.0, 2.5, 50.0}) {
    SCOPED_TRACE(shape);
    const auto it = table.find("gamma:" + std::to_string(shape) + ":" + std::to_string(1.0));
    ASSERT_NE(it, table.end());
    check_deciles(it->second,
                  [&](std::uint64_t i) {
                    return d::portable_exp(sim::log_standard_gamma(shape, stream_of(i, d::purpose::prior_a)));
                  },
                  shape, shape);
  }
}

TEST(CountSamplers, BetaMatchesRsDeciles)
{
  const auto table = deciles();
  const std::pair<double, double> cases[] = {{0.2, 0.7}, {2, 1}, {5, 45}, {300, 700}};
  for (const auto& [a, b] : cases) {
    SCOPED_TRACE(a);
    const auto it = table.find("beta:" + std::to_string(a) + ":" + std::to_string(b));
    ASSERT_NE(it, table.end());
    const double s = a + b;
    check_deciles(it->second,
                  [&](std::uint64_t i) {
                    return sim::beta_draw(a, b, stream_of(i, d::purpose::prior_a), stream_of(i, d::purpose::prior_b));
                  },
                  a / s, a * b / (s * s * (s + 1)));
  }
}

// A tiny shape's draws underflow on the linear scale but not on the log scale: the beta stays in [0, 1].
TEST(CountSamplers, TinyShapesStayInRange)
{
  for (std::uint64_t i = 0; i < 1000; ++i) {
    const double t = sim::beta_draw(1e-3, 1e-3, stream_of(i, d::purpose::prior_a), stream_of(i, d::purpose::prior_b));
    ASSERT_GE(t, 0.0);
    ASSERT_LE(t, 1.0);
    ASSERT_TRUE(std::isfinite(sim::log_standard_gamma(1e-3, stream_of(i, d::purpose::prior_a))));
  }
}

}  // namespace
