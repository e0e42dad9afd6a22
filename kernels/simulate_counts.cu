#include "simulate_counts.cuh"

#include "cuda/cuda_check.hpp"

#include <algorithm>

namespace shrink::detail::sim {

namespace {

/// A grid-stride loop over the launch's group-replicates (64-bit indices).
__global__ void count_draws_kernel(count_scenario s, const std::int32_t* __restrict__ d_size, std::uint64_t first,
                                   std::uint64_t total, double* __restrict__ d_theta, double* __restrict__ d_y)
{
  const auto J = static_cast<std::uint64_t>(s.groups);
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t k = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += stride) {
    const std::uint64_t i = k / J, j = k % J;
    const double size = s.equal_size ? s.size : static_cast<double>(d_size[j]);
    const count_draw d = draw_count_group(s, size, first + i, j);
    d_theta[k] = d.theta;
    d_y[k] = d.y;
  }
}

}  // namespace

void launch_count_draws_async(const count_scenario& s, const std::int32_t* d_size, std::uint64_t first,
                              std::uint64_t count, double* d_theta, double* d_y, cudaStream_t stream)
{
  const std::uint64_t total = count * static_cast<std::uint64_t>(s.groups);
  if (total == 0) return;
  constexpr int threads = 256;
  const auto blocks = static_cast<unsigned>(std::min<std::uint64_t>((total + threads - 1) / threads, 1u << 20));
  count_draws_kernel<<<blocks, threads, 0, stream>>>(s, d_size, first, total, d_theta, d_y);
  SHRINK_CUDA_CHECK_LAUNCH();
}

}  // namespace shrink::detail::sim
