// The AVX2 kernels of glmm_lanes.hpp (4 lanes a register): this file alone is built with -mavx2 (no FMA).
#if defined(__x86_64__) && defined(__AVX2__)
#include "glmm_lanes_impl.hpp"

namespace shrink::detail {
const glmm_lanes::kernels& glmm_lanes::avx2_kernels() { return sim::glmm_lane_formulas<sim::avx2_ops>::table(); }
}  // namespace shrink::detail
#endif
