#pragma once
// Figures of one simulated replicate: the classic picture of shrinkage as SVG, and a
// self-contained interactive HTML page (no network) where a slider moves tau.

#include "group_keys.hpp"

#include <shrink/counts.hpp>
#include <shrink/fit.hpp>
#include <shrink/regression.hpp>
#include <shrink/simulate.hpp>

#include <string>

namespace shrink::io {

/// Order of the figure's rows: as the groups come, by n_j (smallest first: the most shrunk on
/// top), or by the partial-pooling estimate.
enum class row_order { group, size, estimate };

/// Parses `group`, `n` or `estimate`; anything else is a shrink::error naming `option`.
row_order parse_row_order(const std::string& text, const std::string& option);

/// Up to `max_rows` groups: one row per group, labelled with its number and n_j: the raw
/// observations as small grey dots, the no-pooling mean as a blue x, the complete-pooling mean as a
/// grey diamond, the partial-pooling estimate as a green circle joined to its x by a faint line
/// (the pull), the true theta as a gold triangle, and a dashed black line at mu_hat, where the
/// partial-pooling estimates shrink to; axes at top and bottom, a legend inside the figure. More
/// groups are drawn as the shrinkage plot instead: every group's no-pooling mean on a top axis
/// joined by a line to its partial-pooling estimate on a bottom axis.
/// Elements a reader (or test) can find: class np, cp, pp, truth, obs, pull (with data-j, the
/// group's index), center (the mu_hat line), and tick labels of class tick.
std::string shrinkage_svg(const replicate_sample& s, row_order order = row_order::group);

/// The same figure in a page, with a slider for tau that moves every partial-pooling estimate,
/// the pull lines and the mu_hat line, a "fit tau from data" button (the moment estimate) and a
/// readout of each estimator's MSE against the true means. Element ids used by tests: tau (the
/// slider), fit (the button), tau-value, mu-value, and mse-<estimator> whose data-value attribute
/// holds the full-precision number.
std::string shrinkage_html(const replicate_sample& s, row_order order = row_order::group);

/// Figures show at most this many groups as rows; more are drawn as the shrinkage plot.
constexpr std::size_t max_rows = 100;

/// The shrinkage plot draws at most this many groups; more are sampled evenly in rank.
constexpr std::size_t max_lines = 2000;

/// `shrink fit --plot` (the normal family): three panels, one below the other.
/// - id shrinkage-plot: each group's no-pooling estimate (top axis) joined to its partial-pooling
///   estimate (bottom axis); a dashed line at mu. Above max_lines groups, max_lines of them evenly
///   spaced in the rank of the no-pooling estimate (the figure says so).
/// - id forest: estimates with their intervals, sorted by estimate, each row labelled with its key;
///   the dashed line at mu and the prediction interval for a new group shaded. Above max_rows
///   groups, max_rows of them evenly spaced in the rank of the estimate.
/// - id tau-likelihood: the log-likelihood of tau given the (ybar_j, se_j) (restricted for reml,
///   mu profiled out), relative to its maximum over the grid, with the fit's tau and its interval;
///   for bayes the posterior density of tau, its median (class estimate), mean (class
///   posterior-mean) and central interval (also with covariates; counts: of log10 concentration).
/// Marks: class np, pp (data-j: the group's row in the CSV), interval, center, estimate, curve.
std::string fit_svg(const fit_result& r, key_view keys);

/// `shrink fit --html`: the same figure in a self-contained page. A slider (id tau) steps over the
/// likelihood panel's grid of tau and moves every drawn estimate, pull line, interval and the mu
/// line; "fit tau from data" (id fit) returns to the fit's tau. Readouts (data-value holds the full
/// number): tau-value, mu-value, loglik (mu profiled out, constants included), loglik-relative,
/// mean-shrinkage (over all groups, computed by shrink at each grid point), and a table of the
/// forest rows' B_j (id shrinkage). Only the groups drawn are embedded: usable at 1e6 groups.
std::string fit_html(const fit_result& r, key_view keys);

/// `shrink fit --family binomial|poisson --plot`: the same three panels for rates: each group's raw
/// rate y_j / n_j joined to its posterior mean; the forest of posterior intervals with the prior
/// mean (dashed) and the prior's central interval (shaded: where a new group's rate lies); the
/// profile log-likelihood of the concentration (log10 axis; poisson: the gamma's shape) or, for the
/// logit-normal / log-normal prior, of tau, with the estimate and its interval. `data` and `o` are
/// the fit's (the profile is computed by profile_spread): `svg`.
///
/// `--html`: the same in a page (`html`): a slider (id spread) over 61 points of the likelihood panel's axis, the
/// prior mean maximised at each; every drawn posterior mean, interval, the centre and the band move
/// to shrink's own values there (precomputed for the groups drawn; the page computes nothing).
/// "fit from data" (id fit) returns to the fit's own numbers (the CSV's, and the JSON's
/// log-likelihood). Readouts: spread-value, mean-value, loglik, loglik-relative, mean-shrinkage and
/// the shrinkage table. A control (id sort) re-sorts the forest's rows, as on every page.
/// Both come from one computation of the profile (the costly part); one not asked for is empty.
struct count_figures {
  std::string svg, html;
};
count_figures count_fit_figures(const count_fit_result& r, const count_data_view& data, const count_options& o,
                                const std::vector<std::string>& keys, bool svg, bool html);

/// `shrink fit --estimate ... --covariates ... --plot`: shrinkage towards the regression line.
/// - id regression: metafor's regplot: each group's estimate y_j (blue x, larger with its weight)
///   against the one covariate (with an intercept and no offset; else the linear predictor x_j' beta)
///   joined to its BLUP (green circle) by its pull; the fitted line dashed (class center).
/// - id forest: the BLUPs with their intervals, sorted, each row with its fitted value (class fitted).
/// - id tau-likelihood: metafor's log-likelihood of tau (restricted for reml) with beta profiled out.
/// `se` are the estimates' standard errors, `design` and `offset` the fit's.
std::string regression_fit_svg(const meta_regression_result& r, const std::vector<double>& y, const std::vector<double>& se,
                               const design_matrix& design, const std::vector<double>& offset,
                               const std::vector<std::string>& keys);

/// The same in a page with a tau slider over the likelihood panel's 61 points (every number at
/// each by fit_meta_regression with tau fixed), "fit from data", the readouts and the sort control.
std::string regression_fit_html(const meta_regression_result& r, const std::vector<double>& y, const std::vector<double>& se,
                                const design_matrix& design, const std::vector<double>& offset,
                                const std::vector<std::string>& keys);

/// `shrink fit --value ... --covariates ... --plot`: raw rows' random-intercept fit (lme4's lmer) in
/// the same three panels: each group's mean ybar_j against its average covariate (one covariate, no
/// offset; else against xbar_j' beta) pulled to its partial-pooling mean xbar_j' beta + b_j; the
/// forest of those with their intervals and fitted values; the (restricted) profile log-likelihood of
/// tau (sigma2 and beta maximised at each tau) with the fit's tau and its profile-likelihood interval.
/// `offset`: whether the rows had an --offset.
std::string mixed_model_fit_svg(const mixed_model_result& r, const group_cross_products& data, bool offset,
                                const std::vector<std::string>& keys);

/// The same in a page: a tau slider over the likelihood panel's 61 points, at each the fit with tau
/// fixed (sigma2 and beta refitted), "fit from data", the readouts and the sort control.
std::string mixed_model_fit_html(const mixed_model_result& r, const group_cross_products& data, bool offset,
                                 const std::vector<std::string>& keys);

}  // namespace shrink::io
