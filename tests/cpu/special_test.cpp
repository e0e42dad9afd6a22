// The special functions of src/common/special.hpp against 60-digit mpmath values rounded to double
// (tests/data/special_functions.csv, made by tests/data/special_functions.py), each with the
// tolerance special.hpp states; the inverses are asked for the x at which mpmath gave p.

#include "common/families/beta_binomial.hpp"
#include "common/special.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace shrink::detail {
namespace {

struct reference_row {
  std::string function;
  double a = 0, b = 0, x = 0, value = 0;
};

const std::vector<reference_row>& reference()
{
  static const std::vector<reference_row> rows = [] {
    std::vector<reference_row> out;
    std::ifstream in(test::reference_data() / "special_functions.csv");
    EXPECT_TRUE(in.good()) << "tests/data/special_functions.csv is missing";
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream s(line);
      reference_row r;
      std::string field;
      std::getline(s, r.function, ',');
      // strtod, not stod: subnormal values are data here, not errors.
      for (double* v : {&r.a, &r.b, &r.x, &r.value}) {
        std::getline(s, field, ',');
        *v = std::strtod(field.c_str(), nullptr);
      }
      out.push_back(r);
    }
    return out;
  }();
  return rows;
}

/// Rows of one function, at least `min_rows` of them (so a truncated file fails).
std::vector<reference_row> rows_of(const std::string& function, std::size_t min_rows)
{
  std::vector<reference_row> out;
  for (const reference_row& r : reference())
    if (r.function == function) out.push_back(r);
  EXPECT_GE(out.size(), min_rows) << function;
  return out;
}

/// |got - want| <= rel |want| + abs.
void expect_near_value(double got, double want, double rel, double abs, const reference_row& r)
{
  if (std::isinf(want)) {
    EXPECT_EQ(got, want) << r.function << "(" << r.x << ")";
    return;
  }
  EXPECT_LE(std::abs(got - want), rel * std::abs(want) + abs)
    << r.function << "(a=" << r.a << ", b=" << r.b << ", x=" << r.x << "): got " << got << ", want " << want
    << ", relative error " << std::abs(got - want) / std::abs(want);
}

constexpr double eps = 0x1p-52;

TEST(Special, ExpWithinOneUlp)
{
  for (const reference_row& r : rows_of("exp", 20)) expect_near_value(portable_exp(r.x), r.value, 1 * eps, 0, r);
  EXPECT_EQ(portable_exp(0.0), 1.0);
  EXPECT_EQ(portable_exp(800.0), HUGE_VAL);
  EXPECT_EQ(portable_exp(-800.0), 0.0);
  EXPECT_TRUE(std::isnan(portable_exp(std::nan(""))));
}

TEST(Special, ExpAgreesWithLibmOnAGrid)
{
  // Not bitwise (libm's own last bit may differ), but within one ulp of glibc everywhere.
  for (double x = -745; x < 709.7; x += 0.0137) {
    const double want = std::exp(x);
    EXPECT_LE(std::abs(portable_exp(x) - want), 2 * eps * want + 5e-324) << x;
  }
}

TEST(Special, Log1pWithinTwoUlp)
{
  for (const reference_row& r : rows_of("log1p", 14)) expect_near_value(portable_log1p(r.x), r.value, 2 * eps, 0, r);
  EXPECT_EQ(portable_log1p(-1.0), -HUGE_VAL);
}

TEST(Special, Log1pMinus)
{
  for (const reference_row& r : rows_of("log1pmx", 14)) expect_near_value(log1p_minus(r.x), r.value, 4 * eps, 0, r);
}

TEST(Special, LogGammaRelativeOrAbsolute)
{
  // A few ulp relative; near the zeros at 1 and 2 a few ulp of 1 absolute.
  for (const reference_row& r : rows_of("lgamma", 30)) expect_near_value(log_gamma(r.x), r.value, 4 * eps, 2 * eps * 0.1, r);
  EXPECT_EQ(log_gamma(1.0), 0.0);
  EXPECT_EQ(log_gamma(2.0), 0.0);
  EXPECT_EQ(log_gamma(0.0), HUGE_VAL);
  EXPECT_TRUE(std::isnan(log_gamma(-1.5)));
}

TEST(Special, LogGammaRecurrence)
{
  // lgamma(x + 1) = lgamma(x) + log x across every branch boundary of log_gamma.
  for (double x = 0.01; x < 40; x *= 1.037)
    EXPECT_NEAR(log_gamma(x + 1), log_gamma(x) + std::log(x), 8 * eps * (1 + std::abs(log_gamma(x)) + std::abs(std::log(x)))) << x;
}

TEST(Special, DigammaAndTrigamma)
{
  // digamma: relative, except near its zero at 1.4616... (absolute ~1 ulp of 1).
  for (const reference_row& r : rows_of("digamma", 18)) expect_near_value(digamma(r.x), r.value, 4 * eps, 2 * eps, r);
  for (const reference_row& r : rows_of("trigamma", 18)) expect_near_value(trigamma(r.x), r.value, 4 * eps, 0, r);
}

TEST(Special, LogBeta)
{
  for (const reference_row& r : rows_of("lbeta", 14))
    expect_near_value(log_beta(r.a, r.b), r.value, 8 * eps, 4 * eps, r);
  EXPECT_EQ(log_beta(2.5, 4.0), log_beta(4.0, 2.5));
}

/// The relative error incomplete_beta may have at (a, b, x) for a tail of `value`: the rounding of
/// its exponent log prefactor (|log| ulp), of the continued fraction's terms (they grow as
/// sqrt(a + b)) and, where the fraction runs on the other tail, of 1 - x (the tail's condition
/// number with respect to 1 - x: (1 - x) density / value).
double beta_tolerance(double a, double b, double x, double value)
{
  const double log_prefactor = log_beta_prefactor(a, b, x);
  double tol = 1e-14 + 2 * eps * std::abs(log_prefactor) + 4 * eps * std::sqrt(a + b);
  if (x * (a + b + 2) > a + 1) tol += 4 * eps * (1 - x) * std::exp(log_prefactor) / (x * (1 - x)) / value;
  return tol;
}

TEST(Special, IncompleteBetaBothTails)
{
  // Relative to the tail asked for, tails down to 1e-12 included.
  for (const reference_row& r : rows_of("ibeta", 100))
    expect_near_value(incomplete_beta(r.a, r.b, r.x), r.value, beta_tolerance(r.a, r.b, r.x, r.value), 0, r);
  for (const reference_row& r : rows_of("ibetac", 100))
    expect_near_value(incomplete_beta(r.a, r.b, r.x, true), r.value, beta_tolerance(r.a, r.b, r.x, r.value), 0, r);
}

TEST(Special, IncompleteBetaLargeParametersStayAccurate)
{
  // A symmetric beta's median is 1/2 (closed form): with millions of trials the two tails still
  // meet there within the continued fraction's rounding (4 ulp times sqrt(a + b): 1.3e-13 at a = b =
  // 1e6), where a log x - log B(a, b) computed directly would cancel 1.4e6 to ~1e-10.
  for (double a : {1e3, 5e5, 1e6, 4e6}) {
    const double tol = 1e-14 + 4 * eps * std::sqrt(2 * a);
    EXPECT_NEAR(incomplete_beta(a, a, 0.5), 0.5, tol) << a;
    EXPECT_NEAR(incomplete_beta(a, a, 0.5, true), 0.5, tol) << a;
  }
}

TEST(Special, UpperQuantilesOfAHugeBetaAgainstR)
{
  // A few successes of 1e12 trials: the upper tail lies at x ~ 7e-12, where the fraction would run on
  // 1 - x rounded (five digits lost); R's qbeta(0.975, 3, 1e12 - 1) and qbeta(0.975, 41, 1e12 - 39).
  EXPECT_NEAR(inverse_incomplete_beta(3, 1e12 - 1, 0.025, true), 7.224687667697859e-12, 1e-12 * 7.2e-12);
  EXPECT_NEAR(inverse_incomplete_beta(41, 1e12 - 39, 0.025, true), 5.4468646963535566e-11, 1e-12 * 5.4e-11);
  // Quantiles that underflow come back as 0 (or subnormal), in a few steps, not as a stuck 1e-61.
  EXPECT_LT(inverse_incomplete_gamma(1e-8, 0.5), 1e-300);
  EXPECT_LT(inverse_incomplete_beta(1e-5, 1e-5, 0.49), 1e-300);
}

TEST(Special, IncompleteBetaClosedForms)
{
  // I_x(1, b) = 1 - (1 - x)^b; I_x(a, 1) = x^a; I_x(a, b) + I_(1-x)(b, a) = 1.
  for (double x : {1e-9, 0.01, 0.3, 0.5, 0.77, 0.999}) {
    const double one_minus = -std::expm1(3.5 * std::log1p(-x)), power = std::pow(x, 2.5);
    EXPECT_NEAR(incomplete_beta(1, 3.5, x), one_minus, beta_tolerance(1, 3.5, x, one_minus) * one_minus);
    EXPECT_NEAR(incomplete_beta(2.5, 1, x), power, beta_tolerance(2.5, 1, x, power) * power);
    EXPECT_NEAR(incomplete_beta(3.3, 7.1, x) + incomplete_beta(7.1, 3.3, 1 - x), 1.0, 4 * eps);
  }
  EXPECT_EQ(incomplete_beta(2, 3, 0.0), 0.0);
  EXPECT_EQ(incomplete_beta(2, 3, 1.0), 1.0);
  EXPECT_TRUE(std::isnan(incomplete_beta(2, 3, 1.5)));
  EXPECT_TRUE(std::isnan(incomplete_beta(-2, 3, 0.5)));
}

// Far from the mean, where the prefactor x^a (1 - x)^b / B(a, b) underflows, both tails are their
// limits, never NaN or infinity (they were: the series of the lower tail overflowed first, e.g.
// Beta(1.37, 1368) at x = 0.44, so --method bayes mixed NaN into its quantiles). Beta(a, b) is
// sub-Gaussian with variance proxy 1 / (4 (a + b + 1)) (Marchal and Arbel 2017): beyond
// d = sqrt(31.2 / (a + b + 1)) of the mean each tail is below 2^-90, so 0 and 1 within the
// function's rounding (4 ulp sqrt(a + b)).
TEST(Special, IncompleteBetaFarTailsAreTheirLimits)
{
  for (double s = 1e2; s <= 1e15; s *= 7.3)
    for (double m : {0.001, 0.01, 0.1, 0.5, 0.95, 0.999})
      for (double f : {-3000.0, -300.0, -30.0, -3.0, -1.0, 1.0, 3.0, 30.0, 300.0, 3000.0}) {
        const double x = m + f * std::sqrt(31.2 / (s + 1));
        if (x <= 0 || x >= 1) continue;
        for (bool upper : {false, true}) {
          double density = -1;
          const double p = incomplete_beta(m * s, (1 - m) * s, x, upper, &density);
          const double limit = (f > 0) != upper ? 1.0 : 0.0;
          EXPECT_NEAR(p, limit, 1e-12 + 8 * eps * std::sqrt(s)) << "s " << s << " m " << m << " f " << f << " upper " << upper;
          EXPECT_TRUE(std::isfinite(density) && density >= 0) << "s " << s << " m " << m << " f " << f;
        }
      }
}

// The binomial posterior's CDF cuts the same far tails short (the continued fraction would take
// ~sqrt(a + b) terms): exactly 0 or 1 there, and the incomplete beta itself, bit for bit, inside.
TEST(Special, BetaPosteriorCdfCutsOnlyTheFarTails)
{
  for (double s : {1e4, 3.3e5, 1e7, 1e10, 1e13})
    for (double m : {0.003, 0.2, 0.5, 0.9})
      for (double f : {-50.0, -1.0001, -0.9999, -0.3, 0.0, 0.4, 0.9999, 1.0001, 7.0}) {
        const beta_binomial::group g{3, 10};  // 3 of 10 trials: a = alpha + 3, b = beta + 7
        const double a = m * s - 3, b = (1 - m) * s - 7, x = m + f * std::sqrt(31.2 / (s + 1));
        if (x <= 0 || x >= 1 || a <= 0 || b <= 0) continue;
        for (bool upper : {false, true}) {
          double d_cut = -1, d_exact = -1;
          const double cut = beta_binomial::posterior_cdf(g, a, b, x, upper, &d_cut);
          const double exact = incomplete_beta(a + 3, b + 7, x, upper, &d_exact);
          const double mean = (a + 3) / (a + b + 10), d = x - mean;
          if (d * d * (s + 1) >= 31.2) {
            EXPECT_EQ(cut, (d > 0) != upper ? 1.0 : 0.0) << "s " << s << " m " << m << " f " << f;
            EXPECT_EQ(d_cut, 0.0);
            EXPECT_NEAR(exact, cut, 1e-12 + 8 * eps * std::sqrt(s)) << "s " << s << " m " << m << " f " << f;
          } else {
            EXPECT_EQ(cut, exact) << "s " << s << " m " << m << " f " << f;
            EXPECT_EQ(d_cut, d_exact);
          }
        }
      }
}

TEST(Special, IncompleteGammaBothTails)
{
  for (const reference_row& r : rows_of("gammap", 80)) expect_near_value(incomplete_gamma(r.a, r.x), r.value, 1e-13, 0, r);
  for (const reference_row& r : rows_of("gammaq", 80))
    expect_near_value(incomplete_gamma(r.a, r.x, true), r.value, 1e-13, 0, r);
  // P(1, x) = 1 - e^-x.
  for (double x : {1e-8, 0.5, 2.0, 30.0}) EXPECT_NEAR(incomplete_gamma(1, x), -std::expm1(-x), 4 * eps);
}

TEST(Special, InverseIncompleteBetaGivesBackX)
{
  // mpmath's p at x: the inverse must return x to the precision the tail's slope allows.
  for (const std::string& f : {"ibeta", "ibetac"})
    for (const reference_row& r : rows_of(f, 100)) {
      const bool upper = f == "ibetac";
      if (r.value == 0 || r.value == 1) continue;
      const double x = inverse_incomplete_beta(r.a, r.b, r.value, upper);
      // The forward function's error in p, through the slope dx = dp / density, plus 8 ulp of x.
      const double density = std::exp(log_beta_prefactor(r.a, r.b, r.x)) / (r.x * (1 - r.x));
      const double slack = beta_tolerance(r.a, r.b, r.x, r.value) * r.value / density;
      EXPECT_LE(std::abs(x - r.x), slack + 8 * eps * r.x) << f << "(" << r.a << ", " << r.b << ") at p=" << r.value;
    }
}

TEST(Special, InverseIncompleteGammaGivesBackX)
{
  for (const std::string& f : {"gammap", "gammaq"})
    for (const reference_row& r : rows_of(f, 80)) {
      const bool upper = f == "gammaq";
      if (r.value == 0 || r.value == 1) continue;
      const double x = inverse_incomplete_gamma(r.a, r.value, upper);
      const double density = std::exp(log_gamma_prefactor(r.a, r.x)) / r.x;
      EXPECT_LE(std::abs(x - r.x), 1e-13 * r.value / density + 8 * eps * r.x) << f << "(" << r.a << ") at p=" << r.value;
    }
}


TEST(Special, InverseIncompleteBetaBoundsHoldTheQuantile)
{
  // The bounds from one incomplete beta must hold the quantile inverse_incomplete_beta returns, with
  // a quarter of their 2^-30 margin to spare (the analysis holds without it), on a grid and on
  // random shapes >= 1 and tails; and exist nearly everywhere (98% of these).
  std::vector<std::array<double, 3>> cases;  // a, b, p
  for (double a : {1.0, 1.5, 3.0, 10.0, 37.3, 200.0, 1e3, 1e5, 1e7})
    for (double b : {1.0, 2.5, 11.0, 57.0, 1e4, 1e6})
      for (double p : {1e-8, 0.005, 0.025, 0.1, 0.5}) cases.push_back({a, b, p});
  std::uint64_t state = 12345;
  const auto uniform = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(state >> 11) * 0x1p-53;
  };
  for (int i = 0; i < 4000; ++i)
    cases.push_back({std::exp(uniform() * std::log(1e6)), std::exp(uniform() * std::log(1e6)),
                     std::exp(uniform() * std::log(1e-8) + std::log(0.5))});
  int bounded = 0, asked = 0;
  for (const auto& [a, b, p] : cases)
    for (bool upper : {false, true}) {
      const double x = inverse_incomplete_beta(a, b, p, upper);
      // Both forms of the prefactor: around the mean (a, b >= 10) and the plain one.
      for (const beta_prefactor& pf : {beta_prefactor_of(a, b), bounds_prefactor_of(a, b)}) {
        double lo = 0, hi = 0;
        ++asked;
        if (!inverse_incomplete_beta_bounds(pf, p, upper, lo, hi)) continue;
        ++bounded;
        EXPECT_LE(lo, x - 0x1p-32 * x) << "(" << a << ", " << b << ") p=" << p << " upper " << upper;
        EXPECT_GE(hi, x + 0x1p-32 * x) << "(" << a << ", " << b << ") p=" << p << " upper " << upper;
      }
    }
  EXPECT_GT(bounded, 0.97 * asked);
}

}  // namespace
}  // namespace shrink::detail
