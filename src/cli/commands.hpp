#pragma once
// Each `shrink` subcommand registers itself on the CLI11 app and returns the function that runs it.

#include "io/output.hpp"
#include "io/summaries.hpp"
#include "io/table_reader.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace shrink::cli {

using command = std::function<void()>;

/// What another program running `shrink fit` in its own process (the Python package) puts in
/// place of the files: each hook, when set, replaces that reading or writing.
struct fit_hooks {
  /// Raw rows (the --value modes) from memory instead of the input file: the folded table, read
  /// with `threads` and values checked as `kind`.
  std::function<io::group_table(int threads, io::value_kind kind)> raw_rows;
  /// The rows of `raw_rows` are in GPU memory and folded there: the fit runs on the CUDA backend
  /// (--backend cpu is refused) and its notes say so.
  bool device_resident = false;
  /// Takes the per-group table instead of the CSV of -o. `owner`, where not null, holds the memory
  /// `keys` and `columns` point into: kept, it keeps them valid (a binding uses them without a copy).
  std::function<void(io::key_view keys, const std::vector<io::result_column>& columns,
                     std::shared_ptr<const void> owner)>
    groups;
};

command add_fit_command(CLI::App& app);
command add_fit_command(CLI::App& app, fit_hooks hooks);
command add_generate_command(CLI::App& app);
command add_bench_command(CLI::App& app);
command add_simulate_command(CLI::App& app);
command add_summarize_command(CLI::App& app);

/// Whether raw rows come from the binary columns (--group-npy and --value-npy, both) rather than
/// the CSV input; throws when the two inputs are mixed (fit and summarize read raw rows alike).
bool binary_input(const io::raw_input& in, const CLI::App& app);

/// The names in a comma-separated --covariates list (each once; an empty name is an error).
std::vector<std::string> covariate_names(const std::string& list);

}  // namespace shrink::cli
