// `shrink simulate`: a grid of scenarios x R replicates of the two-level model, the estimators'
// MSE, bias and coverage with Monte Carlo errors as CSV, and optional figures of one replicate;
// or a range of its replicates as a partial study, and partial studies merged into the study.

#include "arguments.hpp"
#include "commands.hpp"

#include "io/figures.hpp"
#include "io/output.hpp"

#include <shrink/error.hpp>
#include <shrink/fit.hpp>
#include <shrink/simulate.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <cstdio>
#include <fstream>
#include <tuple>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

namespace shrink::cli {
namespace {

struct simulate_args {
  std::string groups = "8";
  std::string obs = "10";
  std::string mu = "0";
  std::string sigma = "1";
  std::string tau = "1";
  std::uint64_t replicates = 1000;
  std::string seed = "1";
  std::string prior = "normal";
  std::string mode = "sufficient";
  std::string backend = "auto";
  int threads = 0;
  std::uint64_t batch = 0;
  double level = 0.95;
  bool redraw_obs = false;
  std::string output = "-";
  std::string json, plot, html, plot_order = "group";
  bool quiet = false;
  // --family binomial|poisson
  std::string family;
  std::string trials, exposure = "1", mean, concentration, shape;
  // Studies in blocks of replicates
  std::string replicate_range, partial_out;
  std::vector<std::string> merge_partials;
  std::function<bool(const char*)> given;  ///< whether an option was on the command line
};

/// --family: the count family's options into `o`, and every option of the other model refused.
void read_family(const simulate_args& a, simulate_options& o)
{
  const bool binomial = a.family == "binomial";
  if (!binomial && a.family != "poisson") throw error("--family: choose binomial or poisson (got '" + a.family + "')");
  o.family = binomial ? count_family::binomial : count_family::poisson;
  for (const char* normal_only : {"--obs", "--mu", "--sigma", "--tau", "--prior", "--mode", "--redraw-obs"})
    if (a.given(normal_only)) throw error(std::string(normal_only) + " belongs to the normal model: not with --family " + a.family);
  const std::vector<const char*> others =
    binomial ? std::vector<const char*>{"--exposure", "--shape"} : std::vector<const char*>{"--trials", "--concentration"};
  for (const char* other : others)
    if (a.given(other)) throw error(std::string(other) + " is not an option of --family " + a.family);
  const char* sizes = binomial ? "--trials" : "--exposure";
  const char* spread = binomial ? "--concentration" : "--shape";
  const std::vector<const char*> needed_options = binomial ? std::vector<const char*>{"--trials", "--mean", "--concentration"}
                                                            : std::vector<const char*>{"--mean", "--shape"};
  for (const char* needed : needed_options)
    if (!a.given(needed)) throw error(std::string("--family ") + a.family + " needs " + needed);
  o.obs.clear();
  for (const auto& n : split_list(binomial ? a.trials : a.exposure, sizes)) {
    try {
      o.obs.push_back(parse_obs_range(n));
    } catch (const error&) {
      throw error(std::string(sizes) + ": give whole numbers N or MIN:MAX with 1 <= MIN <= MAX (got '" + n + "')");
    }
  }
  o.prior_mean = parse_double(a.mean, "--mean");
  o.concentration.clear();
  for (const auto& c : split_list(binomial ? a.concentration : a.shape, spread)) o.concentration.push_back(parse_double(c, spread));
}

/// The normal model's options into `o`.
void read_normal(const simulate_args& a, simulate_options& o)
{
  for (const char* family_only : {"--trials", "--exposure", "--mean", "--concentration", "--shape"})
    if (a.given(family_only)) throw error(std::string(family_only) + " needs --family binomial or poisson");
  o.obs.clear();
  for (const auto& n : split_list(a.obs, "--obs")) o.obs.push_back(parse_obs_range(n));
  o.sigma.clear();
  for (const auto& s : split_list(a.sigma, "--sigma")) o.sigma.push_back(parse_double(s, "--sigma"));
  o.tau.clear();
  for (const auto& t : split_list(a.tau, "--tau")) o.tau.push_back(parse_double(t, "--tau"));
  o.mu = parse_double(a.mu, "--mu");
  if (const std::optional<double> df = parse_group_prior(a.prior)) {
    o.prior = prior_family::student_t;
    o.prior_df = *df;
  } else {
    o.prior = prior_family::normal;
  }
  if (a.mode == "sufficient")
    o.mode = simulation_mode::sufficient;
  else if (a.mode == "raw")
    o.mode = simulation_mode::raw;
  else
    throw error("--mode: choose sufficient or raw (got '" + a.mode + "')");
  o.redraw_obs = a.redraw_obs;
}

/// A one-line progress bar with group-replicates per second; only when stderr is a terminal.
class progress_bar {
 public:
  explicit progress_bar(bool enabled) : enabled_(enabled), t0_(std::chrono::steady_clock::now()) {}
  ~progress_bar()
  {
    if (drawn_) std::fputs("\r\033[K", stderr);
  }

  void update(std::uint64_t done, std::uint64_t total)
  {
    if (!enabled_) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    if (s < 0.5 && done < total) return;  // short studies draw nothing
    const double f = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
    const int width = 30;
    const int filled = static_cast<int>(f * width);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r  [%s] %5.1f%%  %.3g group-replicates/s", bar.c_str(), 100 * f,
                 s > 0 ? static_cast<double>(done) / s : 0.0);
    std::fflush(stderr);
    drawn_ = true;
  }

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point t0_;
};

/// --replicate-range FIRST:COUNT.
std::pair<std::uint64_t, std::uint64_t> parse_replicate_range(const std::string& text)
{
  const auto colon = text.find(':');
  if (colon == std::string::npos) throw error("--replicate-range: give FIRST:COUNT (got '" + text + "')");
  return {parse_unsigned(text.substr(0, colon), "--replicate-range FIRST"),
          parse_unsigned(text.substr(colon + 1), "--replicate-range COUNT")};
}

/// The whole text of a partial study's file, read back (errors name the file).
simulate_partial read_partial(const std::string& path)
{
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (!(in && text << in.rdbuf())) throw error("--merge-partials: cannot read '" + path + "'");
  try {
    return simulate_partial_from_json(text.str());
  } catch (const error& e) {
    throw error("--merge-partials: " + path + ": " + e.what());
  }
}

/// The one-line report on stderr.
void report(const simulate_options& o, const simulate_result& r, const std::string& what)
{
  std::ostringstream s;
  s.precision(3);
  s << "shrink simulate: " << what << r.scenarios.size() << " scenario(s) x " << o.replicates << " replicates, "
    << static_cast<double>(r.group_replicates) << " group-replicates on " << to_string(r.used) << " in " << r.seconds
    << " s (" << static_cast<double>(r.group_replicates) / std::max(r.seconds, 1e-9) << " group-replicates/s)\n";
  for (const auto& sc : r.scenarios)
    if (!o.family && sc.grid_point.groups < 4) {
      s << "  note: James-Stein needs at least 4 groups: its rows are empty where groups < 4\n";
      break;
    }
  std::cerr << s.str();
}

/// The study's outputs (CSV, JSON, figures) of a finished study, committed together.
void write_study(const simulate_args& a, const simulate_options& o, const simulate_result& r, io::output_set& outputs,
                 const std::optional<replicate_sample>& sample)
{
  std::ostringstream text;
  write_csv(text, r);
  outputs.get("-o")->write(text.str());
  if (io::atomic_output* json = outputs.get("--json")) {
    std::ostringstream j;
    write_json(j, o, r);
    json->write(j.str());
  }
  const io::row_order order = io::parse_row_order(a.plot_order, "--plot-order");
  if (io::atomic_output* plot = outputs.get("--plot")) plot->write(io::shrinkage_svg(*sample, order));
  if (io::atomic_output* html = outputs.get("--html")) html->write(io::shrinkage_html(*sample, order));
  outputs.commit();
}

/// --merge-partials: the partial studies merged, then written as a partial (--partial-out) or
/// finished into the study's outputs. The study's options come from the partials.
void run_merge(const simulate_args& a)
{
  for (const char* study : {"--groups", "--obs", "--redraw-obs", "--mu", "--sigma", "--tau", "--replicates", "--seed",
                            "--prior", "--mode", "--level", "--family", "--trials", "--exposure", "--mean",
                            "--concentration", "--shape", "--replicate-range", "--backend", "--threads", "--batch"})
    if (a.given(study)) throw error(std::string(study) + ": the study's options come from the partials: not with --merge-partials");
  const bool partial = !a.partial_out.empty();
  if (partial)
    for (const char* output : {"-o", "--json", "--plot", "--html"})
      if (a.given(output)) throw error(std::string(output) + ": --partial-out writes the merged partial alone");
  std::vector<io::named_path> inputs;
  for (const std::string& path : a.merge_partials) inputs.push_back({"--merge-partials", path});
  io::output_set outputs = partial ? io::output_set({{"--partial-out", a.partial_out}}, inputs)
                                   : io::output_set({{"-o", a.output}, {"--json", a.json}, {"--plot", a.plot},
                                                     {"--html", a.html}}, inputs);
  std::vector<simulate_partial> parts;
  for (const std::string& path : a.merge_partials) parts.push_back(read_partial(path));
  const simulate_partial merged = merge_partials(parts);
  if (partial) {
    outputs.get("--partial-out")->write(to_json(merged));
    outputs.commit();
    return;
  }
  const simulate_options& o = merged.options();
  // Figures show replicate 0 of scenario 0, drawn again from the options (a partial holds no draws).
  std::optional<replicate_sample> sample;
  if (outputs.get("--plot") || outputs.get("--html")) sample = sample_replicate(o);
  const simulate_result r = finish_partial(merged);
  write_study(a, o, r, outputs, sample);
  if (!a.quiet) report(o, r, "merged " + std::to_string(parts.size()) + " partial(s): ");
}

void run_simulate(const simulate_args& a)
{
  if (!a.merge_partials.empty()) return run_merge(a);
  simulate_options o;
  o.groups.clear();
  for (const auto& g : split_list(a.groups, "--groups")) o.groups.push_back(parse_int(g, "--groups"));
  if (a.given("--family"))
    read_family(a, o);
  else
    read_normal(a, o);
  o.replicates = a.replicates;
  o.seed = parse_seed(a.seed);
  o.requested_backend = parse_backend(a.backend);
  o.threads = a.threads;
  // A chunk never needs more replicates than the study has (results do not depend on the batch);
  // the cut also keeps the backends' rounding up to a multiple of 64 from wrapping around 2^64
  // (--batch 18446744073709551615 became a chunk of 0 replicates and a loop that never ended).
  o.batch_replicates = std::min(a.batch, a.replicates);
  o.level = a.level;

  const bool partial = !a.partial_out.empty();
  if (a.given("--replicate-range") && !partial)
    throw error("--replicate-range needs --partial-out: a range of replicates is a partial study, not a study");
  if (partial)
    for (const char* output : {"-o", "--json", "--plot", "--html"})
      if (a.given(output)) throw error(std::string(output) + ": --partial-out writes the partial study alone");
  std::uint64_t first = 0, count = o.replicates;
  if (a.given("--replicate-range")) std::tie(first, count) = parse_replicate_range(a.replicate_range);

  // Outputs are opened before the work (an unwritable path fails at once), must be distinct
  // files, and are committed together: all or none. Devices and pipes are written in place.
  if (a.output.empty()) throw error("-o: give a file name, or - for stdout");
  io::output_set outputs = partial ? io::output_set({{"--partial-out", a.partial_out}})
                                   : io::output_set({{"-o", a.output}, {"--json", a.json}, {"--plot", a.plot},
                                                     {"--html", a.html}});
  std::optional<replicate_sample> sample;
  (void)io::parse_row_order(a.plot_order, "--plot-order");  // a bad value fails before the work
  if (outputs.get("--plot") || outputs.get("--html")) sample = sample_replicate(o);

  progress_bar bar(!a.quiet && ::isatty(STDERR_FILENO) != 0);
  o.progress = [&bar](std::uint64_t done, std::uint64_t total) { bar.update(done, total); };
  if (partial) {
    const simulate_partial part = simulate_range(o, first, count);
    outputs.get("--partial-out")->write(to_json(part));
    outputs.commit();
    return;
  }
  const simulate_result r = simulate(o);
  write_study(a, o, r, outputs, sample);
  if (!a.quiet) report(o, r, "");
}

}  // namespace

command add_simulate_command(CLI::App& app)
{
  auto a = std::make_shared<simulate_args>();
  CLI::App* sub = app.add_subcommand("simulate", "Simulation study of the shrinkage estimators over a grid of scenarios");
  sub->add_option("--groups", a->groups, "number of groups J (comma list: a grid)")->capture_default_str();
  sub->add_option("--obs", a->obs, "observations per group: N or MIN:MAX (comma list)")->capture_default_str();
  sub->add_flag("--redraw-obs", a->redraw_obs,
                "with --obs MIN:MAX, draw the n_j afresh for every replicate (default: once per scenario)");
  sub->add_option("--mu", a->mu, "true grand mean")->capture_default_str();
  sub->add_option("--sigma", a->sigma, "true within-group sd (comma list)")->capture_default_str();
  sub->add_option("--tau", a->tau, "true between-group sd (comma list)")->capture_default_str();
  sub->add_option("--replicates", a->replicates, "replicates per scenario")->capture_default_str();
  sub->add_option("--seed", a->seed, "seed: an integer from 0 to 2^64-1; the study depends on it alone")->capture_default_str();
  sub->add_option("--prior", a->prior, "prior of theta_j: normal or t:NU")->capture_default_str();
  sub->add_option("--mode", a->mode, "sufficient (draw ybar_j, s2_j) or raw (every observation)")->capture_default_str();
  sub->add_option("--backend", a->backend, "auto, cpu or cuda")->capture_default_str();
  sub->add_option("--threads", a->threads, "CPU threads (0 = all)")->capture_default_str();
  sub->add_option("--batch", a->batch, "replicates per chunk or launch (0 = automatic; results do not depend on it)")
    ->capture_default_str();
  sub->add_option("-o,--output", a->output, "CSV, one row per scenario x estimator (- for stdout)")->capture_default_str();
  sub->add_option("--json", a->json, "JSON summary file");
  sub->add_option("--plot", a->plot, "SVG of the first replicate of the first scenario");
  sub->add_option("--html", a->html, "interactive HTML page of that replicate (self-contained)");
  sub->add_option("--plot-order", a->plot_order, "rows of the figures: group, n (smallest first) or estimate")
    ->capture_default_str();
  sub->add_flag("-q,--quiet", a->quiet, "no report or progress bar on stderr");
  sub->add_option("--level", a->level, "coverage of the per-group central intervals")->capture_default_str();
  sub->add_option("--family", a->family, "binomial or poisson: a study of proportions or counts (default: the normal model)");
  sub->add_option("--trials", a->trials, "binomial: trials per group, N or MIN:MAX (comma list)");
  sub->add_option("--exposure", a->exposure, "poisson: exposure per group, N or MIN:MAX whole numbers (comma list; default 1)");
  sub->add_option("--mean", a->mean, "binomial, poisson: the prior mean m of the rates theta_j");
  sub->add_option("--concentration", a->concentration, "binomial: nu of Beta(m nu, (1 - m) nu) (comma list)");
  sub->add_option("--shape", a->shape, "poisson: shape of Gamma(shape, shape / m) (comma list)");
  sub->add_option("--replicate-range", a->replicate_range,
                  "FIRST:COUNT: run only these replicates (FIRST a multiple of 64) into --partial-out");
  sub->add_option("--partial-out", a->partial_out, "write the partial study (JSON) to merge with --merge-partials");
  sub->add_option("--merge-partials", a->merge_partials,
                  "merge partial studies (any order) into the study's outputs (or --partial-out)");
  a->given = [sub](const char* name) { return sub->count(name) > 0; };
  return [a] { run_simulate(*a); };
}

}  // namespace shrink::cli
