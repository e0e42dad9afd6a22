#pragma once
// Per-group cross-product sufficient statistics of raw rows z = (x_1..x_q, y): the count n_j, the
// mean vector and the centred co-moment matrix C_j = sum (z - mean)(z - mean)' (the multivariate
// Welford update, in row order), from which every sum the random-intercept model needs follows
// without the cancellation of raw sums of squares:
//   X_j'X_j - c s s' = C_j + n_j / (1 + n_j g) m m'   (m = (1, mean), c = g / (1 + n_j g)).
// The update works on z minus the group's first row (its shift), so that columns like 1e9 + x
// keep their spread; two groups' statistics merge by Chan's pairwise formula (summaries of parts
// of the rows, shrink summarize / fit --from-summaries).

#include "macros.hpp"

#include <cstddef>

namespace shrink::detail {

/// One row into a group's statistics: `mean` (width w) and `comoment` (w x w, row-major, full) of
/// z - shift, updated in place, `n` the rows seen before this one; the first row (n = 0) sets
/// `shift` to itself. `delta` is scratch of width w.
SHRINK_HD inline void cross_product_update(double& n, double* shift, double* mean, double* comoment, const double* z,
                                           double* delta, std::size_t w)
{
  if (n == 0)
    for (std::size_t a = 0; a < w; ++a) shift[a] = z[a];
  n += 1;
  for (std::size_t a = 0; a < w; ++a) {
    delta[a] = (z[a] - shift[a]) - mean[a];
    mean[a] += delta[a] / n;
  }
  // C += delta (z - mean_new)': symmetric in exact arithmetic; the upper triangle is mirrored.
  for (std::size_t a = 0; a < w; ++a)
    for (std::size_t b = a; b < w; ++b) comoment[a * w + b] += delta[a] * ((z[b] - shift[b]) - mean[b]);
  for (std::size_t a = 0; a < w; ++a)
    for (std::size_t b = 0; b < a; ++b) comoment[a * w + b] = comoment[b * w + a];
}

/// Chan's merge of group statistics b (n_b rows, mean_b and comoment_b relative to the same shift)
/// into a (n, mean, comoment) in place: n = n_a + n_b, mean += delta n_b / n, C = C_a + C_b +
/// delta delta' n_a n_b / n (delta = mean_b - mean_a), associated as detail::moments merges.
/// Either side may be empty. `delta` is scratch of width w.
SHRINK_HD inline void cross_product_merge(double& n, double* mean, double* comoment, double n_b, const double* mean_b,
                                          const double* comoment_b, double* delta, std::size_t w)
{
  if (n_b == 0) return;
  if (n == 0) {
    for (std::size_t a = 0; a < w; ++a) mean[a] = mean_b[a];
    for (std::size_t a = 0; a < w * w; ++a) comoment[a] = comoment_b[a];
    n = n_b;
    return;
  }
  const double total = n + n_b, share = n_b / total, weight = n * share;
  for (std::size_t a = 0; a < w; ++a) {
    delta[a] = mean_b[a] - mean[a];
    mean[a] += delta[a] * share;
  }
  for (std::size_t a = 0; a < w; ++a)
    for (std::size_t b = a; b < w; ++b) comoment[a * w + b] = comoment[a * w + b] + comoment_b[a * w + b] + delta[a] * delta[b] * weight;
  for (std::size_t a = 0; a < w; ++a)
    for (std::size_t b = 0; b < a; ++b) comoment[a * w + b] = comoment[b * w + a];
  n = total;
}

}  // namespace shrink::detail
