#pragma once
// Stage 2 on the GPU: the per-group terms of the O(J) reductions that sigma^2, tau^2, mu and the
// heterogeneity statistics are built from. Each term is the shared SHRINK_HD `T::of(...)` of
// src/common/group_sums.hpp applied to one row of the device table; src/cuda/device_reduce.cuh
// sums them with T's operator+ in the fixed tree of src/common/fixed_reduce.hpp, as the CPU
// backend does, so every reduction has the CPU's bits.

#include "common/group_sums.hpp"

#include <cstddef>
#include <cstdint>

namespace shrink::detail {

/// The table row as the CPU backend stores it: the count is an integer there.
SHRINK_HD inline group_summary summary_of(const moments& m)
{
  return {static_cast<std::int64_t>(m.weight), m.mean, m.m2};
}

struct totals_term {
  const moments* table;
  SHRINK_HD group_totals operator()(std::size_t j) const { return group_totals::of(summary_of(table[j])); }
};

struct variance_term {
  const double* v;
  SHRINK_HD variance_range operator()(std::size_t j) const { return variance_range::of(v[j]); }
};

struct unweighted_term {
  const moments* table;
  const double* v;
  SHRINK_HD unweighted_sums operator()(std::size_t j) const { return unweighted_sums::of(table[j].mean, v[j]); }
};

struct newton_term {
  const moments* table;
  const double* v;
  double tau2, center;
  SHRINK_HD newton_sums operator()(std::size_t j) const { return newton_sums::of(table[j].mean, v[j], tau2, center); }
};

struct weighted_term {
  const moments* table;
  const double* v;
  double tau2;
  bool with_log;
  SHRINK_HD weighted_sums operator()(std::size_t j) const
  {
    return weighted_sums::of(table[j].mean, v[j], tau2, with_log);
  }
};

}  // namespace shrink::detail
