#pragma once
// Helpers shared by the tests: reference data, temporary files, running the `shrink` binary.

#include <shrink/backend.hpp>
#include <shrink/simulate.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sys/wait.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace shrink::test {

/// $SHRINK_REFERENCE_DATA, else the copies in tests/data (see tests/data/SOURCES.md).
inline std::filesystem::path reference_data()
{
  const char* env = std::getenv("SHRINK_REFERENCE_DATA");
  return env != nullptr ? std::filesystem::path(env) : std::filesystem::path(SHRINK_REFERENCE_DEFAULT);
}

/// BDA3's rat tumours (tests/data/rat_tumors.csv): (tumours y, rats K) of the 71 experiments, the
/// 71st the current one. Fails the test when the file is missing.
inline std::vector<std::pair<double, double>> rat_tumours()
{
  std::ifstream in(reference_data() / "rat_tumors.csv");
  EXPECT_TRUE(in.good()) << "tests/data/rat_tumors.csv is missing";
  std::vector<std::pair<double, double>> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == 'y') continue;  // comments and the header
    const std::size_t comma = line.find(',');
    rows.emplace_back(std::stod(line.substr(0, comma)), std::stod(line.substr(comma + 1)));
  }
  EXPECT_EQ(rows.size(), 71u);
  return rows;
}

/// A fresh temporary directory, removed with the object.
class temp_dir {
 public:
  temp_dir()
  {
    std::string pattern = (std::filesystem::temp_directory_path() / "shrink-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~temp_dir() { std::filesystem::remove_all(path_); }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& p, const std::string& text)
{
  std::ofstream(p, std::ios::binary) << text;
}

inline std::string read_file(const std::filesystem::path& p)
{
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// One NIST StRD one-way ANOVA file: its data as CSV text and its certified values.
struct nist_anova {
  std::string csv;  ///< "group,y" rows, the values' text exactly as NIST prints them
  double df_between = 0, df_within = 0, ss_between = 0, ss_within = 0, ms_between = 0, ms_within = 0, F = 0;
};

inline nist_anova read_nist_anova(const std::filesystem::path& file)
{
  std::ifstream in(file);
  nist_anova a;
  a.csv = "group,y\n";
  std::string line;
  bool data = false;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string w1, w2;
    if (data) {
      std::string g, y;
      if (s >> g >> y) a.csv += g + "," + y + "\n";
      continue;
    }
    s >> w1 >> w2;
    if (w1 == "Between")
      s >> a.df_between >> a.ss_between >> a.ms_between >> a.F;
    else if (w1 == "Within")
      s >> a.df_within >> a.ss_within >> a.ms_within;
    else if (w1 == "Data:" && line.find("Factor") == std::string::npos)
      data = true;
  }
  return a;
}

/// Log relative error: digits of agreement with a certified value, capped at 15.
inline double lre(double computed, double certified)
{
  if (computed == certified) return 15;
  const double rel = std::abs(computed - certified) / std::abs(certified);
  return std::min(15.0, -std::log10(rel));
}

/// Rows of simple CSV text (no quoted fields), a trailing comma giving an empty last field.
inline std::vector<std::vector<std::string>> parse_csv(const std::string& text)
{
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::string field;
    std::istringstream s(line);
    while (std::getline(s, field, ',')) fields.push_back(field);
    if (!line.empty() && line.back() == ',') fields.push_back("");
    rows.push_back(fields);
  }
  return rows;
}

/// Skips the calling test where no CUDA GPU is usable (a build without CUDA, or no device).
#define SHRINK_SKIP_WITHOUT_GPU()                                                          \
  do {                                                                                     \
    if (!::shrink::cuda_available()) GTEST_SKIP() << "no usable CUDA GPU on this machine"; \
  } while (0)

/// Result of running the `shrink` binary.
struct run_result {
  int status = -1;
  std::string out, err;
};

/// Runs `shrink ARGS` through the shell (stdin from `input_file` when given).
inline run_result run_shrink(const std::string& args, const temp_dir& dir, const std::string& input_file = "")
{
  const auto out = dir / "stdout.txt";
  const auto err = dir / "stderr.txt";
  std::string cmd = std::string("'") + SHRINK_BINARY + "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
  if (!input_file.empty()) cmd += " <'" + input_file + "'";
  const int raw = std::system(cmd.c_str());
  run_result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

/// A small raw data set: four groups of two or three rows.
inline const char* const small_csv =
  "group,y\n"
  "a,1\n" "a,3\n" "b,4\n" "b,6\n" "b,8\n" "c,10\n" "c,11\n" "d,0\n" "d,2\n";

/// A path in single quotes, for a shell command.
inline std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

/// Fails unless the run exited 1 with exactly one line on stderr containing `expected` (and no
/// "nan" in it).
inline void expect_error(const run_result& r, const std::string& expected)
{
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find(expected), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  EXPECT_EQ(r.err.find("nan"), std::string::npos) << "stderr: " << r.err;
}

/// A simulation study's CSV as text.
inline std::string simulate_csv(const simulate_result& r)
{
  std::ostringstream s;
  write_csv(s, r);
  return s.str();
}

/// Two simulation CSVs (CPU and GPU) with the same design columns and every number within 1e-9
/// relative.
inline void expect_close_csv(const std::string& cpu, const std::string& gpu, const std::string& what)
{
  const auto a = parse_csv(cpu), b = parse_csv(gpu);
  ASSERT_EQ(a.size(), b.size()) << what;
  ASSERT_EQ(a.front(), b.front()) << what;
  for (std::size_t r = 1; r < a.size(); ++r) {
    ASSERT_EQ(a[r].size(), b[r].size()) << what;
    for (std::size_t c = 0; c < a[r].size(); ++c) {
      if (c <= 6 || a[r][c].empty() || b[r][c].empty()) {
        EXPECT_EQ(a[r][c], b[r][c]) << what << " row " << r << " column " << a[0][c];
        continue;
      }
      const double x = std::stod(a[r][c]), y = std::stod(b[r][c]);
      EXPECT_LE(std::abs(x - y), 1e-9 * std::max(std::abs(x), std::abs(y)) + 1e-15)
        << what << " row " << r << " (" << a[r][5] << ") column " << a[0][c] << ": cpu " << a[r][c] << " gpu " << b[r][c];
    }
  }
}

#ifdef SHRINK_SOURCE_DIR  // the CPU test binary's (the GPU one has no scripts to run)
/// Runs tests/cli/SCRIPT with the shrink binary and `args` (shell words); its exit status 77 is a skip.
inline void python_test(const std::string& script, const std::string& args = "")
{
  const std::string path = std::string(SHRINK_SOURCE_DIR) + "/tests/cli/" + script;
  // Debian's python3-selenium lives with the system interpreter.
  const std::string python = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  temp_dir dir;
  const std::string cmd =
    python + " '" + path + "' '" + SHRINK_BINARY + "' " + args + " > " + (dir / "log.txt").string() + " 2>&1";
  const int raw = std::system(cmd.c_str());
  const int status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  const std::string log = read_file(dir / "log.txt");
  if (status == 77) GTEST_SKIP() << log;
  EXPECT_EQ(status, 0) << log;
}
#endif

}  // namespace shrink::test
