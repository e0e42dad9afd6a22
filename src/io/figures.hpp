#pragma once
// Figures of one simulated replicate: the classic picture of shrinkage as SVG, and a
// self-contained interactive HTML page (no network) where a slider moves tau.

#include <shrink/simulate.hpp>

#include <string>

namespace shrink::io {

/// One row per group: the raw observations as small dots, the no-pooling mean as a cross, the
/// partial-pooling estimate as a circle, the true theta as a triangle; a dashed line at the grand
/// mean (complete pooling); a legend.
std::string shrinkage_svg(const replicate_sample& s);

/// The same picture drawn by script from the replicate's data embedded in the page, with a slider
/// for tau that moves every partial-pooling estimate, a "fit tau from data" button (the moment
/// estimate) and a readout of each estimator's MSE against the true means. Element ids used by
/// tests: tau (the slider), fit (the button), tau-value, and mse-<estimator> whose data-value
/// attribute holds the full-precision number.
std::string shrinkage_html(const replicate_sample& s);

}  // namespace shrink::io
