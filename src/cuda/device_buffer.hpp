#pragma once
// Move-only RAII owner of uninitialised device memory, allocated and freed stream-ordered.
// The only place shrink allocates device memory.

#include "cuda_check.hpp"

#include <cstddef>
#include <utility>

namespace shrink::detail {

/// Sets the device's default memory pool (the one cudaMallocAsync draws from) to keep the memory
/// freed into it instead of returning it to the driver at every synchronisation (the release
/// threshold, 0 by default): freed buffers are reused without new driver allocations, so repeated
/// stages (and timed ones) do not pay for mapping memory again. Once per process, on the first
/// device allocation; src/cuda/device.cu. Never throws.
void prepare_memory_pool();

/// Returns the memory the default pool holds unused to the driver (after waiting for the device,
/// so that every asynchronous free has completed); true when there was a pool to trim. The retry
/// of an allocation that failed for want of memory. src/cuda/device.cu. Never throws.
bool release_pool_memory();

/// Device bytes an allocation can still get: the driver's free memory plus what the default pool
/// holds unused (kept by the release threshold above). src/cuda/device.cu.
std::size_t device_available_bytes();

template <class T>
class device_buffer {
 public:
  device_buffer() = default;
  device_buffer(std::size_t count, cudaStream_t stream) : size_(count), stream_(stream)
  {
    if (count == 0) return;
    prepare_memory_pool();
    cudaError_t status = cudaMallocAsync(reinterpret_cast<void**>(&data_), count * sizeof(T), stream);
    if (status == cudaErrorMemoryAllocation) {
      // Memory the pool keeps (its release threshold) may be what is missing in the driver.
      (void)cudaGetLastError();
      data_ = nullptr;
      if (release_pool_memory())
        status = cudaMallocAsync(reinterpret_cast<void**>(&data_), count * sizeof(T), stream);
    }
    if (status != cudaSuccess) {
      (void)cudaGetLastError();
      data_ = nullptr;
      size_ = 0;
      if (status == cudaErrorMemoryAllocation)
        throw ::shrink::error("out of GPU memory allocating " + std::to_string(count * sizeof(T) >> 20) +
                              " MiB (try fewer groups, smaller chunks or --backend cpu)");
      SHRINK_CUDA_TRY(status);
    }
  }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  device_buffer(device_buffer&& other) noexcept { swap(other); }
  device_buffer& operator=(device_buffer&& other) noexcept
  {
    if (this != &other) {
      release();
      swap(other);
    }
    return *this;
  }
  ~device_buffer() { release(); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return size_ * sizeof(T); }
  cudaStream_t stream() const { return stream_; }

 private:
  void release() noexcept
  {
    if (data_ != nullptr) (void)cudaFreeAsync(data_, stream_);
    data_ = nullptr;
    size_ = 0;
  }
  void swap(device_buffer& o) noexcept
  {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(stream_, o.stream_);
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
  cudaStream_t stream_ = nullptr;
};

}  // namespace shrink::detail
