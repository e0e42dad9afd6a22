#include <shrink/backend.hpp>
#include <shrink/config.hpp>

#include "../common/macros.hpp"

namespace shrink {

namespace detail {
bool cuda_device_usable();  // src/cuda/device.cu, or src/api/no_cuda.cpp
}

std::string to_string(backend b)
{
  switch (b) {
    case backend::automatic: return "auto";
    case backend::cpu: return "cpu";
    case backend::cuda: return "cuda";
  }
  return "?";
}

backend parse_backend(const std::string& name)
{
  if (name == "auto") return backend::automatic;
  if (name == "cpu") return backend::cpu;
  if (name == "cuda") return backend::cuda;
  throw error("unknown backend '" + name + "' (choose auto, cpu or cuda)");
}

bool cuda_available() { return SHRINK_HAS_CUDA && detail::cuda_device_usable(); }

backend resolve_backend(backend requested)
{
  if (requested == backend::cpu) return backend::cpu;
  if (requested == backend::automatic) return cuda_available() ? backend::cuda : backend::cpu;
  SHRINK_EXPECTS(SHRINK_HAS_CUDA, "--backend cuda: this build of shrink has no CUDA backend (built with SHRINK_ENABLE_CUDA=OFF)");
  SHRINK_EXPECTS(detail::cuda_device_usable(), "--backend cuda: no usable CUDA GPU on this machine");
  return backend::cuda;
}

}  // namespace shrink
