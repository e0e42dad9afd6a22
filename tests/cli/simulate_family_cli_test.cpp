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
}

}  // namespace
