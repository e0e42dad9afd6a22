// The CUDA backend's group_engine and its factories. The reductions over groups are all
// instantiated here, from one generic template (device_reduce.cuh: the fixed tree of
// src/common/fixed_reduce.hpp, so each has the CPU backend's bits).

#include "cuda_engine.hpp"

#include "../../kernels/posteriors.cuh"
#include "../../kernels/reductions.cuh"
#include "device_reduce.cuh"

#include <algorithm>

namespace shrink::detail {

namespace {
/// Groups per posterior slice: bounds the output columns' device memory at 288 MiB.
constexpr std::size_t posterior_slice_groups = std::size_t{1} << 22;
}  // namespace

cuda_engine::cuda_engine(const raw_data_view& data, const cuda_engine_options& options)
  : scratch_(stream_.get()), groups_(data.groups)
{
  table_ = summarize_host_rows(data, stream_.get(), options.chunk_rows, &report_);
  v_ = device_buffer<double>(groups_, stream_.get());
}

cuda_engine::cuda_engine(const std::int32_t* d_keys, const double* d_values, std::size_t rows, std::size_t groups,
                         const cuda_engine_options& options)
  : scratch_(stream_.get()), groups_(groups)
{
  table_ = summarize_device_rows(d_keys, d_values, rows, groups, stream_.get(), options.chunk_rows, &report_);
  v_ = device_buffer<double>(groups_, stream_.get());
  stream_.synchronize();  // the caller may free or overwrite its rows when this returns
}

cuda_engine::cuda_engine(const summary_data_view& data)
  : scratch_(stream_.get()), groups_(data.groups), table_(data.groups, stream_.get()), v_(data.groups, stream_.get())
{
  device_buffer<double> estimates(groups_, stream_.get());
  device_buffer<double> se(groups_, stream_.get());
  SHRINK_CUDA_TRY(cudaMemcpyAsync(estimates.data(), data.estimates, groups_ * sizeof(double), cudaMemcpyHostToDevice,
                                  stream_.get()));
  SHRINK_CUDA_TRY(cudaMemcpyAsync(se.data(), data.standard_errors, groups_ * sizeof(double), cudaMemcpyHostToDevice,
                                  stream_.get()));
  load_summaries_async(estimates.data(), se.data(), groups_, table_.data(), v_.data(), stream_.get());
  stream_.synchronize();  // the host columns may go away when the caller returns
}

cuda_engine::cuda_engine(const grouped_data_view& data)
  : scratch_(stream_.get()), groups_(data.groups), table_(data.groups, stream_.get()), v_(data.groups, stream_.get())
{
  // The device table holds Welford moments (weight = n_j); staged through one host copy.
  std::vector<moments> host(groups_);
  for (std::size_t j = 0; j < groups_; ++j) {
    host[j].weight = static_cast<double>(data.n[j]);
    host[j].mean = data.mean[j];
    host[j].m2 = data.m2[j];
  }
  SHRINK_CUDA_TRY(cudaMemcpyAsync(table_.data(), host.data(), groups_ * sizeof(moments), cudaMemcpyHostToDevice,
                                  stream_.get()));
  stream_.synchronize();  // `host` goes away when this returns
}

group_totals cuda_engine::totals()
{
  return reduce<group_totals>(scratch_, totals_term{table_.data()}, groups_, stream_.get());
}

void cuda_engine::set_sigma2(double sigma2) { set_variances_async(table_.data(), sigma2, groups_, v_.data(), stream_.get()); }

variance_range cuda_engine::variances()
{
  return reduce<variance_range>(scratch_, variance_term{v_.data()}, groups_, stream_.get());
}

unweighted_sums cuda_engine::unweighted()
{
  return reduce<unweighted_sums>(scratch_, unweighted_term{table_.data(), v_.data()}, groups_, stream_.get());
}

newton_sums cuda_engine::newton(double tau2, double center)
{
  return reduce<newton_sums>(scratch_, newton_term{table_.data(), v_.data(), tau2, center}, groups_, stream_.get());
}

weighted_sums cuda_engine::weighted(double tau2, bool with_log)
{
  return reduce<weighted_sums>(scratch_, weighted_term{table_.data(), v_.data(), tau2, with_log}, groups_,
                               stream_.get());
}

template <class SliceDone>
void cuda_engine::posterior_slices(const posterior_params& p, SliceDone&& slice_done)
{
  const std::size_t slice = std::min(groups_, posterior_slice_groups);
  device_buffer<std::int64_t> n(slice, stream_.get());
  device_buffer<double> columns(8 * slice, stream_.get());
  double* c = columns.data();
  const posterior_columns_ref out{n.data(),      c,             c + slice,     c + 2 * slice, c + 3 * slice,
                                  c + 4 * slice, c + 5 * slice, c + 6 * slice, c + 7 * slice};
  for (std::size_t begin = 0; begin < groups_; begin += slice) {
    const std::size_t count = std::min(slice, groups_ - begin);
    posteriors_async(table_.data(), v_.data(), begin, count, p, out, stream_.get());
    slice_done(begin, count, out);
  }
}

void cuda_engine::posteriors(const posterior_params& p, fit_result& out)
{
  const std::size_t J = groups_;
  resize_group_columns(out, J, p.james_stein);
  const cudaStream_t s = stream_.get();
  posterior_slices(p, [&](std::size_t begin, std::size_t count, const posterior_columns_ref& d) {
    auto fetch = [&](auto* h_dst, const auto* d_src) {
      SHRINK_CUDA_TRY(cudaMemcpyAsync(h_dst + begin, d_src, count * sizeof(*d_src), cudaMemcpyDeviceToHost, s));
    };
    fetch(out.n.data(), d.n);
    fetch(out.mean.data(), d.mean);
    fetch(out.se.data(), d.se);
    fetch(out.shrinkage.data(), d.shrinkage);
    fetch(out.estimate.data(), d.estimate);
    fetch(out.sd.data(), d.sd);
    fetch(out.lower.data(), d.lower);
    fetch(out.upper.data(), d.upper);
    if (p.james_stein) fetch(out.james_stein.data(), d.james_stein);
    // The slice's device columns are rewritten by the next slice, and the host vectors are read
    // as soon as this returns.
    SHRINK_CUDA_TRY(cudaStreamSynchronize(s));
  });
}

void cuda_engine::posteriors_on_device_async(const posterior_params& p)
{
  posterior_slices(p, [](std::size_t, std::size_t, const posterior_columns_ref&) {});
}

template <class Of>
void cuda_engine::overwrite(const Of& of, fit_result& out)
{
  SHRINK_EXPECTS(out.shrinkage.size() == groups_ && out.estimate.size() == groups_ && out.sd.size() == groups_ &&
                   out.lower.size() == groups_ && out.upper.size() == groups_,
                 "internal: posteriors() must size the output before it is overwritten");
  const std::size_t slice = std::min(groups_, posterior_slice_groups);
  device_buffer<double> columns(5 * slice, stream_.get());
  double* c = columns.data();
  const overwrite_columns_ref d{c, c + slice, c + 2 * slice, c + 3 * slice, c + 4 * slice};
  const cudaStream_t s = stream_.get();
  for (std::size_t begin = 0; begin < groups_; begin += slice) {
    const std::size_t count = std::min(slice, groups_ - begin);
    overwrite_async(of, begin, count, d, s);
    auto fetch = [&](std::vector<double>& h_dst, const double* d_src) {
      SHRINK_CUDA_TRY(cudaMemcpyAsync(h_dst.data() + begin, d_src, count * sizeof(double), cudaMemcpyDeviceToHost, s));
    };
    fetch(out.shrinkage, d.shrinkage);
    fetch(out.estimate, d.estimate);
    fetch(out.sd, d.sd);
    fetch(out.lower, d.lower);
    fetch(out.upper, d.upper);
    SHRINK_CUDA_TRY(cudaStreamSynchronize(s));
  }
}

void cuda_engine::mixture_posteriors(const mixture_params& p, fit_result& out)
{
  // The node arrays go to the device once; the map reads them from every thread.
  const auto nodes = static_cast<std::size_t>(std::max(p.nodes, 0));
  device_buffer<double> d_nodes(4 * nodes, stream_.get());
  mixture_params d = p;
  if (nodes > 0) {
    const double* host[4] = {p.tau2, p.weight, p.mu, p.v_mu};
    for (std::size_t a = 0; a < 4; ++a)
      SHRINK_CUDA_TRY(cudaMemcpyAsync(d_nodes.data() + a * nodes, host[a], nodes * sizeof(double),
                                      cudaMemcpyHostToDevice, stream_.get()));
    d.tau2 = d_nodes.data();
    d.weight = d_nodes.data() + nodes;
    d.mu = d_nodes.data() + 2 * nodes;
    d.v_mu = d_nodes.data() + 3 * nodes;
  }
  overwrite(mixture_term{table_.data(), v_.data(), d}, out);
}

t_marginal_sums cuda_engine::t_marginal(const t_prior_params& p)
{
  return reduce<t_marginal_sums>(scratch_, t_marginal_term{table_.data(), v_.data(), p}, groups_, stream_.get());
}

void cuda_engine::t_posteriors(const t_prior_params& p, fit_result& out)
{
  overwrite(t_posterior_term{table_.data(), v_.data(), p}, out);
}

std::unique_ptr<group_engine> make_cuda_engine(const raw_data_view& data, const cuda_engine_options& options)
{
  return std::make_unique<cuda_engine>(data, options);
}

std::unique_ptr<group_engine> make_cuda_engine(const std::int32_t* d_keys, const double* d_values, std::size_t rows,
                                               std::size_t groups, const cuda_engine_options& options)
{
  return std::make_unique<cuda_engine>(d_keys, d_values, rows, groups, options);
}

std::unique_ptr<group_engine> make_cuda_engine(const raw_data_view& data)
{
  return make_cuda_engine(data, cuda_engine_options{});
}

std::unique_ptr<group_engine> make_cuda_engine(const summary_data_view& data)
{
  return std::make_unique<cuda_engine>(data);
}

std::unique_ptr<group_engine> make_cuda_engine(const grouped_data_view& data)
{
  return std::make_unique<cuda_engine>(data);
}

}  // namespace shrink::detail
