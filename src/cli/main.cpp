// `shrink`: hierarchical shrinkage of grouped data. Errors become one line on stderr and exit 1.

#include "commands.hpp"

#include "cpu/simd_level.hpp"
#include "io/output.hpp"

#include <shrink/error.hpp>

#include <iostream>
#include <limits>
#include <map>
#include <new>
#include <string>

#include <malloc.h>

namespace {

/// An error message as one printable line: control characters (a newline, an escape sequence
/// from a file name or an option value) shown as \xNN, and at most 1000 characters.
std::string printable(std::string_view message)
{
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (const char ch : message.substr(0, 1000)) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
  if (message.size() > 1000) out += "...";
  return out;
}

}  // namespace

int main(int argc, char** argv)
{
  // Temporary output files are removed when shrink is interrupted, and a truncated mapped input
  // is an error rather than a crash.
  shrink::io::install_signal_handlers();
  // Memory a stage frees (the fold's accumulators and row buckets: ~90 MB at 1e6 groups) serves
  // the next stage's columns instead of going back to the kernel and coming again as fresh pages,
  // which it zeroes (at 1-2.5 GB/s on a VM: a tenth of a fit's CPU): glibc maps no allocation on
  // its own and keeps the heap's free top. A run ends soon after its peak anyway.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());

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
  add(shrink::cli::add_summarize_command);

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
    std::cerr << "shrink: error: " << printable(e.what()) << " (see shrink --help)\n";
    return 1;
  }
  try {
    // SHRINK_SIMD is read here, on this thread: a bad value is this one-line error, not an
    // exception in a worker thread.
    (void)shrink::detail::simd_level_requested();
    for (auto& [sub, run] : commands)
      if (sub->parsed()) run();
    // Output printed to stdout (bench's table, a CSV on "-") counts only once it is out: a full
    // disk or a closed pipe is an error, not exit 0.
    shrink::io::flush_stdout();
  } catch (const std::bad_alloc&) {
    std::cerr << "shrink: error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "shrink: error: " << printable(e.what()) << '\n';
    return 1;
  }
  return 0;
}
