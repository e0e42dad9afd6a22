// Raw mode ml/reml: sigma2 and tau2 of y_ij = mu + b_j + e_ij fitted jointly. The truth is the
// textbook likelihood evaluated on the full N x N covariance V = sigma2 I + tau2 Z Z' (Cholesky,
// no group-summary algebra), maximised by brute-force grid search over (sigma2, tau2).

#include <shrink/fit.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace {

using namespace shrink;

struct data {
  std::vector<std::int32_t> g;
  std::vector<double> y;
  std::size_t groups = 0;
};

data make_data()
{
  // Unequal group sizes 1..7 (one singleton), 6 groups, N = 26.
  data d;
  const int sizes[6] = {3, 7, 1, 5, 2, 8};
  std::mt19937_64 rng(7);
  std::normal_distribution<double> z;
  for (int j = 0; j < 6; ++j) {
    const double b = 1.5 * z(rng);
    for (int i = 0; i < sizes[j]; ++i) {
      d.g.push_back(j);
      d.y.push_back(10 + b + z(rng));
    }
  }
  d.groups = 6;
  return d;
}

/// -2 log L (ML) or -2 log L_R (REML) from the dense covariance, mu profiled by GLS.
double deviance(const data& d, double sigma2, double tau2, bool reml)
{
  const std::size_t n = d.y.size();
  std::vector<std::vector<double>> L(n, std::vector<double>(n, 0.0));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) L[i][j] = (i == j ? sigma2 : 0.0) + (d.g[i] == d.g[j] ? tau2 : 0.0);
  // In-place Cholesky, V = L L'.
  double logdet = 0;
  for (std::size_t j = 0; j < n; ++j) {
    double s = L[j][j];
    for (std::size_t k = 0; k < j; ++k) s -= L[j][k] * L[j][k];
    L[j][j] = std::sqrt(s);
    logdet += 2 * std::log(L[j][j]);
    for (std::size_t i = j + 1; i < n; ++i) {
      double t = L[i][j];
      for (std::size_t k = 0; k < j; ++k) t -= L[i][k] * L[j][k];
      L[i][j] = t / L[j][j];
    }
  }
  auto solve_lower = [&](std::vector<double> b) {
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t k = 0; k < i; ++k) b[i] -= L[i][k] * b[k];
      b[i] /= L[i][i];
    }
    return b;
  };
  const std::vector<double> ly = solve_lower(d.y), l1 = solve_lower(std::vector<double>(n, 1.0));
  double xx = 0, xy = 0;
  for (std::size_t i = 0; i < n; ++i) xx += l1[i] * l1[i], xy += l1[i] * ly[i];
  const double mu = xy / xx;
  double rss = 0;
  for (std::size_t i = 0; i < n; ++i) rss += (ly[i] - mu * l1[i]) * (ly[i] - mu * l1[i]);
  const double p = reml ? 1.0 : 0.0;
  return (static_cast<double>(n) - p) * std::log(2 * M_PI) + logdet + rss + (reml ? std::log(xx) : 0.0);
}

/// Minimiser over (sigma2, tau2) in a box: a 41 x 41 grid, zoomed around the best point.
std::pair<double, double> grid_argmin(const std::function<double(double, double)>& f, double s_lo, double s_hi,
                                      double t_lo, double t_hi)
{
  double bs = s_lo, bt = t_lo;
  for (int zoom = 0; zoom < 40; ++zoom) {
    double fb = HUGE_VAL;
    for (int i = 0; i <= 40; ++i)
      for (int j = 0; j <= 40; ++j) {
        const double s = s_lo + (s_hi - s_lo) * i / 40, t = t_lo + (t_hi - t_lo) * j / 40;
        const double v = f(s, t);
        if (v < fb) fb = v, bs = s, bt = t;
      }
    const double ds = (s_hi - s_lo) / 40 * 3, dt = (t_hi - t_lo) / 40 * 3;
    s_lo = std::max(1e-9, bs - ds), s_hi = bs + ds;
    t_lo = std::max(0.0, bt - dt), t_hi = bt + dt;
  }
  return {bs, bt};
}

fit_result fit_raw(const data& d, tau_method m)
{
  fit_options o;
  o.method = m;
  o.requested_backend = backend::cpu;
  return fit(raw_data_view{d.g.data(), d.y.data(), d.y.size(), d.groups, 0.0}, o);
}

// The grid's argmin of a smooth minimum is fixed only to ~sqrt(eps |dev| / curvature) relative,
// about 1e-7 here (|dev| ~ 80, curvature ~ N / sigma2^2): we compare at 1e-6 relative and check
// that the library's point attains a deviance at least as low (to rounding).
constexpr double rel_tol = 1e-6;

TEST(RandomIntercept, RemlMatchesDenseLikelihoodWithUnequalGroups)
{
  const data d = make_data();
  const auto [s2, t2] = grid_argmin([&](double s, double t) { return deviance(d, s, t, true); }, 0.05, 10, 0, 20);
  const fit_result r = fit_raw(d, tau_method::reml);
  ASSERT_TRUE(r.sigma2.has_value());
  EXPECT_NEAR(*r.sigma2, s2, rel_tol * s2);
  EXPECT_NEAR(r.tau2, t2, rel_tol * t2);
  EXPECT_LE(deviance(d, *r.sigma2, r.tau2, true), deviance(d, s2, t2, true) + 1e-11);
  ASSERT_TRUE(r.sigma2_pooled.has_value());
  EXPECT_NE(*r.sigma2_pooled, *r.sigma2);  // unequal n_j: the joint fit differs from the pooled variance
  ASSERT_TRUE(r.log_likelihood.has_value());
  EXPECT_NEAR(*r.log_likelihood, -0.5 * deviance(d, *r.sigma2, r.tau2, true), 1e-9);
}

TEST(RandomIntercept, MlMatchesDenseLikelihoodWithUnequalGroups)
{
  const data d = make_data();
  const auto [s2, t2] = grid_argmin([&](double s, double t) { return deviance(d, s, t, false); }, 0.05, 10, 0, 20);
  const fit_result r = fit_raw(d, tau_method::ml);
  EXPECT_NEAR(*r.sigma2, s2, rel_tol * s2);
  EXPECT_NEAR(r.tau2, t2, rel_tol * t2);
  EXPECT_LE(deviance(d, *r.sigma2, r.tau2, false), deviance(d, s2, t2, false) + 1e-11);
  EXPECT_NEAR(*r.log_likelihood, -0.5 * deviance(d, *r.sigma2, r.tau2, false), 1e-9);
}

TEST(RandomIntercept, KnownSigmaUsesTheSummaryLevelLikelihood)
{
  // With --sigma given the within-group part is constant: REML over tau2 alone, v_j = sigma2 / n_j.
  const data d = make_data();
  fit_options o;
  o.method = tau_method::reml;
  o.sigma = 1.0;
  o.threshold = 1e-12;
  o.requested_backend = backend::cpu;
  const fit_result r = fit(raw_data_view{d.g.data(), d.y.data(), d.y.size(), d.groups, 0.0}, o);
  EXPECT_FALSE(r.sigma2_pooled.has_value());
  EXPECT_EQ(*r.sigma2, 1.0);
  double best = 0, fb = HUGE_VAL;
  for (int i = 0; i <= 200000; ++i) {
    const double t = 20.0 * i / 200000;
    const double f = deviance(d, 1.0, t, true);
    if (f < fb) fb = f, best = t;
  }
  EXPECT_NEAR(r.tau2, best, 2e-4);  // grid spacing 1e-4
}

}  // namespace
