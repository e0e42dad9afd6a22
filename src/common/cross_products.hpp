#pragma once
// Per-group cross-product sufficient statistics of raw rows z = (x_1..x_q, y): the count n_j, the
// mean vector and the centred co-moment matrix C_j = sum (z - mean)(z - mean)' (the multivariate
// Welford update, in row order), from which every sum the random-intercept model needs follows
// without the cancellation of raw sums of squares:
//   X_j'X_j - c s s' = C_j + n_j / (1 + n_j g) m m'   (m = (1, mean), c = g / (1 + n_j g)).

#include "macros.hpp"

#include <cstddef>

namespace shrink::detail {

/// One row into a group's statistics: `mean` (width w) and `comoment` (w x w, row-major, full)
/// updated in place, `n` the rows seen before this one. `delta` is scratch of width w.
SHRINK_HD inline void cross_product_update(double& n, double* mean, double* comoment, const double* z, double* delta,
                                           std::size_t w)
{
  n += 1;
  for (std::size_t a = 0; a < w; ++a) {
    delta[a] = z[a] - mean[a];
    mean[a] += delta[a] / n;
  }
  // C += delta (z - mean_new)': symmetric in exact arithmetic; the upper triangle is mirrored.
  for (std::size_t a = 0; a < w; ++a)
    for (std::size_t b = a; b < w; ++b) comoment[a * w + b] += delta[a] * (z[b] - mean[b]);
  for (std::size_t a = 0; a < w; ++a)
    for (std::size_t b = 0; b < a; ++b) comoment[a * w + b] = comoment[b * w + a];
}

}  // namespace shrink::detail
