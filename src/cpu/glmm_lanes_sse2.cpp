// The SSE2 kernels of glmm_lanes.hpp (2 lanes a register): x86-64's baseline, no extra flags.
#if defined(__x86_64__) && defined(__SSE2__)
#include "glmm_lanes_impl.hpp"

namespace shrink::detail {
const glmm_lanes::kernels& glmm_lanes::sse2_kernels() { return sim::glmm_lane_formulas<sim::sse2_ops>::table(); }
}  // namespace shrink::detail
#endif
