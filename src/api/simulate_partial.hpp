#pragma once
// What a partial study holds (include/shrink/simulate.hpp's simulate_partial): the options that fix
// the results, the range of replicates and, per scenario in grid order, the fold of its blocks.

#include "simulate_backend.hpp"

#include <shrink/simulate.hpp>

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

}  // namespace shrink::detail
