#pragma once
// `shrink bench --covariates Q`: the random-intercept fit with Q row-level covariates timed on the
// CPU backend and on the GPU from rows in host memory (src/cli/bench_covariates.cpp).

#include <cstddef>
#include <cstdint>

namespace shrink::cli {

struct covariate_bench_options {
  std::size_t rows = 0, groups = 0, covariates = 3;
  std::uint64_t seed = 1;
  int threads = 0;  ///< CPU threads (0: all)
  int repeat = 3;
  bool cpu_only = false, gpu_only = false;
};

/// Generates the rows (group ids uniform over the groups, covariates standard normal,
/// y = 1 + sum_k 0.5 x_k + b_j + e), times the fold of the rows into per-group cross products and
/// the REML fit on each backend (best of `repeat`), checks that the GPU's table and fit are the
/// CPU's bits, and prints the table of times and ratios on stdout.
void run_covariate_bench(const covariate_bench_options& o);

}  // namespace shrink::cli
