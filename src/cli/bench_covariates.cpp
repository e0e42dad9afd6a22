// `shrink bench --covariates Q` (see bench_covariates.hpp): the covariate models' two GPU stages,
// the one pass over the rows (fold) and the sums over groups of the REML fit, against the CPU
// backend on the same rows in host memory. The end-to-end fold includes the transfers.

#include "bench_covariates.hpp"

#include "api/cross_reduce.hpp"
#include "cpu/parallel.hpp"
#include "io/decimal.hpp"

#include <shrink/backend.hpp>
#include <shrink/error.hpp>
#include <shrink/regression.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace shrink::cli {
namespace {

struct covariate_rows {
  std::vector<std::uint32_t> group;
  std::vector<double> z;  ///< rows x (q + 1): the covariates, then y
};

/// Blocks of rows drawn from their own generator (seed, block): the rows depend on the seed alone.
covariate_rows generate(const covariate_bench_options& o)
{
  const std::size_t w = o.covariates + 1;
  covariate_rows r;
  r.group.resize(o.rows);
  r.z.resize(o.rows * w);
  std::vector<double> b(o.groups);
  std::mt19937_64 group_rng(o.seed);
  std::normal_distribution<double> normal;
  for (double& e : b) e = 0.5 * normal(group_rng);
  constexpr std::size_t block = std::size_t{1} << 16;
  detail::for_each_block(o.rows, block, detail::thread_count(o.threads), [&](std::size_t begin, std::size_t end, std::size_t k) {
    std::mt19937_64 rng(o.seed ^ (0x9e3779b97f4a7c15ULL * (k + 1)));
    std::normal_distribution<double> n01;
    for (std::size_t i = begin; i < end; ++i) {
      const std::size_t j = rng() % o.groups;
      r.group[i] = static_cast<std::uint32_t>(j);
      double y = 1 + b[j] + n01(rng);
      for (std::size_t a = 0; a < o.covariates; ++a) {
        r.z[i * w + a] = n01(rng);
        y += 0.5 * r.z[i * w + a];
      }
      r.z[i * w + w - 1] = y;
    }
  });
  return r;
}

/// The table of groups 0..J-1 (all present) as cross products.
group_cross_products table_of(std::vector<double> state, std::size_t groups, std::size_t q)
{
  const std::size_t w = q + 1, stride = 1 + 2 * w + w * w;  // n, shift, mean, co-moments
  group_cross_products d;
  for (std::size_t a = 0; a < q; ++a) d.covariates.push_back("x" + std::to_string(a + 1));
  d.groups = groups;
  d.width = w;
  for (std::size_t j = 0; j < groups; ++j) {
    const double* g = &state[j * stride];
    d.n.push_back(g[0]);
    for (std::size_t a = 0; a < w; ++a) {
      double hi, lo;
      io::add_shift(g[1 + a], 0.0, g[1 + w + a], hi, lo);  // the shift back, as read_cross_products does
      d.mean.push_back(hi);
      d.mean_lo.push_back(lo);
    }
    d.comoment.insert(d.comoment.end(), g + 1 + 2 * w, g + stride);
  }
  return d;
}

struct backend_times {
  double fold_ms = std::numeric_limits<double>::infinity(), fit_ms = std::numeric_limits<double>::infinity();
  group_cross_products table;
  mixed_model_result fit;
};

backend_times time_backend(backend use, const covariate_rows& rows, const covariate_bench_options& o)
{
  using clock = std::chrono::steady_clock;
  backend_times t;
  for (int r = 0; r < o.repeat; ++r) {
    const auto t0 = clock::now();
    auto folder = detail::make_cross_folder(use, o.covariates + 1, o.threads);
    folder->fold(rows.group.data(), rows.z.data(), o.rows, o.groups);
    std::vector<double> state = folder->state();
    const auto t1 = clock::now();
    t.table = table_of(std::move(state), o.groups, o.covariates);
    const auto t2 = clock::now();
    t.fit = fit_mixed_model(t.table, true, 0.95, use, o.threads);
    const auto t3 = clock::now();
    t.fold_ms = std::min(t.fold_ms, std::chrono::duration<double, std::milli>(t1 - t0).count());
    t.fit_ms = std::min(t.fit_ms, std::chrono::duration<double, std::milli>(t3 - t2).count());
  }
  return t;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b)
{
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

}  // namespace

void run_covariate_bench(const covariate_bench_options& o)
{
  SHRINK_EXPECTS(o.covariates >= 1 && o.covariates <= 63, "--covariates must be between 1 and 63");
  SHRINK_EXPECTS(o.groups < (std::size_t{1} << 31), "--groups must be below 2^31 with --covariates");
  SHRINK_EXPECTS(o.rows > o.groups + o.covariates + 2, "--rows must exceed --groups plus the coefficients");
  const bool gpu = !o.cpu_only && cuda_available();
  SHRINK_EXPECTS(!o.gpu_only || gpu, "--gpu-only: no usable CUDA GPU on this machine (or a build without CUDA)");
  std::printf("shrink bench --covariates %zu: %zu rows (uint32 id + %zu float64), %zu groups, seed %llu, best of %d\n",
              o.covariates, o.rows, o.covariates + 1, o.groups, static_cast<unsigned long long>(o.seed), o.repeat);
  std::fflush(stdout);
  const covariate_rows rows = generate(o);
  backend_times cpu, cuda;
  if (!o.gpu_only) cpu = time_backend(backend::cpu, rows, o);
  if (gpu) cuda = time_backend(backend::cuda, rows, o);
  const mixed_model_result& fit = o.gpu_only ? cuda.fit : cpu.fit;
  std::printf("fit: REML, tau2 = %.17g, sigma2 = %.17g, x1 = %.17g\n", fit.tau2, fit.sigma2, fit.coefficients[1].estimate);
  if (gpu && !o.gpu_only) {
    const bool table = same_bits(cpu.table.n, cuda.table.n) && same_bits(cpu.table.mean, cuda.table.mean) &&
                       same_bits(cpu.table.comoment, cuda.table.comoment);
    const bool fitted = same_bits({cpu.fit.tau2, cpu.fit.sigma2}, {cuda.fit.tau2, cuda.fit.sigma2}) &&
                        same_bits(cpu.fit.estimate, cuda.fit.estimate);
    std::printf("validation: GPU table %s the CPU's; GPU fit (tau2, sigma2, every estimate) %s the CPU's\n",
                table ? "bitwise equal to" : "DIFFERS from", fitted ? "bitwise equal to" : "DIFFERS from");
  }
  std::printf("\n%-12s %12s %12s %10s\n", "stage", "CPU ms", "GPU ms", "CPU/GPU");
  auto cell = [](bool shown, const char* format, double x) {
    char buf[32] = "-";
    if (shown) std::snprintf(buf, sizeof buf, format, x);
    return std::string(buf);
  };
  auto row = [&](const char* name, double c, double g) {
    std::printf("%-12s %12s %12s %10s\n", name, cell(!o.gpu_only, "%.3f", c).c_str(), cell(gpu, "%.3f", g).c_str(),
                cell(gpu && !o.gpu_only, "%.1fx", c / g).c_str());
  };
  row("fold", cpu.fold_ms, cuda.fold_ms);
  row("REML fit", cpu.fit_ms, cuda.fit_ms);
  row("total", cpu.fold_ms + cpu.fit_ms, cuda.fold_ms + cuda.fit_ms);
  std::printf("\nfold: rows from host memory into per-group cross products (GPU: with the transfers); REML fit: the\n"
              "sums over groups on the backend, the p x p algebra on the host.%s\n",
              gpu ? "" : " GPU: absent (no usable CUDA GPU, a build without CUDA, or --cpu-only).");
}

}  // namespace shrink::cli
