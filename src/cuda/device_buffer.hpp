#pragma once
// Move-only RAII owner of uninitialised device memory, allocated and freed stream-ordered.
// The only place shrink allocates device memory.

#include "cuda_check.hpp"

#include <cstddef>
#include <utility>

namespace shrink::detail {

template <class T>
class device_buffer {
 public:
  device_buffer() = default;
  device_buffer(std::size_t count, cudaStream_t stream) : size_(count), stream_(stream)
  {
    if (count == 0) return;
    const cudaError_t status = cudaMallocAsync(reinterpret_cast<void**>(&data_), count * sizeof(T), stream);
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
