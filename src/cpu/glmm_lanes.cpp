// The choice of glmm_lanes.hpp's kernels: the level of simulate_lanes.hpp.

#include "glmm_lanes.hpp"

#include "simulate_lanes.hpp"

namespace shrink::detail::glmm_lanes {

const kernels* kernels_in_use()
{
#if defined(__x86_64__) && defined(__GNUC__)
  switch (sim::simd_level_in_use()) {
    case simd_level::avx512: return &avx512_kernels();
    case simd_level::avx2: return &avx2_kernels();
    case simd_level::sse2: return &sse2_kernels();
    default: break;
  }
#endif
  return nullptr;
}

}  // namespace shrink::detail::glmm_lanes
