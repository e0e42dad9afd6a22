// The tau2 estimators against published values: metafor's BCG vaccine results (DL and REML:
// tau2, its se, mu, its se, I^2, H^2 and the 13 BLUPs) and BDA3's eight schools full-Bayes
// posterior (section 5.5, Table 5.3).

#include "test_support.hpp"

#include <shrink/fit.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

namespace {

using namespace shrink;

struct bcg_data {
  std::vector<double> yi, se;
};

// Log risk ratios and their variances recomputed from the 2x2 counts (REFERENCE.md).
bcg_data read_bcg_counts(const std::filesystem::path& file)
{
  bcg_data b;
  std::istringstream in(test::read_file(file));
  std::string line;
  std::getline(in, line);
  std::vector<std::string> names;
  {
    std::istringstream h(line);
    std::string f;
    while (std::getline(h, f, ',')) names.push_back(f);
  }
  auto col = [&](const char* n) { return std::find(names.begin(), names.end(), n) - names.begin(); };
  const auto tp = col("tpos"), tn = col("tneg"), cp = col("cpos"), cn = col("cneg");
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream s(line);
    std::string x;
    while (std::getline(s, x, ',')) f.push_back(x);
    const double a = std::stod(f[tp]), b_ = std::stod(f[tn]), c = std::stod(f[cp]), d = std::stod(f[cn]);
    b.yi.push_back(std::log((a / (a + b_)) / (c / (c + d))));
    b.se.push_back(std::sqrt(1 / a - 1 / (a + b_) + 1 / c - 1 / (c + d)));
  }
  return b;
}

fit_result fit_bcg(tau_method m)
{
  const bcg_data b = read_bcg_counts(test::reference_data() / "metafor" / "dat.bcg.csv");
  fit_options o;
  o.method = m;
  o.requested_backend = backend::cpu;
  return fit(summary_data_view{b.yi.data(), b.se.data(), b.yi.size(), 0.0}, o);
}

// metafor prints 4 decimals: a match "to the printed digits" is within half a unit of the last.
constexpr double half_4dp = 0.00005;
constexpr double half_2dp = 0.005;

#define REQUIRE_BCG()                                                                   \
  const auto bcg_file = test::reference_data() / "metafor" / "dat.bcg.csv";                  \
  if (!std::filesystem::exists(bcg_file)) FAIL() << "reference data missing (tests/data or $SHRINK_REFERENCE_DATA): " << bcg_file

TEST(BcgPublished, DerSimonianLaird)
{
  REQUIRE_BCG();
  const fit_result r = fit_bcg(tau_method::dl);
  EXPECT_NEAR(r.tau2, 0.3088, half_4dp);
  EXPECT_NEAR(r.mu, -0.7141, half_4dp);
  EXPECT_NEAR(r.I2, 92.12, half_2dp);
  EXPECT_NEAR(r.mu_lower, -1.0644, half_4dp);
  EXPECT_NEAR(r.mu_upper, -0.3638, half_4dp);
}

TEST(BcgPublished, RestrictedMaximumLikelihoodAndBlups)
{
  REQUIRE_BCG();
  const fit_result r = fit_bcg(tau_method::reml);
  EXPECT_NEAR(r.tau2, 0.3132, half_4dp);
  ASSERT_TRUE(r.tau2_se.has_value());
  EXPECT_NEAR(*r.tau2_se, 0.1664, half_4dp);
  EXPECT_NEAR(r.mu, -0.7145, half_4dp);
  EXPECT_NEAR(r.mu_se, 0.1798, half_4dp);
  EXPECT_NEAR(r.I2, 92.22, half_2dp);
  EXPECT_NEAR(r.H2, 12.86, half_2dp);
  const double blup[13] = {-0.0857, -0.5372, -0.2724, -0.6834, 0.4272, -0.0700, -0.5294,
                           0.7174,  0.2077,  -0.5326, 0.3609,  0.4298, 0.5678};
  ASSERT_EQ(r.estimate.size(), 13u);
  for (int j = 0; j < 13; ++j) EXPECT_NEAR(r.estimate[j] - r.mu, blup[j], half_4dp) << "trial " << j + 1;
}

// Eight schools, BDA3 section 5.5: uniform prior on tau, flat prior on mu. BDA3 Table 5.3 gives
// quantiles of 200 posterior draws, rounded to integers. A quantile of 200 draws has Monte Carlo
// sd sqrt(p (1-p) / 200) / f(q); for the posterior of theta_j (sd s_j near 8-11) that is about
// 0.09 s_j at the median and 0.2 s_j at 2.5% / 97.5% (normal shape; the tails here are heavier).
// The bounds below are 3.5 such sds plus the 0.5 of rounding. Only the median and quartiles are
// compared: a 2.5% or 97.5% quantile of 200 draws from these heavy-tailed posteriors is too noisy
// to test against (the exact quantiles are checked by brute force below instead).
struct bda_row {
  double q025, q25, q50, q75, q975;
};
const bda_row table_5_3[8] = {{-2, 7, 10, 16, 31}, {-5, 3, 8, 12, 23}, {-11, 2, 7, 11, 19}, {-7, 4, 8, 11, 21},
                              {-9, 1, 5, 10, 18},  {-7, 2, 6, 10, 28}, {-1, 7, 10, 15, 26}, {-6, 3, 8, 13, 33}};
const double y8[8] = {28, 8, -3, 7, -1, 1, 18, 12};
const double s8[8] = {15, 10, 16, 11, 9, 11, 10, 18};

fit_result fit_schools(double level, tau_prior prior = {})
{
  fit_options o;
  o.method = tau_method::bayes;
  o.prior_tau = prior;
  o.level = level;
  o.requested_backend = backend::cpu;
  return fit(summary_data_view{y8, s8, 8, 0.0}, o);
}

TEST(EightSchoolsBayes, MatchesBda3Table53)
{
  const fit_result r95 = fit_schools(0.95), r50 = fit_schools(0.5), r0 = fit_schools(1e-9);
  for (int j = 0; j < 8; ++j) {
    const double s = r95.sd[j];
    const double centre = 3.5 * 0.09 * s * 1.25 + 0.5;
    EXPECT_NEAR(r0.lower[j], table_5_3[j].q50, centre) << "school " << j;
    EXPECT_NEAR(r50.lower[j], table_5_3[j].q25, centre * 1.2) << "school " << j;
    EXPECT_NEAR(r50.upper[j], table_5_3[j].q75, centre * 1.2) << "school " << j;
  }
  // Table 5.3's last rows: mu (-2, 5, 8, 11, 18) and tau (0.3, 2.3, 5.1, 8.8, 21).
  ASSERT_TRUE(r0.tau_post.has_value());
  EXPECT_NEAR(r0.tau_post->median, 5.1, 1.5);
  EXPECT_NEAR(r50.tau_post->lower, 2.3, 1.0);
  EXPECT_NEAR(r50.tau_post->upper, 8.8, 1.5);
  EXPECT_NEAR(r0.mu_lower, 8, 1.5);
  EXPECT_NEAR(r50.mu_lower, 5, 1.5);
  EXPECT_NEAR(r50.mu_upper, 11, 1.5);
}

// The same posterior by brute force: p(tau | y) on a uniform grid of 400001 points on [0, 2000]
// by the trapezoid rule (error O(h^2) ~ 1e-7 relative here; the mass beyond tau = 2000 is below
// (2000 / 10)^-6 ~ 1e-14 of the total since p(tau | y) falls as tau^-7), theta_j's moments from
// the conditional normal posteriors. Tolerance 1e-6 relative covers the trapezoid error.
TEST(EightSchoolsBayes, AgreesWithBruteForceIntegration)
{
  const int n = 400000;
  const double top = 2000, h = top / n;
  std::vector<double> lp(n + 1), mus(n + 1), vmus(n + 1);
  for (int i = 0; i <= n; ++i) {
    const double t2 = (i * h) * (i * h);
    double sw = 0, swy = 0, slog = 0;
    for (int j = 0; j < 8; ++j) {
      const double w = 1 / (s8[j] * s8[j] + t2);
      sw += w, swy += w * y8[j], slog += std::log(w);
    }
    const double mu = swy / sw;
    double q = 0;
    for (int j = 0; j < 8; ++j) q += (y8[j] - mu) * (y8[j] - mu) / (s8[j] * s8[j] + t2);
    lp[i] = 0.5 * slog - 0.5 * std::log(sw) - 0.5 * q;
    mus[i] = mu, vmus[i] = 1 / sw;
  }
  const double ref = *std::max_element(lp.begin(), lp.end());
  double Z = 0, tau_mean = 0;
  std::vector<double> th_mean(8, 0), th_m2(8, 0);
  for (int i = 0; i <= n; ++i) {
    const double w = std::exp(lp[i] - ref) * ((i == 0 || i == n) ? h / 2 : h);
    const double t2 = (i * h) * (i * h);
    Z += w;
    tau_mean += w * i * h;
    for (int j = 0; j < 8; ++j) {
      const double v = s8[j] * s8[j], b = v / (v + t2);
      const double m = y8[j] + b * (mus[i] - y8[j]);
      const double var = v * t2 / (v + t2) + b * b * vmus[i];
      th_mean[j] += w * m;
      th_m2[j] += w * (var + m * m);
    }
  }
  const fit_result r = fit_schools(0.95);
  constexpr double rel = 1e-6;
  EXPECT_NEAR(r.tau_post->mean, tau_mean / Z, rel * tau_mean / Z);
  for (int j = 0; j < 8; ++j) {
    const double m = th_mean[j] / Z, sd = std::sqrt(th_m2[j] / Z - m * m);
    EXPECT_NEAR(r.estimate[j], m, rel * std::fabs(m) + 1e-9) << "school " << j;
    EXPECT_NEAR(r.sd[j], sd, rel * sd) << "school " << j;
  }
}

TEST(EightSchoolsBayes, ProperPriorsAndImproperCases)
{
  // Half-Cauchy(25) (Gelman 2006): the posterior of tau concentrates lower than under the uniform prior.
  tau_prior hc;
  hc.type = tau_prior::kind::half_cauchy;
  hc.scale = 25;
  const fit_result u = fit_schools(0.95), c = fit_schools(0.95, hc);
  EXPECT_LT(c.tau_post->median, u.tau_post->median);
  EXPECT_GT(c.tau_post->median, 0);
  // Uniform prior on tau with J = 2: improper posterior, refused.
  fit_options o;
  o.method = tau_method::bayes;
  o.requested_backend = backend::cpu;
  EXPECT_THROW(fit(summary_data_view{y8, s8, 2, 0.0}, o), std::exception);
}

}  // namespace
