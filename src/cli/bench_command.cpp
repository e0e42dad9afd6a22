// `shrink bench`: each stage of a fit (group summaries, tau reductions, posteriors) timed on the
// same rows on the CPU backend (all threads) and on the GPU (device time of the stage with the
// rows already on the device, and end to end from host memory with the transfers), with the
// ratios and the GPU's achieved bandwidth as a fraction of a measured device-to-device copy. The
// rows are generated, or read from .npy columns (memory-mapped, as `shrink fit` reads them). The
// GPU's columns are checked against the CPU's, and the device-rows engine against the host-rows
// one, before the table is printed; --gpu-only skips the CPU baseline (rows too many for it).

#include "arguments.hpp"
#include "bench_covariates.hpp"
#include "commands.hpp"

#include "api/group_engine.hpp"
#include "cpu/parallel.hpp"
#include "cuda/bench.hpp"
#include "io/npy.hpp"
#include "io/output.hpp"

#include <shrink/backend.hpp>
#include <shrink/config.hpp>
#include <shrink/error.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
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
  std::string group_npy, value_npy;  ///< rows from .npy columns instead of generated ones
  int threads = 0;
  int repeat = 3;
  bool sorted = false;
  bool cpu_only = false;
  bool gpu_only = false;
  std::size_t covariates = 0;  ///< > 0: the random-intercept fit with that many covariates instead
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

/// The rows a benchmark times: owned (generated or converted), or the mapped .npy columns used
/// in place.
struct bench_data {
  std::vector<std::int32_t> ids;
  std::vector<double> y;
  std::optional<io::npy_column> key_column, value_column;
  const std::int32_t* id_data = nullptr;
  const double* y_data = nullptr;
  std::size_t rows = 0, groups = 0;
  std::string description;  ///< where the rows come from, for the header line
  raw_data_view view() const { return {id_data, y_data, rows, groups, 0}; }
};

/// theta_j ~ N(0, 1), y ~ N(theta_j, 2^2); ids uniform (unsorted) or in equal consecutive runs.
bench_data generate(std::size_t rows, std::size_t groups, std::uint64_t seed, bool sorted, int threads)
{
  bench_data d;
  d.groups = groups;
  d.rows = rows;
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
  d.id_data = d.ids.data();
  d.y_data = d.y.data();
  return d;
}

const char* dtype_name(io::npy_dtype t)
{
  switch (t) {
    case io::npy_dtype::int32: return "int32";
    case io::npy_dtype::int64: return "int64";
    case io::npy_dtype::float32: return "float32";
    case io::npy_dtype::float64: return "float64";
  }
  return "?";
}

/// Rows from a key column (int32 or int64) and a value column (float64 or float32) of equal
/// length, checked as `shrink fit` checks them (finite values). Groups are the distinct keys in
/// increasing order, as in `shrink fit`'s output: keys that are already the ids 0..J-1 (int32)
/// and float64 values are used in place, in the mapped files; other columns are converted.
bench_data read_npy(const std::string& key_path, const std::string& value_path, int threads)
{
  bench_data d;
  d.key_column.emplace(key_path);
  d.value_column.emplace(value_path);
  const io::npy_column& keys = *d.key_column;
  const io::npy_column& values = *d.value_column;
  const std::size_t n = keys.size();
  if (values.size() != n)
    throw error("the key column " + key_path + " has " + std::to_string(n) + " rows but the value column " +
                value_path + " has " + std::to_string(values.size()));
  if (keys.dtype() != io::npy_dtype::int32 && keys.dtype() != io::npy_dtype::int64)
    throw error(key_path + ": group keys must be int32 or int64");
  if (values.dtype() != io::npy_dtype::float64 && values.dtype() != io::npy_dtype::float32)
    throw error(value_path + ": values must be float64 or float32");
  if (n == 0) throw error("no data rows: " + value_path + " is empty");
  const bool keys32 = keys.dtype() == io::npy_dtype::int32, values64 = values.dtype() == io::npy_dtype::float64;
  auto key = [&](std::size_t i) -> std::int64_t {
    return keys32 ? static_cast<const std::int32_t*>(keys.data())[i] : static_cast<const std::int64_t*>(keys.data())[i];
  };
  auto value = [&](std::size_t i) -> double {
    return values64 ? static_cast<const double*>(values.data())[i] : static_cast<const float*>(values.data())[i];
  };

  // One parallel pass: the range of the keys and the first value that is not finite.
  constexpr std::size_t block = std::size_t{1} << 20;
  struct block_pass {
    std::int64_t lo = std::numeric_limits<std::int64_t>::max(), hi = std::numeric_limits<std::int64_t>::min();
    std::size_t first_bad;
  };
  std::vector<block_pass> passes((n + block - 1) / block, block_pass{{}, {}, n});
  detail::for_each_block(n, block, threads, [&](std::size_t b, std::size_t e, std::size_t index) {
    block_pass& p = passes[index];
    for (std::size_t i = b; i < e; ++i) {
      const std::int64_t k = key(i);
      p.lo = std::min(p.lo, k);
      p.hi = std::max(p.hi, k);
      if (p.first_bad == n && !std::isfinite(value(i))) p.first_bad = i;
    }
  });
  block_pass all{std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min(), n};
  for (const block_pass& p : passes) {
    all.lo = std::min(all.lo, p.lo);
    all.hi = std::max(all.hi, p.hi);
    all.first_bad = std::min(all.first_bad, p.first_bad);
  }
  if (all.first_bad != n) {
    const double x = value(all.first_bad);
    throw error(value_path + ": row " + std::to_string(all.first_bad) + " (0-based): " +
                (std::isnan(x) ? "NaN" : x > 0 ? "inf" : "-inf") + " is not a finite number");
  }

  // Dense ids in key order: through a table over the key range (5 bytes a key) when the range is
  // no larger than the rows, else through the sorted distinct keys.
  const std::uint64_t range = static_cast<std::uint64_t>(all.hi) - static_cast<std::uint64_t>(all.lo) + 1;
  std::vector<std::int32_t> id_of;  // key - lo -> id, -1 for absent keys (the table path)
  std::vector<std::int64_t> distinct;  // the sorted distinct keys (the other path)
  const bool table_path = range != 0 && range <= std::max<std::uint64_t>(n, 1u << 20) &&
                          range <= (std::uint64_t{1} << 32);
  if (table_path) {
    std::vector<std::atomic<std::uint8_t>> seen(range);
    detail::for_each_block(n, block, threads, [&](std::size_t b, std::size_t e, std::size_t) {
      for (std::size_t i = b; i < e; ++i)
        seen[static_cast<std::size_t>(key(i) - all.lo)].store(1, std::memory_order_relaxed);
    });
    id_of.assign(range, -1);
    std::size_t next = 0;
    for (std::size_t k = 0; k < range; ++k)
      if (seen[k].load(std::memory_order_relaxed) != 0) {
        if (next > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
          throw error(key_path + ": more than 2^31-1 distinct group keys");
        id_of[k] = static_cast<std::int32_t>(next++);
      }
    d.groups = next;
  } else {
    distinct.resize(n);
    detail::for_each_block(n, block, threads, [&](std::size_t b, std::size_t e, std::size_t) {
      for (std::size_t i = b; i < e; ++i) distinct[i] = key(i);
    });
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    if (distinct.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
      throw error(key_path + ": more than 2^31-1 distinct group keys");
    d.groups = distinct.size();
  }
  d.rows = n;

  const bool keys_in_place = keys32 && table_path && all.lo == 0 && d.groups == range;
  if (keys_in_place) {
    d.id_data = static_cast<const std::int32_t*>(keys.data());
  } else {
    d.ids.resize(n);
    detail::for_each_block(n, block, threads, [&](std::size_t b, std::size_t e, std::size_t) {
      for (std::size_t i = b; i < e; ++i) {
        const std::int64_t k = key(i);
        d.ids[i] = table_path ? id_of[static_cast<std::size_t>(k - all.lo)]
                              : static_cast<std::int32_t>(std::lower_bound(distinct.begin(), distinct.end(), k) -
                                                          distinct.begin());
      }
    });
    d.id_data = d.ids.data();
  }
  if (values64) {
    d.y_data = static_cast<const double*>(values.data());
  } else {
    d.y.resize(n);
    detail::for_each_block(n, block, threads, [&](std::size_t b, std::size_t e, std::size_t) {
      for (std::size_t i = b; i < e; ++i) d.y[i] = value(i);
    });
    d.y_data = d.y.data();
  }
  d.description = key_path + " (" + dtype_name(keys.dtype()) + (keys_in_place ? ", used in place" : ", mapped to ids") +
                  ") and " + value_path + " (" + dtype_name(values.dtype()) +
                  (values64 ? ", used in place" : ", converted to float64") + ")";
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
  double stage_ms[3] = {0, 0, 0};  ///< summaries, tau reductions, posteriors
  detail::posterior_params params;
  fit_result columns;
};

cpu_times bench_cpu(const raw_data_view& v, int threads, int repeats)
{
  cpu_times t;
  std::unique_ptr<detail::group_engine> engine;
  t.stage_ms[0] = best_ms(repeats, [&] {
    engine.reset();
    engine = detail::make_cpu_engine(v, threads);
  });
  t.stage_ms[1] = best_ms(repeats, [&] { t.params = detail::tau_stage(*engine); });
  t.stage_ms[2] = best_ms(repeats, [&] { engine->posteriors(t.params, t.columns); });
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

/// Throws the one-line error of a bad combination of options, before any work.
void check_options(const bench_args& a, const CLI::App& app)
{
  if (a.repeat < 1) throw error("--repeat must be at least 1");
  if (a.cpu_only && a.gpu_only) throw error("--cpu-only and --gpu-only exclude each other: give one");
  const bool npy = !a.group_npy.empty() || !a.value_npy.empty();
  if (npy) {
    if (a.group_npy.empty() || a.value_npy.empty()) throw error(".npy rows need both --group-npy and --value-npy");
    for (const char* generated : {"--rows", "--groups", "--seed", "--sorted"})
      if (app.count(generated) > 0)
        throw error(std::string(generated) + " describes generated rows: with --group-npy/--value-npy give none of --rows, --groups, --seed, --sorted");
  }
  if (a.gpu_only) {
#if SHRINK_HAS_CUDA
    if (!detail::cuda_device_usable()) throw error("--gpu-only: no usable CUDA GPU on this machine");
#else
    throw error("--gpu-only: this build of shrink has no CUDA backend (SHRINK_ENABLE_CUDA=OFF)");
#endif
  }
}

void run_bench(const bench_args& a, const CLI::App& app)
{
  check_options(a, app);
  if (a.covariates > 0) {
    if (!a.group_npy.empty()) throw error("--covariates times generated rows: give no --group-npy/--value-npy");
    covariate_bench_options o;
    o.rows = static_cast<std::size_t>(std::llround(parse_double(a.rows, "--rows")));
    o.groups = static_cast<std::size_t>(std::llround(parse_double(a.groups, "--groups")));
    o.covariates = a.covariates;
    o.seed = parse_seed(a.seed);
    o.threads = a.threads;
    o.repeat = a.repeat;
    o.cpu_only = a.cpu_only;
    o.gpu_only = a.gpu_only;
    return run_covariate_bench(o);
  }
  const int threads = detail::thread_count(a.threads);
  const bool npy = !a.group_npy.empty();
  bench_data data;
  if (npy) {
    data = read_npy(a.group_npy, a.value_npy, threads);
    if (data.groups < 2) throw error("the benchmark needs at least 2 groups: " + a.group_npy + " has one distinct key");
    if (data.rows <= data.groups)
      throw error("the benchmark needs groups with at least two rows: " + a.group_npy + " has a distinct key in every row");
    // The CPU summaries sort a copy of the rows (12 B), and about 200 B per group of tables and columns.
    require_memory((a.gpu_only ? 0.0 : 12.0 * static_cast<double>(data.rows)) + 200.0 * static_cast<double>(data.groups),
                   data.rows);
    std::printf("shrink bench: %zu rows from %s, %zu groups, best of %d\n", data.rows, data.description.c_str(),
                data.groups, a.repeat);
    io::flush_stdout();  // an unwritable stdout fails now, not after the work
  } else {
    const double rows_given = parse_double(a.rows, "--rows"), groups_given = parse_double(a.groups, "--groups");
    if (!(rows_given >= 1 && rows_given <= 9e15)) throw error("--rows must be between 1 and 9e15");
    if (!(groups_given >= 2 && groups_given <= 2147483647.0)) throw error("--groups must be between 2 and 2^31-1");
    const std::uint64_t seed = parse_seed(a.seed);
    const auto rows = static_cast<std::size_t>(std::llround(rows_given));
    const auto groups = static_cast<std::size_t>(std::llround(groups_given));
    // The tau stage needs within-group variance: some group must get two rows or more.
    if (rows <= groups) throw error("--rows must exceed --groups (the fit needs groups with at least two rows)");
    // Rows (12 B), the CPU summaries sorting a copy (12 B more), and about 200 B per group of
    // tables and columns: say so before allocating rather than fail with an allocation error.
    require_memory((a.gpu_only ? 12.0 : 24.0) * static_cast<double>(rows) + 200.0 * static_cast<double>(groups), rows);
    std::printf("shrink bench: %zu rows (int32 key + float64 value), %zu groups, %s, seed %llu, best of %d\n", rows,
                groups, a.sorted ? "sorted by group" : "unsorted", static_cast<unsigned long long>(seed), a.repeat);
    io::flush_stdout();
    data = generate(rows, groups, seed, a.sorted, threads);
  }

  const char* stage_names[] = {"summaries", "tau reductions", "posteriors"};
  const double bytes[] = {detail::summary_bytes(data.rows), detail::tau_bytes(data.groups),
                          detail::posterior_bytes(data.groups)};
  std::optional<cpu_times> cpu;
  if (!a.gpu_only) {
    cpu = bench_cpu(data.view(), threads, a.repeat);
    std::printf("CPU backend: %d threads\n", threads);
  } else {
    std::printf("CPU backend: skipped (--gpu-only)\n");
  }

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
    std::printf("GPU: absent: %s\n", absent_reason.c_str());
    std::printf("fit: J = %zu groups, N = %zu rows, tau2 = %.17g, mu = %.17g (moment estimator, CPU backend)\n\n",
                data.groups, data.rows, cpu->params.tau2, cpu->params.mu);
    std::printf("%-16s %12s\n", "stage", "CPU ms");
    double total = 0;
    for (int s = 0; s < 3; ++s) {
      std::printf("%-16s %12.3f\n", stage_names[s], cpu->stage_ms[s]);
      total += cpu->stage_ms[s];
    }
    std::printf("%-16s %12.3f\n", "fit (sum)", total);
    return;
  }

#if SHRINK_HAS_CUDA
  std::printf("GPU: %s; device-to-device copy %.1f GB/s (read + write), pinned host-to-device %.1f GB/s\n",
              g.device.c_str(), g.copy_gbs, g.h2d_gbs);
  std::printf("summaries: %zu chunk(s) of up to %zu rows, %zu already grouped (sort skipped)\n", g.chunks, g.chunk_rows,
              g.sorted_chunks);
  const detail::posterior_params& fit_params = cpu ? cpu->params : g.params;
  std::printf("fit: J = %zu groups, N = %zu rows, tau2 = %.17g, mu = %.17g (moment estimator, %s)\n", data.groups,
              data.rows, fit_params.tau2, fit_params.mu, cpu ? "CPU backend" : "GPU");
  if (cpu) {
    std::printf("validation: max |GPU - CPU| / max |CPU| on the partial-pooling estimates: %.3g, on the group means: %.3g\n",
                max_relative_difference(cpu->columns.estimate, g.columns.estimate),
                max_relative_difference(cpu->columns.mean, g.columns.mean));
  } else {
    std::printf("validation: against the CPU: skipped (--gpu-only)\n");
  }
  if (g.device_rows_params_equal && g.device_rows_mismatches == 0)
    std::printf("device rows: tau2, mu and every per-group column bitwise equal to the host rows' engine\n\n");
  else
    std::printf("device rows: DIFFER from the host rows' engine: tau2 and mu %s, %zu of %zu groups differ in some column\n\n",
                g.device_rows_params_equal ? "equal" : "differ", g.device_rows_mismatches, data.groups);
  const double kernel_ms[] = {g.summarize.kernel_ms, g.tau.kernel_ms, g.posterior.kernel_ms};
  const double e2e_ms[] = {g.summarize.end_to_end_ms, g.tau.end_to_end_ms, g.posterior.end_to_end_ms};
  // Without the CPU baseline its columns read "-".
  auto cpu_cell = [&](double ms, const char* format) { return cpu ? fmt(format, ms) : std::string("-"); };
  std::printf("%-16s %12s %14s %14s %11s %11s %10s %8s\n", "stage", "CPU ms", "GPU kernel ms", "GPU e2e ms",
              "CPU/kernel", "CPU/e2e", "GPU GB/s", "of copy");
  double totals[3] = {0, 0, 0};
  for (int s = 0; s < 3; ++s) {
    const double gbs = bytes[s] / (kernel_ms[s] * 1e6);
    const double c = cpu ? cpu->stage_ms[s] : 0.0;
    std::printf("%-16s %12s %14.3f %14.3f %11s %11s %10.1f %7.1f%%\n", stage_names[s], cpu_cell(c, "%.3f").c_str(),
                kernel_ms[s], e2e_ms[s], cpu_cell(c / kernel_ms[s], "%.1fx").c_str(),
                cpu_cell(c / e2e_ms[s], "%.1fx").c_str(), gbs, 100.0 * gbs / g.copy_gbs);
    totals[0] += c;
    totals[1] += kernel_ms[s];
    totals[2] += e2e_ms[s];
  }
  std::printf("%-16s %12s %14.3f %14.3f %11s %11s\n", "fit (sum)", cpu_cell(totals[0], "%.3f").c_str(), totals[1],
              totals[2], cpu_cell(totals[0] / totals[1], "%.1fx").c_str(), cpu_cell(totals[0] / totals[2], "%.1fx").c_str());
  std::printf("\nkernel: rows already on the device; e2e: from host memory%s, with transfers (PCIe-bound for summaries).\n"
              "bandwidth: the least bytes each stage must move (summaries: 12 B/row read once) over its kernel time.\n",
              npy ? " (the mapped .npy files, or their converted copy)" : "");
#endif
}

}  // namespace

command add_bench_command(CLI::App& app)
{
  auto a = std::make_shared<bench_args>();
  CLI::App* sub = app.add_subcommand("bench", "Time each fit stage on the CPU backend and the GPU on generated or .npy rows");
  sub->add_option("--rows", a->rows, "rows to generate (e.g. 1e8)")->capture_default_str();
  sub->add_option("--groups", a->groups, "groups (e.g. 1e6)")->capture_default_str();
  sub->add_option("--seed", a->seed, "random seed: an integer from 0 to 2^64-1")->capture_default_str();
  sub->add_option("--threads", a->threads, "CPU threads (0 = all)")->capture_default_str();
  sub->add_option("--repeat", a->repeat, "timed runs per stage; the best is reported")->capture_default_str();
  sub->add_flag("--sorted", a->sorted, "rows grouped by key (the summary stage skips its sort)");
  sub->add_option("--group-npy", a->group_npy, "rows from .npy columns instead: group keys (int32/int64), memory-mapped");
  sub->add_option("--value-npy", a->value_npy, "... and values (float64/float32)");
  sub->add_flag("--cpu-only", a->cpu_only, "time the CPU backend only");
  sub->add_option("--covariates", a->covariates, "time the random-intercept fit with this many row-level covariates instead");
  sub->add_flag("--gpu-only", a->gpu_only, "time the GPU only: no CPU baseline and no comparison with it (for rows too many for the CPU)");
  return [a, sub] { run_bench(*a, *sub); };
}

}  // namespace shrink::cli
