// The host numerics of src/api/numerics.hpp against independent values: chi-square and Student-t
// quantiles from SciPy, and the quantile search over quadrature panels on a density whose two
// quadrature rules disagree at a panel edge.

#include "api/numerics.hpp"
#include "common/quadrature.hpp"

#include <shrink/error.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace {

using namespace shrink::detail;

struct quantile_case {
  double p, df, expected;
};

TEST(Numerics, ChiSquareQuantilesAtVeryLargeDegreesOfFreedom)
{
  // Reference: scipy.stats.chi2.ppf(p, df), SciPy 1.17.1 (Boost's incomplete-gamma inverse),
  // printed with repr(). The Q-profile interval needs these at df = J - 1; a 10000-term cap
  // on the series and continued fraction made P(a, x) wrong above df ~ 1.6e5.
  const quantile_case cases[] = {
    {0.025, 1e5, 99125.37330064735},   {0.975, 1e5, 100878.41530566558}, {0.5, 1e5, 99999.33333412347},
    {0.025, 1e6, 997230.0871432901},   {0.975, 1e6, 1002773.701467926},  {0.5, 1e6, 999999.3333334123},
    {0.025, 1e7, 9991236.669053895},   {0.975, 1e7, 10008767.119557811}, {0.5, 1e7, 9999999.333333341},
  };
  for (const quantile_case& c : cases) {
    // The bisection stops at 4 ulps and P(a, x) keeps ~1e-15 relative accuracy (Stirling's series
    // with the a log a terms cancelled analytically), so 1e-14 relative holds with margin; the
    // 10000-term cap was off by 4e-13 relative at df = 1e6 and 4e-9 (0.04) at df = 1e7.
    EXPECT_NEAR(chi_square_quantile(c.p, c.df), c.expected, 1e-14 * c.expected) << "p " << c.p << " df " << c.df;
  }
}

TEST(Numerics, ChiSquareDistributionFunctionAtSmallAndModerateDf)
{
  // scipy.stats.chi2.ppf as above; exercises both the series (x < a + 1) and the continued fraction.
  EXPECT_NEAR(chi_square_quantile(0.975, 1), 5.023886187314888, 1e-13);
  EXPECT_NEAR(chi_square_quantile(0.025, 12), 4.4037885069817015, 1e-13);
  EXPECT_NEAR(chi_square_quantile(0.975, 12), 23.33666415864534, 1e-12);
  EXPECT_NEAR(chi_square_cdf(250, 200), 0.9906208683311739, 1e-13);
}

TEST(Numerics, StudentTQuantiles)
{
  // scipy.stats.t.ppf(p, nu), SciPy 1.17.1.
  const quantile_case cases[] = {
    {0.975, 1, 12.706204736174694}, {0.9, 1, 3.0776835371752544}, {0.975, 3, 3.1824463052837078},
    {0.9, 3, 1.637744353696209},    {0.975, 4.5, 2.6589123472044034}, {0.9, 4.5, 1.5008853175085577},
    {0.975, 10, 2.228138851986274}, {0.9, 10, 1.372183641110336},
  };
  for (const quantile_case& c : cases) {
    EXPECT_NEAR(student_t_quantile(c.p, c.df), c.expected, 1e-12 * c.expected) << "p " << c.p << " nu " << c.df;
    EXPECT_NEAR(student_t_quantile(1 - c.p, c.df), -c.expected, 1e-12 * c.expected);
  }
  EXPECT_EQ(student_t_quantile(0.5, 3), 0.0);
}

/// |u - 0.3|^(1/2): the kink makes the 7-point Gauss and 15-point Kronrod masses of [0, 1] differ
/// by ~1e-4, as they may (within the error estimate) in the adaptive quadrature over tau.
double kinked(double u) { return std::sqrt(std::fabs(u - 0.3)); }

double gauss_partial(double a, double x)
{
  double s = 0;
  for (int i = 0; i < 7; ++i) {
    double w;
    const double t = gauss7_point(a, x, i, w);
    s += w * kinked(t);
  }
  return s;
}

TEST(Numerics, PanelQuantileIsConsistentAtAPanelEdge)
{
  const double edges[3] = {0, 1, 2};
  double kronrod[2] = {0, 0}, gauss[2] = {0, 0};
  for (int k = 0; k < 2; ++k)
    for (int i = 0; i < 15; ++i) {
      double wk, wg;
      const double u = gk15_point(edges[k], edges[k + 1], i, wk, wg);
      kronrod[k] += wk * kinked(u);
      gauss[k] += wg * kinked(u);
    }
  ASSERT_GT(kronrod[0] - gauss[0], 1e-6);  // the case: the accurate mass exceeds the partial rule's
  auto panel = [&](std::size_t k) { return quantile_panel{edges[k], edges[k + 1], kronrod[k], gauss[k]}; };
  auto partial = [&](std::size_t k, double x) { return gauss_partial(edges[k], x); };

  // A target between the two masses of panel 0: the partial rule never reaches it inside panel 0
  // and the cumulative mass passes it at the edge, so the quantile is the edge u = 1. (Choosing
  // the panel by the Kronrod mass but solving with the Gauss partial gave a bracket of one sign.)
  const double in_gap = 0.5 * (gauss[0] + kronrod[0]);
  EXPECT_EQ(panel_quantile(2, panel, partial, in_gap, 1e-13), 1.0);

  // Ordinary targets: the partial integral at the answer equals the target.
  for (double frac : {0.2, 0.7}) {
    const double target = frac * gauss[0];
    const double u = panel_quantile(2, panel, partial, target, 1e-13);
    EXPECT_GT(u, 0.0);
    EXPECT_LT(u, 1.0);
    EXPECT_NEAR(gauss_partial(0, u), target, 1e-12);
  }
  const double target = kronrod[0] + 0.5 * gauss[1];
  const double u = panel_quantile(2, panel, partial, target, 1e-13);
  EXPECT_GT(u, 1.0);
  EXPECT_NEAR(kronrod[0] + gauss_partial(1, u), target, 1e-12);
  // Beyond the total: the right end.
  EXPECT_EQ(panel_quantile(2, panel, partial, kronrod[0] + kronrod[1] + 1, 1e-13), 2.0);
}

}  // namespace
