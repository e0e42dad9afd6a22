#include "simulate.cuh"

#include "cuda/cuda_check.hpp"

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

/// One team's work on one replicate: the three passes over its groups.
template <int Team, bool EqualN>
struct replicate_agent {
  const scenario_params& s;
  const std::int32_t* __restrict__ d_n;
  double* smem;

  __device__ group_design design(std::int64_t j, const group_design& equal) const
  {
    if constexpr (EqualN) return equal;
    else return design_of(s, d_n[j]);
  }

  /// J_team = 0 for a team past the last replicate: it only joins the shuffles.
  __device__ void run(std::uint64_t r, std::int64_t J_team, int lane, double* out)
  {
    const group_design equal = design_of(s, s.n);

    pass1_sums p1;
    for (std::int64_t j = lane; j < J_team; j += Team) {
      const group_design g = design(j, equal);
      p1.add(draw_group(s, g, r, static_cast<std::uint64_t>(j), true), g.n);
    }
    double v1[4] = {p1.d, p1.dd, p1.nd, p1.ss};
    team_sum<Team>(v1, smem);
    replicate_hats h = hats_of(s, pass1_sums{v1[0], v1[1], v1[2], v1[3]});

    if constexpr (!EqualN) {
      // Every lane joins the sum; teams that need no weighted pass add nothing.
      pass2_sums p2;
      const std::int64_t J2 = h.needs_pass2 ? J_team : 0;
      for (std::int64_t j = lane; j < J2; j += Team) {
        const group_design g = design(j, equal);
        p2.add(draw_group(s, g, r, static_cast<std::uint64_t>(j), false).d, g.inv_n, h.sigma2, h.tau2);
      }
      double v2[2] = {p2.w, p2.wd};
      team_sum<Team>(v2, smem);
      if (h.needs_pass2) finish_hats(h, pass2_sums{v2[0], v2[1]});
    }

    const group_constants equal_c = constants_of(s, equal, h);
    pass3_sums p3;
    for (std::int64_t j = lane; j < J_team; j += Team) {
      const group_design g = design(j, equal);
      const group_draw x = draw_group(s, g, r, static_cast<std::uint64_t>(j), false);
      if constexpr (EqualN) p3.add(x, equal_c, h);
      else p3.add(x, constants_of(s, g, h), h);
    }
    double v3[13];
#pragma unroll
    for (int e = 0; e < estimator_count; ++e) {
      v3[e] = p3.se2[e];
      v3[estimator_count + e] = p3.se[e];
    }
    v3[10] = p3.covered_np;
    v3[11] = p3.covered_pp;
    v3[12] = p3.covered_or;
    team_sum<Team>(v3, smem);
    if (J_team > 0 && lane == 0) {
#pragma unroll
      for (int e = 0; e < estimator_count; ++e) {
        p3.se2[e] = v3[e];
        p3.se[e] = v3[estimator_count + e];
      }
      p3.covered_np = v3[10];
      p3.covered_pp = v3[11];
      p3.covered_or = v3[12];
      metrics_of(s, p3, h, out);
    }
  }
};

template <int Team, bool EqualN>
__global__ void __launch_bounds__(simulate_block_threads)
  simulate_replicates_kernel(scenario_params s, const std::int32_t* __restrict__ d_n, std::uint64_t first,
                             std::uint64_t count, double* __restrict__ d_metrics)
{
  __shared__ double smem[13 * warps_per_block];
  const std::uint64_t thread = static_cast<std::uint64_t>(blockIdx.x) * simulate_block_threads + threadIdx.x;
  const std::uint64_t team = thread / Team;
  const std::int64_t J_team = team < count ? s.groups : 0;
  replicate_agent<Team, EqualN>{s, d_n, smem}.run(first + team, J_team, static_cast<int>(thread % Team),
                                                  d_metrics + team * metric_count);
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
void launch_team(const scenario_params& s, const std::int32_t* d_n, std::uint64_t first, std::uint64_t count,
                 double* d_metrics, cudaStream_t stream)
{
  constexpr std::uint64_t teams_per_block = simulate_block_threads / Team;
  const auto blocks = static_cast<unsigned>((count + teams_per_block - 1) / teams_per_block);
  if (s.equal_n)
    simulate_replicates_kernel<Team, true><<<blocks, simulate_block_threads, 0, stream>>>(s, d_n, first, count, d_metrics);
  else
    simulate_replicates_kernel<Team, false><<<blocks, simulate_block_threads, 0, stream>>>(s, d_n, first, count, d_metrics);
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

void launch_replicates_async(const scenario_params& s, const std::int32_t* d_n, std::uint64_t first,
                             std::uint64_t count, double* d_metrics, cudaStream_t stream)
{
  if (count == 0) return;
  switch (team_size(s.groups)) {
    case 1: return launch_team<1>(s, d_n, first, count, d_metrics, stream);
    case 2: return launch_team<2>(s, d_n, first, count, d_metrics, stream);
    case 4: return launch_team<4>(s, d_n, first, count, d_metrics, stream);
    case 8: return launch_team<8>(s, d_n, first, count, d_metrics, stream);
    case 16: return launch_team<16>(s, d_n, first, count, d_metrics, stream);
    case 32: return launch_team<32>(s, d_n, first, count, d_metrics, stream);
    default: return launch_team<simulate_block_threads>(s, d_n, first, count, d_metrics, stream);
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
