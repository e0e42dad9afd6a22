// The AVX2 kernels (4 lanes a register): this file alone is built with -mavx2 (no FMA).
#if defined(__x86_64__) && defined(__AVX2__)
#include "simulate_lanes_impl.hpp"

namespace shrink::detail::sim {
const lane_kernels& avx2_kernels() { return lanes<avx2_ops>::table(); }
}  // namespace shrink::detail::sim
#endif
