// Host side of simulation studies on the GPU: per scenario, the design on the device, then
// batches of replicates (a multiple of replicate_block each): the replicate kernel, the block
// merge, and a copy of the block moments that the host merges in block order, exactly as the CPU
// backend does. Memory: the design (J int32 and J/4096 doubles when n_j vary) and one batch's
// metrics; nothing proportional to J x R.

#include "../api/simulate_backend.hpp"
#include "cuda_check.hpp"
#include "device_buffer.hpp"
#include "../../kernels/simulate.cuh"
#include "stream.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

namespace shrink::detail::sim {

namespace {

/// Group-replicates per launch when the caller does not choose: about a second of work at the
/// target rate, so the progress bar moves and a launch is long enough to amortise its tail.
constexpr std::uint64_t launch_group_replicates = std::uint64_t{1} << 34;
/// At most this many replicates per launch: 136 bytes of metrics each (285 MiB), enough that a
/// launch of small replicates (J = 10) still runs for about a millisecond.
constexpr std::uint64_t launch_max_replicates = std::uint64_t{1} << 21;

}  // namespace

backend_run run_cuda(const std::vector<scenario_job>& jobs, std::uint64_t batch, const progress_fn& progress)
{
  cuda_stream stream;
  backend_run out;
  out.moments.reserve(jobs.size());
  SHRINK_CUDA_TRY(cudaStreamSynchronize(stream.get()));  // context ready before the clock starts
  const auto t0 = std::chrono::steady_clock::now();
  for (const scenario_job& job : jobs) {
    const scenario_params& s = job.params;
    const bool split = use_split(s.groups, job.replicates);
    // The split path's partials take 104 bytes per chunk of 65536 groups and replicate: at most
    // 2^22 of them (436 MiB) at a time.
    const std::uint64_t max_replicates =
      split ? std::max<std::uint64_t>(replicate_block, (std::uint64_t{1} << 22) / split_chunks(s.groups))
            : launch_max_replicates;
    // A --batch larger than the buffers or the study is cut down: results do not depend on the batch.
    const std::uint64_t chunk = batch_size(batch, s.groups, launch_group_replicates,
                                           max_replicates / replicate_block * replicate_block, job.replicates);
    device_buffer<std::int32_t> d_n(job.n.size(), stream.get());
    if (!job.n.empty())
      SHRINK_CUDA_TRY(cudaMemcpyAsync(d_n.data(), job.n.data(), job.n.size() * sizeof(std::int32_t),
                                      cudaMemcpyHostToDevice, stream.get()));
    device_buffer<double> d_block_df(job.block_df.size(), stream.get());
    if (!job.block_df.empty())
      SHRINK_CUDA_TRY(cudaMemcpyAsync(d_block_df.data(), job.block_df.data(), job.block_df.size() * sizeof(double),
                                      cudaMemcpyHostToDevice, stream.get()));
    device_buffer<double> d_metrics(chunk * metric_count, stream.get());
    const std::uint64_t max_blocks = chunk / replicate_block;
    device_buffer<metric_moments> d_blocks(max_blocks, stream.get());
    pinned_buffer<metric_moments> h_blocks(max_blocks);
    device_buffer<double> d_partials(split ? chunk * split_chunks(s.groups) * 13 : 0, stream.get());
    device_buffer<replicate_hats> d_hats(split ? chunk : 0, stream.get());

    metric_moments total;
    for (std::uint64_t r0 = 0; r0 < job.replicates; r0 += chunk) {
      const std::uint64_t count = std::min(chunk, job.replicates - r0);
      const std::uint64_t blocks = (count + replicate_block - 1) / replicate_block;
      if (split)
        launch_split_async(s, d_n.data(), d_block_df.data(), r0, count, d_partials.data(), d_hats.data(),
                           d_metrics.data(), stream.get());
      else
        launch_replicates_async(s, d_n.data(), d_block_df.data(), r0, count, d_metrics.data(), stream.get());
      launch_merge_async(d_metrics.data(), count, d_blocks.data(), stream.get());
      SHRINK_CUDA_TRY(cudaMemcpyAsync(h_blocks.data(), d_blocks.data(), blocks * sizeof(metric_moments),
                                      cudaMemcpyDeviceToHost, stream.get()));
      stream.synchronize();
      for (std::uint64_t b = 0; b < blocks; ++b) total.merge(h_blocks.data()[b]);
      if (progress) progress(count * static_cast<std::uint64_t>(s.groups));
    }
    out.moments.push_back(total);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace shrink::detail::sim
