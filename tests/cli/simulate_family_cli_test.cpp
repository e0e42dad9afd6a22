// `shrink simulate --family binomial|poisson` end to end: today's CSV header with the family's rows,
// the JSON's family fields, the same output file for any --threads and --batch, and every misuse of
// the options (the other model's, a missing one, a bad value) as one line on stderr with exit 1.

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>
#include <string>

namespace {

using shrink::test::expect_error;
using shrink::test::read_file;
using shrink::test::run_shrink;
using shrink::test::temp_dir;

const std::string header =
  "groups,obs,mu,sigma,tau,estimator,replicates,mse,mse_mcse,bias,bias_mcse,coverage,coverage_mcse,tau_hat_mean,"
  "tau_hat_sd,p_tau_zero,tau_hat_mean_mcse,tau_hat_sd_mcse,p_tau_zero_mcse";

TEST(SimulateFamilyCli, BinomialRowsAndJson)
{
  temp_dir dir;
  const auto r = run_shrink("simulate --family binomial --groups 20 --trials 8,2:30 --mean 0.25 --concentration 3,30 "
                            "--replicates 100 --seed 3 --backend cpu --json " + shrink::test::quoted(dir / "s.json"),
                            dir);
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream in(r.out);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, header);
  int rows = 0;
  while (std::getline(in, line)) {
    ++rows;
    // groups, trials, mean, no sigma, the concentration.
    EXPECT_EQ(line.rfind(rows <= 10 ? "20,8,0.25,," : "20,2:30,0.25,,", 0), 0u) << line;
  }
  EXPECT_EQ(rows, 2 * 2 * 5);  // trials x concentrations x estimators
  EXPECT_NE(r.out.find(",partial_pool_mom,100,"), std::string::npos);
  EXPECT_EQ(r.out.find("james_stein"), std::string::npos);
  const auto j = nlohmann::json::parse(read_file(dir / "s.json"));
  EXPECT_EQ(j["family"], "binomial");
  EXPECT_EQ(j["prior"], "beta");
  EXPECT_EQ(j["mean"], 0.25);
  ASSERT_EQ(j["scenarios"].size(), 4u);
  EXPECT_EQ(j["scenarios"][1]["concentration"], 30.0);
  EXPECT_EQ(j["scenarios"][1]["trials"], "8");
  // a b / ((a + b)(a + b + 1)(a + b + n)) at a = 0.75, b = 2.25, n = 8: 1.6875 / (3 * 4 * 11).
  EXPECT_NEAR(j["scenarios"][0]["oracle_risk_closed_form"].get<double>(), 1.6875 / 132, 1e-16);
}

TEST(SimulateFamilyCli, SameFileForAnyThreadsAndBatch)
{
  temp_dir dir;
  const std::string study = "simulate --family poisson --groups 15 --exposure 2,1:9 --mean 4 --shape 0.5,8 "
                            "--replicates 150 --seed 8 --backend cpu -q";
  const auto a = run_shrink(study + " --threads 1", dir);
  const auto b = run_shrink(study + " --threads 4 --batch 64", dir);
  ASSERT_EQ(a.status, 0) << a.err;
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.out.rfind(header + "\n15,2,4,,0.5,no_pool,150,", 0), 0u) << a.out.substr(0, 300);
}

TEST(SimulateFamilyCli, MisusedOptionsAreOneLineErrors)
{
  temp_dir dir;
  const std::string binomial = "simulate --family binomial --groups 10 --replicates 10 ";
  expect_error(run_shrink(binomial + "--trials 5 --mean 0.5 --concentration 2 --tau 1", dir),
               "--tau belongs to the normal model");
  expect_error(run_shrink(binomial + "--trials 5 --mean 0.5 --concentration 2 --obs 3", dir), "--obs belongs");
  expect_error(run_shrink(binomial + "--trials 5 --mean 0.5 --concentration 2 --shape 2", dir),
               "--shape is not an option of --family binomial");
  expect_error(run_shrink(binomial + "--mean 0.5 --concentration 2", dir), "needs --trials");
  expect_error(run_shrink(binomial + "--trials 5 --concentration 2", dir), "needs --mean");
  expect_error(run_shrink(binomial + "--trials 5 --mean 1.2 --concentration 2", dir), "--mean must lie strictly between 0 and 1");
  expect_error(run_shrink(binomial + "--trials 0 --mean 0.5 --concentration 2", dir), "--trials");
  expect_error(run_shrink(binomial + "--trials 2.5 --mean 0.5 --concentration 2", dir), "--trials");
  expect_error(run_shrink(binomial + "--trials 5 --mean 0.5 --concentration 0", dir), "--concentration");
  expect_error(run_shrink(binomial + "--trials 5 --mean 0.5 --concentration x", dir), "--concentration");
  expect_error(run_shrink("simulate --family poisson --groups 10 --mean 2 --shape 1 --trials 4", dir),
               "--trials is not an option of --family poisson");
  expect_error(run_shrink("simulate --family poisson --groups 10 --mean -2 --shape 1", dir), "--mean must be finite and > 0");
  expect_error(run_shrink("simulate --family gamma --groups 10", dir), "--family: choose binomial or poisson");
  expect_error(run_shrink("simulate --groups 10 --concentration 3", dir), "--concentration needs --family");
  // One trial per group, as `shrink fit` refuses it; counts beyond 2^53 (no double result).
  expect_error(run_shrink(binomial + "--trials 1 --mean 0.5 --concentration 2", dir),
               "--trials: every group has one trial: the likelihood does not depend on the concentration, which is not identified");
  expect_error(run_shrink("simulate --family poisson --groups 10 --exposure 1 --mean 1e100 --shape 1e12", dir),
               "--mean x --exposure must stay below 2^53");
}

// The figures show replicate 1 with its ml fit: the page's embedded counts, fitted by `shrink fit
// --family binomial` (itself checked against R), give the page's fit; the SVG draws every group.
TEST(SimulateFamilyCli, FiguresShowTheReplicateAndItsMlFit)
{
  temp_dir dir;
  const auto r = run_shrink("simulate --family binomial --groups 25 --trials 3:40 --mean 0.2 --concentration 8 "
                            "--replicates 64 --seed 4 --backend cpu -q -o " + shrink::test::quoted(dir / "s.csv") +
                              " --plot " + shrink::test::quoted(dir / "f.svg") + " --html " +
                              shrink::test::quoted(dir / "f.html"),
                            dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string svg = read_file(dir / "f.svg");
  EXPECT_NE(svg.find("no pooling: raw rate y_j / n_j"), std::string::npos);
  EXPECT_NE(svg.find("pooled rate"), std::string::npos);
  std::size_t triangles = 0;
  for (std::size_t p = 0; (p = svg.find("class=\"truth\"", p)) != std::string::npos; ++p) ++triangles;
  EXPECT_EQ(triangles, 25u);
  const std::string html = read_file(dir / "f.html");
  const std::string open = "<script id=\"shrink-data\" type=\"application/json\">";
  const std::size_t begin = html.find(open) + open.size();
  const auto d = nlohmann::json::parse(html.substr(begin, html.find("</script>", begin) - begin));
  ASSERT_EQ(d["counts"].size(), 25u);
  std::string csv = "y,n\n";
  for (std::size_t j = 0; j < 25; ++j) {
    EXPECT_LE(d["counts"][j].get<double>(), d["n"][j].get<double>());
    csv += std::to_string(d["counts"][j].get<long>()) + "," + std::to_string(d["n"][j].get<long>()) + "\n";
  }
  shrink::test::write_file(dir / "counts.csv", csv);
  const auto fit = run_shrink("fit " + shrink::test::quoted(dir / "counts.csv") +
                                " --family binomial --successes y --trials n --backend cpu -q -o " +
                                shrink::test::quoted(dir / "g.csv") + " --summary " + shrink::test::quoted(dir / "fit.json"),
                              dir);
  ASSERT_EQ(fit.status, 0) << fit.err;
  const auto j = nlohmann::json::parse(read_file(dir / "fit.json"));
  EXPECT_NEAR(d["fit_mean"].get<double>(), j["mean"].get<double>(), 1e-12);
  EXPECT_NEAR(d["fit_concentration"].get<double>(), j["concentration"].get<double>(),
              1e-9 * j["concentration"].get<double>());
}

}  // namespace
