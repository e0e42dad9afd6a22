// The AVX-512 kernels of glmm_lanes.hpp (8 lanes a register): this file alone is built with
// -mavx512f -mavx512dq.
#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512DQ__)
// GCC 12 warns falsely that the intrinsics' _mm512_undefined_*() pass-through operands are
// uninitialised (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "glmm_lanes_impl.hpp"

namespace shrink::detail {
const glmm_lanes::kernels& glmm_lanes::avx512_kernels() { return sim::glmm_lane_formulas<sim::avx512_ops>::table(); }
}  // namespace shrink::detail
#endif
