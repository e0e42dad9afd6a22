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
  // Column by column, each column's (z - mean_new) worked out once (a local: the stores into C
  // cannot change it), the same operations as entry by entry.
  for (std::size_t b = 0; b < w; ++b) {
    const double e = (z[b] - shift[b]) - mean[b];
    for (std::size_t a = 0; a <= b; ++a) comoment[a * w + b] += delta[a] * e;
  }
  for (std::size_t a = 0; a < w; ++a)
    for (std::size_t b = 0; b < a; ++b) comoment[a * w + b] = comoment[b * w + a];
}

/// A parsed raw row as the statistics' vector z = (x_1..x_q, y - offset): `numbers` holds y, the
/// q = w - 1 covariates, then (with `has_offset`) the offset, `stride` numbers in all.
SHRINK_HD inline void cross_product_row(const double* numbers, std::size_t w, std::size_t stride, bool has_offset, double* z)
{
  for (std::size_t a = 0; a + 1 < w; ++a) z[a] = numbers[1 + a];
  z[w - 1] = numbers[0] - (has_offset ? numbers[stride - 1] : 0.0);
}

/// A slice of a sum over groups of a packed lower triangle (or of any vector): cross_pack_width
/// consecutive entries, added entry by entry. Each entry's bits follow from the fixed reduction's
/// tree alone, so splitting a long vector into packs (a fixed size for the GPU's shared memory)
/// gives every entry the bits it would have as a scalar reduction, on either backend.
inline constexpr std::size_t cross_pack_width = 16;

struct cross_pack {
  double v[cross_pack_width];
  SHRINK_HD cross_pack operator+(const cross_pack& o) const
  {
    cross_pack r;
    for (std::size_t i = 0; i < cross_pack_width; ++i) r.v[i] = v[i] + o.v[i];
    return r;
  }
};

/// Packs that hold `entries` entries.
SHRINK_HD constexpr std::size_t cross_packs(std::size_t entries) { return (entries + cross_pack_width - 1) / cross_pack_width; }

/// Entries of a packed lower triangle of width p: p (p + 1) / 2 (row a holds columns 0..a).
SHRINK_HD constexpr std::size_t packed_entries(std::size_t p) { return p * (p + 1) / 2; }

/// Pack `pack` of group j's term c x x' (x of width p), its lower triangle packed row by row
/// (entry a (a + 1) / 2 + b is (c x_a) x_b, b <= a): the summand of S(c) = X' diag(c) X. Entries
/// past the triangle are 0.
SHRINK_HD inline cross_pack weighted_outer_pack(double c, const double* x, std::size_t p, std::size_t pack)
{
  cross_pack r;
  const std::size_t first = pack * cross_pack_width;
  std::size_t a = 0;
  while (packed_entries(a + 1) <= first) ++a;  // the row of the first entry
  std::size_t b = first - packed_entries(a);
  for (std::size_t i = 0; i < cross_pack_width; ++i) {
    r.v[i] = a < p ? (c * x[a]) * x[b] : 0.0;
    if (++b > a) ++a, b = 0;
  }
  return r;
}

/// Pack `pack` of group j's term c r (r a row of `width` numbers): the summand of sum_j c_j r_j.
/// Entries past the row are 0.
SHRINK_HD inline cross_pack weighted_row_pack(double c, const double* row, std::size_t width, std::size_t pack)
{
  cross_pack r;
  const std::size_t first = pack * cross_pack_width;
  for (std::size_t i = 0; i < cross_pack_width; ++i) r.v[i] = first + i < width ? c * row[first + i] : 0.0;
  return r;
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
