#pragma once
// The count families' hyperparameter estimators on the host (issue 11), generic over the family
// (src/common/families/: beta_binomial, gamma_poisson): the method of moments on the observed
// rates, a fixed prior, and maximum likelihood by Newton's method on the working parameters
// (u, v) = (link of the prior mean, log concentration), with profile-likelihood intervals. The sums
// over groups go through the CPU's fixed-shape reduction (the same SHRINK_HD terms a GPU engine
// would reduce).

#include "common/families/beta_binomial.hpp"
#include "common/families/gamma_poisson.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace shrink::detail {

template <class Family>
class count_device;

/// The groups as the estimators see them: `count` entries, each standing for weights[i] identical
/// groups (weights null: one each). Every sum over groups is a sum over entries of weight x term,
/// so groups that share their counts (common where trials or exposures are small) cost one term.
template <class Family>
struct count_groups {
  const typename Family::group* groups = nullptr;
  std::size_t count = 0;
  int threads = 0;
  const double* weights = nullptr;
  count_device<Family>* device = nullptr;  ///< where the sums over entries run (null: the CPU)

  double weight(std::size_t i) const { return weights != nullptr ? weights[i] : 1.0; }
};

/// The CUDA backend's side of a count family (src/cuda/count_engine.cu): the entries and their
/// weights held on the device, the marginal sums reduced there by the same fixed tree as the CPU's,
/// and the posteriors computed there, by the same SHRINK_HD formulas: the CPU's bits.
template <class Family>
class count_device {
 public:
  virtual ~count_device() = default;
  virtual marginal_sums marginal(double a, double b) = 0;
  /// out[i] = Family::posterior_of(entry i, a, b, tail) for every entry.
  virtual void posteriors(double a, double b, double tail, count_posterior* out) = 0;
};

/// The entries of `data` copied to the GPU (src/cuda/count_engine.cu; without CUDA, src/api/no_cuda.cpp
/// throws).
template <class Family>
std::unique_ptr<count_device<Family>> make_cuda_count_device(const count_groups<Family>& data);

/// Groups with the same counts gathered into one entry each, weighted by how many there are, in the
/// order of (size, count): a function of the groups as a multiset, so results do not depend on their
/// order. `entry_of[j]` is group j's entry.
template <class Family>
struct distinct_groups {
  std::vector<typename Family::group> groups;
  std::vector<double> weights;
  std::vector<std::uint32_t> entry_of;
};
template <class Family>
distinct_groups<Family> gather_distinct(const std::vector<typename Family::group>& groups);

/// Sums of the data the estimators start from.
struct count_totals {
  double groups = 0;               ///< the number of groups (the sum of the entries' weights)
  double count = 0, size = 0;      ///< over all groups: complete pooling's rate is their ratio
  double rate_mean = 0;            ///< mean of the rates y_j / size_j
  double rate_variance = 0;        ///< their sample variance (divisor J - 1)
  double mean_inverse_size = 0;    ///< mean of 1 / size_j (the Poisson moment estimator's noise term)
  double log_constants = 0;        ///< sum of the families' constants, for the reported log-likelihood
};

template <class Family>
count_totals count_summaries(const count_groups<Family>& data);

struct count_estimate {
  double a = 0, b = 0;           ///< the prior's natural parameters (alpha, beta or shape, rate); infinite on the boundary
  double mean = 0;               ///< the prior mean m
  double concentration = 0;      ///< nu = alpha + beta, or the gamma's shape (infinite: no over-dispersion)
  double se_link_mean = 0;       ///< from the observed information in (u, v); NaN when not ml
  double se_log_concentration = 0;
  double log_likelihood = 0;     ///< with the families' constants
  double lrt_statistic = 0;      ///< 2 (l - l at concentration = infinity): no over-dispersion
  double lrt_p_value = 1;        ///< chi-bar-square: half a chi-square(1) tail (the boundary)
  int iterations = 0;
  bool boundary = false;         ///< concentration = infinity: partial pooling is complete pooling
};

/// The method of moments on the observed rates; no spread beyond the likelihood's noise gives the
/// boundary (concentration = infinity).
template <class Family>
count_estimate count_moments(const count_groups<Family>& data, const count_totals& totals);

/// The prior given in natural parameters (a, b), with its log-likelihood and the over-dispersion test.
template <class Family>
count_estimate count_fixed(const count_groups<Family>& data, const count_totals& totals, double a, double b);

/// Maximum likelihood: Newton on (u, v) from the moment estimate, with step halving and a Levenberg
/// shift where the Hessian is not negative definite; converged when the Newton decrement falls below
/// max(1e-12, 1e-13 |l|), or when no step raises l strictly (the gradient is then rounding noise); a
/// search that fails beyond a concentration of 1e6 is the boundary. All counts 0 (or, binomial, all
/// successes) is an error: no finite maximum.
template <class Family>
count_estimate count_ml(const count_groups<Family>& data, const count_totals& totals, int max_iterations = 200);

/// Profile-likelihood intervals at `level` for m and the concentration (each maximised over the
/// other): where 2 (l_max - l_profile) stays below the chi-square(1) quantile. An end the likelihood
/// never leaves the set at is open: the mean's range end, 0 or infinity for the concentration.
struct count_intervals {
  double mean_lower = 0, mean_upper = 0;
  double concentration_lower = 0, concentration_upper = 0;
};
template <class Family>
count_intervals count_profile_intervals(const count_groups<Family>& data, const count_totals& totals,
                                        const count_estimate& estimate, double level);

}  // namespace shrink::detail
