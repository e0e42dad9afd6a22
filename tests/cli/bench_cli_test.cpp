// `shrink bench` end to end where no GPU is needed: its option errors, rows read from .npy
// columns (every key and value type `shrink fit` reads, used in place or converted), and the
// figures it prints for them against `shrink fit` on the same files: the same groups and rows,
// the same moment estimate of tau2 and mu, and a stage table whose sum row is the sum of its
// stages. Where a GPU is usable, the .npy rows also go through the GPU and both checks it prints
// (against the CPU, and device-resident rows against host rows) must hold.

#include "test_support.hpp"

#include "io/npy.hpp"

#include <shrink/backend.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <numeric>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

using shrink::test::expect_error;
using shrink::test::quoted;
using shrink::test::run_shrink;
using shrink::test::temp_dir;

/// A float32 .npy column (io::write_npy writes int32, int64 and float64 only).
void write_npy_float32(const std::filesystem::path& path, const std::vector<float>& x)
{
  std::ofstream out(path, std::ios::binary);
  out << shrink::io::npy_header(shrink::io::npy_dtype::float32, x.size());
  out.write(reinterpret_cast<const char*>(x.data()), static_cast<std::streamsize>(x.size() * sizeof(float)));
}

/// Rows of J groups in shuffled order: group g has 3 + g % 5 rows, mean 2 sin(g), sd 1.5.
struct test_rows {
  std::vector<std::int64_t> group;  ///< 0..J-1
  std::vector<double> y;
};

test_rows make_rows(int J, std::uint64_t seed)
{
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.5);
  test_rows r;
  for (int g = 0; g < J; ++g)
    for (int i = 0; i < 3 + g % 5; ++i) {
      r.group.push_back(g);
      r.y.push_back(2.0 * std::sin(g) + noise(rng));
    }
  std::vector<std::size_t> order(r.y.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  test_rows s;
  for (std::size_t i : order) {
    s.group.push_back(r.group[i]);
    s.y.push_back(r.y[i]);
  }
  return s;
}

std::string npy_args(const temp_dir& d) { return "--group-npy " + quoted(d / "g.npy") + " --value-npy " + quoted(d / "y.npy"); }

/// What `shrink bench` printed: its fit line and its stage table (CPU ms column).
struct bench_figures {
  std::size_t groups = 0, rows = 0;
  double tau2 = NAN, mu = NAN;
  std::vector<double> stage_ms;  ///< summaries, tau reductions, posteriors
  double sum_ms = NAN;
  std::string header;
};

bench_figures parse_bench(const std::string& out)
{
  bench_figures f;
  std::istringstream in(out);
  std::string line;
  std::getline(in, f.header);
  const std::regex fit_line(R"(^fit: J = (\d+) groups, N = (\d+) rows, tau2 = (\S+), mu = (\S+) \(moment estimator, .*\)$)");
  const std::regex stage_line(R"(^(summaries|tau reductions|posteriors|fit \(sum\)) +(\S+)( .*)?$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, fit_line)) {
      f.groups = std::stoul(m[1]);
      f.rows = std::stoul(m[2]);
      f.tau2 = std::stod(m[3]);
      f.mu = std::stod(m[4]);
    } else if (std::regex_match(line, m, stage_line)) {
      if (m[1] == "fit (sum)") f.sum_ms = std::stod(m[2]);
      else f.stage_ms.push_back(std::stod(m[2]));
    }
  }
  return f;
}

/// `shrink bench` and `shrink fit --tau-method mom` on the .npy files in `d`: the same J and N,
/// tau2 and mu to 1e-12 relative (fit reads the rows relative to an offset and folds them in its
/// own order, so the last bits may differ), and a consistent stage table. Returns the bench's header.
std::string expect_bench_matches_fit(const temp_dir& d, std::size_t J, std::size_t N, const std::string& bench_options)
{
  const auto b = run_shrink("bench " + npy_args(d) + " --repeat 2 " + bench_options, d);
  EXPECT_EQ(b.status, 0) << b.err;
  const bench_figures f = parse_bench(b.out);
  const auto r = run_shrink("fit " + npy_args(d) + " --backend cpu --tau-method mom -q -o " + quoted(d / "fit.csv") +
                              " --summary " + quoted(d / "fit.json"),
                            d);
  EXPECT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(shrink::test::read_file(d / "fit.json"));
  EXPECT_EQ(f.groups, J) << b.out;
  EXPECT_EQ(f.rows, N) << b.out;
  EXPECT_EQ(j["groups"].get<std::size_t>(), J);
  EXPECT_EQ(j["observations"].get<std::size_t>(), N);
  const double tau2 = j["tau2"].get<double>(), mu = j["mu"].get<double>();
  EXPECT_GT(tau2, 0.1);  // the data are heterogeneous: a real estimate, not the truncation at 0
  EXPECT_NEAR(f.tau2, tau2, 1e-12 * tau2) << b.out;
  EXPECT_NEAR(f.mu, mu, 1e-12 * std::max(1.0, std::fabs(mu))) << b.out;
  // The table: three stages, each timed, and the sum row their sum (each printed to 0.001 ms).
  EXPECT_EQ(f.stage_ms.size(), 3u) << b.out;
  double sum = 0;
  for (double ms : f.stage_ms) {
    EXPECT_GE(ms, 0.0);
    sum += ms;
  }
  EXPECT_NEAR(f.sum_ms, sum, 0.0021) << b.out;
  EXPECT_NE(b.out.find(std::to_string(N) + " rows from "), std::string::npos) << b.out;
  return f.header;
}

TEST(BenchCli, BadCombinationsOfOptionsAreOneLineErrors)
{
  temp_dir d;
  const test_rows r = make_rows(20, 1);
  shrink::io::write_npy((d / "g.npy").string(), r.group.data(), r.group.size());
  shrink::io::write_npy((d / "y.npy").string(), r.y.data(), r.y.size());
  expect_error(run_shrink("bench --group-npy " + quoted(d / "g.npy"), d), ".npy rows need both --group-npy and --value-npy");
  expect_error(run_shrink("bench --value-npy " + quoted(d / "y.npy"), d), ".npy rows need both --group-npy and --value-npy");
  for (const char* generated : {"--rows 100", "--groups 10", "--seed 3", "--sorted"})
    expect_error(run_shrink("bench " + npy_args(d) + " --cpu-only " + generated, d),
                 std::string(generated).substr(0, std::string(generated).find(' ')) + " describes generated rows");
  expect_error(run_shrink("bench --rows 400 --groups 10 --cpu-only --gpu-only", d), "--cpu-only and --gpu-only exclude each other");
  expect_error(run_shrink("bench --rows 400 --groups 10 --repeat 0", d), "--repeat must be at least 1");

  const auto gpu_only = run_shrink("bench --rows 4000 --groups 10 --repeat 1 --gpu-only", d);
  if (!shrink::cuda_available()) {
    expect_error(gpu_only, "--gpu-only: ");
  } else {
    // With a GPU: no CPU baseline, and the device-rows engine checked against the host-rows one.
    ASSERT_EQ(gpu_only.status, 0) << gpu_only.err;
    EXPECT_NE(gpu_only.out.find("CPU backend: skipped (--gpu-only)"), std::string::npos) << gpu_only.out;
    EXPECT_NE(gpu_only.out.find("device rows: tau2, mu and every per-group column bitwise equal"), std::string::npos)
      << gpu_only.out;
  }
}

TEST(BenchCli, BadNpyRowsAreOneLineErrors)
{
  temp_dir d;
  const std::vector<std::int32_t> keys{0, 1, 0, 1, 2, 2};
  const std::vector<double> values{1, 2, 3, 4, 5, 6};
  auto write = [&](const std::vector<std::int32_t>& k, const std::vector<double>& v) {
    shrink::io::write_npy((d / "g.npy").string(), k.data(), k.size());
    shrink::io::write_npy((d / "y.npy").string(), v.data(), v.size());
  };
  const std::string cmd = "bench " + npy_args(d) + " --repeat 1 --cpu-only";
  expect_error(run_shrink("bench --group-npy " + quoted(d / "missing.npy") + " --value-npy " + quoted(d / "y.npy") + " --cpu-only", d),
               "missing.npy");
  write(keys, {1, 2, 3});
  expect_error(run_shrink(cmd, d), "has 6 rows but the value column");
  std::vector<double> nan_at_4 = values;
  nan_at_4[4] = std::nan("");
  write(keys, nan_at_4);
  expect_error(run_shrink(cmd, d), "row 4 (0-based): NaN is not a finite number");
  write({7, 7, 7}, {1, 2, 3});
  expect_error(run_shrink(cmd, d), "the benchmark needs at least 2 groups");
  write({5, 9, 2}, {1, 2, 3});
  expect_error(run_shrink(cmd, d), "the benchmark needs groups with at least two rows");
  write({}, {});
  expect_error(run_shrink(cmd, d), "no data rows");
  // Keys that are floats, values that are integers.
  write(keys, values);
  shrink::io::write_npy((d / "g.npy").string(), values.data(), values.size());
  expect_error(run_shrink(cmd, d), "group keys must be int32 or int64");
  shrink::io::write_npy((d / "g.npy").string(), keys.data(), keys.size());
  shrink::io::write_npy((d / "y.npy").string(), keys.data(), keys.size());
  expect_error(run_shrink(cmd, d), "values must be float64 or float32");
}

TEST(BenchCli, NpyRowsGiveTheFitsFiguresForEveryKeyAndValueType)
{
  const int J = 300;
  const test_rows r = make_rows(J, 7);
  const std::size_t N = r.y.size();
  {  // int32 ids 0..J-1 and float64 values: both used in place, in the mapped files.
    temp_dir d;
    std::vector<std::int32_t> ids(r.group.begin(), r.group.end());
    shrink::io::write_npy((d / "g.npy").string(), ids.data(), N);
    shrink::io::write_npy((d / "y.npy").string(), r.y.data(), N);
    const std::string header = expect_bench_matches_fit(d, J, N, "--cpu-only");
    EXPECT_NE(header.find("(int32, used in place)"), std::string::npos) << header;
    EXPECT_NE(header.find("(float64, used in place)"), std::string::npos) << header;
  }
  {  // int32 keys with gaps (3g + 10): ids through the table over the key range.
    temp_dir d;
    std::vector<std::int32_t> keys;
    for (std::int64_t g : r.group) keys.push_back(static_cast<std::int32_t>(3 * g + 10));
    shrink::io::write_npy((d / "g.npy").string(), keys.data(), N);
    shrink::io::write_npy((d / "y.npy").string(), r.y.data(), N);
    const std::string header = expect_bench_matches_fit(d, J, N, "--cpu-only --threads 3");
    EXPECT_NE(header.find("(int32, mapped to ids)"), std::string::npos) << header;
  }
  {  // int64 keys spread over 2^62, negative ones first in key order, and float32 values: ids
     // through the sorted distinct keys, values converted.
    temp_dir d;
    std::vector<std::int64_t> keys;
    for (std::int64_t g : r.group) keys.push_back((g - J / 2) * (std::int64_t{1} << 53) + g);
    std::vector<float> y32(r.y.begin(), r.y.end());
    shrink::io::write_npy((d / "g.npy").string(), keys.data(), N);
    write_npy_float32(d / "y.npy", y32);
    const std::string header = expect_bench_matches_fit(d, J, N, "--cpu-only");
    EXPECT_NE(header.find("(int64, mapped to ids)"), std::string::npos) << header;
    EXPECT_NE(header.find("(float32, converted to float64)"), std::string::npos) << header;
  }
}

TEST(BenchCli, NpyRowsOnTheGpuMatchTheCpu)
{
  if (!shrink::cuda_available()) GTEST_SKIP() << "no usable GPU: the GPU half of `shrink bench` cannot run";
  temp_dir d;
  const test_rows r = make_rows(2000, 11);
  std::vector<std::int32_t> ids(r.group.begin(), r.group.end());
  shrink::io::write_npy((d / "g.npy").string(), ids.data(), ids.size());
  shrink::io::write_npy((d / "y.npy").string(), r.y.data(), r.y.size());
  expect_bench_matches_fit(d, 2000, r.y.size(), "");
  const auto b = run_shrink("bench " + npy_args(d) + " --repeat 1", d);
  ASSERT_EQ(b.status, 0) << b.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(b.out, m, std::regex(R"(estimates: (\S+), on the group means: (\S+))"))) << b.out;
  EXPECT_LE(std::stod(m[1]), 1e-12) << b.out;
  EXPECT_LE(std::stod(m[2]), 1e-12) << b.out;
  EXPECT_NE(b.out.find("device rows: tau2, mu and every per-group column bitwise equal"), std::string::npos) << b.out;
}

}  // namespace
