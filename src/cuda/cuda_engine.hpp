#pragma once
// The CUDA group_engine: the per-group table (moments and sampling variances) lives on the device
// from the summary stage to the posteriors; only O(1) reduction results and the final per-group
// columns cross to the host. Device memory: 32 bytes per group plus, during the summary stage,
// 44 bytes per chunk row (see summarize.hpp); from the first posteriors on, 72 bytes per group of
// a slice of at most 4 Mi groups (kept: later calls reuse them); and the reductions' scratch,
// about J / 2 bytes, sized at construction. Nothing is allocated inside a reduction or a
// posterior call after the first.

#include "../api/group_engine.hpp"
#include "cuda_backend.hpp"
#include "reduce_scratch.hpp"
#include "stream.hpp"
#include "summarize.hpp"

namespace shrink::detail {

class cuda_engine final : public group_engine {
 public:
  /// Raw mode from host rows, streamed through the GPU in chunks.
  cuda_engine(const raw_data_view& data, const cuda_engine_options& options);
  /// Raw mode from rows already on the device (left unmodified; the caller may free them on return).
  cuda_engine(const std::int32_t* d_keys, const double* d_values, std::size_t rows, std::size_t groups,
              const cuda_engine_options& options);
  /// Summary mode: v_j = se_j^2.
  explicit cuda_engine(const summary_data_view& data);
  /// Raw mode from group summaries already folded on the host (the streaming reader's table).
  explicit cuda_engine(const grouped_data_view& data);

  std::size_t groups() const override { return groups_; }
  group_totals totals() override;
  void set_sigma2(double sigma2) override;
  variance_range variances() override;
  unweighted_sums unweighted() override;
  weighted_sums weighted(double tau2, bool with_log = true) override;
  newton_sums newton(double tau2, double center) override;
  void posteriors(const posterior_params& p, fit_result& out) override;
  void mixture_posteriors(const mixture_params& p, fit_result& out) override;
  t_marginal_sums t_marginal(const t_prior_params& p) override;
  void t_posteriors(const t_prior_params& p, fit_result& out) override;

  /// The posteriors of every group computed into device columns and not copied back
  /// (`shrink bench` times the kernels alone with it). Stream-ordered.
  void posteriors_on_device_async(const posterior_params& p);

  cudaStream_t stream() const { return stream_.get(); }
  const summarize_report& report() const { return report_; }

 private:
  /// Groups per posterior slice for this engine: min(J, posterior_slice_groups).
  std::size_t slice_groups() const;
  /// The slice's device columns: 8 doubles and one int64 per group, allocated at the first call.
  void ensure_posterior_columns();
  /// Calls `slice_done(begin, count, columns)` after each slice of groups is enqueued (on the stream).
  template <class SliceDone>
  void posterior_slices(const posterior_params& p, SliceDone&& slice_done);
  /// Replaces shrinkage, estimate, sd, lower and upper of `out` by `of(j)`, computed in slices.
  template <class Of>
  void overwrite(const Of& of, fit_result& out);

  cuda_stream stream_;  // first: every buffer below frees on it
  std::size_t groups_ = 0;
  reduce_scratch scratch_;  // the reductions' levels and result slots, sized from J once
  summarize_report report_;
  device_buffer<moments> table_;
  device_buffer<double> v_;
  device_buffer<std::int64_t> posterior_n_;    // the posterior slice's n column
  device_buffer<double> posterior_columns_;    // its 8 double columns (the overwrites use 5 of them)
};

}  // namespace shrink::detail
