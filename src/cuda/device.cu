// Whether the CUDA backend can run here. Never throws: `--backend auto` asks on every machine.

#include "cuda_backend.hpp"

#include <cuda_runtime.h>

namespace shrink::detail {
namespace {

// Asking for a kernel's attributes fails when the binary has no code this GPU can run
// (an older architecture than the build targets), which a device count alone would not reveal.
__global__ void probe_kernel() {}

bool probe_device()
{
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    return false;
  }
  cudaFuncAttributes attributes{};
  if (cudaFuncGetAttributes(&attributes, probe_kernel) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return true;
}

}  // namespace

bool cuda_device_usable()
{
  static const bool usable = probe_device();  // first call only, never at static initialisation
  return usable;
}

std::string cuda_device_name()
{
  if (!cuda_device_usable()) return "";
  int device = 0;
  cudaDeviceProp properties{};
  if (cudaGetDevice(&device) != cudaSuccess || cudaGetDeviceProperties(&properties, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return "";
  }
  return properties.name;
}

}  // namespace shrink::detail
