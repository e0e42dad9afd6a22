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

/// How tau^2 is estimated (metafor's names and definitions; see README "tau2 estimators").
enum class tau_method {
  mom,    ///< unweighted method of moments (metafor's "HE"): max(0, S^2_ybar - mean v_j)
  dl,     ///< DerSimonian-Laird: max(0, (Q - (J-1)) / (sum w - sum w^2 / sum w)), w = 1/v
  pm,     ///< Paule-Mandel: the root of Q(tau2) = J - 1 (0 when Q(0) < J - 1)
  sj,     ///< Sidik-Jonkman: tau0^2 Q(tau0^2) / (J-1), tau0^2 = sum (ybar_j - mean ybar)^2 / J
  ml,     ///< maximum likelihood (Fisher scoring; raw mode: sigma2 and tau2 jointly)
  reml,   ///< restricted maximum likelihood (Fisher scoring; raw mode: sigma2 and tau2 jointly)
  eb,     ///< empirical Bayes (Morris 1983): the root of Q(tau2) J/(J-1) = J, by metafor's scoring
  fixed,  ///< tau given by the user
  bayes,  ///< full Bayes: flat prior on mu, `tau_prior` on tau, integrated numerically over tau
};

/// metafor's name in lower case: "mom", "dl", "pm", "sj", "ml", "reml", "eb", "fixed", "bayes".
std::string to_string(tau_method m);
/// Parses a --tau-method name; throws shrink::error naming the valid ones otherwise.
tau_method parse_tau_method(const std::string& name);

/// Prior on tau for --tau-method bayes (mu has a flat prior).
struct tau_prior {
  enum class kind {
    uniform,        ///< p(tau) = 1 on [0, inf) (BDA3 section 5.4; proper posterior needs J >= 3)
    half_cauchy,    ///< p(tau) proportional to 1 / (1 + (tau / scale)^2)
    inverse_gamma,  ///< on tau2: p(tau2) proportional to tau2^-(shape+1) exp(-scale / tau2)
  };
  kind type = kind::uniform;
  double scale = 1;  ///< half-Cauchy scale, or inverse-gamma scale
  double shape = 1;  ///< inverse-gamma shape
};

/// Parses --tau-prior: "uniform", "half-cauchy:SCALE" or "inv-gamma:SHAPE,SCALE".
tau_prior parse_tau_prior(const std::string& text);
/// "uniform", "half-cauchy:SCALE" or "inv-gamma:SHAPE,SCALE".
std::string to_string(const tau_prior& p);

/// Parses --prior: "normal" (absent) or "t:NU" (Student-t group means, NU > 0 degrees of freedom).
std::optional<double> parse_group_prior(const std::string& text);

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

/// Raw observations already folded into one summary per group (what the streaming reader
/// produces; memory O(groups) whatever the number of rows): n_j, the mean ybar_j relative to
/// `offset` and the sum of squared deviations m2_j. `exact_mean`, when given, holds each ybar_j
/// itself to the last bit: the per-group location columns are then anchored on it, so a group far
/// from the offset keeps every digit.
struct grouped_data_view {
  const std::int64_t* n = nullptr;
  const double* mean = nullptr;
  const double* m2 = nullptr;
  std::size_t groups = 0;
  double offset = 0;
  const double* exact_mean = nullptr;
};

/// Per-group estimates and their standard errors (meta-analysis / small-area input).
struct summary_data_view {
  const double* estimates = nullptr;  ///< relative to `offset`, as in raw_data_view
  const double* standard_errors = nullptr;
  std::size_t groups = 0;
  double offset = 0;
  /// Optional: each estimate itself (as read), to anchor the location columns on, as
  /// grouped_data_view::exact_mean.
  const double* exact_estimates = nullptr;
};

/// What every group's posterior depends on besides the group's own summary (normal prior, a point
/// tau2): a fit's JSON writes it ("posterior_parameters") and `shrink fit --apply` reads it back, so
/// the groups of one part of the data (a Dask partition, new groups to score) get the posteriors the
/// fit of the whole gives them.
struct posterior_parameters {
  double mu = 0;
  double tau2 = 0;
  std::optional<double> sigma2;        ///< raw mode: the v_j are sigma2 / n_j
  double level = 0.95;                 ///< the intervals' coverage ...
  double interval_quantile = 0;        ///< ... and their q: estimate +- q sd (z, or t on sigma2's df)
  std::optional<double> james_stein_center, james_stein_c;  ///< absent with fewer than 4 groups
};

struct fit_options {
  tau_method method = tau_method::mom;
  double tau = 0;               ///< used when method == fixed
  std::optional<double> sigma;  ///< known within-group sd (raw mode); default: pooled estimate
  double level = 0.95;          ///< coverage of the per-group central intervals
  backend requested_backend = backend::automatic;
  int threads = 0;              ///< CPU threads; 0 = all hardware threads

  /// --tau-method bayes: the prior on tau.
  tau_prior prior_tau;
  /// --prior t:NU: Student-t prior with NU degrees of freedom for the group means (location mu and
  /// scale fitted by marginal maximum likelihood) in place of the normal one. Absent: normal.
  std::optional<double> t_prior_df;

  // Convergence controls, metafor's defaults (rma.uni control list).
  double threshold = 1e-5;  ///< ML/REML/EB Fisher scoring stops when |change in tau2| < threshold
  double root_tol = 1.220703125e-4;  ///< PM root-finding tolerance on tau2 (uniroot, eps^0.25)
  int max_iterations = 100;          ///< ML/REML/EB scoring steps and PM root-finding steps

  /// Set: nothing is estimated; every group's posterior is computed under these hyperparameters
  /// (Q, I2 and the ANOVA still describe the groups given).
  std::optional<posterior_parameters> apply;
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

  // Uncertainty (all at `level`).
  /// sqrt(1 / sum_j w_j), w_j = 1 / (v_j + tau2); --prior t: 1 / sqrt of the marginal likelihood's
  /// observed information in mu at the fitted scale.
  double mu_se = 0;
  double mu_lower = 0, mu_upper = 0; ///< mu +- z mu_se (bayes: posterior quantiles of mu)
  std::optional<double> tau2_se;     ///< metafor's standard error of the tau2 estimator
  /// Q-profile confidence interval for tau2 (Viechtbauer 2007; metafor's confint default).
  std::optional<double> tau2_lower, tau2_upper;
  /// Prediction interval for the theta of a new group: mu +- z sqrt(mu_se^2 + tau2);
  /// --prior t: mu +- t_scale times the t_NU quantile (plug-in).
  double pred_lower = 0, pred_upper = 0;
  int iterations = 0;                ///< iterations of the tau2 method (0 when closed form)
  /// Raw mode, ml/reml without --sigma: sigma2 and tau2 fitted jointly (as lme4 does);
  /// this keeps the pooled within-group variance sum m2_j / sum (n_j - 1) alongside.
  std::optional<double> sigma2_pooled;

  /// --tau-method bayes: the marginal posterior of tau.
  struct tau_posterior {
    double mean = 0, sd = 0, median = 0, lower = 0, upper = 0;  ///< lower/upper: central, `level`
    double mode = 0;     ///< of p(tau | y)
    double tau2_mean = 0;
    int nodes = 0;       ///< quadrature nodes over tau
    tau_prior prior;     ///< the prior it was computed under
  };
  std::optional<tau_posterior> tau_post;

  /// --prior t:NU: the fitted Student-t prior theta_j ~ mu + t_scale * t_NU.
  std::optional<double> t_df, t_scale;
  std::optional<double> log_likelihood;  ///< ml/reml (restricted for reml), t prior: marginal
  /// The hyperparameters behind the per-group columns, for --apply; absent under bayes and --prior t
  /// (their posteriors are not those of one point tau2).
  std::optional<posterior_parameters> posterior;

  backend used = backend::cpu;
  fit_timings seconds;
  std::vector<std::string> notes;  ///< what the data say (complete pooling, James-Stein absent, ...)
};

/// Fits raw observations. Throws shrink::error on invalid input.
fit_result fit(const raw_data_view& data, const fit_options& options = {});

/// Fits raw observations given as group summaries (same results as the rows they summarise).
fit_result fit(const grouped_data_view& data, const fit_options& options = {});

/// Fits per-group estimates with known standard errors. Throws shrink::error on invalid input.
fit_result fit(const summary_data_view& data, const fit_options& options = {});

}  // namespace shrink
