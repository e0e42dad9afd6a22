// Statistics of the fit and of simulation studies against independent truths: interval coverage
// with an estimated sigma (Monte Carlo, within 3 MCSE of the nominal level), Student-t quantiles
// (closed forms, long-double integration, the Cornish-Fisher limit), redrawn designs (the oracle's
// risk as an exact expectation), the Monte Carlo errors of tau_hat (across independent studies),
// the random-intercept tau2 standard error (dense long-double information matrices, Searle's
// balanced closed form), full Bayes with 3 and 4 groups (long-double quadrature), the normal limit
// of the t prior, messages for extreme inputs, thread limits and huge batches.
//
// Statistical checks use fixed seeds; each tolerance is 3 MCSE (or a stated multiple) of the
// quantity checked, so a correct implementation fails one with probability below 0.3% at the time
// the seed was chosen, while each bug these tests guard against is off by 10 MCSE or more.

#include "api/numerics.hpp"
#include "api/simulate_backend.hpp"
#include "common/moments.hpp"
#include "common/posterior.hpp"
#include "common/student_t.hpp"
#include "common/t_prior.hpp"
#include "cpu/parallel.hpp"
#include "test_support.hpp"

#include <shrink/error.hpp>
#include <shrink/fit.hpp>
#include <shrink/simulate.hpp>

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace shrink;
namespace d = shrink::detail;
using ld = long double;

const estimator_performance& row(const scenario_result& s, estimator e) { return s.estimators.at(static_cast<std::size_t>(e)); }

simulate_options study(std::int64_t J, obs_range n, double tau, std::uint64_t R, std::uint64_t seed)
{
  simulate_options o;
  o.groups = {J};
  o.obs = {n};
  o.sigma = {1.0};
  o.tau = {tau};
  o.mu = 0.0;
  o.replicates = R;
  o.seed = seed;
  o.requested_backend = backend::cpu;
  return o;
}

// ---------------------------------------------------------------------------------------------
// Student-t quantiles

/// Nodes and weights of n-point Gauss-Legendre on [-1, 1], in long double (Newton on P_n).
void gauss_legendre_nodes(int n, std::vector<ld>& x, std::vector<ld>& w)
{
  x.assign(n, 0);
  w.assign(n, 0);
  const ld pi = 3.141592653589793238462643383279502884L;
  for (int i = 0; i < n; ++i) {
    ld z = std::cos(pi * (i + 0.75L) / (n + 0.5L));
    for (int it = 0; it < 100; ++it) {
      ld p0 = 1, p1 = z;
      for (int k = 2; k <= n; ++k) {
        const ld p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      const ld dp = n * (z * p1 - p0) / (z * z - 1);
      const ld step = p1 / dp;
      z -= step;
      if (std::fabs(step) < 1e-19L) break;
    }
    ld p0 = 1, p1 = z;
    for (int k = 2; k <= n; ++k) {
      const ld p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
      p0 = p1;
      p1 = p2;
    }
    const ld dp = n * (z * p1 - p0) / (z * z - 1);
    x[i] = z;
    w[i] = 2 / ((1 - z * z) * dp * dp);
  }
}

/// Integral of f over [a, b] by `panels` panels of 20-point Gauss-Legendre, in long double.
template <class F>
ld integrate(F&& f, ld a, ld b, int panels)
{
  static std::vector<ld> x, w;
  if (x.empty()) gauss_legendre_nodes(20, x, w);
  ld sum = 0;
  const ld h = (b - a) / panels;
  for (int k = 0; k < panels; ++k) {
    const ld lo = a + k * h, c = lo + h / 2;
    for (std::size_t i = 0; i < x.size(); ++i) sum += w[i] * (h / 2) * f(c + (h / 2) * x[i]);
  }
  return sum;
}

/// P(T > t) = integral_t^inf f / (2 integral_0^inf f) for the unnormalised t density f (no
/// lgamma: its long-double rounding would show at large nu), with s = t + x / (1 - x).
ld t_tail_by_quadrature(double t, double nu)
{
  const ld n = nu;
  auto tail_from = [&](ld t0) {
    auto f = [&](ld x) {
      const ld s = t0 + x / (1 - x);
      return std::exp(-(n + 1) / 2 * std::log1p(s * s / n)) / ((1 - x) * (1 - x));
    };
    return integrate(f, 0.0L, 1.0L, 4000);
  };
  return tail_from(t) / (2 * tail_from(0));
}

TEST(StudentT, QuantilesMatchClosedFormsAtOneTwoAndFourDegreesOfFreedom)
{
  // Closed forms in the upper tail q = 1 - p (exact in q, where p = 1 - q would round).
  for (double q : {0.4, 0.1, 0.05, 0.025, 0.005, 1e-7}) {
    const double p = 1 - q;
    // nu = 1 (Cauchy): tan(pi (p - 1/2)) = 1 / tan(pi q).
    const double t1 = 1 / std::tan(M_PI * q);
    EXPECT_NEAR(d::student_t_upper_quantile(q, 1.0), t1, 1e-13 * t1) << q;
    // nu = 2: (2p - 1) / sqrt(2 p (1 - p)).
    const double t2 = (1 - 2 * q) / std::sqrt(2 * q * (1 - q));
    EXPECT_NEAR(d::student_t_upper_quantile(q, 2.0), t2, 1e-13 * t2) << q;
    // nu = 4: 2 sqrt(k - 1), k = cos(acos(sqrt(a)) / 3) / sqrt(a), a = 4 p (1 - p).
    const double a = 4 * q * (1 - q);
    const double k = std::cos(std::acos(std::sqrt(a)) / 3) / std::sqrt(a);
    const double t4 = 2 * std::sqrt(k - 1);
    EXPECT_NEAR(d::student_t_upper_quantile(q, 4.0), t4, 1e-12 * t4) << q;
    (void)p;
  }
}

TEST(StudentT, TailsAtTheirQuantilesAgreeWithLongDoubleIntegration)
{
  // Moderate and large nu, where the incomplete-gamma series and both continued fractions serve.
  for (double nu : {6.0, 75.0, 199.0, 250.0, 4000.0, 65000.0, 1e6}) {
    for (double q : {0.025, 0.005, 1e-6}) {
      const double t = d::student_t_upper_quantile(q, nu);
      const ld tail = t_tail_by_quadrature(t, nu);
      EXPECT_NEAR(static_cast<double>(tail / q), 1.0, 2e-13) << "nu " << nu << " q " << q;
      EXPECT_NEAR(d::student_t_upper_tail(t, nu), static_cast<double>(tail), 2e-13 * q) << "nu " << nu;
    }
  }
}

TEST(StudentT, HugeDegreesOfFreedomGiveTheNormalLimit)
{
  for (double q : {0.025, 0.05, 1e-10}) {
    const double z = -d::normal_quantile(q);
    // Cornish-Fisher: t = z + (z^3 + z) / (4 nu) + O(nu^-2), exact to double at nu = 1e12.
    EXPECT_NEAR(d::student_t_upper_quantile(q, 1e12), z + (z * z * z + z) / 4e12, 2e-15 * z) << q;
    EXPECT_NEAR(d::student_t_upper_quantile(q, 1e16), z, 2e-15 * z) << q;
    EXPECT_NEAR(d::student_t_upper_quantile(q, 1e300), z, 2e-15 * z) << q;
  }
  // log Gamma(a + 1/2) - log Gamma(a) against long double lgamma where that keeps the digits
  // (a <= 1e3), and against 1/2 log a - 1/(8a) + 1/(192 a^3) in long double beyond.
  for (double a : {0.3, 5.0, 10.0, 37.5, 1e3}) {
    const ld exact = std::lgamma(static_cast<ld>(a) + 0.5L) - std::lgamma(static_cast<ld>(a));
    EXPECT_NEAR(d::log_gamma_half_ratio(a), static_cast<double>(exact), 2e-15 * std::max(1.0, std::fabs((double)exact)))
      << a;
  }
  for (double a : {1e6, 5e15}) {
    const ld x = a;
    const ld series = 0.5L * std::log(x) - 1 / (8 * x) + 1 / (192 * x * x * x);
    EXPECT_NEAR(d::log_gamma_half_ratio(a), static_cast<double>(series), 2e-15 * static_cast<double>(series)) << a;
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Coverage with an estimated sigma

TEST(SimulateCoverage, NoPoolingCoversAtTheNominalRateAtSmallDegreesOfFreedom)
{
  // (groups, n): df_within = J (n - 1) = 4, 6, 8, 200. With the normal quantile the coverage was
  // P(|t_df| <= 1.96): 0.879, 0.902, 0.914, 0.949 -- 48, 37, 28 and 9 MCSE below 0.95 here.
  struct c {
    std::int64_t J, n;
    std::uint64_t R;
  };
  for (const c& k : {c{2, 3, 40000}, c{3, 3, 40000}, c{2, 5, 40000}, c{100, 3, 20000}}) {
    const scenario_result s = simulate(study(k.J, {k.n, k.n}, 0.5, k.R, 17)).scenarios.at(0);
    const auto& np = row(s, estimator::no_pool);
    EXPECT_NEAR(*np.coverage, 0.95, 3 * *np.coverage_mcse) << "J " << k.J << " n " << k.n;
    // The oracle's interval uses the true sigma and the normal quantile.
    const auto& orc = row(s, estimator::oracle);
    EXPECT_NEAR(*orc.coverage, 0.95, 3 * *orc.coverage_mcse) << "J " << k.J << " n " << k.n;
  }
}

TEST(SimulateCoverage, UnequalRawAndRedrawnDesignsCoverAtTheNominalRate)
{
  // Raw mode with a fixed unequal design (df_within of 3 groups of 2..4), and redrawn designs (df
  // varies by replicate: the quantile follows it).
  simulate_options raw = study(3, {2, 4}, 0.7, 30000, 23);
  raw.mode = simulation_mode::raw;
  const auto& a = row(simulate(raw).scenarios.at(0), estimator::no_pool);
  EXPECT_NEAR(*a.coverage, 0.95, 3 * *a.coverage_mcse);
  for (simulation_mode m : {simulation_mode::sufficient, simulation_mode::raw}) {
    simulate_options o = study(2, {2, 6}, 0.7, 30000, 29);
    o.redraw_obs = true;
    o.mode = m;
    const auto& b = row(simulate(o).scenarios.at(0), estimator::no_pool);
    EXPECT_NEAR(*b.coverage, 0.95, 3 * *b.coverage_mcse) << (m == simulation_mode::raw ? "raw" : "sufficient");
  }
}

/// Raw data: J groups of n observations from y = theta_j + N(0, 1), theta_j ~ N(0, 4).
struct raw_set {
  std::vector<std::int32_t> g;
  std::vector<double> y;
  std::vector<double> theta;
  raw_data_view view() const { return {g.data(), y.data(), y.size(), theta.size(), 0.0}; }
};

raw_set draw_raw(std::mt19937_64& rng, int J, int n)
{
  std::normal_distribution<double> z;
  raw_set s;
  for (int j = 0; j < J; ++j) {
    s.theta.push_back(2 * z(rng));
    for (int i = 0; i < n; ++i) {
      s.g.push_back(j);
      s.y.push_back(s.theta[j] + z(rng));
    }
  }
  return s;
}

TEST(FitIntervals, RawModeUsesTheTQuantileOnTheWithinDegreesOfFreedom)
{
  // 3 groups of sizes 2, 3, 2: df_within = 4. With tau known and huge the posterior is no pooling:
  // the interval is ybar_j +- t_4 sigma_hat / sqrt(n_j) (up to B_j ~ 1e-16).
  const std::vector<std::int32_t> g{0, 0, 1, 1, 1, 2, 2};
  const std::vector<double> y{1.0, 2.5, 4.0, 3.1, 5.2, -1.0, 0.2};
  fit_options o;
  o.method = tau_method::fixed;
  o.tau = 1e8;
  o.requested_backend = backend::cpu;
  const fit_result r = fit(raw_data_view{g.data(), y.data(), y.size(), 3, 0.0}, o);
  const double p = 0.975, a = 4 * p * (1 - p);
  const double t4 = 2 * std::sqrt(std::cos(std::acos(std::sqrt(a)) / 3) / std::sqrt(a) - 1);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR((r.upper[j] - r.lower[j]) / (2 * r.sd[j]), t4, 1e-12) << j;
  // Known sigma, and summary input (known se): the normal quantile.
  o.sigma = 1.3;
  const fit_result known = fit(raw_data_view{g.data(), y.data(), y.size(), 3, 0.0}, o);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR((known.upper[j] - known.lower[j]) / (2 * known.sd[j]), 1.959963984540054, 1e-13);
  // mu's interval stays metafor's z interval.
  EXPECT_NEAR((r.mu_upper - r.mu_lower) / (2 * r.mu_se), 1.959963984540054, 1e-13);
}

TEST(FitIntervals, RawModeIntervalsCoverAtTheNominalRate)
{
  // Monte Carlo over data sets of 2 groups of 3 (df_within = 4) with moment-estimated tau: the
  // interval of a group whose tau2_hat is large is the no-pooling t interval. With tau fixed and
  // huge, coverage must be 0.95; the normal quantile gave 0.879.
  std::mt19937_64 rng(2024);
  fit_options o;
  o.method = tau_method::fixed;
  o.tau = 1e6;
  o.requested_backend = backend::cpu;
  o.threads = 1;
  d::moments cov;
  for (int rep = 0; rep < 20000; ++rep) {
    const raw_set s = draw_raw(rng, 2, 3);
    const fit_result r = fit(s.view(), o);
    double covered = 0;
    for (int j = 0; j < 2; ++j) covered += (r.lower[j] <= s.theta[j] && s.theta[j] <= r.upper[j]) ? 0.5 : 0.0;
    cov.add(covered);
  }
  const double mcse = std::sqrt(cov.m2 / (cov.weight - 1) / cov.weight);
  EXPECT_NEAR(cov.mean, 0.95, 3 * mcse);
}

// ---------------------------------------------------------------------------------------------
// 2. Redrawn designs

TEST(RedrawObs, OracleRiskIsTheExpectationOverTheDesignAndMatchesTheStudy)
{
  simulate_options o = study(30, {2, 30}, 0.4, 6000, 31);
  o.redraw_obs = true;
  const scenario_result s = simulate(o).scenarios.at(0);
  ld risk = 0;
  for (int n = 2; n <= 30; ++n) risk += (1.0L / n) * 0.16L / (1.0L / n + 0.16L);
  risk /= 29;
  ASSERT_TRUE(s.oracle_risk);
  EXPECT_NEAR(*s.oracle_risk, static_cast<double>(risk), 1e-15);
  const auto& orc = row(s, estimator::oracle);
  EXPECT_NEAR(orc.mse, *s.oracle_risk, 3 * orc.mse_mcse);
  // It does not depend on the seed; the fixed design's does (through its drawn n_j).
  o.seed = 32;
  EXPECT_EQ(*simulate(o).scenarios.at(0).oracle_risk, *s.oracle_risk);
  simulate_options fixed_a = o, fixed_b = o;
  fixed_a.redraw_obs = fixed_b.redraw_obs = false;
  fixed_a.replicates = fixed_b.replicates = 2;
  fixed_b.seed = 33;
  EXPECT_NE(*simulate(fixed_a).scenarios.at(0).oracle_risk, *simulate(fixed_b).scenarios.at(0).oracle_risk);
}

TEST(RedrawObs, TheCommandLineOffersIt)
{
  test::temp_dir dir;
  const std::string args = "simulate --groups 30 --obs 2:30 --tau 0.4 --replicates 200 --seed 3 --backend cpu -q --json " +
                           (dir / "s.json").string();
  const auto fixed = test::run_shrink(args, dir);
  const std::string fixed_json = test::read_file(dir / "s.json");
  const auto redrawn = test::run_shrink(args + " --redraw-obs", dir);
  ASSERT_EQ(fixed.status, 0) << fixed.err;
  ASSERT_EQ(redrawn.status, 0) << redrawn.err;
  const std::string json = test::read_file(dir / "s.json");
  EXPECT_NE(json.find("\"redraw_obs\": true"), std::string::npos);
  EXPECT_NE(fixed_json.find("\"redraw_obs\": false"), std::string::npos);
  EXPECT_NE(fixed.out, redrawn.out);
  ld risk = 0;
  for (int n = 2; n <= 30; ++n) risk += (1.0L / n) * 0.16L / (1.0L / n + 0.16L);
  const auto at = json.find("\"oracle_risk_closed_form\": ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_NEAR(std::stod(json.substr(at + 27)), static_cast<double>(risk / 29), 1e-15);
}

TEST(RedrawObs, OracleRiskOverAWideRangeUsesTheDigammaClosedForm)
{
  simulate_options o = study(2, {3, 3000002}, 0.01, 2, 5);
  o.redraw_obs = true;
  o.mode = simulation_mode::sufficient;
  const scenario_result s = simulate(o).scenarios.at(0);
  ld risk = 0;
  for (std::int64_t n = 3; n <= 3000002; ++n) risk += 1e-4L / (1 + n * 1e-4L);
  risk /= 3000000;
  EXPECT_NEAR(*s.oracle_risk, static_cast<double>(risk), 1e-13 * static_cast<double>(risk));
}

TEST(RedrawObs, SufficientAndRawModesAgreeAndResultsDoNotDependOnThreadsOrBatches)
{
  simulate_options o = study(12, {1, 6}, 0.5, 8000, 41);
  o.redraw_obs = true;
  const scenario_result suf = simulate(o).scenarios.at(0);
  o.mode = simulation_mode::raw;
  const scenario_result raw = simulate(o).scenarios.at(0);
  for (estimator e : {estimator::no_pool, estimator::partial_pool, estimator::james_stein}) {
    const auto& a = row(suf, e);
    const auto& b = row(raw, e);
    EXPECT_NEAR(a.mse, b.mse, 4 * std::hypot(a.mse_mcse, b.mse_mcse)) << to_string(e);
  }
  const auto& a = row(suf, estimator::partial_pool);
  const auto& b = row(raw, estimator::partial_pool);
  EXPECT_NEAR(*a.tau_hat_mean, *b.tau_hat_mean, 4 * std::hypot(*a.tau_hat_mean_mcse, *b.tau_hat_mean_mcse));

  // Bitwise the same for any thread count and batch, with threads over replicates and over blocks.
  for (const auto& [J, R] : {std::pair<std::int64_t, std::uint64_t>{9, 200}, {10000, 3}}) {
    simulate_options v = study(J, {1, 9}, 0.3, R, 99);
    v.redraw_obs = true;
    v.tau = {0.0, 0.3};
    v.threads = 1;
    const std::string ref = shrink::test::simulate_csv(simulate(v));
    for (int threads : {2, 8})
      for (std::uint64_t batch : {0, 64}) {
        v.threads = threads;
        v.batch_replicates = batch;
        EXPECT_EQ(shrink::test::simulate_csv(simulate(v)), ref) << "J " << J << " threads " << threads;
      }
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Monte Carlo errors of tau_hat and p_tau_zero

TEST(MonteCarloErrors, FourthMomentAccumulatorMatchesTwoPassLongDouble)
{
  std::mt19937_64 rng(3);
  std::exponential_distribution<double> e(0.7);
  std::vector<double> x(1001);
  for (double& v : x) v = 5 + e(rng);  // skewed, away from 0
  ld mean = 0;
  for (double v : x) mean += v;
  mean /= x.size();
  ld m2 = 0, m3 = 0, m4 = 0;
  for (double v : x) {
    const ld dv = v - mean;
    m2 += dv * dv;
    m3 += dv * dv * dv;
    m4 += dv * dv * dv * dv;
  }
  d::moments4 one, merged, block;
  for (std::size_t i = 0; i < x.size(); ++i) {
    one.add(x[i]);
    block.add(x[i]);
    if (i % 37 == 36) {
      merged = merged + block;
      block = d::moments4{};
    }
  }
  merged = merged + block;
  for (const d::moments4& m : {one, merged}) {
    EXPECT_EQ(m.n, 1001.0);
    EXPECT_NEAR(m.mean, static_cast<double>(mean), 1e-14 * 6);
    EXPECT_NEAR(m.m2, static_cast<double>(m2), 1e-12 * static_cast<double>(m2));
    EXPECT_NEAR(m.m3, static_cast<double>(m3), 1e-11 * static_cast<double>(m3));
    EXPECT_NEAR(m.m4, static_cast<double>(m4), 1e-12 * static_cast<double>(m4));
  }
}

TEST(MonteCarloErrors, ReportedErrorsMatchTheSpreadAcrossIndependentStudies)
{
  // 300 independent studies of 200 replicates: the sd across studies of tau_hat_mean, tau_hat_sd
  // and p_tau_zero against the root mean square of the errors each study reports. The ratio of an
  // sd from 300 values has a relative error near 4%: [0.85, 1.15] is more than 3.5 of it.
  const int K = 300;
  d::moments mean_est, sd_est, p_est;
  double mean_mcse2 = 0, sd_mcse2 = 0, p_mcse2 = 0;
  for (int k = 0; k < K; ++k) {
    const scenario_result s = simulate(study(10, {5, 5}, 0.3, 200, 1000 + k)).scenarios.at(0);
    const auto& pp = row(s, estimator::partial_pool);
    mean_est.add(*pp.tau_hat_mean);
    sd_est.add(*pp.tau_hat_sd);
    p_est.add(*pp.p_tau_zero);
    mean_mcse2 += *pp.tau_hat_mean_mcse * *pp.tau_hat_mean_mcse / K;
    sd_mcse2 += *pp.tau_hat_sd_mcse * *pp.tau_hat_sd_mcse / K;
    p_mcse2 += *pp.p_tau_zero_mcse * *pp.p_tau_zero_mcse / K;
  }
  auto ratio = [&](const d::moments& m, double mcse2) { return std::sqrt(m.m2 / (m.weight - 1)) / std::sqrt(mcse2); };
  EXPECT_NEAR(ratio(mean_est, mean_mcse2), 1.0, 0.15);
  EXPECT_NEAR(ratio(sd_est, sd_mcse2), 1.0, 0.15);
  EXPECT_NEAR(ratio(p_est, p_mcse2), 1.0, 0.15);
  // tau_hat is far from normal here (a point mass at 0), the case the 4th moment is for.
  EXPECT_GT(p_est.mean, 0.2);
}

TEST(MonteCarloErrors, PTauZeroIsAnExactRatioAndPrintsWithoutNoise)
{
  const std::uint64_t R = 1000;
  const simulate_result r = simulate(study(50, {10, 10}, 0.0, R, 11));
  const auto& pp = row(r.scenarios.at(0), estimator::partial_pool);
  const double count = *pp.p_tau_zero * R;
  EXPECT_EQ(count, std::round(count));
  EXPECT_EQ(*pp.p_tau_zero, std::round(count) / R);  // the correctly rounded ratio of the count
  EXPECT_DOUBLE_EQ(*pp.p_tau_zero_mcse, std::sqrt(*pp.p_tau_zero * (1 - *pp.p_tau_zero) / R));
  // In the CSV: the shortest decimal of k / 1000 has at most 3 decimals (0.557, not 0.5569999999999997).
  const auto rows = test::parse_csv(shrink::test::simulate_csv(r));
  bool seen = false;
  for (const auto& f : rows)
    if (f.size() > 15 && f[5] == "partial_pool") {
      seen = true;
      const std::string& text = f[15];
      EXPECT_LE(text.size(), 5u) << text;
      EXPECT_EQ(std::stod(text), *pp.p_tau_zero);
      EXPECT_LE(f[11].size(), 9u) << "coverage " << f[11];  // covered / (R J), R J = 50000
    }
  EXPECT_TRUE(seen);
}

// ---------------------------------------------------------------------------------------------
// 4. Standard error of tau2 in the raw-mode random-intercept fit

struct grouped {
  std::vector<std::int32_t> g;
  std::vector<double> y;
  std::size_t groups = 0;
  raw_data_view view() const { return {g.data(), y.data(), y.size(), groups, 0.0}; }
};

grouped make_grouped(const std::vector<int>& sizes, std::uint64_t seed)
{
  grouped d;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z;
  for (std::size_t j = 0; j < sizes.size(); ++j) {
    const double b = 1.5 * z(rng);
    for (int i = 0; i < sizes[j]; ++i) {
      d.g.push_back(static_cast<std::int32_t>(j));
      d.y.push_back(10 + b + z(rng));
    }
  }
  d.groups = sizes.size();
  return d;
}

/// sqrt of the (tau2, tau2) entry of the inverse expected information of (sigma2, tau2), from the
/// dense N x N matrices in long double: 1/2 tr(M A M B), M = V^-1 (ML) or P (REML).
double dense_tau2_se(const grouped& d, double sigma2, double tau2, bool reml)
{
  const std::size_t n = d.y.size();
  std::vector<std::vector<ld>> V(n, std::vector<ld>(n)), inv(n, std::vector<ld>(n, 0));
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) V[i][j] = (i == j ? sigma2 : 0.0L) + (d.g[i] == d.g[j] ? tau2 : 0.0L);
    inv[i][i] = 1;
  }
  for (std::size_t c = 0; c < n; ++c) {  // Gauss-Jordan (V is positive definite: no pivoting needed)
    const ld p = V[c][c];
    for (std::size_t j = 0; j < n; ++j) V[c][j] /= p, inv[c][j] /= p;
    for (std::size_t i = 0; i < n; ++i) {
      if (i == c) continue;
      const ld f = V[i][c];
      for (std::size_t j = 0; j < n; ++j) V[i][j] -= f * V[c][j], inv[i][j] -= f * inv[c][j];
    }
  }
  std::vector<std::vector<ld>> M = inv;
  if (reml) {
    std::vector<ld> u(n, 0);
    ld s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) u[i] += inv[i][j];
      s += u[i];
    }
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) M[i][j] -= u[i] * u[j] / s;
  }
  // A = I, B = Z Z' (1 where two rows share a group).
  auto info = [&](bool a_is_z, bool b_is_z) {
    auto entry = [&](bool z, std::size_t i, std::size_t j) { return z ? (d.g[i] == d.g[j] ? 1.0L : 0.0L) : (i == j ? 1.0L : 0.0L); };
    std::vector<std::vector<ld>> MA(n, std::vector<ld>(n, 0)), MB(n, std::vector<ld>(n, 0));
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j)
        for (std::size_t k = 0; k < n; ++k) {
          MA[i][j] += M[i][k] * entry(a_is_z, k, j);
          MB[i][j] += M[i][k] * entry(b_is_z, k, j);
        }
    ld tr = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t k = 0; k < n; ++k) tr += MA[i][k] * MB[k][i];
    return tr / 2;
  };
  const ld i_ss = info(false, false), i_st = info(false, true), i_tt = info(true, true);
  return static_cast<double>(std::sqrt(i_ss / (i_ss * i_tt - i_st * i_st)));
}

fit_result fit_joint(const grouped& d, tau_method m)
{
  fit_options o;
  o.method = m;
  o.requested_backend = backend::cpu;
  return fit(d.view(), o);
}

TEST(RandomInterceptSe, Tau2StandardErrorIsTheInverseExpectedInformation)
{
  const grouped d = make_grouped({3, 7, 1, 5, 2, 8}, 7);
  for (tau_method m : {tau_method::ml, tau_method::reml}) {
    const fit_result r = fit_joint(d, m);
    ASSERT_TRUE(r.tau2_se.has_value()) << to_string(m);
    ASSERT_GT(r.tau2, 0);
    EXPECT_NEAR(*r.tau2_se, dense_tau2_se(d, *r.sigma2, r.tau2, m == tau_method::reml), 1e-11 * *r.tau2_se)
      << to_string(m);
  }
}

TEST(RandomInterceptSe, BalancedDataGiveSearlesClosedForms)
{
  // a groups of n: Var(tau2_hat) = 2 / n^2 [lambda^2 / a + sigma^4 / (a (n - 1))] (ML) and with
  // a - 1 for a (REML), lambda = sigma2 + n tau2 (Searle, Casella & McCulloch 1992, ch. 4 and 6).
  const int a = 6, n = 4;
  const grouped d = make_grouped(std::vector<int>(a, n), 11);
  for (tau_method m : {tau_method::ml, tau_method::reml}) {
    const fit_result r = fit_joint(d, m);
    ASSERT_GT(r.tau2, 0);
    const double s2 = *r.sigma2, lambda = s2 + n * r.tau2;
    const double groups = m == tau_method::reml ? a - 1 : a;
    const double var = 2.0 / (n * n) * (lambda * lambda / groups + s2 * s2 / (a * (n - 1.0)));
    EXPECT_NEAR(*r.tau2_se, std::sqrt(var), 1e-12 * std::sqrt(var)) << to_string(m);
  }
}

// ---------------------------------------------------------------------------------------------
// 5. Full Bayes with 3 and 4 groups (uniform prior on tau)

/// The posterior of the uniform-prior model by long-double quadrature over u in [0, 1),
/// tau = u / (1 - u) (a different map from the library's): panels of 20-point Gauss-Legendre,
/// each quantity from its definition.
struct bayes_reference {
  struct at_tau {
    ld tau2, mu, v_mu;
  };
  std::vector<double> y, v;
  static constexpr int panels = 1000;
  std::vector<ld> gx, gw;                ///< Gauss-Legendre on [-1, 1]
  std::vector<at_tau> node;             ///< the state at every node
  std::vector<ld> mass;                 ///< normalised weight x density of every node
  std::vector<ld> panel_mass;
  ld ref_log = 0, total = 0;

  bayes_reference(std::vector<double> y_, std::vector<double> v_) : y(std::move(y_)), v(std::move(v_))
  {
    gauss_legendre_nodes(20, gx, gw);
    ref_log = log_density(0.3L);
    for (int k = 0; k < panels; ++k) {
      ld pm = 0;
      const ld lo = static_cast<ld>(k) / panels, h = 1.0L / panels;
      for (std::size_t i = 0; i < gx.size(); ++i) {
        const ld u = lo + h / 2 + h / 2 * gx[i];
        node.push_back(state(u));
        mass.push_back(gw[i] * h / 2 * density(u));
        pm += mass.back();
      }
      panel_mass.push_back(pm);
      total += pm;
    }
    for (ld& m : mass) m /= total;
  }

  at_tau state(ld u) const
  {
    const ld t = u / (1 - u), t2 = t * t;
    ld sw = 0, swy = 0;
    for (std::size_t j = 0; j < y.size(); ++j) {
      sw += 1 / (v[j] + t2);
      swy += y[j] / (v[j] + t2);
    }
    return {t2, swy / sw, 1 / sw};
  }
  /// log p(tau | y) + log dtau/du: 1/2 sum log w - 1/2 log sum w - Q / 2 - 2 log(1 - u).
  ld log_density(ld u) const
  {
    const at_tau s = state(u);
    ld slw = 0, q = 0;
    for (std::size_t j = 0; j < y.size(); ++j) {
      const ld w = 1 / (v[j] + s.tau2);
      slw += std::log(w);
      q += w * (y[j] - s.mu) * (y[j] - s.mu);
    }
    return 0.5L * slw + 0.5L * std::log(s.v_mu) - 0.5L * q - 2 * std::log1p(-u);
  }
  ld density(ld u) const { return std::exp(log_density(u) - ref_log); }

  /// The tau with P(tau <= .) = p: the panel where the cumulative mass passes p, then bisection
  /// on the Gauss-Legendre integral over the partial panel.
  double tau_quantile(ld p) const
  {
    ld cum = 0;
    int k = 0;
    for (; k < panels - 1 && cum + panel_mass[k] / total < p; ++k) cum += panel_mass[k] / total;
    ld lo = static_cast<ld>(k) / panels, hi = static_cast<ld>(k + 1) / panels;
    const ld a = lo;
    for (int it = 0; it < 80; ++it) {
      const ld x = (lo + hi) / 2;
      ld partial = 0;
      for (std::size_t i = 0; i < gx.size(); ++i) partial += gw[i] * (x - a) / 2 * density(a + (x - a) / 2 * (1 + gx[i]));
      (cum + partial / total < p ? lo : hi) = x;
    }
    const ld u = (lo + hi) / 2;
    return static_cast<double>(u / (1 - u));
  }

  /// Quantile of the mixture over the nodes of N(m, s^2), comp(state, m, s).
  template <class Component>
  double mixture_quantile(ld p, Component comp) const
  {
    std::vector<ld> m(node.size()), sd(node.size());
    for (std::size_t i = 0; i < node.size(); ++i) comp(node[i], m[i], sd[i]);
    auto cdf = [&](ld x) {
      ld F = 0;
      for (std::size_t i = 0; i < node.size(); ++i) F += mass[i] * 0.5L * std::erfc(-(x - m[i]) / (sd[i] * std::sqrt(2.0L)));
      return F;
    };
    ld lo = -1, hi = 1;
    while (cdf(lo) > p) lo *= 2;
    while (cdf(hi) < p) hi *= 2;
    for (int it = 0; it < 70; ++it) {
      const ld mid = (lo + hi) / 2;
      (cdf(mid) < p ? lo : hi) = mid;
    }
    return static_cast<double>((lo + hi) / 2);
  }
};

TEST(BayesFewGroups, ThreeAndFourGroupsMatchLongDoubleQuadrature)
{
  const std::vector<double> y{1.2, 0.3, 2.0, 0.9}, se{0.5, 0.4, 0.6, 0.3};
  for (std::size_t J : {3u, 4u}) {
    std::vector<double> yy(y.begin(), y.begin() + J), vv;
    for (std::size_t j = 0; j < J; ++j) vv.push_back(se[j] * se[j]);
    fit_options o;
    o.method = tau_method::bayes;
    o.requested_backend = backend::cpu;
    const std::vector<double> sej(se.begin(), se.begin() + J);
    const fit_result r = fit(summary_data_view{yy.data(), sej.data(), J, 0.0}, o);
    const bayes_reference ref(yy, vv);
    ASSERT_TRUE(r.tau_post.has_value());
    // Quantiles of tau.
    EXPECT_NEAR(r.tau_post->median, ref.tau_quantile(0.5L), 1e-8 * r.tau_post->median) << J;
    EXPECT_NEAR(r.tau_post->lower, ref.tau_quantile(0.025L), 1e-8 * r.tau_post->lower) << J;
    EXPECT_NEAR(r.tau_post->upper, ref.tau_quantile(0.975L), 1e-8 * r.tau_post->upper) << J;
    // mu: its sd is infinite for J <= 4 (p(tau | y) ~ tau^-(J-1)); its interval and the
    // prediction interval exist.
    EXPECT_TRUE(std::isinf(r.mu_se)) << J;
    auto mu_comp = [](const bayes_reference::at_tau& s, ld& m, ld& sd) {
      m = s.mu;
      sd = std::sqrt(s.v_mu);
    };
    auto pred_comp = [](const bayes_reference::at_tau& s, ld& m, ld& sd) {
      m = s.mu;
      sd = std::sqrt(s.v_mu + s.tau2);
    };
    const double scale = r.mu_upper - r.mu_lower;
    EXPECT_NEAR(r.mu_lower, ref.mixture_quantile(0.025L, mu_comp), 1e-8 * scale) << J;
    EXPECT_NEAR(r.mu_upper, ref.mixture_quantile(0.975L, mu_comp), 1e-8 * scale) << J;
    const double pscale = r.pred_upper - r.pred_lower;
    EXPECT_NEAR(r.pred_lower, ref.mixture_quantile(0.025L, pred_comp), 1e-8 * pscale) << J;
    EXPECT_NEAR(r.pred_upper, ref.mixture_quantile(0.975L, pred_comp), 1e-8 * pscale) << J;
    // Per group: posterior mean, sd and central interval of theta_j.
    for (std::size_t j = 0; j < J; ++j) {
      ld mean = 0, second = 0;
      for (std::size_t i = 0; i < ref.node.size(); ++i) {
        const auto& s = ref.node[i];
        const ld b = vv[j] / (vv[j] + s.tau2);
        const ld m = yy[j] + b * (s.mu - yy[j]);
        const ld var = vv[j] * s.tau2 / (vv[j] + s.tau2) + b * b * s.v_mu;
        mean += ref.mass[i] * m;
        second += ref.mass[i] * (var + m * m);
      }
      const double sd = static_cast<double>(std::sqrt(second - mean * mean));
      EXPECT_NEAR(r.estimate[j], static_cast<double>(mean), 1e-8 * sd) << J << " group " << j;
      EXPECT_NEAR(r.sd[j], sd, 1e-8 * sd) << J << " group " << j;
      auto theta_comp = [&](const bayes_reference::at_tau& s, ld& m, ld& sdv) {
        const ld b = vv[j] / (vv[j] + s.tau2);
        m = yy[j] + b * (s.mu - yy[j]);
        sdv = std::sqrt(vv[j] * s.tau2 / (vv[j] + s.tau2) + b * b * s.v_mu);
      };
      EXPECT_NEAR(r.lower[j], ref.mixture_quantile(0.025L, theta_comp), 1e-8 * sd) << J << " group " << j;
      EXPECT_NEAR(r.upper[j], ref.mixture_quantile(0.975L, theta_comp), 1e-8 * sd) << J << " group " << j;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 6. The t prior at huge NU is the normal model

TEST(TPriorLimit, HugeNuGivesTheNormalModel)
{
  d::t_prior_params p;
  p.nu = 1e16;
  p.mu = 0.4;
  p.scale = 0.7;
  // The library's own normalising constant, built as fit_t_prior builds it.
  p.log_norm = d::log_gamma_half_ratio(p.nu / 2) - 0.5 * std::log(p.nu * M_PI) - std::log(p.scale);
  EXPECT_NEAR(p.log_norm, -0.5 * std::log(2 * M_PI) - std::log(0.7), 4e-15);
  for (double ybar : {-1.0, 0.3, 2.5}) {
    const double v = 0.3;
    // Normal marginal and posterior in closed form.
    const double total = v + 0.49;
    const double log_marginal = -0.5 * std::log(2 * M_PI * total) - 0.5 * (ybar - 0.4) * (ybar - 0.4) / total;
    EXPECT_NEAR(d::t_marginal_sums::of(ybar, v, p).log_likelihood, log_marginal, 1e-12 * std::fabs(log_marginal));
    d::posterior_params n;
    n.mu = 0.4;
    n.tau2 = 0.49;
    n.z = 1.959963984540054;
    const d::posterior exact = d::posterior_of(ybar, v, n);
    const d::posterior t = d::t_posterior_of(ybar, v, p);
    EXPECT_NEAR(t.estimate, exact.estimate, 1e-11) << ybar;
    EXPECT_NEAR(t.sd, exact.sd, 1e-11) << ybar;
    EXPECT_NEAR(t.lower, exact.lower, 1e-9) << ybar;
    EXPECT_NEAR(t.upper, exact.upper, 1e-9) << ybar;
  }
  // The whole fit: the t prior's marginal maximum likelihood is the normal model's ML.
  const std::vector<double> y{1.2, 0.3, 2.0, 0.9, 1.5}, se{0.5, 0.4, 0.6, 0.3, 0.2};
  fit_options o;
  o.method = tau_method::ml;
  o.threshold = 1e-14;  // scoring to convergence, so that both are the maximum
  o.requested_backend = backend::cpu;
  const summary_data_view view{y.data(), se.data(), y.size(), 0.0};
  const fit_result normal = fit(view, o);
  o.t_prior_df = 1e16;
  const fit_result t = fit(view, o);
  ASSERT_TRUE(t.t_scale.has_value());
  EXPECT_NEAR(*t.log_likelihood, *normal.log_likelihood, 1e-10 * std::fabs(*normal.log_likelihood));
  EXPECT_NEAR(t.mu, normal.mu, 1e-5);
  EXPECT_NEAR(*t.t_scale * *t.t_scale, normal.tau2, 1e-5);
  EXPECT_NEAR(t.pred_upper - t.mu, *t.t_scale * 1.959963984540054, 1e-13);
  // From the command line (it stopped with "incomplete beta: the continued fraction did not converge").
  test::temp_dir dir;
  test::write_file(dir / "in.csv", "m,s\n1.2,0.5\n0.3,0.4\n2.0,0.6\n0.9,0.3\n1.5,0.2\n");
  const auto cli = test::run_shrink("fit " + (dir / "in.csv").string() + " --estimate m --se s --prior t:1e16 -q", dir);
  EXPECT_EQ(cli.status, 0) << cli.err;
}

// ---------------------------------------------------------------------------------------------
// 7. Messages and extreme inputs

TEST(ExtremeInputs, LevelNearOneKeepsItsDigits)
{
  const std::vector<double> y{1.2, 0.3, 2.0, 0.9, 1.5}, se{0.5, 0.4, 0.6, 0.3, 0.2};
  const double level = 0.9999999999999999;  // 1 - 1.1e-16: 0.5 + level / 2 rounds to 1
  fit_options o;
  o.level = level;
  o.requested_backend = backend::cpu;
  const fit_result r = fit(summary_data_view{y.data(), se.data(), y.size(), 0.0}, o);
  const double z = (r.upper[0] - r.lower[0]) / (2 * r.sd[0]);
  // The z with 0.5 erfc(z / sqrt 2) = (1 - level) / 2.
  EXPECT_NEAR(0.5 * std::erfc(z / std::sqrt(2.0)) / (0.5 * (1 - level)), 1.0, 1e-13);
  o.method = tau_method::bayes;
  const fit_result b = fit(summary_data_view{y.data(), se.data(), y.size(), 0.0}, o);
  for (std::size_t j = 0; j < y.size(); ++j) {
    EXPECT_TRUE(std::isfinite(b.upper[j]) && b.upper[j] > b.estimate[j] + 5 * b.sd[j]) << b.upper[j];
    EXPECT_TRUE(std::isfinite(b.lower[j]) && b.lower[j] < b.estimate[j] - 5 * b.sd[j]) << b.lower[j];
  }
  simulate_options s = study(10, {4, 4}, 0.5, 100, 3);
  s.level = level;
  const scenario_result sr = simulate(s).scenarios.at(0);
  EXPECT_EQ(*row(sr, estimator::no_pool).coverage, 1.0);
}

TEST(ExtremeInputs, ExtremeInverseGammaPriorsWorkOrSaySo)
{
  const std::vector<double> y{1.2, 0.3, 2.0, 0.9, 1.5}, se{0.5, 0.4, 0.6, 0.3, 0.2};
  const summary_data_view view{y.data(), se.data(), y.size(), 0.0};
  fit_options o;
  o.method = tau_method::bayes;
  o.requested_backend = backend::cpu;
  // Shape = scale = 1e10: the prior of tau2 has mean 1 and sd 1e-5 and dominates the likelihood.
  o.prior_tau = parse_tau_prior("inv-gamma:1e10,1e10");
  const fit_result r = fit(view, o);
  EXPECT_NEAR(r.tau_post->median, 1.0, 1e-4);
  EXPECT_NEAR(r.tau_post->upper - r.tau_post->lower, 2 * 1.959963984540054 * 0.5e-5, 2e-7);
  auto message = [&](const std::string& prior) {
    o.prior_tau = parse_tau_prior(prior);
    try {
      fit(view, o);
    } catch (const shrink::error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  for (const std::string& prior : {"inv-gamma:1e300,1", "inv-gamma:1e-300,1e-300"})
    EXPECT_NE(message(prior).find("keeps rising below"), std::string::npos) << prior << ": " << message(prior);
  EXPECT_NE(message("inv-gamma:1,1e300").find("still rises at"), std::string::npos) << message("inv-gamma:1,1e300");
  for (const std::string& prior : {"inv-gamma:1e300,1", "inv-gamma:1,1e300", "inv-gamma:1e15,1e15"})
    EXPECT_EQ(message(prior).find("too large"), std::string::npos) << prior;
}

TEST(ExtremeInputs, TinyVariancesAreCalledTooSmall)
{
  const std::vector<double> y{1.2e-150, 0.3e-150, 2.0e-150, 0.9e-150}, se{0.5e-151, 0.4e-151, 0.6e-151, 0.3e-151};
  fit_options o;
  o.requested_backend = backend::cpu;
  for (tau_method m : {tau_method::mom, tau_method::reml, tau_method::bayes}) {
    o.method = m;
    try {
      fit(summary_data_view{y.data(), se.data(), y.size(), 0.0}, o);
      ADD_FAILURE() << "no error for " << to_string(m);
    } catch (const shrink::error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("too small"), std::string::npos) << what;
      EXPECT_EQ(what.find("too large"), std::string::npos) << what;
    }
  }
  // At 1e-40 (variance 1e-80) the weights still fit: every method runs and scales as it should.
  std::vector<double> y2, se2;
  for (std::size_t j = 0; j < y.size(); ++j) {
    y2.push_back(y[j] * 1e110);
    se2.push_back(se[j] * 1e110);
  }
  o.method = tau_method::reml;
  const fit_result small = fit(summary_data_view{y2.data(), se2.data(), y2.size(), 0.0}, o);
  EXPECT_TRUE(std::isfinite(small.tau2) && std::isfinite(*small.tau2_se));
}

TEST(ExtremeInputs, MaxIterationsIsAnOptionAndItsAdviceIsRight)
{
  const std::vector<double> y{1.2, 0.3, 2.0, 0.9, 1.5}, se{0.5, 0.4, 0.6, 0.3, 0.2};
  const summary_data_view view{y.data(), se.data(), y.size(), 0.0};
  fit_options o;
  o.requested_backend = backend::cpu;
  for (tau_method m : {tau_method::reml, tau_method::pm}) {
    o.method = m;
    o.max_iterations = 1;
    try {
      fit(view, o);
      ADD_FAILURE() << to_string(m) << ": one step converged";
    } catch (const shrink::error& e) {
      EXPECT_NE(std::string(e.what()).find("--max-iterations"), std::string::npos) << e.what();
    }
    o.max_iterations = 1000;
    EXPECT_NO_THROW(fit(view, o)) << to_string(m);
  }
  // The CLI has the option it advises.
  test::temp_dir dir;
  std::ostringstream csv;
  csv << "m,s\n";
  for (std::size_t j = 0; j < y.size(); ++j) csv << y[j] << ',' << se[j] << '\n';
  test::write_file(dir / "in.csv", csv.str());
  const std::string fit_args = "fit " + (dir / "in.csv").string() + " --estimate m --se s --tau-method reml -q ";
  const auto one = test::run_shrink(fit_args + "--max-iterations 1", dir);
  EXPECT_EQ(one.status, 1);
  EXPECT_NE(one.err.find("--max-iterations"), std::string::npos) << one.err;
  EXPECT_EQ(std::count(one.err.begin(), one.err.end(), '\n'), 1) << one.err;
  const auto many = test::run_shrink(fit_args + "--max-iterations 500", dir);
  EXPECT_EQ(many.status, 0) << many.err;
  const auto zero = test::run_shrink(fit_args + "--max-iterations 0", dir);
  EXPECT_EQ(zero.status, 1);
  EXPECT_NE(zero.err.find("--max-iterations"), std::string::npos) << zero.err;
}

// ---------------------------------------------------------------------------------------------
// 8. Threads

TEST(Threads, RequestsAreCappedAtAMultipleOfTheHardware)
{
  const unsigned reported = std::thread::hardware_concurrency();
  const int hw = reported == 0 ? 1 : static_cast<int>(reported);
  EXPECT_EQ(d::thread_count(0), hw);
  EXPECT_EQ(d::thread_count(1), 1);
  EXPECT_EQ(d::thread_count(100000), 4 * hw);
  EXPECT_EQ(d::thread_count(std::numeric_limits<int>::max()), 4 * hw);
}

TEST(Threads, RefusedThreadsLeaveTheWorkToTheCallingThreadWithTheSameResult)
{
  // In a child process whose address space is capped just above its size, most of 1000 thread
  // stacks cannot be mapped: std::thread throws std::system_error, which used to end in
  // std::terminate. Every worker must still run once, and a reduction keep its bits.
  std::vector<double> values(1 << 16);
  std::mt19937_64 rng(1);
  std::normal_distribution<double> z;
  for (double& x : values) x = z(rng);
  const double serial = d::reduce<double>(values.size(), 1, [&](std::size_t i) { return values[i]; });
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    long pages = 0;
    std::ifstream("/proc/self/statm") >> pages;
    const rlim_t cap = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) + (rlim_t{96} << 20);
    const rlimit limit{cap, cap};
    if (::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(3);
    constexpr int workers = 1000;
    std::vector<std::atomic<int>> runs(workers);
    std::vector<std::thread::id> ids(workers);
    d::run_workers(workers, [&](int w) {
      runs[static_cast<std::size_t>(w)]++;
      ids[static_cast<std::size_t>(w)] = std::this_thread::get_id();
    });
    for (const auto& r : runs)
      if (r.load() != 1) ::_exit(4);
    const std::set<std::thread::id> distinct(ids.begin(), ids.end());
    if (distinct.size() >= static_cast<std::size_t>(workers)) ::_exit(5);  // no refusal: nothing tested
    const double sum = d::reduce<double>(values.size(), workers, [&](std::size_t i) { return values[i]; });
    ::_exit(sum == serial ? 0 : 6);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died (signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ")";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: setrlimit failed, 4: a worker ran other than once, 5: no thread was "
                                       "refused, 6: the reduction changed";
}

TEST(Threads, HugeThreadRequestsOnManyGroupsGiveTheSameBitsInBoundedMemory)
{
  // 1e5 groups, 1e6 rows: --threads 100000 aborted, and --threads 20000 took partitions^2 x 16
  // bytes (6.4 GB) of tables in the row partitioning. Under a 2 GB address-space limit only the
  // capped version runs.
  test::temp_dir dir;
  const auto gen = test::run_shrink("generate --groups 100000 --obs 10 --mu 0 --tau 1 --sigma 1 --seed 5 -o " +
                                      (dir / "d.csv").string(),
                                    dir);
  ASSERT_EQ(gen.status, 0) << gen.err;
  const auto one = test::run_shrink("fit " + (dir / "d.csv").string() + " --threads 1 -q --backend cpu -o " +
                                      (dir / "one.csv").string(),
                                    dir);
  ASSERT_EQ(one.status, 0) << one.err;
  for (const char* threads : {"100000", "20000"}) {
    const std::string cmd = std::string("ulimit -v 2000000; '") + SHRINK_BINARY + "' fit '" + (dir / "d.csv").string() +
                            "' --threads " + threads + " -q --backend cpu -o '" + (dir / "many.csv").string() + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << threads;
    EXPECT_EQ(test::read_file(dir / "many.csv"), test::read_file(dir / "one.csv")) << threads;
  }
}

// ---------------------------------------------------------------------------------------------
// 9. Batches

TEST(Batches, HugeBatchesEndAndDoNotSizeTheBuffers)
{
  // The chunk is at most the study (rounded up to 64) and never wraps around 2^64.
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(d::sim::batch_size(max, 10, 1 << 24, 1 << 18, 100), 128u);
  EXPECT_EQ(d::sim::batch_size(max - 10, 10, 1 << 24, 1 << 18, 1000), 1024u);
  EXPECT_EQ(d::sim::batch_size(std::uint64_t{1} << 40, 10, 1 << 24, 1 << 18, std::uint64_t{1} << 32), 1u << 18);
  EXPECT_EQ(d::sim::batch_size(0, 10, 1 << 24, 1 << 18, 2), 64u);
  EXPECT_EQ(d::sim::batch_size(1, 10, 1 << 24, 1 << 18, 1000), 64u);
  simulate_options o = study(20, {3, 3}, 0.5, 300, 8);
  const std::string ref = shrink::test::simulate_csv(simulate(o));
  o.batch_replicates = max;
  EXPECT_EQ(shrink::test::simulate_csv(simulate(o)), ref);
}

}  // namespace
