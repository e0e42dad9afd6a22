// Meta-regression against metafor 3.8-1: the BCG vaccine trials with absolute latitude (and the
// allocation factor, no intercept, an offset), every tau2 method, to 1e-10 relative. The
// reference values come from tests/data/metafor/meta_regression.R (metafor's rma, confint with a
// tight tolerance, and blup; the Fay-Herriot MSE from that script's own k x k implementation of
// the published formulas), written beside it in bcg_regression_reference.csv.

#include "test_support.hpp"

#include <shrink/error.hpp>
#include <shrink/regression.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

namespace shrink {
namespace {

struct bcg_table {
  std::vector<double> yi, vi, ablat, off;
  std::vector<std::string> alloc;
};

bcg_table read_bcg()
{
  const auto rows = test::parse_csv(test::read_file(test::reference_data() / "metafor" / "bcg_regression.csv"));
  bcg_table t;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    t.yi.push_back(std::stod(rows[i][1]));
    t.vi.push_back(std::stod(rows[i][2]));
    t.ablat.push_back(std::stod(rows[i][3]));
    t.alloc.push_back(rows[i][4]);
    t.off.push_back(std::stod(rows[i][5]));
  }
  return t;
}

/// (model, method) -> quantity -> metafor's value.
using reference = std::map<std::pair<std::string, std::string>, std::map<std::string, double>>;

reference read_reference()
{
  reference r;
  const auto rows =
    test::parse_csv(test::read_file(test::reference_data() / "metafor" / "bcg_regression_reference.csv"));
  for (std::size_t i = 1; i < rows.size(); ++i)
    if (rows[i].size() == 4 && !rows[i][3].empty()) r[{rows[i][0], rows[i][1]}][rows[i][2]] = std::stod(rows[i][3]);
  return r;
}

// The scoring and root-finding follow metafor step for step, so the estimates agree to rounding.
constexpr double rel_tol = 1e-10;

void expect_rel(double computed, double expected, const std::string& what)
{
  EXPECT_LE(std::fabs(computed - expected), rel_tol * std::fabs(expected) + 1e-14)
    << what << ": " << computed << " vs metafor " << expected;
}

meta_regression_result fit_model(const bcg_table& t, const std::string& model, tau_method m)
{
  std::vector<covariate> cols;
  if (model != "0+alloc") cols.push_back({"ablat", t.ablat, {}});
  if (model == "ablat+alloc" || model == "0+alloc") cols.push_back({"alloc", {}, t.alloc});
  const design_matrix x = make_design(cols, t.yi.size(), model != "0+alloc");
  fit_options o;
  o.method = m;
  if (m == tau_method::fixed) o.tau = std::sqrt(0.05);
  return fit_meta_regression(t.yi, t.vi, x, model == "ablat+offset" ? t.off : std::vector<double>{}, o);
}

void check_against_metafor(const std::string& model, const std::string& metafor_method, tau_method m)
{
  const bcg_table t = read_bcg();
  const reference ref = read_reference();
  const auto it = ref.find({model, metafor_method});
  ASSERT_NE(it, ref.end()) << model << " " << metafor_method;
  const auto& want = it->second;
  const meta_regression_result r = fit_model(t, model, m);
  const std::string tag = model + " " + metafor_method + " ";

  for (const coefficient& c : r.coefficients) {
    const std::string name = c.name == "intercept" ? "intrcpt" : c.name;
    expect_rel(c.estimate, want.at("beta:" + name), tag + "beta " + name);
    expect_rel(c.se, want.at("se:" + name), tag + "se " + name);
    expect_rel(c.z, want.at("z:" + name), tag + "z " + name);
    expect_rel(c.p, want.at("p:" + name), tag + "p " + name);
    expect_rel(c.lower, want.at("ci_lower:" + name), tag + "ci lower " + name);
    expect_rel(c.upper, want.at("ci_upper:" + name), tag + "ci upper " + name);
  }
  expect_rel(r.tau2, want.at("tau2"), tag + "tau2");
  if (m != tau_method::fixed) {
    ASSERT_TRUE(r.tau2_se && r.tau2_lower && r.tau2_upper);
    expect_rel(*r.tau2_se, want.at("tau2_se"), tag + "tau2 se");
    expect_rel(*r.tau2_lower, want.at("tau2_lower"), tag + "tau2 lower");
    expect_rel(*r.tau2_upper, want.at("tau2_upper"), tag + "tau2 upper");
  }
  expect_rel(r.QE, want.at("QE"), tag + "QE");
  expect_rel(r.QE_p, want.at("QE_p"), tag + "QE p");
  expect_rel(r.QM, want.at("QM"), tag + "QM");
  expect_rel(r.QM_p, want.at("QM_p"), tag + "QM p");
  expect_rel(r.I2, want.at("I2"), tag + "I2");
  expect_rel(r.H2, want.at("H2"), tag + "H2");
  expect_rel(r.log_likelihood_ml, want.at("ll_ML"), tag + "ll ML");
  expect_rel(r.log_likelihood_reml, want.at("ll_REML"), tag + "ll REML");
  const auto r2 = want.find("R2");
  if (r2 != want.end() && m != tau_method::fixed) {
    ASSERT_TRUE(r.R2.has_value()) << tag;
    expect_rel(*r.R2, r2->second, tag + "R2");
  } else {
    EXPECT_FALSE(r.R2.has_value()) << tag;
  }
  ASSERT_EQ(r.estimate.size(), 13u);
  for (std::size_t j = 0; j < 13; ++j) {
    const std::string id = std::to_string(j + 1);
    expect_rel(r.estimate[j], want.at("blup:" + id), tag + "blup " + id);
    expect_rel(r.sd[j], want.at("blup_se:" + id), tag + "blup se " + id);
  }
  // The Fay-Herriot MSE against the independent R implementation (mse_fh in the R script).
  if (want.count("mse:1")) {
    ASSERT_EQ(r.mse.size(), 13u) << tag;
    for (std::size_t j = 0; j < 13; ++j) expect_rel(r.mse[j], want.at("mse:" + std::to_string(j + 1)), tag + "mse");
  } else {
    EXPECT_TRUE(r.mse.empty()) << tag;
  }
}

TEST(MetaRegressionMetafor, PublishedRemlFitWithAbsoluteLatitude)
{
  // metafor's documentation (rma.uni examples): tau^2 = 0.0764, intercept 0.2515, ablat -0.0291.
  const meta_regression_result r = fit_model(read_bcg(), "ablat", tau_method::reml);
  EXPECT_NEAR(r.tau2, 0.0764, 5e-5);
  EXPECT_NEAR(r.coefficients[0].estimate, 0.2515, 5e-5);
  EXPECT_NEAR(r.coefficients[1].estimate, -0.0291, 5e-5);
}

TEST(MetaRegressionMetafor, EveryMethodWithAbsoluteLatitude)
{
  const std::pair<const char*, tau_method> methods[] = {
    {"HE", tau_method::mom}, {"DL", tau_method::dl},     {"PM", tau_method::pm}, {"SJ", tau_method::sj},
    {"ML", tau_method::ml},  {"REML", tau_method::reml}, {"EB", tau_method::eb}, {"fixed", tau_method::fixed}};
  for (const auto& [name, m] : methods) check_against_metafor("ablat", name, m);
}

TEST(MetaRegressionMetafor, FactorWithTreatmentContrasts)
{
  check_against_metafor("ablat+alloc", "REML", tau_method::reml);
  check_against_metafor("ablat+alloc", "DL", tau_method::dl);
}

TEST(MetaRegressionMetafor, NoInterceptKeepsEveryLevel)
{
  check_against_metafor("0+alloc", "REML", tau_method::reml);
}

TEST(MetaRegressionMetafor, OffsetShiftsThePriorMean)
{
  check_against_metafor("ablat+offset", "REML", tau_method::reml);
}

TEST(MetaRegressionDesign, NamesLevelsAndRefusesBadColumns)
{
  const design_matrix d = make_design({{"site", {}, {"b", "a", "c", "a"}}}, 4, true);
  ASSERT_EQ(d.names, (std::vector<std::string>{"intercept", "siteb", "sitec"}));
  EXPECT_EQ(d.x, (std::vector<double>{1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0}));
  EXPECT_THROW(make_design({{"x", {2, 2, 2}, {}}}, 3, true), error);
  EXPECT_THROW(make_design({{"g", {}, {"a", "a", "a"}}}, 3, true), error);
  EXPECT_THROW(make_design({}, 3, false), error);
  try {
    const design_matrix c = make_design({{"x", {1, 2, 3, 4}, {}}, {"z", {2, 4, 6, 8}, {}}}, 4, true);
    fit_meta_regression({1, 2, 3, 5}, {1, 1, 1, 1}, c, {});
    FAIL() << "collinear covariates were accepted";
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("'z' is a linear combination of intercept, x"), std::string::npos) << e.what();
  }
  const design_matrix three = make_design({{"x", {1, 2, 3}, {}}, {"z", {1, 0, 5}, {}}}, 3, true);
  EXPECT_THROW(fit_meta_regression({1, 2, 3}, {1, 1, 1}, three, {}), error);  // 3 coefficients, 3 groups
}

TEST(MetaRegressionDesign, InterceptOnlyIsTheOrdinaryFit)
{
  // A design of the intercept alone (a numeric column of ones, no intercept) is the model without
  // covariates, which the normal fit computes by its own code: tau2 and mu agree.
  const bcg_table t = read_bcg();
  for (tau_method m : {tau_method::mom, tau_method::dl, tau_method::reml, tau_method::ml, tau_method::sj, tau_method::eb}) {
    design_matrix x;
    x.names = {"intercept"};
    x.x.assign(13, 1.0);
    x.rows = 13;
    x.cols = 1;
    x.intercept = true;
    fit_options o;
    o.method = m;
    const meta_regression_result r = fit_meta_regression(t.yi, t.vi, x, {}, o);
    std::vector<double> se;
    for (double v : t.vi) se.push_back(std::sqrt(v));
    const fit_result plain = fit(summary_data_view{t.yi.data(), se.data(), 13, 0.0, nullptr}, o);
    EXPECT_NEAR(r.tau2, plain.tau2, 1e-12 * std::max(1.0, plain.tau2)) << to_string(m);
    EXPECT_NEAR(r.coefficients[0].estimate, plain.mu, 1e-12) << to_string(m);
    EXPECT_NEAR(r.QE, plain.Q, 1e-10 * plain.Q) << to_string(m);
  }
}

TEST(FayHerriotMse, HandComputedBalancedCase)
{
  // y = (0, 1, 3, 6), v_j = 1, intercept only: sum (y - 2.5)^2 = 21, var(y) = 7.
  // REML = HE = var(y) - 1 = 6; B = 1/7; g1 = 6/7; g2 = B^2 (1 + 6) / 4 = 1/28;
  // REML: Var = 2 / sum w^2 = 2 / (4/49) = 24.5, g3 = B^2 24.5 / 7 = 1/14: mse = 6/7 + 1/28 + 2/14 = 29/28.
  // HE (Prasad-Rao): Var = 2 sum (tau2 + v)^2 / k^2 = 2 * 4 * 49 / 16 = 24.5: the same 29/28.
  // fixed tau = 1: B = 1/2, g1 = 1/2, g2 = (1/4)(2/4) = 1/8: 5/8.
  // ML: tau2 = 21/4 - 1 = 17/4 (one scoring step from HE lands on it), v + tau2 = 21/4, B = 4/21;
  //   g1 = (17/4)(4/21) = 17/21; g2 = B^2 (21/4) / 4 = 1/21; Var = 2 / sum w^2 = 441/32;
  //   g3 = B^2 Var / (21/4) = 2/21.
  design_matrix x;
  x.names = {"intercept"};
  x.x = {1, 1, 1, 1};
  x.rows = 4;
  x.cols = 1;
  const std::vector<double> y{0, 1, 3, 6}, v{1, 1, 1, 1};
  fit_options o;
  for (tau_method m : {tau_method::reml, tau_method::mom}) {
    o.method = m;
    const meta_regression_result r = fit_meta_regression(y, v, x, {}, o);
    EXPECT_NEAR(r.tau2, 6, 1e-12);
    for (double e : r.mse) EXPECT_NEAR(e, 29.0 / 28, 1e-13) << to_string(m);
  }
  o.method = tau_method::fixed;
  o.tau = 1;
  for (double e : fit_meta_regression(y, v, x, {}, o).mse) EXPECT_NEAR(e, 5.0 / 8, 1e-14);
  o.method = tau_method::ml;
  const meta_regression_result ml = fit_meta_regression(y, v, x, {}, o);
  EXPECT_NEAR(ml.tau2, 17.0 / 4, 1e-12);
  // With one column of ones and equal weights w: tr((X'WX)^-1 X'W^2X) = w, so bias = -w / (k w^2)
  // = -(v + tau2) / k = -21/16, and B^2 bias = -(16/441)(21/16) = -1/21.
  // mse = 17/21 + 1/21 + 2 (2/21) + 1/21 = 23/21.
  for (double e : ml.mse) EXPECT_NEAR(e, 23.0 / 21, 1e-13);
}


// Full Bayes with a covariate (flat prior on beta) against a brute-force R computation
// (tests/data/metafor/bayes_regression.R: closed-form normals given tau on a dense grid in log tau,
// checked against R's integrate). Our quadrature's relative error estimate is 1e-10 in the
// normalising constant; the mixture quantiles are solved to 1e-13 of the spread: 1e-8 holds them.
TEST(BayesRegression, BcgWithLatitudeAgainstBruteForceR)
{
  const bcg_table t = read_bcg();
  std::map<std::string, std::map<std::string, double>> want;
  for (const auto& row : test::parse_csv(test::read_file(test::reference_data() / "metafor" / "bcg_bayes_reference.csv")))
    if (row.size() == 3 && row[0] != "prior") want[row[0]][row[1]] = std::stod(row[2]);
  ASSERT_EQ(want.size(), 2u);
  for (const auto& [prior, ref] : want) {
    fit_options o;
    o.method = tau_method::bayes;
    if (prior != "uniform") o.prior_tau = {tau_prior::kind::half_cauchy, 0.5, 0};
    const meta_regression_result r = fit_meta_regression(t.yi, t.vi, make_design({{"ablat", t.ablat, {}}}, 13, true), {}, o);
    // Locations to 1e-8 of their scale (a theta near 0 has no relative digits to keep).
    auto near = [&](double got, const std::string& name, double scale) {
      EXPECT_NEAR(got, ref.at(name), 1e-8 * std::max(scale, std::fabs(ref.at(name)))) << prior << " " << name;
    };
    ASSERT_TRUE(r.tau_post.has_value());
    near(r.tau_post->mean, "tau_mean", 0);
    near(r.tau_post->sd, "tau_sd", 0);
    near(r.tau_post->median, "tau_median", 0);
    near(r.tau_post->lower, "tau_lower", 0);
    near(r.tau_post->upper, "tau_upper", 0);
    EXPECT_EQ(r.tau2, r.tau_post->median * r.tau_post->median);
    for (std::size_t c = 0; c < 2; ++c) {
      const std::string id = std::to_string(c + 1);
      const double scale = ref.at("beta_sd:" + id);
      near(r.coefficients[c].estimate, "beta_mean:" + id, scale);
      near(r.coefficients[c].se, "beta_sd:" + id, 0);
      near(r.coefficients[c].lower, "beta_lower:" + id, scale);
      near(r.coefficients[c].upper, "beta_upper:" + id, scale);
      EXPECT_TRUE(std::isnan(r.coefficients[c].z) && std::isnan(r.coefficients[c].p));
    }
    for (std::size_t j = 0; j < 13; ++j) {
      const std::string id = std::to_string(j + 1);
      const double scale = ref.at("theta_sd:" + id);
      near(r.fitted[j], "fitted:" + id, scale);
      near(r.shrinkage[j], "shrinkage:" + id, 0);
      near(r.estimate[j], "theta_mean:" + id, scale);
      near(r.sd[j], "theta_sd:" + id, 0);
      near(r.lower[j], "theta_lower:" + id, scale);
      near(r.upper[j], "theta_upper:" + id, scale);
    }
    EXPECT_TRUE(r.mse.empty());
    EXPECT_FALSE(r.tau2_lower.has_value());
    // Groups are computed in blocks on the threads: the same bits for any count.
    for (int threads : {1, 3}) {
      o.threads = threads;
      const meta_regression_result again =
        fit_meta_regression(t.yi, t.vi, make_design({{"ablat", t.ablat, {}}}, 13, true), {}, o);
      EXPECT_EQ(again.estimate, r.estimate);
      EXPECT_EQ(again.lower, r.lower);
      EXPECT_EQ(again.upper, r.upper);
    }
  }
}

// Uniform prior on tau: p(tau | y) falls as tau^-(k - p), so k - p < 2 is improper (refused) and
// k - p <= 3 leaves the sds infinite, as without covariates (where k - 1 counts the groups).
TEST(BayesRegression, ImproperAndHeavyTailedPosteriors)
{
  fit_options o;
  o.method = tau_method::bayes;
  const std::vector<double> y{0.1, 1.3, 2.2, 2.9, 4.4}, v{0.5, 0.4, 0.6, 0.5, 0.3};
  const design_matrix x = make_design({{"x", {0, 1, 2, 3, 4}, {}}, {"z", {1, 0, 0, 1, 1}, {}}}, 5, true);  // k - p = 2
  const meta_regression_result r = fit_meta_regression(y, v, x, {}, o);
  EXPECT_TRUE(std::isinf(r.tau_post->sd));
  EXPECT_TRUE(std::isinf(r.coefficients[1].se));
  EXPECT_TRUE(std::isfinite(r.coefficients[1].lower) && r.coefficients[1].lower < r.coefficients[1].upper);
  const design_matrix too_many = make_design({{"x", {0, 1, 2, 3, 4}, {}}, {"z", {1, 0, 0, 1, 1}, {}}, {"u", {0, 0, 1, 3, 1}, {}}}, 5, true);
  EXPECT_THROW(fit_meta_regression(y, v, too_many, {}, o), error);  // k - p = 1
  o.prior_tau = {tau_prior::kind::half_cauchy, 1, 0};
  EXPECT_TRUE(std::isfinite(fit_meta_regression(y, v, too_many, {}, o).tau_post->mean));
}

// Without an intercept a constant covariate is the intercept: y = (0, 1, 3, 6) with v_j = 1 gives
// REML tau2 = var(y) - 1 = 6 and mu = 2.5 (FayHerriotMse above), so a column of 2s has slope 1.25.
TEST(MetaRegressionDesign, ConstantCovariateWithoutInterceptIsTheIntercept)
{
  const design_matrix x = make_design({{"two", {2, 2, 2, 2}, {}}}, 4, false);
  fit_options o;
  o.method = tau_method::reml;
  const meta_regression_result r = fit_meta_regression({0, 1, 3, 6}, {1, 1, 1, 1}, x, {}, o);
  EXPECT_NEAR(r.tau2, 6, 1e-12);
  EXPECT_NEAR(r.coefficients[0].estimate, 1.25, 1e-14);
  EXPECT_NEAR(r.coefficients[0].se, std::sqrt(7.0 / 4) / 2, 1e-14);  // Var(mu) = (v + tau2) / k
  const design_matrix level = make_design({{"g", {}, {"a", "a", "a", "a"}}}, 4, false);
  EXPECT_EQ(level.names, std::vector<std::string>{"ga"});
  // A constant second factor adds no column (the first one kept every level): refused.
  EXPECT_THROW(make_design({{"f", {}, {"a", "b", "a", "b"}}, {"g", {}, {"a", "a", "a", "a"}}}, 4, false), error);
  // Two constants are collinear, named as any other pair.
  const design_matrix two = make_design({{"two", {2, 2, 2, 2}, {}}, {"three", {3, 3, 3, 3}, {}}}, 4, false);
  EXPECT_THROW(fit_meta_regression({0, 1, 3, 6}, {1, 1, 1, 1}, two, {}, o), error);
}

}  // namespace
}  // namespace shrink
