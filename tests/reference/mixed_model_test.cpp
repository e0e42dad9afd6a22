// The random-intercept model with covariates from per-group cross products, against the radon
// data of Gelman and Hill (2007, ch. 12): their published fits, lme4's lmer, and an independent
// dense profiled-likelihood optimum (tests/data/radon/radon_lmer.R, values in radon_reference.csv).

#include "test_support.hpp"

#include "io/cross_product_fold.hpp"

#include <shrink/regression.hpp>

#include <Eigen/Dense>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <sstream>

namespace shrink {
namespace {

std::map<std::string, double> reference(const std::string& source, const std::string& model, const std::string& method)
{
  std::map<std::string, double> r;
  for (const auto& row : test::parse_csv(test::read_file(test::reference_data() / "radon" / "radon_reference.csv")))
    if (row.size() == 5 && row[0] == source && row[1] == model && row[2] == method) r[row[3]] = std::stod(row[4]);
  return r;
}

mixed_model_result fit_radon(const std::string& model, bool reml, std::vector<std::string>* keys = nullptr)
{
  std::vector<std::string> covariates{"floor"};
  if (model == "uranium") covariates.push_back("log_uranium");
  const io::cross_product_table t = io::read_cross_products((test::reference_data() / "radon" / "radon.csv").string(),
                                                            "county", "log_radon", covariates, "", 1);
  if (keys) *keys = t.keys;
  return fit_mixed_model(t.data, reml);
}

/// Every output against one reference: beta, se, tau2, sigma2, the log-likelihood and the 85
/// conditional modes with their sds.
void compare(const mixed_model_result& r, const std::map<std::string, double>& want, bool by_index, double tol,
             const std::vector<std::string>& keys, const std::string& tag)
{
  auto close = [&](double computed, double expected, const std::string& what) {
    EXPECT_LE(std::fabs(computed - expected), tol * std::fabs(expected) + 1e-14) << tag << what << ": " << computed
                                                                                 << " vs " << expected;
  };
  for (const coefficient& c : r.coefficients) {
    const std::string name = c.name == "intercept" ? "(Intercept)" : c.name;
    close(c.estimate, want.at("beta:" + name), "beta " + name);
    close(c.se, want.at("se:" + name), "se " + name);
  }
  close(r.tau2, want.at("tau2"), "tau2");
  close(r.sigma2, want.at("sigma2"), "sigma2");
  close(r.log_likelihood, want.at("loglik"), "loglik");
  ASSERT_EQ(r.groups, 85u);
  for (std::size_t j = 0; j < 85; ++j) {
    const std::string id = by_index ? std::to_string(j + 1) : keys[j];
    close(r.effect[j], want.at("b:" + id), "b " + id);
    close(r.effect_sd[j], want.at("b_sd:" + id), "b sd " + id);
  }
}

TEST(MixedModelRadon, GelmanHillPublishedFits)
{
  // Gelman and Hill (2007), section 12.4: 1.46, -0.69, sigma_alpha 0.33, sigma_y 0.76; with the
  // county uranium (12.6): 1.47, -0.67, 0.72, sigma_alpha 0.16 (two digits as printed).
  const mixed_model_result a = fit_radon("floor", true);
  EXPECT_NEAR(a.coefficients[0].estimate, 1.46, 0.005);
  EXPECT_NEAR(a.coefficients[1].estimate, -0.69, 0.005);
  EXPECT_NEAR(std::sqrt(a.tau2), 0.33, 0.005);
  EXPECT_NEAR(std::sqrt(a.sigma2), 0.76, 0.005);
  const mixed_model_result b = fit_radon("uranium", true);
  EXPECT_NEAR(b.coefficients[0].estimate, 1.47, 0.005);
  EXPECT_NEAR(b.coefficients[1].estimate, -0.67, 0.005);
  EXPECT_NEAR(b.coefficients[2].estimate, 0.72, 0.005);
  EXPECT_NEAR(std::sqrt(b.tau2), 0.16, 0.005);
}

TEST(MixedModelRadon, DenseProfiledOptimumTo1e10)
{
  for (const char* model : {"floor", "uranium"})
    for (bool reml : {true, false}) {
      std::vector<std::string> keys;
      const mixed_model_result r = fit_radon(model, reml, &keys);
      compare(r, reference("dense", model, reml ? "REML" : "ML"), true, 1e-10, keys,
              std::string(model) + (reml ? " REML " : " ML "));
    }
}

TEST(MixedModelRadon, Lme4ToItsOptimiserTolerance)
{
  // lmer's bobyqa (rhoend 1e-12) stops with theta known to about 1e-8: tau2 to ~1e-7 relative.
  for (const char* model : {"floor", "uranium"})
    for (bool reml : {true, false}) {
      std::vector<std::string> keys;
      const mixed_model_result r = fit_radon(model, reml, &keys);
      compare(r, reference("lme4", model, reml ? "REML" : "ML"), false, 1e-6, keys,
              std::string(model) + (reml ? " REML " : " ML "));
    }
}

TEST(MixedModelRadon, RowOrderDoesNotMatterBeyondRounding)
{
  // The cross products of reversed rows give the same fit to rounding (Welford in another order).
  const std::string text = test::read_file(test::reference_data() / "radon" / "radon.csv");
  const auto rows = test::parse_csv(text);
  std::string reversed = "county,floor,log_uranium,log_radon\n";
  for (std::size_t i = rows.size() - 1; i >= 1; --i)
    reversed += rows[i][0] + "," + rows[i][1] + "," + rows[i][2] + "," + rows[i][3] + "\n";
  test::temp_dir d;
  test::write_file(d / "r.csv", reversed);
  const io::cross_product_table t = io::read_cross_products((d / "r.csv").string(), "county", "log_radon", {"floor"}, "", 1);
  const mixed_model_result a = fit_mixed_model(t.data, true), b = fit_radon("floor", true);
  EXPECT_NEAR(a.tau2, b.tau2, 1e-12);
  EXPECT_NEAR(a.coefficients[1].estimate, b.coefficients[1].estimate, 1e-12);
}

TEST(MixedModelRadon, TextKeysGiveTheSameFit)
{
  // Keys "c1".."c85" take the hash table (not the direct table of small integers) and sort bytewise.
  const auto rows = test::parse_csv(test::read_file(test::reference_data() / "radon" / "radon.csv"));
  std::string text = "county,floor,log_uranium,log_radon\n";
  for (std::size_t i = 1; i < rows.size(); ++i) text += "c" + rows[i][0] + "," + rows[i][1] + "," + rows[i][2] + "," + rows[i][3] + "\n";
  test::temp_dir d;
  test::write_file(d / "r.csv", text);
  const io::cross_product_table t = io::read_cross_products((d / "r.csv").string(), "county", "log_radon", {"floor"}, "", 1);
  EXPECT_EQ(t.keys[0], "c1");
  EXPECT_EQ(t.keys[1], "c10");
  const mixed_model_result a = fit_mixed_model(t.data, true), b = fit_radon("floor", true);
  // The groups are summed in another order (bytewise keys): the same fit to rounding.
  EXPECT_NEAR(a.tau2, b.tau2, 1e-12 * b.tau2);
  EXPECT_NEAR(a.coefficients[1].estimate, b.coefficients[1].estimate, 1e-12);
}

using Eigen::MatrixXd;
using Eigen::VectorXd;
using group_rows = std::map<std::string, std::vector<std::vector<double>>>;  // per group: its rows

/// A group's design (an intercept, then each row's first q entries) and its values (entry `at`).
void design_of(const std::vector<std::vector<double>>& r, std::size_t q, std::size_t at, MatrixXd& X, VectorXd& y)
{
  const auto n = static_cast<Eigen::Index>(r.size()), p = static_cast<Eigen::Index>(q + 1);
  X.resize(n, p);
  y.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    X(i, 0) = 1;
    for (Eigen::Index a = 1; a < p; ++a) X(i, a) = r[static_cast<std::size_t>(i)][static_cast<std::size_t>(a - 1)];
    y[i] = r[static_cast<std::size_t>(i)][at];
  }
}

/// The leave-one-group-out log score by dense refits: each group's rows against
/// N(X_j beta_{-j}, sigma2 I + tau2 11' + X_j V_{-j} X_j'), beta_{-j} and V_{-j} = (X'H^-1X)^-1 the GLS
/// fit to the other groups with dense per-group covariances H_c = sigma2 I + tau2 11'.
double dense_logo_score(const group_rows& rows, std::size_t q, std::size_t at, double sigma2, double tau2)
{
  const auto p = static_cast<Eigen::Index>(q + 1);
  double total = 0;
  for (const auto& [key, mine] : rows) {
    MatrixXd G = MatrixXd::Zero(p, p), X;
    VectorXd b = VectorXd::Zero(p), y;
    for (const auto& [other, theirs] : rows) {
      if (other == key) continue;
      design_of(theirs, q, at, X, y);
      const auto n = X.rows();
      const Eigen::LLT<MatrixXd> h(sigma2 * MatrixXd::Identity(n, n) + tau2 * MatrixXd::Ones(n, n));
      G += X.transpose() * h.solve(X);
      b += X.transpose() * h.solve(y);
    }
    const MatrixXd V = G.inverse();
    design_of(mine, q, at, X, y);
    const auto n = X.rows();
    const Eigen::LLT<MatrixXd> llt(sigma2 * MatrixXd::Identity(n, n) + tau2 * MatrixXd::Ones(n, n) + X * V * X.transpose());
    const VectorXd e = y - X * (V * b);
    const double log_det = 2 * llt.matrixL().toDenseMatrix().diagonal().array().log().sum();
    total += -0.5 * (static_cast<double>(n) * std::log(6.283185307179586) + log_det + e.dot(llt.solve(e)));
  }
  return total;
}

/// The pooled structure's sigma2: the ML residual variance of lm(y ~ x), rss / N.
double pooled_sigma2(const group_rows& rows, std::size_t q, std::size_t at)
{
  const auto p = static_cast<Eigen::Index>(q + 1);
  MatrixXd XtX = MatrixXd::Zero(p, p), X;
  VectorXd Xty = VectorXd::Zero(p), y;
  double N = 0, rss = 0;
  for (const auto& [key, r] : rows) design_of(r, q, at, X, y), XtX += X.transpose() * X, Xty += X.transpose() * y;
  const VectorXd beta = XtX.ldlt().solve(Xty);
  for (const auto& [key, r] : rows) design_of(r, q, at, X, y), rss += (y - X * beta).squaredNorm(), N += static_cast<double>(X.rows());
  return rss / N;
}

TEST(MixedModelRadon, LeaveOneCountyOutScoreByRefitting)
{
  // dense_logo_score on the radon rows, without and with covariates.
  group_rows rows;  // per county: (floor, log_uranium, y)
  for (const auto& row : test::parse_csv(test::read_file(test::reference_data() / "radon" / "radon.csv")))
    if (row[0] != "county") rows[row[0]].push_back({std::stod(row[1]), std::stod(row[2]), std::stod(row[3])});
  for (const std::vector<std::string>& covariates :
       {std::vector<std::string>{}, std::vector<std::string>{"floor"}, std::vector<std::string>{"floor", "log_uranium"}}) {
    const io::cross_product_table t = io::read_cross_products(
      (test::reference_data() / "radon" / "radon.csv").string(), "county", "log_radon", covariates, "", 1);
    const structure_comparison c = compare_structures(t.data);
    const mixed_model_result ml = fit_mixed_model(t.data, false);
    const std::size_t q = covariates.size();
    EXPECT_NEAR(*c.structures[2].logo_score, dense_logo_score(rows, q, 2, ml.sigma2, ml.tau2), 1e-9) << q;
    EXPECT_NEAR(*c.structures[1].logo_score, dense_logo_score(rows, q, 2, pooled_sigma2(rows, q, 2), 0), 1e-9) << q;
    EXPECT_FALSE(c.structures[0].logo_score.has_value());
  }
}

TEST(MixedModel, LeaveOneGroupOutScoreByRefittingForWideDesigns)
{
  // The score's unrolled widths (4 covariates) and its run-time width (8: p + 1 > 8) against the
  // dense refit (dense_logo_score), on rows drawn here (3 to 8 a group).
  for (const std::size_t q : {std::size_t{4}, std::size_t{8}}) {
    std::uint64_t state = 7 + q;
    const auto uniform = [&] {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return static_cast<double>(state >> 11) / 9007199254740992.0 - 0.5;
    };
    group_rows rows;  // per group: (x_1..x_q, y)
    std::string text = "g";
    for (std::size_t a = 0; a < q; ++a) text += ",x" + std::to_string(a);
    text += ",y\n";
    std::vector<std::string> covariates;
    for (std::size_t a = 0; a < q; ++a) covariates.push_back("x" + std::to_string(a));
    for (int j = 0; j < 24; ++j) {
      const double effect = uniform();
      for (int i = 0; i < 3 + j % 6; ++i) {
        std::vector<double> r;
        double y = effect + 0.3 * uniform();
        for (std::size_t a = 0; a < q; ++a) r.push_back(uniform() + (a == 0 ? 0.1 * j : 0.0)), y += r.back() * (1.0 + a);
        r.push_back(y);
        std::ostringstream line;
        line.precision(17);
        line << j;
        for (double v : r) line << ',' << v;
        text += line.str() + "\n";
        rows[std::to_string(j)].push_back(r);
      }
    }
    test::temp_dir d;
    test::write_file(d / "w.csv", text);
    const io::cross_product_table t = io::read_cross_products((d / "w.csv").string(), "g", "y", covariates, "", 1);
    const structure_comparison c = compare_structures(t.data);
    const mixed_model_result ml = fit_mixed_model(t.data, false);
    ASSERT_GT(ml.tau2, 0) << q;
    const double logo = *c.structures[2].logo_score, pooled = *c.structures[1].logo_score;
    EXPECT_NEAR(logo, dense_logo_score(rows, q, q, ml.sigma2, ml.tau2), 1e-9 * std::fabs(logo)) << q;
    EXPECT_NEAR(pooled, dense_logo_score(rows, q, q, pooled_sigma2(rows, q, q), 0), 1e-9 * std::fabs(pooled)) << q;
  }
}

TEST(MixedModelRadon, FitWithStructuresIsTheTwoCalls)
{
  // The data prepared once for the fit and the comparison (the CLI's path) give the bits of the two
  // separate calls, at 1 and 3 threads (85 counties: one block of groups, scored in two-group lanes
  // and a lone last group).
  for (const std::vector<std::string>& covariates :
       {std::vector<std::string>{}, std::vector<std::string>{"floor"}, std::vector<std::string>{"floor", "log_uranium"}})
    for (const bool reml : {true, false})
      for (const int threads : {1, 3}) {
        const io::cross_product_table t = io::read_cross_products(
          (test::reference_data() / "radon" / "radon.csv").string(), "county", "log_radon", covariates, "", 1);
        const mixed_model_with_structures both = fit_mixed_model_with_structures(t.data, reml, 0.9, backend::cpu, threads);
        const mixed_model_result fit = fit_mixed_model(t.data, reml, 0.9, backend::cpu, 1);
        const structure_comparison c = compare_structures(t.data, 1);
        const std::string tag = std::to_string(covariates.size()) + (reml ? " reml " : " ml ") + std::to_string(threads);
        EXPECT_EQ(both.fit.tau2, fit.tau2) << tag;
        EXPECT_EQ(both.fit.sigma2, fit.sigma2) << tag;
        EXPECT_EQ(both.fit.log_likelihood, fit.log_likelihood) << tag;
        ASSERT_EQ(both.fit.coefficients.size(), fit.coefficients.size()) << tag;
        for (std::size_t k = 0; k < fit.coefficients.size(); ++k) {
          EXPECT_EQ(both.fit.coefficients[k].estimate, fit.coefficients[k].estimate) << tag;
          EXPECT_EQ(both.fit.coefficients[k].se, fit.coefficients[k].se) << tag;
        }
        EXPECT_EQ(both.fit.estimate, fit.estimate) << tag;
        EXPECT_EQ(both.fit.upper, fit.upper) << tag;
        ASSERT_TRUE(both.structures.has_value()) << tag;
        EXPECT_EQ(both.structures->tau2_ml, c.tau2_ml) << tag;
        ASSERT_EQ(both.structures->structures.size(), 3u) << tag;
        for (std::size_t k = 0; k < 3; ++k) {
          EXPECT_EQ(both.structures->structures[k].log_likelihood, c.structures[k].log_likelihood) << tag << k;
          EXPECT_EQ(both.structures->structures[k].logo_score, c.structures[k].logo_score) << tag << k;
        }
        EXPECT_EQ(both.structures->favoured, c.favoured) << tag;
      }
}

TEST(MixedModelRadon, StructuresAgainstLmAndLmer)
{
  // tests/data/radon/radon_structures.R: lm's log-likelihoods (exact: 1e-12) and lmer's ML fit (its
  // optimiser's 1e-8; the dense optimum above holds ours to 1e-10). Parameters count sigma too.
  std::map<std::string, double> want;
  for (const auto& row : test::parse_csv(test::read_file(test::reference_data() / "radon" / "radon_structures.csv")))
    if (row.size() == 3 && row[0] != "model") want[row[0] + " " + row[1]] = std::stod(row[2]);
  for (const char* model : {"none", "floor"}) {
    const std::vector<std::string> covariates = std::string(model) == "floor" ? std::vector<std::string>{"floor"}
                                                                               : std::vector<std::string>{};
    const io::cross_product_table t = io::read_cross_products((test::reference_data() / "radon" / "radon.csv").string(),
                                                              "county", "log_radon", covariates, "", 1);
    const structure_comparison c = compare_structures(t.data);
    const std::string m = model;
    EXPECT_NEAR(c.structures[0].log_likelihood, want.at(m + " separate"), 1e-12 * 1100) << m;
    EXPECT_NEAR(c.structures[1].log_likelihood, want.at(m + " pooled"), 1e-12 * 1100) << m;
    EXPECT_NEAR(c.structures[2].log_likelihood, want.at(m + " hierarchical"), 1e-8 * 1100) << m;
    const std::size_t q = covariates.size();
    EXPECT_EQ(c.structures[0].parameters, 85 + q + 1);
    EXPECT_EQ(c.structures[1].parameters, q + 2);
    EXPECT_EQ(c.structures[2].parameters, q + 3);
    EXPECT_NEAR(c.structures[2].bic, -2 * c.structures[2].log_likelihood + (q + 3) * std::log(919.0), 1e-9);
    EXPECT_NEAR(c.lr_statistic, 2 * (c.structures[2].log_likelihood - c.structures[1].log_likelihood), 1e-9);
    EXPECT_EQ(c.favoured, "hierarchical");
  }
}

// The profile log-likelihood of tau (sigma2 and beta maximised at each tau) and its 95% interval,
// against R's dense N x N computation and lme4's confint(method = "profile") for ML
// (tests/data/radon/radon_profile.R, values in radon_profile.csv).
TEST(MixedModelRadon, ProfileOfTauAndItsIntervalAgainstDenseR)
{
  std::map<std::string, double> dense_reml, dense_ml, lme4_ml;
  for (const auto& row : test::parse_csv(test::read_file(test::reference_data() / "radon" / "radon_profile.csv")))
    if (row.size() == 4 && row[0] != "source")
      (row[0] == "lme4" ? lme4_ml : row[1] == "REML" ? dense_reml : dense_ml)[row[2]] = std::stod(row[3]);
  const io::cross_product_table t = io::read_cross_products((test::reference_data() / "radon" / "radon.csv").string(),
                                                            "county", "log_radon", {"floor"}, "", 1);
  for (bool reml : {true, false}) {
    const std::map<std::string, double>& want = reml ? dense_reml : dense_ml;
    for (double tau : {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6}) {
      std::ostringstream name;
      name << "profile:" << tau;
      // R's optimize locates sigma2 to ~1e-10 on a flat maximum: the value agrees far closer.
      EXPECT_NEAR(fit_mixed_model_at_tau(t.data, reml, tau).log_likelihood, want.at(name.str()), 1e-8) << name.str();
    }
    const mixed_model_result fit = fit_mixed_model(t.data, reml);
    // At the fit's own tau the profile is the fit.
    const mixed_model_result at = fit_mixed_model_at_tau(t.data, reml, std::sqrt(fit.tau2));
    EXPECT_NEAR(at.log_likelihood, fit.log_likelihood, 1e-10);
    EXPECT_NEAR(at.sigma2, fit.sigma2, 1e-7 * fit.sigma2);
    const auto [lower, upper] = mixed_model_tau_interval(t.data, fit);
    // uniroot to 1e-10 on R's profile, itself from optimize: agreement to 1e-7.
    EXPECT_NEAR(lower, want.at("tau_lower"), 1e-7);
    EXPECT_NEAR(upper, want.at("tau_upper"), 1e-7);
    if (!reml) {  // lme4's profile (ML deviance, spline-interpolated): to its own accuracy
      EXPECT_NEAR(lower, lme4_ml.at("tau_lower"), 1e-6);
      EXPECT_NEAR(upper, lme4_ml.at("tau_upper"), 1e-6);
    }
  }
  EXPECT_THROW(fit_mixed_model_at_tau(t.data, true, -1), error);
}

}  // namespace
}  // namespace shrink
