// `shrink fit --covariates` end to end: the BCG meta-regression through the CLI against metafor
// (tests/data/metafor/meta_regression.R), factors, offsets, the structures in the JSON, and bad
// input that must give a one-line error.

#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>

#include <sys/wait.h>

namespace {

using shrink::test::expect_error;
using shrink::test::parse_csv;
using shrink::test::quoted;
using shrink::test::read_file;
using shrink::test::run_shrink;
using shrink::test::temp_dir;
using shrink::test::write_file;

std::filesystem::path bcg() { return shrink::test::reference_data() / "metafor" / "bcg_regression.csv"; }

std::map<std::string, double> reference(const std::string& model, const std::string& method)
{
  std::map<std::string, double> r;
  for (const auto& row : parse_csv(read_file(shrink::test::reference_data() / "metafor" / "bcg_regression_reference.csv")))
    if (row.size() == 4 && row[0] == model && row[1] == method && !row[3].empty()) r[row[2]] = std::stod(row[3]);
  return r;
}

void expect_rel(double computed, double expected, const std::string& what)
{
  EXPECT_LE(std::fabs(computed - expected), 1e-10 * std::fabs(expected) + 1e-14) << what;
}

TEST(CovariatesCli, BcgWithLatitudeMatchesMetafor)
{
  temp_dir d;
  const auto r = run_shrink("fit " + quoted(bcg()) + " --estimate yi --variance vi --group trial --covariates ablat "
                            "--tau-method reml -o " + quoted(d / "g.csv") + " --summary " + quoted(d / "s.json"),
                            d);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto want = reference("ablat", "REML");
  const auto j = nlohmann::json::parse(read_file(d / "s.json"));
  EXPECT_EQ(j["coefficients"][0]["name"], "intercept");
  EXPECT_EQ(j["coefficients"][1]["name"], "ablat");
  expect_rel(j["coefficients"][0]["estimate"].get<double>(), want.at("beta:intrcpt"), "intercept");
  expect_rel(j["coefficients"][1]["estimate"].get<double>(), want.at("beta:ablat"), "ablat");
  expect_rel(j["coefficients"][1]["p"].get<double>(), want.at("p:ablat"), "p");
  expect_rel(j["tau2"].get<double>(), want.at("tau2"), "tau2");
  expect_rel(j["tau2_ci"][1].get<double>(), want.at("tau2_upper"), "tau2 upper");
  expect_rel(j["QE"].get<double>(), want.at("QE"), "QE");
  expect_rel(j["QM"].get<double>(), want.at("QM"), "QM");
  expect_rel(j["R2"].get<double>(), want.at("R2"), "R2");
  EXPECT_EQ(j["QE_df"], 11);
  const auto rows = parse_csv(read_file(d / "g.csv"));
  ASSERT_EQ(rows.size(), 14u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"group", "n", "mean", "se", "shrinkage", "fitted", "estimate", "sd",
                                               "lower", "upper", "mse"}));
  for (std::size_t i = 1; i < rows.size(); ++i) {
    expect_rel(std::stod(rows[i][6]), want.at("blup:" + std::to_string(i)), "blup");
    expect_rel(std::stod(rows[i][7]), want.at("blup_se:" + std::to_string(i)), "blup se");
    expect_rel(std::stod(rows[i][10]), want.at("mse:" + std::to_string(i)), "mse");
  }
  // The structures with and without the covariate, side by side.
  EXPECT_EQ(j["structures"]["structures"].size(), 3u);
  EXPECT_TRUE(j.contains("structures_without_covariates"));
  EXPECT_NE(r.err.find("structures with the covariates"), std::string::npos) << r.err;
}

TEST(CovariatesCli, FactorAndOffset)
{
  temp_dir d;
  auto r = run_shrink("fit " + quoted(bcg()) + " --estimate yi --variance vi --covariates ablat,alloc --tau-method dl "
                      "-o " + quoted(d / "g.csv") + " --summary " + quoted(d / "s.json") + " -q",
                      d);
  ASSERT_EQ(r.status, 0) << r.err;
  auto want = reference("ablat+alloc", "DL");
  auto j = nlohmann::json::parse(read_file(d / "s.json"));
  ASSERT_EQ(j["coefficients"].size(), 4u);
  EXPECT_EQ(j["coefficients"][2]["name"], "allocrandom");
  expect_rel(j["coefficients"][3]["estimate"].get<double>(), want.at("beta:allocsystematic"), "systematic");
  expect_rel(j["tau2"].get<double>(), want.at("tau2"), "tau2");
  // DL has no published MSE: the column is empty.
  EXPECT_EQ(parse_csv(read_file(d / "g.csv"))[1][10], "");

  r = run_shrink("fit " + quoted(bcg()) + " --estimate yi --variance vi --covariates ablat --offset off --tau-method reml "
                 "-o " + quoted(d / "g.csv") + " -q",
                 d);
  ASSERT_EQ(r.status, 0) << r.err;
  want = reference("ablat+offset", "REML");
  const auto rows = parse_csv(read_file(d / "g.csv"));
  for (std::size_t i = 1; i < rows.size(); ++i) expect_rel(std::stod(rows[i][6]), want.at("blup:" + std::to_string(i)), "blup");

  r = run_shrink("fit " + quoted(bcg()) + " --estimate yi --variance vi --covariates alloc --no-intercept --tau-method reml "
                 "--summary " + quoted(d / "s.json") + " -o " + quoted(d / "g.csv") + " -q",
                 d);
  ASSERT_EQ(r.status, 0) << r.err;
  j = nlohmann::json::parse(read_file(d / "s.json"));
  want = reference("0+alloc", "REML");
  EXPECT_EQ(j["coefficients"][0]["name"], "allocalternate");
  expect_rel(j["QM"].get<double>(), want.at("QM"), "QM");
  EXPECT_TRUE(j["R2"].is_null());
}

TEST(CovariatesCli, SummaryFitReportsTheStructures)
{
  temp_dir d;
  const auto r = run_shrink("fit " + quoted(shrink::test::reference_data() / "eight_schools.csv") +
                              " --estimate y --se sigma --group school --summary " + quoted(d / "s.json") + " -o " +
                              quoted(d / "g.csv"),
                            d);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(read_file(d / "s.json"));
  EXPECT_EQ(j["structures"]["favoured"], "pooled");
  EXPECT_EQ(j["structures"]["lr_test"]["p_value"], 1.0);
  EXPECT_NE(r.err.find("the data favour the pooled structure"), std::string::npos) << r.err;
}

TEST(CovariatesCli, RawRowsWithACovariateMatchLme4)
{
  temp_dir d;
  const auto r = run_shrink("fit " + quoted(shrink::test::reference_data() / "radon" / "radon.csv") +
                              " --group county --value log_radon --covariates floor,log_uranium --summary " +
                              quoted(d / "s.json") + " -o " + quoted(d / "g.csv"),
                            d);
  ASSERT_EQ(r.status, 0) << r.err;
  std::map<std::string, double> want;
  for (const auto& row : parse_csv(read_file(shrink::test::reference_data() / "radon" / "radon_reference.csv")))
    if (row.size() == 5 && row[0] == "dense" && row[1] == "uranium" && row[2] == "REML") want[row[3]] = std::stod(row[4]);
  const auto j = nlohmann::json::parse(read_file(d / "s.json"));
  expect_rel(j["coefficients"][2]["estimate"].get<double>(), want.at("beta:log_uranium"), "uranium");
  expect_rel(j["tau2"].get<double>(), want.at("tau2"), "tau2");
  expect_rel(j["log_likelihood"].get<double>(), want.at("loglik"), "loglik");
  EXPECT_EQ(j["structures"]["favoured"], "hierarchical");
  const auto rows = parse_csv(read_file(d / "g.csv"));
  ASSERT_EQ(rows.size(), 86u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"group", "n", "mean", "fitted", "effect", "effect_sd", "estimate", "lower", "upper"}));
  expect_rel(std::stod(rows[1][4]), want.at("b:1"), "b 1");
  expect_rel(std::stod(rows[85][5]), want.at("b_sd:85"), "b sd 85");
  // Plain raw rows (no covariates) report the structures too.
  const auto plain = run_shrink("fit " + quoted(shrink::test::reference_data() / "radon" / "radon.csv") +
                                  " --group county --value log_radon --summary " + quoted(d / "p.json") + " -o " +
                                  quoted(d / "g.csv"),
                                d);
  ASSERT_EQ(plain.status, 0) << plain.err;
  EXPECT_EQ(nlohmann::json::parse(read_file(d / "p.json"))["structures"]["structures"].size(), 3u);
}

// One group of two rows, the rest single rows: the separate structure (a mean per group and the
// slope) fits the N = J + 1 rows exactly, so the structures are left out; the fit itself must run.
// Its REML optimum lies at sigma2 -> 0, where lme4's profiled restricted deviance, evaluated densely
// (the 7 x 7 covariance by hand), tends to tau2 = 4.4626666...,
// slope 1.6 (the pair's own), log-likelihood -11.7299386.
TEST(CovariatesCli, RawRowsWhereAStructureFitsExactlyStillFit)
{
  temp_dir d;
  write_file(d / "pair.csv", "g,y,x\n1,1.0,0\n1,2.6,1\n2,4.0,0.5\n3,2.0,2\n4,5.5,1.5\n5,-1.5,-1\n6,3.0,3\n");
  const auto r = run_shrink("fit " + quoted(d / "pair.csv") + " --group g --value y --covariates x --summary " +
                              quoted(d / "s.json") + " -o " + quoted(d / "g.csv"),
                            d);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(read_file(d / "s.json"));
  EXPECT_NEAR(j["tau2"].get<double>(), 4.462666666666667, 1e-7);
  EXPECT_NEAR(j["coefficients"][1]["estimate"].get<double>(), 1.6, 1e-7);
  EXPECT_NEAR(j["log_likelihood"].get<double>(), -11.72993864, 1e-7);
  EXPECT_FALSE(j.contains("structures"));
}

// A covariate far from zero against its spread (a year, a count of 1e6 + j) is fitted as the same
// covariate shifted to zero: the same slope, tau2 and likelihood, the intercept moved by 1e6 slopes.
// Uncentred cross products lost its spread (refused as collinear with the intercept).
TEST(CovariatesCli, RawRowsWithAnOffsetCovariateFitAsTheCentredOne)
{
  temp_dir d;
  const double rows[][3] = {{0, 1.3, 0.2}, {0, 0.4, -0.9}, {1, 2.1, 0.5}, {1, 0.9, 1.4}, {2, 1.7, -0.3},
                            {2, 3.2, 0.8}, {3, 4.0, 1.1}, {3, 2.5, -1.2}, {4, 3.1, 0.1}, {4, 4.4, 0.6}};
  std::string near = "g,y,x,z\n", far = near;
  for (const auto& r : rows) {
    const std::string head = std::to_string(static_cast<int>(r[0])) + "," + std::to_string(r[1]) + "," + std::to_string(r[2]) + ",";
    near += head + std::to_string(static_cast<int>(r[0])) + "\n";
    far += head + std::to_string(1000000 + static_cast<int>(r[0])) + "\n";
  }
  write_file(d / "near.csv", near);
  write_file(d / "far.csv", far);
  nlohmann::json j[2];
  for (int k = 0; k < 2; ++k) {
    const auto r = run_shrink("fit " + quoted(d / (k ? "far.csv" : "near.csv")) + " --group g --value y --covariates x,z -o " +
                                quoted(d / "g.csv") + " --summary " + quoted(d / "s.json"),
                              d);
    ASSERT_EQ(r.status, 0) << r.err;
    j[k] = nlohmann::json::parse(read_file(d / "s.json"));
  }
  const double slope = j[0]["coefficients"][2]["estimate"].get<double>();
  expect_rel(j[1]["coefficients"][2]["estimate"].get<double>(), slope, "z");
  expect_rel(j[1]["coefficients"][2]["se"].get<double>(), j[0]["coefficients"][2]["se"].get<double>(), "z se");
  expect_rel(j[1]["coefficients"][1]["estimate"].get<double>(), j[0]["coefficients"][1]["estimate"].get<double>(), "x");
  expect_rel(j[1]["coefficients"][0]["estimate"].get<double>(), j[0]["coefficients"][0]["estimate"].get<double>() - 1e6 * slope,
             "intercept");
  expect_rel(j[1]["tau2"].get<double>(), j[0]["tau2"].get<double>(), "tau2");
  expect_rel(j[1]["log_likelihood"].get<double>(), j[0]["log_likelihood"].get<double>(), "loglik");
}

TEST(CovariatesCli, SummaryRowsWithAFarCovariateFitAsTheNearOne)
{
  // BCG with latitude moved by 1e6 (a year, a population): every method fits the same slope, tau2,
  // QE, BLUPs and log-likelihood as with latitude itself (checked against metafor above), the
  // intercept moved by 1e6 x slope. Before centring, every method failed to converge.
  temp_dir d;
  std::istringstream in(read_file(bcg()));
  std::string line, far;
  std::getline(in, line);
  far = line + "\n";
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream row(line);
    for (std::string x; std::getline(row, x, ',');) f.push_back(x);
    f[3] = std::to_string(1000000 + std::stoi(f[3]));
    far += f[0] + "," + f[1] + "," + f[2] + "," + f[3] + "," + f[4] + "," + f[5] + "\n";
  }
  write_file(d / "far.csv", far);
  for (const char* method : {"reml", "ml", "dl", "pm"}) {
    nlohmann::json j[2];
    for (int k = 0; k < 2; ++k) {
      const auto r = run_shrink("fit " + (k ? quoted(d / "far.csv") : quoted(bcg())) +
                                  " --estimate yi --variance vi --covariates ablat --tau-method " + method + " -o " +
                                  quoted(d / "g.csv") + " --summary " + quoted(d / "s.json"),
                                d);
      ASSERT_EQ(r.status, 0) << method << ": " << r.err;
      j[k] = nlohmann::json::parse(read_file(d / "s.json"));
    }
    const auto near_far = [&](const char* key) {
      EXPECT_LE(std::fabs(j[1][key].get<double>() - j[0][key].get<double>()), 1e-8 * std::fabs(j[0][key].get<double>()) + 1e-12)
        << method << " " << key;
    };
    near_far("tau2");
    near_far("QE");
    const double slope = j[0]["coefficients"][1]["estimate"].get<double>();
    EXPECT_LE(std::fabs(j[1]["coefficients"][1]["estimate"].get<double>() - slope), 1e-8 * std::fabs(slope)) << method;
    const double intercept = j[0]["coefficients"][0]["estimate"].get<double>() - 1e6 * slope;
    EXPECT_LE(std::fabs(j[1]["coefficients"][0]["estimate"].get<double>() - intercept), 1e-8 * std::fabs(intercept)) << method;
  }
}

TEST(CovariatesCli, BitwiseTheSameForAnyThreadCount)
{
  temp_dir d;
  const std::string radon = quoted(shrink::test::reference_data() / "radon" / "radon.csv");
  for (const std::string args : {"fit " + radon + " --group county --value log_radon --covariates floor,log_uranium",
                                 "fit " + quoted(bcg()) + " --estimate yi --variance vi --covariates ablat,alloc --tau-method ml"}) {
    std::string first;
    for (int threads : {1, 2, 7}) {
      const auto r = run_shrink(args + " -q --threads " + std::to_string(threads) + " -o " + quoted(d / "g.csv") +
                                  " --summary " + quoted(d / "s.json"),
                                d);
      ASSERT_EQ(r.status, 0) << r.err;
      auto j = nlohmann::json::parse(read_file(d / "s.json"));
      const std::string bytes = read_file(d / "g.csv") + j["coefficients"].dump() + j["structures"].dump();
      if (threads == 1) first = bytes;
      EXPECT_EQ(bytes, first) << threads << " threads";
    }
  }
}

TEST(CovariatesCli, BadInputIsAOneLineError)
{
  temp_dir d;
  const std::string base = "fit " + quoted(d / "in.csv") + " --estimate y --se s -o " + quoted(d / "g.csv") + " ";
  write_file(d / "in.csv", "y,s,x,z,c,f,m\n1,1,1,2,5,a,1\n2,1,2,4,5,b,x\n4,1,3,6,5,a,2\n3,1,4,8,5,b,3\n");
  expect_error(run_shrink(base + "--covariates w", d), "no covariate column 'w'");
  expect_error(run_shrink(base + "--covariates c", d), "covariate 'c' is constant");
  expect_error(run_shrink(base + "--covariates x,z", d), "'z' is a linear combination of intercept, x");
  expect_error(run_shrink(base + "--covariates m", d), "covariate 'm' mixes numbers (data row 1) and text (data row 2)");
  expect_error(run_shrink(base + "--covariates x,f,c", d), "covariate 'c' is constant");
  expect_error(run_shrink(base + "--covariates x,f,z", d), "4 coefficients need more than 4 groups");
  expect_error(run_shrink(base + "--covariates x --offset f", d), "the offset must be a number");
  expect_error(run_shrink(base + "--covariates ''", d), "--covariates: give at least one column name");
  expect_error(run_shrink(base + "--covariates x --prior t:4", d), "--prior t is not available with covariates");
  write_file(d / "in.csv", "y,s,x,z\n1,1,1,2\n2,1,NaN,4\n4,1,3,6\n");
  expect_error(run_shrink(base + "--covariates x", d), "data row 2: 'NaN' is infinite or NaN");
  write_file(d / "in.csv", "y,s,x,z\n1,1,1,2\n2,1,2,5\n4,1,3,1\n");
  expect_error(run_shrink(base + "--covariates x,z", d), "3 coefficients need more than 3 groups");
  write_file(d / "raw.csv", "group,y,x\na,1,2\na,2,abc\nb,3,4\n");
  const std::string raw = "fit " + quoted(d / "raw.csv") + " -o " + quoted(d / "g.csv") + " ";
  expect_error(run_shrink(raw + "--covariates x", d), "line 3: column 'x': 'abc' is not a number");
  expect_error(run_shrink(raw + "--covariates w", d), "no data column 'w'");
  expect_error(run_shrink(raw + "--covariates x --tau-method dl", d), "fits --tau-method reml (default) or ml");
  expect_error(run_shrink(raw + "--covariates x --tau-method bayes", d), "fits --tau-method reml (default) or ml");
  write_file(d / "raw2.csv", "group,y,x,z,c\na,1,1,2,5\na,2,2,4,5\nb,3,3,6,5\nb,5,4,8,5\nc,2,5,10,5\nc,7,6,12,5\n");
  const std::string raw2 = "fit " + quoted(d / "raw2.csv") + " -o " + quoted(d / "g.csv") + " ";
  expect_error(run_shrink(raw2 + "--covariates c", d), "'c' is a linear combination of the intercept; drop one");
  expect_error(run_shrink(raw2 + "--covariates x,z", d), "'z' is a linear combination of the intercept, x; drop one");
  write_file(d / "raw2.csv", "group,y,x\na,1,1\na,1,2\nb,1,5\nb,1,3\n");
  expect_error(run_shrink(raw2 + "--covariates x", d), "fit y exactly: no residual variance");
  write_file(d / "raw.csv", "group,y,x\na,1,2\na,2,NaN\nb,3,4\n");
  expect_error(run_shrink(raw + "--covariates x", d), "line 3: column 'x': 'NaN' is infinite or NaN");
  write_file(d / "raw.csv", "group,y,x\na,1,2\na,2,3\nb,3,4\n");
  expect_error(run_shrink(raw + "--covariates x", d), "2 coefficients and two variances need more than 3 rows");
}

// Summary mode with --tau-method bayes: the JSON carries the posterior of tau, the coefficients'
// posterior means with null z and p, and the CSV the posterior columns (the numbers themselves are
// checked against brute-force R in tests/reference/meta_regression_test.cpp; here that the CLI
// writes the same as the library: the BCG slope's posterior mean lies near the REML slope).
TEST(CovariatesCli, BayesWritesThePosteriors)
{
  temp_dir d;
  const auto r = run_shrink("fit " + quoted(bcg()) + " --estimate yi --variance vi --group trial --covariates ablat "
                            "--tau-method bayes --tau-prior half-cauchy:0.5 -o " + quoted(d / "g.csv") + " --summary " +
                              quoted(d / "s.json"),
                            d);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(read_file(d / "s.json"));
  EXPECT_EQ(j["tau_method"], "bayes");
  ASSERT_TRUE(j.contains("tau_posterior"));
  const double median = j["tau_posterior"]["median"].get<double>();
  EXPECT_DOUBLE_EQ(j["tau2"].get<double>(), median * median);
  EXPECT_TRUE(j["coefficients"][1]["z"].is_null());
  EXPECT_TRUE(j["coefficients"][1]["p"].is_null());
  // metafor's REML slope is -0.0291 with se 0.0072: the posterior mean lies within a se of it.
  EXPECT_NEAR(j["coefficients"][1]["estimate"].get<double>(), -0.0291, 0.0072);
  const auto rows = parse_csv(read_file(d / "g.csv"));
  ASSERT_EQ(rows.size(), 14u);
  EXPECT_EQ(rows[1].back(), "");  // no Fay-Herriot MSE for bayes
}

// Group keys: "2" and "02" are two groups in every reader, and the groups sort numerically only
// when every key is a canonical integer (here "02" is not: bytewise, 02 < 10 < 2).
TEST(CovariatesCli, KeysAreGroupedAndSortedAsThePlainReaderDoes)
{
  temp_dir d;
  write_file(d / "k.csv", "g,y,x\n2,1.0,1\n02,2.5,2\n10,4.0,0\n2,2.0,3\n02,1.0,1\n10,6.5,2\n2,0.5,2\n02,3.0,0\n10,5.0,1\n");
  for (const char* extra : {"", "--covariates x"}) {
    const auto r = run_shrink("fit " + quoted(d / "k.csv") + " --group g --value y " + extra + " -o " + quoted(d / "g.csv"), d);
    ASSERT_EQ(r.status, 0) << extra << ": " << r.err;
    const auto rows = parse_csv(read_file(d / "g.csv"));
    ASSERT_EQ(rows.size(), 4u) << extra;
    EXPECT_EQ(rows[1][0], "02") << extra;
    EXPECT_EQ(rows[2][0], "10") << extra;
    EXPECT_EQ(rows[3][0], "2") << extra;
  }
}

// Factors in raw rows (text covariates, treatment contrasts against the first sorted level): the
// radon rows with the floor as "basement"/"first" and a three-level county zone
// (tests/data/radon/radon_factor.R). The floor factor alone is the numeric floor indicator, so it
// meets the dense profiled-likelihood optimum of radon_reference.csv to 1e-10; floor + zone meets
// lme4 (bobyqa to rhoend 1e-12) to 1e-6, and the same fit from 0/1 indicator columns to 1e-12.
TEST(CovariatesCli, RawRowsWithFactors)
{
  temp_dir d;
  const auto data = shrink::test::reference_data() / "radon" / "radon_factor.csv";
  const std::string base = "fit " + quoted(data) + " --group county --value log_radon -o " + quoted(d / "g.csv") + " --summary ";
  const auto floor_only = run_shrink(base + quoted(d / "f.json") + " --covariates floor", d);
  ASSERT_EQ(floor_only.status, 0) << floor_only.err;
  std::map<std::string, double> dense;
  for (const auto& row : parse_csv(read_file(shrink::test::reference_data() / "radon" / "radon_reference.csv")))
    if (row.size() == 5 && row[0] == "dense" && row[1] == "floor" && row[2] == "REML") dense[row[3]] = std::stod(row[4]);
  const auto f = nlohmann::json::parse(read_file(d / "f.json"));
  EXPECT_EQ(f["coefficients"][1]["name"], "floorfirst");
  expect_rel(f["coefficients"][1]["estimate"].get<double>(), dense.at("beta:floor"), "floor");
  expect_rel(f["tau2"].get<double>(), dense.at("tau2"), "tau2");
  expect_rel(f["log_likelihood"].get<double>(), dense.at("loglik"), "loglik");

  const auto zone = run_shrink(base + quoted(d / "z.json") + " --covariates floor,zone", d);
  ASSERT_EQ(zone.status, 0) << zone.err;
  std::map<std::string, double> lme4;
  for (const auto& row : parse_csv(read_file(shrink::test::reference_data() / "radon" / "radon_factor_reference.csv")))
    if (row.size() == 2 && row[0] != "name") lme4[row[0]] = std::stod(row[1]);
  const auto z = nlohmann::json::parse(read_file(d / "z.json"));
  const std::vector<std::string> names{"(Intercept)", "floorfirst", "zonelow", "zonemid"};
  ASSERT_EQ(z["coefficients"].size(), 4u);
  for (std::size_t c = 0; c < 4; ++c) {
    if (c > 0) EXPECT_EQ(z["coefficients"][c]["name"], names[c]);
    EXPECT_NEAR(z["coefficients"][c]["estimate"].get<double>(), lme4.at("beta:" + names[c]), 1e-6 * std::fabs(lme4.at("beta:" + names[c])));
    EXPECT_NEAR(z["coefficients"][c]["se"].get<double>(), lme4.at("se:" + names[c]), 1e-6 * lme4.at("se:" + names[c]));
  }
  EXPECT_NEAR(z["tau2"].get<double>(), lme4.at("tau2"), 1e-6 * lme4.at("tau2"));
  EXPECT_NEAR(z["sigma2"].get<double>(), lme4.at("sigma2"), 1e-6 * lme4.at("sigma2"));
  EXPECT_NEAR(z["log_likelihood"].get<double>(), lme4.at("loglik"), 1e-9 * std::fabs(lme4.at("loglik")));

  // The same design as 0/1 columns through the numeric path.
  std::ostringstream numeric;
  numeric << "county,first,low,mid,log_radon\n";
  const auto rows = parse_csv(read_file(data));
  for (std::size_t i = 1; i < rows.size(); ++i)
    numeric << rows[i][0] << ',' << (rows[i][1] == "first") << ',' << (rows[i][2] == "low") << ',' << (rows[i][2] == "mid")
            << ',' << rows[i][3] << '\n';
  write_file(d / "numeric.csv", numeric.str());
  const auto n = run_shrink("fit " + quoted(d / "numeric.csv") + " --group county --value log_radon --covariates first,low,mid -o " +
                              quoted(d / "g.csv") + " --summary " + quoted(d / "n.json"),
                            d);
  ASSERT_EQ(n.status, 0) << n.err;
  const auto nj = nlohmann::json::parse(read_file(d / "n.json"));
  for (std::size_t c = 0; c < 4; ++c)
    EXPECT_NEAR(z["coefficients"][c]["estimate"].get<double>(), nj["coefficients"][c]["estimate"].get<double>(), 1e-12);
  EXPECT_NEAR(z["tau2"].get<double>(), nj["tau2"].get<double>(), 1e-12 * nj["tau2"].get<double>());

  // A one-level factor is constant: refused (raw mode always has an intercept).
  write_file(d / "one.csv", "g,y,f\na,1,u\na,2,u\nb,3,u\nb,5,u\n");
  expect_error(run_shrink("fit " + quoted(d / "one.csv") + " --group g --value y --covariates f -o " + quoted(d / "g.csv"), d),
               "covariate 'f' is constant (every row has level 'u')");
}

// Factors from stdin: read twice from a temporary copy, the same bytes as from the file, whether
// stdin is a file or a pipe; rows of more than the first look (64 KiB) on it, so the copy holds
// the bytes read ahead and the rest. Numeric covariates from a pipe still stream, the same too.
TEST(CovariatesCli, RawRowsWithFactorsFromStdinAsFromTheFile)
{
  temp_dir d;
  std::ostringstream text;
  text << "g,y,x,kind\n";
  unsigned state = 12;
  for (int i = 0; i < 6000; ++i) {
    state = state * 1664525u + 1013904223u;
    const unsigned g = state % 97, k = (state >> 8) % 3;
    text << g << ',' << (g % 7) * 0.25 + k * 0.5 + (state >> 12) % 1000 * 1e-3 << ',' << (state >> 20) % 100 * 0.01 << ','
         << (k == 0 ? "low" : k == 1 ? "mid" : "high") << '\n';
  }
  ASSERT_GT(text.str().size(), std::size_t{1} << 16);
  write_file(d / "f.csv", text.str());
  const std::string shrink_binary = std::string("'") + SHRINK_BINARY + "'";
  for (const std::string covariates : {"x", "x,kind"}) {
    const std::string options = " --group g --value y --covariates " + covariates + " -q -o ";
    const auto file = run_shrink("fit " + quoted(d / "f.csv") + options + quoted(d / "file.csv") + " --summary " + quoted(d / "file.json"), d);
    ASSERT_EQ(file.status, 0) << file.err;
    const auto redirected =
      run_shrink("fit -" + options + quoted(d / "in.csv") + " --summary " + quoted(d / "in.json"), d, (d / "f.csv").string());
    ASSERT_EQ(redirected.status, 0) << redirected.err;
    const std::string pipe = "cat " + quoted(d / "f.csv") + " | " + shrink_binary + " fit -" + options + quoted(d / "pipe.csv") +
                             " --summary " + quoted(d / "pipe.json");
    ASSERT_EQ(std::system(pipe.c_str()), 0) << pipe;
    EXPECT_EQ(read_file(d / "in.csv"), read_file(d / "file.csv")) << covariates;
    EXPECT_EQ(read_file(d / "in.json"), read_file(d / "file.json")) << covariates;
    EXPECT_EQ(read_file(d / "pipe.csv"), read_file(d / "file.csv")) << covariates;
    EXPECT_EQ(read_file(d / "pipe.json"), read_file(d / "file.json")) << covariates;
  }
  const auto json = nlohmann::json::parse(read_file(d / "file.json"));
  ASSERT_EQ(json["coefficients"].size(), 4u);  // the factor's: intercept, x, the levels but the first (high)
  EXPECT_EQ(json["coefficients"][2]["name"], "kindlow");

  // Where the copy cannot be written: a one-line error naming the directory.
  const std::string nowhere = "cat " + quoted(d / "f.csv") + " | TMPDIR=/nonexistent/dir " + shrink_binary +
                              " fit - --group g --value y --covariates x,kind -o /dev/null 2>" + quoted(d / "err.txt");
  const int status = std::system(nowhere.c_str());
  EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 1);
  const std::string err = read_file(d / "err.txt");
  EXPECT_NE(err.find("cannot copy stdin to a temporary file in '/nonexistent/dir'"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

// A stream named as a path (bash's <(...), a FIFO) is read once, as stdin is: the covariates'
// first look at its head used to consume the header, so the fit failed ("no data column").
// Fits and summaries from it are the file's bytes; an empty one is named in the error.
TEST(CovariatesCli, StreamsGivenAsPathsAsFromTheFile)
{
  temp_dir d;
  std::ostringstream text;
  text << "g,y,x,kind\n";
  for (int i = 0; i < 3000; ++i)
    text << i % 41 << ',' << (i % 7) * 0.5 + (i * 37 % 101) * 1e-2 << ',' << (i * 13 % 17) * 0.1 << ','
         << (i % 3 == 0 ? "low" : "high") << '\n';
  write_file(d / "f.csv", text.str());
  const std::string shrink_binary = std::string("'") + SHRINK_BINARY + "'";
  auto bash = [&](const std::string& command) {  // <(...) is bash's, not sh's: a script for bash
    write_file(d / "command.sh", shrink_binary + " " + command + "\n");
    const std::string line = "bash " + quoted(d / "command.sh") + " 2>" + quoted(d / "err.txt");
    const int status = std::system(line.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  const std::string from_pipe = "<(cat " + quoted(d / "f.csv") + ")";
  for (const std::string covariates : {"x", "x,kind"}) {
    const std::string options = " --group g --value y --covariates " + covariates + " -q -o ";
    const auto file = run_shrink("fit " + quoted(d / "f.csv") + options + quoted(d / "file.csv"), d);
    ASSERT_EQ(file.status, 0) << file.err;
    ASSERT_EQ(bash("fit " + from_pipe + options + quoted(d / "pipe.csv")), 0) << read_file(d / "err.txt");
    EXPECT_EQ(read_file(d / "pipe.csv"), read_file(d / "file.csv")) << covariates;
  }
  const std::string part = " --group g --value y --covariates x -o ";
  ASSERT_EQ(run_shrink("summarize " + quoted(d / "f.csv") + part + quoted(d / "file_part.csv"), d).status, 0);
  ASSERT_EQ(bash("summarize " + from_pipe + part + quoted(d / "pipe_part.csv")), 0) << read_file(d / "err.txt");
  EXPECT_EQ(read_file(d / "pipe_part.csv"), read_file(d / "file_part.csv"));

  EXPECT_EQ(bash("fit <(true) --covariates x -o /dev/null"), 1);
  const std::string err = read_file(d / "err.txt");
  EXPECT_NE(err.find("empty input: '/dev/fd/"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

}  // namespace

TEST(CovariatesCli, CudaBackendWithoutAGpuIsAClearErrorAndAutoRunsOnTheCpu)
{
  if (shrink::cuda_available()) GTEST_SKIP() << "a GPU is usable here: --backend cuda runs";
  temp_dir d;
  const std::string radon = quoted(shrink::test::reference_data() / "radon" / "radon.csv");
  const std::string raw = "fit " + radon + " --group county --value log_radon --covariates floor,log_uranium";
  const std::string summary = "fit " + quoted(bcg()) + " --estimate yi --variance vi --group trial --covariates ablat";
  for (const std::string& args : {raw, summary}) {
    expect_error(run_shrink(args + " --backend cuda -o " + quoted(d / "g.csv"), d), "--backend cuda");
    EXPECT_FALSE(std::filesystem::exists(d / "g.csv")) << args;
    // auto: no GPU here, so the CPU ran, and the JSON says so.
    const auto r = run_shrink(args + " --backend auto -o " + quoted(d / "g.csv") + " --summary " + quoted(d / "s.json"), d);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(read_file(d / "s.json"))["backend"], "cpu") << args;
    std::filesystem::remove(d / "g.csv");
  }
}
