// The fit against hand computations: B_j, V_j, intervals, James-Stein, the moment estimator,
// the limits tau -> 0 and tau -> inf, and bitwise reproducibility across thread counts.

#include "common/normal.hpp"

#include <shrink/error.hpp>
#include <shrink/fit.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace {

using namespace shrink;

fit_options cpu(tau_method m = tau_method::mom)
{
  fit_options o;
  o.method = m;
  o.requested_backend = backend::cpu;
  return o;
}

// Four groups with known se: every output computed by hand below.
struct four_groups {
  std::vector<double> y{1, 3, 6, 10};
  std::vector<double> se{1, 1, 2, 2};
  summary_data_view view() const { return {y.data(), se.data(), y.size(), 0.0}; }
};

TEST(Fit, MomentEstimatorAndPosteriorsByHand)
{
  const four_groups d;
  const fit_result r = fit(d.view(), cpu());
  // S^2 of y: mean 5, squares 16+4+1+25 = 46, /3; mean v = (1+1+4+4)/4 = 2.5.
  const double tau2 = 46.0 / 3 - 2.5;
  EXPECT_NEAR(r.tau2, tau2, 1e-14);
  double sw = 0, swy = 0;
  for (int j = 0; j < 4; ++j) {
    const double w = 1 / (d.se[j] * d.se[j] + tau2);
    sw += w;
    swy += w * d.y[j];
  }
  const double mu = swy / sw;
  EXPECT_NEAR(r.mu, mu, 1e-14);
  const double z = 1.959963984540054;  // Phi^-1(0.975)
  for (int j = 0; j < 4; ++j) {
    const double v = d.se[j] * d.se[j];
    const double B = v / (v + tau2);
    const double theta = d.y[j] + B * (mu - d.y[j]);
    const double V = v * (1 - B);
    EXPECT_NEAR(r.shrinkage[j], B, 1e-15);
    EXPECT_NEAR(r.estimate[j], theta, 1e-13);
    EXPECT_NEAR(r.sd[j], std::sqrt(V), 1e-14);
    EXPECT_NEAR(r.lower[j], theta - z * std::sqrt(V), 1e-13);
    EXPECT_NEAR(r.upper[j], theta + z * std::sqrt(V), 1e-13);
    EXPECT_EQ(r.se[j], d.se[j]);
    EXPECT_EQ(r.mean[j], d.y[j]);
  }
  // James-Stein: c = 1 - (J-3) mean(v) / sum (y - 5)^2 = 1 - 2.5/46, towards 5.
  ASSERT_TRUE(r.james_stein_c.has_value());
  EXPECT_NEAR(*r.james_stein_c, 1 - 2.5 / 46, 1e-15);
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(r.james_stein[j], 5 + (1 - 2.5 / 46) * (d.y[j] - 5), 1e-14);
  // Cochran's Q with w = 1/v: weighted mean (1+3+1.5+2.5)/(1+1+.25+.25) = 3.2.
  const double q = (1 - 3.2) * (1 - 3.2) + (3 - 3.2) * (3 - 3.2) + 0.25 * (6 - 3.2) * (6 - 3.2) + 0.25 * (10 - 3.2) * (10 - 3.2);
  EXPECT_NEAR(r.Q, q, 1e-13);
  EXPECT_NEAR(r.complete_pooling, 3.2, 1e-15);
  // metafor's I^2: s2 = (k-1) sum w / ((sum w)^2 - sum w^2) = 3 * 2.5 / (6.25 - 2.125).
  const double s2 = 3 * 2.5 / (6.25 - 2.125);
  EXPECT_NEAR(r.I2, 100 * tau2 / (tau2 + s2), 1e-12);
  EXPECT_NEAR(r.H2, (tau2 + s2) / s2, 1e-13);
}

TEST(Fit, IntervalLevelUsesTheNormalQuantile)
{
  const four_groups d;
  fit_options o = cpu(tau_method::fixed);
  o.tau = 1;
  o.level = 0.9;
  const fit_result r = fit(d.view(), o);
  for (int j = 0; j < 4; ++j)
    EXPECT_NEAR((r.upper[j] - r.lower[j]) / (2 * r.sd[j]), 1.6448536269514722, 1e-12);  // Phi^-1(0.95)
  EXPECT_NEAR(detail::normal_quantile(0.5), 0.0, 1e-16);
  EXPECT_NEAR(detail::normal_quantile(1e-10), -6.361340902404056, 1e-12);
  EXPECT_NEAR(detail::normal_quantile(0.999), 3.090232306167813, 1e-12);
}

TEST(Fit, TauToZeroIsCompletePoolingAndTauToInfinityIsNoPooling)
{
  const four_groups d;
  fit_options o = cpu(tau_method::fixed);
  o.tau = 0;
  fit_result r = fit(d.view(), o);
  for (int j = 0; j < 4; ++j) {
    EXPECT_EQ(r.shrinkage[j], 1.0);
    EXPECT_DOUBLE_EQ(r.estimate[j], r.complete_pooling);
    EXPECT_EQ(r.sd[j], 0.0);
  }
  o.tau = 1e8;
  r = fit(d.view(), o);
  for (int j = 0; j < 4; ++j) {
    EXPECT_LT(r.shrinkage[j], 1e-15);
    EXPECT_NEAR(r.estimate[j], d.y[j], 1e-14);
    EXPECT_NEAR(r.sd[j], d.se[j], 1e-14);
  }
}

TEST(Fit, RawModePoolsWithinGroupVarianceAndShrinksBySampleSize)
{
  // Group 0: {1,3} (mean 2, m2 2); group 1: {4,6,8} (mean 6, m2 8); group 2: {10} (mean 10).
  const std::vector<std::int32_t> g{0, 1, 0, 1, 2, 1};
  const std::vector<double> y{1, 4, 3, 6, 10, 8};
  const raw_data_view v{g.data(), y.data(), y.size(), 3, 0.0};
  const fit_result r = fit(v, cpu());
  const double sigma2 = (2.0 + 8.0) / (1 + 2);  // pooled over n_j - 1
  ASSERT_TRUE(r.sigma2.has_value());
  EXPECT_DOUBLE_EQ(*r.sigma2, sigma2);
  EXPECT_EQ(r.observations, 6);
  EXPECT_EQ(r.n, (std::vector<std::int64_t>{2, 3, 1}));
  const double vj[] = {sigma2 / 2, sigma2 / 3, sigma2};
  // S^2 of (2, 6, 10) = 16; mean v.
  const double tau2 = 16 - (vj[0] + vj[1] + vj[2]) / 3;
  EXPECT_NEAR(r.tau2, tau2, 1e-13);
  for (int j = 0; j < 3; ++j) {
    EXPECT_NEAR(r.se[j], std::sqrt(vj[j]), 1e-15);
    EXPECT_NEAR(r.shrinkage[j], vj[j] / (vj[j] + tau2), 1e-15);
  }
  EXPECT_TRUE(r.james_stein.empty());
  EXPECT_FALSE(r.james_stein_c.has_value());
  // ANOVA: grand mean 32/6; SS between = sum n_j (ybar_j - grand)^2.
  const double grand = 32.0 / 6;
  const double ssb = 2 * (2 - grand) * (2 - grand) + 3 * (6 - grand) * (6 - grand) + (10 - grand) * (10 - grand);
  ASSERT_TRUE(r.anova.has_value());
  EXPECT_NEAR(r.anova->ss_between, ssb, 1e-12);
  EXPECT_DOUBLE_EQ(r.anova->ss_within, 10);
  EXPECT_NEAR(r.anova->F, (ssb / 2) / (10.0 / 3), 1e-12);
  EXPECT_NEAR(r.complete_pooling, grand, 1e-14);
}

TEST(Fit, OffsetIsAddedToEveryLocationOutput)
{
  const four_groups d;
  std::vector<double> shifted = d.y;
  for (double& x : shifted) x -= 1e6;
  const summary_data_view v{shifted.data(), d.se.data(), 4, 1e6};
  const fit_result a = fit(d.view(), cpu());
  const fit_result b = fit(v, cpu());
  EXPECT_NEAR(b.mu, a.mu, 1e-9);
  EXPECT_NEAR(b.tau2, a.tau2, 1e-9 * a.tau2);  // Welford around a mean of -1e6 keeps ~11 digits
  for (int j = 0; j < 4; ++j) {
    EXPECT_NEAR(b.estimate[j], a.estimate[j], 1e-9);
    EXPECT_NEAR(b.james_stein[j], a.james_stein[j], 1e-9);
    EXPECT_EQ(b.mean[j], a.mean[j]);
  }
}

TEST(Fit, BitwiseIdenticalForAnyThreadCountAndRun)
{
  // 200k rows over 50k groups, unequal sizes, rows shuffled.
  std::mt19937_64 rng(7);
  std::normal_distribution<double> norm;
  const std::size_t J = 50000, N = 200000;
  std::vector<std::int32_t> g(N);
  std::vector<double> y(N);
  for (std::size_t i = 0; i < N; ++i) {
    g[i] = static_cast<std::int32_t>(rng() % J);
    y[i] = 3 + 0.5 * (g[i] % 17) + norm(rng);
  }
  for (std::size_t j = 0; j < J; ++j) g[j] = static_cast<std::int32_t>(j);  // every id appears
  const raw_data_view v{g.data(), y.data(), N, J, 0.0};
  fit_options o = cpu();
  o.threads = 1;
  const fit_result one = fit(v, o);
  for (int threads : {1, 2, 8}) {
    o.threads = threads;
    const fit_result r = fit(v, o);
    EXPECT_EQ(r.mu, one.mu);
    EXPECT_EQ(r.tau2, one.tau2);
    EXPECT_EQ(*r.sigma2, *one.sigma2);
    EXPECT_EQ(r.Q, one.Q);
    EXPECT_EQ(r.anova->ss_between, one.anova->ss_between);
    EXPECT_EQ(r.mean, one.mean);
    EXPECT_EQ(r.estimate, one.estimate);
    EXPECT_EQ(r.sd, one.sd);
    EXPECT_EQ(r.james_stein, one.james_stein);
  }
}

TEST(Fit, RejectsInvalidOptionsAndData)
{
  const four_groups d;
  fit_options o = cpu();
  o.level = 1.0;
  EXPECT_THROW(fit(d.view(), o), error);
  o = cpu(tau_method::fixed);
  o.tau = -1;
  EXPECT_THROW(fit(d.view(), o), error);
  std::vector<double> bad_se{1, 0, 1, 1};
  EXPECT_THROW(fit(summary_data_view{d.y.data(), bad_se.data(), 4, 0.0}, cpu()), error);
  // One group: tau cannot be estimated, but a fixed tau works.
  EXPECT_THROW(fit(summary_data_view{d.y.data(), d.se.data(), 1, 0.0}, cpu()), error);
  o = cpu(tau_method::fixed);
  o.tau = 2;
  const fit_result one = fit(summary_data_view{d.y.data(), d.se.data(), 1, 0.0}, o);
  EXPECT_DOUBLE_EQ(one.estimate[0], d.y[0]);  // mu_hat equals the only mean
  // Every group of size one and no --sigma: no within-group variance.
  const std::vector<std::int32_t> g{0, 1, 2};
  const std::vector<double> y{1, 2, 3};
  EXPECT_THROW(fit(raw_data_view{g.data(), y.data(), 3, 3, 0.0}, cpu()), error);
  o = cpu();
  o.sigma = 1;
  EXPECT_NO_THROW(fit(raw_data_view{g.data(), y.data(), 3, 3, 0.0}, o));
  // Values near the top of double: sums overflow, which is an error, not a NaN.
  const std::vector<std::int32_t> g2{0, 0, 1, 1};
  const std::vector<double> huge{1.7e308, -1.7e308, 1.7e308, -1.7e308};
  EXPECT_THROW(fit(raw_data_view{g2.data(), huge.data(), 4, 2, 0.0}, cpu()), error);
}

}  // namespace
