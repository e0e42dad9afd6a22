#pragma once
// The covariate models' work over groups and rows, on either backend:
// - cross_reducer: the O(J p^2) sums over groups that every evaluation of the meta-regression and
//   of the random-intercept profile needs, S(c) = sum_j c_j x_j x_j' and sum_j c_j r_j, each entry
//   by the fixed reduction tree (src/common/fixed_reduce.hpp) over the shared SHRINK_HD terms of
//   src/common/cross_products.hpp, so the CPU (any thread count) and the GPU give the same bits;
// - cross_folder: the one pass over raw rows into each group's n, shift, means and
//   co-moments (cross_product_update, each group's rows in input order), the GPU's bitwise the CPU's.
// The p x p algebra stays on the host (Eigen).

#include <shrink/backend.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace shrink::detail {

class cross_reducer {
 public:
  virtual ~cross_reducer() = default;
  /// S(c) = sum_j c_j x_j x_j' over the rows x_j given at construction (c: one weight per row),
  /// its lower triangle packed row by row into `lower` (p (p + 1) / 2 entries).
  virtual void weighted_outer(const double* c, double* lower) = 0;
  /// sum_j c_j r_j over the rows (`out`: one entry per column).
  virtual void weighted_rows(const double* c, double* out) = 0;
};

/// A reducer over `rows` rows of `width` numbers (row-major at `x`; copied where the backend
/// computes), on `use` (cpu or cuda; resolve automatic first) with `threads` CPU threads (0: all).
std::unique_ptr<cross_reducer> make_cross_reducer(backend use, const double* x, std::size_t rows, std::size_t width,
                                                  int threads);
/// sum_j x_j over `rows` rows of `width` numbers at `x` into `out` (width entries): a reducer's
/// weighted_rows with unit weights, the same bits, without the CPU reducer's copy of the rows.
void sum_rows(backend use, const double* x, std::size_t rows, std::size_t width, int threads, double* out);
/// The CUDA reducer (src/cuda/cross_products.cu; a clear error in a build without CUDA).
std::unique_ptr<cross_reducer> make_cuda_cross_reducer(const double* x, std::size_t rows, std::size_t width);

class cross_folder {
 public:
  virtual ~cross_folder() = default;
  /// Folds `rows` rows: row i is z = z_rows[i w .. i w + w) of group group[i] < groups (groups: all
  /// met so far, never fewer than before), each group's rows in the order given.
  virtual void fold(const std::uint32_t* group, const double* z_rows, std::size_t rows, std::size_t groups) = 0;
  /// Each group's n, shift (its first row, w), mean (w) and co-moments (w x w) of z - shift,
  /// 1 + 2 w + w^2 numbers a group, as cross_product_update leaves them.
  virtual std::vector<double> state() = 0;
};

/// A folder for vectors z of width w on `use` (cpu or cuda) with `threads` CPU threads (0: all).
std::unique_ptr<cross_folder> make_cross_folder(backend use, std::size_t w, int threads);
/// The CUDA folder for vectors z of width w (src/cuda/cross_products.cu). Rows go to the device
/// in chunks of at most `chunk_rows` (0: a default); the chunking does not change the bits.
std::unique_ptr<cross_folder> make_cuda_cross_folder(std::size_t w, std::size_t chunk_rows = 0);

}  // namespace shrink::detail
