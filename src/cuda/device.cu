// Whether the CUDA backend can run here, and the device memory pool every device_buffer draws
// from. Never throws: `--backend auto` asks on every machine.

#include "cuda_backend.hpp"
#include "device_buffer.hpp"

#include <cuda_runtime.h>

#include <cstdint>

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
  // Every device allocation is stream-ordered (cudaMallocAsync, device_buffer.hpp): a device or
  // driver without memory pools (some virtualised GPUs, old drivers) could not run one stage, so
  // `--backend auto` must not pick it. The attribute, then one small allocation to be sure.
  int device = 0, pools = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device) != cudaSuccess || pools == 0) {
    (void)cudaGetLastError();
    return false;
  }
  prepare_memory_pool();
  void* p = nullptr;
  if (cudaMallocAsync(&p, 256, nullptr) != cudaSuccess || cudaFreeAsync(p, nullptr) != cudaSuccess ||
      cudaStreamSynchronize(nullptr) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return true;
}

bool set_release_threshold()
{
  int device = 0, pools = 0;
  cudaMemPool_t pool = nullptr;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device) != cudaSuccess || pools == 0 ||
      cudaDeviceGetDefaultMemPool(&pool, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  std::uint64_t keep_all = UINT64_MAX;
  if (cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return true;
}

}  // namespace

void prepare_memory_pool()
{
  static const bool done = set_release_threshold();  // thread-safe, once
  (void)done;
}

bool release_pool_memory()
{
  int device = 0;
  cudaMemPool_t pool = nullptr;
  const bool ok = cudaDeviceSynchronize() == cudaSuccess && cudaGetDevice(&device) == cudaSuccess &&
                  cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess && cudaMemPoolTrimTo(pool, 0) == cudaSuccess;
  (void)cudaGetLastError();
  return ok;
}

std::size_t device_available_bytes()
{
  std::size_t free_bytes = 0, total_bytes = 0;
  SHRINK_CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
  int device = 0;
  cudaMemPool_t pool = nullptr;
  std::uint64_t reserved = 0, used = 0;
  if (cudaGetDevice(&device) == cudaSuccess && cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess &&
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved) == cudaSuccess &&
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used) == cudaSuccess && reserved > used) {
    free_bytes += static_cast<std::size_t>(reserved - used);
  }
  (void)cudaGetLastError();
  return free_bytes;
}

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
