#pragma once
// `shrink bench`, GPU half. Plain C++ so that the CLI compiles in every build; bench_cuda is
// defined (src/cuda/bench.cu) only when CUDA is built, so callers guard with SHRINK_HAS_CUDA.

#include "../api/group_engine.hpp"
#include "../api/tau_estimators.hpp"
#include "../common/normal.hpp"

#include <cstddef>
#include <string>

namespace shrink::detail {

/// The reductions of a moment-estimator (HE) fit, as fit() runs them on any engine: the ANOVA
/// totals, the pooled sigma^2, the range of v_j, the unweighted and the two weighted sums.
/// Returns the posterior parameters they give (needs at least 2 groups and within-group variance,
/// as fit() does without --sigma).
inline posterior_params tau_stage(group_engine& e)
{
  const group_totals t = e.totals();
  e.set_sigma2(pooled_sigma2(t));
  (void)e.variances();
  const unweighted_sums u = e.unweighted();
  (void)e.weighted(0.0);
  fit_options o;
  o.method = tau_method::mom;
  posterior_params p;
  p.tau2 = estimate_tau2(e, o, u).tau2;
  p.mu = e.weighted(p.tau2).wy.mean;
  p.z = normal_quantile(0.5 + o.level / 2);
  p.james_stein = false;
  return p;
}

/// Bytes the stages move at least (each input read once, each output written once).
inline double summary_bytes(std::size_t rows) { return static_cast<double>(rows) * (4 + 8); }
inline double tau_bytes(std::size_t groups) { return static_cast<double>(groups) * 160; }
inline double posterior_bytes(std::size_t groups) { return static_cast<double>(groups) * (32 + 72); }

struct gpu_stage_times {
  double kernel_ms = 0;      ///< device time (events), rows already on the device
  double end_to_end_ms = 0;  ///< wall time with host-device transfers
};

struct gpu_bench_result {
  std::string device;
  double copy_gbs = 0;   ///< device-to-device cudaMemcpy: bytes read + written per second / 1e9
  double h2d_gbs = 0;    ///< pinned host-to-device cudaMemcpy
  gpu_stage_times summarize, tau, posterior;
  std::size_t chunk_rows = 0, chunks = 0, sorted_chunks = 0;
  posterior_params params;  ///< tau2 and mu of the host-rows engine's tau stage
  fit_result columns;       ///< the GPU's per-group columns (host rows), to validate against the CPU
  /// The engine built from the device-resident copy of the rows against the one from host rows:
  /// tau2 and mu of their tau stages and every per-group column, compared bit for bit (the two
  /// summary paths promise the same bits). Groups whose row differs in some column:
  std::size_t device_rows_mismatches = 0;
  bool device_rows_params_equal = false;
};

/// Times each stage on the GPU (best of `repeats`) for rows in host memory (pageable, pinned or
/// memory-mapped: whatever `data` points to); the kernel times use a device-resident copy of the
/// same rows, which also builds a second engine checked against the first.
gpu_bench_result bench_cuda(const raw_data_view& data, int repeats);

}  // namespace shrink::detail
