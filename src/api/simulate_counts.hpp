#pragma once
// The count families' simulation studies (`shrink simulate --family binomial|poisson`), called by
// shrink::simulate_range and finish_partial when simulate_options::family is set.

#include "simulate_partial.hpp"

#include <shrink/simulate.hpp>

#include <cstddef>

namespace shrink::detail {

/// Checks a count family's study options (one-line errors).
void check_count_options(const simulate_options& options);

/// Runs replicates [first, first + count) of a count family's study (a range check_range
/// accepts). Throws shrink::error on invalid options.
simulate_partial_state simulate_counts_range(const simulate_options& options, std::uint64_t first, std::uint64_t count);

/// The study of a count family's complete partial.
simulate_result finish_counts(const simulate_partial_state& whole);

/// Replicate 0 of scenario 0 with its ml fit, for the figures. Throws shrink::error when the
/// scenario has more than `max_groups` groups.
replicate_sample sample_count_replicate(const simulate_options& options, std::size_t max_groups);

}  // namespace shrink::detail
