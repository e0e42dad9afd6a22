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

/// The largest sums struct the engine reduces: its reduction scratch is sized for it at
/// construction. (A reduction of a larger struct would grow the scratch once, at its first call.)
constexpr std::size_t largest_sums_bytes =
  std::max({sizeof(group_totals), sizeof(variance_range), sizeof(unweighted_sums), sizeof(newton_sums),
            sizeof(weighted_sums), sizeof(t_marginal_sums)});
}  // namespace

cuda_engine::cuda_engine(const raw_data_view& data, const cuda_engine_options& options)
  : groups_(data.groups), scratch_(groups_, largest_sums_bytes, stream_.get())
{
  table_ = summarize_host_rows(data, stream_.get(), options.chunk_rows, &report_);
  v_ = device_buffer<double>(groups_, stream_.get());
}

cuda_engine::cuda_engine(const std::int32_t* d_keys, const double* d_values, std::size_t rows, std::size_t groups,
                         const cuda_engine_options& options)
  : groups_(groups), scratch_(groups_, largest_sums_bytes, stream_.get())
{
  table_ = summarize_device_rows(d_keys, d_values, rows, groups, stream_.get(), options.chunk_rows, &report_);
  v_ = device_buffer<double>(groups_, stream_.get());
  stream_.synchronize();  // the caller may free or overwrite its rows when this returns
}

cuda_engine::cuda_engine(const summary_data_view& data)
  : groups_(data.groups), scratch_(groups_, largest_sums_bytes, stream_.get()), table_(groups_, stream_.get()),
    v_(groups_, stream_.get())
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
  : groups_(data.groups), scratch_(groups_, largest_sums_bytes, stream_.get()), table_(groups_, stream_.get()),
    v_(groups_, stream_.get())
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

std::size_t cuda_engine::slice_groups() const { return std::min(groups_, posterior_slice_groups); }

void cuda_engine::ensure_posterior_columns()
{
  const std::size_t slice = slice_groups();
  if (posterior_columns_.size() == 8 * slice) return;
  posterior_n_ = device_buffer<std::int64_t>(slice, stream_.get());
  posterior_columns_ = device_buffer<double>(8 * slice, stream_.get());
}

template <class SliceDone>
void cuda_engine::posterior_slices(const posterior_params& p, SliceDone&& slice_done)
{
  ensure_posterior_columns();
  const std::size_t slice = slice_groups();
  double* c = posterior_columns_.data();
  const posterior_columns_ref out{posterior_n_.data(), c,             c + slice,     c + 2 * slice, c + 3 * slice,
                                  c + 4 * slice,       c + 5 * slice, c + 6 * slice, c + 7 * slice};
  for (std::size_t begin = 0; begin < groups_; begin += slice) {
    const std::size_t count = std::min(slice, groups_ - begin);
    posteriors_async(table_.data(), v_.data(), begin, count, p, out, stream_.get());
    slice_done(begin, count, out);
  }
}

void cuda_engine::posteriors(const posterior_params& p, fit_result& out)
{
  resize_group_columns(out, groups_, p.james_stein);
  posterior_slices(p, [&](std::size_t begin, std::size_t count, const posterior_columns_ref& d) {
    std::vector<host_copy> copies;
    auto fetch = [&](auto* h_dst, const auto* d_src) { copies.push_back({h_dst + begin, d_src, count * sizeof(*d_src)}); };
    fetch(out.n.data(), d.n);
    fetch(out.mean.data(), d.mean);
    fetch(out.se.data(), d.se);
    fetch(out.shrinkage.data(), d.shrinkage);
    fetch(out.estimate.data(), d.estimate);
    fetch(out.sd.data(), d.sd);
    fetch(out.lower.data(), d.lower);
    fetch(out.upper.data(), d.upper);
    if (p.james_stein) fetch(out.james_stein.data(), d.james_stein);
    // Returns once the host columns hold the slice: the next slice may then rewrite the device columns.
    copy_columns_to_host(copies, stream_.get());
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
  ensure_posterior_columns();
  const std::size_t slice = slice_groups();
  double* c = posterior_columns_.data();
  const overwrite_columns_ref d{c, c + slice, c + 2 * slice, c + 3 * slice, c + 4 * slice};
  for (std::size_t begin = 0; begin < groups_; begin += slice) {
    const std::size_t count = std::min(slice, groups_ - begin);
    overwrite_async(of, begin, count, d, stream_.get());
    std::vector<host_copy> copies;
    for (auto [h_dst, d_src] : {std::pair{&out.shrinkage, d.shrinkage}, std::pair{&out.estimate, d.estimate},
                                std::pair{&out.sd, d.sd}, std::pair{&out.lower, d.lower}, std::pair{&out.upper, d.upper}})
      copies.push_back({h_dst->data() + begin, d_src, count * sizeof(double)});
    copy_columns_to_host(copies, stream_.get());
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
