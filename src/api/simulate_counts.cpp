// Simulation studies of the count families (`shrink simulate --family binomial|poisson`): checks
// the options, lays out the grid (groups x sizes x concentration) and each scenario's design, runs
// it on the chosen backend and turns the merged metrics into the same rows as the normal model's.

#include "simulate_counts.hpp"

#include "count_fit.hpp"

#include "../common/macros.hpp"
#include "numerics.hpp"
#include "simulate_backend.hpp"
#include "simulate_partial.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace shrink::detail {

namespace {

/// Largest trials or exposure: the dense (size, count) tables and the samplers' sums stay exact.
constexpr std::int64_t max_size = std::int64_t{1} << 40;
/// Every whole number up to 2^53 is a double.
constexpr double max_exact_count = 0x1p53;

}  // namespace

void check_count_options(const simulate_options& o)
{
  const bool binomial = *o.family == count_family::binomial;
  const char* sizes = binomial ? "--trials" : "--exposure";
  const char* spread = binomial ? "--concentration" : "--shape";
  SHRINK_EXPECTS(!o.groups.empty() && !o.obs.empty() && !o.concentration.empty(),
                 std::string("--groups, ") + sizes + " and " + spread + " each need at least one value");
  for (std::int64_t J : o.groups)
    SHRINK_EXPECTS(J >= 2 && J <= std::numeric_limits<std::int32_t>::max(),
                   "--groups: each value must be between 2 and 2^31-1 (the prior cannot be estimated from one group)");
  for (const obs_range& r : o.obs)
    SHRINK_EXPECTS(r.min >= 1 && r.min <= r.max && r.max <= max_size,
                   std::string(sizes) + ": need whole numbers 1 <= MIN <= MAX <= 2^40");
  SHRINK_EXPECTS(std::isfinite(o.prior_mean) && o.prior_mean > 0 && (!binomial || o.prior_mean < 1),
                 binomial ? "--mean must lie strictly between 0 and 1" : "--mean must be finite and > 0");
  for (double nu : o.concentration)
    SHRINK_EXPECTS(std::isfinite(nu) && nu > 0 && nu <= 1e12,
                   std::string(spread) + ": each value must be > 0 and at most 1e12");
  // Beyond 2^53 doubles are not every whole number: a count's Poisson noise (sqrt of its mean) sinks
  // into the spacing of doubles (at --mean 1e100, ~1e84), so draws, fits and errors would be rounding.
  if (!binomial)
    for (const obs_range& r : o.obs)
      SHRINK_EXPECTS(o.prior_mean * static_cast<double>(r.max) < max_exact_count,
                     "--mean x --exposure must stay below 2^53 (9.0e15): larger counts are not whole numbers in "
                     "double precision, and their Poisson noise would be lost to rounding");
  SHRINK_EXPECTS(o.replicates >= 2 && o.replicates <= (std::uint64_t{1} << 32),
                 "--replicates must be between 2 and 2^32 (Monte Carlo errors need at least 2)");
  SHRINK_EXPECTS(o.level > 0 && o.level < 1, "level must lie strictly between 0 and 1");
  SHRINK_EXPECTS(o.threads >= 0, "--threads must be 0 (all) or positive");
  SHRINK_EXPECTS(o.groups.size() * o.obs.size() * o.concentration.size() <= max_scenarios,
                 "the grid has more than 2^24 scenarios");
  for (std::int64_t J : o.groups)
    SHRINK_EXPECTS(static_cast<double>(J) * static_cast<double>(o.replicates) < 9.0e18, "groups x replicates exceeds 2^63");
  // sizes above 2^31 cannot be held by the design array: only fixed sizes may be that large.
  for (const obs_range& r : o.obs)
    SHRINK_EXPECTS(r.min == r.max || r.max <= std::numeric_limits<std::int32_t>::max(),
                   "a MIN:MAX range of sizes must end below 2^31");
}

namespace {

/// The true prior's natural parameters: Beta(m nu, (1 - m) nu), or Gamma(shape, shape / m).
std::pair<double, double> prior_of(const simulate_options& o, double concentration)
{
  if (*o.family == count_family::binomial) return {o.prior_mean * concentration, (1 - o.prior_mean) * concentration};
  return {concentration, concentration / o.prior_mean};
}

sim::count_job job_of(const simulate_options& o, const scenario& sc)
{
  sim::count_job job;
  sim::count_scenario& p = job.params;
  p.index = sim::stream_key_of(sc);
  p.seed = o.seed;
  p.groups = sc.groups;
  p.binomial = *o.family == count_family::binomial;
  std::tie(p.a, p.b) = prior_of(o, sc.tau);
  p.equal_size = sc.obs.min == sc.obs.max;
  p.size = static_cast<double>(sc.obs.min);
  job.size_min = sc.obs.min;
  job.size_max = sc.obs.max;
  job.tail = 0.5 * (1 - o.level);
  job.replicates = o.replicates;
  // The normal model's design draw: uniform on MIN..MAX once per scenario (replicate word 0).
  if (!p.equal_size)
    for (std::int64_t j = 0; j < sc.groups; ++j)
      job.size.push_back(static_cast<std::int32_t>(
        sim::design_n(o.seed, p.index, 0, static_cast<std::uint64_t>(j), sc.obs.min, sc.obs.max)));
  return job;
}

/// The oracle's exact risk, the Bayes risk E Var(theta | y) of the posterior mean, averaged over the
/// design: binomial a b / ((a + b)(a + b + 1)(a + b + n)), poisson a / (b (b + E)).
double oracle_risk_of(const sim::count_job& job)
{
  const sim::count_scenario& p = job.params;
  const auto risk = [&](double size) {
    return p.binomial ? p.a * p.b / ((p.a + p.b) * (p.a + p.b + 1) * (p.a + p.b + size)) : p.a / (p.b * (p.b + size));
  };
  if (p.equal_size) return risk(p.size);
  double sum = 0;
  for (std::int32_t n : job.size) sum += risk(n);
  return sum / static_cast<double>(job.size.size());
}

/// A binomial design whose every group has one trial leaves the ml fit without an estimate in every
/// replicate (as `shrink fit` refuses such data): the study is refused, not filled with a convention.
void check_identified(const sim::count_job& job)
{
  const sim::count_scenario& p = job.params;
  const bool one_trial =
    p.equal_size ? p.size == 1 : std::all_of(job.size.begin(), job.size.end(), [](std::int32_t n) { return n == 1; });
  SHRINK_EXPECTS(!p.binomial || !one_trial, std::string("--trials: ") + one_trial_not_identified);
}

/// The grid in output order (groups, sizes, concentration innermost) and each scenario's job.
std::vector<std::pair<scenario, sim::count_job>> grid_of(const simulate_options& options)
{
  std::vector<std::pair<scenario, sim::count_job>> grid;
  for (std::int64_t J : options.groups)
    for (const obs_range& n : options.obs)
      for (double nu : options.concentration) {
        const scenario sc{J, n, options.prior_mean, std::numeric_limits<double>::quiet_NaN(), nu};
        grid.emplace_back(sc, job_of(options, sc));
        check_identified(grid.back().second);
      }
  return grid;
}

}  // namespace

simulate_partial_state simulate_counts_range(const simulate_options& options, std::uint64_t first, std::uint64_t count)
{
  const auto t0 = std::chrono::steady_clock::now();
  check_count_options(options);
  return run_range(options, first, count, grid_of(options), t0,
                   [&](const std::vector<sim::count_job>& jobs, backend used, const sim::progress_fn& progress) {
                     return used == backend::cuda
                              ? sim::run_counts_cuda(jobs, options.threads, options.batch_replicates, progress)
                              : sim::run_counts_cpu(jobs, options.threads, options.batch_replicates, progress);
                   });
}

simulate_result finish_counts(const simulate_partial_state& whole)
{
  simulate_result result;
  std::array<sim::metric_slot, sim::estimator_count> slots{};
  slots[sim::no_pool] = {estimator::no_pool, true, false};
  slots[sim::complete_pool] = {estimator::complete_pool, true, false};
  slots[sim::partial_pool] = {estimator::partial_pool, true, true};
  slots[sim::oracle] = {estimator::oracle, true, true};
  slots[sim::partial_pool_mom] = {estimator::partial_pool_mom, true, true};
  const auto grid = grid_of(whole.options);
  for (std::size_t i = 0; i < grid.size(); ++i) {
    const auto& [sc, job] = grid[i];
    result.scenarios.push_back(sim::result_of(sc, job.replicates, oracle_risk_of(job), whole.folds[i].root(), slots));
    result.group_replicates += static_cast<std::uint64_t>(sc.groups) * job.replicates;
  }
  return result;
}

replicate_sample sample_count_replicate(const simulate_options& options, std::size_t max_groups)
{
  check_count_options(options);
  const std::int64_t J = options.groups.front();
  SHRINK_EXPECTS(static_cast<std::size_t>(J) <= max_groups,
                 "figures show one replicate group by group: the first scenario may have at most " +
                   std::to_string(max_groups) + " groups");
  const scenario sc{J, options.obs.front(), options.prior_mean, std::numeric_limits<double>::quiet_NaN(),
                    options.concentration.front()};
  const sim::count_job job = job_of(options, sc);
  replicate_sample out;
  out.grid_point = sc;
  out.level = options.level;
  out.family = options.family;
  std::vector<beta_binomial::group> groups;  // gamma_poisson::group has the same two fields
  for (std::int64_t j = 0; j < J; ++j) {
    const auto jj = static_cast<std::size_t>(j);
    const double size = job.params.equal_size ? job.params.size : static_cast<double>(job.size[jj]);
    const sim::count_draw d = sim::draw_count_group(job.params, size, 0, jj);
    out.n.push_back(static_cast<std::int64_t>(size));
    out.theta.push_back(d.theta);
    out.counts.push_back(d.y);
    out.ybar.push_back(d.y / size);
    out.observations.emplace_back();
    groups.push_back({d.y, size});
  }
  const auto fit_with = [&](auto family) {
    using F = decltype(family);
    std::vector<typename F::group> g;
    for (const auto& x : groups) g.push_back({x.count, x.size});
    const count_groups<F> data{g.data(), g.size(), 1, nullptr, nullptr};
    const count_totals totals = count_summaries(data);
    out.complete_pool = totals.count / totals.size;
    const bool degenerate = totals.count == 0 || (F::bounded_mean && totals.count == totals.size);
    // As the study's replicates: counts all 0 or n_j have their supremum at nu = 0 (no pooling).
    bool no_pooling = F::bounded_mean && !degenerate;
    for (const auto& x : g) no_pooling = no_pooling && (x.count == 0 || x.count == x.size);
    const count_estimate e = degenerate || no_pooling ? count_estimate{} : count_ml(data, totals);
    out.fit_mean = degenerate || e.boundary ? out.complete_pool : no_pooling ? totals.rate_mean : e.mean;
    out.fit_concentration = degenerate || e.boundary ? std::numeric_limits<double>::infinity() : e.concentration;
    for (const auto& x : g)
      out.partial_pool.push_back(no_pooling                                ? x.count / x.size
                                 : std::isfinite(out.fit_concentration) ? F::posterior_of(x, e.a, e.b, 0.025).mean
                                                                        : out.complete_pool);
  };
  if (job.params.binomial) fit_with(beta_binomial{});
  else fit_with(gamma_poisson{});
  out.mu_hat = out.fit_mean;
  return out;
}

}  // namespace shrink::detail
