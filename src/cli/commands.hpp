#pragma once
// Each `shrink` subcommand registers itself on the CLI11 app and returns the function that runs it.

#include <CLI/CLI.hpp>

#include <functional>

namespace shrink::cli {

using command = std::function<void()>;

command add_fit_command(CLI::App& app);
command add_generate_command(CLI::App& app);
command add_bench_command(CLI::App& app);
command add_simulate_command(CLI::App& app);

}  // namespace shrink::cli
