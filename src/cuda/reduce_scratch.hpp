#pragma once
// The memory of the device reductions (device_reduce.cuh), owned by an engine and sized once from
// J: no reduction allocates after construction. Plain C++ (with the CUDA runtime) so that
// cuda_engine.hpp can hold one.

#include "../common/fixed_reduce.hpp"
#include "stream.hpp"

#include <cstddef>

namespace shrink::detail {

/// Device bytes of the levels between the first and the root for n terms of `term_bytes` each
/// (0 when one tile holds all n): two areas that the levels alternate between, the first
/// 256-byte aligned.
inline std::size_t fixed_reduce_scratch_bytes(std::size_t n, std::size_t term_bytes)
{
  const std::size_t c1 = fixed_tiles(n);
  if (c1 <= 1) return 0;
  const std::size_t a = (c1 * term_bytes + 255) / 256 * 256;
  return a + fixed_tiles(c1) * term_bytes;
}

/// Bytes of a reduction's result slot, on the device and on the host: every sums struct fits
/// (reduce() checks at compile time), and the levels after the slot stay 256-byte aligned.
inline constexpr std::size_t reduce_result_bytes = 256;

/// Device scratch for the result slot and the levels of a reduction over n terms of up to
/// `largest_term_bytes` each, and a page-locked host slot the result is read back into (a truly
/// asynchronous copy, no staging by the driver). A reduction over more terms or a larger struct
/// still works: the device scratch then grows, once.
class reduce_scratch {
 public:
  reduce_scratch(std::size_t n, std::size_t largest_term_bytes, cudaStream_t stream)
    : device_(stream), host_(reduce_result_bytes)
  {
    device_.reserve(reduce_result_bytes + fixed_reduce_scratch_bytes(n, largest_term_bytes));
  }
  /// The device scratch, at least `bytes` long: the result slot first, then the levels.
  unsigned char* device(std::size_t bytes) { return static_cast<unsigned char*>(device_.get(bytes)); }
  unsigned char* host() { return host_.data(); }
  std::size_t device_bytes() const { return device_.size(); }

 private:
  device_scratch device_;
  pinned_buffer<unsigned char> host_;
};

}  // namespace shrink::detail
