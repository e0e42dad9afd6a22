#pragma once
/// @file
/// Shrinking towards predictors, summary mode (one row per group): the meta-regression /
/// Fay-Herriot model
///   y_j ~ N(theta_j, v_j),   theta_j ~ N(x_j' beta + offset_j, tau^2),
/// with tau^2 by any of metafor's estimators for models with moderators, and each group's
/// partial-pooling estimate shrunk towards its own x_j' beta + offset_j.

#include <shrink/backend.hpp>
#include <shrink/error.hpp>
#include <shrink/fit.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace shrink {

/// One covariate column as read: numbers, or (a factor) text labels.
struct covariate {
  std::string name;
  std::vector<double> numbers;      ///< a numeric column (empty for a factor)
  std::vector<std::string> labels;  ///< a factor's labels, one per row (empty for a numeric column)
};

/// The design matrix X (rows = groups, row-major) with one name per column.
struct design_matrix {
  std::vector<std::string> names;  ///< "intercept", a numeric column's name, or NAME + level for a factor
  std::vector<double> x;           ///< rows x cols, row-major
  std::size_t rows = 0, cols = 0;
  bool intercept = true;
  std::vector<std::string> covariates;           ///< the covariate columns it was built from
  std::vector<std::vector<std::string>> levels;  ///< per covariate: a factor's levels, sorted (empty: numeric)
};

/// Builds X: an intercept column (unless `intercept` is false), each numeric covariate as it is,
/// each factor by treatment contrasts against its first level in sorted (byte) order, as R does
/// (without an intercept the first factor keeps every level). Throws shrink::error, naming the
/// columns, for a constant covariate (allowed without an intercept, where it is the intercept:
/// a constant number, or the first factor with one level), collinear columns, or no columns at all.
design_matrix make_design(const std::vector<covariate>& columns, std::size_t rows, bool intercept);

/// The design of an applied fit (`--apply`) for new rows: each factor coded by the fit's levels
/// (`levels`, one list per covariate, empty for a numeric one), so the columns are the fit's even
/// where the rows hold fewer levels; a level the fit did not have, or a numeric column where the
/// fit had a factor (or the reverse), throws shrink::error. No constancy or rank checks: the rows
/// need not determine anything.
design_matrix make_applied_design(const std::vector<covariate>& columns, std::size_t rows, bool intercept,
                                  const std::vector<std::vector<std::string>>& levels);

/// One row of the coefficient table (z tests and intervals at `level`, as metafor's rma).
struct coefficient {
  std::string name;
  double estimate = 0, se = 0, z = 0, p = 0, lower = 0, upper = 0;
};

/// What every group's columns of a meta-regression depend on besides the group's own estimate,
/// variance, covariates and offset: a fit's JSON writes it ("posterior_parameters") and
/// `shrink fit --apply` reads it back, so new groups, or any part of the data, get the whole fit's
/// rows bit for bit. beta and its covariance are kept as the fit holds them, in the design's
/// columns less their centres.
struct meta_regression_parameters {
  std::vector<std::string> covariates;           ///< the covariate columns, in the fit's order
  std::vector<std::vector<std::string>> levels;  ///< per covariate: a factor's levels (empty: numeric)
  bool intercept = true;
  std::string offset;                            ///< the offset column, or empty
  std::vector<std::string> names;                ///< the p coefficients' names
  std::vector<double> centres;                   ///< p: what each design column had subtracted
  std::vector<double> beta;                      ///< p: the coefficients at the centres
  std::vector<double> beta_covariance;           ///< p x p, row-major: (X'WX)^-1 at the centres
  double tau2 = 0, level = 0.95, interval_quantile = 0;  ///< estimate +- interval_quantile * sd
  /// The Fay-Herriot mse's fit-wide terms, Var(tau2_hat) and its bias (absent: no published form, dl and sj).
  std::optional<double> mse_variance, mse_bias;
};

/// The fitted meta-regression (every statistic metafor's definition for models with moderators).
struct meta_regression_result {
  std::vector<coefficient> coefficients;
  double tau2 = 0;
  std::optional<double> tau2_se;                ///< metafor's se of the estimator (absent: fixed)
  std::optional<double> tau2_lower, tau2_upper; ///< Q-profile interval (absent: fixed, bayes)
  /// bayes: the marginal posterior of tau (flat prior on beta); tau2 is then its median squared.
  std::optional<fit_result::tau_posterior> tau_post;
  double QE = 0, QE_p = 1;  ///< residual heterogeneity: weights 1 / v_j, on k - p df
  std::size_t QE_df = 0;
  double QM = 0, QM_p = 1;  ///< omnibus Wald test of every coefficient but the intercept
  std::size_t QM_df = 0;
  std::optional<double> R2; ///< percent of the intercept-only tau^2 the covariates explain
  double I2 = 0, H2 = 1;    ///< residual, with metafor's typical variance (k - p) / tr P
  double log_likelihood_ml = 0, log_likelihood_reml = 0;  ///< metafor's fit.stats "ll"
  int iterations = 0;
  tau_method method = tau_method::mom;
  double level = 0.95;

  // Per group (input order).
  std::vector<double> fitted;     ///< the prior mean x_j' beta + offset_j
  std::vector<double> shrinkage;  ///< B_j = v_j / (v_j + tau^2)
  std::vector<double> estimate;   ///< metafor's blup: y_j + B_j (fitted_j - y_j)
  std::vector<double> sd;         ///< blup's se: sqrt(tau^2 B_j + B_j^2 x_j' Var(beta) x_j)
  std::vector<double> lower, upper;
  /// The Fay-Herriot EBLUP's mean squared error with the estimation of tau^2 accounted for, as
  /// R's sae::mseFH: g1 + g2 + 2 g3 (- bias term), Prasad-Rao (mom), Datta-Lahiri (reml, ml),
  /// Datta-Rao-Smith (eb, pm: the Fay-Herriot moment estimator); g1 + g2 for fixed. Empty for dl, sj.
  std::vector<double> mse;
  std::vector<std::string> notes;
  backend used = backend::cpu;  ///< where the sums over groups ran (options.requested_backend, resolved)
  /// What the per-group columns were computed from (absent for bayes: a mixture over tau).
  std::optional<meta_regression_parameters> posterior;
  bool applied = false;  ///< apply_meta_regression: nothing estimated (QE, QM, R2, I2, H2 and the log-likelihoods NaN)
};

/// Fits y_j (estimates) with sampling variances v_j against the design; `offset` may be null.
/// options.method: every tau_method (bayes: a flat prior on beta, options.prior_tau on tau; the
/// coefficients' and groups' columns are then posterior means, sds and quantiles, z and p NaN).
/// Throws shrink::error on invalid input.
meta_regression_result fit_meta_regression(const std::vector<double>& y, const std::vector<double>& v,
                                           const design_matrix& design, const std::vector<double>& offset,
                                           const fit_options& options = {});

/// Every group's columns under a given fit's parameters (`shrink fit --apply`): nothing is
/// estimated; the coefficient table is the fit's, and the statistics of the fit's data (QE, QM,
/// R2, I2, H2, the log-likelihoods) are NaN. `design` from make_applied_design; `offset` may be empty.
meta_regression_result apply_meta_regression(const std::vector<double>& y, const std::vector<double>& v,
                                             const design_matrix& design, const std::vector<double>& offset,
                                             const meta_regression_parameters& fit);

/// One of the three structures of the founding text, fitted by maximum likelihood.
struct structure_fit {
  std::string name;           ///< "separate", "pooled" or "hierarchical"
  double log_likelihood = 0;  ///< maximised (constants included)
  std::size_t parameters = 0;
  double aic = 0, bic = 0;
  /// Leave-one-group-out predictive log score, sum_j log p(y_j | the other groups) (closed form;
  /// hierarchical: tau2 at its estimate from all groups). Absent for separate: a group left out
  /// has no estimate of its own.
  std::optional<double> logo_score;
};

/// Separate (no pooling: each theta_j its own), pooled (tau2 = 0: theta_j = x_j' beta) and
/// hierarchical (tau2 by maximum likelihood) side by side, with the likelihood-ratio test of
/// tau2 = 0 (on the boundary: p is half the chi-square(1) tail, Self and Liang 1987).
struct structure_comparison {
  std::vector<structure_fit> structures;  ///< separate, pooled, hierarchical
  double tau2_ml = 0;
  double lr_statistic = 0, lr_p_value = 1;
  std::string favoured;  ///< the structure with the smallest AIC
  std::string verdict;   ///< one sentence for a reader
};

/// Compares the structures for estimates y_j with sampling variances v_j and design X (the
/// intercept alone for a fit without covariates; `offset` may be empty).
structure_comparison compare_structures(const std::vector<double>& y, const std::vector<double>& v,
                                        const design_matrix& design, const std::vector<double>& offset);

/// Raw rows folded per group (raw mode with --covariates): for z = (x_1..x_q, y - offset), each
/// group's n_j, mean vector and centred co-moment matrix, O(groups q^2) memory.
struct group_cross_products {
  std::vector<std::string> covariates;  ///< the q covariate names
  std::size_t groups = 0, width = 0;    ///< width = q + 1 (y last)
  std::vector<double> n;                ///< per group
  std::vector<double> mean;             ///< groups x width
  std::vector<double> mean_lo;          ///< groups x width, or empty: each mean's digits beyond its double (mean + mean_lo)
  std::vector<double> comoment;         ///< groups x width x width
};

/// What every group's columns of a random-intercept fit depend on besides the group's own cross
/// products: a fit's JSON writes it ("posterior_parameters") and `shrink fit --apply` reads it back,
/// so any subset of the groups (a Dask piece, new groups) gets the whole fit's rows. The
/// coefficients are kept as the fit holds them, at the covariates' centres (their row means over
/// the whole data): a group's regression line is then computed from the same numbers, bit for bit.
struct random_intercept_parameters {
  std::vector<std::string> covariates;   ///< the q covariate names, in the fit's order
  std::string value;                     ///< what y was: the value column, or "VALUE-OFFSET" with an offset
  std::vector<double> centres;           ///< q: the covariates' row means in the fit
  std::vector<double> beta;              ///< 1 + q: the intercept at the centres, then the slopes
  double tau2 = 0, sigma2 = 1;
  double level = 0.95, interval_quantile = 0;  ///< estimate +- interval_quantile * effect_sd
};

/// lme4's lmer(y ~ x + (1 | g)) by REML (`reml`) or ML: y_ij = x_ij' beta + b_j + e_ij,
/// b_j ~ N(0, tau2), e_ij ~ N(0, sigma2), from the cross products alone.
struct mixed_model_result {
  std::vector<coefficient> coefficients;  ///< lme4's fixed effects and standard errors (z intervals)
  double tau2 = 0, sigma2 = 0;
  double log_likelihood = 0;  ///< lme4's logLik (restricted for REML)
  bool reml = true;
  bool applied = false;  ///< apply_mixed_model: nothing estimated
  std::size_t groups = 0;
  double observations = 0;
  double level = 0.95;
  // Per group.
  std::vector<double> n;
  std::vector<double> mean;      ///< the group's mean of y (no pooling)
  std::vector<double> fitted;    ///< x_bar_j' beta: the regression at the group's own average covariates
  std::vector<double> effect;    ///< conditional mode b_j (lme4's ranef)
  std::vector<double> effect_sd; ///< its conditional sd (ranef(condVar = TRUE)): sqrt(sigma2 g / (1 + n_j g)), g = tau2 / sigma2
  std::vector<double> estimate;  ///< fitted_j + b_j: the group's partial-pooling mean at its average covariates
  std::vector<double> lower, upper;  ///< estimate +- z effect_sd (given beta and the variances)
  std::vector<std::string> notes;
  backend used = backend::cpu;  ///< where the sums over groups ran
  random_intercept_parameters posterior;  ///< what the per-group columns were computed from
};

/// Fits the random-intercept model with an intercept and the covariates of `data`; the sums over
/// groups on `use` (cpu or cuda: the same bits; automatic is resolved by the caller) with `threads`
/// CPU threads (0: all), the p x p algebra on the host.
mixed_model_result fit_mixed_model(const group_cross_products& data, bool reml, double level = 0.95,
                                   backend use = backend::cpu, int threads = 0);

/// Every group's columns under the given fit's parameters (`shrink fit --apply`): nothing is
/// estimated; the coefficients, tau2 and sigma2 are the given ones, and the coefficients' standard
/// errors and the log-likelihood, which belong to the fit's data, are NaN. `data`'s covariates must
/// be the fit's, in its order (checked).
mixed_model_result apply_mixed_model(const group_cross_products& data, const random_intercept_parameters& fit);

/// The same model at a given tau: sigma2 maximises the (restricted) likelihood there and beta is its
/// generalised least-squares fit, so log_likelihood is the profile log-likelihood of tau (the
/// figures' likelihood panel and the page's slider).
mixed_model_result fit_mixed_model_at_tau(const group_cross_products& data, bool reml, double tau, double level = 0.95);

/// The profile-likelihood interval of tau at fit.level (from fit_mixed_model on the same data):
/// where 2 (fit.log_likelihood - profile) stays below the chi-square(1) quantile.
std::pair<double, double> mixed_model_tau_interval(const group_cross_products& data, const mixed_model_result& fit);

/// Thrown by the raw rows' compare_structures when a structure fits the rows exactly (no residual
/// variance to compare the structures by): the comparison is then left out of a fit, nothing else.
class exact_fit_error : public error {
 public:
  using error::error;
};

/// The three structures for raw rows (with or without covariates), each by maximum likelihood
/// with sigma2 estimated: separate = lm(y ~ x + group) (group-level covariates drop out),
/// pooled = lm(y ~ x), hierarchical = lmer(y ~ x + (1 | group), REML = FALSE); BIC's penalty is
/// log N (rows). Leave-one-group-out scores (sigma2 and tau2 at their all-rows ML estimates; null
/// for separate, and where leaving a group out leaves the covariates collinear), summed over the
/// groups on `threads` threads (0: all) by the fixed-shape reduction: the same bits for any count.
/// Throws exact_fit_error when the separate structure leaves no residual (below 1e-13 of the total
/// sum of squares of y), other shrink::errors as the fits do.
structure_comparison compare_structures(const group_cross_products& data, int threads = 0, backend use = backend::cpu);

/// A raw-mode fit with its structures comparison (absent where compare_structures would throw
/// exact_fit_error).
struct mixed_model_with_structures {
  mixed_model_result fit;
  std::optional<structure_comparison> structures;
};

/// fit_mixed_model then compare_structures of the same data, the data prepared once for both
/// (centred, checked, summed per size): the results of the two calls.
mixed_model_with_structures fit_mixed_model_with_structures(const group_cross_products& data, bool reml, double level,
                                                            backend use, int threads);

/// The design of the intercept alone for `rows` groups.
design_matrix intercept_design(std::size_t rows);

}  // namespace shrink
