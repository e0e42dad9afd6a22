#pragma once
// Raw rows that already live in GPU memory (a CuPy array, a PyTorch CUDA tensor, anything with
// __cuda_array_interface__ or __dlpack__), folded where they lie: the keys are numbered on the
// device, each group's rows are taken relative to its first value, and the summary stage folds
// them; only the O(groups) table comes back. Plain C++ (no CUDA types), so that the readers and
// the Python module can call it in any build: a build without CUDA defines it to fail clearly
// (src/api/no_cuda.cpp).

#include "../common/moments.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace shrink::detail {

/// A one-dimensional contiguous column in device memory, as an array interface describes it.
struct device_column {
  const void* data = nullptr;
  int bytes = 8;  ///< element width: keys 1, 2, 4 or 8 (signed integers), values 4 or 8 (float32, float64)
  /// The producer's stream, whose work must finish before the column is read (the CUDA array
  /// interface's `stream`): 0 none, 1 the legacy default stream, 2 the per-thread default stream,
  /// anything else a cudaStream_t.
  std::uintptr_t stream = 0;
};

/// What the host fold (io::group_fold) keeps per group, for the groups in key order: the key, the
/// group's first value in row order (its shift) and Welford's moments of value - shift over the
/// group's rows in row order (weight = n_j).
struct device_groups {
  std::vector<std::int64_t> keys;
  std::vector<double> shift;
  std::vector<moments> d;
  /// The first row (0-based) whose value is NaN or infinite, and that value; -1 when there is none
  /// (otherwise the other fields are left empty).
  std::int64_t first_non_finite = -1;
  double non_finite_value = 0;
};

/// Folds `rows` rows of device columns (left unmodified) on the current GPU. The summary stage
/// folds them in chunks of `chunk_rows` (0: the default; see summarize.hpp), so a group of at most
/// long_run_rows rows in every chunk gets bitwise the host fold's moments, longer ones the same to
/// rounding. Throws shrink::error when no GPU is usable, when a column is not in the current GPU's
/// memory, for an unsupported element width and for more than 2^31 - 1 groups.
device_groups fold_device_columns(const device_column& keys, const device_column& values, std::size_t rows,
                                  std::size_t chunk_rows = 0);

}  // namespace shrink::detail
