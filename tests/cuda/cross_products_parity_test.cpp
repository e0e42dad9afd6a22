// The covariate models on the GPU against the CPU backend, bitwise: the fold of raw rows into
// per-group cross products (each group's rows in input order on both: the same updates), the
// fixed-tree sums over groups (the same SHRINK_HD terms in the same tree), and so the whole raw
// (lmer, 3 covariates and a factor) and summary (meta-regression, 5 moderators) fits, per-group
// columns included. Skipped where no GPU is usable.

#include "api/cross_reduce.hpp"
#include "io/cross_product_fold.hpp"
#include "test_support.hpp"

#include <shrink/regression.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace shrink::test {
namespace {

/// Bitwise equality of two arrays of doubles (NaN payloads included), naming the first difference.
void expect_same_bits(const std::vector<double>& cpu, const std::vector<double>& gpu, const std::string& what)
{
  ASSERT_EQ(cpu.size(), gpu.size()) << what;
  for (std::size_t i = 0; i < cpu.size(); ++i)
    if (std::memcmp(&cpu[i], &gpu[i], sizeof(double)) != 0) {
      ADD_FAILURE() << what << ": entry " << i << ": cpu " << cpu[i] << ", gpu " << gpu[i];
      return;
    }
}

struct rows {
  std::vector<std::uint32_t> group;
  std::vector<double> z;
};

/// n rows of width w in random group order over J groups, some groups far larger than others
/// (a run longer than a chunk), values with a large common offset (rounding matters).
rows make_rows(std::size_t n, std::size_t J, std::size_t w, std::uint64_t seed)
{
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  rows r;
  for (std::size_t i = 0; i < n; ++i) {
    r.group.push_back(static_cast<std::uint32_t>(rng() % 4 == 0 ? 0 : rng() % J));
    for (std::size_t a = 0; a < w; ++a) r.z.push_back(1e3 * static_cast<double>(a) + normal(rng));
  }
  return r;
}

std::vector<double> fold(backend use, const rows& r, std::size_t w, std::size_t J, std::size_t chunk, std::size_t batch)
{
  std::unique_ptr<detail::cross_folder> f =
    use == backend::cuda ? detail::make_cuda_cross_folder(w, chunk) : detail::make_cross_folder(backend::cpu, w, 3);
  for (std::size_t begin = 0; begin < r.group.size(); begin += batch) {
    const std::size_t n = std::min(batch, r.group.size() - begin);
    f->fold(r.group.data() + begin, r.z.data() + begin * w, n, J);
  }
  return f->state();
}

TEST(CrossProductsParity, FoldIsBitwiseTheCpusForAnyChunking)
{
  SHRINK_SKIP_WITHOUT_GPU();
  // Widths 4 (3 covariates: the register kernel) and 8 (the generic one); group counts across a
  // block's 256 threads; chunks smaller than a batch and larger.
  for (std::size_t w : {4u, 8u})
    for (std::size_t J : {1u, 31u, 33u, 1025u}) {
      const rows r = make_rows(20000, J, w, 7 + J + w);
      const std::vector<double> cpu = fold(backend::cpu, r, w, J, 0, 20000);
      for (std::size_t chunk : {1000u, 0u}) {
        const std::string what = "w " + std::to_string(w) + ", J " + std::to_string(J) + ", chunk " + std::to_string(chunk);
        expect_same_bits(cpu, fold(backend::cuda, r, w, J, chunk, 20000), what);
        expect_same_bits(cpu, fold(backend::cuda, r, w, J, chunk, 3000), what + ", batches of 3000");
      }
    }
}

TEST(CrossProductsParity, SumsOverGroupsAreBitwiseTheCpus)
{
  SHRINK_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  for (std::size_t k : {0u, 1u, 31u, 32u, 33u, 1025u, 70000u})
    for (std::size_t p : {1u, 6u, 11u}) {  // 1, 21 and 66 entries: one pack, two, five
      std::vector<double> x(k * p), c(k);
      for (double& e : x) e = normal(rng);
      for (double& e : c) e = std::exp(normal(rng));
      const auto cpu = detail::make_cross_reducer(backend::cpu, x.data(), k, p, 2);
      const auto gpu = detail::make_cross_reducer(backend::cuda, x.data(), k, p, 0);
      std::vector<double> outer_cpu(p * (p + 1) / 2), outer_gpu(outer_cpu.size()), rows_cpu(p), rows_gpu(p);
      cpu->weighted_outer(c.data(), outer_cpu.data());
      gpu->weighted_outer(c.data(), outer_gpu.data());
      cpu->weighted_rows(c.data(), rows_cpu.data());
      gpu->weighted_rows(c.data(), rows_gpu.data());
      const std::string what = "k " + std::to_string(k) + ", p " + std::to_string(p);
      expect_same_bits(outer_cpu, outer_gpu, what + ": S(c)");
      expect_same_bits(rows_cpu, rows_gpu, what + ": sum c r");
    }
}

/// A raw CSV: J groups of 1..40 rows, 3 numeric row-level covariates (one far from zero), a
/// three-level factor, y from the random-intercept model.
std::string raw_csv(std::size_t J, std::uint64_t seed)
{
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::string s = "g,y,x1,x2,x3,site\n";
  const char* sites[] = {"north", "south", "west"};
  for (std::size_t j = 0; j < J; ++j) {
    const double b = 0.7 * normal(rng);
    const std::size_t n = 1 + rng() % 40;
    for (std::size_t i = 0; i < n; ++i) {
      const double x1 = normal(rng), x2 = 1e4 + normal(rng), x3 = static_cast<double>(rng() % 5);
      const std::size_t site = rng() % 3;
      const double y = 1 + 0.5 * x1 - 0.25 * (x2 - 1e4) + 0.1 * x3 + 0.3 * static_cast<double>(site) + b + normal(rng);
      s += std::to_string(j) + "," + std::to_string(y) + "," + std::to_string(x1) + "," + std::to_string(x2) + "," +
           std::to_string(x3) + "," + sites[site] + "\n";
    }
  }
  return s;
}

void expect_same_fit(const mixed_model_result& cpu, const mixed_model_result& gpu, const std::string& what)
{
  EXPECT_EQ(gpu.used, backend::cuda) << what;
  expect_same_bits({cpu.tau2, cpu.sigma2, cpu.log_likelihood}, {gpu.tau2, gpu.sigma2, gpu.log_likelihood}, what + ": variances");
  ASSERT_EQ(cpu.coefficients.size(), gpu.coefficients.size()) << what;
  for (std::size_t c = 0; c < cpu.coefficients.size(); ++c)
    expect_same_bits({cpu.coefficients[c].estimate, cpu.coefficients[c].se},
                     {gpu.coefficients[c].estimate, gpu.coefficients[c].se}, what + ": " + cpu.coefficients[c].name);
  expect_same_bits(cpu.fitted, gpu.fitted, what + ": fitted");
  expect_same_bits(cpu.effect, gpu.effect, what + ": effect");
  expect_same_bits(cpu.effect_sd, gpu.effect_sd, what + ": effect_sd");
  expect_same_bits(cpu.estimate, gpu.estimate, what + ": estimate");
  expect_same_bits(cpu.lower, gpu.lower, what + ": lower");
}

TEST(CrossProductsParity, RawModeWithThreeCovariatesAndAFactorIsBitwiseTheCpus)
{
  SHRINK_SKIP_WITHOUT_GPU();
  temp_dir d;
  write_file(d / "raw.csv", raw_csv(1500, 3));
  for (const std::vector<std::string>& covariates :
       {std::vector<std::string>{"x1", "x2", "x3"}, std::vector<std::string>{"x1", "x2", "x3", "site"}}) {
    const std::string what = covariates.size() == 3 ? "numeric" : "with the factor";
    const io::cross_product_table cpu = io::read_cross_products((d / "raw.csv").string(), "g", "y", covariates, "", 2, false, backend::cpu);
    const io::cross_product_table gpu = io::read_cross_products((d / "raw.csv").string(), "g", "y", covariates, "", 0, false, backend::cuda);
    EXPECT_EQ(cpu.keys, gpu.keys) << what;
    EXPECT_EQ(cpu.data.covariates, gpu.data.covariates) << what;
    expect_same_bits(cpu.data.n, gpu.data.n, what + ": n");
    expect_same_bits(cpu.data.mean, gpu.data.mean, what + ": means");
    expect_same_bits(cpu.data.mean_lo, gpu.data.mean_lo, what + ": means' low parts");
    expect_same_bits(cpu.data.comoment, gpu.data.comoment, what + ": co-moments");
    for (bool reml : {true, false})
      expect_same_fit(fit_mixed_model(cpu.data, reml, 0.95, backend::cpu, 2), fit_mixed_model(cpu.data, reml, 0.95, backend::cuda),
                      what + (reml ? ", REML" : ", ML"));
  }
}

TEST(CrossProductsParity, RawModeCliGivesTheCpusFilesAndSaysCuda)
{
  SHRINK_SKIP_WITHOUT_GPU();
  temp_dir d;
  write_file(d / "raw.csv", raw_csv(800, 4));
  std::string out[2];
  for (int b = 0; b < 2; ++b) {
    const std::string name = b == 0 ? "cpu" : "cuda";
    const auto r = run_shrink("fit " + quoted(d / "raw.csv") + " --group g --value y --covariates x1,x2,x3,site --backend " +
                                name + " -o " + quoted(d / (name + ".csv")) + " --summary " + quoted(d / (name + ".json")),
                              d);
    ASSERT_EQ(r.status, 0) << r.err;
    out[b] = read_file(d / (name + ".json"));
    EXPECT_NE(out[b].find("\"backend\": \"" + name + "\""), std::string::npos) << out[b];
  }
  EXPECT_EQ(read_file(d / "cpu.csv"), read_file(d / "cuda.csv"));
  const auto strip = [](std::string s) {
    const std::size_t at = s.find("\"backend\"");
    return s.erase(at, s.find('\n', at) - at);
  };
  EXPECT_EQ(strip(out[0]), strip(out[1]));
}

TEST(CrossProductsParity, MetaRegressionWithFiveModeratorsIsBitwiseTheCpus)
{
  SHRINK_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal;
  const std::size_t k = 3000, p = 6;
  design_matrix x;
  x.rows = k;
  x.cols = p;
  x.names = {"intercept", "m1", "m2", "m3", "m4", "m5"};
  std::vector<double> y(k), v(k);
  for (std::size_t j = 0; j < k; ++j) {
    double mean = 0.2;
    x.x.push_back(1);
    for (std::size_t c = 1; c < p; ++c) {
      x.x.push_back(normal(rng) + (c == 5 ? 100.0 : 0.0));
      mean += 0.1 * static_cast<double>(c) * (x.x.back() - (c == 5 ? 100.0 : 0.0));
    }
    v[j] = 0.05 + 0.5 * std::exp(normal(rng));
    y[j] = mean + 0.4 * normal(rng) + std::sqrt(v[j]) * normal(rng);
  }
  for (tau_method m : {tau_method::mom, tau_method::dl, tau_method::pm, tau_method::sj, tau_method::ml, tau_method::reml,
                       tau_method::eb}) {
    fit_options o;
    o.method = m;
    o.requested_backend = backend::cpu;
    o.threads = 2;
    const meta_regression_result cpu = fit_meta_regression(y, v, x, {}, o);
    o.requested_backend = backend::cuda;
    const meta_regression_result gpu = fit_meta_regression(y, v, x, {}, o);
    const std::string what = to_string(m);
    EXPECT_EQ(gpu.used, backend::cuda) << what;
    expect_same_bits({cpu.tau2, cpu.QE, cpu.QM, cpu.I2, cpu.log_likelihood_reml, cpu.tau2_lower.value_or(-1)},
                     {gpu.tau2, gpu.QE, gpu.QM, gpu.I2, gpu.log_likelihood_reml, gpu.tau2_lower.value_or(-1)}, what);
    for (std::size_t c = 0; c < p; ++c)
      expect_same_bits({cpu.coefficients[c].estimate, cpu.coefficients[c].se},
                       {gpu.coefficients[c].estimate, gpu.coefficients[c].se}, what + ": " + x.names[c]);
    expect_same_bits(cpu.estimate, gpu.estimate, what + ": estimate");
    expect_same_bits(cpu.sd, gpu.sd, what + ": sd");
    expect_same_bits(cpu.mse, gpu.mse, what + ": mse");
  }
}

}  // namespace
}  // namespace shrink::test
