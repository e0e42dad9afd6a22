// The AVX-512 kernels (8 lanes a register): this file alone is built with -mavx512f -mavx512dq.
#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512DQ__)
// GCC 12 warns falsely that the intrinsics' _mm512_undefined_*() pass-through operands are
// uninitialised (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "simulate_lanes_impl.hpp"

namespace shrink::detail::sim {
const lane_kernels& avx512_kernels() { return lanes<avx512_ops>::table(); }
}  // namespace shrink::detail::sim
#endif
