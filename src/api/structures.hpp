#pragma once
// What the summary-mode and raw-mode structure comparisons share: the test, the choice and the words.

#include <shrink/regression.hpp>

namespace shrink::detail {

/// Adds the structure `name` with its maximised log-likelihood, parameter count, AIC and BIC
/// (log `n` the BIC's penalty per parameter).
void add_structure(structure_comparison& c, const char* name, double log_likelihood, std::size_t parameters,
                   double n, std::optional<double> logo_score);

/// The likelihood-ratio test of tau2 = 0 from the pooled and hierarchical entries (50:50
/// chi-bar-square), the structure with the smallest AIC and the sentence that says so.
void decide_structure(structure_comparison& c, bool covariates);

}  // namespace shrink::detail
