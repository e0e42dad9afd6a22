#pragma once
// The seam between the backend-independent study (src/api/simulate.cpp) and a backend: run a range
// of replicates of some scenarios and return, per scenario, the moments of the per-replicate metrics
// of each block of sim::replicate_block replicates, merged by the fixed-shape tree over the study's
// blocks (fixed_reduce_part): ranges run apart merge into the bits of the whole run.

#include "../common/count_samplers.hpp"
#include "../common/fixed_reduce_part.hpp"
#include "../common/simulate_formulas.hpp"

#include <shrink/simulate.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace shrink::detail::sim {

struct scenario_job {
  scenario_params params;
  std::vector<std::int32_t> n;   ///< the design's n_j when !params.equal_n, else empty
  /// When !params.equal_n: sum of (n_j - 1) per block of ss_block groups; with params.redraw
  /// (no fixed blocks) and params.q_by_df, the t quantiles for df = params.df_min + i instead.
  std::vector<double> block_df;
  std::uint64_t replicates = 0;  ///< the study's
  std::uint64_t first = 0, count = 0;  ///< the replicates this run draws: [first, first + count)
};

/// The study's replicate blocks merged so far (leaves: its blocks of replicate_block replicates).
using replicate_fold = fixed_reduce_part<metric_moments>;

/// The fold of a study of `replicates` replicates, holding no block yet.
inline replicate_fold empty_fold(std::uint64_t replicates)
{
  return replicate_fold(static_cast<std::size_t>((replicates + replicate_block - 1) / replicate_block));
}

/// Reports group-replicates finished since the last call.
using progress_fn = std::function<void(std::uint64_t group_replicates_done)>;

/// What a backend returns: per scenario, the merged metrics of its range; and the seconds its
/// replicate loop took (after device setup: context, stream and buffers).
struct backend_run {
  std::vector<replicate_fold> moments;
  double seconds = 0;
};

/// batch: replicates per chunk (rounded up to a multiple of replicate_block) or 0 for automatic.
backend_run run_cpu(const std::vector<scenario_job>& jobs, int threads, std::uint64_t batch, const progress_fn& progress);

/// Defined in src/cuda/simulate.cu when CUDA is built; else throws.
backend_run run_cuda(const std::vector<scenario_job>& jobs, std::uint64_t batch, const progress_fn& progress);

/// Replicates per chunk for `groups` groups when the caller asked for `requested` (0 = automatic:
/// about target_group_replicates of work), at most max_replicates (a multiple of replicate_block)
/// and the study's `replicates` rounded up to a multiple of replicate_block: a multiple of
/// replicate_block, whatever `requested` is.
std::uint64_t batch_size(std::uint64_t requested, std::int64_t groups, std::uint64_t target_group_replicates,
                         std::uint64_t max_replicates, std::uint64_t replicates);

/// Folds the metrics of replicates [first, first + count) (metric_count each; first a multiple of
/// replicate_block) into `total`: Welford within each block of replicate_block (blocks on
/// `threads`), each block a leaf of the tree. `scratch` holds the block moments.
void merge_replicates(const double* metrics, std::uint64_t first, std::uint64_t count, int threads,
                      std::vector<metric_moments>& scratch, replicate_fold& total);

/// The Philox scenario word of a grid point: a hash of its (groups, obs range).
std::uint32_t stream_key_of(const scenario& sc);

/// The backends' progress callback for options.progress (none when it is empty): adds each step to
/// `done` and reports it against `total`. The references must outlive the run.
progress_fn progress_of(const simulate_options& o, const std::uint64_t& total, std::uint64_t& done);

/// The Monte Carlo standard error of a mean: the sd over replicates / sqrt(replicates).
double mcse_of(const moments& m);

/// What the metrics of estimator slot e (metric_mse(e), ...) are: which estimator, whether it has
/// a row of values, whether it has intervals. The tau_hat metrics belong to slot partial_pool.
struct metric_slot {
  estimator which = estimator::no_pool;
  bool available = true;
  bool coverage = false;
};

/// A scenario's row of performance measures from its merged metrics (the root of the study's fold).
scenario_result result_of(const scenario& sc, std::uint64_t replicates, std::optional<double> oracle_risk,
                          const metric_moments& mm, const std::array<metric_slot, estimator_count>& slots);

// The count families (--family binomial|poisson): the estimators' slots are those of the normal
// model with partial_pool_mom in james_stein's, and the tau_hat metrics hold the ml fit's
// over-dispersion (1 / (1 + nu), or 1 / shape; 0 on the boundary, nu = infinity).
inline constexpr int partial_pool_mom = james_stein;

/// A count family's scenario: its flattened parameters and design.
struct count_job {
  count_scenario params;
  std::vector<std::int32_t> size;  ///< the design's sizes when !params.equal_size, else empty
  std::int64_t size_min = 1, size_max = 1;
  double tail = 0.025;             ///< (1 - level) / 2 of the posterior intervals
  std::uint64_t replicates = 0;  ///< the study's
  std::uint64_t first = 0, count = 0;  ///< the replicates this run draws: [first, first + count)
};

/// The count families' CPU backend (src/cpu/simulate_counts.cpp): threads over replicates.
backend_run run_counts_cpu(const std::vector<count_job>& jobs, int threads, std::uint64_t batch,
                           const progress_fn& progress);

/// Replicate r's metrics from its draws theta[j], y[j] (either backend's): the fits, posteriors and
/// errors on the host. One per worker: it keeps its scratch between replicates.
class count_evaluator {
 public:
  virtual ~count_evaluator() = default;
  virtual void evaluate(std::uint64_t r, const double* theta, const double* y, double* metrics) = 0;
};
std::unique_ptr<count_evaluator> make_count_evaluator(const count_job& job);

/// Group-replicates per chunk of a count family's study when --batch does not say (about 64 MiB of
/// draws).
inline constexpr std::uint64_t count_chunk_target = std::uint64_t{1} << 22;

/// Fills theta[i J + j], y[i J + j] with the draws of group j in replicate r0 + i, i < count.
using count_draw_fn = std::function<void(std::uint64_t r0, std::uint64_t count, double* theta, double* y)>;

/// One scenario in chunks of replicates (`batch`, or automatic, at most `max_batch`): each chunk's
/// draws by `draw` (the GPU backend's), then its replicates evaluated on `threads` host threads and
/// merged in fixed blocks (merge_replicates). The CPU backend draws each replicate where it is
/// evaluated (run_counts_cpu).
replicate_fold run_count_scenario(const count_job& job, int threads, std::uint64_t batch, std::uint64_t max_batch,
                                  const progress_fn& progress, const count_draw_fn& draw);

/// The count families' GPU backend (src/cuda/simulate_counts.cu): the draws of each batch on the
/// device, the evaluation on the host threads; without CUDA it throws.
backend_run run_counts_cuda(const std::vector<count_job>& jobs, int threads, std::uint64_t batch,
                            const progress_fn& progress);

}  // namespace shrink::detail::sim
