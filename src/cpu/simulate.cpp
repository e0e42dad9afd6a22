// The CPU backend of simulation studies: double precision, threads over replicates (or over
// fixed blocks of groups when a chunk has too few replicates to occupy the threads). Every sum
// over groups is a left fold of fixed 4096-group block partials, whichever schedule runs it, and
// inside a block eight interleaved lanes (group j in lane j mod 8) summed in group order then
// combined as ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)): the order is fixed by the code,
// never by the thread count, chunking or SIMD level, so a study's bits do not depend on them.
// The lanes are SIMD lanes (simulate_lanes.hpp) where the work is the speed goal's: the draws of
// sufficient mode with a normal prior and pass 3 of equal-size designs.
//
// Pass 1 draws each group once; up to keep_limit groups the replicate's (t_j, d_j) stay in memory
// for passes 2 and 3 (O(J) per worker), beyond that passes 2 and 3 draw each 4096-group block
// again into stack tiles, with the same bits (the same kernel as pass 1).

#include "../api/simulate_backend.hpp"
#include "parallel.hpp"
#include "simulate_lanes.hpp"

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
constexpr int lanes = sum_lanes;

/// Sum of the lanes in the fixed order ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)).
template <class T>
T fold_lanes(const T (&l)[lanes])
{
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/// A SIMD kernel's pass 1 lanes as pass1_sums (ss: 0, added by the caller).
pass1_sums fold_pass1(const pass1_lanes& l)
{
  pass1_sums lane[lanes];
  for (int k = 0; k < lanes; ++k) lane[k] = pass1_sums{l.d[k], l.dd[k], l.nd[k], 0.0, l.n[k], l.inv_n[k]};
  return fold_lanes(lane);
}

/// A SIMD kernel's pass 3 lanes as pass3_sums.
pass3_sums fold_pass3(const pass3_lanes& l)
{
  pass3_sums lane[lanes];
  for (int k = 0; k < lanes; ++k) {
    for (int e = 0; e < estimator_count; ++e) {
      lane[k].se2[e] = l.se2[e][k];
      lane[k].se[e] = l.se[e][k];
    }
    lane[k].covered_np = l.covered_np[k];
    lane[k].covered_pp = l.covered_pp[k];
    lane[k].covered_or = l.covered_or[k];
  }
  return fold_lanes(lane);
}

/// One scenario's design, and the per-replicate storage of one worker.
class replicate_runner {
 public:
  replicate_runner(const scenario_job& job, bool keep, const lane_kernels& kernels)
      : s_(job.params),
        kernels_(kernels),
        n_(job.n.empty() ? nullptr : job.n.data()),
        block_df_(job.block_df.empty() ? nullptr : job.block_df.data()),
        keep_(keep),
        fast_(!job.params.raw && !job.params.t_prior)
  {
    equal_ = design_of(s_, s_.n);
    if (keep_) {
      t_.resize(static_cast<std::size_t>(s_.groups));
      d_.resize(static_cast<std::size_t>(s_.groups));
      if (s_.redraw) kept_n_.resize(static_cast<std::size_t>(s_.groups));
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
      const std::int32_t* n = block_n(r, j0, j1, tile_n, true);
      double* t = keep_ ? t_.data() + j0 : tile_t;
      double* d = keep_ ? d_.data() + j0 : tile_d;
      pass1_sums acc;
      if (fast_) {
        acc = draw_normal_block(n, r, j0, j1, t, d);
      } else {
        pass1_sums lane[lanes];
        for (std::uint64_t j = j0; j < j1; ++j) {
          const group_draw x = draw_group(s_, design(n, j - j0), r, j, true);
          t[j - j0] = x.t;
          d[j - j0] = x.d;
          lane[(j - j0) % lanes].ss += x.ss;
        }
        for (std::uint64_t j = j0; j < j1; ++j)
          lane[(j - j0) % lanes].add(group_draw{t[j - j0], d[j - j0], 0.0}, design(n, j - j0));
        acc = fold_lanes(lane);
      }
      acc.ss += block_ss(s_, r, static_cast<std::int64_t>(j0 / group_block), block_df_);
      return acc;
    });
    replicate_hats h = hats_of(s_, p1, r, block_df_);
    design_constants design_c{h.mu_pooled, h.mu, h.js_center, h.js_c, h.sigma2, h.tau2, h.q, s_.sigma, s_.theta_var, s_.z};
    if (h.needs_pass2) {
      const pass2_sums p2 = sum_blocks<pass2_sums>(J, threads, [&](std::uint64_t j0, std::uint64_t j1) {
        double tile_t[group_block], tile_d[group_block];
        std::int32_t tile_n[group_block];
        const std::int32_t* n = block_n(r, j0, j1, tile_n, false);
        const double* d = block_draws(r, j0, j1, n, tile_t, tile_d).second;
        pass2_lanes sums{};
        kernels_.pass2_block(d, n, static_cast<std::uint32_t>(j1 - j0), design_c, sums);
        pass2_sums lane[lanes];
        for (int k = 0; k < lanes; ++k) lane[k] = pass2_sums{sums.w[k], sums.wd[k]};
        return fold_lanes(lane);
      });
      finish_hats(h, p2);
      design_c.mu = h.mu;
    }
    const group_constants equal_c = constants_of(s_, equal_, h);
    const pass3_constants equal_pass3{h.mu_pooled,     h.mu,          h.js_center,     h.js_c,
                                      equal_c.b_hat,   equal_c.half_np, equal_c.half_pp, equal_c.b_oracle,
                                      equal_c.half_or};
    const pass3_sums p3 = sum_blocks<pass3_sums>(J, threads, [&](std::uint64_t j0, std::uint64_t j1) {
      double tile_t[group_block], tile_d[group_block];
      std::int32_t tile_n[group_block];
      const std::int32_t* n = block_n(r, j0, j1, tile_n, false);
      const auto [t, d] = block_draws(r, j0, j1, n, tile_t, tile_d);
      pass3_lanes sums{};
      if (s_.equal_n)
        kernels_.pass3_block(t, d, static_cast<std::uint32_t>(j1 - j0), equal_pass3, sums);
      else
        kernels_.pass3_block_design(t, d, n, static_cast<std::uint32_t>(j1 - j0), design_c, sums);
      return fold_pass3(sums);
    });
    metrics_of(s_, p3, h, metrics);
  }

 private:
  /// Group i of a block whose n_j are n[0..) (null: equal sizes).
  group_design design(const std::int32_t* n, std::uint64_t i) const { return n ? design_of(s_, n[i]) : equal_; }

  /// The n_j of groups [j0, j1) of replicate r: null for equal sizes, the design array, or (redraw)
  /// the replicate's own: drawn into the caller's tile, or where the draws are kept, drawn into the
  /// kept array by pass 1 (`first_pass`) and read from it by passes 2 and 3.
  const std::int32_t* block_n(std::uint64_t r, std::uint64_t j0, std::uint64_t j1, std::int32_t* tile_n,
                              bool first_pass)
  {
    if (s_.equal_n) return nullptr;
    if (!s_.redraw) return n_ + j0;
    std::int32_t* out = keep_ ? kept_n_.data() + j0 : tile_n;
    if (first_pass || !keep_)
      for (std::uint64_t j = j0; j < j1; ++j) out[j - j0] = static_cast<std::int32_t>(n_of(s_, nullptr, r, j));
    return out;
  }

  /// (t_j, d_j) of groups [j0, j1) (one block) of replicate r as pass 1 drew them: the kept arrays,
  /// or drawn again into the caller's tiles by the code pass 1 ran (hence the same bits).
  std::pair<const double*, const double*> block_draws(std::uint64_t r, std::uint64_t j0, std::uint64_t j1,
                                                      const std::int32_t* n, double* tile_t, double* tile_d) const
  {
    if (keep_) return {t_.data() + j0, d_.data() + j0};
    if (fast_) {
      draw_normal_block(n, r, j0, j1, tile_t, tile_d);
    } else {
      for (std::uint64_t j = j0; j < j1; ++j) {
        const group_draw x = draw_group(s_, design(n, j - j0), r, j, false);
        tile_t[j - j0] = x.t;
        tile_d[j - j0] = x.d;
      }
    }
    return {tile_t, tile_d};
  }

  /// Sufficient mode with a normal prior: t_j and d_j of groups [j0, j1) (one block) into t[0..),
  /// d[0..), as draw_group computes them (tau z0 and t + sigma_j z1), and the block's pass 1 sums
  /// but ss. n: the block's n_j, or null for equal sizes.
  pass1_sums draw_normal_block(const std::int32_t* n, std::uint64_t r, std::uint64_t j0, std::uint64_t j1,
                               double* t, double* d) const
  {
    // The stream of the block's first group: its key carries the upper halves of r and j0, which
    // every group of the block shares (blocks are aligned to 4096 groups, so never cross 2^32);
    // the low group word is set per group.
    const philox_stream base = make_stream(s_.seed, s_.index, r, j0, purpose::theta_ybar);
    draw_block_args a{};
    a.k0 = base.k0;
    a.k1 = base.k1;
    a.replicate = base.replicate;
    a.tag = base.tag;
    a.first = base.group;
    a.count = static_cast<std::uint32_t>(j1 - j0);
    a.tau = s_.tau;
    a.sigma = s_.sigma;
    a.n_equal = static_cast<double>(equal_.n);
    a.sigma_equal = equal_.sigma_j;
    a.n = n;
    pass1_lanes sums{};
    kernels_.draw_block(a, t, d, sums);
    return fold_pass1(sums);
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
  const lane_kernels& kernels_;
  const std::int32_t* n_;
  const double* block_df_;
  group_design equal_{};
  bool keep_;
  bool fast_;
  std::vector<double> t_, d_;
  std::vector<std::int32_t> kept_n_;  ///< with redraw and keep_: the replicate's n_j
};

replicate_fold run_scenario(const scenario_job& job, int threads, std::uint64_t batch, const progress_fn& progress,
                            const lane_kernels& kernels)
{
  const std::uint64_t R = job.count;
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
  for (int w = 0; w < workers; ++w) runners.emplace_back(job, keep, kernels);

  replicate_fold total = empty_fold(job.replicates);
  for (std::uint64_t r0 = job.first; r0 < job.first + R; r0 += chunk) {
    const std::uint64_t count = std::min(chunk, job.first + R - r0);
    if (across) {
      run_workers(workers, [&](int w) {
        for (std::uint64_t i = static_cast<std::uint64_t>(w); i < count; i += static_cast<std::uint64_t>(workers))
          runners[static_cast<std::size_t>(w)].run(r0 + i, 1, metrics.data() + i * metric_count);
      });
    } else {
      for (std::uint64_t i = 0; i < count; ++i) runners[0].run(r0 + i, threads, metrics.data() + i * metric_count);
    }
    merge_replicates(metrics.data(), r0, count, threads, block_moments, total);
    if (progress) progress(count * static_cast<std::uint64_t>(J));
  }
  return total;
}

}  // namespace

void merge_replicates(const double* metrics, std::uint64_t first, std::uint64_t count, int threads,
                      std::vector<metric_moments>& scratch, replicate_fold& total)
{
  // Chunks start at multiples of replicate_block, so these blocks are the study's fixed blocks.
  const std::uint64_t blocks = (count + replicate_block - 1) / replicate_block;
  if (scratch.size() < blocks) scratch.resize(static_cast<std::size_t>(blocks));
  for_each_block(blocks, 1, threads, [&](std::size_t b, std::size_t, std::size_t) {
    scratch[b] = accumulate_block(metrics, b * replicate_block, std::min<std::uint64_t>(count, (b + 1) * replicate_block));
  });
  for (std::uint64_t b = 0; b < blocks; ++b) total.add(0, static_cast<std::size_t>(first / replicate_block + b), scratch[b]);
}

backend_run run_cpu(const std::vector<scenario_job>& jobs, int threads, std::uint64_t batch, const progress_fn& progress)
{
  const auto t0 = std::chrono::steady_clock::now();
  const int t = thread_count(threads);
  const lane_kernels& kernels = kernels_of(simd_level_in_use());
  backend_run out;
  out.moments.reserve(jobs.size());
  for (const scenario_job& job : jobs) out.moments.push_back(run_scenario(job, t, batch, progress, kernels));
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace shrink::detail::sim
