// The normal prior on the link scale (logit-normal, log-normal) on the GPU: the entries, weights and
// Gauss-Hermite rule held on the device, the AGHQ terms reduced by the fixed tree of
// device_reduce.cuh (the CPU's tree) over the same SHRINK_HD formulas (common/families/normal_prior.hpp),
// and the posteriors by the same formulas: the CPU's bits.

#include "../api/glmm_fit.hpp"
#include "device_buffer.hpp"
#include "device_reduce.cuh"
#include "reduce_scratch.hpp"
#include "stream.hpp"

#include <algorithm>
#include <memory>

namespace shrink::detail {
namespace {

constexpr int block_threads = 128;  // the posterior panels use many registers

template <class Likelihood>
__global__ void glmm_posteriors_kernel(const typename Likelihood::group* groups, std::size_t n, double mu, double tau,
                                       double tail, glmm_posterior* out)
{
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    out[i] = glmm_posterior_of<Likelihood>(groups[i], mu, tau, tail);
}

template <class Likelihood>
class cuda_glmm_device final : public glmm_device<Likelihood> {
 public:
  explicit cuda_glmm_device(const glmm_groups<Likelihood>& data)
    : n_(data.count), points_(data.rule.points), groups_(n_, stream_.get()),
      weights_(data.weights != nullptr ? n_ : 0, stream_.get()), z_(points_, stream_.get()), w_(points_, stream_.get()),
      modes_(n_, stream_.get()), scratch_(n_, sizeof(marginal_sums), stream_.get())
  {
    SHRINK_CUDA_TRY(cudaMemcpyAsync(groups_.data(), data.groups, n_ * sizeof(typename Likelihood::group),
                                    cudaMemcpyHostToDevice, stream_.get()));
    if (data.weights != nullptr)
      SHRINK_CUDA_TRY(cudaMemcpyAsync(weights_.data(), data.weights, n_ * sizeof(double), cudaMemcpyHostToDevice,
                                      stream_.get()));
    SHRINK_CUDA_TRY(cudaMemcpyAsync(z_.data(), data.rule.z, points_ * sizeof(double), cudaMemcpyHostToDevice, stream_.get()));
    SHRINK_CUDA_TRY(cudaMemcpyAsync(w_.data(), data.rule.w, points_ * sizeof(double), cudaMemcpyHostToDevice, stream_.get()));
    stream_.synchronize();  // the host arrays may change once this returns
  }

  /// The CPU's glmm_marginal: each entry's mode carried from sum to sum on the device (modes_),
  /// the same starts from the same sequence of points.
  marginal_sums marginal(double mu, double tau) override
  {
    const aghq_term<Likelihood> term{groups_.data(), weights_.size() > 0 ? weights_.data() : nullptr, mu, tau,
                                     hermite_rule{z_.data(), w_.data(), static_cast<int>(points_)},
                                     modes_.data(), warm_, mu - mu_, tau - tau_};
    const marginal_sums out = reduce<marginal_sums>(scratch_, term, n_, stream_.get());
    mu_ = mu;
    tau_ = tau;
    warm_ = true;
    return out;
  }

  void posteriors(double mu, double tau, double tail, glmm_posterior* out) override
  {
    if (n_ == 0) return;
    device_buffer<glmm_posterior> d(n_, stream_.get());
    const auto grid = static_cast<unsigned>(std::min<std::size_t>((n_ + block_threads - 1) / block_threads, 1u << 16));
    glmm_posteriors_kernel<Likelihood><<<grid, block_threads, 0, stream_.get()>>>(groups_.data(), n_, mu, tau, tail, d.data());
    SHRINK_CUDA_CHECK_LAUNCH();
    SHRINK_CUDA_TRY(cudaMemcpyAsync(out, d.data(), n_ * sizeof(glmm_posterior), cudaMemcpyDeviceToHost, stream_.get()));
    stream_.synchronize();
  }

 private:
  std::size_t n_, points_;
  cuda_stream stream_;
  device_buffer<typename Likelihood::group> groups_;
  device_buffer<double> weights_, z_, w_;
  device_buffer<mode_memory> modes_;
  double mu_ = 0, tau_ = 0;  // where modes_ were found (once warm_)
  bool warm_ = false;
  reduce_scratch scratch_;
};

}  // namespace

template <class Likelihood>
std::unique_ptr<glmm_device<Likelihood>> make_cuda_glmm_device(const glmm_groups<Likelihood>& data)
{
  return std::make_unique<cuda_glmm_device<Likelihood>>(data);
}

template std::unique_ptr<glmm_device<logit_normal>> make_cuda_glmm_device(const glmm_groups<logit_normal>&);
template std::unique_ptr<glmm_device<log_normal>> make_cuda_glmm_device(const glmm_groups<log_normal>&);

}  // namespace shrink::detail
