#pragma once
// The one device reduction every per-group sum uses: sum over i of T::of(...) with T's operator+
// (a Chan merge for the moments inside T). A new field in a sums struct therefore needs no GPU
// change. CUB's reduction tree is fixed for a given length and device and uses no atomics, so the
// result is bitwise reproducible run to run. Include only from the few .cu files that instantiate it
// (CUB templates are slow to compile).

#include "stream.hpp"

#include <cub/device/device_reduce.cuh>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <cstddef>

namespace shrink::detail {

/// T's operator+ as a CUB reduction functor.
template <class T>
struct merge_op {
  __host__ __device__ T operator()(const T& a, const T& b) const { return a + b; }
};

/// Writes sum_{i < n} term(i) to *d_out, stream-ordered (T{} when n is 0).
template <class T, class Term>
void reduce_async(device_scratch& scratch, Term term, std::size_t n, T* d_out, cudaStream_t stream)
{
  const auto in = thrust::make_transform_iterator(thrust::counting_iterator<std::size_t>(0), term);
  std::size_t bytes = 0;
  SHRINK_CUDA_TRY(cub::DeviceReduce::Reduce(nullptr, bytes, in, d_out, n, merge_op<T>{}, T{}, stream));
  SHRINK_CUDA_TRY(cub::DeviceReduce::Reduce(scratch.get(bytes), bytes, in, d_out, n, merge_op<T>{}, T{}, stream));
}

/// reduce_async, then the value on the host (synchronises `stream`).
template <class T, class Term>
T reduce(device_scratch& scratch, Term term, std::size_t n, cudaStream_t stream)
{
  device_buffer<T> d_out(1, stream);
  reduce_async(scratch, term, n, d_out.data(), stream);
  T h_out{};
  SHRINK_CUDA_TRY(cudaMemcpyAsync(&h_out, d_out.data(), sizeof(T), cudaMemcpyDeviceToHost, stream));
  SHRINK_CUDA_TRY(cudaStreamSynchronize(stream));
  return h_out;
}

}  // namespace shrink::detail
