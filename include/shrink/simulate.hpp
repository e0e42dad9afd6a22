#pragma once
/// @file
/// Simulation studies of the shrinkage estimators: a grid of scenarios x R replicates, each
/// replicate drawing theta_j ~ prior(mu, tau), then the data of J groups, then evaluating
///   no_pool        ybar_j
///   complete_pool  mu_hat(0) = sum n_j ybar_j / sum n_j
///   partial_pool   ybar_j + B_j (mu_hat - ybar_j), tau2 by the moment (HE) formula
///                  max(0, S^2_ybar - mean_j sigma_hat^2 / n_j), mu_hat precision-weighted
///   oracle         partial pooling with the true mu, sigma and Var(theta_j) (the best linear
///                  predictor: the Bayes rule under the normal prior; none for t with nu <= 2)
///   james_stein    positive part, towards the mean of the ybar_j (J >= 4)
/// and reporting per scenario and estimator the MSE, bias and interval coverage over replicates
/// with their Monte Carlo standard errors. sigma^2 is pooled from the groups' s2_j (as `shrink fit`
/// does by default) when some n_j >= 2, and known otherwise.
///
/// Draws come from Philox4x32-10 keyed by (seed, (groups, obs) of the scenario, replicate, group): a study's result
/// depends on its options alone, not on the backend's threads, batches or launch shapes, and the
/// CPU and GPU backends draw the same variates.

#include <shrink/backend.hpp>
#include <shrink/counts.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace shrink {

/// Prior of the group means theta_j.
enum class prior_family {
  normal,     ///< theta_j ~ N(mu, tau^2)
  /// theta_j = mu + tau t_nu: tau is the t's scale, so Var(theta_j) = tau^2 nu / (nu - 2) for
  /// nu > 2. The oracle is then the linear oracle (the best linear predictor of theta_j with the true
  /// mu, sigma and Var(theta_j)); for nu <= 2 it does not exist and its row is unavailable.
  student_t,
};

/// How a replicate's data are drawn.
enum class simulation_mode {
  /// ybar_j ~ N(theta_j, sigma^2/n_j) per group: O(1) per group. The estimators read the s2_j only
  /// through the pooled sum_j (n_j - 1) s2_j, drawn as sigma^2 chi2(sum_j (n_j - 1)) per block of
  /// 4096 groups: the same law as drawing each (n_j - 1) s2_j ~ sigma^2 chi2_{n_j - 1} and adding.
  sufficient,
  raw,  ///< every observation y_ij ~ N(theta_j, sigma^2): O(n_j) per group
};

/// Group sizes of a scenario: every n_j = min when min == max, else n_j uniform on [min, max],
/// drawn once per scenario and group and kept for every replicate (the design is fixed: results
/// are conditional on it, and depend on the seed through it), or drawn afresh for every replicate
/// with simulate_options::redraw_obs.
struct obs_range {
  std::int64_t min = 10;
  std::int64_t max = 10;
};

/// "N" or "MIN:MAX".
std::string to_string(const obs_range& r);
/// Parses "N" or "MIN:MAX" (1 <= MIN <= MAX); throws shrink::error otherwise.
obs_range parse_obs_range(const std::string& text);

struct simulate_options {
  // The grid: every combination of these lists is a scenario (groups outermost, tau innermost).
  std::vector<std::int64_t> groups{8};
  std::vector<obs_range> obs{obs_range{}};
  std::vector<double> sigma{1.0};
  std::vector<double> tau{1.0};
  double mu = 0;

  std::uint64_t replicates = 1000;
  std::uint64_t seed = 1;
  prior_family prior = prior_family::normal;
  double prior_df = 0;  ///< nu of the t prior
  simulation_mode mode = simulation_mode::sufficient;
  double level = 0.95;  ///< coverage of the central intervals
  /// --redraw-obs: with --obs MIN:MAX, draw the n_j afresh for every replicate (results average
  /// over the design distribution) instead of once per scenario (results conditional on one design).
  bool redraw_obs = false;

  /// --family: a count family's study (empty: the normal model above). Each replicate draws
  /// theta_j ~ Beta(m nu, (1 - m) nu) and y_j ~ Binomial(n_j, theta_j), or theta_j ~ Gamma(shape,
  /// shape / m) and y_j ~ Poisson(E_j theta_j); the sizes n_j or E_j come from `obs` (whole numbers,
  /// fixed or uniform on MIN..MAX drawn once per scenario), m from `prior_mean`, and the grid runs over
  /// groups, obs and `concentration` (nu, or the gamma's shape). mu, sigma, tau, prior, mode and
  /// redraw_obs are the normal model's.
  std::optional<count_family> family;
  double prior_mean = 0.5;
  std::vector<double> concentration{10.0};

  backend requested_backend = backend::automatic;
  int threads = 0;  ///< CPU threads; 0 = all hardware threads
  /// Replicates per chunk (CPU) or launch (GPU), rounded up to a multiple of 64; 0 = automatic.
  /// Results do not depend on it.
  std::uint64_t batch_replicates = 0;
  /// Called from the calling thread after each chunk with (group-replicates done, total).
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

/// The estimators in output order. The count families report partial_pool_mom (partial pooling at
/// the method-of-moments fit) in place of james_stein.
enum class estimator { no_pool, complete_pool, partial_pool, oracle, james_stein, partial_pool_mom };
std::string to_string(estimator e);

/// One grid point. For a count family: obs = the trials or exposures, mu = the prior mean m,
/// tau = the concentration nu (or the gamma's shape), sigma = NaN (no such parameter).
struct scenario {
  std::int64_t groups = 0;
  obs_range obs;
  double mu = 0, sigma = 0, tau = 0;
};

/// An estimator's performance over the replicates of one scenario. Each *_mcse is the Monte
/// Carlo standard error (Morris, White & Crowther 2019): of a mean, the sd over replicates /
/// sqrt(replicates); of tau_hat_sd, the delta method on the 4th central moment,
/// sqrt((m4 - m2^2) / R) / (2 tau_hat_sd); of p_tau_zero, sqrt(p (1 - p) / R).
struct estimator_performance {
  estimator which = estimator::no_pool;
  bool available = true;  ///< false for james_stein when groups < 4, oracle under t with nu <= 2
  double mse = 0, mse_mcse = 0;
  /// bias: mean over replicates of the mean over groups of (estimate_j - theta_j).
  double bias = 0, bias_mcse = 0;
  std::optional<double> coverage, coverage_mcse;                  ///< no_pool, partial_pool, oracle
  std::optional<double> tau_hat_mean, tau_hat_sd, p_tau_zero;  ///< partial_pool
  /// partial_pool. p_tau_zero is (replicates with tau2_hat = 0) / replicates, an exact ratio.
  std::optional<double> tau_hat_mean_mcse, tau_hat_sd_mcse, p_tau_zero_mcse;
};

struct scenario_result {
  scenario grid_point;
  std::uint64_t replicates = 0;
  std::vector<estimator_performance> estimators;  ///< in `estimator` order
  /// Closed-form oracle risk mean_j sigma_j^2 V / (sigma_j^2 + V), V = Var(theta_j) (tau^2 for the
  /// normal prior, tau^2 nu / (nu - 2) for t with nu > 2), over the scenario's design; with
  /// redraw_obs its expectation over n_j uniform on [min, max]. Empty when the oracle is
  /// undefined. The JSON reports it (oracle_risk_closed_form) for the normal prior only.
  std::optional<double> oracle_risk;
};

struct simulate_result {
  std::vector<scenario_result> scenarios;
  backend used = backend::cpu;
  double seconds = 0;          ///< wall clock of the whole call
  double backend_seconds = 0;  ///< the backend's replicate loop alone (after GPU context and buffer setup)
  std::uint64_t group_replicates = 0;  ///< sum over scenarios of groups x replicates
};

/// Runs a study. Throws shrink::error on invalid options.
simulate_result simulate(const simulate_options& options);

/// The CSV header, exactly:
/// groups,obs,mu,sigma,tau,estimator,replicates,mse,mse_mcse,bias,bias_mcse,coverage,coverage_mcse,
/// tau_hat_mean,tau_hat_sd,p_tau_zero,tau_hat_mean_mcse,tau_hat_sd_mcse,p_tau_zero_mcse
extern const char* const simulate_csv_header;

/// One row per scenario x estimator; numbers round-trip (17 significant digits); fields that do
/// not apply are empty.
void write_csv(std::ostream& out, const simulate_result& result);

/// A JSON summary of the study (the options' grid, backend, timings and every row).
void write_json(std::ostream& out, const simulate_options& options, const simulate_result& result);

// Studies in blocks of replicates (scale-out: shrink.dask.simulate). A study's replicates merge in
// fixed blocks of simulate_replicate_block, and the blocks by a tree of fixed shape, so a range of
// replicates can run on its own (another process or machine) and the ranges' partial studies merge
// into the bits of the single run: simulate(o) is finish_partial(simulate_range(o, 0, o.replicates)).

/// Replicates per fixed block: a range starts at a multiple of it, and ends at one or at the end.
inline constexpr std::uint64_t simulate_replicate_block = 64;

namespace detail {
struct simulate_partial_state;
}

/// A study's replicates [first, first + count): per scenario, the merged metrics of its blocks
/// (the nodes of the fixed-shape tree the range determines) and the options that fix the results.
/// Immutable; copies share their state. Serialise with to_json / simulate_partial_from_json.
class simulate_partial {
 public:
  simulate_partial() = default;
  explicit simulate_partial(std::shared_ptr<const detail::simulate_partial_state> state);

  /// The study's options that fix its results (backend, threads, batch and progress at defaults).
  const simulate_options& options() const;
  std::uint64_t first() const;
  std::uint64_t count() const;
  /// Whether it covers every replicate of the study: finish_partial can make the study of it.
  bool complete() const;
  backend used() const;          ///< the backend of the range (of the first part, once merged)
  double seconds() const;        ///< wall clock of the range (summed over parts, once merged)
  double backend_seconds() const;
  const detail::simulate_partial_state& state() const;

 private:
  std::shared_ptr<const detail::simulate_partial_state> state_;
};

/// Runs replicates [first, first + count) of the study `options`. first must be a multiple of
/// simulate_replicate_block, and count too unless the range ends at options.replicates; throws
/// shrink::error (one line, saying why) otherwise and on invalid options.
simulate_partial simulate_range(const simulate_options& options, std::uint64_t first, std::uint64_t count);

/// Cuts a study of `replicates` replicates into at most `parts` ranges (first, count) that
/// simulate_range accepts, covering them in order, as even as whole blocks allow (for a scheduler).
std::vector<std::pair<std::uint64_t, std::uint64_t>> split_replicates(std::uint64_t replicates, std::uint64_t parts);

/// Merges partial studies of adjacent ranges (in any order; they are taken by `first`) into the
/// partial of their union. Throws shrink::error when they come from different options or seeds,
/// leave a gap or overlap, or (the normal model) ran on different backends.
simulate_partial merge_partials(const std::vector<simulate_partial>& parts);

/// The study of a complete partial: exactly simulate(partial.options())'s result but for the timings
/// (those of the parts, summed). Throws shrink::error when replicates are missing.
simulate_result finish_partial(const simulate_partial& whole);

/// Lossless JSON of a partial study (doubles in shortest round-trip form, as strings).
std::string to_json(const simulate_partial& partial);
/// Reads to_json's text back; throws shrink::error (one line) on anything else.
simulate_partial simulate_partial_from_json(const std::string& text);

/// One replicate in full, for figures: scenario 0, replicate 0, drawn as raw mode draws it (so
/// the observations exist and ybar_j is their mean; in raw mode it is the study's first replicate).
/// Locations are absolute (mu added back).
struct replicate_sample {
  scenario grid_point;
  std::vector<std::int64_t> n;
  std::vector<double> theta;                      ///< true group means
  std::vector<double> ybar;                       ///< no pooling
  std::vector<std::vector<double>> observations;  ///< at most `max_observations` per group
  std::vector<double> partial_pool;               ///< at the moment estimate of tau2
  double sigma2_hat = 0, tau2_hat = 0, mu_hat = 0, complete_pool = 0;
  double js_center = 0, js_c = 0;
  double level = 0.95;
  /// The study's mode. In sufficient mode the study never draws observations: this replicate (and
  /// its dots) is an illustrative raw draw of the same scenario, not one of the study's replicates.
  simulation_mode study_mode = simulation_mode::sufficient;
  /// --family: replicate 0 of the study itself. n holds the trials (or exposures), `counts` the y_j,
  /// ybar the raw rates y_j / n_j, partial_pool the posterior means at the ml fit (fit_mean,
  /// fit_concentration; the concentration infinite on the boundary), complete_pool the pooled rate;
  /// no observations.
  std::optional<count_family> family;
  std::vector<double> counts;
  double fit_mean = 0, fit_concentration = 0;
};

/// Draws replicate 0 of scenario 0 of `options` (on the host). Throws shrink::error when the
/// scenario has more than `max_groups` groups.
replicate_sample sample_replicate(const simulate_options& options, std::size_t max_groups = 2000,
                                  std::size_t max_observations = 200);

}  // namespace shrink
