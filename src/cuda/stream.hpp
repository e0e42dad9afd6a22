#pragma once
// Move-only RAII owners of the other CUDA resources the backend uses: streams, events and pinned
// (page-locked) host staging buffers. Device memory goes through device_buffer.hpp.

#include "cuda_check.hpp"
#include "device_buffer.hpp"

#include <cstddef>
#include <utility>

namespace shrink::detail {

/// A non-blocking stream: it never synchronises implicitly with the legacy default stream.
class cuda_stream {
 public:
  cuda_stream() { SHRINK_CUDA_TRY(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  cuda_stream(const cuda_stream&) = delete;
  cuda_stream& operator=(const cuda_stream&) = delete;
  ~cuda_stream()
  {
    if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
  }
  cudaStream_t get() const { return stream_; }
  void synchronize() const { SHRINK_CUDA_TRY(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
};

/// An event; `timing` events can measure elapsed device time, the others only order work.
class cuda_event {
 public:
  explicit cuda_event(bool timing = false)
  {
    SHRINK_CUDA_TRY(cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
  }
  cuda_event(const cuda_event&) = delete;
  cuda_event& operator=(const cuda_event&) = delete;
  ~cuda_event()
  {
    if (event_ != nullptr) (void)cudaEventDestroy(event_);
  }
  cudaEvent_t get() const { return event_; }
  void record(cudaStream_t stream) { SHRINK_CUDA_TRY(cudaEventRecord(event_, stream)); }
  void synchronize() const { SHRINK_CUDA_TRY(cudaEventSynchronize(event_)); }
  /// Makes `stream` wait for the work recorded in this event.
  void block(cudaStream_t stream) const { SHRINK_CUDA_TRY(cudaStreamWaitEvent(stream, event_, 0)); }

  /// Milliseconds between two recorded timing events (synchronises on `stop`).
  static float elapsed_ms(const cuda_event& start, const cuda_event& stop)
  {
    stop.synchronize();
    float ms = 0;
    SHRINK_CUDA_TRY(cudaEventElapsedTime(&ms, start.event_, stop.event_));
    return ms;
  }

 private:
  cudaEvent_t event_ = nullptr;
};

/// Page-locked host memory: copies from it run at full link speed and asynchronously.
template <class T>
class pinned_buffer {
 public:
  pinned_buffer() = default;
  explicit pinned_buffer(std::size_t count) : size_(count)
  {
    if (count == 0) return;
    const cudaError_t status = cudaMallocHost(reinterpret_cast<void**>(&data_), count * sizeof(T));
    if (status != cudaSuccess) {
      (void)cudaGetLastError();
      data_ = nullptr;
      size_ = 0;
      if (status == cudaErrorMemoryAllocation)
        throw ::shrink::error("out of page-locked host memory allocating " +
                              std::to_string(count * sizeof(T) >> 20) + " MiB of staging buffers");
      SHRINK_CUDA_TRY(status);
    }
  }
  pinned_buffer(const pinned_buffer&) = delete;
  pinned_buffer& operator=(const pinned_buffer&) = delete;
  pinned_buffer(pinned_buffer&& o) noexcept { swap(o); }
  pinned_buffer& operator=(pinned_buffer&& o) noexcept
  {
    if (this != &o) {
      release();
      swap(o);
    }
    return *this;
  }
  ~pinned_buffer() { release(); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  void release() noexcept
  {
    if (data_ != nullptr) (void)cudaFreeHost(data_);
    data_ = nullptr;
    size_ = 0;
  }
  void swap(pinned_buffer& o) noexcept
  {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Device scratch for CUB calls: grows to the largest request and is reused, so the
/// size-query-then-run pattern allocates once per engine rather than once per call.
class device_scratch {
 public:
  explicit device_scratch(cudaStream_t stream) : stream_(stream) {}
  void* get(std::size_t bytes)
  {
    if (bytes > buffer_.size()) buffer_ = device_buffer<unsigned char>(bytes, stream_);
    return buffer_.data();
  }

 private:
  cudaStream_t stream_;
  device_buffer<unsigned char> buffer_;
};

}  // namespace shrink::detail
