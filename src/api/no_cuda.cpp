// Stand-ins compiled when shrink is built without CUDA: the CUDA backend reports that it is absent.

#include "group_engine.hpp"

namespace shrink::detail {

bool cuda_device_usable() { return false; }

std::unique_ptr<group_engine> make_cuda_engine(const raw_data_view&)
{
  throw error("this build of shrink has no CUDA backend");
}

std::unique_ptr<group_engine> make_cuda_engine(const summary_data_view&)
{
  throw error("this build of shrink has no CUDA backend");
}

std::unique_ptr<group_engine> make_cuda_engine(const grouped_data_view&)
{
  throw error("this build of shrink has no CUDA backend");
}

}  // namespace shrink::detail
