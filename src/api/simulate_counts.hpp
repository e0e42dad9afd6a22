#pragma once
// The count families' simulation studies (`shrink simulate --family binomial|poisson`), called by
// shrink::simulate when simulate_options::family is set.

#include <shrink/simulate.hpp>

#include <cstddef>

namespace shrink::detail {

/// Runs a count family's study. Throws shrink::error on invalid options.
simulate_result simulate_counts(const simulate_options& options);

/// Replicate 0 of scenario 0 with its ml fit, for the figures. Throws shrink::error when the
/// scenario has more than `max_groups` groups.
replicate_sample sample_count_replicate(const simulate_options& options, std::size_t max_groups);

}  // namespace shrink::detail
