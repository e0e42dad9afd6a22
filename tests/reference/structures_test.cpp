// The three structures (separate, pooled, hierarchical) against hand computations: eight schools
// (BDA3 5.5: the maximum-likelihood tau is 0, so the data favour the pooled structure) and a data
// set whose groups lie far apart (hierarchical). Every log-likelihood is recomputed here from its
// definition, and the leave-one-group-out score by refitting without each group.

#include "test_support.hpp"

#include <shrink/regression.hpp>

#include <gtest/gtest.h>

#include <cmath>

namespace shrink {
namespace {

constexpr double two_pi = 6.283185307179586;

/// log N(y; m, s2).
double log_normal(double y, double m, double s2) { return -0.5 * std::log(two_pi * s2) - 0.5 * (y - m) * (y - m) / s2; }

/// Precision-weighted mean of y without group `skip` (skip = size: all), weights 1 / (v + tau2).
std::pair<double, double> weighted_mean(const std::vector<double>& y, const std::vector<double>& v, double tau2,
                                        std::size_t skip)
{
  double sw = 0, swy = 0;
  for (std::size_t j = 0; j < y.size(); ++j)
    if (j != skip) {
      sw += 1 / (v[j] + tau2);
      swy += y[j] / (v[j] + tau2);
    }
  return {swy / sw, 1 / sw};
}

double log_likelihood(const std::vector<double>& y, const std::vector<double>& v, double tau2)
{
  const double mu = weighted_mean(y, v, tau2, y.size()).first;
  double ll = 0;
  for (std::size_t j = 0; j < y.size(); ++j) ll += log_normal(y[j], mu, v[j] + tau2);
  return ll;
}

double logo(const std::vector<double>& y, const std::vector<double>& v, double tau2)
{
  double score = 0;
  for (std::size_t j = 0; j < y.size(); ++j) {
    const auto [mu, var_mu] = weighted_mean(y, v, tau2, j);
    score += log_normal(y[j], mu, v[j] + tau2 + var_mu);
  }
  return score;
}

TEST(Structures, EightSchoolsFavourPooling)
{
  const auto rows = test::parse_csv(test::read_file(test::reference_data() / "eight_schools.csv"));
  std::vector<double> y, v;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    y.push_back(std::stod(rows[i][1]));
    v.push_back(std::stod(rows[i][2]) * std::stod(rows[i][2]));
  }
  const structure_comparison c = compare_structures(y, v, intercept_design(8), {});
  ASSERT_EQ(c.structures.size(), 3u);
  // The likelihood of tau2 decreases from 0 (BDA3 fig. 5.5's marginal mode of tau is 0 under ML).
  EXPECT_EQ(c.tau2_ml, 0);
  double separate = 0;
  for (double vj : v) separate += -0.5 * std::log(two_pi * vj);
  const double pooled = log_likelihood(y, v, 0);
  // Q = 4.71 (BDA3 5.5): the pooled log-likelihood is the separate one less Q / 2.
  EXPECT_NEAR(2 * (separate - pooled), 4.71, 0.005);
  EXPECT_NEAR(c.structures[0].log_likelihood, separate, 1e-12);
  EXPECT_NEAR(c.structures[1].log_likelihood, pooled, 1e-12);
  EXPECT_NEAR(c.structures[2].log_likelihood, pooled, 1e-12);
  EXPECT_EQ(c.structures[0].parameters, 8u);
  EXPECT_EQ(c.structures[1].parameters, 1u);
  EXPECT_EQ(c.structures[2].parameters, 2u);
  EXPECT_NEAR(c.structures[1].aic, -2 * pooled + 2, 1e-11);
  EXPECT_NEAR(c.structures[0].bic, -2 * separate + 8 * std::log(8.0), 1e-11);
  EXPECT_NEAR(*c.structures[1].logo_score, logo(y, v, 0), 1e-11);
  EXPECT_FALSE(c.structures[0].logo_score.has_value());
  EXPECT_EQ(c.lr_statistic, 0);
  EXPECT_EQ(c.lr_p_value, 1);
  EXPECT_EQ(c.favoured, "pooled");
}

TEST(Structures, ModerateSpreadFavoursTheHierarchy)
{
  // 100 groups at +-sqrt(2) with unit sampling variances: with equal v the ML tau2 is closed form,
  // S / k - v = 2 - 1 = 1 (S the sum of squared deviations from the mean), and at the maximum
  // ll = -k/2 log(2 pi S/k) - k/2. Against separate, AIC differs by k log(1 + tau2/v) - k + 2(p + 1)
  // = 100 log 2 - 96 < 0, against pooled by k (log 2 - 1) + 2 < 0: the hierarchy wins.
  const std::size_t k = 100;
  std::vector<double> y, v(k, 1.0);
  for (std::size_t j = 0; j < k; ++j) y.push_back(j % 2 ? std::sqrt(2.0) : -std::sqrt(2.0));
  const double S = 2.0 * k;
  const structure_comparison c = compare_structures(y, v, intercept_design(k), {});
  EXPECT_NEAR(c.tau2_ml, 1, 1e-12);
  EXPECT_NEAR(c.structures[2].log_likelihood, -50 * std::log(two_pi * S / k) - 50, 1e-10);
  EXPECT_NEAR(c.structures[1].log_likelihood, log_likelihood(y, v, 0), 1e-10);
  EXPECT_NEAR(*c.structures[2].logo_score, logo(y, v, 1), 1e-10);
  // LR = k (tau2 - log(1 + tau2)) = 100 (1 - log 2); p = half the chi-square(1) tail.
  EXPECT_NEAR(c.lr_statistic, 100 * (1 - std::log(2.0)), 1e-9);
  EXPECT_NEAR(c.lr_p_value, 0.5 * std::erfc(std::sqrt(c.lr_statistic / 2)), 1e-15);
  EXPECT_EQ(c.favoured, "hierarchical");
}

TEST(Structures, FarApartGroupsFavourSeparate)
{
  // Ten groups 10 apart with unit variances: tau2 / v = S/k - 1 = 824, so by AIC the saturated
  // separate structure wins (10 log 825 - 10 + 4 > 0 is the hierarchy's excess).
  std::vector<double> y, v(10, 1.0);
  for (int j = 0; j < 10; ++j) y.push_back(10.0 * j);
  const structure_comparison c = compare_structures(y, v, intercept_design(10), {});
  EXPECT_NEAR(c.tau2_ml, 824, 1e-9);
  EXPECT_EQ(c.favoured, "separate");
}

TEST(Structures, LeaveOneOutWithACovariateMatchesRefitting)
{
  // Sherman-Morrison's closed form against an explicit refit without each group (weighted least
  // squares of a line, by its normal equations).
  const std::vector<double> x{1, 2, 4, 5, 7, 8}, y{1.0, 2.5, 2.0, 4.5, 6.0, 5.0}, v{1, 0.5, 2, 1, 1.5, 1};
  const design_matrix d = make_design({{"x", x, {}}}, 6, true);
  const structure_comparison c = compare_structures(y, v, d, {});
  double score = 0;
  for (std::size_t j = 0; j < 6; ++j) {
    double s0 = 0, s1 = 0, s2 = 0, t0 = 0, t1 = 0;
    for (std::size_t i = 0; i < 6; ++i)
      if (i != j) {
        const double w = 1 / v[i];
        s0 += w, s1 += w * x[i], s2 += w * x[i] * x[i], t0 += w * y[i], t1 += w * x[i] * y[i];
      }
    const double det = s0 * s2 - s1 * s1;
    const double b0 = (s2 * t0 - s1 * t1) / det, b1 = (s0 * t1 - s1 * t0) / det;
    const double var_fit = (s2 - 2 * x[j] * s1 + x[j] * x[j] * s0) / det;  // x' (X'WX)^-1 x
    score += log_normal(y[j], b0 + b1 * x[j], v[j] + var_fit);
  }
  EXPECT_NEAR(*c.structures[1].logo_score, score, 1e-12);
}

}  // namespace
}  // namespace shrink
