// The SSE2 kernels (2 lanes a register): x86-64's baseline, no extra flags.
#if defined(__x86_64__) && defined(__SSE2__)
#include "simulate_lanes_impl.hpp"

namespace shrink::detail::sim {
const lane_kernels& sse2_kernels() { return lanes<sse2_ops>::table(); }
}  // namespace shrink::detail::sim
#endif
