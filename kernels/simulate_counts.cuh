#pragma once
// The count families' draws on the GPU (`shrink simulate --family --backend cuda`): one thread per
// group-replicate runs the SHRINK_HD samplers of src/common/count_samplers.hpp, the CPU's code, so
// both backends draw the same bits.

#include "common/count_samplers.hpp"

#include <cuda_runtime.h>

#include <cstdint>

namespace shrink::detail::sim {

/// Draws (theta, y) of every group of replicates [first, first + count) of scenario `s` into
/// d_theta[i J + j], d_y[i J + j]. d_size: the design's sizes when !s.equal_size (else unused).
void launch_count_draws_async(const count_scenario& s, const std::int32_t* d_size, std::uint64_t first,
                              std::uint64_t count, double* d_theta, double* d_y, cudaStream_t stream);

}  // namespace shrink::detail::sim
