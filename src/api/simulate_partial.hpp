#pragma once
// What a partial study holds (include/shrink/simulate.hpp's simulate_partial): the options that fix
// the results, the range of replicates and, per scenario in grid order, the fold of its blocks.

#include "simulate_backend.hpp"

#include <shrink/simulate.hpp>

#include <chrono>
#include <utility>
#include <vector>

namespace shrink::detail {

struct simulate_partial_state {
  simulate_options options;  ///< backend, threads, batch and progress at their defaults
  std::uint64_t first = 0, count = 0;
  backend used = backend::cpu;
  double seconds = 0, backend_seconds = 0;
  std::vector<sim::replicate_fold> folds;  ///< per scenario, in the grid's order
};

/// The options of `o` that fix a study's results: the rest (backend, threads, batch, progress)
/// at their defaults.
simulate_options result_options(const simulate_options& o);

/// Checks the normal model's study options (one-line errors).
void check_normal_options(const simulate_options& options);

/// The normal model's range of replicates (a range check_range accepts), and the study of its
/// complete partial (src/api/simulate.cpp).
simulate_partial_state simulate_normal_range(const simulate_options& options, std::uint64_t first, std::uint64_t count);
simulate_result finish_normal(const simulate_partial_state& whole);

/// Checks the range [first, first + count) of a study of `replicates` replicates (one-line errors).
void check_range(std::uint64_t replicates, std::uint64_t first, std::uint64_t count);

/// Runs replicates [first, first + count) of every scenario's job (grid order) on the backend the
/// options resolve to: the part of a range that the normal model and the count families share.
/// `run(jobs, used, progress)` is the family's backend call. `t0` is when the range began.
template <class Job, class Run>
simulate_partial_state run_range(const simulate_options& options, std::uint64_t first, std::uint64_t count,
                                 std::vector<std::pair<scenario, Job>> grid, std::chrono::steady_clock::time_point t0,
                                 Run run)
{
  check_range(options.replicates, first, count);
  simulate_partial_state part;
  part.options = result_options(options);
  part.first = first;
  part.count = count;
  part.used = resolve_backend(options.requested_backend);
  std::vector<Job> jobs;
  jobs.reserve(grid.size());
  std::uint64_t group_replicates = 0;
  for (auto& [sc, job] : grid) {
    job.first = first;
    job.count = count;
    group_replicates += static_cast<std::uint64_t>(sc.groups) * count;
    jobs.push_back(std::move(job));
  }
  std::uint64_t done = 0;
  const sim::progress_fn progress = sim::progress_of(options, group_replicates, done);
  sim::backend_run r = run(jobs, part.used, progress);
  part.backend_seconds = r.seconds;
  part.folds = std::move(r.moments);
  part.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return part;
}

}  // namespace shrink::detail
