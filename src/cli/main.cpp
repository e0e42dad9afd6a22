// `shrink`: hierarchical shrinkage of grouped data. Errors become one line on stderr and exit 1.

#include "commands.hpp"

#include <shrink/error.hpp>

#include <iostream>
#include <map>

int main(int argc, char** argv)
{
  CLI::App app{"shrink: GPU-accelerated hierarchical (partial-pooling) shrinkage of grouped data"};
  app.require_subcommand(1);
  std::map<CLI::App*, shrink::cli::command> commands;
  auto add = [&](shrink::cli::command (*add_command)(CLI::App&)) {
    const std::size_t before = app.get_subcommands({}).size();
    shrink::cli::command run = add_command(app);
    commands[app.get_subcommands({}).at(before)] = std::move(run);
  };
  add(shrink::cli::add_fit_command);
  add(shrink::cli::add_generate_command);
  add(shrink::cli::add_bench_command);
  add(shrink::cli::add_simulate_command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, like every other error.
    std::cerr << "shrink: error: " << e.what() << " (see shrink --help)\n";
    return 1;
  }
  try {
    for (auto& [sub, run] : commands)
      if (sub->parsed()) run();
  } catch (const std::exception& e) {
    std::cerr << "shrink: error: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
