#include "simd_level.hpp"

#include <shrink/error.hpp>

#include <cstdlib>
#include <string>

namespace shrink::detail {
namespace {

simd_level best_supported()
{
  for (simd_level level : {simd_level::avx512, simd_level::avx2, simd_level::sse2})
    if (simd_supported(level)) return level;
  return simd_level::scalar;
}

simd_level from_environment()
{
  const char* text = std::getenv("SHRINK_SIMD");
  if (text == nullptr || *text == '\0') return best_supported();
  const std::string name = text;
  for (simd_level level : {simd_level::scalar, simd_level::sse2, simd_level::avx2, simd_level::avx512}) {
    if (name != simd_name(level)) continue;
    if (!simd_supported(level)) {
      std::string have = "scalar";
      for (simd_level l : {simd_level::sse2, simd_level::avx2, simd_level::avx512})
        if (simd_supported(l)) have += std::string(", ") + simd_name(l);
      throw error("SHRINK_SIMD=" + name + ": this machine (or build) does not support it; use " + have + " or unset it");
    }
    return level;
  }
  throw error("SHRINK_SIMD=" + name + ": unknown level; use scalar, sse2, avx2 or avx512, or unset it");
}

}  // namespace

const char* simd_name(simd_level level)
{
  switch (level) {
    case simd_level::sse2: return "sse2";
    case simd_level::avx2: return "avx2";
    case simd_level::avx512: return "avx512";
    default: return "scalar";
  }
}

bool simd_supported(simd_level level)
{
  if (level == simd_level::scalar) return true;
#if defined(__x86_64__) && defined(__GNUC__)
  // libgcc's checks include the OS's support of the register state (XGETBV).
  __builtin_cpu_init();
  if (level == simd_level::sse2) return true;  // part of x86-64
  if (level == simd_level::avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("popcnt");
#else
  return false;
#endif
}

simd_level simd_level_requested()
{
  static const simd_level level = from_environment();  // a throw leaves it undecided: the next call throws again
  return level;
}

}  // namespace shrink::detail
