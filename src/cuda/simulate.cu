// Host side of simulation studies on the GPU: per scenario, the design on the device, then
// batches of replicates (a multiple of replicate_block each): the replicate kernels (the team or
// the split path, chosen per launch: both give the same bits), the block merge, and a copy of the
// block moments that the host merges by the tree over the study's blocks, exactly as the CPU backend does. Memory,
// allocated once for the largest scenario before the clock starts: the design (J int32 and J/4096
// doubles when n_j vary), one batch's metrics and the split path's partials; nothing
// proportional to J x R.

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
/// At most this many (replicate, chunk) partial sums of the split path at a time, 13 doubles
/// each: 436 MiB.
constexpr std::uint64_t max_partial_sets = std::uint64_t{1} << 22;

/// Whether a launch of `count` replicates takes the split path (use_split, within the partials'
/// memory bound). Either path gives the same bits.
bool split_launch(const scenario_params& s, std::uint64_t count)
{
  return use_split(s, count) && count * split_chunks(s.groups) <= max_partial_sets;
}

/// A scenario's launches: `batch` replicates each (a multiple of replicate_block), the last
/// `last`; and the largest count of those that take the split path (0: none).
struct job_plan {
  std::uint64_t batch = 0, last = 0, split_count = 0;
};

job_plan plan_of(const scenario_job& job, std::uint64_t requested)
{
  const scenario_params& s = job.params;
  const std::uint64_t R = job.count;
  auto last_of = [&](std::uint64_t b) { return R == 0 ? 0 : R - ((R - 1) / b) * b; };
  job_plan p;
  p.batch = batch_size(requested, s.groups, launch_group_replicates,
                       launch_max_replicates / replicate_block * replicate_block, R);
  if (use_split(s, std::min(p.batch, R))) {
    // Split launches keep their partials within max_partial_sets: fewer replicates per launch.
    const std::uint64_t cap = std::max<std::uint64_t>(replicate_block, max_partial_sets / split_chunks(s.groups));
    p.batch = batch_size(requested, s.groups, launch_group_replicates, cap / replicate_block * replicate_block, R);
  }
  p.last = last_of(p.batch);
  for (std::uint64_t count : {std::min(p.batch, R), p.last})
    if (count > 0 && split_launch(s, count)) p.split_count = std::max(p.split_count, count);
  return p;
}

}  // namespace

backend_run run_cuda(const std::vector<scenario_job>& jobs, std::uint64_t batch, const progress_fn& progress)
{
  cuda_stream stream;
  const cudaStream_t st = stream.get();
  backend_run out;
  out.moments.reserve(jobs.size());

  // Every buffer once, sized for the largest scenario, before the clock starts.
  std::vector<job_plan> plans;
  plans.reserve(jobs.size());
  std::size_t max_n = 0, max_df = 0;
  std::uint64_t max_batch = 0, max_partials = 0, max_hats = 0;
  for (const scenario_job& job : jobs) {
    plans.push_back(plan_of(job, batch));
    const job_plan& p = plans.back();
    max_n = std::max(max_n, job.n.size());
    max_df = std::max(max_df, job.block_df.size());
    max_batch = std::max(max_batch, std::min(p.batch, job.count));
    max_partials = std::max(max_partials, p.split_count * split_chunks(job.params.groups) * 13);
    max_hats = std::max(max_hats, p.split_count);
  }
  const std::uint64_t max_blocks = (max_batch + replicate_block - 1) / replicate_block;
  device_buffer<std::int32_t> d_n(max_n, st);
  device_buffer<double> d_block_df(max_df, st);
  device_buffer<double> d_metrics(max_batch * metric_count, st);
  device_buffer<metric_moments> d_blocks(max_blocks, st);
  pinned_buffer<metric_moments> h_blocks(max_blocks);
  device_buffer<double> d_partials(max_partials, st);
  device_buffer<replicate_hats> d_hats(max_hats, st);
  SHRINK_CUDA_TRY(cudaStreamSynchronize(st));  // context and buffers ready before the clock starts

  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const scenario_job& job = jobs[i];
    const scenario_params& s = job.params;
    const std::uint64_t chunk = plans[i].batch;
    if (!job.n.empty())
      SHRINK_CUDA_TRY(cudaMemcpyAsync(d_n.data(), job.n.data(), job.n.size() * sizeof(std::int32_t),
                                      cudaMemcpyHostToDevice, st));
    if (!job.block_df.empty())
      SHRINK_CUDA_TRY(cudaMemcpyAsync(d_block_df.data(), job.block_df.data(), job.block_df.size() * sizeof(double),
                                      cudaMemcpyHostToDevice, st));
    replicate_fold total = empty_fold(job.replicates);
    const std::uint64_t end = job.first + job.count;
    for (std::uint64_t r0 = job.first; r0 < end; r0 += chunk) {
      const std::uint64_t count = std::min(chunk, end - r0);
      const std::uint64_t blocks = (count + replicate_block - 1) / replicate_block;
      // The path follows the launch's size and the GPU; the bits do not depend on it.
      if (split_launch(s, count))
        launch_split_async(s, d_n.data(), d_block_df.data(), r0, count, d_partials.data(), d_hats.data(),
                           d_metrics.data(), st);
      else
        launch_replicates_async(s, d_n.data(), d_block_df.data(), r0, count, d_metrics.data(), st);
      launch_merge_async(d_metrics.data(), count, d_blocks.data(), st);
      SHRINK_CUDA_TRY(cudaMemcpyAsync(h_blocks.data(), d_blocks.data(), blocks * sizeof(metric_moments),
                                      cudaMemcpyDeviceToHost, st));
      stream.synchronize();
      for (std::uint64_t b = 0; b < blocks; ++b) total.add(0, static_cast<std::size_t>(r0 / replicate_block + b), h_blocks.data()[b]);
      if (progress) progress(count * static_cast<std::uint64_t>(s.groups));
    }
    out.moments.push_back(total);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace shrink::detail::sim
