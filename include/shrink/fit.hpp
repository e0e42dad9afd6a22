#pragma once
/// @file
/// Fitting the two-level normal model to grouped data:
///   y_ij ~ N(theta_j, sigma^2),  theta_j ~ N(mu, tau^2),
/// with no-pooling, complete-pooling and partial-pooling estimates for every group.

#include <shrink/backend.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shrink {

/// How tau^2 is estimated (metafor's names).
enum class tau_method {
  mom,    ///< unweighted method of moments (metafor's "HE"): max(0, S^2_ybar - mean v_j)
  fixed,  ///< tau given by the user
};

/// "mom" or "fixed".
std::string to_string(tau_method m);
/// Parses a --tau-method name; throws shrink::error naming the valid ones otherwise.
tau_method parse_tau_method(const std::string& name);

/// Observations in long format with group keys mapped to dense ids 0..groups-1, rows in any
/// order. Values are stored relative to `offset` (y = offset + values[i]): a reader that parses
/// decimals relative to a value of the column keeps digits that a plain double would lose
/// (values near 1e12 with small decimals). Every location output adds the offset back.
struct raw_data_view {
  const std::int32_t* group_ids = nullptr;
  const double* values = nullptr;
  std::size_t rows = 0;
  std::size_t groups = 0;
  double offset = 0;
};

/// Per-group estimates and their standard errors (meta-analysis / small-area input).
struct summary_data_view {
  const double* estimates = nullptr;  ///< relative to `offset`, as in raw_data_view
  const double* standard_errors = nullptr;
  std::size_t groups = 0;
  double offset = 0;
};

struct fit_options {
  tau_method method = tau_method::mom;
  double tau = 0;               ///< used when method == fixed
  std::optional<double> sigma;  ///< known within-group sd (raw mode); default: pooled estimate
  double level = 0.95;          ///< coverage of the per-group central intervals
  backend requested_backend = backend::automatic;
  int threads = 0;              ///< CPU threads; 0 = all hardware threads
};

/// The one-way ANOVA table of raw data.
struct anova_table {
  double df_between = 0, df_within = 0;
  double ss_between = 0, ss_within = 0;
  double ms_between = 0, ms_within = 0;
  double F = 0;  ///< infinite when ms_within is 0
};

/// Wall-clock seconds of each stage.
struct fit_timings {
  double summarize = 0;   ///< group summaries from rows (raw mode)
  double tau = 0;         ///< sigma^2, tau^2, mu and the heterogeneity statistics
  double posterior = 0;   ///< per-group outputs, copied to the host
  double total = 0;
};

/// Per-group columns (index = dense group id) and the fitted hyperparameters.
struct fit_result {
  // Per group.
  std::vector<std::int64_t> n;       ///< observations (1 in summary mode)
  std::vector<double> mean;          ///< no pooling: ybar_j
  std::vector<double> se;            ///< sigma_j: sqrt(sigma^2 / n_j), or the given se_j
  std::vector<double> shrinkage;     ///< B_j = sigma_j^2 / (sigma_j^2 + tau^2)
  std::vector<double> estimate;      ///< partial pooling: ybar_j + B_j (mu - ybar_j)
  std::vector<double> sd;            ///< posterior sd: sqrt(sigma_j^2 (1 - B_j))
  std::vector<double> lower, upper;  ///< central interval at `level`
  std::vector<double> james_stein;   ///< positive-part James-Stein; empty when groups < 4

  // Hyperparameters and statistics.
  std::size_t groups = 0;
  std::int64_t observations = 0;
  double mu = 0;                ///< mu_hat(tau2), the precision-weighted mean of the ybar_j
  double complete_pooling = 0;  ///< mu_hat(0) (the grand mean of all rows in raw mode)
  double tau2 = 0;
  std::optional<double> sigma2;       ///< raw mode: the pooled or given within-group variance
  double Q = 0;                       ///< Cochran's Q, weights 1 / sigma_j^2
  double I2 = 0;                      ///< percent, metafor's definition
  double H2 = 0;
  std::optional<double> james_stein_c;  ///< shrinkage factor c; absent when groups < 4
  std::optional<anova_table> anova;     ///< raw mode only
  tau_method method = tau_method::mom;
  double level = 0.95;
  backend used = backend::cpu;
  fit_timings seconds;
  std::vector<std::string> notes;  ///< what the data say (complete pooling, James-Stein absent, ...)
};

/// Fits raw observations. Throws shrink::error on invalid input.
fit_result fit(const raw_data_view& data, const fit_options& options = {});

/// Fits per-group estimates with known standard errors. Throws shrink::error on invalid input.
fit_result fit(const summary_data_view& data, const fit_options& options = {});

}  // namespace shrink
