// `shrink simulate` end to end: the CSV contract, thread-independence of the output file, the
// figures, the progress bar (only on a terminal), errors as one line, and the interactive page in
// headless Chromium (tests/cli/simulate_html_test.py; skipped where no browser is installed).

#include "test_support.hpp"

#include <shrink/backend.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

namespace {

using shrink::test::read_file;
using shrink::test::run_shrink;
using shrink::test::temp_dir;

const std::string header =
  "groups,obs,mu,sigma,tau,estimator,replicates,mse,mse_mcse,bias,bias_mcse,coverage,coverage_mcse,tau_hat_mean,"
  "tau_hat_sd,p_tau_zero,tau_hat_mean_mcse,tau_hat_sd_mcse,p_tau_zero_mcse";

TEST(SimulateCli, WritesTheContractCsvForTheGrid)
{
  temp_dir dir;
  const auto r = run_shrink("simulate --groups 5,20 --obs 4,2:9 --mu 1 --sigma 1 --tau 0,0.5 --replicates 100 "
                            "--seed 7 --backend cpu",
                            dir);
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream in(r.out);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, header);
  int rows = 0;
  while (std::getline(in, line)) {
    ++rows;
    EXPECT_EQ(std::count(line.begin(), line.end(), ','), 18) << line;
  }
  EXPECT_EQ(rows, 2 * 2 * 2 * 5);
  EXPECT_NE(r.out.find("\n20,2:9,1,1,0.5,partial_pool,100,"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("on cpu"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << "progress bar drawn although stderr is a file";
}

TEST(SimulateCli, OutputFileIsIdenticalForAnyThreadCountAndBatch)
{
  temp_dir dir;
  const std::string common = "simulate --groups 7,5000 --obs 1:6 --tau 0.3 --replicates 130 --seed 9 --backend cpu -q ";
  ASSERT_EQ(run_shrink(common + "--threads 1 -o " + (dir / "a.csv").string(), dir).status, 0);
  ASSERT_EQ(run_shrink(common + "--threads 2 --batch 64 -o " + (dir / "b.csv").string(), dir).status, 0);
  ASSERT_EQ(run_shrink(common + "--threads 8 --mode sufficient -o " + (dir / "c.csv").string(), dir).status, 0);
  const std::string a = read_file(dir / "a.csv");
  EXPECT_EQ(a.rfind(header, 0), 0u);
  EXPECT_EQ(read_file(dir / "b.csv"), a);
  EXPECT_EQ(read_file(dir / "c.csv"), a);
}

// Outputs are renamed into place, but a device such as /dev/null must be written, never replaced.
TEST(SimulateCli, WritesToDevicesInPlace)
{
  struct stat before {};
  ASSERT_EQ(::stat("/dev/null", &before), 0);
  if (!S_ISCHR(before.st_mode)) GTEST_SKIP() << "/dev/null was already replaced by a regular file before this test";
  temp_dir dir;
  const auto r = run_shrink("simulate --groups 4 --replicates 3 -q -o /dev/null --json /dev/null", dir);
  EXPECT_EQ(r.status, 0) << r.err;
  struct stat after {};
  ASSERT_EQ(::stat("/dev/null", &after), 0);
  EXPECT_TRUE(S_ISCHR(after.st_mode)) << "shrink simulate replaced /dev/null";
}

TEST(SimulateCli, PlotsTheFirstReplicate)
{
  temp_dir dir;
  const auto r = run_shrink("simulate --groups 10 --obs 5 --tau 0.5 --replicates 10 -q --plot " +
                              (dir / "f.svg").string() + " --html " + (dir / "f.html").string() + " --json " +
                              (dir / "s.json").string() + " -o " + (dir / "o.csv").string(),
                            dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string svg = read_file(dir / "f.svg");
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  for (const char* label : {"observations", "no pooling", "partial pooling", "complete pooling", "true theta", "mu_hat"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  auto count = [&](const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t p = 0; (p = svg.find(needle, p)) != std::string::npos; ++p) ++n;
    return n;
  };
  EXPECT_EQ(count("class=\"obs\""), 10u * 5);  // every observation a dot
  EXPECT_EQ(count("class=\"truth\""), 10u);     // a triangle per group
  EXPECT_EQ(count("class=\"center\""), 1u);     // the dashed line at mu_hat
  const std::string html = read_file(dir / "f.html");
  EXPECT_NE(html.find("id=\"tau\""), std::string::npos);
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  // Sufficient mode (the default): the figures say their dots are an illustrative raw draw.
  EXPECT_NE(svg.find("Illustrative raw draw"), std::string::npos);
  EXPECT_NE(html.find("Illustrative raw draw"), std::string::npos);
  EXPECT_NE(html.find("sigma is the pooled within-group estimate"), std::string::npos);
  EXPECT_EQ(html.find("value=\"0\">"), std::string::npos);  // the slider starts at tau_hat, not 0
  const std::string json = read_file(dir / "s.json");
  EXPECT_NE(json.find("\"oracle_risk_closed_form\""), std::string::npos);
  // Raw mode: the figure's replicate is the study's first.
  const auto raw = run_shrink("simulate --groups 10 --obs 5 --tau 0.5 --replicates 10 -q --mode raw --plot " +
                                (dir / "g.svg").string() + " -o " + (dir / "g.csv").string(),
                              dir);
  ASSERT_EQ(raw.status, 0) << raw.err;
  EXPECT_EQ(read_file(dir / "g.svg").find("Illustrative raw draw"), std::string::npos);
  // One observation per group: no within-group variance, so the study uses the true sigma, and says so.
  const auto one = run_shrink("simulate --groups 10 --obs 1 --sigma 2 --tau 0.5 --replicates 10 -q --html " +
                                (dir / "h.html").string() + " -o " + (dir / "h.csv").string(),
                              dir);
  ASSERT_EQ(one.status, 0) << one.err;
  const std::string one_page = read_file(dir / "h.html");
  EXPECT_NE(one_page.find("the true sigma = 2 is used"), std::string::npos);
  EXPECT_EQ(one_page.find("pooled within-group estimate"), std::string::npos);
}

TEST(SimulateCli, ProgressBarOnlyOnATerminal)
{
  if (std::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "no `script` to make a terminal";
  temp_dir dir;
  // `script` runs the command on a pseudo-terminal; the study lasts long enough (> 0.5 s) to draw.
  const std::string cmd = std::string("script -qec \"'") + SHRINK_BINARY +
                          "' simulate --groups 2000 --obs 10 --tau 0.5 --replicates 3000 --threads 1 --backend cpu -o " +
                          (dir / "o.csv").string() + "\" /dev/null > " + (dir / "tty.txt").string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const std::string tty = read_file(dir / "tty.txt");
  EXPECT_NE(tty.find("group-replicates/s"), std::string::npos) << tty;
  EXPECT_NE(tty.find('\r'), std::string::npos) << tty;
}

TEST(SimulateCli, BadOptionsGiveOneLineErrors)
{
  temp_dir dir;
  auto expect_error = [&](const std::string& args, const std::string& text) {
    const auto r = run_shrink("simulate " + args, dir);
    EXPECT_EQ(r.status, 1) << args;
    EXPECT_NE(r.err.find(text), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  };
  expect_error("--groups 1", "--groups");
  expect_error("--obs 0", "--obs");
  expect_error("--obs 5:2", "--obs");
  expect_error("--tau 0.5,-1", "--tau");
  expect_error("--tau 0.5,", "--tau");
  expect_error("--replicates 1", "--replicates");
  expect_error("--prior cauchy", "--prior");
  expect_error("--prior t:0", "degrees of freedom");
  expect_error("--seed=-3", "--seed");
  expect_error("--seed 1.5", "--seed");
  expect_error("--mode both", "--mode");
  expect_error("--groups 3000 --plot " + (dir / "x.svg").string(), "at most");
  expect_error("--plot-order size --plot " + (dir / "x.svg").string(), "--plot-order");
  if (!shrink::cuda_available()) expect_error("--backend cuda", "cuda");
  EXPECT_FALSE(std::filesystem::exists(dir / "x.svg"));
}

TEST(SimulateCli, InteractivePageInHeadlessChromium) { shrink::test::python_test("simulate_html_test.py"); }

TEST(SimulateCli, FiguresDrawTheReplicatesNumbers) { shrink::test::python_test("figures_svg_test.py"); }

}  // namespace
