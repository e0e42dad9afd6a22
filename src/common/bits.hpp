#pragma once
// A double's bit pattern and back, the same on the host and the GPU: the building blocks of the
// branch-free uniforms (philox.hpp) and of the logarithm both backends share (portable_log.hpp).

#include "macros.hpp"

#include <cstdint>
#include <cstring>

namespace shrink::detail {

SHRINK_HD inline std::uint64_t bits_of(double x)
{
#if defined(__CUDA_ARCH__)
  return static_cast<std::uint64_t>(__double_as_longlong(x));
#else
  std::uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
#endif
}

SHRINK_HD inline double double_of(std::uint64_t b)
{
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(b));
#else
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
#endif
}

}  // namespace shrink::detail
