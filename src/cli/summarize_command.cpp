// `shrink summarize`: raw rows to one row of sufficient statistics per group, the mergeable
// summaries that `shrink fit --from-summaries` merges and fits (src/io/summaries.hpp).

#include "commands.hpp"

#include "io/output.hpp"
#include "io/summaries.hpp"
#include "io/text_source.hpp"

#include <shrink/error.hpp>

#include <iostream>
#include <memory>
#include <sstream>

namespace shrink::cli {
namespace {

struct summarize_args {
  io::raw_input input;
  std::string family = "normal";
  std::string covariates;  ///< --covariates: a comma list (the normal family's cross products)
  std::vector<std::string> parts;  ///< --from-summaries: merge these summaries files instead
  std::string output = "-";
  int threads = 0;
  bool quiet = false;
};

void run_summarize(const summarize_args& a, const CLI::App& app)
{
  io::summary_family family;
  if (a.family == "normal")
    family = io::summary_family::normal;
  else if (a.family == "binomial")
    family = io::summary_family::binomial;
  else if (a.family == "poisson")
    family = io::summary_family::poisson;
  else
    throw error("unknown --family '" + a.family + "' (choose normal, binomial or poisson)");
  if (!a.input.exposure.empty() && family != io::summary_family::poisson)
    throw error("--exposure belongs to --family poisson (a per-row exposure column)");
  io::raw_input input = a.input;
  input.path = io::stdin_input::adopt(input.path);
  if (app.count("--covariates") > 0) {
    input.covariates = covariate_names(a.covariates);
    if (input.covariates.empty()) throw error("--covariates: give at least one column name");
  }
  if (a.output.empty()) throw error("-o: give a file name, or - for stdout");
  const bool merging = !a.parts.empty();
  std::vector<io::named_path> inputs;
  if (merging) {
    for (const char* raw : {"input", "--group-npy", "--value-npy", "--exposure", "--covariates", "--offset"})
      if (app.count(raw) > 0)
        throw error("--from-summaries merges summaries files: give no raw input (input, --group-npy, --value-npy, --exposure, "
                    "--covariates, --offset)");
    for (const std::string& p : a.parts) inputs.push_back({"--from-summaries", p});
  } else if (binary_input(input, app)) {
    inputs = {{"--group-npy", input.group_npy}, {"--value-npy", input.value_npy}};
  } else {
    inputs = {{"the input", input.path}};
  }
  io::output_set outputs({{"-o", a.output}}, inputs);
  io::summary_part part;
  if (merging) {
    // A stage of a tree merge (Dask, Spark): the parts merged in the order given, written back as
    // one part. The family is the parts' own; --family, when given, must agree.
    std::vector<io::summary_part> parts;
    for (const std::string& p : a.parts) parts.push_back(io::read_summaries(p));
    part = io::merge_summaries(std::move(parts), a.threads);
    const bool agrees = part.family == family || (part.family == io::summary_family::covariates && family == io::summary_family::normal);
    if (app.count("--family") && !agrees)
      throw error(std::string("--family ") + a.family + ": the summaries are " + io::to_string(part.family));
    family = part.family;
  } else {
    part = io::read_raw_summaries(input, family, a.threads);
    family = part.family;
  }
  io::write_summaries(*outputs.get("-o"), part, a.threads);
  outputs.commit();
  if (a.quiet) return;
  std::ostringstream s;
  const std::size_t groups = family == io::summary_family::normal       ? part.groups.keys.size()
                             : family == io::summary_family::covariates ? part.cross.keys.size()
                                                                         : part.counts.keys.size();
  s << "shrink summarize: " << groups << " groups (" << io::to_string(family);
  if (family == io::summary_family::normal) s << ", " << part.groups.rows << " rows";
  if (family == io::summary_family::covariates) {
    double rows = 0;
    for (const double n : part.cross.data.n) rows += n;
    s << ", " << part.cross.data.covariates.size() << " covariates, " << static_cast<std::uint64_t>(rows) << " rows";
  }
  s << ")\n";
  std::cerr << s.str();
}

}  // namespace

command add_summarize_command(CLI::App& app)
{
  auto a = std::make_shared<summarize_args>();
  a->input.allow_empty = true;  // an empty partition of the rows is an empty part
  CLI::App* sub = app.add_subcommand(
    "summarize", "Raw rows to per-group sufficient statistics (mergeable summaries for shrink fit --from-summaries)");
  sub->add_option("input", a->input.path, "input file (CSV/TSV), or - for stdin")->capture_default_str();
  sub->add_option("--group", a->input.group, "group key column")->capture_default_str();
  sub->add_option("--value", a->input.value, "value column")->capture_default_str();
  sub->add_option("--group-npy", a->input.group_npy, "binary input: .npy group keys (int32/int64)");
  sub->add_option("--value-npy", a->input.value_npy, "binary input: .npy values (float64/float32)");
  sub->add_option("--family", a->family, "normal (values), binomial (0/1 per row) or poisson (a count per row)")
    ->capture_default_str();
  sub->add_option("--exposure", a->input.exposure, "poisson: per-row exposure column (default: 1 per row)");
  sub->add_option("--covariates", a->covariates,
                  "comma-separated numeric covariate columns: per-group cross products for shrink fit --covariates");
  sub->add_option("--offset", a->input.offset, "with --covariates: a column subtracted from the value");
  sub->add_option("--from-summaries", a->parts, "merge these summaries files (in this order) into one, in place of raw input")
    ->expected(1, -1);
  sub->add_option("-o,--output", a->output, "summaries CSV (- for stdout)")->capture_default_str();
  sub->add_option("--threads", a->threads, "CPU threads (0 = all)")->capture_default_str();
  sub->add_flag("-q,--quiet", a->quiet, "no report on stderr");
  return [a, sub] { run_summarize(*a, *sub); };
}

}  // namespace shrink::cli
