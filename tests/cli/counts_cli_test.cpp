// `shrink fit --family binomial|poisson` end to end: BDA3's rat tumours and the pump failures
// against R (maximum likelihood, profile intervals and qbeta's / qgamma's posterior quantiles:
// tests/data/rat_tumors_ml.R, pumps_ml.R), the method of moments against BDA3, fixed priors in both
// parameterisations, the boundary, and bad input.

#include "io/npy.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

namespace shrink::test {
namespace {

/// The 70 historical experiments as CSV (y,K), without the file's comment lines.
std::string rat_tumours_csv()
{
  std::vector<std::pair<double, double>> rows = rat_tumours();
  rows.resize(70);  // the 71st is the current experiment
  std::string out = "y,K\n";
  for (const auto& [y, n] : rows) out += std::to_string(static_cast<int>(y)) + "," + std::to_string(static_cast<int>(n)) + "\n";
  return out;
}

struct binomial_run {
  run_result run;
  nlohmann::json summary;
  std::vector<std::vector<std::string>> csv;
};

binomial_run fit_counts(const temp_dir& dir, const std::string& csv_text, const std::string& extra,
                        const std::string& family = "binomial")
{
  write_file(dir / "in.csv", csv_text);
  binomial_run r;
  r.run = run_shrink("fit --family " + family + " " + quoted(dir / "in.csv") + " -o " + quoted(dir / "out.csv") + " --summary " +
                       quoted(dir / "s.json") + " " + extra,
                     dir);
  if (r.run.status == 0) {
    r.summary = nlohmann::json::parse(read_file(dir / "s.json"));
    r.csv = parse_csv(read_file(dir / "out.csv"));
  }
  return r;
}

TEST(BinomialCli, RatTumoursMaximumLikelihoodMatchesR)
{
  temp_dir dir;
  const binomial_run r = fit_counts(dir, rat_tumours_csv(), "--successes y --trials K");
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  const nlohmann::json& s = r.summary;
  EXPECT_EQ(s["family"], "binomial");
  EXPECT_EQ(s["method"], "ml");
  EXPECT_NEAR(s["alpha"].get<double>(), 2.30478331212428, 1e-11 * 2.3);
  EXPECT_NEAR(s["beta"].get<double>(), 14.0798090315476, 1e-11 * 14.1);
  EXPECT_NEAR(s["log_likelihood"].get<double>(), -154.140249665197, 1e-11);
  EXPECT_NEAR(s["overdispersion_test"]["statistic"].get<double>(), 31.006664410615, 1e-10);
  EXPECT_DOUBLE_EQ(s["complete_pooling"].get<double>(), 263.0 / 1725.0);
  // Profile-likelihood intervals (R: optimize inside uniroot, to 1e-13).
  EXPECT_NEAR(s["mean_ci"][0].get<double>(), 0.116360022769, 1e-10);
  EXPECT_NEAR(s["mean_ci"][1].get<double>(), 0.168198925069, 1e-10);
  EXPECT_NEAR(s["concentration_ci"][0].get<double>(), 8.76364758368, 1e-9);
  EXPECT_NEAR(s["concentration_ci"][1].get<double>(), 33.9284171016, 1e-9);
  // Per group: the conjugate posterior and R's qbeta at the same (alpha, beta).
  ASSERT_EQ(r.csv.size(), 71u);
  EXPECT_EQ(r.csv[0], (std::vector<std::string>{"group", "trials", "successes", "rate", "shrinkage", "estimate", "sd",
                                                  "lower", "upper"}));
  EXPECT_EQ(r.csv[1][0], "1");
  EXPECT_EQ(r.csv[1][1], "20");
  EXPECT_EQ(r.csv[1][2], "0");
  EXPECT_NEAR(std::stod(r.csv[1][7]), 0.0098551749017594219, 1e-13);
  EXPECT_NEAR(std::stod(r.csv[1][8]), 0.16092799033893568, 1e-13);
  EXPECT_NEAR(std::stod(r.csv[70][7]), 0.1544770329878194, 1e-13);
  EXPECT_NEAR(std::stod(r.csv[70][8]), 0.4260052516047953, 1e-13);
  const double alpha = s["alpha"], beta = s["beta"];
  EXPECT_DOUBLE_EQ(std::stod(r.csv[70][5]), (alpha + 9) / (alpha + beta + 24));       // 9 of 24
  EXPECT_DOUBLE_EQ(std::stod(r.csv[70][4]), (alpha + beta) / (alpha + beta + 24));     // shrinkage
  EXPECT_NE(r.run.err.find("over-dispersion"), std::string::npos);
}

TEST(BinomialCli, CountTablesOffThePlainPathReadAlike)
{
  // `group,y,n` rows of plain whole numbers take the reader's fast path; a leading zero, a CR, a
  // quote, a blank line or a missing last line end send the whole table through the general
  // scanner. Every form gives the same fit and per-group table, bit for bit.
  std::vector<std::pair<double, double>> rows = rat_tumours();
  rows.resize(70);
  const auto table = [&](const std::string& line_end, const std::string& first_y, bool last_end) {
    std::string out = "group,y,n" + line_end;
    for (std::size_t j = 0; j < rows.size(); ++j) {
      const std::string y = j == 0 ? first_y : std::to_string(static_cast<int>(rows[j].first));
      out += std::to_string(j + 1) + "," + y + "," + std::to_string(static_cast<int>(rows[j].second));
      if (j + 1 < rows.size() || last_end) out += line_end;
    }
    return out;
  };
  const std::string y0 = std::to_string(static_cast<int>(rows[0].first));
  temp_dir dir;
  const auto fitted = [&](const std::string& csv) {
    binomial_run r = fit_counts(dir, csv, "--successes y --trials n --prior logit-normal");
    EXPECT_EQ(r.run.status, 0) << r.run.err;
    r.summary.erase("seconds");
    r.summary.erase("stage_seconds");
    return r;
  };
  const binomial_run plain = fitted(table("\n", y0, true));
  ASSERT_EQ(plain.csv.size(), 71u);
  EXPECT_EQ(plain.csv[70][0], "70");
  for (const std::string& csv : {table("\r\n", y0, true), table("\n", "0" + y0, true), table("\n", "\"" + y0 + "\"", true),
                                 table("\n", y0, true) + "\n", table("\n", y0, false)}) {
    const binomial_run other = fitted(csv);
    EXPECT_EQ(other.csv, plain.csv);
    EXPECT_EQ(other.summary, plain.summary);
  }
  temp_dir bad;
  write_file(bad / "in.csv", "group,y,n\n1,0,0\n2,1,2\n");
  expect_error(run_shrink("fit --family binomial --successes y --trials n " + quoted(bad / "in.csv"), bad), "trials must be > 0");
  write_file(bad / "in.csv", "group,y,n\n1,11,10\n2,1,2\n");
  expect_error(run_shrink("fit --family binomial --successes y --trials n " + quoted(bad / "in.csv"), bad),
               "group '1': more successes than trials (11 > 10)");
}

TEST(BinomialCli, MethodOfMomentsMatchesBda3)
{
  temp_dir dir;
  const binomial_run r = fit_counts(dir, rat_tumours_csv(), "--successes y --trials K --method mom");
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_NEAR(r.summary["alpha"].get<double>(), 1.4, 0.05);  // BDA3 section 5.1: Beta(1.4, 8.6)
  EXPECT_NEAR(r.summary["beta"].get<double>(), 8.6, 0.15);
  EXPECT_TRUE(r.summary["mean_ci"][0].is_null());  // profile intervals belong to ml
  // The over-dispersion test is the maximum likelihood's whatever the reported estimate.
  EXPECT_NEAR(r.summary["overdispersion_test"]["statistic"].get<double>(), 31.006664410615, 1e-10);
}

TEST(BinomialCli, FixedPriorInEitherParameterisation)
{
  temp_dir dir;
  const std::string csv = "group,y,n\na,1,10\nb,5,10\nc,0,3\n";
  const binomial_run by_shape = fit_counts(dir, csv, "--successes y --trials n --method fixed --alpha 2 --beta 6");
  ASSERT_EQ(by_shape.run.status, 0) << by_shape.run.err;
  const binomial_run by_mean = fit_counts(dir, csv, "--successes y --trials n --method fixed --mean 0.25 --concentration 8");
  ASSERT_EQ(by_mean.run.status, 0) << by_mean.run.err;
  EXPECT_EQ(by_shape.csv, by_mean.csv);
  // b: 5 of 10 under Beta(2, 6): posterior Beta(7, 11), mean 7/18, shrinkage 8/18 (by hand).
  EXPECT_EQ(by_shape.csv[2][0], "b");
  EXPECT_DOUBLE_EQ(std::stod(by_shape.csv[2][5]), 7.0 / 18);
  EXPECT_DOUBLE_EQ(std::stod(by_shape.csv[2][4]), 8.0 / 18);
  EXPECT_DOUBLE_EQ(std::stod(by_shape.csv[2][6]), std::sqrt(7.0 * 11 / (18.0 * 18 * 19)));
}

TEST(BinomialCli, NoOverdispersionIsCompletePooling)
{
  temp_dir dir;
  const binomial_run r = fit_counts(dir, "y,n\n3,10\n6,20\n9,30\n12,40\n30,100\n", "--successes y --trials n");
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_TRUE(r.summary["boundary"].get<bool>());
  EXPECT_TRUE(r.summary["concentration"].is_null());  // infinite
  EXPECT_TRUE(r.summary["concentration_ci"][1].is_null());
  EXPECT_DOUBLE_EQ(r.summary["mean"].get<double>(), 0.3);
  for (std::size_t j = 1; j < r.csv.size(); ++j) EXPECT_DOUBLE_EQ(std::stod(r.csv[j][5]), 0.3);
  EXPECT_NE(r.run.err.find("partial pooling equals complete pooling"), std::string::npos);
}

TEST(BinomialCli, BadInputIsOneLineError)
{
  temp_dir dir;
  const auto run = [&](const std::string& csv, const std::string& args) {
    write_file(dir / "in.csv", csv);
    return run_shrink("fit " + quoted(dir / "in.csv") + " -o " + quoted(dir / "o.csv") + " " + args, dir);
  };
  const std::string ok = "group,y,n\na,1,10\nb,5,10\nc,2,8\n";
  expect_error(run("group,y,n\na,11,10\nb,1,2\n", "--family binomial --successes y --trials n"),
               "group 'a': more successes than trials (11 > 10)");
  expect_error(run("group,y,n\na,1.5,10\nb,1,2\n", "--family binomial --successes y --trials n"),
               "group 'a': y = 1.5 is not a count");
  expect_error(run("group,y,n\na,0,0\nb,1,2\n", "--family binomial --successes y --trials n"), "trials must be > 0");
  expect_error(run("group,y,n\na,-1,3\nb,1,2\n", "--family binomial --successes y --trials n"), "is not a count");
  expect_error(run(ok, "--family binomial --successes y --trials m"), "no trials column 'm'");
  expect_error(run(ok, "--family binomial --successes y"), "needs --successes NAME and --trials NAME");
  expect_error(run("group,y\na,1\na,0.5\nb,0\n", "--family binomial --value y"), "group 'a' has the y value 0.5: raw rows of --family binomial are trials, 0 or 1");
  expect_error(run(ok, "--family binomial --successes y --trials n --tau-method reml"), "--tau-method belongs to --family normal");
  expect_error(run(ok, "--successes y --trials n"), "--successes belongs to --family binomial");
  expect_error(run(ok, "--family binomial --successes y --trials n --method fixed"), "--method fixed needs the prior");
  expect_error(run(ok, "--family binomial --successes y --trials n --alpha 2 --beta 3"), "give the prior of --method fixed");
  expect_error(run(ok, "--family binomial --successes y --trials n --method reml"), "unknown --method 'reml'");
  expect_error(run(ok, "--family poisson"), "--family poisson needs --counts NAME");
  expect_error(run(ok, "--family gaussian"), "unknown --family 'gaussian'");
  expect_error(run("group,y,n\na,0,10\nb,0,3\n", "--family binomial --successes y --trials n"), "every group's count is 0");
  // Counts all 0 or n_j: ml's likelihood rises as the concentration falls to 0 (tests/cpu/count_fit_test.cpp).
  const std::string extreme = "group,y,n\na,0,5\nb,7,7\nc,0,2\nd,3,3\n";
  expect_error(run(extreme, "--family binomial --successes y --trials n"),
               "every group's successes are 0 or all its trials: the likelihood rises as the concentration falls to 0");
  // The moments: rates 0, 1, 0, 1 have m = 1/2 and sample variance 1/3 > m (1 - m) = 1/4; rates 0, 0,
  // 0.9, 1 (not all extreme) m = 0.475, variance 0.3025 > 0.249375: nu = m (1 - m) / v - 1 < 0 both times.
  expect_error(run(extreme, "--family binomial --successes y --trials n --method mom"),
               "the rates vary at least as much as rates of only 0 and 1 (variance >= m (1 - m))");
  expect_error(run("group,y,n\na,0,10\nb,0,10\nc,9,10\nd,10,10\n", "--family binomial --successes y --trials n --method mom"),
               "the moment concentration is <= 0, the no-pooling limit");
  // Rates 0, 0.1, 0.9, 1: variance 0.2733 > m (1 - m) = 0.25 too; 0.2, 0.1, 0.9, 1 (v = 0.2167 < 0.2475) fits.
  expect_error(run("group,y,n\na,0,10\nb,1,10\nc,9,10\nd,10,10\n", "--family binomial --successes y --trials n --method mom"),
               "no finite estimate");
  const binomial_run fits = fit_counts(dir, "y,n\n2,10\n1,10\n9,10\n10,10\n", "--successes y --trials n --method mom");
  ASSERT_EQ(fits.run.status, 0) << fits.run.err;
  EXPECT_NEAR(fits.summary["concentration"].get<double>(), 0.2475 / (0.65 / 3) - 1, 1e-12);  // m = 0.55, v = 0.65 / 3
}

TEST(BinomialCli, RawTrialsFitAsTheirCounts)
{
  // The rat tumours as 1725 rows of 0/1 (one row per rat) fit bitwise as the 70 rows of counts.
  std::istringstream in(rat_tumours_csv());
  std::string line, raw = "experiment,tumour\n";
  std::getline(in, line);  // header
  for (int j = 1; std::getline(in, line); ++j) {
    const int y = std::stoi(line.substr(0, line.find(','))), n = std::stoi(line.substr(line.find(',') + 1));
    for (int i = 0; i < n; ++i) raw += std::to_string(j) + "," + (i < y ? "1" : "0") + "\n";
  }
  temp_dir a, b;
  const binomial_run rows = fit_counts(a, raw, "--group experiment --value tumour");
  ASSERT_EQ(rows.run.status, 0) << rows.run.err;
  const binomial_run counts = fit_counts(b, rat_tumours_csv(), "--successes y --trials K");
  ASSERT_EQ(counts.run.status, 0) << counts.run.err;
  for (const char* key : {"alpha", "beta", "log_likelihood", "mean_ci", "concentration_ci", "successes", "trials"})
    EXPECT_EQ(rows.summary[key], counts.summary[key]) << key;
  EXPECT_EQ(rows.csv, counts.csv);  // experiments 1..70: key order is file order
}

TEST(BinomialCli, BinaryColumnsFitAsTheirCounts)
{
  // The same 1725 rats as .npy columns (int32 experiment, float64 0/1) fit bitwise as the 70 counts.
  std::vector<std::int32_t> keys;
  std::vector<double> values;
  int j = 1;
  for (const auto& [y, n] : rat_tumours()) {
    if (j > 70) break;
    for (int i = 0; i < static_cast<int>(n); ++i) {
      keys.push_back(j);
      values.push_back(i < y ? 1 : 0);
    }
    ++j;
  }
  temp_dir a, b;
  io::write_npy((a / "k.npy").string(), keys.data(), keys.size());
  io::write_npy((a / "v.npy").string(), values.data(), values.size());
  const run_result run = run_shrink("fit --family binomial --group-npy " + quoted(a / "k.npy") + " --value-npy " +
                                      quoted(a / "v.npy") + " -o " + quoted(a / "out.csv") + " --summary " + quoted(a / "s.json"),
                                    a);
  ASSERT_EQ(run.status, 0) << run.err;
  const binomial_run counts = fit_counts(b, rat_tumours_csv(), "--successes y --trials K");
  ASSERT_EQ(counts.run.status, 0) << counts.run.err;
  const nlohmann::json summary = nlohmann::json::parse(read_file(a / "s.json"));
  for (const char* key : {"alpha", "beta", "log_likelihood", "mean_ci", "concentration_ci", "successes", "trials"})
    EXPECT_EQ(summary[key], counts.summary[key]) << key;
  EXPECT_EQ(parse_csv(read_file(a / "out.csv")), counts.csv);

  // A value that is not a trial is refused as the CSV reader refuses it.
  values[5] = 2;
  io::write_npy((a / "v.npy").string(), values.data(), values.size());
  expect_error(run_shrink("fit --family binomial --group-npy " + quoted(a / "k.npy") + " --value-npy " + quoted(a / "v.npy") +
                            " -o " + quoted(a / "out.csv"),
                          a),
               "group '1' has the " + (a / "v.npy").string() + " value 2: raw rows of --family binomial are trials, 0 or 1");
  expect_error(run_shrink("fit --family poisson --group-npy " + quoted(a / "k.npy") + " --value y -o " + quoted(a / "o.csv"), a),
               "binary input needs both --group-npy and --value-npy");
}

TEST(PoissonCli, RawCountsFitAsTheirSums)
{
  // One count per row, each row one unit of exposure: as per-group sums over exposures = rows.
  temp_dir a, b;
  const std::string raw = "g,y\nx,3\nx,0\nx,4\ny,9\ny,12\nz,0\nw,1\nw,2\nw,0\nw,5\n";
  const std::string sums = "g,y,E\nw,8,4\nx,7,3\ny,21,2\nz,0,1\n";  // keys in sorted order, as raw mode reports them
  const binomial_run rows = fit_counts(a, raw, "--group g --value y", "poisson");
  ASSERT_EQ(rows.run.status, 0) << rows.run.err;
  const binomial_run per_group = fit_counts(b, sums, "--group g --counts y --exposure E", "poisson");
  ASSERT_EQ(per_group.run.status, 0) << per_group.run.err;
  for (const char* key : {"shape", "rate", "mean", "log_likelihood", "counts", "exposure"})
    EXPECT_EQ(rows.summary[key], per_group.summary[key]) << key;
  EXPECT_EQ(rows.csv, per_group.csv);
}

TEST(PoissonCli, RawCountsWithExposuresFitAsTheirSums)
{
  // One count per row with its own exposure (groups interleaved, integer keys out of order): as the
  // per-group sums, added by hand (exposures in quarters, so every sum is exact), in summary mode.
  temp_dir a, b;
  const std::string raw = "g,y,e\n10,3,0.25\n2,0,1.5\n10,4,2\n9,9,0.75\n2,12,4.25\n10,0,1\n7,1,3\n9,2,0.5\n7,0,0.25\n"
                          "2,5,0.5\n";
  const std::string sums = "g,y,E\n2,17,6.25\n7,1,3.25\n9,11,1.25\n10,7,3.25\n";  // numeric key order
  const binomial_run per_group = fit_counts(b, sums, "--group g --counts y --exposure E", "poisson");
  ASSERT_EQ(per_group.run.status, 0) << per_group.run.err;
  for (const char* threads : {"1", "2", "7"}) {
    const binomial_run rows = fit_counts(a, raw, std::string("--group g --value y --exposure e --threads ") + threads, "poisson");
    ASSERT_EQ(rows.run.status, 0) << rows.run.err;
    for (const char* key : {"shape", "rate", "mean", "log_likelihood", "shape_ci", "counts", "exposure"})
      EXPECT_EQ(rows.summary[key], per_group.summary[key]) << key;
    EXPECT_EQ(rows.csv, per_group.csv);
  }
  EXPECT_EQ(per_group.summary["counts"].get<double>(), 36.0);
  EXPECT_EQ(per_group.summary["exposure"].get<double>(), 14.0);
}

TEST(PoissonCli, PumpFailuresMatchR)
{
  temp_dir dir;
  const binomial_run r = fit_counts(dir, read_file(reference_data() / "pumps.csv"),
                                    "--group pump --counts failures --exposure thousand_hours", "poisson");
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  const nlohmann::json& s = r.summary;
  EXPECT_EQ(s["family"], "poisson");
  EXPECT_EQ(s["prior"], "gamma");
  EXPECT_NEAR(s["shape"].get<double>(), 0.822268649688647, 1e-11);  // tests/data/pumps_ml.R
  EXPECT_NEAR(s["rate"].get<double>(), 1.25895444337072, 1e-11);
  EXPECT_NEAR(s["mean"].get<double>(), 0.653136143264333, 1e-12);
  EXPECT_NEAR(s["log_likelihood"].get<double>(), -32.2630670449524, 1e-11);  // dnbinom, constants included
  EXPECT_NEAR(s["overdispersion_test"]["statistic"].get<double>(), 93.4475038003712, 1e-10);
  EXPECT_NEAR(s["mean_ci"][0].get<double>(), 0.305628508489, 1e-10);
  EXPECT_NEAR(s["mean_ci"][1].get<double>(), 1.70721653016, 1e-9);
  EXPECT_NEAR(s["shape_ci"][0].get<double>(), 0.333870696014, 1e-10);
  EXPECT_NEAR(s["shape_ci"][1].get<double>(), 1.83485155864, 1e-9);
  EXPECT_DOUBLE_EQ(s["counts"].get<double>(), 75);
  ASSERT_EQ(r.csv.size(), 11u);
  EXPECT_EQ(r.csv[0], (std::vector<std::string>{"group", "exposure", "count", "rate", "shrinkage", "estimate", "sd",
                                                  "lower", "upper"}));
  EXPECT_EQ(r.csv[1][0], "1");
  EXPECT_EQ(r.csv[1][1], "94.32");
  EXPECT_NEAR(std::stod(r.csv[1][7]), 0.021933243209303836, 1e-13);  // R's qgamma at the estimate
  EXPECT_NEAR(std::stod(r.csv[1][8]), 0.11945755486799196, 1e-13);
  const double shape = s["shape"], rate = s["rate"];
  EXPECT_DOUBLE_EQ(std::stod(r.csv[10][5]), (shape + 22) / (rate + 10.48));
  EXPECT_DOUBLE_EQ(std::stod(r.csv[10][4]), rate / (rate + 10.48));
}

TEST(PoissonCli, ExposureDefaultsToOneAndFixedPriors)
{
  temp_dir dir;
  const std::string csv = "county,deaths\na,3\nb,0\nc,7\nd,2\n";
  const binomial_run by_shape = fit_counts(dir, csv, "--group county --counts deaths --method fixed --shape 2 --rate 0.5", "poisson");
  ASSERT_EQ(by_shape.run.status, 0) << by_shape.run.err;
  const binomial_run by_mean = fit_counts(dir, csv, "--group county --counts deaths --method fixed --mean 4 --shape 2", "poisson");
  ASSERT_EQ(by_mean.run.status, 0) << by_mean.run.err;
  EXPECT_EQ(by_shape.csv, by_mean.csv);
  // c: 7 counts, exposure 1, Gamma(2, 0.5) prior: posterior Gamma(9, 1.5), mean 6, sd 2 (by hand).
  EXPECT_EQ(by_shape.csv[3][1], "1");
  EXPECT_DOUBLE_EQ(std::stod(by_shape.csv[3][5]), 6.0);
  EXPECT_DOUBLE_EQ(std::stod(by_shape.csv[3][6]), 2.0);
  EXPECT_DOUBLE_EQ(std::stod(by_shape.csv[3][4]), 1.0 / 3);
}

TEST(PoissonCli, ExposuresOfAnyScaleGiveTheSameFit)
{
  // The model is the same in any unit of exposure: at 1e-300 or 1e300 per unit the shape is the
  // same and the rates scale by the unit (exposures are rescaled internally by a power of two).
  temp_dir dir;
  const auto fit_at = [&](const std::string& unit) {
    const std::string csv = "g,y,E\na,3,1" + unit + "\nb,5,2" + unit + "\nc,0,1" + unit + "\nd,19,3" + unit + "\ne,1,2" + unit + "\n";
    const binomial_run r = fit_counts(dir, csv, "--group g --counts y --exposure E", "poisson");
    EXPECT_EQ(r.run.status, 0) << r.run.err;
    return r.summary;
  };
  const nlohmann::json one = fit_at(""), tiny = fit_at("e-300"), huge = fit_at("e300");
  ASSERT_FALSE(one["shape"].is_null());
  EXPECT_NEAR(tiny["shape"].get<double>(), one["shape"].get<double>(), 1e-12 * one["shape"].get<double>());
  EXPECT_NEAR(huge["shape"].get<double>(), one["shape"].get<double>(), 1e-12 * one["shape"].get<double>());
  EXPECT_NEAR(tiny["mean"].get<double>() * 1e-300, one["mean"].get<double>(), 1e-12 * one["mean"].get<double>());
  EXPECT_NEAR(huge["mean"].get<double>() * 1e300, one["mean"].get<double>(), 1e-12 * one["mean"].get<double>());
  EXPECT_NEAR(tiny["exposure"].get<double>(), 9e-300, 1e-12 * 9e-300);  // totals in the input's unit
  EXPECT_NEAR(huge["exposure"].get<double>(), 9e300, 1e-12 * 9e300);
  // The counts' probabilities do not depend on the unit: neither does the log-likelihood.
  EXPECT_NEAR(tiny["log_likelihood"].get<double>(), one["log_likelihood"].get<double>(), 1e-9);
  EXPECT_NEAR(huge["log_likelihood"].get<double>(), one["log_likelihood"].get<double>(), 1e-9);
}

TEST(PoissonCli, BadInputIsOneLineError)
{
  temp_dir dir;
  const auto run = [&](const std::string& csv, const std::string& args) {
    write_file(dir / "in.csv", csv);
    return run_shrink("fit " + quoted(dir / "in.csv") + " -o " + quoted(dir / "o.csv") + " --family poisson " + args, dir);
  };
  const std::string ok = "g,y,e\na,1,10\nb,5,2.5\nc,2,8\n";
  expect_error(run("g,y,e\na,1,0\nb,1,2\n", "--group g --counts y --exposure e"), "exposures must be > 0");
  expect_error(run("g,y,e\na,1,-2\nb,1,2\n", "--group g --counts y --exposure e"), "exposures must be > 0");
  expect_error(run("g,y,e\na,2.5,1\nb,1,2\n", "--group g --counts y --exposure e"), "group 'a': y = 2.5 is not a count");
  expect_error(run(ok, "--group g --counts z"), "no counts column 'z'");
  expect_error(run(ok, "--group g --counts y --trials e"), "--trials does not belong to --family poisson");
  expect_error(run(ok, "--group g --counts y --method fixed --shape 2"), "--method fixed needs the prior");
  expect_error(run(ok, "--group g --counts y --method fixed --mean -1 --shape 2"), "--mean must be positive");
  expect_error(run("g,y\na,0\nb,0\n", "--group g --counts y"), "every group's count is 0");
  expect_error(run("g,y\na,0\nb,0\n", "--group g --counts y --method mom"), "every group's count is 0");
  expect_error(run(ok, "--group g --counts y --method fixed --shape 1e13 --rate 1"), "must be at most 1e12");
  expect_error(run("g,y\na,2\na,-1\nb,0\n", "--group g --value y"), "group 'a' has the y value -1: raw rows of --family poisson are counts");
  expect_error(run("g,y\na,2\na,1.5\nb,0\n", "--group g --value y"), "group 'a' has the y value 1.5");
  expect_error(run("g,y,e\na,1,2\na,1,0\nb,1,2\n", "--group g --value y --exposure e"),
               "line 3: group 'a' has the e value 0: exposures must be > 0");
  expect_error(run("g,y,e\na,1,2\nb,1,-0.5\n", "--group g --value y --exposure e"),
               "line 3: group 'b' has the e value -0.5: exposures must be > 0");
  expect_error(run("g,y,e\na,1,2\nb,1.5,1\n", "--group g --value y --exposure e"),
               "group 'b' has the y value 1.5: raw rows of --family poisson are counts");
  expect_error(run("g,y,e\na,1,2\nb,1,x\n", "--group g --value y --exposure e"), "line 3: column 'e': 'x'");
  expect_error(run("g,y,e\na\x01" "b,1,0\n", "--group g --value y --exposure e"), "group 'a\\x01b' has the e value 0");
  expect_error(run(ok, "--group g --value y --exposure hours"), "no data column 'hours'; the columns are: 'g', 'y', 'e'");
  expect_error(run(ok, "--group g --value count --exposure e"), "no data column 'count'");
  {  // .npy raw rows have no exposure column: refused, not ignored
    std::vector<std::int32_t> keys{1, 2};
    std::vector<double> values{1, 3};
    io::write_npy((dir / "k.npy").string(), keys.data(), keys.size());
    io::write_npy((dir / "v.npy").string(), values.data(), values.size());
    expect_error(run_shrink("fit --family poisson --group-npy " + quoted(dir / "k.npy") + " --value-npy " +
                              quoted(dir / "v.npy") + " --exposure e -o " + quoted(dir / "o.csv"),
                            dir),
                 "--exposure names a CSV column: .npy raw rows have no exposure column");
  }
  expect_error(run(ok, "--group g --value y --counts y"), "--value reads raw rows, --counts one row per group");
}

}  // namespace
}  // namespace shrink::test
