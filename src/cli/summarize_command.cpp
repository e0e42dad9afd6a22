// `shrink summarize`: raw rows to one row of sufficient statistics per group, the mergeable
// summaries that `shrink fit --from-summaries` merges and fits (src/io/summaries.hpp).

#include "commands.hpp"

#include "io/output.hpp"
#include "io/summaries.hpp"

#include <shrink/error.hpp>

#include <iostream>
#include <memory>
#include <sstream>

namespace shrink::cli {
namespace {

struct summarize_args {
  io::raw_input input;
  std::string family = "normal";
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
  if (a.output.empty()) throw error("-o: give a file name, or - for stdout");
  const bool binary = binary_input(a.input, app);
  std::vector<io::named_path> inputs{{"the input", a.input.path}};
  if (binary) inputs = {{"--group-npy", a.input.group_npy}, {"--value-npy", a.input.value_npy}};
  io::output_set outputs({{"-o", a.output}}, inputs);
  const io::summary_part part = io::read_raw_summaries(a.input, family, a.threads);
  io::write_summaries(*outputs.get("-o"), part, a.threads);
  outputs.commit();
  if (a.quiet) return;
  std::ostringstream s;
  s << "shrink summarize: "
    << (family == io::summary_family::normal ? part.groups.keys.size() : part.counts.keys.size()) << " groups ("
    << io::to_string(family);
  if (family == io::summary_family::normal) s << ", " << part.groups.rows << " rows";
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
  sub->add_option("-o,--output", a->output, "summaries CSV (- for stdout)")->capture_default_str();
  sub->add_option("--threads", a->threads, "CPU threads (0 = all)")->capture_default_str();
  sub->add_flag("-q,--quiet", a->quiet, "no report on stderr");
  return [a, sub] { run_summarize(*a, *sub); };
}

}  // namespace shrink::cli
