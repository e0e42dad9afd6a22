#pragma once
// The count families' simulation studies (`shrink simulate --family binomial|poisson`), called by
// shrink::simulate when simulate_options::family is set.

#include <shrink/simulate.hpp>

namespace shrink::detail {

/// Runs a count family's study. Throws shrink::error on invalid options.
simulate_result simulate_counts(const simulate_options& options);

}  // namespace shrink::detail
