// `shrink bench`: each stage of a fit (group summaries, tau reductions, posteriors) timed on the
// same in-memory data on the CPU backend (all threads) and on the GPU (device time of the stage
// with the rows already on the device, and end to end with the transfers), with the ratios and
// the GPU's achieved bandwidth as a fraction of a measured device-to-device copy. The GPU's
// columns are checked against the CPU's before the table is printed.

#include "arguments.hpp"
#include "commands.hpp"

#include "api/group_engine.hpp"
#include "cpu/parallel.hpp"
#include "cuda/bench.hpp"
#include "io/output.hpp"

#include <shrink/backend.hpp>
#include <shrink/config.hpp>
#include <shrink/error.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#if SHRINK_HAS_CUDA
#include "cuda/cuda_backend.hpp"
#endif

namespace shrink::cli {
namespace {

struct bench_args {
  std::string rows = "1e7";
  std::string groups = "1e5";
  std::string seed = "1";
  int threads = 0;
  int repeat = 3;
  bool sorted = false;
  bool cpu_only = false;
};

std::uint64_t splitmix(std::uint64_t x)
{
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// A standard normal from a counter (Box-Muller on two hashed uniforms): rows are generated in
/// parallel and the data depend on the seed alone.
double normal_at(std::uint64_t seed, std::uint64_t i)
{
  const std::uint64_t a = splitmix(seed ^ splitmix(2 * i)), b = splitmix(seed ^ splitmix(2 * i + 1));
  const double u1 = (static_cast<double>(a >> 11) + 0.5) * 0x1.0p-53;
  const double u2 = (static_cast<double>(b >> 11) + 0.5) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

struct bench_data {
  std::vector<std::int32_t> ids;
  std::vector<double> y;
  std::size_t groups = 0;
  raw_data_view view() const { return {ids.data(), y.data(), y.size(), groups, 0}; }
};

/// theta_j ~ N(0, 1), y ~ N(theta_j, 2^2); ids uniform (unsorted) or in equal consecutive runs.
bench_data generate(std::size_t rows, std::size_t groups, std::uint64_t seed, bool sorted, int threads)
{
  bench_data d;
  d.groups = groups;
  d.ids.resize(rows);
  d.y.resize(rows);
  std::vector<double> theta(groups);
  for (std::size_t j = 0; j < groups; ++j) theta[j] = normal_at(seed + 1, j);
  detail::for_each_block(rows, std::size_t{1} << 20, detail::thread_count(threads),
                         [&](std::size_t begin, std::size_t end, std::size_t) {
                           for (std::size_t i = begin; i < end; ++i) {
                             const std::size_t g = sorted ? static_cast<std::size_t>((static_cast<unsigned __int128>(i) * groups) / rows)
                                                          : splitmix(seed ^ (i * 0xd1b54a32d192ed03ULL)) % groups;
                             d.ids[i] = static_cast<std::int32_t>(g);
                             d.y[i] = theta[g] + 2.0 * normal_at(seed, i);
                           }
                         });
  return d;
}

using clock_type = std::chrono::steady_clock;

template <class Work>
double best_ms(int repeats, Work&& work)
{
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = clock_type::now();
    work();
    best = std::min(best, std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
  }
  return best;
}

struct cpu_times {
  double summarize = 0, tau = 0, posterior = 0;
  fit_result columns;
};

cpu_times bench_cpu(const raw_data_view& v, int threads, int repeats)
{
  cpu_times t;
  std::unique_ptr<detail::group_engine> engine;
  t.summarize = best_ms(repeats, [&] {
    engine.reset();
    engine = detail::make_cpu_engine(v, threads);
  });
  detail::posterior_params p;
  t.tau = best_ms(repeats, [&] { p = detail::tau_stage(*engine); });
  t.posterior = best_ms(repeats, [&] { engine->posteriors(p, t.columns); });
  return t;
}

/// Largest |gpu - cpu| over a location column, relative to the column's magnitude.
double max_relative_difference(const std::vector<double>& cpu, const std::vector<double>& gpu)
{
  if (cpu.size() != gpu.size()) return std::numeric_limits<double>::infinity();
  double scale = 0, diff = 0;
  for (std::size_t j = 0; j < cpu.size(); ++j) {
    scale = std::max(scale, std::fabs(cpu[j]));
    diff = std::max(diff, std::fabs(cpu[j] - gpu[j]));
  }
  return scale > 0 ? diff / scale : diff;
}

std::string fmt(const char* format, double x)
{
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

void run_bench(const bench_args& a)
{
  const double rows_given = parse_double(a.rows, "--rows"), groups_given = parse_double(a.groups, "--groups");
  if (!(rows_given >= 1 && rows_given <= 9e15)) throw error("--rows must be between 1 and 9e15");
  if (!(groups_given >= 2 && groups_given <= 2147483647.0)) throw error("--groups must be between 2 and 2^31-1");
  if (a.repeat < 1) throw error("--repeat must be at least 1");
  const std::uint64_t seed = parse_seed(a.seed);
  const auto rows = static_cast<std::size_t>(std::llround(rows_given));
  const auto groups = static_cast<std::size_t>(std::llround(groups_given));
  // The tau stage needs within-group variance: some group must get two rows or more.
  if (rows <= groups) throw error("--rows must exceed --groups (the fit needs groups with at least two rows)");
  const int threads = detail::thread_count(a.threads);
  // Rows (12 B) twice, the CPU summaries sorting a copy, and about 200 B per group of tables
  // and columns: say so before allocating rather than fail with an allocation error.
  require_memory(24.0 * static_cast<double>(rows) + 200.0 * static_cast<double>(groups), rows);

  std::printf("shrink bench: %zu rows (int32 key + float64 value), %zu groups, %s, seed %llu, best of %d\n", rows, groups,
              a.sorted ? "sorted by group" : "unsorted", static_cast<unsigned long long>(seed), a.repeat);
  io::flush_stdout();  // an unwritable stdout fails now, not after the work
  const bench_data data = generate(rows, groups, seed, a.sorted, threads);
  const cpu_times cpu = bench_cpu(data.view(), threads, a.repeat);
  std::printf("CPU backend: %d threads\n", threads);

  const char* stage_names[] = {"summaries", "tau reductions", "posteriors"};
  const double cpu_ms[] = {cpu.summarize, cpu.tau, cpu.posterior};
  const double bytes[] = {detail::summary_bytes(rows), detail::tau_bytes(groups), detail::posterior_bytes(groups)};

  bool gpu = false;
  std::string absent_reason = "this build of shrink has no CUDA backend (SHRINK_ENABLE_CUDA=OFF)";
#if SHRINK_HAS_CUDA
  detail::gpu_bench_result g;
  if (a.cpu_only) {
    absent_reason = "skipped (--cpu-only)";
  } else if (!detail::cuda_device_usable()) {
    absent_reason = "no usable CUDA GPU on this machine";
  } else {
    g = detail::bench_cuda(data.view(), a.repeat);
    gpu = true;
  }
#endif

  if (!gpu) {
    std::printf("GPU: absent: %s\n\n", absent_reason.c_str());
    std::printf("%-16s %12s\n", "stage", "CPU ms");
    double total = 0;
    for (int s = 0; s < 3; ++s) {
      std::printf("%-16s %12.3f\n", stage_names[s], cpu_ms[s]);
      total += cpu_ms[s];
    }
    std::printf("%-16s %12.3f\n", "fit (sum)", total);
    return;
  }

#if SHRINK_HAS_CUDA
  std::printf("GPU: %s; device-to-device copy %.1f GB/s (read + write), pinned host-to-device %.1f GB/s\n",
              g.device.c_str(), g.copy_gbs, g.h2d_gbs);
  std::printf("summaries: %zu chunk(s) of up to %zu rows, %zu already grouped (sort skipped)\n", g.chunks, g.chunk_rows,
              g.sorted_chunks);
  std::printf("validation: max |GPU - CPU| / max |CPU| on the partial-pooling estimates: %.3g, on the group means: %.3g\n\n",
              max_relative_difference(cpu.columns.estimate, g.columns.estimate),
              max_relative_difference(cpu.columns.mean, g.columns.mean));
  const double kernel_ms[] = {g.summarize.kernel_ms, g.tau.kernel_ms, g.posterior.kernel_ms};
  const double e2e_ms[] = {g.summarize.end_to_end_ms, g.tau.end_to_end_ms, g.posterior.end_to_end_ms};
  std::printf("%-16s %12s %14s %14s %11s %11s %10s %8s\n", "stage", "CPU ms", "GPU kernel ms", "GPU e2e ms",
              "CPU/kernel", "CPU/e2e", "GPU GB/s", "of copy");
  double totals[3] = {0, 0, 0};
  for (int s = 0; s < 3; ++s) {
    const double gbs = bytes[s] / (kernel_ms[s] * 1e6);
    std::printf("%-16s %12.3f %14.3f %14.3f %11s %11s %10.1f %7.1f%%\n", stage_names[s], cpu_ms[s], kernel_ms[s],
                e2e_ms[s], fmt("%.1fx", cpu_ms[s] / kernel_ms[s]).c_str(), fmt("%.1fx", cpu_ms[s] / e2e_ms[s]).c_str(),
                gbs, 100.0 * gbs / g.copy_gbs);
    totals[0] += cpu_ms[s];
    totals[1] += kernel_ms[s];
    totals[2] += e2e_ms[s];
  }
  std::printf("%-16s %12.3f %14.3f %14.3f %11s %11s\n", "fit (sum)", totals[0], totals[1], totals[2],
              fmt("%.1fx", totals[0] / totals[1]).c_str(), fmt("%.1fx", totals[0] / totals[2]).c_str());
  std::printf("\nkernel: rows already on the device; e2e: from host memory, with transfers (PCIe-bound for summaries).\n"
              "bandwidth: the least bytes each stage must move (summaries: 12 B/row read once) over its kernel time.\n");
#endif
}

}  // namespace

command add_bench_command(CLI::App& app)
{
  auto a = std::make_shared<bench_args>();
  CLI::App* sub = app.add_subcommand("bench", "Time each fit stage on the CPU backend and the GPU on generated data");
  sub->add_option("--rows", a->rows, "rows to generate (e.g. 1e8)")->capture_default_str();
  sub->add_option("--groups", a->groups, "groups (e.g. 1e6)")->capture_default_str();
  sub->add_option("--seed", a->seed, "random seed: an integer from 0 to 2^64-1")->capture_default_str();
  sub->add_option("--threads", a->threads, "CPU threads (0 = all)")->capture_default_str();
  sub->add_option("--repeat", a->repeat, "timed runs per stage; the best is reported")->capture_default_str();
  sub->add_flag("--sorted", a->sorted, "rows grouped by key (the summary stage skips its sort)");
  sub->add_flag("--cpu-only", a->cpu_only, "time the CPU backend only");
  return [a] { run_bench(*a); };
}

}  // namespace shrink::cli
