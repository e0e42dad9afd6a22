#include "posteriors.cuh"

#include "../src/cuda/cuda_check.hpp"

#include <algorithm>

namespace shrink::detail {
namespace {

constexpr int block_threads = 256;

unsigned grid_for(std::size_t n)
{
  // Grid-stride loops: the cap only bounds the launch, every index is still visited.
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>((n + block_threads - 1) / block_threads, 1u << 16)));
}

__device__ std::size_t first_index() { return static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ std::size_t grid_stride() { return static_cast<std::size_t>(gridDim.x) * blockDim.x; }

__global__ void set_variances_kernel(const moments* table, double sigma2, std::size_t groups, double* v)
{
  for (std::size_t j = first_index(); j < groups; j += grid_stride())
    v[j] = sigma2 / static_cast<double>(static_cast<std::int64_t>(table[j].weight));
}

__global__ void load_summaries_kernel(const double* estimates, const double* se, std::size_t groups, moments* table,
                                      double* v)
{
  for (std::size_t j = first_index(); j < groups; j += grid_stride()) {
    moments m;
    m.weight = 1;
    m.mean = estimates[j];
    m.m2 = 0;
    table[j] = m;
    v[j] = se[j] * se[j];
  }
}

__device__ void posterior_row(const moments& g, double v, const posterior_params& p, const posterior_columns_ref& out,
                              std::size_t k)
{
  const posterior r = posterior_of(g.mean, v, p);
  out.n[k] = static_cast<std::int64_t>(g.weight);
  out.mean[k] = p.offset + g.mean;
  out.se[k] = r.se;
  out.shrinkage[k] = r.shrinkage;
  out.estimate[k] = r.estimate;
  out.sd[k] = r.sd;
  out.lower[k] = r.lower;
  out.upper[k] = r.upper;
  if (p.james_stein) out.james_stein[k] = r.james_stein;
}

__global__ void posteriors_kernel(const moments* table, const double* v, std::size_t begin, std::size_t count,
                                  posterior_params p, posterior_columns_ref out)
{
  for (std::size_t k = first_index(); k < count; k += grid_stride()) posterior_row(table[begin + k], v[begin + k], p, out, k);
}

}  // namespace

void set_variances_async(const moments* d_table, double sigma2, std::size_t groups, double* d_v, cudaStream_t stream)
{
  if (groups == 0) return;
  set_variances_kernel<<<grid_for(groups), block_threads, 0, stream>>>(d_table, sigma2, groups, d_v);
  SHRINK_CUDA_CHECK_LAUNCH();
}

void load_summaries_async(const double* d_estimates, const double* d_se, std::size_t groups, moments* d_table,
                          double* d_v, cudaStream_t stream)
{
  if (groups == 0) return;
  load_summaries_kernel<<<grid_for(groups), block_threads, 0, stream>>>(d_estimates, d_se, groups, d_table, d_v);
  SHRINK_CUDA_CHECK_LAUNCH();
}

void posteriors_async(const moments* d_table, const double* d_v, std::size_t begin, std::size_t count,
                      const posterior_params& params, const posterior_columns_ref& out, cudaStream_t stream)
{
  if (count == 0) return;
  posteriors_kernel<<<grid_for(count), block_threads, 0, stream>>>(d_table, d_v, begin, count, params, out);
  SHRINK_CUDA_CHECK_LAUNCH();
}

}  // namespace shrink::detail
