#pragma once
/// @file
/// Fitting the beta-binomial model to per-group counts (`shrink fit --family binomial`):
///   y_j ~ Binomial(n_j, theta_j),  theta_j ~ Beta(alpha, beta),  alpha = m nu, beta = (1 - m) nu,
/// with the raw rate (no pooling), the pooled rate (complete pooling) and the conjugate posterior
/// Beta(alpha + y_j, beta + n_j - y_j) (partial pooling) for every group.

#include <shrink/backend.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace shrink {

/// How (alpha, beta) are estimated.
enum class binomial_method {
  mom,    ///< method of moments on the observed rates (BDA3 section 5.1)
  ml,     ///< maximum marginal likelihood (Newton on logit m, log nu; VGAM's betabinomial, ebbr's mle)
  fixed,  ///< given by the user
};

/// "mom", "ml" or "fixed".
std::string to_string(binomial_method m);
/// Parses a --method name for the binomial family; throws shrink::error naming the valid ones.
binomial_method parse_binomial_method(const std::string& name);

/// Per-group counts: successes y_j of trials n_j (whole numbers, 0 <= y_j <= n_j, n_j > 0).
struct binomial_data_view {
  const double* successes = nullptr;
  const double* trials = nullptr;
  std::size_t groups = 0;
};

struct binomial_options {
  binomial_method method = binomial_method::ml;
  double alpha = 0, beta = 0;  ///< method == fixed: the prior Beta(alpha, beta)
  double level = 0.95;         ///< coverage of the per-group intervals and the profile intervals
  backend requested_backend = backend::automatic;
  int threads = 0;  ///< CPU threads; 0 = all hardware threads
  int max_iterations = 200;
};

/// A confidence interval; its ends may be infinite (a concentration without upper bound).
struct interval {
  double lower = 0, upper = 0;
};

struct binomial_fit_result {
  // Per group (in input order).
  std::vector<double> trials, successes;
  std::vector<double> rate;       ///< no pooling: y_j / n_j
  std::vector<double> shrinkage;  ///< nu / (nu + n_j): the weight of the prior mean in the estimate
  std::vector<double> estimate;   ///< partial pooling: the posterior mean (alpha + y_j) / (nu + n_j)
  std::vector<double> sd;         ///< the posterior sd
  std::vector<double> lower, upper;  ///< the posterior's central interval at `level` (exact beta quantiles)

  std::size_t groups = 0;
  double total_successes = 0, total_trials = 0;
  double complete_pooling = 0;  ///< the pooled rate sum y / sum n
  double alpha = 0, beta = 0;   ///< infinite on the boundary (no over-dispersion)
  double mean = 0;              ///< m = alpha / (alpha + beta)
  double concentration = 0;     ///< nu = alpha + beta
  /// ml: standard errors from the observed information (delta method from logit m and log nu).
  std::optional<double> mean_se, concentration_se;
  /// ml: profile-likelihood intervals at `level` (the concentration's upper end may be infinite).
  std::optional<interval> mean_ci, concentration_ci;
  double log_likelihood = 0;   ///< the marginal log-likelihood at the estimate (binomial coefficients included)
  /// Likelihood-ratio test of no over-dispersion (nu = infinity, on the boundary: chi-bar-square).
  double overdispersion_statistic = 0, overdispersion_p_value = 1;
  bool boundary = false;       ///< nu = infinity: partial pooling equals complete pooling
  int iterations = 0;
  binomial_method method = binomial_method::ml;
  double level = 0.95;
  backend used = backend::cpu;
  double seconds_estimate = 0, seconds_posterior = 0, seconds_total = 0;
  std::vector<std::string> notes;
};

/// Fits the beta-binomial model. Throws shrink::error on invalid input (a one-line message).
/// Runs on the CPU backend (`cuda` asked for is an error until the family's kernels land).
binomial_fit_result fit(const binomial_data_view& data, const binomial_options& options);

}  // namespace shrink
