#pragma once
// Each `shrink` subcommand registers itself on the CLI11 app and returns the function that runs it.

#include "io/summaries.hpp"

#include <CLI/CLI.hpp>

#include <functional>

namespace shrink::cli {

using command = std::function<void()>;

command add_fit_command(CLI::App& app);
command add_generate_command(CLI::App& app);
command add_bench_command(CLI::App& app);
command add_simulate_command(CLI::App& app);
command add_summarize_command(CLI::App& app);

/// Whether raw rows come from the binary columns (--group-npy and --value-npy, both) rather than
/// the CSV input; throws when the two inputs are mixed (fit and summarize read raw rows alike).
bool binary_input(const io::raw_input& in, const CLI::App& app);

}  // namespace shrink::cli
