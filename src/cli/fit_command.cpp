// `shrink fit`: reads raw rows or per-group summaries, fits the two-level model, writes the
// per-group CSV and the JSON summary, and tells on stderr what the data say.

#include "arguments.hpp"
#include "commands.hpp"

#include "api/numerics.hpp"
#include "io/npy.hpp"
#include "io/output.hpp"
#include "io/table_reader.hpp"

#include <shrink/counts.hpp>
#include <shrink/error.hpp>
#include <shrink/fit.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>

namespace shrink::cli {
namespace {

struct fit_args {
  std::string input = "-";
  std::string group = "group";
  std::string value = "y";
  std::string group_npy, value_npy;  ///< binary raw input: .npy key and value columns
  std::string estimate, se, variance;
  std::string method = "mom";
  // Numbers read as text and parsed by parse_double: subnormals are numbers, and the messages
  // say what is wrong with a value.
  std::optional<std::string> tau;
  std::optional<std::string> sigma;
  std::string tau_prior = "uniform";
  std::string prior = "normal";
  std::string level = "0.95";
  int max_iterations = 100;
  std::string backend = "auto";
  int threads = 0;
  std::string output = "-";
  std::string summary;
  bool quiet = false;
  int digits = 0;  ///< significant digits of the per-group CSV; 0: the shortest exact text
  // --family binomial|poisson (summary mode: counts per group).
  std::string family = "normal";
  std::string successes, trials, counts, exposure;
  std::string count_method = "ml";
  std::optional<std::string> alpha, beta, shape, rate, mean, concentration;
  std::optional<std::string> hyperprior;  ///< --method bayes
};

std::string g(double x, int digits = 6)
{
  std::ostringstream s;
  s.precision(digits);
  s << x;
  return s.str();
}

void print_report(const fit_result& r, const std::vector<std::string>& keys, double parse_seconds, bool raw)
{
  std::ostringstream s;
  s << "shrink fit: J = " << r.groups << " groups, N = " << r.observations << (raw ? " observations" : " (summary input)")
    << '\n'
    << "  mu = " << g(r.mu) << ", tau = " << g(std::sqrt(r.tau2)) << " (" << to_string(r.method) << ")";
  if (r.sigma2) s << ", sigma = " << g(std::sqrt(*r.sigma2));
  s << ", Q = " << g(r.Q) << " on " << (r.groups - 1) << " df, I2 = " << g(r.I2, 4) << "%\n";
  s << "  backend " << to_string(r.used) << ": read " << g(parse_seconds, 3) << " s, fit " << g(r.seconds.total, 3)
    << " s\n";
  const std::size_t shown = std::min<std::size_t>(r.groups, 6);
  s << "  pooling, first " << shown << " groups: group  n  no-pooling  complete-pooling  partial-pooling\n";
  for (std::size_t j = 0; j < shown; ++j)
    s << "    " << keys[j] << "  " << r.n[j] << "  " << g(r.mean[j]) << "  " << g(r.complete_pooling) << "  "
      << g(r.estimate[j]) << '\n';
  for (const auto& note : r.notes) s << "  note: " << note << '\n';
  std::cerr << s.str();
}

void print_count_report(const count_fit_result& r, const std::vector<std::string>& keys, double parse_seconds)
{
  const bool binomial = r.family == count_family::binomial;
  std::ostringstream s;
  s << "shrink fit: J = " << r.groups << " groups, " << g(r.total_count, 15)
    << (binomial ? " successes of " : " counts over exposure ") << g(r.total_size, 15)
    << (binomial ? " trials (binomial, beta prior)\n" : " (poisson, gamma prior)\n")
    << (binomial ? "  Beta(alpha = " : "  Gamma(shape = ") << g(r.a) << (binomial ? ", beta = " : ", rate = ") << g(r.b)
    << "): mean " << g(r.mean) << (binomial ? ", concentration " : ", shape ") << g(r.concentration) << " ("
    << to_string(r.method) << "); complete pooling " << g(r.complete_pooling) << '\n'
    << "  over-dispersion: LR = " << g(r.overdispersion_statistic) << ", p = " << g(r.overdispersion_p_value, 3) << '\n'
    << "  backend " << to_string(r.used) << ": read " << g(parse_seconds, 3) << " s, fit " << g(r.seconds_total, 3) << " s\n";
  const std::size_t shown = std::min<std::size_t>(r.groups, 6);
  s << "  pooling, first " << shown << " groups: group  " << (binomial ? "successes/trials" : "count/exposure")
    << "  no-pooling  complete-pooling  partial-pooling\n";
  for (std::size_t j = 0; j < shown; ++j)
    s << "    " << keys[j] << "  " << g(r.counts[j], 15) << "/" << g(r.sizes[j], 15) << "  " << g(r.rate[j]) << "  "
      << g(r.complete_pooling) << "  " << g(r.estimate[j]) << '\n';
  for (const auto& note : r.notes) s << "  note: " << note << '\n';
  std::cerr << s.str();
}

/// `shrink fit --family binomial|poisson`: per-group counts, conjugate prior.
void run_count_fit(const fit_args& a, const CLI::App& app)
{
  const bool binomial = a.family == "binomial";
  const std::string family = "--family " + a.family;
  for (const char* normal_only : {"--group-npy", "--value-npy", "--estimate", "--se", "--variance",
                                  "--tau-method", "--tau", "--tau-prior", "--prior", "--sigma"})
    if (app.count(normal_only) > 0)
      throw error(std::string(normal_only) + " belongs to --family normal; " + family + " reads " +
                  (binomial ? "--successes and --trials" : "--counts [and --exposure]"));
  for (const char* other : binomial ? std::vector<const char*>{"--counts", "--exposure", "--shape", "--rate"}
                                    : std::vector<const char*>{"--successes", "--trials", "--alpha", "--beta", "--concentration"})
    if (app.count(other) > 0) throw error(std::string(other) + " does not belong to " + family);
  // Raw rows (--value: one row per trial, or one count per row) or one row per group.
  const bool raw = app.count("--value") > 0;
  if (raw) {
    for (const char* per_group : {"--successes", "--trials", "--counts"})
      if (app.count(per_group) > 0)
        throw error(std::string("--value reads raw rows, ") + per_group + " one row per group: give one of the two");
    if (app.count("--exposure") > 0)
      throw error("--exposure: per-row exposures are not read yet; in raw rows each row is one unit of exposure");
  } else if (binomial && (a.successes.empty() || a.trials.empty())) {
    throw error("--family binomial needs --successes NAME and --trials NAME (one row per group), or --value NAME (raw 0/1 rows)");
  } else if (!binomial && a.counts.empty()) {
    throw error("--family poisson needs --counts NAME (and --exposure NAME, default 1; one row per group), or --value NAME (one count per row)");
  }
  if (a.digits < 0 || a.digits > 17) throw error("--digits must be 0 (the shortest exact text) or 1 to 17");

  count_options o;
  o.method = parse_count_method(a.count_method);
  // The fixed prior: natural parameters (alpha, beta or shape, rate), or the mean with the
  // concentration (binomial) or shape (poisson).
  const std::optional<std::string>& first = binomial ? a.alpha : a.shape;
  const std::optional<std::string>& second = binomial ? a.beta : a.rate;
  const std::optional<std::string>& spread = binomial ? a.concentration : a.shape;
  const char* first_name = binomial ? "--alpha" : "--shape";
  const char* second_name = binomial ? "--beta" : "--rate";
  const char* spread_name = binomial ? "--concentration" : "--shape";
  const bool natural = second.has_value() || (binomial && first.has_value());
  const bool by_mean = a.mean.has_value();
  if (o.method == count_method::fixed) {
    if (natural == by_mean)
      throw error(std::string("--method fixed needs the prior as ") + first_name + " A " + second_name + " B or as --mean M " +
                  spread_name + " S (one of the two)");
    if (natural) {
      if (!first || !second) throw error(std::string(first_name) + " and " + second_name + " go together");
      o.a = parse_double(*first, first_name);
      o.b = parse_double(*second, second_name);
    } else {
      if (!spread) throw error(std::string("--mean and ") + spread_name + " go together");
      const double m = parse_double(*a.mean, "--mean"), nu = parse_double(*spread, spread_name);
      if (!(m > 0 && (!binomial || m < 1)))
        throw error(binomial ? "--mean must lie strictly between 0 and 1" : "--mean must be positive");
      if (!(nu > 0)) throw error(std::string(spread_name) + " must be positive");
      o.a = binomial ? m * nu : nu;
      o.b = binomial ? (1 - m) * nu : nu / m;
    }
  } else if (natural || by_mean || spread) {
    throw error(std::string(first_name) + "/" + second_name + "/--mean/" + spread_name + " give the prior of --method fixed");
  }
  if (a.hyperprior) {
    if (o.method != count_method::bayes) throw error("--hyperprior gives the hyperprior of --method bayes");
    o.hyperprior = parse_count_hyperprior(*a.hyperprior, binomial ? count_family::binomial : count_family::poisson);
  }
  o.level = parse_double(a.level, "--level");
  if (app.count("--max-iterations") > 0) o.max_iterations = a.max_iterations;  // else the families' own default
  o.requested_backend = parse_backend(a.backend);
  o.threads = a.threads;

  if (a.output.empty()) throw error("-o: give a file name, or - for stdout");
  io::output_set outputs({{"-o", a.output}, {"--summary", a.summary}}, {{"the input", a.input}});
  io::atomic_output& csv = *outputs.get("-o");
  io::atomic_output* const json = outputs.get("--summary");

  const auto t0 = std::chrono::steady_clock::now();
  io::count_table t;
  if (raw) {
    // The streaming reader folds the rows per group (0/1 or counts checked as they are read): a
    // group's count is n_j times its exact mean (a whole number: rounded), its size n_j rows.
    const io::group_table rows =
      io::read_groups(a.input, {a.group, a.value, binomial ? io::value_kind::binary : io::value_kind::count}, a.threads);
    t.keys = rows.keys;
    for (std::size_t j = 0; j < rows.n.size(); ++j) {
      const double n = static_cast<double>(rows.n[j]);
      t.counts.push_back(std::round(n * rows.exact_mean[j]));
      t.sizes.push_back(n);
    }
  } else {
    io::count_columns c;
    if (app.count("--group") > 0) c.group = a.group;
    c.binomial = binomial;
    c.counts = binomial ? a.successes : a.counts;
    c.sizes = binomial ? a.trials : a.exposure;
    t = io::read_count_table(a.input, c);
  }
  const double parse_seconds = detail::seconds_since(t0);
  count_data_view view;
  view.family = binomial ? count_family::binomial : count_family::poisson;
  view.counts = t.counts.data();
  view.sizes = t.sizes.data();
  view.groups = t.keys.size();
  const count_fit_result r = fit(view, o);
  io::write_counts_csv(csv, t.keys, r, a.threads, a.digits);
  if (json) json->write(io::summary_json(r).dump(2) + "\n");
  outputs.commit();
  if (!a.quiet) print_count_report(r, t.keys, parse_seconds);
}

void run_fit(const fit_args& a, const CLI::App& app)
{
  if (a.family == "binomial" || a.family == "poisson") return run_count_fit(a, app);
  if (a.family != "normal") throw error("unknown --family '" + a.family + "' (choose normal, binomial or poisson)");
  for (const char* count_only : {"--successes", "--trials", "--counts", "--exposure", "--method", "--alpha", "--beta",
                                 "--shape", "--rate", "--mean", "--concentration", "--hyperprior"})
    if (app.count(count_only) > 0)
      throw error(std::string(count_only) + " belongs to --family binomial or poisson (the normal family's estimator is --tau-method)");
  const bool summary_mode = !a.estimate.empty();
  if (summary_mode) {
    if (a.se.empty() == a.variance.empty())
      throw error("summary input needs exactly one of --se NAME or --variance NAME with --estimate");
  } else if (!a.se.empty() || !a.variance.empty()) {
    throw error("--se and --variance describe summary input: give --estimate NAME too");
  }

  if (a.digits < 0 || a.digits > 17) throw error("--digits must be 0 (the shortest exact text) or 1 to 17");
  fit_options o;
  const bool method_given = app.count("--tau-method") > 0;
  o.method = parse_tau_method(method_given ? a.method : (a.tau ? "fixed" : a.method));
  if (o.method == tau_method::fixed) {
    if (!a.tau) throw error("--tau-method fixed needs --tau VALUE");
    o.tau = parse_double(*a.tau, "--tau");
  } else if (a.tau) {
    throw error("--tau applies to --tau-method fixed");
  }
  if (a.sigma) o.sigma = parse_double(*a.sigma, "--sigma");
  o.prior_tau = parse_tau_prior(a.tau_prior);
  o.t_prior_df = parse_group_prior(a.prior);
  o.level = parse_double(a.level, "--level");
  o.max_iterations = a.max_iterations;
  o.requested_backend = parse_backend(a.backend);
  o.threads = a.threads;

  // One input: a CSV file (or stdin), or the binary columns. Anything else is ambiguous.
  const bool binary = !a.group_npy.empty() || !a.value_npy.empty();
  if (binary) {
    if (app.count("input") > 0)
      throw error("the input file '" + a.input + "' and --group-npy/--value-npy are two inputs: give one");
    if (summary_mode) throw error("--estimate reads a CSV of per-group summaries; --group-npy/--value-npy give raw rows: give one");
    if (app.count("--group") > 0 || app.count("--value") > 0)
      throw error("--group and --value name CSV columns: with --group-npy/--value-npy give neither");
  }

  // Outputs are opened first (an unwritable path fails before any work), none of them may be an
  // input or another output, and they are committed together at the end: all or none.
  std::vector<io::named_path> inputs;
  if (binary)
    inputs = {{"--group-npy", a.group_npy}, {"--value-npy", a.value_npy}};
  else
    inputs = {{"the input", a.input}};
  if (a.output.empty()) throw error("-o: give a file name, or - for stdout");
  io::output_set outputs({{"-o", a.output}, {"--summary", a.summary}}, inputs);
  io::atomic_output& csv = *outputs.get("-o");
  io::atomic_output* const json = outputs.get("--summary");

  const auto t0 = std::chrono::steady_clock::now();
  double parse_seconds = 0;
  fit_result r;
  std::vector<std::string> keys;
  if (summary_mode) {
    io::summary_columns c;
    if (app.count("--group") > 0) c.group = a.group;
    c.estimate = a.estimate;
    c.se = a.se.empty() ? a.variance : a.se;
    c.is_variance = !a.variance.empty();
    io::summary_table t = io::read_summary_table(a.input, c);
    parse_seconds = detail::seconds_since(t0);
    r = fit(t.view(), o);
    keys = std::move(t.keys);
  } else if (binary) {
    if (a.group_npy.empty() || a.value_npy.empty()) throw error("binary input needs both --group-npy and --value-npy");
    io::group_table t = io::read_groups_npy(a.group_npy, a.value_npy, a.threads);
    parse_seconds = detail::seconds_since(t0);
    r = fit(t.view(), o);
    keys = std::move(t.keys);
  } else {
    io::group_table t = io::read_groups(a.input, {a.group, a.value}, a.threads);
    parse_seconds = detail::seconds_since(t0);
    r = fit(t.view(), o);
    keys = std::move(t.keys);
  }
  io::write_groups_csv(csv, keys, r, a.threads, a.digits);
  if (json) json->write(io::summary_json(r).dump(2) + "\n");
  outputs.commit();
  if (!a.quiet) print_report(r, keys, parse_seconds, !summary_mode);
}

}  // namespace

command add_fit_command(CLI::App& app)
{
  auto a = std::make_shared<fit_args>();
  CLI::App* sub = app.add_subcommand("fit", "Fit the two-level model to grouped data (CSV/TSV; raw rows or per-group summaries)");
  sub->add_option("input", a->input, "input file, or - for stdin")->capture_default_str();
  sub->add_option("--group", a->group, "group key column")->capture_default_str();
  sub->add_option("--value", a->value, "value column (raw mode)")->capture_default_str();
  sub->add_option("--group-npy", a->group_npy, "raw mode from binary columns: .npy group keys (int32/int64), memory-mapped");
  sub->add_option("--value-npy", a->value_npy, "raw mode from binary columns: .npy values (float64/float32)");
  sub->add_option("--estimate", a->estimate, "per-group estimate column (summary mode)");
  sub->add_option("--se", a->se, "per-group standard error column (summary mode)");
  sub->add_option("--variance", a->variance, "per-group sampling variance column (summary mode)");
  sub->add_option("--tau-method", a->method, "tau^2 estimator: mom, dl, pm, sj, ml, reml, eb, fixed or bayes")->capture_default_str();
  sub->add_option("--tau", a->tau, "known tau (implies --tau-method fixed)");
  sub->add_option("--tau-prior", a->tau_prior, "bayes: prior on tau: uniform, half-cauchy:SCALE or inv-gamma:SHAPE,SCALE (on tau^2)")
    ->capture_default_str();
  sub->add_option("--prior", a->prior, "prior of the group means: normal or t:NU (Student-t, scale by marginal likelihood)")
    ->capture_default_str();
  sub->add_option("--sigma", a->sigma, "known within-group sd (raw mode; default: pooled estimate)");
  sub->add_option("--level", a->level, "coverage of the per-group intervals")->capture_default_str();
  sub->add_option("--max-iterations", a->max_iterations, "pm/ml/reml/eb: most scoring or root-finding steps (count families: Newton steps, default 200)")
    ->capture_default_str();
  sub->add_option("--backend", a->backend, "auto, cpu or cuda")->capture_default_str();
  sub->add_option("--threads", a->threads, "CPU threads (0 = all)")->capture_default_str();
  sub->add_option("-o,--output", a->output, "per-group CSV (- for stdout)")->capture_default_str();
  sub->add_option("--summary", a->summary, "JSON summary file");
  sub->add_option("--digits", a->digits, "significant digits of the per-group CSV (0: the shortest text that reads back exactly)")
    ->capture_default_str();
  sub->add_flag("-q,--quiet", a->quiet, "no report on stderr");
  sub->add_option("--family", a->family,
                  "normal (values, or estimates with se), binomial (successes of trials per group) or poisson (counts over exposures per group)")
    ->capture_default_str();
  sub->add_option("--successes", a->successes, "binomial: per-group successes column");
  sub->add_option("--trials", a->trials, "binomial: per-group trials column");
  sub->add_option("--counts", a->counts, "poisson: per-group counts column");
  sub->add_option("--exposure", a->exposure, "poisson: per-group exposure column (default: 1 for every group)");
  sub->add_option("--method", a->count_method, "binomial/poisson: estimator of the prior: ml, mom, fixed or bayes")->capture_default_str();
  sub->add_option("--hyperprior", a->hyperprior,
                  "--method bayes: \"mean=beta:A,B;concentration=exp:SCALE\" (poisson: mean=gamma:SHAPE,RATE or lognormal:MU,SIGMA)");
  sub->add_option("--alpha", a->alpha, "binomial, --method fixed: the prior Beta(alpha, beta)'s alpha");
  sub->add_option("--beta", a->beta, "binomial, --method fixed: ... and beta");
  sub->add_option("--shape", a->shape, "poisson, --method fixed: the prior Gamma(shape, rate)'s shape (with --rate or --mean)");
  sub->add_option("--rate", a->rate, "poisson, --method fixed: ... and rate");
  sub->add_option("--mean", a->mean, "--method fixed: the prior's mean m (with --concentration, or poisson --shape)");
  sub->add_option("--concentration", a->concentration, "binomial, --method fixed: the concentration nu (alpha = m nu)");
  return [a, sub] { run_fit(*a, *sub); };
}

}  // namespace shrink::cli
