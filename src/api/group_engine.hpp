#pragma once
// The seam between the backend-independent fit (src/api/fit.cpp) and a backend: a table of
// per-group (n_j, ybar_j, m2_j or se_j) held where the backend computes, and the few reductions
// and maps over it that every estimator is written in. Each call is O(J).

#include "../common/group_sums.hpp"
#include "../common/mixture_posterior.hpp"
#include "../common/posterior.hpp"
#include "../common/t_prior.hpp"

#include <shrink/fit.hpp>

#include <memory>
#include <vector>

namespace shrink::detail {

class group_engine {
 public:
  virtual ~group_engine() = default;

  virtual std::size_t groups() const = 0;

  /// Raw mode: ANOVA totals over the group summaries.
  virtual group_totals totals() = 0;

  /// Raw mode: fixes v_j = sigma2 / n_j. (Summary mode has v_j = se_j^2 from the start.)
  virtual void set_sigma2(double sigma2) = 0;

  /// Smallest and largest v_j: the fit checks that all are finite and positive.
  virtual variance_range variances() = 0;

  virtual unweighted_sums unweighted() = 0;
  /// The weighted sums at tau2; with_log = false skips the per-group logarithm (sum_log_w = 0),
  /// which only the likelihoods need.
  virtual weighted_sums weighted(double tau2, bool with_log = true) = 0;
  /// The plain sums around `center` that Newton's method on tau2 needs (no logarithm, no
  /// division in the merges): the cheap reduction for the iterations.
  virtual newton_sums newton(double tau2, double center) = 0;

  /// Fills the per-group columns of `out` (n, mean, se, shrinkage, estimate, sd, lower, upper,
  /// james_stein when p.james_stein) on the host.
  virtual void posteriors(const posterior_params& p, fit_result& out) = 0;

  /// Full Bayes: overwrites shrinkage, estimate, sd, lower and upper of `out` (already sized by
  /// posteriors()) with mixture_posterior_of(ybar_j, v_j, p). The node arrays of `p` are on the
  /// host; a device backend copies them (p.nodes doubles each) before its map.
  virtual void mixture_posteriors(const mixture_params& p, fit_result& out) = 0;

  /// --prior t:NU: the reduction of t_marginal_sums::of(ybar_j, v_j, p) over groups.
  virtual t_marginal_sums t_marginal(const t_prior_params& p) = 0;

  /// --prior t:NU: overwrites shrinkage, estimate, sd, lower and upper of `out` (already sized
  /// by posteriors()) with t_posterior_of(ybar_j, v_j, p).
  virtual void t_posteriors(const t_prior_params& p, fit_result& out) = 0;
};

/// Sizes the per-group columns of `out` for J groups (James-Stein only when it applies): the one
/// place both engines' posteriors() prepare their outputs.
inline void resize_group_columns(fit_result& out, std::size_t J, bool james_stein)
{
  out.n.resize(J);
  for (std::vector<double>* c : {&out.mean, &out.se, &out.shrinkage, &out.estimate, &out.sd, &out.lower, &out.upper})
    c->resize(J);
  out.james_stein.resize(james_stein ? J : 0);
}

std::unique_ptr<group_engine> make_cpu_engine(const raw_data_view& data, int threads);
std::unique_ptr<group_engine> make_cpu_engine(const summary_data_view& data, int threads);
/// Reads the view's columns in place (no copy): they must outlive the engine.
std::unique_ptr<group_engine> make_cpu_engine(const grouped_data_view& data, int threads);

/// Defined in src/cuda when CUDA is built, else in src/api/no_cuda.cpp (throws).
std::unique_ptr<group_engine> make_cuda_engine(const raw_data_view& data);
std::unique_ptr<group_engine> make_cuda_engine(const summary_data_view& data);
std::unique_ptr<group_engine> make_cuda_engine(const grouped_data_view& data);

}  // namespace shrink::detail
