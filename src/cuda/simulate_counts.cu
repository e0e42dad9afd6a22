// Host side of the count families' studies on the GPU: per scenario, the design on the device, then
// for each chunk of replicates the draws by the device (kernels/simulate_counts.cu, the CPU's
// samplers), copied back through pinned memory, and the per-replicate fits and sums on the host
// threads (run_count_scenario, the CPU backend's evaluation: the ml fit is iterative per replicate).
// The draws are the CPU's bits, so the study's CSV is the CPU backend's.

#include "../api/simulate_backend.hpp"
#include "../../kernels/simulate_counts.cuh"
#include "../cpu/parallel.hpp"
#include "cuda_check.hpp"
#include "device_buffer.hpp"
#include "stream.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

namespace shrink::detail::sim {

namespace {

/// At most this many group-replicates per chunk: 2 x 8 bytes each on the device and pinned (256 MiB).
constexpr std::uint64_t max_chunk_draws = std::uint64_t{1} << 24;

/// The most replicates of J groups a chunk may hold: max_chunk_draws, in whole replicate blocks.
std::uint64_t chunk_cap(std::uint64_t J)
{
  return std::max<std::uint64_t>(replicate_block, max_chunk_draws / J / replicate_block * replicate_block);
}

}  // namespace

backend_run run_counts_cuda(const std::vector<count_job>& jobs, int threads, std::uint64_t batch,
                            const progress_fn& progress)
{
  cuda_stream stream;
  const cudaStream_t st = stream.get();
  const int t = thread_count(threads);
  backend_run out;
  std::size_t max_size = 0;
  std::uint64_t max_draws = 0;
  for (const count_job& job : jobs) {
    max_size = std::max(max_size, job.size.size());
    const auto J = static_cast<std::uint64_t>(job.params.groups);
    const std::uint64_t chunk = batch_size(batch, job.params.groups, count_chunk_target, chunk_cap(J), job.count);
    max_draws = std::max(max_draws, std::min(chunk, job.count) * J);
  }
  device_buffer<std::int32_t> d_size(max_size, st);
  device_buffer<double> d_theta(max_draws, st), d_y(max_draws, st);
  pinned_buffer<double> h_theta(max_draws), h_y(max_draws);
  SHRINK_CUDA_TRY(cudaStreamSynchronize(st));  // context and buffers ready before the clock starts

  const auto t0 = std::chrono::steady_clock::now();
  for (const count_job& job : jobs) {
    const auto J = static_cast<std::uint64_t>(job.params.groups);
    if (!job.size.empty())
      SHRINK_CUDA_TRY(cudaMemcpyAsync(d_size.data(), job.size.data(), job.size.size() * sizeof(std::int32_t),
                                      cudaMemcpyHostToDevice, st));
    const auto draw = [&](std::uint64_t r0, std::uint64_t count, double* theta, double* y) {
      const std::uint64_t n = count * J;
      launch_count_draws_async(job.params, d_size.data(), r0, count, d_theta.data(), d_y.data(), st);
      SHRINK_CUDA_TRY(cudaMemcpyAsync(h_theta.data(), d_theta.data(), n * sizeof(double), cudaMemcpyDeviceToHost, st));
      SHRINK_CUDA_TRY(cudaMemcpyAsync(h_y.data(), d_y.data(), n * sizeof(double), cudaMemcpyDeviceToHost, st));
      stream.synchronize();
      std::memcpy(theta, h_theta.data(), n * sizeof(double));
      std::memcpy(y, h_y.data(), n * sizeof(double));
    };
    out.moments.push_back(run_count_scenario(job, t, batch, chunk_cap(J), progress, draw));
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace shrink::detail::sim
