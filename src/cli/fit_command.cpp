// `shrink fit`: reads raw rows or per-group summaries, fits the two-level model, writes the
// per-group CSV and the JSON summary, and tells on stderr what the data say.

#include "arguments.hpp"
#include "commands.hpp"

#include "api/numerics.hpp"
#include "io/covariates.hpp"
#include "io/cross_product_fold.hpp"
#include "io/figures.hpp"
#include "io/npy.hpp"
#include "io/output.hpp"
#include "io/summaries.hpp"
#include "io/table_reader.hpp"
#include "io/text_source.hpp"

#include <shrink/counts.hpp>
#include <shrink/error.hpp>
#include <shrink/fit.hpp>
#include <shrink/regression.hpp>

#include <algorithm>
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
  std::string plot, html;
  bool quiet = false;
  int digits = 0;  ///< significant digits of the per-group CSV; 0: the shortest exact text
  // --family binomial|poisson (summary mode: counts per group).
  std::string family = "normal";
  std::string successes, trials, counts, exposure;
  std::string count_method = "ml";
  std::optional<std::string> alpha, beta, shape, rate, mean, concentration;
  std::optional<std::string> mu;  ///< --prior logit-normal|log-normal, --method fixed (with --tau)
  int quadrature_points = 10;  ///< --prior logit-normal|log-normal: Gauss-Hermite nodes per group
  // Shrinking towards predictors (summary mode): theta_j ~ N(x_j' beta + offset_j, tau2).
  std::string covariates, offset;
  bool no_intercept = false;
  std::optional<std::string> hyperprior;  ///< --method bayes
  std::vector<std::string> from_summaries;  ///< parts written by `shrink summarize`, merged in this order
  std::string apply;                        ///< a fit's JSON summary: its hyperparameters, nothing estimated
  fit_hooks hooks;                          ///< in-process use: data from memory, results to the caller
};

/// The per-group table: to the hook when one takes it, else the CSV (`entry_of`: rows with equal
/// fields, formatted once).
void write_groups(const fit_args& a, io::atomic_output& csv, io::key_view keys,
                  const std::vector<io::result_column>& columns, const std::uint32_t* entry_of = nullptr,
                  std::shared_ptr<const void> owner = nullptr)
{
  if (a.hooks.groups)
    a.hooks.groups(keys, columns, std::move(owner));
  else
    io::write_table_csv(csv, keys, columns, a.threads, a.digits, entry_of);
}

std::string g(double x, int digits = 6)
{
  std::ostringstream s;
  s.precision(digits);
  s << x;
  return s.str();
}

void print_report(const fit_result& r, io::key_view keys, double parse_seconds, bool raw)
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
  if (r.prior == count_prior::normal) {
    s << "shrink fit: J = " << r.groups << " groups, " << g(r.total_count, 15)
      << (binomial ? " successes of " : " counts over exposure ") << g(r.total_size, 15) << " ("
      << to_string(r.family, r.prior) << " prior, " << r.quadrature_points << "-point adaptive Gauss-Hermite)\n"
      << "  mu = " << g(r.mu) << ", tau2 = " << g(r.tau2) << " (" << to_string(r.method) << "); log-likelihood " << g(r.log_likelihood, 10)
      << "; LR test of tau2 = 0: " << g(r.overdispersion_statistic) << ", p = " << g(r.overdispersion_p_value, 3) << '\n'
      << "  backend " << to_string(r.used) << ": read " << g(parse_seconds, 3) << " s, fit " << g(r.seconds_total, 3) << " s\n";
  } else {
    s << "shrink fit: J = " << r.groups << " groups, " << g(r.total_count, 15)
      << (binomial ? " successes of " : " counts over exposure ") << g(r.total_size, 15)
      << (binomial ? " trials (binomial, beta prior)\n" : " (poisson, gamma prior)\n")
      << (binomial ? "  Beta(alpha = " : "  Gamma(shape = ") << g(r.a) << (binomial ? ", beta = " : ", rate = ") << g(r.b)
      << "): mean " << g(r.mean) << (binomial ? ", concentration " : ", shape ") << g(r.concentration) << " ("
      << to_string(r.method) << "); complete pooling " << g(r.complete_pooling) << '\n'
      << "  over-dispersion: LR = " << g(r.overdispersion_statistic) << ", p = " << g(r.overdispersion_p_value, 3) << '\n'
      << "  backend " << to_string(r.used) << ": read " << g(parse_seconds, 3) << " s, fit " << g(r.seconds_total, 3) << " s\n";
  }
  const std::size_t shown = std::min<std::size_t>(r.groups, 6);
  s << "  pooling, first " << shown << " groups: group  " << (binomial ? "successes/trials" : "count/exposure")
    << "  no-pooling  complete-pooling  partial-pooling\n";
  for (std::size_t j = 0; j < shown; ++j)
    s << "    " << keys[j] << "  " << g(r.counts[j], 15) << "/" << g(r.sizes[j], 15) << "  " << g(r.rate[j]) << "  "
      << g(r.complete_pooling) << "  " << g(r.estimate[j]) << '\n';
  for (const auto& note : r.notes) s << "  note: " << note << '\n';
  std::cerr << s.str();
}

/// The raw rows the options name (a CSV or the .npy columns).
io::raw_input raw_input_of(const fit_args& a)
{
  return {a.input, a.group, a.value, a.exposure, a.group_npy, a.value_npy};
}

/// The inputs of a fit, for output_set's check that no output is one of them.
std::vector<io::named_path> input_paths(const fit_args& a, bool binary)
{
  std::vector<io::named_path> inputs;
  for (const std::string& part : a.from_summaries) inputs.push_back({"--from-summaries", part});
  if (inputs.empty() && binary) inputs = {{"--group-npy", a.group_npy}, {"--value-npy", a.value_npy}};
  if (inputs.empty()) inputs = {{"the input", a.input}};
  if (!a.apply.empty()) inputs.push_back({"--apply", a.apply});
  return inputs;
}

/// `--from-summaries P1 P2 ...`: the parts read and merged in the order given, their family told
/// by their columns; nothing when the option is absent.
std::optional<io::summary_part> merged_summaries(const fit_args& a, const CLI::App& app)
{
  if (a.from_summaries.empty()) return std::nullopt;
  for (const char* other : {"input", "--group", "--value", "--group-npy", "--value-npy", "--estimate", "--se", "--variance",
                            "--successes", "--trials", "--counts", "--exposure", "--offset", "--no-intercept"})
    if (app.count(other) > 0)
      throw error(std::string(std::string(other) == "input" ? "an input file" : other) +
                  " and --from-summaries: the summaries are the input, with their own columns (see shrink summarize)");
  std::vector<io::summary_part> parts;
  for (const std::string& path : a.from_summaries) parts.push_back(io::read_summaries(path));
  io::summary_part merged = io::merge_summaries(std::move(parts), a.threads);
  const bool covariates = merged.family == io::summary_family::covariates;
  const std::string family = covariates ? "normal" : io::to_string(merged.family);
  if (app.count("--family") > 0 && a.family != family)
    throw error("--family " + a.family + ", but the summaries are of the " + family + " family");
  if (covariates && app.count("--covariates") == 0 && a.apply.empty()) {  // an applied fit names its covariates
    std::string names;
    for (const std::string& c : merged.cross.data.covariates) names += (names.empty() ? "" : ",") + c;
    throw error("the summaries hold covariates (" + names + "): give --covariates with some or all of them");
  }
  if (!covariates && app.count("--covariates") > 0)
    throw error("--covariates: the summaries hold no covariates (summarize the rows with --covariates)");
  return merged;
}

/// `shrink fit --family binomial|poisson`: per-group counts, conjugate prior (`merged`: the
/// merged --from-summaries parts).
void run_count_fit(const fit_args& a, const CLI::App& app, io::summary_part* merged = nullptr)
{
  const bool binomial = a.family == "binomial";
  const std::string family = "--family " + a.family;
  const char* link_normal = binomial ? "logit-normal" : "log-normal";
  // --tau is also the link-normal prior's sd under --method fixed (and with --apply, refused below as
  // one of the prior's options).
  const bool tau_checked_later = (app.count("--prior") > 0 && a.prior == link_normal) || !a.apply.empty();
  for (const char* normal_only : {"--estimate", "--se", "--variance", "--tau-method", "--tau", "--tau-prior", "--sigma"})
    if (app.count(normal_only) > 0 && !(tau_checked_later && std::string(normal_only) == "--tau"))
      throw error(std::string(normal_only) + " belongs to --family normal; " + family + " reads " +
                  (binomial ? "--successes and --trials" : "--counts [and --exposure]"));
  for (const char* other : binomial ? std::vector<const char*>{"--counts", "--exposure", "--shape", "--rate"}
                                    : std::vector<const char*>{"--successes", "--trials", "--alpha", "--beta", "--concentration"})
    if (app.count(other) > 0) throw error(std::string(other) + " does not belong to " + family);
  // Raw rows (--value, or the binary columns: one row per trial, or one count per row) or one row
  // per group.
  const bool binary = binary_input(raw_input_of(a), app);
  const bool raw = binary || app.count("--value") > 0;
  if (raw) {
    for (const char* per_group : {"--successes", "--trials", "--counts"})
      if (app.count(per_group) > 0)
        throw error(std::string("--value reads raw rows, ") + per_group + " one row per group: give one of the two");
  } else if (merged) {
  } else if (binomial && (a.successes.empty() || a.trials.empty())) {
    throw error("--family binomial needs --successes NAME and --trials NAME (one row per group), or --value NAME (raw 0/1 rows)");
  } else if (!binomial && a.counts.empty()) {
    throw error("--family poisson needs --counts NAME (and --exposure NAME, default 1; one row per group), or --value NAME (one count per row)");
  }
  if (a.digits < 0 || a.digits > 17) throw error("--digits must be 0 (the shortest exact text) or 1 to 17");

  count_options o;
  o.method = parse_count_method(a.count_method);
  // --prior: the family's conjugate prior (default) or the normal on the link scale (glmer's GLMM).
  if (app.count("--prior") > 0) {
    if (a.prior == link_normal)
      o.prior = count_prior::normal;
    else if (a.prior != (binomial ? "beta" : "gamma"))
      throw error("unknown --prior '" + a.prior + "' for " + family + " (choose " + (binomial ? "beta" : "gamma") + " or " +
                  link_normal + ")");
  }
  // --apply: the applied fit's prior as --method fixed, at its level (and its rule).
  std::optional<io::count_prior_parameters> applied;
  if (!a.apply.empty()) {
    for (const char* given : {"--prior", "--method", "--alpha", "--beta", "--shape", "--rate", "--mean", "--concentration",
                              "--mu", "--tau", "--quadrature-points", "--hyperprior", "--level", "--plot", "--html"})
      if (app.count(given) > 0)
        throw error(std::string(given) + " and --apply: the applied fit gives the prior and the level (draw figures from that fit)");
    applied = io::read_count_prior_parameters(a.apply, binomial ? count_family::binomial : count_family::poisson);
    o.method = count_method::fixed;
    o.prior = applied->prior;
    o.a = applied->a;
    o.b = applied->b;
    o.quadrature_points = applied->quadrature_points;
  }
  if (app.count("--quadrature-points") > 0) {
    if (o.prior != count_prior::normal)
      throw error(std::string("--quadrature-points applies to --prior ") + (binomial ? "logit-normal" : "log-normal") +
                  " (the conjugate prior's likelihood is exact)");
    if (a.quadrature_points < 1 || a.quadrature_points > 100)
      throw error("--quadrature-points must lie between 1 (Laplace) and 100");
    o.quadrature_points = a.quadrature_points;
  }
  if (o.prior == count_prior::normal && !applied) {
    if (o.method != count_method::ml && o.method != count_method::fixed)
      throw error("--prior " + a.prior + " is fitted by --method ml (maximum likelihood, as glmer) or given by --method fixed");
    if (o.method == count_method::fixed) {
      if (!a.mu || !a.tau) throw error("--prior " + a.prior + " --method fixed needs the prior as --mu M --tau T (the link's mean and sd)");
      o.a = parse_double(*a.mu, "--mu");
      o.b = parse_double(*a.tau, "--tau");
      if (!(o.b >= 0)) throw error("--tau must be >= 0");
    } else if (a.mu || a.tau) {
      throw error("--mu and --tau give the prior of --method fixed");
    }
  } else if (a.mu) {
    throw error(std::string("--mu gives --prior ") + link_normal + " under --method fixed");
  }
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
  if (o.prior == count_prior::normal) {
    if (natural || by_mean || spread)
      throw error(std::string(first_name) + "/" + second_name + "/--mean/" + spread_name + " give the " +
                  (binomial ? "beta" : "gamma") + " prior; --prior " + link_normal + " takes --mu and --tau");
  } else if (!applied && o.method == count_method::fixed) {
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
  o.level = applied ? applied->level : parse_double(a.level, "--level");
  if (app.count("--max-iterations") > 0) o.max_iterations = a.max_iterations;  // else the families' own default
  o.requested_backend = parse_backend(a.backend);
  o.threads = a.threads;

  if (a.output.empty()) throw error("-o: give a file name, or - for stdout");
  io::output_set outputs({{"-o", a.output}, {"--summary", a.summary}, {"--plot", a.plot}, {"--html", a.html}},
                         input_paths(a, binary));
  io::atomic_output& csv = *outputs.get("-o");
  io::atomic_output* const json = outputs.get("--summary");

  const auto t0 = std::chrono::steady_clock::now();
  io::count_table t;
  if (merged) {
    t = std::move(merged->counts);
  } else if (raw) {
    const io::summary_family family = binomial ? io::summary_family::binomial : io::summary_family::poisson;
    t = a.hooks.raw_rows ? io::count_table_of(a.hooks.raw_rows(a.threads, binomial ? io::value_kind::binary : io::value_kind::count))
                         : io::read_raw_summaries(raw_input_of(a), family, a.threads).counts;
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
  write_groups(a, csv, t.keys, io::groups_columns(r), r.entry_of.empty() ? nullptr : r.entry_of.data());
  io::atomic_output *plot = outputs.get("--plot"), *html = outputs.get("--html");
  const io::count_figures figures = io::count_fit_figures(r, view, o, t.keys, plot != nullptr, html != nullptr);
  if (plot) plot->write(figures.svg);
  if (html) html->write(figures.html);
  if (json) json->write(io::summary_json(r).dump(2) + "\n");
  outputs.commit();
  if (!a.quiet) print_count_report(r, t.keys, parse_seconds);
}

/// The three structures side by side on stderr.
std::string structures_report(const structure_comparison& c, const char* title)
{
  std::ostringstream s;
  s << "  structures" << title << ": name  log-likelihood  parameters  AIC  BIC  leave-one-group-out score\n";
  for (const structure_fit& f : c.structures)
    s << "    " << f.name << "  " << g(f.log_likelihood) << "  " << f.parameters << "  " << g(f.aic) << "  " << g(f.bic)
      << "  " << (f.logo_score ? g(*f.logo_score) : std::string("-")) << '\n';
  s << "  LR test of tau2 = 0: " << g(c.lr_statistic) << ", p = " << g(c.lr_p_value, 3) << " (50:50 chi-bar-square)\n";
  s << "  " << c.verdict << '\n';
  return s.str();
}

void print_regression_report(const meta_regression_result& r, const std::vector<std::string>& keys,
                             const std::vector<double>& y, const std::optional<structure_comparison>& with,
                             const std::optional<structure_comparison>& without)
{
  std::ostringstream s;
  s << "shrink fit: J = " << keys.size() << " groups (summary input), meta-regression on " << r.coefficients.size()
    << " coefficients" << (r.applied ? " (applied fit: nothing estimated)" : "") << "\n";
  for (const coefficient& c : r.coefficients)
    if (r.tau_post)
      s << "  " << c.name << " = " << g(c.estimate) << " (posterior sd " << g(c.se) << ", interval " << g(c.lower) << " to "
        << g(c.upper) << ")\n";
    else
      s << "  " << c.name << " = " << g(c.estimate) << " (se " << g(c.se) << ", p = " << g(c.p, 3) << ")\n";
  s << "  tau = " << g(std::sqrt(r.tau2)) << " (" << to_string(r.method) << (r.tau_post ? ": posterior median" : "") << ")";
  if (!r.applied)
    s << ", residual I2 = " << g(r.I2, 4) << "%, QE = " << g(r.QE) << " on " << r.QE_df << " df (p = " << g(r.QE_p, 3)
      << "), QM = " << g(r.QM) << " on " << r.QM_df << " df (p = " << g(r.QM_p, 3) << ")";
  if (r.R2) s << ", R2 = " << g(*r.R2, 4) << "%";
  s << '\n';
  const std::size_t shown = std::min<std::size_t>(keys.size(), 6);
  s << "  first " << shown << " groups: group  no-pooling  regression line  partial-pooling\n";
  for (std::size_t j = 0; j < shown; ++j)
    s << "    " << keys[j] << "  " << g(y[j]) << "  " << g(r.fitted[j]) << "  " << g(r.estimate[j]) << '\n';
  for (const auto& note : r.notes) s << "  note: " << note << '\n';
  if (with) s << structures_report(*with, " with the covariates");
  if (without) s << structures_report(*without, " without them");
  std::cerr << s.str();
}

/// The structures of raw rows without covariates (the group table as cross products of y alone);
/// absent where a structure fits the rows exactly (every group's rows identical), or where the
/// random-intercept ML fit it needs fails: the plain fit does not use that fit, so any failure of
/// it leaves out a diagnostic only.
/// The table's means and sums of squares are taken (no copies: fresh pages cost).
std::optional<structure_comparison> raw_structures(io::group_table&& t, int threads)
{
  group_cross_products d;
  d.groups = t.n.size();
  d.width = 1;
  d.n.assign(t.n.begin(), t.n.end());
  d.mean = std::move(t.mean);
  d.comoment = std::move(t.m2);
  try {
    return compare_structures(d, threads);
  } catch (const error&) {
    return std::nullopt;
  }
}

/// Raw rows with covariates (or the merged summaries of such rows, `merged`): lme4's
/// lmer(y ~ x + (1 | group)) by REML (default) or ML.
void run_mixed_model_fit(const fit_args& a, const CLI::App& app, const fit_options& o, io::summary_part* merged,
                         const random_intercept_parameters* applied = nullptr)
{
  if (a.no_intercept) throw error("--no-intercept: raw mode fits an intercept (lmer's y ~ x + (1 | group))");
  if (a.sigma) throw error("--sigma: raw mode with covariates estimates sigma2 jointly (lmer)");
  const bool method_given = app.count("--tau-method") > 0;
  if (method_given && o.method != tau_method::reml && o.method != tau_method::ml)
    throw error("raw mode with covariates fits --tau-method reml (default) or ml, as lme4's lmer does");
  const bool reml = !method_given || o.method == tau_method::reml;
  const backend use = resolve_backend(o.requested_backend);  // the rows' fold and the sums over groups
  io::output_set outputs({{"-o", a.output}, {"--summary", a.summary}, {"--plot", a.plot}, {"--html", a.html}},
                         input_paths(a, false));
  const auto t0 = std::chrono::steady_clock::now();
  const io::cross_product_table t =
    merged ? io::select_covariates(merged->cross, covariate_names(a.covariates))
           : io::read_cross_products(a.input, a.group, a.value, covariate_names(a.covariates), a.offset, a.threads,
                                     false, use);
  const double read_seconds = detail::seconds_since(t0);
  // The comparison is a diagnostic: where a structure fits the rows exactly (no within-group
  // residual degrees of freedom) it is left out, as for raw rows without covariates, not the fit.
  // An applied fit estimates nothing to compare.
  mixed_model_with_structures fit = applied ? mixed_model_with_structures{apply_mixed_model(t.data, *applied), std::nullopt}
                                            : fit_mixed_model_with_structures(t.data, reml, o.level, use, a.threads);
  mixed_model_result& r = fit.fit;
  const std::optional<structure_comparison>& structures = fit.structures;
  if (applied && merged && t.value != applied->value)
    throw error("--apply: the summaries' y is '" + t.value + "', the applied fit's '" + applied->value + "'");
  r.posterior.value = t.value;
  write_groups(a, *outputs.get("-o"), t.keys, io::groups_columns(r));
  if (io::atomic_output* plot = outputs.get("--plot")) plot->write(io::mixed_model_fit_svg(r, t.data, !a.offset.empty(), t.keys));
  if (io::atomic_output* html = outputs.get("--html")) html->write(io::mixed_model_fit_html(r, t.data, !a.offset.empty(), t.keys));
  if (io::atomic_output* json = outputs.get("--summary")) {
    nlohmann::json j = io::summary_json(r);
    if (structures) j["structures"] = io::structures_json(*structures);
    json->write(j.dump(2) + "\n");
  }
  outputs.commit();
  if (a.quiet) return;
  std::ostringstream s;
  s << "shrink fit: J = " << r.groups << " groups, N = " << g(r.observations, 15) << " observations, random intercept ("
    << (applied ? "applied fit: nothing estimated" : reml ? "REML" : "ML") << ")\n";
  for (const coefficient& c : r.coefficients) s << "  " << c.name << " = " << g(c.estimate) << " (se " << g(c.se) << ")\n";
  s << "  tau = " << g(std::sqrt(r.tau2)) << ", sigma = " << g(std::sqrt(r.sigma2)) << ", log-likelihood "
    << g(r.log_likelihood, 10) << "; backend " << to_string(r.used) << ", read " << g(read_seconds, 3) << " s\n";
  for (const auto& note : r.notes) s << "  note: " << note << '\n';
  if (structures) s << structures_report(*structures, "");
  std::cerr << s.str();
}

/// `shrink fit --estimate ... --covariates ...`: meta-regression (raw rows: run_mixed_model_fit);
/// `applied`: a meta-regression's parameters (--apply), every group's columns under them.
void run_regression_fit(const fit_args& a, const CLI::App& app, const fit_options& o, io::summary_part* merged,
                        const meta_regression_parameters* applied = nullptr)
{
  if (a.digits < 0 || a.digits > 17) throw error("--digits must be 0 (the shortest exact text) or 1 to 17");
  if (a.estimate.empty()) return run_mixed_model_fit(a, app, o, merged);
  std::vector<io::text_column> columns;
  for (const std::string& name : covariate_names(a.covariates)) columns.push_back({name, {}});
  if (!a.offset.empty()) columns.push_back({a.offset, {}});
  io::output_set outputs({{"-o", a.output}, {"--summary", a.summary}, {"--plot", a.plot}, {"--html", a.html}},
                         {{"the input", a.input}});
  io::summary_columns c;
  if (app.count("--group") > 0) c.group = a.group;
  c.estimate = a.estimate;
  c.se = a.se.empty() ? a.variance : a.se;
  c.is_variance = !a.variance.empty();
  const io::summary_table t = io::read_summary_table(a.input, c, columns);

  std::vector<covariate> covariates;
  for (std::size_t i = 0; i + (a.offset.empty() ? 0 : 1) < columns.size(); ++i) {
    covariates.push_back(io::to_covariate(columns[i]));
    // A factor of the applied fit is text here even where this part's labels read as numbers.
    if (applied && !applied->levels[i].empty() && covariates.back().labels.empty()) {
      covariates.back().numbers.clear();
      covariates.back().labels = columns[i].fields;
    }
  }
  const std::vector<double> offset = a.offset.empty() ? std::vector<double>{} : io::to_numbers(columns.back());
  const design_matrix x = applied ? make_applied_design(covariates, t.keys.size(), applied->intercept, applied->levels)
                                  : make_design(covariates, t.keys.size(), !a.no_intercept);
  std::vector<double> v;
  for (double se : t.standard_errors) v.push_back(se * se);
  meta_regression_result r = applied ? apply_meta_regression(t.exact_estimates, v, x, offset, *applied)
                                     : fit_meta_regression(t.exact_estimates, v, x, offset, o);
  if (r.posterior) r.posterior->offset = a.offset;
  // An applied fit estimates nothing to compare.
  std::optional<structure_comparison> with, without;
  if (!applied) {
    with = compare_structures(t.exact_estimates, v, x, offset);
    without = compare_structures(t.exact_estimates, v, intercept_design(v.size()), offset);
  }
  write_groups(a, *outputs.get("-o"), t.keys, io::groups_columns(t.exact_estimates, t.standard_errors, r));
  if (io::atomic_output* plot = outputs.get("--plot"))
    plot->write(io::regression_fit_svg(r, t.exact_estimates, t.standard_errors, x, offset, t.keys));
  if (io::atomic_output* html = outputs.get("--html"))
    html->write(io::regression_fit_html(r, t.exact_estimates, t.standard_errors, x, offset, t.keys));
  if (io::atomic_output* json = outputs.get("--summary")) {
    nlohmann::json j = io::summary_json(r, t.keys.size());
    if (with) j["structures"] = io::structures_json(*with);
    if (without) j["structures_without_covariates"] = io::structures_json(*without);
    json->write(j.dump(2) + "\n");
  }
  outputs.commit();
  if (!a.quiet) print_regression_report(r, t.keys, t.exact_estimates, with, without);
}

/// --apply of a meta-regression (absent for any other --apply): its parameters, with `a`'s
/// covariates and offset set to the fit's (given ones must name the same columns).
std::optional<meta_regression_parameters> applied_meta_regression(fit_args& a, const CLI::App& app, bool merged,
                                                                  io::applied_model model)
{
  if (model != io::applied_model::meta_regression) return std::nullopt;
  meta_regression_parameters h = io::read_meta_regression_parameters(a.apply);
  if (merged || a.estimate.empty())
    throw error("--apply: the applied fit is a meta-regression of per-group estimates; apply it to per-group estimates "
                "(--estimate with --se or --variance)");
  std::string names;
  for (const std::string& name : h.covariates) names += (names.empty() ? "" : ",") + name;
  if (app.count("--covariates") > 0 && covariate_names(a.covariates) != h.covariates)
    throw error("--covariates " + a.covariates + " and --apply: the applied fit's covariates are " + names + ", in that order");
  if (app.count("--offset") > 0 && a.offset != h.offset)
    throw error("--offset " + a.offset + " and --apply: the applied fit's offset is " +
                (h.offset.empty() ? "none" : "'" + h.offset + "'"));
  a.covariates = names;
  a.offset = h.offset;
  return h;
}

/// --apply of a random-intercept fit with covariates (absent for any other --apply): its parameters,
/// with `a`'s covariates and offset set to the fit's (given ones must name the same columns).
std::optional<random_intercept_parameters> applied_random_intercept(fit_args& a, const CLI::App& app, bool merged,
                                                                    io::applied_model model)
{
  if (model != io::applied_model::random_intercept) return std::nullopt;
  random_intercept_parameters h = io::read_random_intercept_parameters(a.apply);
  std::string names;
  for (const std::string& name : h.covariates) names += (names.empty() ? "" : ",") + name;
  if (app.count("--covariates") > 0 && covariate_names(a.covariates) != h.covariates)
    throw error("--covariates " + a.covariates + " and --apply: the applied fit's covariates are " + names + ", in that order");
  // Its y is VALUE or VALUE-OFFSET: the offset is what follows the data's value column and a dash.
  const std::string& y = h.value;
  const std::string prefix = a.value + "-";
  const std::string offset = y.size() > prefix.size() && y.compare(0, prefix.size(), prefix) == 0 ? y.substr(prefix.size()) : "";
  if (!merged && ((app.count("--offset") > 0 && a.offset != offset) || (offset.empty() && y != a.value)))
    throw error("--apply: the applied fit's y is '" + y + "' (VALUE or VALUE-OFFSET); give --value" +
                (offset.empty() ? "" : " and --offset") + " naming those columns");
  if (!a.estimate.empty())
    throw error("--apply: the applied fit is of raw rows with covariates; apply it to raw rows or their summaries, not to "
                "per-group estimates");
  a.covariates = names;
  if (!merged) a.offset = offset;  // summaries hold y less the offset already
  return h;
}

void run_fit(const fit_args& given, const CLI::App& app)
{
  std::optional<io::summary_part> merged = merged_summaries(given, app);
  fit_args a = given;
  a.input = io::stdin_input::adopt(a.input);
  if (merged) a.family = merged->family == io::summary_family::covariates ? "normal" : io::to_string(merged->family);
  if (a.family == "binomial" || a.family == "poisson") return run_count_fit(a, app, merged ? &*merged : nullptr);
  if (a.family != "normal") throw error("unknown --family '" + a.family + "' (choose normal, binomial or poisson)");
  for (const char* count_only : {"--successes", "--trials", "--counts", "--exposure", "--method", "--alpha", "--beta",
                                 "--shape", "--rate", "--mean", "--concentration", "--mu", "--quadrature-points",
                                 "--hyperprior"})
    if (app.count(count_only) > 0)
      throw error(std::string(count_only) + " belongs to --family binomial or poisson (the normal family's estimator is --tau-method)");
  // --apply: which model the applied fit is of, found once; that model's reader then takes its parameters.
  const io::applied_model applied_model = a.apply.empty() ? io::applied_model::plain : io::applied_fit_model(a.apply);
  const std::optional<random_intercept_parameters> applied_covariates =
    applied_random_intercept(a, app, merged.has_value(), applied_model);
  const std::optional<meta_regression_parameters> applied_regression =
    applied_meta_regression(a, app, merged.has_value(), applied_model);
  if (!a.apply.empty() && !applied_covariates && merged && merged->family == io::summary_family::covariates)
    throw error("--apply: the summaries hold covariates, the applied fit has none");
  // --covariates and --offset may repeat an applied fit's own (checked above).
  const bool covariates_applied = applied_covariates || applied_regression;
  if (!a.apply.empty())
    for (const char* estimated : {"--tau-method", "--tau", "--tau-prior", "--prior", "--sigma", "--level", "--covariates",
                                  "--offset", "--no-intercept", "--plot", "--html"})
      if (app.count(estimated) > 0 &&
          !(covariates_applied && (std::string(estimated) == "--covariates" || std::string(estimated) == "--offset")))
        throw error(std::string(estimated) + " and --apply: the applied fit gives the hyperparameters and the level "
                                             "(draw figures from that fit)");
  if (covariates_applied) {
    if (a.output.empty()) throw error("-o: give a file name, or - for stdout");
    fit_options o;
    o.requested_backend = parse_backend(a.backend);
    if (applied_regression) {
      if (a.se.empty() == a.variance.empty()) throw error("summary input needs exactly one of --se NAME or --variance NAME with --estimate");
      resolve_backend(o.requested_backend);  // nothing runs on it, but a backend this build lacks is refused as a fit refuses it
      return run_regression_fit(a, app, o, nullptr, &*applied_regression);
    }
    return run_mixed_model_fit(a, app, o, merged ? &*merged : nullptr, &*applied_covariates);
  }
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
  if (a.hooks.device_resident) {
    if (o.requested_backend == backend::cpu)
      throw error("--backend cpu: the rows are in GPU memory, where the CUDA backend folds them (give backend 'cuda' "
                  "or 'auto', or copy them to host memory)");
    o.requested_backend = backend::cuda;
  }
  o.threads = a.threads;
  if (!a.apply.empty()) {
    o.apply = io::read_posterior_parameters(a.apply);
    o.level = o.apply->level;
  }
  if (app.count("--covariates") > 0 || app.count("--offset") > 0 || a.no_intercept) {
    if (app.count("--covariates") > 0 && a.covariates.empty()) throw error("--covariates: give at least one column name");
    if (!a.group_npy.empty() || !a.value_npy.empty()) throw error("--covariates: .npy input is not available with covariates");
    if (a.output.empty()) throw error("-o: give a file name, or - for stdout");
    return run_regression_fit(a, app, o, merged ? &*merged : nullptr);
  }

  // One input: a CSV file (or stdin), or the binary columns. Anything else is ambiguous.
  const bool binary = binary_input(raw_input_of(a), app);
  if (binary && summary_mode)
    throw error("--estimate reads a CSV of per-group summaries; --group-npy/--value-npy give raw rows: give one");

  // Outputs are opened first (an unwritable path fails before any work), none of them may be an
  // input or another output, and they are committed together at the end: all or none.
  if (a.output.empty()) throw error("-o: give a file name, or - for stdout");
  io::output_set outputs({{"-o", a.output}, {"--summary", a.summary}, {"--plot", a.plot}, {"--html", a.html}},
                         input_paths(a, binary));
  io::atomic_output& csv = *outputs.get("-o");
  io::atomic_output* const json = outputs.get("--summary");

  const auto t0 = std::chrono::steady_clock::now();
  double parse_seconds = 0;
  // The result and its keys, shared with a hook that keeps the per-group columns without a copy.
  struct keyed_result {
    fit_result r;
    io::group_keys keys;
  };
  const auto held = std::make_shared<keyed_result>();
  fit_result& r = held->r;
  io::group_keys& keys = held->keys;
  std::optional<structure_comparison> structures;
  // Only the JSON and the report show them; an applied fit estimates nothing to compare.
  const bool want_structures = (json != nullptr || !a.quiet) && !o.apply;
  if (summary_mode) {
    io::summary_columns c;
    if (app.count("--group") > 0) c.group = a.group;
    c.estimate = a.estimate;
    c.se = a.se.empty() ? a.variance : a.se;
    c.is_variance = !a.variance.empty();
    io::summary_table t = io::read_summary_table(a.input, c);
    parse_seconds = detail::seconds_since(t0);
    r = fit(t.view(), o);
    std::vector<double> v;
    for (double se : t.standard_errors) v.push_back(se * se);
    if (want_structures) structures = compare_structures(t.exact_estimates, v, intercept_design(v.size()), {});
    keys = std::move(t.keys);
  } else {
    // Raw rows (from the input, or from memory through the hook), or the merged summaries of raw
    // rows: the same group table.
    io::group_table t = merged               ? std::move(merged->groups)
                        : a.hooks.raw_rows ? a.hooks.raw_rows(a.threads, io::value_kind::any)
                                           : io::read_raw_summaries(raw_input_of(a), io::summary_family::normal, a.threads).groups;
    parse_seconds = detail::seconds_since(t0);
    r = fit(t.view(), o);
    if (a.hooks.device_resident)
      r.notes.push_back("device-resident input: the rows were folded on the GPU where they lie; only the per-group "
                        "table came to the host");
    keys = std::move(t.keys);
    if (want_structures) structures = raw_structures(std::move(t), a.threads);
  }
  write_groups(a, csv, keys, io::groups_columns(r), nullptr, held);
  if (io::atomic_output* plot = outputs.get("--plot")) plot->write(io::fit_svg(r, keys));
  if (io::atomic_output* html = outputs.get("--html")) html->write(io::fit_html(r, keys));
  if (json) {
    nlohmann::json j = io::summary_json(r);
    if (structures) j["structures"] = io::structures_json(*structures);
    json->write(j.dump(2) + "\n");
  }
  outputs.commit();
  if (!a.quiet) print_report(r, keys, parse_seconds, !summary_mode);
  if (!a.quiet && structures) std::cerr << structures_report(*structures, "");
}

}  // namespace

bool binary_input(const io::raw_input& in, const CLI::App& app)
{
  if (in.group_npy.empty() && in.value_npy.empty()) return false;
  if (in.group_npy.empty() || in.value_npy.empty()) throw error("binary input needs both --group-npy and --value-npy");
  if (app.count("input") > 0)
    throw error("the input file '" + in.path + "' and --group-npy/--value-npy are two inputs: give one");
  if (app.count("--group") > 0 || app.count("--value") > 0)
    throw error("--group and --value name CSV columns: with --group-npy/--value-npy give neither");
  return true;
}

std::vector<std::string> covariate_names(const std::string& list)
{
  std::vector<std::string> names;
  std::string rest = list;
  while (!list.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string name = rest.substr(0, comma);
    if (name.empty()) throw error("--covariates: an empty column name in '" + list + "'");
    if (std::find(names.begin(), names.end(), name) != names.end()) throw error("--covariates names '" + name + "' twice");
    names.push_back(name);
    if (comma == std::string::npos) break;
    rest = rest.substr(comma + 1);
  }
  return names;
}

command add_fit_command(CLI::App& app) { return add_fit_command(app, {}); }

command add_fit_command(CLI::App& app, fit_hooks hooks)
{
  auto a = std::make_shared<fit_args>();
  a->hooks = std::move(hooks);
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
  sub->add_option("--tau", a->tau,
                  "known tau (implies --tau-method fixed); --prior logit-normal|log-normal, --method fixed: the sd of the link's normal prior");
  sub->add_option("--tau-prior", a->tau_prior, "bayes: prior on tau: uniform, half-cauchy:SCALE or inv-gamma:SHAPE,SCALE (on tau^2)")
    ->capture_default_str();
  sub->add_option("--prior", a->prior,
                  "prior of the group means: normal or t:NU (Student-t, scale by marginal likelihood); binomial: beta or "
                  "logit-normal; poisson: gamma or log-normal")
    ->capture_default_str();
  sub->add_option("--sigma", a->sigma, "known within-group sd (raw mode; default: pooled estimate)");
  sub->add_option("--level", a->level, "coverage of the per-group intervals")->capture_default_str();
  sub->add_option("--max-iterations", a->max_iterations, "pm/ml/reml/eb: most scoring or root-finding steps (count families: Newton steps, default 200)")
    ->capture_default_str();
  sub->add_option("--backend", a->backend, "auto, cpu or cuda")->capture_default_str();
  sub->add_option("--threads", a->threads, "CPU threads (0 = all)")->capture_default_str();
  sub->add_option("-o,--output", a->output, "per-group CSV (- for stdout)")->capture_default_str();
  sub->add_option("--summary", a->summary, "JSON summary file");
  sub->add_option("--plot", a->plot, "SVG: shrinkage plot, forest plot and the likelihood of the prior's spread");
  sub->add_option("--html", a->html, "the same figure in an interactive page: a tau slider moves every posterior");
  sub->add_option("--digits", a->digits, "significant digits of the per-group CSV (0: the shortest text that reads back exactly)")
    ->capture_default_str();
  sub->add_flag("-q,--quiet", a->quiet, "no report on stderr");
  sub->add_option("--family", a->family,
                  "normal (values, or estimates with se), binomial (successes of trials per group) or poisson (counts over exposures per group)")
    ->capture_default_str();
  sub->add_option("--successes", a->successes, "binomial: per-group successes column");
  sub->add_option("--trials", a->trials, "binomial: per-group trials column");
  sub->add_option("--counts", a->counts, "poisson: per-group counts column");
  sub->add_option("--exposure", a->exposure, "poisson: exposure column, per group or (raw rows, --value) per row (default: 1)");
  sub->add_option("--method", a->count_method, "binomial/poisson: estimator of the prior: ml, mom, fixed or bayes")->capture_default_str();
  sub->add_option("--hyperprior", a->hyperprior,
                  "--method bayes: \"mean=beta:A,B;concentration=exp:SCALE\" (poisson: mean=gamma:SHAPE,RATE or lognormal:MU,SIGMA)");
  sub->add_option("--alpha", a->alpha, "binomial, --method fixed: the prior Beta(alpha, beta)'s alpha");
  sub->add_option("--beta", a->beta, "binomial, --method fixed: ... and beta");
  sub->add_option("--shape", a->shape, "poisson, --method fixed: the prior Gamma(shape, rate)'s shape (with --rate or --mean)");
  sub->add_option("--rate", a->rate, "poisson, --method fixed: ... and rate");
  sub->add_option("--mean", a->mean, "--method fixed: the prior's mean m (with --concentration, or poisson --shape)");
  sub->add_option("--concentration", a->concentration, "binomial, --method fixed: the concentration nu (alpha = m nu)");
  sub->add_option("--mu", a->mu,
                  "--prior logit-normal|log-normal, --method fixed: the mean of the link's normal prior (logit or log rate; "
                  "poisson: per unit of exposure), with --tau");
  sub->add_option("--quadrature-points", a->quadrature_points,
                  "--prior logit-normal|log-normal: adaptive Gauss-Hermite nodes per group (1 = Laplace, as glmer's nAGQ; 1 to 100)")
    ->capture_default_str();
  sub->add_option("--covariates", a->covariates,
                  "comma-separated covariate columns: shrink towards x' beta (numbers as they are; text: a factor, treatment contrasts)");
  sub->add_option("--offset", a->offset, "column of known shifts of each group's prior mean");
  sub->add_flag("--no-intercept", a->no_intercept, "no intercept in the regression on --covariates");
  sub->add_option("--from-summaries", a->from_summaries,
                  "fit the merge of summaries files written by shrink summarize (merged in the order given)")
    ->expected(1, -1);
  sub->add_option("--apply", a->apply,
                  "a fit's --summary JSON: every group's posterior under its mu (or coefficients and covariates), tau2, sigma2 "
                  "and level, or a count fit's prior (nothing estimated; scores new groups or one part of the data)");
  return [a, sub] { run_fit(*a, *sub); };
}

}  // namespace shrink::cli
