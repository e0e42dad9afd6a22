#pragma once
// Move-only RAII owners of the other CUDA resources the backend uses: streams, events and pinned
// (page-locked) host staging buffers. Device memory goes through device_buffer.hpp.

#include "../cpu/parallel.hpp"
#include "cuda_check.hpp"
#include "device_buffer.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

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

/// Device scratch for CUB calls and the reductions (reduce_scratch.hpp): grows to the largest
/// request and is reused, so it allocates once per engine rather than once per call.
class device_scratch {
 public:
  explicit device_scratch(cudaStream_t stream) : stream_(stream) {}
  void* get(std::size_t bytes)
  {
    if (bytes > buffer_.size()) buffer_ = device_buffer<unsigned char>(bytes, stream_);
    return buffer_.data();
  }
  /// Grows the scratch to `bytes` now (outside any timed region), not at the first call that needs it.
  void reserve(std::size_t bytes) { (void)get(bytes); }
  std::size_t size() const { return buffer_.size(); }

 private:
  cudaStream_t stream_;
  device_buffer<unsigned char> buffer_;
};

/// memcpy on several threads: one thread cannot keep up with the PCIe link.
inline void parallel_copy(void* dst, const void* src, std::size_t bytes)
{
  constexpr std::size_t block = std::size_t{4} << 20;
  const int threads = std::min(thread_count(0), 8);
  if (bytes <= block) {
    std::memcpy(dst, src, bytes);
    return;
  }
  for_each_block(bytes, block, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
    std::memcpy(static_cast<char*>(dst) + begin, static_cast<const char*>(src) + begin, end - begin);
  });
}

/// Whether host memory [p, p + bytes) is page-locked (cudaMallocHost or cudaHostRegister): the
/// device can then copy it directly and asynchronously, without staging. Never throws.
inline bool is_page_locked(const void* p, std::size_t bytes)
{
  if (p == nullptr || bytes == 0) return false;
  for (const void* q : {p, static_cast<const void*>(static_cast<const char*>(p) + (bytes - 1))}) {
    cudaPointerAttributes a{};
    if (cudaPointerGetAttributes(&a, q) != cudaSuccess) {
      (void)cudaGetLastError();
      return false;
    }
    if (a.type != cudaMemoryTypeHost) return false;
  }
  return true;
}

/// Page-locked staging between pageable host memory and the device: a ring of slices, each with
/// an event that marks the end of its last transfer, reused slice after slice. One process-wide
/// ring (shared()) replaces per-engine staging buffers: 128 MiB of pinned memory, allocated once,
/// whatever the number of engines or the size of the input. One user at a time: hold lock() over
/// a sequence of staged copies.
class pinned_ring {
 public:
  struct slice {
    unsigned char* data;
    cuda_event* done;  ///< record after the transfer that uses `data` is enqueued
  };

  pinned_ring(std::size_t slots, std::size_t slice_bytes) : slice_bytes_(slice_bytes)
  {
    SHRINK_EXPECTS(slots >= 2 && slice_bytes > 0, "internal: a pinned ring needs two slices or more");
    for (std::size_t i = 0; i < slots; ++i) slots_.push_back(std::make_unique<slot>(slice_bytes));
  }
  pinned_ring(const pinned_ring&) = delete;
  pinned_ring& operator=(const pinned_ring&) = delete;

  /// The process-wide ring: 4 slices of 32 MiB, allocated on first use and never freed (it serves
  /// every engine, and the CUDA runtime may be gone when static destructors run).
  static pinned_ring& shared()
  {
    static pinned_ring* const ring = create_shared();
    return *ring;
  }
  /// Whether shared() has allocated the ring (a copy too small to pay for pinning 128 MiB uses
  /// the ring only when it is there already).
  static bool shared_exists() { return shared_created().load(std::memory_order_acquire); }
  static constexpr std::size_t shared_bytes = std::size_t{128} << 20;

  std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(mutex_); }
  std::size_t slots() const { return slots_.size(); }
  std::size_t slice_bytes() const { return slice_bytes_; }
  /// Slices handed out so far (tests check that a transfer went through the ring).
  std::size_t slices_used() const { return cursor_; }

  /// The next slice in ring order, once its previous transfer has finished (waits on the host).
  slice next()
  {
    slot& s = *slots_[cursor_++ % slots_.size()];
    s.done.synchronize();
    return {s.buffer.data(), &s.done};
  }

 private:
  struct slot {
    explicit slot(std::size_t bytes) : buffer(bytes) {}
    pinned_buffer<unsigned char> buffer;
    cuda_event done;
  };
  static std::atomic<bool>& shared_created()
  {
    static std::atomic<bool> created{false};
    return created;
  }
  static pinned_ring* create_shared()
  {
    auto* ring = new pinned_ring(4, shared_bytes / 4);
    shared_created().store(true, std::memory_order_release);
    return ring;
  }

  std::size_t slice_bytes_;
  std::vector<std::unique_ptr<slot>> slots_;
  std::size_t cursor_ = 0;
  std::mutex mutex_;
};

/// Copies `bytes` of pageable host memory to the device on `stream` through `ring` (the caller
/// holds ring.lock()): slice by slice, the host copy of one slice overlapping the transfers of the
/// ones before. Returns once the last slice is staged; the transfers may still run (the ring's
/// events keep its slices from being reused before they finish), so `h_src` may be changed on
/// return but `d_dst` is complete only in `stream` order.
inline void copy_to_device_staged(pinned_ring& ring, void* d_dst, const void* h_src, std::size_t bytes,
                                  cudaStream_t stream)
{
  for (std::size_t offset = 0; offset < bytes; offset += ring.slice_bytes()) {
    const std::size_t n = std::min(ring.slice_bytes(), bytes - offset);
    const pinned_ring::slice s = ring.next();
    parallel_copy(s.data, static_cast<const char*>(h_src) + offset, n);
    SHRINK_CUDA_TRY(
      cudaMemcpyAsync(static_cast<char*>(d_dst) + offset, s.data, n, cudaMemcpyHostToDevice, stream));
    s.done->record(stream);
  }
}

/// One device-to-host copy of a batch.
struct host_copy {
  void* h_dst;
  const void* d_src;
  std::size_t bytes;
};

/// Copies device memory to pageable host memory through `ring` (the caller holds ring.lock()),
/// after the work already enqueued on `stream`; returns when every `h_dst` holds its bytes. The
/// copies are cut into ring slices one after another, so up to ring.slots() transfers are in
/// flight, across copy boundaries, while the host copies finished slices out.
inline void copy_to_host_staged(pinned_ring& ring, const std::vector<host_copy>& copies, cudaStream_t stream)
{
  struct pending {
    pinned_ring::slice s;
    char* h_dst;
    std::size_t n;
  };
  std::deque<pending> in_flight;
  std::size_t c = 0, offset = 0;  // the next slice to issue: copies[c] from `offset`
  auto skip_finished = [&] {
    while (c < copies.size() && offset >= copies[c].bytes) {
      ++c;
      offset = 0;
    }
  };
  skip_finished();
  while (c < copies.size() || !in_flight.empty()) {
    // The next slice in ring order is never one still in flight: at most slots() are.
    while (c < copies.size() && in_flight.size() < ring.slots()) {
      const host_copy& k = copies[c];
      const std::size_t n = std::min(ring.slice_bytes(), k.bytes - offset);
      const pinned_ring::slice s = ring.next();
      SHRINK_CUDA_TRY(
        cudaMemcpyAsync(s.data, static_cast<const char*>(k.d_src) + offset, n, cudaMemcpyDeviceToHost, stream));
      s.done->record(stream);
      in_flight.push_back({s, static_cast<char*>(k.h_dst) + offset, n});
      offset += n;
      skip_finished();
    }
    const pending p = in_flight.front();
    in_flight.pop_front();
    p.s.done->synchronize();
    parallel_copy(p.h_dst, p.s.data, p.n);
  }
}

/// One copy of `bytes` of device memory to pageable host memory through `ring`, as above.
inline void copy_to_host_staged(pinned_ring& ring, void* h_dst, const void* d_src, std::size_t bytes,
                                cudaStream_t stream)
{
  copy_to_host_staged(ring, std::vector<host_copy>{{h_dst, d_src, bytes}}, stream);
}

/// The same copies without the ring, straight into pageable memory (the driver stages them);
/// returns when every `h_dst` holds its bytes.
inline void copy_to_host_direct(const std::vector<host_copy>& copies, cudaStream_t stream)
{
  for (const host_copy& k : copies)
    if (k.bytes > 0) SHRINK_CUDA_TRY(cudaMemcpyAsync(k.h_dst, k.d_src, k.bytes, cudaMemcpyDeviceToHost, stream));
  SHRINK_CUDA_TRY(cudaStreamSynchronize(stream));
}

/// Copies device columns back to pageable host memory: through the process-wide ring when it
/// exists already (the rows came through it) or when the copies are large enough to pay for
/// pinning it (at least its own 128 MiB), else directly. Either way the same bytes; returns when
/// every `h_dst` holds them.
inline void copy_columns_to_host(const std::vector<host_copy>& copies, cudaStream_t stream)
{
  std::size_t total = 0;
  for (const host_copy& k : copies) total += k.bytes;
  if (total == 0) return;
  if (!pinned_ring::shared_exists() && total < pinned_ring::shared_bytes) {
    copy_to_host_direct(copies, stream);
    return;
  }
  pinned_ring& ring = pinned_ring::shared();
  const auto lock = ring.lock();
  copy_to_host_staged(ring, copies, stream);
}

}  // namespace shrink::detail
