// CPU and GPU give the same bits (issue 10, "Reductions with the same bits everywhere"): both
// backends reduce over groups in the one fixed tree of src/common/fixed_reduce.hpp, with the same
// SHRINK_HD per-group terms (the logarithm of the weighted sums included: portable_log), and the
// estimators run on the host from those sums. So every reduction, every hyperparameter and
// statistic of the fit, and every per-group column that uses the shared formulas must be bitwise
// equal; for strong shrinkage (tau2 / S^2 = 1e-3 and 1e-6, where tau2 is a difference of two
// near-equal numbers and any reordering shows), J from 1 to 1e7 around the tile boundaries, and
// every tau method. Where a device transcendental remains (the full-Bayes per-group mixtures and
// the t prior: exp, erfc, log1p inside adaptive quadrature), the README's bound is asserted
// instead. Every test skips where no GPU is usable.

#include "test_support.hpp"

#include "api/group_engine.hpp"

#include <shrink/fit.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace shrink;
namespace d = shrink::detail;

/// README (Numerics and reproducibility): what a device transcendental may move.
constexpr double transcendental_tol = 1e-8;

std::string exact(double x)
{
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

bool same(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void expect_same(double cpu, double gpu, const std::string& what)
{
  EXPECT_TRUE(same(cpu, gpu)) << what << ": cpu " << exact(cpu) << " gpu " << exact(gpu);
}

void expect_same(const std::optional<double>& cpu, const std::optional<double>& gpu, const std::string& what)
{
  ASSERT_EQ(cpu.has_value(), gpu.has_value()) << what;
  if (cpu) expect_same(*cpu, *gpu, what);
}

void expect_close(double cpu, double gpu, double tol, double scale, const std::string& what)
{
  if (same(cpu, gpu)) return;
  EXPECT_LE(std::fabs(cpu - gpu), tol * std::max({std::fabs(cpu), std::fabs(gpu), scale}))
    << what << ": cpu " << exact(cpu) << " gpu " << exact(gpu);
}

template <class T>
void expect_same_column(const std::vector<T>& cpu, const std::vector<T>& gpu, const char* name)
{
  ASSERT_EQ(cpu.size(), gpu.size()) << name;
  if (cpu.empty() || std::memcmp(cpu.data(), gpu.data(), cpu.size() * sizeof(T)) == 0) return;
  std::size_t j = 0;
  while (std::memcmp(&cpu[j], &gpu[j], sizeof(T)) == 0) ++j;
  ADD_FAILURE() << name << "[" << j << "] differs: cpu " << exact(static_cast<double>(cpu[j])) << " gpu "
                << exact(static_cast<double>(gpu[j]));
}

void expect_close_column(const std::vector<double>& cpu, const std::vector<double>& gpu, double tol, bool location,
                         const char* name)
{
  ASSERT_EQ(cpu.size(), gpu.size()) << name;
  double scale = 0;
  if (location)
    for (std::size_t j = 0; j < cpu.size(); ++j) scale = std::max({scale, std::fabs(cpu[j]), std::fabs(gpu[j])});
  int failures = 0;
  for (std::size_t j = 0; j < cpu.size() && failures < 5; ++j) {
    if (same(cpu[j], gpu[j])) continue;
    if (!(std::fabs(cpu[j] - gpu[j]) <= tol * std::max({std::fabs(cpu[j]), std::fabs(gpu[j]), scale}))) {
      ++failures;
      ADD_FAILURE() << name << "[" << j << "]: cpu " << exact(cpu[j]) << " gpu " << exact(gpu[j]);
    }
  }
}

/// The per-group columns that come from the shared normal-model formulas.
void expect_same_columns(const fit_result& c, const fit_result& g)
{
  expect_same_column(c.n, g.n, "n");
  expect_same_column(c.mean, g.mean, "mean");
  expect_same_column(c.se, g.se, "se");
  expect_same_column(c.shrinkage, g.shrinkage, "shrinkage");
  expect_same_column(c.estimate, g.estimate, "estimate");
  expect_same_column(c.sd, g.sd, "sd");
  expect_same_column(c.lower, g.lower, "lower");
  expect_same_column(c.upper, g.upper, "upper");
  expect_same_column(c.james_stein, g.james_stein, "james_stein");
}

/// Every scalar of the fit (what the JSON summary writes) but those the t prior replaces.
void expect_same_normal_model_scalars(const fit_result& c, const fit_result& g)
{
  EXPECT_EQ(c.used, backend::cpu);
  EXPECT_EQ(g.used, backend::cuda);
  EXPECT_EQ(c.groups, g.groups);
  EXPECT_EQ(c.observations, g.observations);
  expect_same(c.complete_pooling, g.complete_pooling, "complete_pooling");
  expect_same(c.tau2, g.tau2, "tau2");
  expect_same(c.sigma2, g.sigma2, "sigma2");
  expect_same(c.sigma2_pooled, g.sigma2_pooled, "sigma2_pooled");
  expect_same(c.Q, g.Q, "Q");
  expect_same(c.I2, g.I2, "I2");
  expect_same(c.H2, g.H2, "H2");
  expect_same(c.james_stein_c, g.james_stein_c, "james_stein_c");
  expect_same(c.tau2_se, g.tau2_se, "tau2_se");
  expect_same(c.tau2_lower, g.tau2_lower, "tau2_ci lower");
  expect_same(c.tau2_upper, g.tau2_upper, "tau2_ci upper");
  EXPECT_EQ(c.iterations, g.iterations) << "iterations";
  ASSERT_EQ(c.anova.has_value(), g.anova.has_value());
  if (c.anova) {
    expect_same(c.anova->df_between, g.anova->df_between, "df_between");
    expect_same(c.anova->df_within, g.anova->df_within, "df_within");
    expect_same(c.anova->ss_between, g.anova->ss_between, "ss_between");
    expect_same(c.anova->ss_within, g.anova->ss_within, "ss_within");
    expect_same(c.anova->ms_between, g.anova->ms_between, "ms_between");
    expect_same(c.anova->ms_within, g.anova->ms_within, "ms_within");
    expect_same(c.anova->F, g.anova->F, "F");
  }
  ASSERT_EQ(c.tau_post.has_value(), g.tau_post.has_value());
  if (c.tau_post) {
    expect_same(c.tau_post->mean, g.tau_post->mean, "tau_posterior mean");
    expect_same(c.tau_post->sd, g.tau_post->sd, "tau_posterior sd");
    expect_same(c.tau_post->median, g.tau_post->median, "tau_posterior median");
    expect_same(c.tau_post->lower, g.tau_post->lower, "tau_posterior lower");
    expect_same(c.tau_post->upper, g.tau_post->upper, "tau_posterior upper");
    expect_same(c.tau_post->mode, g.tau_post->mode, "tau_posterior mode");
    expect_same(c.tau_post->tau2_mean, g.tau_post->tau2_mean, "tau_posterior tau2_mean");
    EXPECT_EQ(c.tau_post->nodes, g.tau_post->nodes);
  }
}

/// The fit's location and interval scalars (the t prior replaces them).
void expect_same_mu(const fit_result& c, const fit_result& g)
{
  expect_same(c.mu, g.mu, "mu");
  expect_same(c.mu_se, g.mu_se, "mu_se");
  expect_same(c.mu_lower, g.mu_lower, "mu_ci lower");
  expect_same(c.mu_upper, g.mu_upper, "mu_ci upper");
  expect_same(c.pred_lower, g.pred_lower, "prediction_interval lower");
  expect_same(c.pred_upper, g.pred_upper, "prediction_interval upper");
  expect_same(c.log_likelihood, g.log_likelihood, "log_likelihood");
}

/// Everything bitwise: the normal model with any tau method but bayes.
void expect_bitwise_fit(const fit_result& c, const fit_result& g)
{
  expect_same_normal_model_scalars(c, g);
  expect_same_mu(c, g);
  EXPECT_EQ(c.notes, g.notes);
  expect_same_columns(c, g);
}

/// Per-group estimates with standard errors near S = 1 and tau2 = ratio S^2: strong shrinkage.
struct summary_set {
  std::vector<double> est, se;
  double offset = 0;
  summary_data_view view() const { return {est.data(), se.data(), est.size(), offset}; }
};

summary_set strong_shrinkage(std::size_t J, double ratio, std::uint64_t seed)
{
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z;
  std::uniform_real_distribution<double> u(0.7, 1.3);
  summary_set s;
  s.est.resize(J);
  s.se.resize(J);
  s.offset = 100;
  const double tau = std::sqrt(ratio);
  for (std::size_t j = 0; j < J; ++j) {
    s.se[j] = u(rng);
    s.est[j] = 0.25 + tau * z(rng) + s.se[j] * z(rng);
  }
  return s;
}

template <class View>
fit_result fit_on(backend b, const View& v, fit_options o)
{
  o.requested_backend = b;
  return fit(v, o);
}

fit_options with_method(tau_method m)
{
  fit_options o;
  o.method = m;
  if (m == tau_method::fixed) o.tau = 0.01;
  return o;
}

// ---------------------------------------------------------------------------------------------
// The reductions themselves, engine against engine.

void expect_same(const d::moments& c, const d::moments& g, const std::string& what)
{
  expect_same(c.weight, g.weight, what + ".weight");
  expect_same(c.mean, g.mean, what + ".mean");
  expect_same(c.m2, g.m2, what + ".m2");
}

void expect_same(const d::weighted_sums& c, const d::weighted_sums& g, const std::string& what)
{
  expect_same(c.wy, g.wy, what + " wy");
  expect_same(c.w2y, g.w2y, what + " w2y");
  expect_same(c.sum_w2, g.sum_w2, what + " sum_w2");
  expect_same(c.sum_w3, g.sum_w3, what + " sum_w3");
  expect_same(c.sum_log_w, g.sum_log_w, what + " sum_log_w");
  expect_same(c.sum_w2v, g.sum_w2v, what + " sum_w2v");
  expect_same(c.sum_w3v, g.sum_w3v, what + " sum_w3v");
  expect_same(c.sum_w2v2, g.sum_w2v2, what + " sum_w2v2");
  expect_same(c.sum_w3v2, g.sum_w3v2, what + " sum_w3v2");
}

void expect_same(const d::newton_sums& c, const d::newton_sums& g, const std::string& what)
{
  expect_same(c.sw, g.sw, what + " sw");
  expect_same(c.swd, g.swd, what + " swd");
  expect_same(c.swdd, g.swdd, what + " swdd");
  expect_same(c.sw2, g.sw2, what + " sw2");
  expect_same(c.sw2d, g.sw2d, what + " sw2d");
  expect_same(c.sw2dd, g.sw2dd, what + " sw2dd");
  expect_same(c.sw3, g.sw3, what + " sw3");
  expect_same(c.sw3d, g.sw3d, what + " sw3d");
  expect_same(c.sw3dd, g.sw3dd, what + " sw3dd");
}

void expect_same_reductions(d::group_engine& cpu, d::group_engine& gpu)
{
  const d::variance_range cv = cpu.variances(), gv = gpu.variances();
  expect_same(cv.min, gv.min, "variances min");
  expect_same(cv.max, gv.max, "variances max");
  EXPECT_EQ(cv.finite, gv.finite);
  const d::unweighted_sums cu = cpu.unweighted(), gu = gpu.unweighted();
  expect_same(cu.ybar, gu.ybar, "unweighted ybar");
  expect_same(cu.sum_v, gu.sum_v, "unweighted sum_v");
  expect_same(cu.sum_v2, gu.sum_v2, "unweighted sum_v2");
  for (double tau2 : {0.0, 1e-6, 1e-3, 1.0, 1e6}) {
    const std::string at = " at tau2 " + exact(tau2);
    expect_same(cpu.weighted(tau2), gpu.weighted(tau2), "weighted" + at);
    expect_same(cpu.weighted(tau2, false), gpu.weighted(tau2, false), "weighted without log" + at);
    for (double center : {0.0, -0.25, 3.5})
      expect_same(cpu.newton(tau2, center), gpu.newton(tau2, center), "newton around " + exact(center) + at);
  }
}

const std::size_t group_counts[] = {1,     2,     3,       255,     256,     257,      511,
                                    65535, 65536, 65537,   1 << 20, 1000000, 10000000};

TEST(BitwiseParity, EveryReductionForJFromOneToTenMillion)
{
  SHRINK_SKIP_WITHOUT_GPU();
  for (std::size_t J : group_counts) {
    SCOPED_TRACE("J " + std::to_string(J));
    const summary_set s = strong_shrinkage(J, 1e-3, 7 + J);
    auto cpu = d::make_cpu_engine(s.view(), 0);
    auto gpu = d::make_cuda_engine(s.view());
    expect_same_reductions(*cpu, *gpu);
    // And the CPU's for other thread counts (the tree does not depend on them).
    auto cpu3 = d::make_cpu_engine(s.view(), 3);
    expect_same(cpu3->weighted(1e-3), gpu->weighted(1e-3), "weighted, 3 CPU threads");
  }
}

TEST(BitwiseParity, GroupTotalsAndRawModeReductions)
{
  SHRINK_SKIP_WITHOUT_GPU();
  for (std::size_t J : {std::size_t{2}, std::size_t{257}, std::size_t{65537}, std::size_t{1000000}}) {
    SCOPED_TRACE("J " + std::to_string(J));
    std::mt19937_64 rng(J);
    std::normal_distribution<double> z;
    std::uniform_int_distribution<int> size(1, 30);
    std::vector<std::int64_t> n(J);
    std::vector<double> mean(J), m2(J);
    for (std::size_t j = 0; j < J; ++j) {
      n[j] = size(rng);
      mean[j] = 1e3 + 0.03 * z(rng) + z(rng) / std::sqrt(static_cast<double>(n[j]));
      const double e = z(rng);
      m2[j] = static_cast<double>(n[j] - 1) * (1 + 0.1 * e * e);
    }
    const grouped_data_view v{n.data(), mean.data(), m2.data(), J, 0, nullptr};
    auto cpu = d::make_cpu_engine(v, 0);
    auto gpu = d::make_cuda_engine(v);
    const d::group_totals ct = cpu->totals(), gt = gpu->totals();
    expect_same(ct.between, gt.between, "totals between");
    expect_same(ct.between_n2, gt.between_n2, "totals between_n2");
    expect_same(ct.ss_within, gt.ss_within, "totals ss_within");
    expect_same(ct.df_within, gt.df_within, "totals df_within");
    EXPECT_EQ(ct.observations, gt.observations);
    cpu->set_sigma2(1.0);
    gpu->set_sigma2(1.0);
    expect_same_reductions(*cpu, *gpu);
  }
}

// ---------------------------------------------------------------------------------------------
// Whole fits: every output.

const tau_method every_method[] = {tau_method::mom, tau_method::dl,  tau_method::pm,   tau_method::sj,
                                   tau_method::ml,  tau_method::reml, tau_method::eb, tau_method::fixed};

TEST(BitwiseParity, StrongShrinkageEveryMethodEveryOutput)
{
  SHRINK_SKIP_WITHOUT_GPU();
  for (double ratio : {1e-3, 1e-6}) {
    for (std::size_t J : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{255}, std::size_t{257},
                          std::size_t{65537}, std::size_t{1000000}}) {
      const summary_set s = strong_shrinkage(J, ratio, 1000 + J);
      for (tau_method m : every_method) {
        if (J < 2 && m != tau_method::fixed) continue;
        SCOPED_TRACE("tau2/S^2 " + exact(ratio) + ", J " + std::to_string(J) + ", " + to_string(m));
        fit_result c, g;
        std::string cpu_error, gpu_error;
        try {
          c = fit_on(backend::cpu, s.view(), with_method(m));
        } catch (const error& e) {
          cpu_error = e.what();
        }
        try {
          g = fit_on(backend::cuda, s.view(), with_method(m));
        } catch (const error& e) {
          gpu_error = e.what();
        }
        EXPECT_EQ(cpu_error, gpu_error);  // the same verdict, e.g. a non-converging method
        if (cpu_error.empty() && gpu_error.empty()) expect_bitwise_fit(c, g);
      }
    }
  }
}

TEST(BitwiseParity, TenMillionGroups)
{
  SHRINK_SKIP_WITHOUT_GPU();
  for (double ratio : {1e-3, 1e-6}) {
    const summary_set s = strong_shrinkage(10000000, ratio, 99);
    for (tau_method m : {tau_method::mom, tau_method::reml, tau_method::pm}) {
      SCOPED_TRACE("tau2/S^2 " + exact(ratio) + ", " + to_string(m));
      expect_bitwise_fit(fit_on(backend::cpu, s.view(), with_method(m)), fit_on(backend::cuda, s.view(), with_method(m)));
    }
  }
}

/// Raw mode from the streaming reader's group table: the joint ML/REML fit of sigma2 and tau2
/// (its profile likelihood takes the log-sum), the ANOVA table, sigma2 and the t-quantile intervals.
TEST(BitwiseParity, GroupTableEveryMethodEveryOutput)
{
  SHRINK_SKIP_WITHOUT_GPU();
  for (std::size_t J : {std::size_t{2}, std::size_t{257}, std::size_t{100000}}) {
    std::mt19937_64 rng(31 + J);
    std::normal_distribution<double> z;
    std::uniform_int_distribution<int> size(1, 12);
    std::vector<std::int64_t> n(J);
    std::vector<double> mean(J), m2(J), exact_mean(J);
    for (std::size_t j = 0; j < J; ++j) {
      n[j] = size(rng);
      mean[j] = 0.02 * z(rng) + z(rng) / std::sqrt(static_cast<double>(n[j]));  // tau2 / sigma2 = 4e-4
      const double e = z(rng);
      m2[j] = static_cast<double>(n[j] - 1) * (1 + 0.2 * e * e);
      exact_mean[j] = 5e3 + mean[j];
    }
    n[0] = std::max<std::int64_t>(n[0], 2);
    m2[0] = std::max(m2[0], 1.0);
    for (bool with_exact : {false, true}) {
      const grouped_data_view v{n.data(), mean.data(), m2.data(), J, 5e3, with_exact ? exact_mean.data() : nullptr};
      for (tau_method m : every_method) {
        SCOPED_TRACE("J " + std::to_string(J) + ", " + to_string(m) + (with_exact ? ", exact means" : ""));
        expect_bitwise_fit(fit_on(backend::cpu, v, with_method(m)), fit_on(backend::cuda, v, with_method(m)));
      }
    }
  }
}

/// Raw rows folded on each backend: groups of at most 1024 rows continue Welford's update in row
/// order on the GPU as on the CPU (README, The GPU backend), so the tables, and then every
/// output, are the same bits.
TEST(BitwiseParity, RawRowsOfShortGroups)
{
  SHRINK_SKIP_WITHOUT_GPU();
  const std::size_t J = 100000;
  std::mt19937_64 rng(41);
  std::normal_distribution<double> z;
  std::uniform_int_distribution<int> size(1, 40);
  std::vector<std::int32_t> ids;
  std::vector<double> y;
  for (std::size_t j = 0; j < J; ++j) {
    const double theta = 0.03 * z(rng);
    const int nj = size(rng);
    for (int i = 0; i < nj; ++i) {
      ids.push_back(static_cast<std::int32_t>(j));
      y.push_back(theta + z(rng));
    }
  }
  // Shuffled rows (the GPU sorts each chunk stably by group).
  for (std::size_t i = y.size() - 1; i > 0; --i) {
    const std::size_t k = std::uniform_int_distribution<std::size_t>(0, i)(rng);
    std::swap(ids[i], ids[k]);
    std::swap(y[i], y[k]);
  }
  const raw_data_view v{ids.data(), y.data(), y.size(), J, 0};
  for (tau_method m : every_method) {
    SCOPED_TRACE(to_string(m));
    expect_bitwise_fit(fit_on(backend::cpu, v, with_method(m)), fit_on(backend::cuda, v, with_method(m)));
  }
}

/// Full Bayes: the posterior of tau is integrated on the host from the bitwise weighted sums, so
/// every scalar is bitwise; the per-group mixtures evaluate exp and erfc on the device: bound.
/// The t prior evaluates exp and log1p inside the device's adaptive quadrature, and Nelder-Mead
/// follows its likelihood: its outputs to the bound, the normal model's statistics bitwise.
TEST(BitwiseParity, TranscendentalOutputsWithinTheReadmeBound)
{
  SHRINK_SKIP_WITHOUT_GPU();
  for (double ratio : {1e-3, 1e-6}) {
    const summary_set s = strong_shrinkage(2000, ratio, 77);
    SCOPED_TRACE("tau2/S^2 " + exact(ratio));
    fit_options bayes;
    bayes.method = tau_method::bayes;
    const fit_result cb = fit_on(backend::cpu, s.view(), bayes);
    const fit_result gb = fit_on(backend::cuda, s.view(), bayes);
    expect_same_normal_model_scalars(cb, gb);
    expect_same_mu(cb, gb);
    expect_same_column(cb.n, gb.n, "n");
    expect_same_column(cb.mean, gb.mean, "mean");
    expect_same_column(cb.se, gb.se, "se");
    expect_same_column(cb.james_stein, gb.james_stein, "james_stein");
    expect_close_column(cb.shrinkage, gb.shrinkage, transcendental_tol, false, "bayes shrinkage");
    expect_close_column(cb.estimate, gb.estimate, transcendental_tol, true, "bayes estimate");
    expect_close_column(cb.sd, gb.sd, transcendental_tol, false, "bayes sd");
    expect_close_column(cb.lower, gb.lower, transcendental_tol, true, "bayes lower");
    expect_close_column(cb.upper, gb.upper, transcendental_tol, true, "bayes upper");

    fit_options t;
    t.t_prior_df = 4;
    const fit_result ct = fit_on(backend::cpu, s.view(), t);
    const fit_result gt = fit_on(backend::cuda, s.view(), t);
    expect_same_normal_model_scalars(ct, gt);
    const double loc = std::max(std::fabs(ct.mu), 1.0);
    expect_close(ct.mu, gt.mu, transcendental_tol, loc, "t mu");
    expect_close(ct.mu_se, gt.mu_se, transcendental_tol, 0, "t mu_se");
    expect_close(ct.mu_lower, gt.mu_lower, transcendental_tol, loc, "t mu_ci lower");
    expect_close(ct.mu_upper, gt.mu_upper, transcendental_tol, loc, "t mu_ci upper");
    expect_close(ct.pred_lower, gt.pred_lower, transcendental_tol, loc, "t prediction lower");
    expect_close(ct.pred_upper, gt.pred_upper, transcendental_tol, loc, "t prediction upper");
    ASSERT_TRUE(ct.t_scale && gt.t_scale && ct.log_likelihood && gt.log_likelihood);
    expect_close(*ct.t_scale, *gt.t_scale, transcendental_tol, 0, "t scale");
    expect_close(*ct.log_likelihood, *gt.log_likelihood, transcendental_tol, 0, "t log_likelihood");
    expect_same_column(ct.n, gt.n, "n");
    expect_same_column(ct.mean, gt.mean, "mean");
    expect_same_column(ct.se, gt.se, "se");
    expect_close_column(ct.shrinkage, gt.shrinkage, transcendental_tol, false, "t shrinkage");
    expect_close_column(ct.estimate, gt.estimate, transcendental_tol, true, "t estimate");
    expect_close_column(ct.sd, gt.sd, transcendental_tol, false, "t sd");
    expect_close_column(ct.lower, gt.lower, transcendental_tol, true, "t lower");
    expect_close_column(ct.upper, gt.upper, transcendental_tol, true, "t upper");
  }
}

// ---------------------------------------------------------------------------------------------
// The command line: the JSON summary and the per-group CSV are the same text on both backends.

/// The JSON's lines without the ones that name the backend or time the run.
std::vector<std::string> json_lines_without_timing(const std::string& text)
{
  std::vector<std::string> lines;
  std::string line;
  bool in_stage_seconds = false;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != '\n') {
      line += text[i];
      continue;
    }
    if (line.find("\"stage_seconds\"") != std::string::npos) in_stage_seconds = true;
    const bool skip = in_stage_seconds || line.find("\"backend\"") != std::string::npos ||
                      line.find("\"seconds\"") != std::string::npos;
    if (in_stage_seconds && line.find('}') != std::string::npos) in_stage_seconds = false;
    if (!skip) lines.push_back(line);
    line.clear();
  }
  return lines;
}

TEST(BitwiseParity, CommandLineOutputsAreTheSameText)
{
  SHRINK_SKIP_WITHOUT_GPU();
  test::temp_dir dir;
  {
    std::mt19937_64 rng(3);
    std::normal_distribution<double> z;
    std::uniform_int_distribution<int> size(1, 9);
    std::string csv = "group,y\n";
    char buf[64];
    for (int j = 0; j < 3000; ++j) {
      const double theta = 0.03 * z(rng);
      const int nj = size(rng);
      for (int i = 0; i < nj; ++i) {
        std::snprintf(buf, sizeof buf, "g%d,%.9f\n", j, 12.5 + theta + z(rng));
        csv += buf;
      }
    }
    test::write_file(dir / "rows.csv", csv);
  }
  for (const char* method : {"mom", "dl", "pm", "sj", "ml", "reml", "eb", "bayes"}) {
    SCOPED_TRACE(method);
    std::string outputs[2], summaries[2];
    const char* backends[2] = {"cpu", "cuda"};
    for (int b = 0; b < 2; ++b) {
      const std::string base = std::string(method) + "-" + backends[b];
      const auto r = test::run_shrink("fit " + test::quoted(dir / "rows.csv") + " --tau-method " + method +
                                        " --backend " + backends[b] + " -q -o " + test::quoted(dir / (base + ".csv")) +
                                        " --summary " + test::quoted(dir / (base + ".json")),
                                      dir);
      ASSERT_EQ(r.status, 0) << r.err;
      outputs[b] = test::read_file(dir / (base + ".csv"));
      summaries[b] = test::read_file(dir / (base + ".json"));
    }
    EXPECT_EQ(json_lines_without_timing(summaries[0]), json_lines_without_timing(summaries[1]));
    if (std::string(method) != "bayes") {
      EXPECT_TRUE(outputs[0] == outputs[1]) << "the per-group CSVs differ";
    } else {
      // Full Bayes: n, mean, se and james_stein are the same text; the mixtures are bounded above.
      const auto a = test::parse_csv(outputs[0]), c = test::parse_csv(outputs[1]);
      ASSERT_EQ(a.size(), c.size());
      for (std::size_t r = 0; r < a.size(); ++r)
        for (std::size_t k : {0, 1, 2, 3, 9}) {
          if (k < a[r].size()) {
            EXPECT_EQ(a[r][k], c[r][k]) << "row " << r << " column " << k;
          }
        }
    }
  }
}

}  // namespace
