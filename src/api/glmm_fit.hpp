#pragma once
// Maximum likelihood for the normal prior on the link scale (logit-normal, log-normal: lme4's
// glmer with one random intercept; src/common/families/normal_prior.hpp): the AGHQ marginal
// likelihood's sums over the gathered entries through the fixed reduction (CPU threads or the GPU),
// Newton on (mu, tau) with a Levenberg shift and step halving, as count_ml does for the conjugate
// priors.

#include "api/count_fit.hpp"  // weighted_entries
#include "common/families/normal_prior.hpp"

#include <cstddef>
#include <memory>
#include <vector>

namespace shrink::detail {

template <class Likelihood>
class glmm_device;

/// The entries' conditional modes at the point of the last sum on the CPU (aghq_term's memory): the
/// next sum's starts.
struct glmm_mode_cache {
  std::vector<mode_memory> modes;
  double mu = 0, tau = 0;
  bool warm = false;
};

/// The entries (groups gathered by equal counts, weighted) and the quadrature rule.
template <class Likelihood>
struct glmm_groups : weighted_entries<typename Likelihood::group, glmm_device<Likelihood>> {
  hermite_rule rule;
  mutable glmm_mode_cache cache;  ///< a start for the mode searches, carried from sum to sum
};

/// The CUDA backend's side (src/cuda/glmm_engine.cu): entries, weights and the rule on the device,
/// the same terms through the same fixed tree, the posteriors by the same formulas.
template <class Likelihood>
class glmm_device {
 public:
  virtual ~glmm_device() = default;
  virtual marginal_sums marginal(double mu, double tau) = 0;
  virtual void posteriors(double mu, double tau, double tail, glmm_posterior* out) = 0;
};

template <class Likelihood>
std::unique_ptr<glmm_device<Likelihood>> make_cuda_glmm_device(const glmm_groups<Likelihood>& data);

/// The K-point Gauss-Hermite rule for N(0, 1) (lme4's GHrule): nodes by Golub-Welsch (the
/// eigenvalues of the Hermite recurrence's Jacobi matrix), polished by Newton on the orthonormal
/// recurrence, weights from it, made exactly symmetric. 1 <= K <= 100.
struct hermite_nodes {
  std::vector<double> z, w;
  hermite_rule rule() const { return {z.data(), w.data(), static_cast<int>(z.size())}; }
};
hermite_nodes gauss_hermite(int points);

struct glmm_estimate {
  double mu = 0, tau = 0;           ///< tau >= 0; 0 on the boundary
  double mu_se = 0, tau_se = 0;     ///< from the observed information in (mu, tau); NaN on the boundary
  double mu_tau_covariance = 0;     ///< likewise (0 on the boundary): where the profiles' maximisers go
  double log_likelihood = 0;        ///< the AGHQ log-likelihood with the families' constants
  double lrt_statistic = 0, lrt_p_value = 1;  ///< tau2 = 0: chi-bar-square(0, 1)
  int iterations = 0;
  bool boundary = false;
};

/// The sum of the entries' weighted terms at (mu, tau).
template <class Likelihood>
marginal_sums glmm_marginal(const glmm_groups<Likelihood>& data, double mu, double tau);

/// Maximum likelihood from the moments of the groups' own links (or lme4's start: mu = the pooled
/// rate's link, tau = 1). `count`, `size`
/// and `log_constants` are the data's totals (count_summaries).
template <class Likelihood>
glmm_estimate glmm_ml(const glmm_groups<Likelihood>& data, double count, double size, double log_constants,
                      int max_iterations);

/// The log-likelihood (without constants) at `tau` maximised over mu, by Newton's method from `mu`
/// (updated to the maximiser): the profile along tau that the figures draw.
template <class Likelihood>
double glmm_profile_over_mu(const glmm_groups<Likelihood>& data, double tau, double& mu);

/// Profile-likelihood intervals at `level`: the (mu, tau2) where 2 (l_max - l_profile) stays below
/// the chi-square(1) quantile, the other parameter maximised by Newton's method at each point and
/// the ends bracketed outwards (doubling) and found by Brent's method. tau2's lower end is 0 where
/// the profile at tau = 0 stays inside.
struct glmm_intervals {
  double mu_lower = 0, mu_upper = 0, tau2_lower = 0, tau2_upper = 0;
};
template <class Likelihood>
glmm_intervals glmm_profile_intervals(const glmm_groups<Likelihood>& data, const glmm_estimate& estimate,
                                      double log_constants, double level);

}  // namespace shrink::detail
