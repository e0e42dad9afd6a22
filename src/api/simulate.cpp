// Simulation studies: checks the options, lays out the grid of scenarios and their designs, runs
// a range of replicates of them on the chosen backend (simulate_partial.cpp merges ranges), and
// turns the merged per-replicate metrics into performance measures with Monte Carlo standard errors.

#include <shrink/config.hpp>
#include <shrink/simulate.hpp>

#include "../common/macros.hpp"
#include "../common/posterior.hpp"
#include "numerics.hpp"
#include "simulate_backend.hpp"
#include "simulate_counts.hpp"
#include "simulate_partial.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <ostream>

namespace shrink {

namespace sim = detail::sim;

std::string to_string(const obs_range& r)
{
  return r.min == r.max ? std::to_string(r.min) : std::to_string(r.min) + ":" + std::to_string(r.max);
}

namespace {

std::int64_t parse_count(const std::string& text, const std::string& what)
{
  std::int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  SHRINK_EXPECTS(ec == std::errc() && ptr == end && !text.empty(), what + ": '" + text + "' is not an integer");
  return v;
}

}  // namespace

obs_range parse_obs_range(const std::string& text)
{
  const auto colon = text.find(':');
  obs_range r;
  if (colon == std::string::npos) {
    r.min = r.max = parse_count(text, "--obs");
  } else {
    r.min = parse_count(text.substr(0, colon), "--obs");
    r.max = parse_count(text.substr(colon + 1), "--obs");
  }
  SHRINK_EXPECTS(r.min >= 1 && r.min <= r.max, "--obs: give N or MIN:MAX with 1 <= MIN <= MAX (got '" + text + "')");
  return r;
}

std::string to_string(estimator e)
{
  switch (e) {
    case estimator::no_pool: return "no_pool";
    case estimator::complete_pool: return "complete_pool";
    case estimator::partial_pool: return "partial_pool";
    case estimator::oracle: return "oracle";
    case estimator::james_stein: return "james_stein";
    case estimator::partial_pool_mom: return "partial_pool_mom";
  }
  return "?";
}

const char* const simulate_csv_header =
  "groups,obs,mu,sigma,tau,estimator,replicates,mse,mse_mcse,bias,bias_mcse,coverage,coverage_mcse,"
  "tau_hat_mean,tau_hat_sd,p_tau_zero,tau_hat_mean_mcse,tau_hat_sd_mcse,p_tau_zero_mcse";

namespace detail::sim {

/// The scenario word of the Philox counter: a hash of (groups, obs range), so that a row's draws
/// depend on its own grid point alone and rows differing only in mu, sigma or tau share their
/// standard normals and design (common random numbers). Two different (groups, obs) pairs that
/// collide in 24 bits would only share streams (correlated rows), never bias a row.
std::uint32_t stream_key_of(const scenario& sc)
{
  auto mix = [](std::uint64_t z) {  // splitmix64's finaliser
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  std::uint64_t h = mix(static_cast<std::uint64_t>(sc.groups));
  h = mix(h ^ static_cast<std::uint64_t>(sc.obs.min));
  h = mix(h ^ (static_cast<std::uint64_t>(sc.obs.max) * 0x9e3779b97f4a7c15ULL));
  return static_cast<std::uint32_t>(h) & (detail::max_scenarios - 1);
}

double mcse_of(const moments& m) { return std::sqrt(m.m2 / (m.weight - 1) / m.weight); }

progress_fn progress_of(const simulate_options& o, const std::uint64_t& total, std::uint64_t& done)
{
  if (!o.progress) return {};
  return [&o, &total, &done](std::uint64_t step) {
    done += step;
    o.progress(done, total);
  };
}

std::uint64_t batch_size(std::uint64_t requested, std::int64_t groups, std::uint64_t target_group_replicates,
                         std::uint64_t max_replicates, std::uint64_t replicates)
{
  // At most max_replicates and the study's replicates (rounded up to a block) before rounding, so
  // that a huge --batch neither wraps around 2^64 when rounded nor sizes the buffers: results do
  // not depend on the batch.
  std::uint64_t b = requested;
  if (b == 0) b = target_group_replicates / static_cast<std::uint64_t>(std::max<std::int64_t>(groups, 1));
  const std::uint64_t all = (replicates + replicate_block - 1) / replicate_block * replicate_block;
  b = std::max(std::min({b, max_replicates, all}), replicate_block);
  return (b + replicate_block - 1) / replicate_block * replicate_block;
}

#if !SHRINK_HAS_CUDA
backend_run run_cuda(const std::vector<scenario_job>&, std::uint64_t, const progress_fn&)
{
  throw error("this build of shrink has no CUDA backend");
}

backend_run run_counts_cuda(const std::vector<count_job>&, int, std::uint64_t, const progress_fn&)
{
  throw error("this build of shrink has no CUDA backend");
}
#endif

}  // namespace detail::sim

namespace {

/// Largest n_j: raw mode's call index is 32 bits (two observations a call) and designs hold int32.
constexpr std::int64_t max_obs = std::numeric_limits<std::int32_t>::max();

void check_options(const simulate_options& o)
{
  SHRINK_EXPECTS(!o.groups.empty() && !o.obs.empty() && !o.sigma.empty() && !o.tau.empty(),
                 "--groups, --obs, --sigma and --tau each need at least one value");
  for (std::int64_t J : o.groups)
    SHRINK_EXPECTS(J >= 2 && J <= std::numeric_limits<std::int32_t>::max(),
                   "--groups: each value must be between 2 and 2^31-1 (tau cannot be estimated from one group)");
  for (const obs_range& r : o.obs)
    SHRINK_EXPECTS(r.min >= 1 && r.min <= r.max && r.max <= max_obs, "--obs: need 1 <= MIN <= MAX <= 2^31-1");
  for (double s : o.sigma) SHRINK_EXPECTS(std::isfinite(s) && s > 0, "--sigma: each value must be finite and > 0");
  for (double t : o.tau) SHRINK_EXPECTS(std::isfinite(t) && t >= 0, "--tau: each value must be finite and >= 0");
  SHRINK_EXPECTS(std::isfinite(o.mu), "--mu must be finite");
  SHRINK_EXPECTS(o.replicates >= 2 && o.replicates <= (std::uint64_t{1} << 32),
                 "--replicates must be between 2 and 2^32 (Monte Carlo errors need at least 2)");
  SHRINK_EXPECTS(o.prior != prior_family::student_t || (std::isfinite(o.prior_df) && o.prior_df > 0),
                 "--prior t:NU needs NU > 0");
  SHRINK_EXPECTS(o.level > 0 && o.level < 1, "level must lie strictly between 0 and 1");
  SHRINK_EXPECTS(o.threads >= 0, "--threads must be 0 (all) or positive");
  const std::uint64_t scenarios = o.groups.size() * o.obs.size() * o.sigma.size() * o.tau.size();
  SHRINK_EXPECTS(scenarios <= detail::max_scenarios, "the grid has more than 2^24 scenarios");
  for (std::int64_t J : o.groups)
    SHRINK_EXPECTS(static_cast<double>(J) * static_cast<double>(o.replicates) < 9.0e18,
                   "groups x replicates exceeds 2^63");
}

/// The grid in output order: groups, obs, sigma, tau (innermost).
std::vector<scenario> grid_of(const simulate_options& o)
{
  std::vector<scenario> g;
  for (std::int64_t J : o.groups)
    for (const obs_range& n : o.obs)
      for (double sigma : o.sigma)
        for (double tau : o.tau) g.push_back(scenario{J, n, o.mu, sigma, tau});
  return g;
}

/// Whether the oracle (best linear predictor with the true Var(theta_j)) exists: not for a t
/// prior with nu <= 2 (infinite variance).
bool oracle_defined(const simulate_options& o) { return o.prior != prior_family::student_t || o.prior_df > 2; }

sim::scenario_job job_of(const simulate_options& o, const scenario& sc)
{
  sim::scenario_job job;
  sim::scenario_params& p = job.params;
  const std::uint32_t index = sim::stream_key_of(sc);
  p.index = index;
  p.seed = o.seed;
  p.groups = sc.groups;
  p.equal_n = sc.obs.min == sc.obs.max;
  p.redraw = o.redraw_obs && !p.equal_n;
  p.n = sc.obs.min;
  p.n_min = sc.obs.min;
  p.n_max = sc.obs.max;
  p.raw = o.mode == simulation_mode::raw;
  p.t_prior = o.prior == prior_family::student_t;
  p.t_df = o.prior_df;
  p.sigma = sc.sigma;
  p.tau = sc.tau;
  p.theta_var = sc.tau * sc.tau;
  if (p.t_prior && o.prior_df > 2) p.theta_var *= o.prior_df / (o.prior_df - 2);
  p.tail = 0.5 * (1 - o.level);
  p.z = detail::interval_quantile(o.level);
  job.replicates = o.replicates;

  const auto J = static_cast<std::size_t>(sc.groups);
  if (p.redraw) {
    // Every replicate draws its own n_j: hats_of takes the design's sums from pass 1. Its df lie
    // in [J (MIN - 1), J (MAX - 1)]: up to 2^16 of them, their t quantiles are tabulated here once
    // (else each replicate solves its own, a cost that many groups make small).
    p.mean_inv_n = p.sum_n = p.df_within = 0;
    p.df_min = sc.groups * (sc.obs.min - 1);
    const double span = static_cast<double>(sc.groups) * static_cast<double>(sc.obs.max - sc.obs.min);
    if (span < 65536) {
      p.q_by_df = true;
      const double z = detail::interval_quantile(o.level);
      for (std::int64_t df = p.df_min; df <= p.df_min + static_cast<std::int64_t>(span); ++df)
        job.block_df.push_back(df > 0 ? detail::student_t_upper_quantile(p.tail, static_cast<double>(df)) : z);
    }
  } else if (p.equal_n) {
    p.mean_inv_n = 1.0 / static_cast<double>(p.n);
    p.sum_n = static_cast<double>(p.n) * static_cast<double>(J);
    p.df_within = static_cast<double>(p.n - 1) * static_cast<double>(J);
  } else {
    job.n.resize(J);
    job.block_df.assign((J + sim::ss_block - 1) / sim::ss_block, 0.0);
    double sum_inv = 0, sum_n = 0;
    for (std::size_t j = 0; j < J; ++j) {
      const std::int64_t n = sim::design_n(o.seed, index, 0, j, sc.obs.min, sc.obs.max);
      job.n[j] = static_cast<std::int32_t>(n);
      job.block_df[j / sim::ss_block] += static_cast<double>(n - 1);
      sum_inv += 1.0 / static_cast<double>(n);
      sum_n += static_cast<double>(n);
    }
    p.mean_inv_n = sum_inv / static_cast<double>(J);
    p.sum_n = sum_n;
    p.df_within = sum_n - static_cast<double>(J);
  }
  p.estimate_sigma = p.redraw ? sc.obs.max >= 2 : p.df_within > 0;
  // Intervals on sigma2_hat: the t quantile on its pooled degrees of freedom (redraw: per replicate).
  p.q = p.estimate_sigma && !p.redraw ? detail::student_t_upper_quantile(p.tail, p.df_within, p.z) : p.z;
  SHRINK_EXPECTS(std::isfinite(p.q), "the t quantile of the intervals did not converge");
  return job;
}

/// digamma(x) for x > 0: the recurrence up to x >= 10, then the asymptotic series (to ~1e-16).
double digamma(double x)
{
  double shift = 0;
  for (; x < 10; x += 1) shift -= 1 / x;
  const double r = 1 / (x * x);
  return shift + std::log(x) - 0.5 / x - r * (1.0 / 12 - r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240 - r / 132))));
}

/// Closed-form risk of the oracle: mean_j sigma_j^2 V / (sigma_j^2 + V) with V = Var(theta_j).
/// Exact for the normal prior; for the t prior (nu > 2) it is the linear oracle's risk as well.
/// With redraw its expectation over n uniform on [n_min, n_max]: sigma^2 V / (sigma^2 + n V) summed
/// over n directly, or for more than 2^20 values as sigma^2 (psi(n_max + 1 + a) - psi(n_min + a))
/// / span with a = sigma^2 / V (the sum of 1 / (n + a) in closed form).
double oracle_risk_of(const sim::scenario_job& job)
{
  const sim::scenario_params& p = job.params;
  auto risk = [&](std::int64_t n) {
    const double v = p.sigma * p.sigma / static_cast<double>(n);
    return detail::posterior_variance(v, p.theta_var);
  };
  if (p.equal_n) return risk(p.n);
  if (p.redraw) {
    const double span = static_cast<double>(p.n_max - p.n_min + 1);
    if (p.theta_var == 0) return 0.0;
    if (p.n_max - p.n_min < (std::int64_t{1} << 20)) {
      double sum = 0;
      for (std::int64_t n = p.n_min; n <= p.n_max; ++n) sum += risk(n);
      return sum / span;
    }
    const double a = p.sigma * p.sigma / p.theta_var;
    const double psi_hi = digamma(static_cast<double>(p.n_max) + 1 + a), psi_lo = digamma(static_cast<double>(p.n_min) + a);
    return p.sigma * p.sigma * (psi_hi - psi_lo) / span;
  }
  double sum = 0;
  for (std::int32_t n : job.n) sum += risk(n);
  return sum / static_cast<double>(job.n.size());
}

}  // namespace

namespace detail::sim {

scenario_result result_of(const scenario& sc, std::uint64_t replicates, std::optional<double> oracle_risk,
                          const metric_moments& mm, const std::array<metric_slot, estimator_count>& slots)
{
  scenario_result r;
  r.grid_point = sc;
  r.replicates = replicates;
  r.oracle_risk = oracle_risk;
  for (int e = 0; e < estimator_count; ++e) {
    const metric_slot& slot = slots[static_cast<std::size_t>(e)];
    estimator_performance p;
    p.which = slot.which;
    p.available = slot.available;
    const auto& mse = mm.m[metric_mse(e)];
    const auto& bias = mm.m[metric_bias(e)];
    p.mse = mse.mean;
    p.mse_mcse = mcse_of(mse);
    p.bias = bias.mean;
    p.bias_mcse = mcse_of(bias);
    if (slot.coverage) {
      const auto& cov = mm.m[metric_coverage(e)];
      // A count over replicates x groups too (each replicate's metric is covered / J): while the
      // count stays far below 2^53 the mean times it rounds back to it, and the ratio of the exact
      // count prints without noise.
      const double cases = cov.weight * static_cast<double>(sc.groups);
      p.coverage = cases <= 0x1p40 ? std::round(cov.mean * cases) / cases : cov.mean;
      p.coverage_mcse = mcse_of(cov);
    }
    if (e == partial_pool) {
      const auto& t = mm.m[metric_tau_hat];
      const double R = t.weight;
      p.tau_hat_mean = t.mean;
      p.tau_hat_mean_mcse = mcse_of(t);
      const double sd = std::sqrt(t.m2 / (R - 1));
      p.tau_hat_sd = sd;
      // Delta method (Morris, White & Crowther 2019): Var(s^2) ~ (m4 - m2^2) / R with the central
      // moments m_k = M_k / R, and Var(s) ~ Var(s^2) / (4 s^2).
      const detail::moments4& t4 = mm.tau_hat;
      const double m2 = t4.m2 / t4.n, m4 = t4.m4 / t4.n;
      p.tau_hat_sd_mcse = sd > 0 ? std::sqrt(std::max(0.0, m4 - m2 * m2) / t4.n) / (2 * sd) : 0.0;
      // A count over the replicates: the Welford mean times R is within rounding of it; the ratio
      // of the exact count is correctly rounded, so it prints as the short decimal it is.
      const double zeros = std::round(mm.m[metric_tau_zero].mean * R);
      p.p_tau_zero = zeros / R;
      p.p_tau_zero_mcse = std::sqrt(zeros * (R - zeros) / R) / R;
    }
    if (!p.available) {
      estimator_performance none;
      none.which = p.which;
      none.available = false;
      r.estimators.push_back(none);
      continue;
    }
    SHRINK_EXPECTS(std::isfinite(p.mse) && std::isfinite(p.bias),
                   "the study overflowed double precision (sigma, tau or mu too large in magnitude?)");
    r.estimators.push_back(p);
  }
  return r;
}

}  // namespace detail::sim

namespace {

scenario_result result_of(const simulate_options& o, const scenario& sc, const sim::scenario_job& job,
                          const sim::metric_moments& mm)
{
  std::array<sim::metric_slot, sim::estimator_count> slots;
  for (int e = 0; e < sim::estimator_count; ++e) {
    const bool available = !(e == sim::james_stein && sc.groups < 4) && !(e == sim::oracle && !oracle_defined(o));
    const bool coverage = e == sim::no_pool || e == sim::partial_pool || e == sim::oracle;
    slots[static_cast<std::size_t>(e)] = {static_cast<estimator>(e), available, coverage};
  }
  return sim::result_of(sc, job.replicates, oracle_defined(o) ? std::optional<double>(oracle_risk_of(job)) : std::nullopt,
                        mm, slots);
}

std::string number(double x)
{
  if (std::isnan(x)) return "";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, res.ptr);
}

std::string number(const std::optional<double>& x) { return x ? number(*x) : std::string(); }

}  // namespace

namespace detail {

void check_normal_options(const simulate_options& options) { check_options(options); }

simulate_partial_state simulate_normal_range(const simulate_options& options, std::uint64_t first, std::uint64_t count)
{
  const auto t0 = std::chrono::steady_clock::now();
  check_options(options);
  std::vector<std::pair<scenario, sim::scenario_job>> grid;
  for (const scenario& sc : grid_of(options)) grid.emplace_back(sc, job_of(options, sc));
  return run_range(options, first, count, std::move(grid), t0,
                   [&](const std::vector<sim::scenario_job>& jobs, backend used, const sim::progress_fn& progress) {
                     return used == backend::cuda ? sim::run_cuda(jobs, options.batch_replicates, progress)
                                                  : sim::run_cpu(jobs, options.threads, options.batch_replicates, progress);
                   });
}

simulate_result finish_normal(const simulate_partial_state& whole)
{
  const simulate_options& o = whole.options;
  simulate_result result;
  const std::vector<scenario> grid = grid_of(o);
  for (std::size_t i = 0; i < grid.size(); ++i) {
    result.scenarios.push_back(result_of(o, grid[i], job_of(o, grid[i]), whole.folds[i].root()));
    result.group_replicates += static_cast<std::uint64_t>(grid[i].groups) * o.replicates;
  }
  return result;
}

}  // namespace detail

simulate_result simulate(const simulate_options& options)
{
  const auto t0 = std::chrono::steady_clock::now();
  simulate_result result = finish_partial(simulate_range(options, 0, options.replicates));
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

void write_csv(std::ostream& out, const simulate_result& result)
{
  out << simulate_csv_header << '\n';
  for (const scenario_result& s : result.scenarios) {
    const scenario& g = s.grid_point;
    const std::string prefix = std::to_string(g.groups) + ',' + to_string(g.obs) + ',' + number(g.mu) + ',' +
                               number(g.sigma) + ',' + number(g.tau) + ',';
    for (const estimator_performance& e : s.estimators) {
      out << prefix << to_string(e.which) << ',' << s.replicates << ',';
      if (!e.available) {
        out << ",,,,,,,,,,,\n";
        continue;
      }
      out << number(e.mse) << ',' << number(e.mse_mcse) << ',' << number(e.bias) << ',' << number(e.bias_mcse) << ','
          << number(e.coverage) << ',' << number(e.coverage_mcse) << ',' << number(e.tau_hat_mean) << ','
          << number(e.tau_hat_sd) << ',' << number(e.p_tau_zero) << ',' << number(e.tau_hat_mean_mcse) << ','
          << number(e.tau_hat_sd_mcse) << ',' << number(e.p_tau_zero_mcse) << '\n';
    }
  }
}

void write_json(std::ostream& out, const simulate_options& o, const simulate_result& result)
{
  using nlohmann::json;
  json j;
  j["backend"] = to_string(result.used);
  j["seconds"] = result.seconds;
  j["backend_seconds"] = result.backend_seconds;
  j["group_replicates"] = result.group_replicates;
  j["group_replicates_per_second"] =
    result.backend_seconds > 0 ? static_cast<double>(result.group_replicates) / result.backend_seconds : 0.0;
  j["seed"] = o.seed;
  j["replicates"] = o.replicates;
  const bool binomial = o.family == count_family::binomial;
  const char* spread = binomial ? "concentration" : "shape";
  if (o.family) {
    j["family"] = to_string(*o.family);
    j["prior"] = binomial ? "beta" : "gamma";
    j["mean"] = o.prior_mean;
    j["tau_hat_is"] = binomial ? "the ml fit's 1 / (1 + concentration), 0 on the boundary"
                               : "the ml fit's 1 / shape, 0 on the boundary";
  } else {
    j["mode"] = o.mode == simulation_mode::raw ? "raw" : "sufficient";
    j["prior"] = o.prior == prior_family::normal ? std::string("normal") : "t:" + number(o.prior_df);
  }
  j["level"] = o.level;
  if (!o.family) j["redraw_obs"] = o.redraw_obs;
  json rows = json::array();
  for (const scenario_result& s : result.scenarios) {
    json sc;
    sc["groups"] = s.grid_point.groups;
    if (o.family) {
      sc[binomial ? "trials" : "exposure"] = to_string(s.grid_point.obs);
      sc["mean"] = s.grid_point.mu;
      sc[spread] = s.grid_point.tau;
    } else {
      sc["obs"] = to_string(s.grid_point.obs);
      sc["mu"] = s.grid_point.mu;
      sc["sigma"] = s.grid_point.sigma;
      sc["tau"] = s.grid_point.tau;
    }
    sc["replicates"] = s.replicates;
    // The closed form is the oracle's exact Bayes risk only under the normal prior (and the count
    // families' conjugate priors).
    if ((o.family || o.prior == prior_family::normal) && s.oracle_risk) sc["oracle_risk_closed_form"] = *s.oracle_risk;
    json est = json::object();
    for (const estimator_performance& e : s.estimators) {
      json row;
      row["available"] = e.available;
      if (e.available) {
        row["mse"] = e.mse;
        row["mse_mcse"] = e.mse_mcse;
        row["bias"] = e.bias;
        row["bias_mcse"] = e.bias_mcse;
        if (e.coverage) {
          row["coverage"] = *e.coverage;
          row["coverage_mcse"] = *e.coverage_mcse;
        }
        if (e.tau_hat_mean) {
          row["tau_hat_mean"] = *e.tau_hat_mean;
          row["tau_hat_mean_mcse"] = *e.tau_hat_mean_mcse;
          row["tau_hat_sd"] = *e.tau_hat_sd;
          row["tau_hat_sd_mcse"] = *e.tau_hat_sd_mcse;
          row["p_tau_zero"] = *e.p_tau_zero;
          row["p_tau_zero_mcse"] = *e.p_tau_zero_mcse;
        }
      }
      est[to_string(e.which)] = row;
    }
    sc["estimators"] = est;
    rows.push_back(sc);
  }
  j["scenarios"] = rows;
  out << j.dump(2) << '\n';
}

replicate_sample sample_replicate(const simulate_options& options, std::size_t max_groups, std::size_t max_observations)
{
  if (options.family) return detail::sample_count_replicate(options, max_groups);
  check_options(options);
  const scenario sc = grid_of(options).front();
  SHRINK_EXPECTS(static_cast<std::size_t>(sc.groups) <= max_groups,
                 "figures show one replicate group by group: the first scenario may have at most " +
                   std::to_string(max_groups) + " groups");
  simulate_options raw = options;
  raw.mode = simulation_mode::raw;
  const sim::scenario_job job = job_of(raw, sc);
  const sim::scenario_params& p = job.params;
  const auto J = static_cast<std::size_t>(sc.groups);

  replicate_sample out;
  out.grid_point = sc;
  out.level = options.level;
  out.study_mode = options.mode;
  std::vector<sim::group_design> designs(J);
  std::vector<sim::group_draw> draws(J);
  sim::pass1_sums p1;
  for (std::size_t j = 0; j < J; ++j) {
    designs[j] = sim::design_of(p, sim::n_of(p, job.n.data(), 0, j));
    draws[j] = sim::draw_group(p, designs[j], 0, j, true);
    p1.add(draws[j], designs[j]);
  }
  sim::replicate_hats h = sim::hats_of(p, p1, 0, job.block_df.data());
  if (h.needs_pass2) {
    sim::pass2_sums p2;
    for (std::size_t j = 0; j < J; ++j) p2.add(draws[j].d, designs[j].inv_n, h.sigma2, h.tau2);
    sim::finish_hats(h, p2);
  }
  for (std::size_t j = 0; j < J; ++j) {
    const sim::group_constants c = sim::constants_of(p, designs[j], h);
    out.n.push_back(designs[j].n);
    out.theta.push_back(sc.mu + draws[j].t);
    out.ybar.push_back(sc.mu + draws[j].d);
    out.partial_pool.push_back(sc.mu + (draws[j].d + c.b_hat * (h.mu - draws[j].d)));
    std::vector<double> obs;
    const auto shown = static_cast<std::int64_t>(std::min<std::size_t>(max_observations, static_cast<std::size_t>(designs[j].n)));
    for (std::int64_t i = 0; i < shown; ++i) obs.push_back(sc.mu + sim::observation(p, 0, j, draws[j].t, i));
    out.observations.push_back(std::move(obs));
  }
  out.sigma2_hat = h.sigma2;
  out.tau2_hat = h.tau2;
  out.mu_hat = sc.mu + h.mu;
  out.complete_pool = sc.mu + h.mu_pooled;
  out.js_center = sc.mu + h.js_center;
  out.js_c = h.js_c;
  return out;
}

}  // namespace shrink
