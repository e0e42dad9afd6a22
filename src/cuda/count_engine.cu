// The count families on the GPU: the distinct entries and their weights held on the device, the
// marginal sums reduced by the fixed tree of device_reduce.cuh (the CPU's tree) over the same
// SHRINK_HD terms (common/families), and the posteriors by the same formulas: the CPU's bits.

#include "../api/count_fit.hpp"
#include "device_buffer.hpp"
#include "device_reduce.cuh"
#include "reduce_scratch.hpp"
#include "stream.hpp"

#include <algorithm>
#include <memory>
#include <vector>

namespace shrink::detail {
namespace {

constexpr int block_threads = 128;  // the posteriors' quantile iterations use many registers

template <class Family>
__global__ void count_posteriors_kernel(const typename Family::group* groups, std::size_t n, double a, double b,
                                        double tail, count_posterior* out)
{
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    out[i] = Family::posterior_of(groups[i], a, b, tail);
}

template <class Family>
class cuda_count_device final : public count_device<Family> {
 public:
  explicit cuda_count_device(const count_groups<Family>& data)
    : n_(data.count), groups_(n_, stream_.get()), weights_(data.weights != nullptr ? n_ : 0, stream_.get()),
      scratch_(n_, sizeof(marginal_sums), stream_.get())
  {
    SHRINK_CUDA_TRY(cudaMemcpyAsync(groups_.data(), data.groups, n_ * sizeof(typename Family::group),
                                    cudaMemcpyHostToDevice, stream_.get()));
    if (data.weights != nullptr)
      SHRINK_CUDA_TRY(cudaMemcpyAsync(weights_.data(), data.weights, n_ * sizeof(double), cudaMemcpyHostToDevice,
                                      stream_.get()));
    stream_.synchronize();  // the host arrays may change once this returns
  }

  marginal_sums marginal(double a, double b) override
  {
    const marginal_term<Family> term{groups_.data(), weights_.size() > 0 ? weights_.data() : nullptr, a, b};
    return reduce<marginal_sums>(scratch_, term, n_, stream_.get());
  }

  void marginal_values(const double* a, const double* b, std::size_t pairs, double* out) override
  {
    // One fixed-tree reduction per pair (the CPU's tree over the CPU's terms): a grid of a few
    // thousand pairs costs a few thousand short reductions, the entries read from device memory.
    for (std::size_t k = 0; k < pairs; ++k) {
      const marginal_value_term<Family> term{groups_.data(), weights_.size() > 0 ? weights_.data() : nullptr, a[k], b[k]};
      out[k] = reduce<double>(scratch_, term, n_, stream_.get());
    }
  }

  void posteriors(double a, double b, double tail, count_posterior* out) override
  {
    if (n_ == 0) return;
    device_buffer<count_posterior> d(n_, stream_.get());
    const auto grid = static_cast<unsigned>(std::min<std::size_t>((n_ + block_threads - 1) / block_threads, 1u << 16));
    count_posteriors_kernel<Family><<<grid, block_threads, 0, stream_.get()>>>(groups_.data(), n_, a, b, tail, d.data());
    SHRINK_CUDA_CHECK_LAUNCH();
    SHRINK_CUDA_TRY(cudaMemcpyAsync(out, d.data(), n_ * sizeof(count_posterior), cudaMemcpyDeviceToHost, stream_.get()));
    stream_.synchronize();
  }

 private:
  std::size_t n_;
  cuda_stream stream_;
  device_buffer<typename Family::group> groups_;
  device_buffer<double> weights_;
  reduce_scratch scratch_;
};

}  // namespace

template <class Family>
std::unique_ptr<count_device<Family>> make_cuda_count_device(const count_groups<Family>& data)
{
  return std::make_unique<cuda_count_device<Family>>(data);
}

template std::unique_ptr<count_device<beta_binomial>> make_cuda_count_device(const count_groups<beta_binomial>&);
template std::unique_ptr<count_device<gamma_poisson>> make_cuda_count_device(const count_groups<gamma_poisson>&);

}  // namespace shrink::detail
