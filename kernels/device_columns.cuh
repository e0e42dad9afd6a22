#pragma once
// Raw rows in device memory, before the summary stage (src/cuda/device_columns.cu): the
// per-element steps, as functors for cub::DeviceFor and CUB's iterators.
//
// Keys are numbered by a stable radix sort of (key - smallest key, row): run r of the sorted keys
// is group r, so groups come in key order as the host fold sorts them, and a run's first row is
// its group's first row in input order (the sort is stable): the row whose value is the group's
// shift, as in the host fold (io/group_fold.hpp). Every step is a pure function of the rows (no
// floating-point atomics), so the result is the same bits on every run.

#include "common/exact_arithmetic.hpp"

#include <cmath>
#include <cstdint>

namespace shrink::detail {

/// The smallest and largest of some keys (the radix sort needs only the bits of their span).
struct key_range {
  std::int64_t low;
  std::int64_t high;
};

struct key_range_of {
  SHRINK_HD key_range operator()(std::int64_t k) const { return {k, k}; }
};

struct merge_key_ranges {
  SHRINK_HD key_range operator()(const key_range& a, const key_range& b) const
  {
    return {a.low < b.low ? a.low : b.low, a.high > b.high ? a.high : b.high};
  }
};

/// Key i widened to int64.
template <class Key>
struct widen_key {
  const Key* keys;
  std::int64_t* out;
  __device__ void operator()(std::int64_t i) const { out[i] = keys[i]; }
};

/// Each widened key, in place, as its distance from the smallest (unsigned, modulo 2^64: exact
/// for any span), and the row numbers the sort carries along.
struct rebase_key {
  std::int64_t* keys;
  std::int64_t* rows;
  std::int64_t low;
  __device__ void operator()(std::int64_t i) const
  {
    reinterpret_cast<std::uint64_t*>(keys)[i] = static_cast<std::uint64_t>(keys[i]) - static_cast<std::uint64_t>(low);
    rows[i] = i;
  }
};

/// 1 at the first position of each run of equal sorted keys.
struct run_start {
  const std::uint64_t* keys;
  SHRINK_HD std::int64_t operator()(std::int64_t p) const { return p == 0 || keys[p] != keys[p - 1] ? 1 : 0; }
};

/// Sorted position p (runs: the inclusive count of run starts): its row gets group id
/// runs[p] - 1, and the run's first position records the group's key and first row.
struct number_groups {
  const std::uint64_t* keys;
  const std::int64_t* rows;
  const std::int64_t* runs;
  std::int64_t low;
  std::int32_t* ids;
  std::int64_t* first_row;
  std::int64_t* group_keys;
  __device__ void operator()(std::int64_t p) const
  {
    const std::int64_t g = runs[p] - 1;
    ids[rows[p]] = static_cast<std::int32_t>(g);
    if (p == 0 || runs[p - 1] != runs[p]) {
      first_row[g] = rows[p];
      group_keys[g] = static_cast<std::int64_t>(keys[p] + static_cast<std::uint64_t>(low));
    }
  }
};

/// Row i when its value is NaN or infinite, else `rows`: the minimum over all rows is the first
/// bad row (integer minimum: the same in any order).
template <class Value>
struct non_finite_row {
  const Value* values;
  std::int64_t rows;
  SHRINK_HD std::int64_t operator()(std::int64_t i) const
  {
    return std::isfinite(static_cast<double>(values[i])) ? rows : i;
  }
};

/// Group g's shift: the value of its first row.
template <class Value>
struct group_shift {
  const Value* values;
  const std::int64_t* first_row;
  double* shift;
  __device__ void operator()(std::int64_t g) const { shift[g] = static_cast<double>(values[first_row[g]]); }
};

/// Row i's value relative to its group's shift, by the host fold's formula (io/group_fold.cpp; each
/// value is one double: no low part).
template <class Value>
struct shifted_value {
  const Value* values;
  const std::int32_t* ids;
  const double* shift;
  double* out;
  __device__ void operator()(std::int64_t i) const
  {
    out[i] = difference(static_cast<double>(values[i]), 0.0, shift[ids[i]], 0.0);
  }
};

}  // namespace shrink::detail
