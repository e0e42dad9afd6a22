#include "simulate.cuh"

#include "cuda/cuda_check.hpp"

#include <algorithm>
#include <atomic>

namespace shrink::detail::sim {

namespace {

constexpr unsigned full_mask = 0xffffffffu;
constexpr int warps_per_block = simulate_block_threads / 32;

/// Sums v[0..N) over the Team lanes of a team; every lane gets the same bits (IEEE addition is
/// commutative, so both ends of a butterfly step compute the same sum). All 32 lanes of a warp
/// must call it, idle teams too. smem: N x warps_per_block doubles when Team spans the block.
template <int Team, int N>
__device__ void team_sum(double (&v)[N], double* smem)
{
  constexpr int width = Team < 32 ? Team : 32;
#pragma unroll
  for (int offset = width / 2; offset >= 1; offset /= 2)
#pragma unroll
    for (int k = 0; k < N; ++k) v[k] += __shfl_xor_sync(full_mask, v[k], offset);
  if constexpr (Team > 32) {
    static_assert(Team == simulate_block_threads, "a team larger than a warp is the whole block");
    const int warp = static_cast<int>(threadIdx.x) / 32;
    __syncthreads();  // smem may still be read from the previous call
    if (threadIdx.x % 32 == 0)
#pragma unroll
      for (int k = 0; k < N; ++k) smem[k * warps_per_block + warp] = v[k];
    __syncthreads();
#pragma unroll
    for (int k = 0; k < N; ++k) {
      double total = 0;
      for (int w = 0; w < warps_per_block; ++w) total += smem[k * warps_per_block + w];
      v[k] = total;
    }
  }
}

/// A replicate's passes over the groups [begin, end) by the Team lanes of a team (lane l takes
/// begin + l, begin + l + Team, ...). begin is a multiple of ss_block.
template <int Team, bool EqualN>
struct replicate_agent {
  const scenario_params& s;
  const std::int32_t* __restrict__ d_n;
  const double* __restrict__ d_block_df;

  /// Group j's design in replicate r (the design array, or with redraw the replicate's own n_j).
  __device__ group_design design(std::uint64_t r, std::int64_t j, const group_design& equal) const
  {
    if constexpr (EqualN) return equal;
    else return design_of(s, n_of(s, d_n, r, static_cast<std::uint64_t>(j)));
  }

  __device__ pass1_sums pass1(std::uint64_t r, std::int64_t begin, std::int64_t end, int lane) const
  {
    const group_design equal = design_of(s, s.n);
    pass1_sums p;
    for (std::int64_t j = begin + lane; j < end; j += Team) {
      const group_design g = design(r, j, equal);
      p.add(draw_group(s, g, r, static_cast<std::uint64_t>(j), true), g);
    }
    // Sufficient mode's pooled within-group sums, one gamma draw per 4096 groups, outside the
    // hot loop so that its registers and rejection loop stay out of it.
    const std::int64_t b_end = (end + ss_block - 1) / ss_block;
    for (std::int64_t b = begin / ss_block + lane; b < b_end; b += Team) p.ss += block_ss(s, r, b, d_block_df);
    return p;
  }

  __device__ pass2_sums pass2(std::uint64_t r, std::int64_t begin, std::int64_t end, int lane,
                              const replicate_hats& h) const
  {
    const group_design equal = design_of(s, s.n);
    pass2_sums p;
    for (std::int64_t j = begin + lane; j < end; j += Team) {
      const group_design g = design(r, j, equal);
      p.add(draw_group(s, g, r, static_cast<std::uint64_t>(j), false).d, g.inv_n, h.sigma2, h.tau2);
    }
    return p;
  }

  __device__ pass3_sums pass3(std::uint64_t r, std::int64_t begin, std::int64_t end, int lane,
                              const replicate_hats& h) const
  {
    const group_design equal = design_of(s, s.n);
    const group_constants equal_c = constants_of(s, equal, h);
    pass3_sums p;
    for (std::int64_t j = begin + lane; j < end; j += Team) {
      const group_design g = design(r, j, equal);
      const group_draw x = draw_group(s, g, r, static_cast<std::uint64_t>(j), false);
      if constexpr (EqualN) p.add(x, equal_c, h);
      else p.add(x, constants_of(s, g, h), h);
    }
    return p;
  }
};

// The pass sums as arrays for team_sum and the split path's partials, and back.
constexpr int pass1_width = 6, pass2_width = 2, pass3_width = 13;

__device__ void to_array(const pass1_sums& p, double (&v)[pass1_width])
{
  v[0] = p.d;
  v[1] = p.dd;
  v[2] = p.nd;
  v[3] = p.ss;
  v[4] = p.n;
  v[5] = p.inv_n;
}
__device__ void to_array(const pass2_sums& p, double (&v)[pass2_width]) { v[0] = p.w; v[1] = p.wd; }
__device__ void to_array(const pass3_sums& p, double (&v)[pass3_width])
{
#pragma unroll
  for (int e = 0; e < estimator_count; ++e) {
    v[e] = p.se2[e];
    v[estimator_count + e] = p.se[e];
  }
  v[10] = p.covered_np;
  v[11] = p.covered_pp;
  v[12] = p.covered_or;
}
__device__ pass1_sums pass1_of(const double* v) { return {v[0], v[1], v[2], v[3], v[4], v[5]}; }
__device__ pass2_sums pass2_of(const double* v) { return {v[0], v[1]}; }
__device__ pass3_sums pass3_of(const double* v)
{
  pass3_sums p;
  for (int e = 0; e < estimator_count; ++e) {
    p.se2[e] = v[e];
    p.se[e] = v[estimator_count + e];
  }
  p.covered_np = v[10];
  p.covered_pp = v[11];
  p.covered_or = v[12];
  return p;
}

/// Pass P's sums over a replicate's groups [0, J) by one team, every lane getting the same bits.
/// A team smaller than the block sums them at once. The block team sums each chunk of
/// split_chunk groups and adds the chunk sums in chunk order from 0: what split_pass_kernel and
/// split_fold_kernel compute, so both paths give the same bits. J is the same for every lane
/// of a team (the block team: of the block), so every lane runs the same number of team sums.
template <int P, int Team, bool EqualN, int Width>
__device__ void pass_sums(const replicate_agent<Team, EqualN>& a, std::uint64_t r, std::int64_t J, int lane,
                          const replicate_hats& h, double* smem, double (&v)[Width])
{
  auto part = [&](std::int64_t begin, std::int64_t end, double(&c)[Width]) {
    if constexpr (P == 1) to_array(a.pass1(r, begin, end, lane), c);
    else if constexpr (P == 2) to_array(a.pass2(r, begin, end, lane, h), c);
    else to_array(a.pass3(r, begin, end, lane, h), c);
  };
  if constexpr (Team < simulate_block_threads) {
    part(0, J, v);
    team_sum<Team>(v, smem);
  } else {
#pragma unroll
    for (int k = 0; k < Width; ++k) v[k] = 0;
    for (std::int64_t begin = 0; begin < J; begin += split_chunk) {
      double c[Width];
      part(begin, begin + split_chunk < J ? begin + split_chunk : J, c);
      team_sum<Team>(c, smem);
#pragma unroll
      for (int k = 0; k < Width; ++k) v[k] = v[k] + c[k];
    }
  }
}

/// One team per replicate: the three passes over all its groups, team sums between them.
/// J_team = 0 for a team past the last replicate: it only joins the shuffles.
template <int Team, bool EqualN>
__device__ void run_replicate(const replicate_agent<Team, EqualN>& a, std::uint64_t r, std::int64_t J_team, int lane,
                              double* smem, double* out)
{
  const replicate_hats none{};
  double v1[pass1_width];
  pass_sums<1>(a, r, J_team, lane, none, smem, v1);
  replicate_hats h = hats_of(a.s, pass1_of(v1), r, a.d_block_df);
  if constexpr (!EqualN) {
    // Every lane joins the sum; teams that need no weighted pass add nothing.
    double v2[pass2_width];
    pass_sums<2>(a, r, h.needs_pass2 ? J_team : 0, lane, h, smem, v2);
    if (h.needs_pass2) finish_hats(h, pass2_of(v2));
  }
  double v3[pass3_width];
  pass_sums<3>(a, r, J_team, lane, h, smem, v3);
  if (J_team > 0 && lane == 0) metrics_of(a.s, pass3_of(v3), h, out);
}

template <int Team, bool EqualN>
__global__ void __launch_bounds__(simulate_block_threads)
  simulate_replicates_kernel(scenario_params s, const std::int32_t* __restrict__ d_n,
                             const double* __restrict__ d_block_df, std::uint64_t first, std::uint64_t count,
                             double* __restrict__ d_metrics)
{
  __shared__ double smem[pass3_width * warps_per_block];
  const std::uint64_t thread = static_cast<std::uint64_t>(blockIdx.x) * simulate_block_threads + threadIdx.x;
  const std::uint64_t team = thread / Team;
  const std::int64_t J_team = team < count ? s.groups : 0;
  run_replicate(replicate_agent<Team, EqualN>{s, d_n, d_block_df}, first + team, J_team,
                static_cast<int>(thread % Team), smem, d_metrics + team * metric_count);
}

// The split path: a replicate's groups in chunks of split_chunk, one block per (replicate, chunk)
// and pass, the chunk partials folded in chunk order by one thread per replicate between passes.

/// Pass P (1, 2 or 3) of block (replicate i, chunk c) into partials[(i * chunks + c) * width].
template <int P, bool EqualN>
__global__ void __launch_bounds__(simulate_block_threads)
  split_pass_kernel(scenario_params s, const std::int32_t* __restrict__ d_n, const double* __restrict__ d_block_df,
                    std::uint64_t first, std::uint64_t chunks, const replicate_hats* __restrict__ d_hats,
                    double* __restrict__ d_partials)
{
  __shared__ double smem[pass3_width * warps_per_block];
  const std::uint64_t i = blockIdx.x / chunks;
  const std::uint64_t c = blockIdx.x % chunks;
  const auto begin = static_cast<std::int64_t>(c) * split_chunk;
  const std::int64_t end = begin + split_chunk < s.groups ? begin + split_chunk : s.groups;
  const replicate_agent<simulate_block_threads, EqualN> a{s, d_n, d_block_df};
  const int lane = static_cast<int>(threadIdx.x);
  if constexpr (P == 1) {
    double v[pass1_width];
    to_array(a.pass1(first + i, begin, end, lane), v);
    team_sum<simulate_block_threads>(v, smem);
    if (lane == 0)
      for (int k = 0; k < pass1_width; ++k) d_partials[(i * chunks + c) * pass1_width + k] = v[k];
  } else if constexpr (P == 2) {
    const replicate_hats h = d_hats[i];
    if (!h.needs_pass2) return;  // the whole block: no barrier is skipped by only some threads
    double v[pass2_width];
    to_array(a.pass2(first + i, begin, end, lane, h), v);
    team_sum<simulate_block_threads>(v, smem);
    if (lane == 0)
      for (int k = 0; k < pass2_width; ++k) d_partials[(i * chunks + c) * pass2_width + k] = v[k];
  } else {
    double v[pass3_width];
    to_array(a.pass3(first + i, begin, end, lane, d_hats[i]), v);
    team_sum<simulate_block_threads>(v, smem);
    if (lane == 0)
      for (int k = 0; k < pass3_width; ++k) d_partials[(i * chunks + c) * pass3_width + k] = v[k];
  }
}

/// ((0 + chunk 0) + chunk 1) + ... of replicate i's partials of a pass.
template <int Width>
__device__ void fold_chunks(const double* d_partials, std::uint64_t i, std::uint64_t chunks, double (&v)[Width])
{
  for (int k = 0; k < Width; ++k) v[k] = 0;
  for (std::uint64_t c = 0; c < chunks; ++c)
    for (int k = 0; k < Width; ++k) v[k] = v[k] + d_partials[(i * chunks + c) * Width + k];
}

/// Between the passes, one thread per replicate: P = 1 the hats, 2 mu_hat, 3 the metrics.
template <int P>
__global__ void split_fold_kernel(scenario_params s, const double* __restrict__ d_block_df, std::uint64_t first,
                                  std::uint64_t count, std::uint64_t chunks, const double* __restrict__ d_partials,
                                  replicate_hats* __restrict__ d_hats, double* __restrict__ d_metrics)
{
  const std::uint64_t i = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  if constexpr (P == 1) {
    double v[pass1_width];
    fold_chunks(d_partials, i, chunks, v);
    d_hats[i] = hats_of(s, pass1_of(v), first + i, d_block_df);
  } else if constexpr (P == 2) {
    if (!d_hats[i].needs_pass2) return;
    double v[pass2_width];
    fold_chunks(d_partials, i, chunks, v);
    finish_hats(d_hats[i], pass2_of(v));
  } else {
    double v[pass3_width];
    fold_chunks(d_partials, i, chunks, v);
    metrics_of(s, pass3_of(v), d_hats[i], d_metrics + i * metric_count);
  }
}

template <bool EqualN>
void launch_split(const scenario_params& s, const std::int32_t* d_n, const double* d_block_df, std::uint64_t first,
                  std::uint64_t count, double* d_partials, replicate_hats* d_hats, double* d_metrics,
                  cudaStream_t stream)
{
  const std::uint64_t chunks = split_chunks(s.groups);
  const auto pass_blocks = static_cast<unsigned>(count * chunks);
  const auto fold_blocks = static_cast<unsigned>((count + 127) / 128);
  split_pass_kernel<1, EqualN><<<pass_blocks, simulate_block_threads, 0, stream>>>(s, d_n, d_block_df, first, chunks,
                                                                                   d_hats, d_partials);
  SHRINK_CUDA_CHECK_LAUNCH();
  split_fold_kernel<1><<<fold_blocks, 128, 0, stream>>>(s, d_block_df, first, count, chunks, d_partials, d_hats,
                                                         d_metrics);
  SHRINK_CUDA_CHECK_LAUNCH();
  if constexpr (!EqualN) {
    split_pass_kernel<2, EqualN><<<pass_blocks, simulate_block_threads, 0, stream>>>(s, d_n, d_block_df, first, chunks,
                                                                                     d_hats, d_partials);
    SHRINK_CUDA_CHECK_LAUNCH();
    split_fold_kernel<2><<<fold_blocks, 128, 0, stream>>>(s, d_block_df, first, count, chunks, d_partials, d_hats,
                                                           d_metrics);
    SHRINK_CUDA_CHECK_LAUNCH();
  }
  split_pass_kernel<3, EqualN><<<pass_blocks, simulate_block_threads, 0, stream>>>(s, d_n, d_block_df, first, chunks,
                                                                                   d_hats, d_partials);
  SHRINK_CUDA_CHECK_LAUNCH();
  split_fold_kernel<3><<<fold_blocks, 128, 0, stream>>>(s, d_block_df, first, count, chunks, d_partials, d_hats,
                                                         d_metrics);
  SHRINK_CUDA_CHECK_LAUNCH();
}

__global__ void merge_blocks_kernel(const double* __restrict__ d_metrics, std::uint64_t count,
                                    metric_moments* __restrict__ d_blocks)
{
  const std::uint64_t b = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::uint64_t begin = b * replicate_block;
  if (begin >= count) return;
  const std::uint64_t end = begin + replicate_block < count ? begin + replicate_block : count;
  d_blocks[b] = accumulate_block(d_metrics, begin, end);
}

template <int Team>
void launch_team(const scenario_params& s, const std::int32_t* d_n, const double* d_block_df, std::uint64_t first,
                 std::uint64_t count, double* d_metrics, cudaStream_t stream)
{
  constexpr std::uint64_t teams_per_block = simulate_block_threads / Team;
  const auto blocks = static_cast<unsigned>((count + teams_per_block - 1) / teams_per_block);
  if (s.equal_n)
    simulate_replicates_kernel<Team, true>
      <<<blocks, simulate_block_threads, 0, stream>>>(s, d_n, d_block_df, first, count, d_metrics);
  else
    simulate_replicates_kernel<Team, false>
      <<<blocks, simulate_block_threads, 0, stream>>>(s, d_n, d_block_df, first, count, d_metrics);
  SHRINK_CUDA_CHECK_LAUNCH();
}

}  // namespace

int team_size(std::int64_t groups)
{
  if (groups >= 4096) return simulate_block_threads;
  int t = 1;
  while (t < 32 && static_cast<std::int64_t>(t) * 4 < groups) t *= 2;
  return t;
}

std::uint64_t split_chunks(std::int64_t groups)
{
  return static_cast<std::uint64_t>((groups + split_chunk - 1) / split_chunk);
}

namespace {

std::atomic<int> forced_path{0};

/// Blocks of `kernel` resident on the whole GPU at once (SMs x blocks per SM), at least 1.
template <class Kernel>
std::uint64_t resident_blocks(Kernel kernel)
{
  int device = 0, sms = 0, per_sm = 0;
  SHRINK_CUDA_TRY(cudaGetDevice(&device));
  SHRINK_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  SHRINK_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, simulate_block_threads, 0));
  return static_cast<std::uint64_t>(std::max(1, sms) * std::max(1, per_sm));
}

/// The fraction of the GPU's block slots that `blocks` blocks keep busy over their waves.
double wave_efficiency(std::uint64_t blocks, std::uint64_t resident)
{
  const std::uint64_t waves = (blocks + resident - 1) / resident;
  return waves == 0 ? 0.0 : static_cast<double>(blocks) / static_cast<double>(waves * resident);
}

}  // namespace

void force_path_for_testing(int path) { forced_path.store(path); }

bool use_split(const scenario_params& s, std::uint64_t count)
{
  if (team_size(s.groups) != simulate_block_threads || count == 0) return false;  // small teams: one path
  const int forced = forced_path.load();
  if (forced != 0) return forced == 2;
  const std::uint64_t chunks = split_chunks(s.groups);
  if (chunks < 2) return false;
  // Queried once per process and kernel variant (the device does not change under a run).
  static const std::uint64_t team_resident[2] = {
    resident_blocks(simulate_replicates_kernel<simulate_block_threads, false>),
    resident_blocks(simulate_replicates_kernel<simulate_block_threads, true>)};
  static const std::uint64_t split_resident[2] = {resident_blocks(split_pass_kernel<3, false>),
                                                  resident_blocks(split_pass_kernel<3, true>)};
  const int v = s.equal_n ? 1 : 0;
  return wave_efficiency(count * chunks, split_resident[v]) > 1.1 * wave_efficiency(count, team_resident[v]);
}

void launch_split_async(const scenario_params& s, const std::int32_t* d_n, const double* d_block_df,
                        std::uint64_t first, std::uint64_t count, double* d_partials, replicate_hats* d_hats,
                        double* d_metrics, cudaStream_t stream)
{
  if (count == 0) return;
  if (s.equal_n) launch_split<true>(s, d_n, d_block_df, first, count, d_partials, d_hats, d_metrics, stream);
  else launch_split<false>(s, d_n, d_block_df, first, count, d_partials, d_hats, d_metrics, stream);
}

void launch_replicates_async(const scenario_params& s, const std::int32_t* d_n, const double* d_block_df,
                             std::uint64_t first, std::uint64_t count, double* d_metrics, cudaStream_t stream)
{
  if (count == 0) return;
  switch (team_size(s.groups)) {
    case 1: return launch_team<1>(s, d_n, d_block_df, first, count, d_metrics, stream);
    case 2: return launch_team<2>(s, d_n, d_block_df, first, count, d_metrics, stream);
    case 4: return launch_team<4>(s, d_n, d_block_df, first, count, d_metrics, stream);
    case 8: return launch_team<8>(s, d_n, d_block_df, first, count, d_metrics, stream);
    case 16: return launch_team<16>(s, d_n, d_block_df, first, count, d_metrics, stream);
    case 32: return launch_team<32>(s, d_n, d_block_df, first, count, d_metrics, stream);
    default: return launch_team<simulate_block_threads>(s, d_n, d_block_df, first, count, d_metrics, stream);
  }
}

void launch_merge_async(const double* d_metrics, std::uint64_t count, metric_moments* d_blocks, cudaStream_t stream)
{
  if (count == 0) return;
  const std::uint64_t blocks = (count + replicate_block - 1) / replicate_block;
  constexpr unsigned threads = 128;
  merge_blocks_kernel<<<static_cast<unsigned>((blocks + threads - 1) / threads), threads, 0, stream>>>(d_metrics, count,
                                                                                                     d_blocks);
  SHRINK_CUDA_CHECK_LAUNCH();
}

}  // namespace shrink::detail::sim
