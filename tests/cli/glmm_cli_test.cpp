// `shrink fit --family binomial --prior logit-normal` and `--family poisson --prior log-normal` end
// to end: lme4's cbpp (summary rows and raw 0/1 rows) and the pumps against the independent R
// maximisation and glmer (tests/data/glmm_reference.R), the per-group columns, and bad input.

#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace shrink::test {
namespace {

/// cbpp per herd (its rows summed) as CSV "herd,y,n", and as raw 0/1 rows "herd,sick".
std::pair<std::string, std::string> cbpp_csv()
{
  std::ifstream in(reference_data() / "cbpp.csv");
  EXPECT_TRUE(in.good()) << "tests/data/cbpp.csv is missing";
  std::map<int, std::pair<int, int>> herds;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string herd, y, n;
    std::getline(f, herd, ',');
    std::getline(f, y, ',');
    std::getline(f, n, ',');
    herds[std::stoi(herd)].first += std::stoi(y);
    herds[std::stoi(herd)].second += std::stoi(n);
  }
  std::string summary = "herd,y,n\n", raw = "herd,sick\n";
  for (const auto& [herd, yn] : herds) {
    summary += std::to_string(herd) + "," + std::to_string(yn.first) + "," + std::to_string(yn.second) + "\n";
    for (int i = 0; i < yn.second; ++i) raw += std::to_string(herd) + "," + (i < yn.first ? "1" : "0") + "\n";
  }
  return {summary, raw};
}

struct glmm_run {
  run_result run;
  nlohmann::json summary;
  std::vector<std::vector<std::string>> csv;
};

glmm_run fit(const temp_dir& dir, const std::string& csv_text, const std::string& args)
{
  write_file(dir / "in.csv", csv_text);
  glmm_run r;
  r.run = run_shrink("fit " + quoted(dir / "in.csv") + " -o " + quoted(dir / "out.csv") + " --summary " +
                       quoted(dir / "s.json") + " " + args,
                     dir);
  if (r.run.status == 0) {
    r.summary = nlohmann::json::parse(read_file(dir / "s.json"));
    r.csv = parse_csv(read_file(dir / "out.csv"));
  }
  return r;
}

TEST(LogitNormalCli, CbppMatchesRAndGlmer)
{
  temp_dir dir;
  const glmm_run r = fit(dir, cbpp_csv().first, "--family binomial --successes y --trials n --group herd --prior logit-normal --quadrature-points 25");
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  const nlohmann::json& s = r.summary;
  EXPECT_EQ(s["family"], "binomial");
  EXPECT_EQ(s["prior"], "logit-normal");
  EXPECT_EQ(s["method"], "ml");
  EXPECT_EQ(s["quadrature_points"], 25);
  // The AGHQ maximum by R (1e-9) and glmer nAGQ = 25 (1e-6; see tests/cpu/glmm_fit_test.cpp).
  EXPECT_NEAR(s["mu"].get<double>(), -2.0465039440629837, 2.1e-9);
  EXPECT_NEAR(s["tau2"].get<double>(), 0.66976219682121596, 0.67e-9);
  EXPECT_NEAR(s["mu"].get<double>(), -2.04650394796971, 2e-6);
  EXPECT_NEAR(s["log_likelihood"].get<double>(), -43.791787058082697, 1e-9);
  EXPECT_NEAR(std::sqrt(s["tau2"].get<double>()), s["tau"].get<double>(), 1e-15);
  EXPECT_GT(s["tau2_test"]["statistic"].get<double>(), 20);
  ASSERT_EQ(r.csv.size(), 16u);
  EXPECT_EQ(r.csv[0], (std::vector<std::string>{"group", "trials", "successes", "rate", "shrinkage", "estimate", "sd",
                                                  "lower", "upper", "mode", "mode_sd"}));
  EXPECT_EQ(r.csv[1][0], "1");
  EXPECT_EQ(r.csv[1][1], "40");
  EXPECT_EQ(r.csv[1][2], "9");
  EXPECT_DOUBLE_EQ(std::stod(r.csv[1][3]), 9.0 / 40);
  EXPECT_NEAR(std::stod(r.csv[1][9]), 0.66201577950924273, 1e-9);   // R: tau u^ of herd 1
  EXPECT_NEAR(std::stod(r.csv[1][10]), 0.35578395564027804, 1e-9);  // tau / sqrt(c)
  // shrinkage = mode_sd^2 / tau2.
  EXPECT_NEAR(std::stod(r.csv[1][4]), std::pow(std::stod(r.csv[1][10]), 2) / s["tau2"].get<double>(), 1e-12);
  for (std::size_t j = 1; j < r.csv.size(); ++j) {
    const double lower = std::stod(r.csv[j][7]), estimate = std::stod(r.csv[j][5]), upper = std::stod(r.csv[j][8]);
    EXPECT_LT(lower, estimate);
    EXPECT_LT(estimate, upper);
  }
  EXPECT_NE(r.run.err.find("logit-normal prior, 25-point adaptive Gauss-Hermite"), std::string::npos) << r.run.err;
}

TEST(LogitNormalCli, RawRowsFitAsTheirCounts)
{
  const auto [summary, raw] = cbpp_csv();
  temp_dir a, b;
  const glmm_run counts = fit(a, summary, "--family binomial --successes y --trials n --group herd --prior logit-normal");
  const glmm_run rows = fit(b, raw, "--family binomial --group herd --value sick --prior logit-normal");
  ASSERT_EQ(counts.run.status, 0) << counts.run.err;
  ASSERT_EQ(rows.run.status, 0) << rows.run.err;
  for (const char* key : {"mu", "tau2", "log_likelihood", "mu_se", "tau2_se", "tau2_test", "quadrature_points", "mu_ci", "tau2_ci"})
    EXPECT_EQ(rows.summary[key], counts.summary[key]) << key;
  EXPECT_EQ(rows.csv, counts.csv);
  // R, K = 10: mu and the likelihood-ratio statistic of tau2 = 0.
  EXPECT_NEAR(counts.summary["mu"].get<double>(), -2.0465040289338416, 2.1e-9);
  EXPECT_NEAR(counts.summary["tau2_test"]["statistic"].get<double>(), 29.256428112319384, 3e-8);
  // Profile-likelihood 95% intervals (R: optimize inside uniroot).
  EXPECT_NEAR(counts.summary["mu_ci"][0].get<double>(), -2.57512085411, 1e-9);
  EXPECT_NEAR(counts.summary["mu_ci"][1].get<double>(), -1.55279494186, 1e-9);
  EXPECT_NEAR(counts.summary["tau2_ci"][0].get<double>(), 0.257065868795, 1e-9);
  EXPECT_NEAR(counts.summary["tau2_ci"][1].get<double>(), 1.78811333996, 1e-9);
  // Herd 1's posterior of theta (R: Simpson's rule and uniroot on the exact posterior).
  EXPECT_NEAR(std::stod(counts.csv[1][5]), 0.201440241501056, 2e-9);
  EXPECT_NEAR(std::stod(counts.csv[1][7]), 0.104132730448286, 1e-9);
  EXPECT_NEAR(std::stod(counts.csv[1][8]), 0.323605319069178, 3e-9);
}

TEST(LogitNormalCli, ThreadCountDoesNotChangeABit)
{
  const std::string summary = cbpp_csv().first;
  temp_dir a, b;
  const glmm_run one = fit(a, summary, "--family binomial --successes y --trials n --group herd --prior logit-normal --threads 1");
  const glmm_run three = fit(b, summary, "--family binomial --successes y --trials n --group herd --prior logit-normal --threads 3");
  ASSERT_EQ(one.run.status, 0) << one.run.err;
  ASSERT_EQ(three.run.status, 0) << three.run.err;
  EXPECT_EQ(read_file(a / "out.csv"), read_file(b / "out.csv"));
  for (const char* key : {"mu", "tau2", "log_likelihood", "mu_se", "tau2_se", "mu_ci", "tau2_ci", "tau2_test"})
    EXPECT_EQ(one.summary[key], three.summary[key]) << key;
}

TEST(LogitNormalCli, GroupsSharingTheirCountsShareTheirRows)
{
  // cbpp's 15 herds, each three times under keys in no order (45 groups, 15 distinct counts: the
  // writer formats each distinct row once). Every row must carry its own group's successes, trials
  // and rate y / n, and the rows of one herd the same numbers.
  std::istringstream in(cbpp_csv().first);
  std::string line;
  std::getline(in, line);
  std::vector<std::pair<int, int>> herds;
  while (std::getline(in, line)) {
    const std::size_t a = line.find(','), b = line.rfind(',');
    herds.emplace_back(std::stoi(line.substr(a + 1, b - a - 1)), std::stoi(line.substr(b + 1)));
  }
  std::string text = "herd,y,n\n";
  std::map<std::string, std::size_t> herd_of;
  for (int copy = 0; copy < 3; ++copy)
    for (std::size_t h = 0; h < herds.size(); ++h) {
      const std::size_t i = copy == 1 ? herds.size() - 1 - h : h;  // the second copy backwards
      const std::string key = std::to_string(1000 * (3 - copy) + i);
      herd_of[key] = i;
      text += key + "," + std::to_string(herds[i].first) + "," + std::to_string(herds[i].second) + "\n";
    }
  temp_dir dir;
  const glmm_run r = fit(dir, text, "--family binomial --successes y --trials n --group herd --prior logit-normal");
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  ASSERT_EQ(r.csv.size(), 46u);
  std::map<std::size_t, std::vector<std::string>> first_row;
  for (std::size_t j = 1; j < r.csv.size(); ++j) {
    const std::size_t i = herd_of.at(r.csv[j][0]);
    EXPECT_EQ(std::stod(r.csv[j][1]), herds[i].second) << r.csv[j][0];
    EXPECT_EQ(std::stod(r.csv[j][2]), herds[i].first) << r.csv[j][0];
    EXPECT_EQ(std::stod(r.csv[j][3]), static_cast<double>(herds[i].first) / herds[i].second) << r.csv[j][0];
    const std::vector<std::string> fields(r.csv[j].begin() + 1, r.csv[j].end());
    if (!first_row.count(i)) first_row[i] = fields;
    EXPECT_EQ(fields, first_row[i]) << r.csv[j][0];
  }
  EXPECT_EQ(first_row.size(), herds.size());
}

TEST(GlmmCli, ARepeatedGroupKeyIsAnError)
{
  // Whole-number keys (compared as numbers) and text keys, out of order.
  temp_dir dir;
  const std::string bin = " --family binomial --successes y --trials n --prior logit-normal";
  write_file(dir / "numbers.csv", "group,y,n\n7,1,10\n3,5,10\n7,2,8\n");
  expect_error(run_shrink("fit " + quoted(dir / "numbers.csv") + " -o " + quoted(dir / "o.csv") + bin, dir),
               "group '7' appears on more than one row of");
  write_file(dir / "text.csv", "group,y,n\nb,1,10\na,5,10\nb,2,8\n");
  expect_error(run_shrink("fit " + quoted(dir / "text.csv") + " -o " + quoted(dir / "o.csv") + bin, dir),
               "group 'b' appears on more than one row of");
}

TEST(LogNormalCli, PumpsMatchGlmer)
{
  std::ifstream in(reference_data() / "pumps.csv");
  const std::string pumps((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  temp_dir dir;
  const glmm_run r = fit(dir, pumps, "--family poisson --group pump --counts failures --exposure thousand_hours --prior log-normal --quadrature-points 1");
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  // glmer(failures ~ 1 + offset(log(thousand_hours)) + (1 | pump), poisson, nAGQ = 1), 1e-6 relative.
  EXPECT_NEAR(r.summary["mu"].get<double>(), -1.17972497699767, 1.2e-6);
  EXPECT_NEAR(r.summary["tau2"].get<double>(), 1.62661445794156, 1.6e-6);
  EXPECT_NEAR(r.summary["log_likelihood"].get<double>(), -32.0840024014654, 3.2e-7);
  // R's maximum of the same Laplace objective, 1e-9.
  EXPECT_NEAR(r.summary["mu"].get<double>(), -1.1797259714988442, 1.2e-9);
  EXPECT_EQ(r.summary["prior"], "log-normal");
  ASSERT_EQ(r.csv.size(), 11u);
  EXPECT_EQ(r.csv[0][1], "exposure");
  EXPECT_NEAR(std::stod(r.csv[1][9]), -1.5799958455606005, 1.6e-9);
  // Exposures in another unit (hours): the same fit, mu shifted by log(1000).
  std::string hours = "pump,failures,hours\n";
  std::istringstream lines(pumps);
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    const auto b = line.rfind(',');
    hours += line.substr(0, b) + "," + std::to_string(std::stod(line.substr(b + 1)) * 1000) + "\n";
  }
  temp_dir dir2;
  const glmm_run h = fit(dir2, hours, "--family poisson --group pump --counts failures --exposure hours --prior log-normal --quadrature-points 1");
  ASSERT_EQ(h.run.status, 0) << h.run.err;
  EXPECT_NEAR(h.summary["mu"].get<double>(), r.summary["mu"].get<double>() - std::log(1000.0), 1e-9);
  EXPECT_NEAR(h.summary["tau2"].get<double>(), r.summary["tau2"].get<double>(), 1e-9);
  EXPECT_NEAR(std::stod(h.csv[1][5]) * 1000, std::stod(r.csv[1][5]), 1e-9);
}

TEST(GlmmCli, BadInputIsOneLineError)
{
  temp_dir dir;
  const std::string ok = "group,y,n\na,1,10\nb,5,10\nc,2,8\n";
  const auto run = [&](const std::string& args) {
    write_file(dir / "in.csv", ok);
    return run_shrink("fit " + quoted(dir / "in.csv") + " -o " + quoted(dir / "o.csv") + " " + args, dir);
  };
  const std::string bin = "--family binomial --successes y --trials n ";
  expect_error(run(bin + "--prior log-normal"), "unknown --prior 'log-normal' for --family binomial (choose beta or logit-normal)");
  expect_error(run("--family poisson --counts y --prior logit-normal"), "unknown --prior 'logit-normal' for --family poisson");
  expect_error(run(bin + "--quadrature-points 5"), "--quadrature-points applies to --prior logit-normal");
  expect_error(run(bin + "--prior logit-normal --quadrature-points 0"), "--quadrature-points must lie between 1 (Laplace) and 100");
  expect_error(run(bin + "--prior logit-normal --quadrature-points 101"), "--quadrature-points must lie between 1 (Laplace) and 100");
  expect_error(run(bin + "--prior logit-normal --method mom"), "is fitted by --method ml (maximum likelihood, as glmer) or given by --method fixed");
  expect_error(run("--family normal --value y --quadrature-points 3"), "--quadrature-points belongs to --family binomial or poisson");
  write_file(dir / "one.csv", "y,n\n3,10\n");
  expect_error(run_shrink("fit " + quoted(dir / "one.csv") + " -o " + quoted(dir / "o.csv") + " " + bin + "--prior logit-normal", dir),
               "ml needs at least 2 groups");
  write_file(dir / "zeros.csv", "y,n\n0,5\n0,3\n");
  expect_error(run_shrink("fit " + quoted(dir / "zeros.csv") + " -o " + quoted(dir / "o.csv") + " " + bin + "--prior logit-normal", dir),
               "every group's count is 0");
  // Bernoulli data (one trial per group, per-group counts or raw 0/1 rows): the likelihood is
  // E expit(mu + tau u)^Y (1 - E expit(mu + tau u))^(J - Y), flat along a ridge of (mu, tau).
  write_file(dir / "bernoulli.csv", "y,n\n0,1\n1,1\n1,1\n0,1\n0,1\n");
  expect_error(run_shrink("fit " + quoted(dir / "bernoulli.csv") + " -o " + quoted(dir / "o.csv") + " " + bin + "--prior logit-normal", dir),
               "every group has one trial: the likelihood depends on mu and tau2 only through the rate P(y = 1), so tau2 is "
               "not identified");
  write_file(dir / "rows.csv", "g,y\n1,0\n2,1\n3,1\n4,0\n5,0\n");
  expect_error(run_shrink("fit " + quoted(dir / "rows.csv") + " -o " + quoted(dir / "o.csv") +
                            " --family binomial --group g --value y --prior logit-normal",
                          dir),
               "so tau2 is not identified");
}

}  // namespace
}  // namespace shrink::test
