// The CPU backend of simulation studies: double precision, threads over replicates (or over
// fixed blocks of groups when a chunk has too few replicates to occupy the threads). Every sum
// over groups is a left fold of fixed 4096-group block partials, whichever schedule runs it, and
// inside a block four interleaved lanes (group j in lane j mod 4) summed in group order then
// combined as (l0 + l1) + (l2 + l3): the order is fixed by the code, never by the thread count or
// chunking, so a study's bits do not depend on them; and the lanes let the compiler vectorise.
//
// Pass 1 draws each group once; up to keep_limit groups the replicate's (t_j, d_j) stay in memory
// for passes 2 and 3 (O(J) per worker), beyond that passes 2 and 3 draw each 4096-group block
// again into stack tiles, with the same bits (the same vectorised tile code as pass 1).

#include "../api/simulate_backend.hpp"
#include "parallel.hpp"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>
#include <vector>

namespace shrink::detail::sim {

namespace {

/// Blocks of the sums over groups; equal to ss_block, so a block's pooled chi-square is drawn
/// with the block.
constexpr std::uint64_t group_block = static_cast<std::uint64_t>(ss_block);
/// Up to this many groups, a replicate's (t_j, d_j) are kept after pass 1 (16 bytes a group and
/// worker) instead of being drawn again by passes 2 and 3.
constexpr std::int64_t keep_limit = std::int64_t{1} << 20;
constexpr int lanes = 4;

/// Sum of the lanes in the fixed order (l0 + l1) + (l2 + l3).
template <class T>
T fold_lanes(const T (&l)[lanes])
{
  return (l[0] + l[1]) + (l[2] + l[3]);
}

/// Groups per tile of draw_normal_tile: its arrays stay in L1.
constexpr std::uint32_t tile = 64;

/// The two normals of groups [first, first + count) of a replicate, count <= tile (`first`: the low
/// 32 bits of the group index; `base`: a stream of a group with the same upper 32 bits): normals_of()
/// staged into loops that the compiler vectorises (Philox words, uniforms and logs, angles), with
/// the same operations on every element, hence the same bits as normals_of() and the GPU. The
/// AVX2 clone has no FMA, so it rounds exactly as the baseline one.
__attribute__((target_clones("avx2", "default"))) void draw_normal_tile(const philox_stream& base, std::uint32_t first,
                                                                        std::uint32_t count, double* __restrict z0,
                                                                        double* __restrict z1)
{
  std::uint32_t w0[tile], w1[tile], w2[tile], w3[tile];
  for (std::uint32_t i = 0; i < count; ++i) {
    const philox_words x = base.at_group(first + i, 0);
    w0[i] = x.w[0];
    w1[i] = x.w[1];
    w2[i] = x.w[2];
    w3[i] = x.w[3];
  }
  double r[tile];
  for (std::uint32_t i = 0; i < count; ++i) r[i] = -2.0 * log_unit(uniform52(w0[i], w1[i]));
  for (std::uint32_t i = 0; i < count; ++i) r[i] = std::sqrt(r[i]);  // own loop: errno keeps it scalar
  for (std::uint32_t i = 0; i < count; ++i) {
    double c, s;
    cos_sin_turn(bits52(w2[i], w3[i]), c, s);
    z0[i] = r[i] * c;
    z1[i] = r[i] * s;
  }
}

/// Sufficient mode with a normal prior: t_j and d_j of groups [j0, j1) into t[0..), d[0..), as
/// draw_group computes them (tau z0 and t + sigma_j z1). n: the block's n_j (n[j - j0]), or null
/// for equal sizes.
void draw_normal_block(const scenario_params& s, const std::int32_t* n, std::uint64_t r, std::uint64_t j0,
                       std::uint64_t j1, double* __restrict t, double* __restrict d)
{
  // The stream of the block's first group: its key carries the upper halves of r and j0, which
  // every group of the block shares (blocks are aligned to 4096 groups, tiles never cross 2^32);
  // the low group word is set per group.
  const philox_stream base = make_stream(s.seed, s.index, r, j0, purpose::theta_ybar);
  const double sigma_equal = design_of(s, s.n).sigma_j;
  double z0[tile], z1[tile];
  for (std::uint64_t a = j0; a < j1; a += tile) {
    const auto count = static_cast<std::uint32_t>(std::min<std::uint64_t>(tile, j1 - a));
    draw_normal_tile(base, static_cast<std::uint32_t>(a), count, z0, z1);
    double* tt = t + (a - j0);
    double* dd = d + (a - j0);
    if (n == nullptr) {
      for (std::uint32_t i = 0; i < count; ++i) {
        tt[i] = s.tau * z0[i];
        dd[i] = tt[i] + sigma_equal * z1[i];
      }
    } else {
      for (std::uint32_t i = 0; i < count; ++i) {
        tt[i] = s.tau * z0[i];
        dd[i] = tt[i] + design_of(s, n[a - j0 + i]).sigma_j * z1[i];
      }
    }
  }
}

/// One scenario's design, and the per-replicate storage of one worker.
class replicate_runner {
 public:
  replicate_runner(const scenario_job& job, bool keep)
      : s_(job.params),
        n_(job.n.empty() ? nullptr : job.n.data()),
        block_df_(job.block_df.empty() ? nullptr : job.block_df.data()),
        keep_(keep),
        fast_(!job.params.raw && !job.params.t_prior)
  {
    equal_ = design_of(s_, s_.n);
    if (keep_) {
      t_.resize(static_cast<std::size_t>(s_.groups));
      d_.resize(static_cast<std::size_t>(s_.groups));
    }
  }

  /// Evaluates replicate r and writes its metric_count metrics. `threads` > 1 splits each pass
  /// over group blocks.
  void run(std::uint64_t r, int threads, double* metrics)
  {
    const auto J = static_cast<std::uint64_t>(s_.groups);
    const pass1_sums p1 = sum_blocks<pass1_sums>(J, threads, [&](std::uint64_t j0, std::uint64_t j1) {
      double tile_t[group_block], tile_d[group_block];
      std::int32_t tile_n[group_block];
      const std::int32_t* n = block_n(r, j0, j1, tile_n);
      double* t = keep_ ? t_.data() + j0 : tile_t;
      double* d = keep_ ? d_.data() + j0 : tile_d;
      pass1_sums lane[lanes];
      if (fast_) {
        draw_normal_block(s_, n, r, j0, j1, t, d);
      } else {
        for (std::uint64_t j = j0; j < j1; ++j) {
          const group_draw x = draw_group(s_, design(n, j - j0), r, j, true);
          t[j - j0] = x.t;
          d[j - j0] = x.d;
          lane[(j - j0) % lanes].ss += x.ss;
        }
      }
      for (std::uint64_t j = j0; j < j1; ++j)
        lane[(j - j0) % lanes].add(group_draw{t[j - j0], d[j - j0], 0.0}, design(n, j - j0));
      pass1_sums acc = fold_lanes(lane);
      acc.ss += block_ss(s_, r, static_cast<std::int64_t>(j0 / group_block), block_df_);
      return acc;
    });
    replicate_hats h = hats_of(s_, p1, r, block_df_);
    if (h.needs_pass2) {
      const pass2_sums p2 = sum_blocks<pass2_sums>(J, threads, [&](std::uint64_t j0, std::uint64_t j1) {
        double tile_t[group_block], tile_d[group_block];
        std::int32_t tile_n[group_block];
        const std::int32_t* n = block_n(r, j0, j1, tile_n);
        const double* d = block_draws(r, j0, j1, n, tile_t, tile_d).second;
        pass2_sums lane[lanes];
        for (std::uint64_t j = j0; j < j1; ++j) {
          const group_design g = design(n, j - j0);
          lane[(j - j0) % lanes].add(d[j - j0], g.inv_n, h.sigma2, h.tau2);
        }
        return fold_lanes(lane);
      });
      finish_hats(h, p2);
    }
    const group_constants equal_c = constants_of(s_, equal_, h);
    const pass3_sums p3 = sum_blocks<pass3_sums>(J, threads, [&](std::uint64_t j0, std::uint64_t j1) {
      double tile_t[group_block], tile_d[group_block];
      std::int32_t tile_n[group_block];
      const std::int32_t* n = block_n(r, j0, j1, tile_n);
      const auto [t, d] = block_draws(r, j0, j1, n, tile_t, tile_d);
      pass3_sums lane[lanes];
      for (std::uint64_t j = j0; j < j1; ++j)
        lane[(j - j0) % lanes].add(group_draw{t[j - j0], d[j - j0], 0.0},
                                   s_.equal_n ? equal_c : constants_of(s_, design(n, j - j0), h), h);
      return fold_lanes(lane);
    });
    metrics_of(s_, p3, h, metrics);
  }

 private:
  /// Group i of a block whose n_j are n[0..) (null: equal sizes).
  group_design design(const std::int32_t* n, std::uint64_t i) const { return n ? design_of(s_, n[i]) : equal_; }

  /// The n_j of groups [j0, j1) of replicate r: null for equal sizes, the design array, or (redraw)
  /// the replicate's own, drawn into the caller's tile.
  const std::int32_t* block_n(std::uint64_t r, std::uint64_t j0, std::uint64_t j1, std::int32_t* tile_n) const
  {
    if (s_.equal_n) return nullptr;
    if (!s_.redraw) return n_ + j0;
    for (std::uint64_t j = j0; j < j1; ++j) tile_n[j - j0] = static_cast<std::int32_t>(n_of(s_, nullptr, r, j));
    return tile_n;
  }

  /// (t_j, d_j) of groups [j0, j1) (one block) of replicate r as pass 1 drew them: the kept arrays,
  /// or drawn again into the caller's tiles by the code pass 1 ran (hence the same bits).
  std::pair<const double*, const double*> block_draws(std::uint64_t r, std::uint64_t j0, std::uint64_t j1,
                                                      const std::int32_t* n, double* tile_t, double* tile_d) const
  {
    if (keep_) return {t_.data() + j0, d_.data() + j0};
    if (fast_) {
      draw_normal_block(s_, n, r, j0, j1, tile_t, tile_d);
    } else {
      for (std::uint64_t j = j0; j < j1; ++j) {
        const group_draw x = draw_group(s_, design(n, j - j0), r, j, false);
        tile_t[j - j0] = x.t;
        tile_d[j - j0] = x.d;
      }
    }
    return {tile_t, tile_d};
  }

  /// ((0 + block 0) + block 1) + ...: the same fold serially or with block partials from threads.
  template <class T, class Block>
  T sum_blocks(std::uint64_t J, int threads, Block&& block)
  {
    T total{};
    if (threads <= 1) {
      for (std::uint64_t j0 = 0; j0 < J; j0 += group_block) total = total + block(j0, std::min(J, j0 + group_block));
      return total;
    }
    std::vector<T> partial((J + group_block - 1) / group_block);
    for_each_block(J, group_block, threads,
                   [&](std::size_t b, std::size_t e, std::size_t i) { partial[i] = block(b, e); });
    for (const T& p : partial) total = total + p;
    return total;
  }

  const scenario_params& s_;
  const std::int32_t* n_;
  const double* block_df_;
  group_design equal_{};
  bool keep_;
  bool fast_;
  std::vector<double> t_, d_;
};

metric_moments run_scenario(const scenario_job& job, int threads, std::uint64_t batch, const progress_fn& progress)
{
  const std::uint64_t R = job.replicates;
  const std::int64_t J = job.params.groups;
  const std::uint64_t chunk = batch_size(batch, J, std::uint64_t{1} << 24, std::uint64_t{1} << 18, R);
  const bool keep = J <= keep_limit;
  std::vector<double> metrics(static_cast<std::size_t>(std::min(chunk, R) * metric_count));
  const std::uint64_t blocks_per_chunk = chunk / replicate_block;
  std::vector<metric_moments> block_moments(static_cast<std::size_t>(blocks_per_chunk));

  // Threads over replicates when a chunk has enough of them, else over group blocks.
  const std::uint64_t per_chunk = std::min(chunk, R);
  const bool across = per_chunk >= 2 * static_cast<std::uint64_t>(threads) || J < static_cast<std::int64_t>(2 * group_block);
  const int workers = across ? static_cast<int>(std::min<std::uint64_t>(threads, per_chunk)) : 1;
  std::vector<replicate_runner> runners;
  runners.reserve(static_cast<std::size_t>(workers));
  for (int w = 0; w < workers; ++w) runners.emplace_back(job, keep);

  metric_moments total;
  for (std::uint64_t r0 = 0; r0 < R; r0 += chunk) {
    const std::uint64_t count = std::min(chunk, R - r0);
    if (across) {
      run_workers(workers, [&](int w) {
        for (std::uint64_t i = static_cast<std::uint64_t>(w); i < count; i += static_cast<std::uint64_t>(workers))
          runners[static_cast<std::size_t>(w)].run(r0 + i, 1, metrics.data() + i * metric_count);
      });
    } else {
      for (std::uint64_t i = 0; i < count; ++i) runners[0].run(r0 + i, threads, metrics.data() + i * metric_count);
    }
    // Chunks start at multiples of replicate_block, so these blocks are the study's fixed blocks.
    const std::uint64_t blocks = (count + replicate_block - 1) / replicate_block;
    for_each_block(blocks, 1, threads, [&](std::size_t b, std::size_t, std::size_t) {
      block_moments[b] = accumulate_block(metrics.data(), b * replicate_block,
                                          std::min<std::uint64_t>(count, (b + 1) * replicate_block));
    });
    for (std::uint64_t b = 0; b < blocks; ++b) total.merge(block_moments[b]);
    if (progress) progress(count * static_cast<std::uint64_t>(J));
  }
  return total;
}

}  // namespace

backend_run run_cpu(const std::vector<scenario_job>& jobs, int threads, std::uint64_t batch, const progress_fn& progress)
{
  const auto t0 = std::chrono::steady_clock::now();
  const int t = thread_count(threads);
  backend_run out;
  out.moments.reserve(jobs.size());
  for (const scenario_job& job : jobs) out.moments.push_back(run_scenario(job, t, batch, progress));
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace shrink::detail::sim
