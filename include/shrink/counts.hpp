#pragma once
/// @file
/// Fitting per-group counts (`shrink fit --family binomial|poisson`):
///   binomial: y_j ~ Binomial(n_j, theta_j),   theta_j ~ Beta(alpha, beta),  alpha = m nu, beta = (1 - m) nu;
///   poisson:  y_j ~ Poisson(E_j theta_j),     theta_j ~ Gamma(shape, rate), m = shape / rate;
/// with the raw rate (no pooling), the pooled rate (complete pooling) and the conjugate posterior
/// (partial pooling) for every group.

#include <shrink/backend.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace shrink {

/// The count families: the likelihood and its conjugate prior.
enum class count_family {
  binomial,  ///< successes of trials, beta prior
  poisson,   ///< counts over an exposure, gamma prior
};

/// "binomial" or "poisson".
std::string to_string(count_family f);

/// The prior of the group rates: the conjugate one (beta, gamma), or a normal on the link scale:
/// theta_j = expit(mu + b_j) (binomial, "logit-normal") or exp(mu + b_j) (poisson, "log-normal"),
/// b_j ~ N(0, tau2): lme4's glmer(cbind(y, n - y) ~ 1 + (1 | g), binomial) / (y ~ 1 + offset(log E) + (1 | g), poisson).
enum class count_prior {
  conjugate,  ///< Beta(alpha, beta) or Gamma(shape, rate)
  normal,     ///< logit-normal or log-normal: maximum likelihood by adaptive Gauss-Hermite quadrature
};

/// "beta", "gamma", "logit-normal" or "log-normal".
std::string to_string(count_family f, count_prior p);

/// How the prior's hyperparameters are estimated.
enum class count_method {
  mom,    ///< method of moments on the observed rates (BDA3 section 5.1; Poisson: Var r = m^2/shape + m mean(1/E))
  ml,     ///< maximum marginal likelihood (Newton on the link of m and log concentration; VGAM, ebbr, MASS's glm.nb)
  fixed,  ///< given by the user
  bayes,  ///< full Bayes: the hyperparameters integrated over their posterior (2-D adaptive quadrature)
};

/// "mom", "ml", "fixed" or "bayes".
std::string to_string(count_method m);
/// Parses a --method name for a count family; throws shrink::error naming the valid ones.
count_method parse_count_method(const std::string& name);

/// Per-group counts: y_j (whole numbers >= 0) of n_j trials (binomial: whole numbers >= y_j, > 0) or
/// over an exposure E_j (poisson: > 0; null means 1 for every group).
struct count_data_view {
  count_family family = count_family::binomial;
  const double* counts = nullptr;
  const double* sizes = nullptr;
  std::size_t groups = 0;
};

/// The hyperprior of `--method bayes`, on the prior mean m and the concentration nu (binomial) or
/// shape (poisson), independent. The defaults make BDA3's p(alpha, beta) ~ (alpha + beta)^(-5/2)
/// (section 5.3): m uniform and p(nu) ~ nu^(-3/2) (uniform on nu^(-1/2), the prior's approximate
/// sd); poisson: p(m) ~ 1/m and p(shape) ~ shape^(-3/2) (uniform on log m and on the prior's
/// coefficient of variation shape^(-1/2)). Both defaults are improper.
struct count_hyperprior {
  enum class mean_kind { standard, beta, gamma, log_normal };
  enum class concentration_kind { standard, exponential };
  mean_kind mean = mean_kind::standard;
  double mean_a = 0, mean_b = 0;  ///< beta(A, B), gamma(shape, rate) or log-normal(mu, sigma) of m
  concentration_kind concentration = concentration_kind::standard;
  double scale = 0;  ///< exponential with this mean
};

/// Parses --hyperprior "mean=beta:A,B;concentration=exp:SCALE" (binomial) or
/// "mean=gamma:SHAPE,RATE|lognormal:MU,SIGMA;concentration=exp:SCALE" (poisson; m in the data's
/// rate units); either part may be left out (that part's default). Throws shrink::error.
count_hyperprior parse_count_hyperprior(const std::string& text, count_family family);

/// A posterior's summary: mean, sd, median and central interval at the fit's level. A mean or sd
/// that does not exist (a tail too heavy under an improper hyperprior) is infinite.
struct posterior_summary {
  double mean = 0, sd = 0, median = 0, lower = 0, upper = 0;
};

/// `--method bayes`: the hyperparameters' posterior. Binomial: a = alpha, b = beta, link_mean =
/// log(alpha / beta), log_concentration = log(alpha + beta); poisson: a = shape, b = rate,
/// link_mean = log m, log_concentration = log shape.
struct count_bayes_summary {
  posterior_summary a, b, mean, concentration, link_mean, log_concentration;
  std::size_t grid_points = 0;     ///< where the posterior density was evaluated (the 2-D grid)
  std::size_t mixture_points = 0;  ///< grid points kept in the per-group mixtures' quantiles
  double neglected_mass = 0;       ///< estimated posterior mass outside the grid (relative)
  double spacing = 0;              ///< the grid's spacing in posterior standard deviations
  std::optional<double> log_marginal_likelihood;  ///< log p(y), constants included; proper hyperpriors only
  std::string hyperprior;          ///< in words
  /// The marginal posterior density of log_concentration (natural log) at increasing nodes,
  /// integrating to 1 (the 1-D marginal its median and interval come from; the figures draw it).
  std::vector<double> log_concentration_nodes, log_concentration_density;
};

struct count_options {
  count_method method = count_method::ml;
  /// method == fixed: the prior's natural parameters, Beta(alpha, beta) or Gamma(shape, rate);
  /// prior == normal: the link-scale N(mu, tau^2)'s mu (poisson: per unit of exposure) and tau.
  double a = 0, b = 0;
  double level = 0.95;         ///< coverage of the per-group intervals and the profile intervals
  backend requested_backend = backend::automatic;
  int threads = 0;  ///< CPU threads; 0 = all hardware threads
  int max_iterations = 200;
  count_prior prior = count_prior::conjugate;
  /// prior == normal: Gauss-Hermite nodes per group (1 = Laplace, lme4's nAGQ; 1 to 100).
  int quadrature_points = 10;
  count_hyperprior hyperprior;  ///< method == bayes
};

/// A confidence interval; its ends may be infinite (a concentration without upper bound).
struct interval {
  double lower = 0, upper = 0;
};

struct count_fit_result {
  count_family family = count_family::binomial;
  // Per group (in input order).
  std::vector<double> sizes, counts;  ///< n_j or E_j, and y_j
  std::vector<double> rate;       ///< no pooling: y_j / n_j or y_j / E_j
  /// The weight of the prior mean in the estimate: nu / (nu + n_j), or rate / (rate + E_j).
  std::vector<double> shrinkage;
  std::vector<double> estimate;   ///< partial pooling: the posterior mean, (alpha + y_j) / (nu + n_j) or (shape + y_j) / (rate + E_j)
  std::vector<double> sd;         ///< the posterior sd
  std::vector<double> lower, upper;  ///< the posterior's central interval at `level` (exact beta / gamma quantiles)
  /// Groups with equal counts (and sizes) share every column above (and mode, mode_sd): entry_of[j]
  /// numbers group j's entry, 0 to entries - 1 (the per-group CSV formats each entry's numbers once).
  std::vector<std::uint32_t> entry_of;

  std::size_t groups = 0;
  double total_count = 0, total_size = 0;
  double complete_pooling = 0;  ///< the pooled rate sum y / sum n (or sum E)
  double a = 0, b = 0;          ///< Beta(alpha, beta) or Gamma(shape, rate); infinite on the boundary (no over-dispersion)
  double mean = 0;              ///< m: alpha / (alpha + beta) or shape / rate
  double concentration = 0;     ///< nu = alpha + beta, or the gamma's shape
  /// ml: standard errors from the observed information (delta method from logit m and log nu).
  std::optional<double> mean_se, concentration_se;
  /// ml: profile-likelihood intervals at `level` (the concentration's upper end may be infinite).
  std::optional<interval> mean_ci, concentration_ci;
  double log_likelihood = 0;   ///< the marginal log-likelihood at the estimate (binomial coefficients included)
  /// Likelihood-ratio test of no over-dispersion (nu = infinity, on the boundary: chi-bar-square).
  double overdispersion_statistic = 0, overdispersion_p_value = 1;
  bool boundary = false;       ///< nu = infinity: partial pooling equals complete pooling
  int iterations = 0;
  count_method method = count_method::ml;
  double level = 0.95;
  backend used = backend::cpu;
  double seconds_estimate = 0, seconds_posterior = 0, seconds_total = 0;
  std::vector<std::string> notes;

  /// prior == normal (the fields above then mean: shrinkage = 1 / (1 + tau2 I_j), I_j the
  /// likelihood's curvature -f''(eta) at the conditional mode; estimate, sd, lower, upper = the
  /// posterior of theta_j given (mu, tau2); a, b, concentration unused; mean = the rate at b = 0).
  count_prior prior = count_prior::conjugate;
  int quadrature_points = 0;
  double mu = 0, tau2 = 0;                ///< the link-scale mean and the variance of b_j
  double tau = 0;                         ///< the sd of b_j as fitted or given (tau2 is its square)
  std::optional<double> mu_se, tau_se, tau2_se;  ///< observed information in (mu, tau); tau2: delta method
  std::optional<interval> mu_ci, tau2_ci;        ///< profile-likelihood intervals at `level`
  std::vector<double> mode, mode_sd;      ///< per group: lme4's ranef(condVar = TRUE) of b_j
  /// method == bayes (a, b, mean and concentration above are then posterior medians; the per-group
  /// columns the mixture over the hyperparameters' posterior).
  std::optional<count_bayes_summary> bayes;
};

/// A point along the prior's spread for the figures (`shrink fit --plot/--html`): the spread (the
/// binomial concentration nu, the poisson shape, or the normal prior's tau; infinity for the
/// conjugate prior's no-spread limit) and the prior mean there on the rate scale, or NaN for the mean
/// that maximises the likelihood at that spread (the profile).
struct spread_point {
  double spread = 0;
  double mean = std::numeric_limits<double>::quiet_NaN();
};

/// What the figures draw at each point: per point, the log-likelihood (constants included, as
/// count_fit_result::log_likelihood), the prior mean (rate scale), the prior's central interval at
/// the options' level (where a new group's rate lies) and the mean shrinkage over all groups; per
/// point and listed group (row-major, points x groups), the posterior mean and shrinkage, and per
/// point and group of `interval_groups` (points x interval_groups) the posterior's central interval.
struct spread_profile {
  std::vector<double> log_likelihood, mean, prior_lower, prior_upper, mean_shrinkage;
  std::vector<double> estimate, lower, upper, shrinkage;
};

/// Evaluates `points` for the data and prior of `options` (its method is not used), on the CPU
/// threads (the fixed-shape reduction: the same bits for any thread count), by the fit's own
/// formulas. Throws shrink::error as fit() does on invalid data.
spread_profile profile_spread(const count_data_view& data, const count_options& options,
                              const std::vector<spread_point>& points, const std::vector<std::size_t>& groups,
                              const std::vector<std::size_t>& interval_groups);

/// Fits a count family. Throws shrink::error on invalid input (a one-line message). On the CUDA
/// backend the sums over groups and the posteriors run on the GPU (the CPU's bits: the same
/// formulas, the same fixed reduction tree); gathering equal groups and the estimators' few scalar
/// steps stay on the host.
count_fit_result fit(const count_data_view& data, const count_options& options);

}  // namespace shrink
