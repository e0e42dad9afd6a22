// Stand-ins compiled when shrink is built without CUDA: the CUDA backend reports that it is absent.

#include "../cuda/device_columns.hpp"
#include "count_fit.hpp"
#include "cross_reduce.hpp"
#include "glmm_fit.hpp"
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

device_groups fold_device_columns(const device_column&, const device_column&, std::size_t, std::size_t)
{
  throw error("this build of shrink has no CUDA backend: GPU arrays need it (copy them to host memory: cupy.asnumpy, "
              "tensor.cpu().numpy())");
}

template <class Family>
std::unique_ptr<count_device<Family>> make_cuda_count_device(const count_groups<Family>&)
{
  throw error("this build of shrink has no CUDA backend");
}
template std::unique_ptr<count_device<beta_binomial>> make_cuda_count_device(const count_groups<beta_binomial>&);
template std::unique_ptr<count_device<gamma_poisson>> make_cuda_count_device(const count_groups<gamma_poisson>&);

template <class Likelihood>
std::unique_ptr<glmm_device<Likelihood>> make_cuda_glmm_device(const glmm_groups<Likelihood>&)
{
  throw error("this build of shrink has no CUDA backend");
}
template std::unique_ptr<glmm_device<logit_normal>> make_cuda_glmm_device(const glmm_groups<logit_normal>&);
template std::unique_ptr<glmm_device<log_normal>> make_cuda_glmm_device(const glmm_groups<log_normal>&);

std::unique_ptr<cross_reducer> make_cuda_cross_reducer(const double*, std::size_t, std::size_t)
{
  throw error("this build of shrink has no CUDA backend");
}

std::unique_ptr<cross_folder> make_cuda_cross_folder(std::size_t, std::size_t)
{
  throw error("this build of shrink has no CUDA backend");
}

}  // namespace shrink::detail
