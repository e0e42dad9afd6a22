// `shrink fit` end to end: formats it accepts, and bad input that must give a one-line error and
// a non-zero exit (never a crash, a hang, a silent NaN or a half-written file).

#include "test_support.hpp"

#include <shrink/backend.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>
#include <sys/stat.h>

namespace {

using shrink::test::run_shrink;
using shrink::test::temp_dir;
using shrink::test::write_file;

using shrink::test::parse_csv;

TEST(FitCli, WritesTheContractColumnsAndSummary)
{
  temp_dir d;
  write_file(d / "in.csv", shrink::test::small_csv);
  const auto r = run_shrink("fit '" + (d / "in.csv").string() + "' -o '" + (d / "out.csv").string() + "' --summary '" +
                              (d / "s.json").string() + "' --backend cpu",
                            d);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto rows = parse_csv(shrink::test::read_file(d / "out.csv"));
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"group", "n", "mean", "se", "shrinkage", "estimate", "sd", "lower",
                                               "upper", "james_stein"}));
  EXPECT_EQ(rows[1][0], "a");
  EXPECT_EQ(rows[2][1], "3");
  EXPECT_EQ(std::stod(rows[2][2]), 6.0);
  const auto j = nlohmann::json::parse(shrink::test::read_file(d / "s.json"));
  for (const char* key : {"groups", "observations", "mu", "tau2", "tau", "sigma2", "tau_method", "Q", "I2", "H2",
                          "james_stein_c", "backend", "seconds", "anova"})
    EXPECT_TRUE(j.contains(key)) << key;
  for (const char* key : {"df_between", "df_within", "ss_between", "ss_within", "ms_between", "ms_within", "F"})
    EXPECT_TRUE(j["anova"].contains(key)) << key;
  EXPECT_EQ(j["groups"], 4);
  EXPECT_EQ(j["observations"], 9);
  EXPECT_EQ(j["backend"], "cpu");
  // sigma2 pooled: m2 = 2 + 8 + 0.5 + 2 over 5 df.
  EXPECT_DOUBLE_EQ(j["sigma2"].get<double>(), 12.5 / 5);
  EXPECT_NE(r.err.find("J = 4"), std::string::npos);
  EXPECT_NE(r.err.find("backend cpu"), std::string::npos);
  // Numbers read back exactly: the estimate column reproduces ybar + B (mu - ybar) to the last bit
  // of what the JSON says mu is.
  const double mu = j["mu"].get<double>();
  const double ybar = std::stod(rows[1][2]), B = std::stod(rows[1][4]);
  EXPECT_NEAR(std::stod(rows[1][5]), ybar + B * (mu - ybar), 1e-15);
}

TEST(FitCli, StdinTsvCrlfBomAndQuotedKeysAreAccepted)
{
  temp_dir d;
  write_file(d / "in.csv", shrink::test::small_csv);
  const auto base = run_shrink("fit '" + (d / "in.csv").string() + "' -q", d);
  ASSERT_EQ(base.status, 0) << base.err;

  std::string crlf = "\xEF\xBB\xBF";
  for (char c : std::string(shrink::test::small_csv)) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  write_file(d / "crlf.csv", crlf);
  const auto r1 = run_shrink("fit - -q", d, (d / "crlf.csv").string());
  ASSERT_EQ(r1.status, 0) << r1.err;
  EXPECT_EQ(r1.out, base.out);

  std::string tsv = shrink::test::small_csv;
  std::replace(tsv.begin(), tsv.end(), ',', '\t');
  write_file(d / "in.tsv", tsv);
  const auto r2 = run_shrink("fit '" + (d / "in.tsv").string() + "' -q", d);
  ASSERT_EQ(r2.status, 0) << r2.err;
  EXPECT_EQ(r2.out, base.out);

  write_file(d / "quoted.csv", "\"group\",y,note\n\"x,1\",1,\"a, b\"\n\"x,1\",2,\"say \"\"hi\"\"\"\nz,5,\nz,7,\n");
  const auto r3 = run_shrink("fit '" + (d / "quoted.csv").string() + "' -q", d);
  ASSERT_EQ(r3.status, 0) << r3.err;
  EXPECT_NE(r3.out.find("\n\"x,1\",2,1.5,"), std::string::npos) << r3.out;
}

TEST(FitCli, BadInputGivesOneLineErrorsNamingTheProblem)
{
  temp_dir d;
  auto fit_text = [&](const std::string& text, const std::string& options = "") {
    write_file(d / "bad.csv", text);
    return run_shrink("fit '" + (d / "bad.csv").string() + "' " + options, d);
  };
  shrink::test::expect_error(fit_text(""), "empty input");
  shrink::test::expect_error(fit_text("group,y\n"), "no data rows");
  shrink::test::expect_error(fit_text("group,value\na,1\n"), "the columns are: 'group', 'value'");
  shrink::test::expect_error(fit_text("grp,y\na,1\n"), "no group column 'group'");
  shrink::test::expect_error(fit_text("group,y\na,1\na,abc\n"), "line 3: column 'y': 'abc' is not a number");
  shrink::test::expect_error(fit_text("group,y\na,1\na,NaN\n"), "line 3");
  shrink::test::expect_error(fit_text("group,y\na,1\na,inf\n"), "line 3");
  shrink::test::expect_error(fit_text("group,y\na,1\na,2,3\n"), "line 3: row has 3 fields but the header has 2");
  shrink::test::expect_error(fit_text("group,y\na,1\na,2\n"), "only one group");
  shrink::test::expect_error(fit_text("group,y\na,1\nb,2\nc,3\n"), "every group has one observation");
  shrink::test::expect_error(fit_text("group,y\na,1\na,1\nb,2\nb,2\n"), "within-group variance is zero");
  shrink::test::expect_error(fit_text("group,y\na,1e308\na,-1e308\nb,1e308\nb,-1.5e308\n"), "overflow");
  shrink::test::expect_error(fit_text("group,y\na,1e400\n"), "line 2");
  shrink::test::expect_error(fit_text(shrink::test::small_csv, "--tau-method magic"), "unknown --tau-method 'magic'");
  shrink::test::expect_error(fit_text(shrink::test::small_csv, "--level 2"), "--level");
  shrink::test::expect_error(fit_text("study,est,se\n1,0.5,0.1\n2,0.7,-0.2\n3,0.1,0.3\n", "--estimate est --se se"),
               "'-0.2' is not positive (standard errors must be > 0)");
  shrink::test::expect_error(fit_text("study,est,se\n1,0.5,0.1\n2,0.7,0\n", "--estimate est --se se"), "is not positive");
  shrink::test::expect_error(fit_text("study,est,se\n1,0.5,0.1\n", "--estimate est"), "exactly one of --se");
}

TEST(FitCli, JamesSteinColumnIsEmptyWithFewerThanFourGroupsAndSaysSo)
{
  temp_dir d;
  write_file(d / "in.csv", "group,y\na,1\na,2\nb,4\nb,6\nc,9\nc,10\n");
  const auto r = run_shrink("fit '" + (d / "in.csv").string() + "'", d);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto rows = parse_csv(r.out);
  ASSERT_EQ(rows.size(), 4u);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 10u);
    EXPECT_EQ(rows[i][9], "");
  }
  EXPECT_NE(r.err.find("James-Stein needs at least 4 groups"), std::string::npos);
}

TEST(FitCli, FailedRunsLeaveNoFileAndUnwritablePathsAreErrors)
{
  temp_dir d;
  write_file(d / "in.csv", shrink::test::small_csv);
  write_file(d / "bad.csv", "group,y\na,1\na,x\n");
  write_file(d / "keep.csv", "old contents\n");
  // A failed run leaves an existing output untouched and no temporary file behind.
  auto r = run_shrink("fit '" + (d / "bad.csv").string() + "' -o '" + (d / "keep.csv").string() + "'", d);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(shrink::test::read_file(d / "keep.csv"), "old contents\n");
  r = run_shrink("fit '" + (d / "bad.csv").string() + "' -o '" + (d / "new.csv").string() + "'", d);
  EXPECT_EQ(r.status, 1);
  EXPECT_FALSE(std::filesystem::exists(d / "new.csv"));
  for (const auto& entry : std::filesystem::directory_iterator(d.path()))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
  shrink::test::expect_error(run_shrink("fit '" + (d / "in.csv").string() + "' -o /nonexistent-dir/out.csv", d), "cannot write");
  shrink::test::expect_error(run_shrink("fit '" + (d / "in.csv").string() + "' --summary /nonexistent-dir/s.json", d), "cannot write");
  shrink::test::expect_error(run_shrink("fit '" + (d / "missing.csv").string() + "'", d), "cannot open");
}

TEST(FitCli, CudaBackendWithoutAGpuIsAClearError)
{
  if (shrink::cuda_available()) GTEST_SKIP() << "a GPU is usable here: --backend cuda runs";
  temp_dir d;
  write_file(d / "in.csv", shrink::test::small_csv);
  shrink::test::expect_error(run_shrink("fit '" + (d / "in.csv").string() + "' --backend cuda", d), "--backend cuda");
}

TEST(FitCli, GenerateThenFitRecoversTheHyperparameters)
{
  temp_dir d;
  const auto g = run_shrink("generate --groups 2000 --obs 5:15 --mu 3 --tau 2 --sigma 4 --seed 11 -o '" +
                              (d / "g.csv").string() + "'",
                            d);
  ASSERT_EQ(g.status, 0) << g.err;
  const auto r = run_shrink("fit '" + (d / "g.csv").string() + "' -q -o /dev/null --summary '" + (d / "s.json").string() + "'", d);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(shrink::test::read_file(d / "s.json"));
  EXPECT_EQ(j["groups"], 2000);
  // Sampling sd of the estimates at J = 2000, N ~ 20000: mu +- 0.05, tau +- 0.06, sigma +- 0.02;
  // the bounds are about 4 sd.
  EXPECT_NEAR(j["mu"].get<double>(), 3, 0.2);
  EXPECT_NEAR(j["tau"].get<double>(), 2, 0.25);
  EXPECT_NEAR(std::sqrt(j["sigma2"].get<double>()), 4, 0.08);
  // Same seed, same file.
  const auto g2 = run_shrink("generate --groups 2000 --obs 5:15 --mu 3 --tau 2 --sigma 4 --seed 11", d);
  EXPECT_EQ(g2.out, shrink::test::read_file(d / "g.csv"));
}

}  // namespace

namespace {

TEST(FitCli, OutputsAreBitwiseIdenticalForAnyThreadCount)
{
  // About 2.5 MB of shuffled-key CSV, so the reader cuts it into several parallel chunks.
  temp_dir d;
  std::string csv = "group,y\n";
  std::uint64_t state = 12345;
  for (int i = 0; i < 120000; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const int g = static_cast<int>((state >> 33) % 20000);
    csv += std::to_string(g) + "," + std::to_string(static_cast<double>(state >> 11) * 0x1.0p-53 * 10 + g % 7) + "\n";
  }
  write_file(d / "in.csv", csv);
  std::string first_csv, first_json;
  for (int threads : {1, 2, 8}) {
    const auto t = std::to_string(threads);
    const auto r = run_shrink("fit '" + (d / "in.csv").string() + "' -q --backend cpu --threads " + t + " -o '" +
                                (d / ("o" + t + ".csv")).string() + "' --summary '" + (d / ("s" + t + ".json")).string() + "'",
                              d);
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(shrink::test::read_file(d / ("s" + t + ".json")));
    j.erase("seconds");
    j.erase("stage_seconds");
    if (threads == 1) {
      first_csv = shrink::test::read_file(d / "o1.csv");
      first_json = j.dump();
      continue;
    }
    EXPECT_EQ(shrink::test::read_file(d / ("o" + t + ".csv")), first_csv) << threads << " threads";
    EXPECT_EQ(j.dump(), first_json) << threads << " threads";
  }
}

}  // namespace

namespace {

TEST(FitCli, ArgumentErrorsAreOneLineToo)
{
  temp_dir d;
  write_file(d / "in.csv", shrink::test::small_csv);
  const std::string in = "'" + (d / "in.csv").string() + "'";
  shrink::test::expect_error(run_shrink("fit " + in + " --level abc", d), "--level");
  shrink::test::expect_error(run_shrink("fit " + in + " --no-such-option", d), "no-such-option");
  shrink::test::expect_error(run_shrink("fit " + in + " -o '" + (d / "x").string() + "' --summary '" + (d / "x").string() + "'", d),
               "name the same file");
  shrink::test::expect_error(run_shrink("generate --groups 3 --obs 10x", d), "--obs");
  shrink::test::expect_error(run_shrink("generate --groups 3 --obs 5:9z", d), "--obs");
  shrink::test::expect_error(run_shrink("generate --groups 3 --obs 9:5", d), "--obs");
  // Help is not an error.
  EXPECT_EQ(run_shrink("fit --help", d).status, 0);
}

TEST(FitCli, OutputFilesGetOrdinaryPermissions)
{
  temp_dir d;
  write_file(d / "in.csv", shrink::test::small_csv);
  const auto r = run_shrink("fit '" + (d / "in.csv").string() + "' -q -o '" + (d / "out.csv").string() + "'", d);
  ASSERT_EQ(r.status, 0) << r.err;
  const mode_t mask = ::umask(0);
  ::umask(mask);
  const auto perms = std::filesystem::status(d / "out.csv").permissions();
  EXPECT_EQ(static_cast<unsigned>(perms) & 0777u, 0666u & ~static_cast<unsigned>(mask));
}

}  // namespace

namespace {

TEST(FitCli, DevicesAreWrittenInPlaceNotReplaced)
{
  // Renaming a temporary file over /dev/null would replace the device for the whole machine.
  temp_dir d;
  write_file(d / "in.csv", shrink::test::small_csv);
  ASSERT_TRUE(std::filesystem::is_character_file("/dev/null"));
  const auto r = run_shrink("fit '" + (d / "in.csv").string() + "' -q -o /dev/null --summary '" + (d / "s.json").string() + "'", d);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::filesystem::is_character_file("/dev/null"));
  EXPECT_TRUE(std::filesystem::exists(d / "s.json"));
}

}  // namespace

// fit --plot: the SVG's drawn positions against the fit's CSV and JSON (tests/cli/fit_figures_test.py).
TEST(FitCli, PlotDrawsTheFitsNumbers) { shrink::test::python_test("fit_figures_test.py", "'" SHRINK_SOURCE_DIR "'"); }

// fit --html in headless Chromium: slider, button and readouts against the likelihood and posteriors
// computed from the fit's CSV (eight schools, BCG, 1e6 groups; tests/cli/fit_html_test.py).
TEST(FitCli, InteractivePageInHeadlessChromium)
{
  shrink::test::python_test("fit_html_test.py", "'" SHRINK_SOURCE_DIR "'");
}

// fit --family binomial|poisson --plot: drawn positions against the CSV/JSON and the profile
// likelihoods computed by the script (rat tumours, pumps, cbpp, 1e6 groups; fit_count_figures_test.py).
TEST(FitCli, CountPlotsDrawTheFitsNumbers) { shrink::test::python_test("fit_count_figures_test.py", "'" SHRINK_SOURCE_DIR "'"); }

// fit --covariates --plot/--html: the BCG meta-regression's figures against metafor's numbers.
TEST(FitCli, RegressionPlotMatchesMetafor)
{
  shrink::test::python_test("fit_regression_figures_test.py", "'" SHRINK_SOURCE_DIR "' svg");
}
TEST(FitCli, RegressionPageInHeadlessChromium)
{
  shrink::test::python_test("fit_regression_figures_test.py", "'" SHRINK_SOURCE_DIR "' html");
}

// fit --family ... --html in headless Chromium, and the sort control of every page (fit_count_html_test.py).
TEST(FitCli, CountPagesAndSortControlInHeadlessChromium)
{
  shrink::test::python_test("fit_count_html_test.py", "'" SHRINK_SOURCE_DIR "'");
}
