// Options and inputs the CLI must not ignore, misread or answer with a crash, a hang or an
// unbounded allocation: seeds, numbers near the ends of the double range, conflicting inputs,
// --batch at the top of its range, generate's memory, and out-of-memory messages.

#include "io/npy.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/wait.h>

namespace {

namespace fs = std::filesystem;
using shrink::test::read_file;
using shrink::test::run_shrink;
using shrink::test::temp_dir;
using shrink::test::write_file;

/// Runs `PREFIX 'shrink' ARGS` through the shell: PREFIX sets limits (ulimit) or wraps the
/// command (timeout).
shrink::test::run_result run_prefixed(const std::string& prefix, const std::string& args, const temp_dir& dir)
{
  const std::string cmd = prefix + " '" + SHRINK_BINARY + "' " + args + " >" + shrink::test::quoted(dir / "stdout.txt") + " 2>" +
                          shrink::test::quoted(dir / "stderr.txt");
  const int raw = std::system(cmd.c_str());
  shrink::test::run_result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = read_file(dir / "stdout.txt");
  r.err = read_file(dir / "stderr.txt");
  return r;
}

TEST(CliRobustness, SeedsFollowOneRuleInEveryCommand)
{
  temp_dir d;
  const std::string generate = "generate --groups 3 --obs 2";
  const std::string simulate = "simulate --groups 4 --replicates 3 -q";
  const std::string bench = "bench --rows 400 --groups 10 --repeat 1 --cpu-only";
  for (const std::string& command : {generate, simulate, bench}) {
    shrink::test::expect_error(run_shrink(command + " --seed=-1", d), "'-1' is negative");
    shrink::test::expect_error(run_shrink(command + " --seed 1e20", d), "'1e20' has an exponent");
    shrink::test::expect_error(run_shrink(command + " --seed 1.5", d), "'1.5' is not a whole number");
    shrink::test::expect_error(run_shrink(command + " --seed 18446744073709551616", d), "too large");
    shrink::test::expect_error(run_shrink(command + " --seed +3", d), "--seed");
    shrink::test::expect_error(run_shrink(command + " --seed 0x10", d), "--seed");
    EXPECT_EQ(run_shrink(command + " --seed 18446744073709551615", d).status, 0) << command;
    EXPECT_EQ(run_shrink(command + " --seed 0", d).status, 0) << command;
  }
  // Different seeds, different data (-1 and 1e20 used to wrap to the same seed as 2^64-1).
  EXPECT_NE(run_shrink(generate + " --seed 18446744073709551615", d).out, run_shrink(generate + " --seed 0", d).out);
}

TEST(CliRobustness, NumbersNearTheEndsOfTheDoubleRangeGetTrueMessages)
{
  temp_dir d;
  // Subnormal numbers are numbers.
  EXPECT_EQ(run_shrink("simulate --groups 4 --replicates 3 -q --sigma 1e-308", d).status, 0);
  EXPECT_EQ(run_shrink("generate --groups 3 --obs 2 --sigma 1e-308", d).status, 0);
  EXPECT_EQ(run_shrink("generate --groups 3 --obs 2 --sigma 5e-324", d).status, 0);
  shrink::test::expect_error(run_shrink("simulate --groups 4 --replicates 3 -q --sigma 1.5x", d), "'1.5x' is not a number");
  for (const std::string& command : {std::string("simulate --groups 4 --replicates 3 -q"), std::string("generate --groups 3")}) {
    shrink::test::expect_error(run_shrink(command + " --sigma 2e-324", d), "'2e-324' underflows to zero");
    shrink::test::expect_error(run_shrink(command + " --sigma 1e400", d), "'1e400' is too large");
    shrink::test::expect_error(run_shrink(command + " --mu 1e400", d), "--mu: '1e400' is too large");
    const auto r = run_shrink(command + " --sigma 2e-324", d);
    EXPECT_EQ(r.err.find("not a number"), std::string::npos) << r.err;
  }
}

TEST(CliRobustness, GenerateRefusesValuesThatOverflow)
{
  temp_dir d;
  shrink::test::expect_error(run_shrink("generate --groups 3 --mu 1e308 --tau 1e308 -o " + shrink::test::quoted(d / "g.csv"), d), "not a finite number");
  EXPECT_FALSE(fs::exists(d / "g.csv"));
  shrink::test::expect_error(run_shrink("generate --groups 3 --mu 1e308 --sigma 1e308 --group-npy " + shrink::test::quoted(d / "g.npy") + " --value-npy " +
                            shrink::test::quoted(d / "y.npy"),
                          d),
               "not a finite number");
  EXPECT_FALSE(fs::exists(d / "g.npy"));
  EXPECT_FALSE(fs::exists(d / "y.npy"));
  // Large but finite is fine, and no "inf" is ever written.
  const auto r = run_shrink("generate --groups 3 --mu 1e300 --tau 1e300 --sigma 1e300", d);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("inf"), std::string::npos);
}

TEST(CliRobustness, GenerateStreamsInsteadOfHoldingTheRows)
{
  temp_dir d;
  // 10^7 rows as .npy: 120 MB of columns, which the old generator held in memory (plus vector
  // growth). Under a 100 MB address-space limit only a streaming generator gets through.
  const std::string args = "generate --groups 1 --obs 10000000 --seed 3 --group-npy " + shrink::test::quoted(d / "g.npy") + " --value-npy " +
                           shrink::test::quoted(d / "y.npy");
  const auto r = run_prefixed("ulimit -v 100000;", args, d);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(fs::file_size(d / "g.npy"), 128u + 4u * 10000000u);
  EXPECT_EQ(fs::file_size(d / "y.npy"), 128u + 8u * 10000000u);
  // The same rows as the CSV of the same seed.
  const auto r2 = run_shrink("generate --groups 40 --obs 1:5 --seed 9 -o " + shrink::test::quoted(d / "s.csv") + " --group-npy " +
                               shrink::test::quoted(d / "s.npy") + " --value-npy " + shrink::test::quoted(d / "v.npy"),
                             d);
  ASSERT_EQ(r2.status, 0) << r2.err;
  const auto rows = shrink::test::parse_csv(read_file(d / "s.csv"));
  const shrink::io::npy_column ids((d / "s.npy").string()), values((d / "v.npy").string());
  ASSERT_EQ(rows.size(), ids.size() + 1);
  ASSERT_EQ(values.size(), ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(std::stoi(rows[i + 1][0]), static_cast<const std::int32_t*>(ids.data())[i]) << i;
    EXPECT_EQ(std::stod(rows[i + 1][1]), static_cast<const double*>(values.data())[i]) << i;
  }
}

TEST(CliRobustness, OutOfMemoryIsSaidPlainly)
{
  temp_dir d;
  // Far beyond any machine: refused before allocating.
  shrink::test::expect_error(run_shrink("bench --rows 1e15 --groups 100", d), "not enough memory for 1000000000000000 rows");
  // An allocation failure that gets past the check (an address-space limit below the physical
  // memory) is "out of memory", never "std::bad_alloc".
  // 3e7 rows pass the check with 0.72 GB available; the 0.36 GB of rows do not fit in 250 MB.
  const auto r = run_prefixed("ulimit -v 250000;", "bench --rows 3e7 --groups 100 --repeat 1 --cpu-only", d);
  shrink::test::expect_error(r, "shrink: error: out of memory");
  EXPECT_EQ(r.err.find("bad_alloc"), std::string::npos);
}

TEST(CliRobustness, BenchAdviceNamesItsOwnOptions)
{
  temp_dir d;
  const auto r = run_shrink("bench --rows 50 --groups 100 --repeat 1 --cpu-only", d);
  shrink::test::expect_error(r, "--rows must exceed --groups");
  EXPECT_EQ(r.err.find("--sigma"), std::string::npos);
}

TEST(CliRobustness, HugeBatchNeitherHangsNorChangesResults)
{
  temp_dir d;
  const std::string common = "simulate --groups 6 --obs 4 --replicates 100 --seed 5 -q --backend cpu ";
  const auto base = run_shrink(common, d);
  ASSERT_EQ(base.status, 0) << base.err;
  for (const char* batch : {"18446744073709551615", "18446744073709551553", "100000000000"}) {
    const auto r = run_prefixed("timeout 60", common + "--batch " + batch, d);
    EXPECT_EQ(r.status, 0) << batch << ": " << r.err;
    EXPECT_EQ(r.out, base.out) << batch;
  }
}

TEST(CliRobustness, ConflictingInputsAreErrors)
{
  temp_dir d;
  write_file(d / "in.csv", "group,y\na,1\na,2\nb,3\nb,5\n");
  ASSERT_EQ(run_shrink("generate --groups 4 --obs 3 --group-npy " + shrink::test::quoted(d / "g.npy") + " --value-npy " + shrink::test::quoted(d / "y.npy"), d).status, 0);
  const std::string npy = " --group-npy " + shrink::test::quoted(d / "g.npy") + " --value-npy " + shrink::test::quoted(d / "y.npy");
  shrink::test::expect_error(run_shrink("fit " + shrink::test::quoted(d / "in.csv") + npy, d), "two inputs");
  shrink::test::expect_error(run_shrink("fit -" + npy, d, (d / "in.csv").string()), "two inputs");
  shrink::test::expect_error(run_shrink("fit --estimate est --se se" + npy, d), "--estimate");
  shrink::test::expect_error(run_shrink("fit --value y" + npy, d), "--group and --value name CSV columns");
  EXPECT_EQ(run_shrink("fit -q" + npy, d).status, 0);
}

TEST(CliRobustness, NpyMessagesSayWhatIsWrong)
{
  temp_dir d;
  fs::create_directory(d / "dir.npy");
  ASSERT_EQ(run_shrink("generate --groups 4 --obs 3 --group-npy " + shrink::test::quoted(d / "g.npy") + " --value-npy " + shrink::test::quoted(d / "y.npy"), d).status, 0);
  const auto r = run_shrink("fit --group-npy " + shrink::test::quoted(d / "dir.npy") + " --value-npy " + shrink::test::quoted(d / "y.npy"), d);
  shrink::test::expect_error(r, "is a directory, not a .npy file");
  EXPECT_EQ(r.err.find("No such device"), std::string::npos);
  shrink::test::expect_error(run_shrink("generate --groups 4 --group-npy " + shrink::test::quoted(d / "dir.npy") + " --value-npy " + shrink::test::quoted(d / "v.npy"), d),
               "is a directory");
}

}  // namespace

namespace {

// fit's numeric options are read like every other number: subnormals are numbers, and a value
// that cannot work says why.
TEST(CliRobustness, FitNumericOptionsSayWhatIsWrong)
{
  shrink::test::temp_dir d;
  shrink::test::write_file(d / "in.csv", shrink::test::small_csv);
  const std::string in = shrink::test::quoted(d / "in.csv");
  using shrink::test::expect_error;
  using shrink::test::run_shrink;
  expect_error(run_shrink("fit " + in + " --sigma 1e-308", d), "--sigma 1e-308: its square lies outside [1e-100, 1e100]");
  expect_error(run_shrink("fit " + in + " --tau 2e-324", d), "--tau: '2e-324' underflows to zero");
  expect_error(run_shrink("fit " + in + " --level abc", d), "--level: 'abc' is not a number");
  expect_error(run_shrink("fit " + in + " --sigma 1e400", d), "--sigma: '1e400' is too large");
  const auto ok = run_shrink("fit " + in + " --tau 1e-308 -q", d);  // a subnormal tau is a valid tau
  EXPECT_EQ(ok.status, 0) << ok.err;
}

}  // namespace
