#pragma once
// Error checking for CUDA calls: every failure becomes a shrink::error carrying file:line.

#include "../common/macros.hpp"

#include <cuda_runtime.h>

#include <string>

/// Throws shrink::error with the CUDA error string and file:line when `call` fails.
#define SHRINK_CUDA_TRY(call)                                                                  \
  do {                                                                                         \
    const cudaError_t shrink_status_ = (call);                                                 \
    if (shrink_status_ != cudaSuccess) {                                                       \
      (void)cudaGetLastError(); /* clear sticky-free errors so later calls can proceed */      \
      SHRINK_FAIL(std::string("CUDA error: ") + cudaGetErrorName(shrink_status_) + ": " +      \
                  cudaGetErrorString(shrink_status_));                                         \
    }                                                                                          \
  } while (0)

/// Checks the launch that just happened (configuration errors surface here, asynchronously
/// raised faults at the next synchronising call).
#define SHRINK_CUDA_CHECK_LAUNCH() SHRINK_CUDA_TRY(cudaGetLastError())
