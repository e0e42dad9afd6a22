#pragma once
// Stage 3 on the GPU: per-group maps over the table: the sampling variances v_j and the
// partial-pooling outputs (the shared posterior_of of src/common/posterior.hpp).

#include "common/mixture_posterior.hpp"
#include "common/moments.hpp"
#include "common/posterior.hpp"
#include "common/t_prior.hpp"

#include "../src/cuda/cuda_check.hpp"

#include <cuda_runtime.h>

#include <algorithm>

#include <cstddef>
#include <cstdint>

namespace shrink::detail {

/// Device columns for groups [begin, begin + count) of the output (index 0 = group `begin`).
struct posterior_columns_ref {
  std::int64_t* n;
  double* mean;
  double* se;
  double* shrinkage;
  double* estimate;
  double* sd;
  double* lower;
  double* upper;
  double* james_stein;  ///< written only when params.james_stein
};

/// Device columns of the outputs that the alternative group priors replace.
struct overwrite_columns_ref {
  double* shrinkage;
  double* estimate;
  double* sd;
  double* lower;
  double* upper;
};

/// Full Bayes: the mixture over the tau nodes (p's node arrays on the device).
struct mixture_term {
  const moments* table;
  const double* v;
  mixture_params p;
  SHRINK_HD posterior operator()(std::size_t j) const { return mixture_posterior_of(table[j].mean, v[j], p); }
};

/// Student-t group prior: per-group adaptive quadrature.
struct t_posterior_term {
  const moments* table;
  const double* v;
  t_prior_params p;
  SHRINK_HD posterior operator()(std::size_t j) const { return t_posterior_of(table[j].mean, v[j], p); }
};

struct t_marginal_term {
  const moments* table;
  const double* v;
  t_prior_params p;
  SHRINK_HD t_marginal_sums operator()(std::size_t j) const { return t_marginal_sums::of(table[j].mean, v[j], p); }
};

#if defined(__CUDACC__)
/// out[k] = of(begin + k) for k < count (the model-dependent columns only).
template <class Of>
__global__ void overwrite_kernel(Of of, std::size_t begin, std::size_t count, overwrite_columns_ref out)
{
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t k = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < count; k += stride) {
    const posterior r = of(begin + k);
    out.shrinkage[k] = r.shrinkage;
    out.estimate[k] = r.estimate;
    out.sd[k] = r.sd;
    out.lower[k] = r.lower;
    out.upper[k] = r.upper;
  }
}

/// Launches overwrite_kernel; instantiated only where a backend method needs it.
template <class Of>
void overwrite_async(const Of& of, std::size_t begin, std::size_t count, const overwrite_columns_ref& out,
                     cudaStream_t stream)
{
  if (count == 0) return;
  // Small blocks: these maps are compute-bound with large per-thread state (quadrature panels).
  constexpr unsigned threads = 128;
  const auto blocks = static_cast<unsigned>(std::min<std::size_t>((count + threads - 1) / threads, 1u << 16));
  overwrite_kernel<<<blocks, threads, 0, stream>>>(of, begin, count, out);
  SHRINK_CUDA_CHECK_LAUNCH();
}
#endif

/// v_j = sigma2 / n_j for every group (raw mode).
void set_variances_async(const moments* d_table, double sigma2, std::size_t groups, double* d_v, cudaStream_t stream);

/// Summary mode: the table holds (1, estimate_j, 0) and v_j = se_j^2.
void load_summaries_async(const double* d_estimates, const double* d_se, std::size_t groups, moments* d_table,
                          double* d_v, cudaStream_t stream);

/// Fills `out` for groups [begin, begin + count).
void posteriors_async(const moments* d_table, const double* d_v, std::size_t begin, std::size_t count,
                      const posterior_params& params, const posterior_columns_ref& out, cudaStream_t stream);

}  // namespace shrink::detail
