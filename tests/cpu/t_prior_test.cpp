// --prior t:NU: the per-group integrals against brute-force trapezoid integration over theta, and
// the fitted (mu, scale) against a brute-force marginal likelihood.

#include "common/t_prior.hpp"

#include <shrink/fit.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace {

using namespace shrink;
using detail::t_prior_params;

t_prior_params params(double mu, double s, double nu)
{
  t_prior_params p;
  p.mu = mu;
  p.scale = s;
  p.nu = nu;
  p.log_norm = std::lgamma((nu + 1) / 2) - std::lgamma(nu / 2) - 0.5 * std::log(nu * M_PI) - std::log(s);
  return p;
}

double t_density(double x, double mu, double s, double nu)
{
  const double z = (x - mu) / s;
  return std::exp(std::lgamma((nu + 1) / 2) - std::lgamma(nu / 2)) / (std::sqrt(nu * M_PI) * s) *
         std::pow(1 + z * z / nu, -(nu + 1) / 2);
}

struct brute {
  double log_marginal, mean, sd, q025, q975;
};

/// Trapezoid over [lo, hi] with n intervals: error O(h^2 f''), under 1e-9 relative for the
/// cases below (h at most 1/2000 of the narrower of sqrt(v) and s).
brute integrate(double ybar, double v, double mu, double s, double nu, double lo, double hi, int n)
{
  const double h = (hi - lo) / n;
  double Z = 0, M1 = 0, M2 = 0;
  std::vector<double> cdf(n + 1, 0.0);
  double prev = 0;
  for (int i = 0; i <= n; ++i) {
    const double x = lo + i * h;
    const double f = std::exp(-0.5 * (x - ybar) * (x - ybar) / v) / std::sqrt(2 * M_PI * v) * t_density(x, mu, s, nu);
    const double w = (i == 0 || i == n) ? h / 2 : h;
    Z += w * f, M1 += w * f * x, M2 += w * f * x * x;
    if (i > 0) cdf[i] = cdf[i - 1] + 0.5 * h * (f + prev);
    prev = f;
  }
  auto quantile = [&](double q) {
    for (int i = 1; i <= n; ++i)
      if (cdf[i] >= q * Z) return lo + h * (i - 1 + (q * Z - cdf[i - 1]) / (cdf[i] - cdf[i - 1]));
    return hi;
  };
  const double mean = M1 / Z;
  return {std::log(Z), mean, std::sqrt(M2 / Z - mean * mean), quantile(0.025), quantile(0.975)};
}

void expect_group_matches(double ybar, double v, double mu, double s, double nu)
{
  const double lo = std::min(ybar - 12 * std::sqrt(v), mu - 60 * s), hi = std::max(ybar + 12 * std::sqrt(v), mu + 60 * s);
  const int n = static_cast<int>(std::min(2e7, 2000 * (hi - lo) / std::min(std::sqrt(v), s)));
  const brute b = integrate(ybar, v, mu, s, nu, lo, hi, n);
  t_prior_params p = params(mu, s, nu);
  const detail::t_marginal_sums m = detail::t_marginal_sums::of(ybar, v, p);
  const detail::posterior r = detail::t_posterior_of(ybar, v, p);
  const double scale = std::sqrt(v);
  // 1e-7 of the likelihood's sd: the brute force's own error (trapezoid and linear CDF interpolation).
  EXPECT_NEAR(m.log_likelihood, b.log_marginal, 1e-7);
  EXPECT_EQ(m.unconverged, 0.0);
  EXPECT_NEAR(r.estimate, b.mean, 1e-7 * scale);
  EXPECT_NEAR(r.sd, b.sd, 1e-7 * scale);
  EXPECT_NEAR(r.lower, b.q025, 1e-5 * scale);
  EXPECT_NEAR(r.upper, b.q975, 1e-5 * scale);
}

TEST(TPrior, GroupIntegralsMatchBruteForce)
{
  expect_group_matches(1.0, 0.25, 0.0, 1.0, 4);    // comparable scales
  expect_group_matches(6.0, 0.25, 0.0, 0.5, 4);    // outlier: heavy tails leave it near ybar
  expect_group_matches(0.3, 4.0, 0.0, 0.05, 3);    // prior much sharper than the likelihood
  expect_group_matches(3.0, 0.01, 0.0, 0.02, 30);  // sharp prior off the likelihood's range, large nu
  expect_group_matches(-2.0, 1.0, 0.5, 10.0, 1);   // Cauchy prior, wide
}

TEST(TPrior, FittedLocationAndScaleMaximiseTheMarginalLikelihood)
{
  // Nine groups near 0 and one outlier at 8, unit-ish standard errors.
  const std::vector<double> y{-0.6, 0.3, 0.9, -1.1, 0.2, 0.5, -0.2, 1.4, -0.8, 8.0};
  const std::vector<double> se{0.5, 0.6, 0.5, 0.7, 0.4, 0.5, 0.6, 0.5, 0.6, 0.5};
  const double nu = 4;
  fit_options o;
  o.method = tau_method::reml;
  o.t_prior_df = nu;
  o.requested_backend = backend::cpu;
  const fit_result t = fit(summary_data_view{y.data(), se.data(), y.size(), 0.0}, o);
  o.t_prior_df.reset();
  const fit_result normal = fit(summary_data_view{y.data(), se.data(), y.size(), 0.0}, o);
  ASSERT_TRUE(t.t_scale.has_value());
  EXPECT_EQ(*t.t_df, nu);

  auto loglik = [&](double mu, double s) {
    double l = 0;
    for (std::size_t j = 0; j < y.size(); ++j) {
      const double v = se[j] * se[j];
      const double lo = std::min(y[j] - 12 * se[j], mu - 60 * s), hi = std::max(y[j] + 12 * se[j], mu + 60 * s);
      l += integrate(y[j], v, mu, s, nu, lo, hi, 200000).log_marginal;
    }
    return l;
  };
  const double mu = t.mu, s = *t.t_scale;
  const double l0 = loglik(mu, s);
  EXPECT_NEAR(*t.log_likelihood, l0, 1e-6);
  // A maximum: moving mu or s by 1% of the scale either way does not raise the brute-force
  // likelihood by more than its own error (1e-7 per group).
  const double d = 0.01 * s;
  for (double dm : {-d, d}) EXPECT_LE(loglik(mu + dm, s), l0 + 1e-6);
  for (double ds : {-d, d}) EXPECT_LE(loglik(mu, s + ds), l0 + 1e-6);
  // Heavy tails: the outlier keeps more of its own mean than under the normal prior, and the
  // others are pulled harder towards the centre that the outlier no longer drags.
  EXPECT_LT(t.shrinkage[9], normal.shrinkage[9]);
  EXPECT_GT(t.estimate[9], normal.estimate[9]);
  EXPECT_LT(std::fabs(t.mu), std::fabs(normal.mu));
}

TEST(TPrior, MuUncertaintyAndPredictionIntervalComeFromTheTModel)
{
  const std::vector<double> y{-0.6, 0.3, 0.9, -1.1, 0.2, 0.5, -0.2, 1.4, -0.8, 8.0};
  const std::vector<double> se{0.5, 0.6, 0.5, 0.7, 0.4, 0.5, 0.6, 0.5, 0.6, 0.5};
  const double nu = 4;
  fit_options o;
  o.method = tau_method::reml;
  o.t_prior_df = nu;
  o.requested_backend = backend::cpu;
  const fit_result t = fit(summary_data_view{y.data(), se.data(), y.size(), 0.0}, o);
  ASSERT_TRUE(t.t_scale.has_value());
  const double mu = t.mu, s = *t.t_scale;

  // mu_se: the observed information in mu of the brute-force marginal likelihood at the fitted
  // scale, by a central second difference. Step 0.05 mu_se: the difference (~1e-3) dwarfs the
  // trapezoid error (1e-9 per group, smooth in mu) and the O(h^2) truncation is ~1e-4 relative.
  auto loglik = [&](double m) {
    double l = 0;
    for (std::size_t j = 0; j < y.size(); ++j) {
      const double lo = std::min(y[j] - 12 * se[j], m - 60 * s), hi = std::max(y[j] + 12 * se[j], m + 60 * s);
      l += integrate(y[j], se[j] * se[j], m, s, nu, lo, hi, 200000).log_marginal;
    }
    return l;
  };
  const double h = 0.05 * t.mu_se;
  const double information = -(loglik(mu + h) - 2 * loglik(mu) + loglik(mu - h)) / (h * h);
  EXPECT_NEAR(t.mu_se, 1 / std::sqrt(information), 1e-3 * t.mu_se);
  const double z = 1.959963984540054;  // standard normal 0.975 quantile
  EXPECT_NEAR(t.mu_lower, mu - z * t.mu_se, 1e-12);
  EXPECT_NEAR(t.mu_upper, mu + z * t.mu_se, 1e-12);
  // A new group's theta ~ mu + s t_4: scipy.stats.t.ppf(0.975, 4) = 2.7764451051977934.
  EXPECT_NEAR(t.pred_lower, mu - 2.7764451051977934 * s, 1e-12 * s);
  EXPECT_NEAR(t.pred_upper, mu + 2.7764451051977934 * s, 1e-12 * s);
}

TEST(TPrior, NoCompletePoolingNoteFromTheNormalModel)
{
  // Means within sampling noise: the normal model's tau2 is 0, which does not make the t-prior
  // posteriors complete pooling, so its note is not given.
  const std::vector<double> y{0.30, 0.31, 0.29, 0.305, 0.295};
  const std::vector<double> se{0.1, 0.1, 0.1, 0.1, 0.1};
  fit_options o;
  o.method = tau_method::reml;
  o.requested_backend = backend::cpu;
  const fit_result normal = fit(summary_data_view{y.data(), se.data(), y.size(), 0.0}, o);
  ASSERT_EQ(normal.tau2, 0.0);
  auto mentions_pooling = [](const fit_result& r) {
    for (const std::string& n : r.notes)
      if (n.find("partial pooling equals complete pooling") != std::string::npos) return true;
    return false;
  };
  ASSERT_TRUE(mentions_pooling(normal));
  o.t_prior_df = 3;
  const fit_result t = fit(summary_data_view{y.data(), se.data(), y.size(), 0.0}, o);
  EXPECT_FALSE(mentions_pooling(t));
  // The t model's own interval for mu, centred on its mu.
  EXPECT_NEAR(0.5 * (t.mu_lower + t.mu_upper), t.mu, 1e-12);
  EXPECT_NEAR(0.5 * (t.pred_lower + t.pred_upper), t.mu, 1e-12);
}

}  // namespace
