// Each tau2 estimator against its definition, computed here independently of the library's sums:
// closed forms with plain loops, estimating equations solved by bisection, likelihoods maximised
// by brute-force grid search, metafor's standard errors from explicit J x J matrices.

#include "api/numerics.hpp"
#include "api/tau_estimators.hpp"

#include <shrink/error.hpp>
#include <shrink/fit.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace {

using namespace shrink;

// Five studies with unequal sampling variances and clear heterogeneity.
const std::vector<double> y{0.10, 0.62, -0.35, 1.05, 0.41};
const std::vector<double> v{0.04, 0.09, 0.06, 0.12, 0.02};
const double k = 5;

fit_result run(tau_method m, std::vector<double> yy = y, std::vector<double> vv = v, double tight = 0)
{
  std::vector<double> se;
  for (double x : vv) se.push_back(std::sqrt(x));
  fit_options o;
  o.method = m;
  o.requested_backend = backend::cpu;
  if (tight > 0) {
    o.threshold = tight;
    o.root_tol = tight;
    o.max_iterations = 10000;
  }
  return fit(summary_data_view{yy.data(), se.data(), yy.size(), 0.0}, o);
}

double mu_hat(double tau2)
{
  double sw = 0, swy = 0;
  for (std::size_t j = 0; j < y.size(); ++j) sw += 1 / (v[j] + tau2), swy += y[j] / (v[j] + tau2);
  return swy / sw;
}

double q_of(double tau2)
{
  const double m = mu_hat(tau2);
  double q = 0;
  for (std::size_t j = 0; j < y.size(); ++j) q += (y[j] - m) * (y[j] - m) / (v[j] + tau2);
  return q;
}

double log_lik(double tau2, bool reml)
{
  const double m = mu_hat(tau2);
  double l = 0, sw = 0;
  for (std::size_t j = 0; j < y.size(); ++j) {
    l += -0.5 * std::log(2 * M_PI * (v[j] + tau2)) - 0.5 * (y[j] - m) * (y[j] - m) / (v[j] + tau2);
    sw += 1 / (v[j] + tau2);
  }
  // REML: metafor's logLik with its default REMLf = TRUE, i.e. plus log|X'X| / 2 = log(k) / 2.
  if (reml) l += 0.5 * std::log(2 * M_PI) - 0.5 * std::log(sw) + 0.5 * std::log(k);
  return l;
}

/// The restricted log-likelihood by its definition (Harville 1974), with explicit matrices: the
/// density of the k-1 error contrasts z = A'y, A the orthonormal Helmert basis of the complement
/// of the ones vector (A'A = I, A'1 = 0), z ~ N(0, A'(V + tau2 I)A), by a Cholesky factor.
/// Independent of every sum the library uses, and equal to metafor's REML logLik (REMLf = TRUE).
double error_contrast_log_lik(const std::vector<double>& yy, const std::vector<double>& vv, double tau2)
{
  const std::size_t n = yy.size(), m = n - 1;
  std::vector<std::vector<double>> A(n, std::vector<double>(m, 0.0));
  for (std::size_t c = 0; c < m; ++c) {
    const double i = static_cast<double>(c + 1), norm = std::sqrt(i * (i + 1));
    for (std::size_t r = 0; r <= c; ++r) A[r][c] = 1 / norm;
    A[c + 1][c] = -i / norm;
  }
  std::vector<std::vector<double>> S(m, std::vector<double>(m, 0.0));
  std::vector<double> z(m, 0.0);
  for (std::size_t a = 0; a < m; ++a) {
    for (std::size_t r = 0; r < n; ++r) z[a] += A[r][a] * yy[r];
    for (std::size_t b = 0; b < m; ++b)
      for (std::size_t r = 0; r < n; ++r) S[a][b] += A[r][a] * (vv[r] + tau2) * A[r][b];
  }
  // Cholesky S = L L'; log|S| = 2 sum log L_ii; z' S^-1 z = |L^-1 z|^2.
  std::vector<std::vector<double>> L(m, std::vector<double>(m, 0.0));
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j <= i; ++j) {
      double x = S[i][j];
      for (std::size_t q = 0; q < j; ++q) x -= L[i][q] * L[j][q];
      L[i][j] = i == j ? std::sqrt(x) : x / L[j][j];
    }
  double log_det = 0, quad = 0;
  std::vector<double> u(m, 0.0);
  for (std::size_t i = 0; i < m; ++i) {
    double x = z[i];
    for (std::size_t q = 0; q < i; ++q) x -= L[i][q] * u[q];
    u[i] = x / L[i][i];
    quad += u[i] * u[i];
    log_det += 2 * std::log(L[i][i]);
  }
  return -0.5 * (static_cast<double>(m) * std::log(2 * M_PI) + log_det + quad);
}

/// Root of a decreasing f on [lo, hi] by plain bisection.
double bisect(const std::function<double(double)>& f, double lo, double hi)
{
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (f(mid) > 0 ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

/// Maximiser of f on [lo, hi] by a grid of 2001 points, zoomed 12 times around the best point.
double grid_argmax(const std::function<double(double)>& f, double lo, double hi)
{
  double best = lo;
  for (int zoom = 0; zoom < 12; ++zoom) {
    double fb = -HUGE_VAL;
    for (int i = 0; i <= 2000; ++i) {
      const double x = lo + (hi - lo) * i / 2000;
      if (f(x) > fb) fb = f(x), best = x;
    }
    const double step = (hi - lo) / 2000;
    lo = std::max(0.0, best - 2 * step);
    hi = best + 2 * step;
  }
  return best;
}

/// P = W - w w' / sum w as a dense matrix.
std::vector<std::vector<double>> projection(double tau2, bool weighted = true)
{
  std::vector<double> w;
  double sw = 0;
  for (double x : v) w.push_back(weighted ? 1 / (x + tau2) : 1.0), sw += w.back();
  std::vector<std::vector<double>> P(y.size(), std::vector<double>(y.size()));
  for (std::size_t i = 0; i < y.size(); ++i)
    for (std::size_t j = 0; j < y.size(); ++j) P[i][j] = (i == j ? w[i] : 0.0) - w[i] * w[j] / sw;
  return P;
}

double trace_product(const std::vector<std::vector<double>>& A, const std::vector<std::vector<double>>& B)
{
  double t = 0;  // tr(AB)
  for (std::size_t i = 0; i < A.size(); ++i)
    for (std::size_t j = 0; j < A.size(); ++j) t += A[i][j] * B[j][i];
  return t;
}

std::vector<std::vector<double>> times_v(const std::vector<std::vector<double>>& P)
{
  auto R = P;
  for (std::size_t i = 0; i < P.size(); ++i)
    for (std::size_t j = 0; j < P.size(); ++j) R[i][j] = P[i][j] * v[j];
  return R;
}

// Rounding only: closed forms over 5 numbers agree to a few ulps.
constexpr double closed_form_tol = 1e-12;
// Iterative methods run with threshold/tolerance 1e-12 in tau2: agreement to 1e-9 absolute.
constexpr double iterative_tol = 1e-9;
// A maximiser found by grid search is known only to about sqrt(2 eps |l| / |l''|) (the likelihood
// is flat to rounding there): about 3e-9 for these data (|l| ~ 1, l'' ~ 1 / se(tau2)^2 ~ 50), so
// the likelihood comparisons use 10 times that, and check the value attained as well.
constexpr double argmax_tol = 3e-8;

TEST(TauEstimators, HedgesMomentAndItsStandardError)
{
  const fit_result r = run(tau_method::mom);
  double m = 0, ss = 0, mv = 0;
  for (std::size_t j = 0; j < y.size(); ++j) m += y[j] / k, mv += v[j] / k;
  for (std::size_t j = 0; j < y.size(); ++j) ss += (y[j] - m) * (y[j] - m);
  const double tau2 = ss / (k - 1) - mv;
  ASSERT_GT(tau2, 0);
  EXPECT_NEAR(r.tau2, tau2, closed_form_tol);
  // metafor: se = sqrt((2 tr(PVPV) + 4 tau2 tr(PV) + 2 tau2^2 (k-1)) / (k-1)^2), P = I - 11'/k.
  const auto PV = times_v(projection(0, false));
  double trpv = 0;
  for (std::size_t i = 0; i < y.size(); ++i) trpv += PV[i][i];
  const double se = std::sqrt((2 * trace_product(PV, PV) + 4 * tau2 * trpv + 2 * tau2 * tau2 * (k - 1)) / ((k - 1) * (k - 1)));
  ASSERT_TRUE(r.tau2_se.has_value());
  EXPECT_NEAR(*r.tau2_se, se, closed_form_tol);
}

TEST(TauEstimators, DerSimonianLairdAndItsStandardError)
{
  const fit_result r = run(tau_method::dl);
  double sw = 0, sw2 = 0;
  for (double x : v) sw += 1 / x, sw2 += 1 / (x * x);
  const double c = sw - sw2 / sw;
  const double tau2 = (q_of(0) - (k - 1)) / c;
  ASSERT_GT(tau2, 0);
  EXPECT_NEAR(r.tau2, tau2, closed_form_tol);
  EXPECT_NEAR(r.mu, mu_hat(tau2), closed_form_tol);
  const auto P = projection(0);
  const double se = std::sqrt((2 * (k - 1) + 4 * tau2 * c + 2 * tau2 * tau2 * trace_product(P, P)) / (c * c));
  EXPECT_NEAR(*r.tau2_se, se, closed_form_tol);
}

TEST(TauEstimators, SidikJonkmanAndItsStandardError)
{
  const fit_result r = run(tau_method::sj);
  double m = 0, ss = 0;
  for (double x : y) m += x / k;
  for (double x : y) ss += (x - m) * (x - m);
  const double tau2_0 = ss / k;
  const double tau2 = tau2_0 * q_of(tau2_0) / (k - 1);
  EXPECT_NEAR(r.tau2, tau2, closed_form_tol);
  const auto P = projection(tau2_0);
  const auto PV = times_v(P);
  double pvp = 0;
  for (std::size_t i = 0; i < y.size(); ++i)
    for (std::size_t j = 0; j < y.size(); ++j) pvp += PV[i][j] * P[i][j];
  const double se = std::sqrt(tau2_0 * tau2_0 / ((k - 1) * (k - 1)) *
                              (2 * trace_product(PV, PV) + 4 * tau2 * pvp + 2 * tau2 * tau2 * trace_product(P, P)));
  EXPECT_NEAR(*r.tau2_se, se, closed_form_tol);
}

TEST(TauEstimators, PauleMandelSolvesGeneralisedQEqualsDf)
{
  const double tau2 = bisect([](double t) { return q_of(t) - (k - 1); }, 0, 100);
  EXPECT_NEAR(run(tau_method::pm, y, v, 1e-12).tau2, tau2, iterative_tol);
  // With metafor's default tolerance (uniroot tol = eps^0.25 = 1.22e-4) the root is within it.
  EXPECT_NEAR(run(tau_method::pm).tau2, tau2, 1.220703125e-4);
}

TEST(TauEstimators, RestrictedLikelihoodIsTheErrorContrastDensityAtAnyTau2)
{
  // ML and REML differ by -log(sum w)/2 + log(2 pi)/2 + log(J)/2 at every tau2, and the error-contrast
  // density is that REML value; checked at unequal v and J = 5 and J = 12 through fixed-tau REML
  // log-likelihoods (the log-likelihood reported by reml at its own maximum).
  std::mt19937_64 gen(7);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::uniform_real_distribution<double> var(0.01, 0.5);
  std::vector<double> yy, vv;
  for (int j = 0; j < 12; ++j) vv.push_back(var(gen)), yy.push_back(std::sqrt(vv.back() + 0.3) * noise(gen));
  const fit_result r = run(tau_method::reml, yy, vv, 1e-12);
  ASSERT_GT(r.tau2, 0);
  ASSERT_TRUE(r.log_likelihood.has_value());
  EXPECT_NEAR(*r.log_likelihood, error_contrast_log_lik(yy, vv, r.tau2), 1e-11);
}

TEST(TauEstimators, PauleMandelTakesUnirootsStepsOnMetaforsBracket)
{
  // Spread-out means (the root is far above 100): metafor's tau2.max = max(100, 10 mad(y)^2)
  // (rma.uni control defaults; R's mad = 1.4826 median |y - median y|) sets the bracket, and
  // uniroot (tol eps^0.25, maxiter 100) stops at a point that depends on it, within tol of the
  // root. Reproduced here from the test's own Q and mad on that bracket.
  std::vector<double> yy;
  for (double x : y) yy.push_back(40 * x);
  std::vector<double> sorted = yy;
  std::sort(sorted.begin(), sorted.end());
  const double med = sorted[2];
  std::vector<double> dev;
  for (double x : yy) dev.push_back(std::fabs(x - med));
  std::sort(dev.begin(), dev.end());
  const double mad = 1.4826 * dev[2];
  const double tau2_max = std::max(100.0, 10 * mad * mad);
  ASSERT_GT(tau2_max, 1000);  // the old bracket (100, widened tenfold to 1000) differs
  auto excess = [&](double t) {
    double sw = 0, swy = 0;
    for (std::size_t j = 0; j < yy.size(); ++j) sw += 1 / (v[j] + t), swy += yy[j] / (v[j] + t);
    double q = 0;
    for (std::size_t j = 0; j < yy.size(); ++j) q += (yy[j] - swy / sw) * (yy[j] - swy / sw) / (v[j] + t);
    return q - (k - 1);
  };
  const double tol = 1.220703125e-4;
  auto uniroot = [&](double hi) {
    const detail::root_result root = detail::find_root(excess, 0.0, hi, excess(0.0), excess(hi), tol, 100);
    EXPECT_TRUE(root.converged);
    return root.x;
  };
  const double metafor = uniroot(tau2_max);
  const double exact = bisect(excess, 0, tau2_max);
  ASSERT_NEAR(metafor, exact, tol);
  // Same algorithm on the same function: agreement to rounding in Q (far below uniroot's tol),
  // while the old bracket's stopping point lies 180 times this tolerance away.
  const double same_steps = 1e-10 * metafor;
  ASSERT_GT(std::fabs(uniroot(1000) - metafor), 100 * same_steps);
  EXPECT_NEAR(run(tau_method::pm, yy, v).tau2, metafor, same_steps);
}

TEST(TauEstimators, EmpiricalBayesSolvesMorrisEquation)
{
  // Fixed point of metafor's EB step: Q(tau2) k / (k-1) = k.
  const double tau2 = bisect([](double t) { return q_of(t) * k / (k - 1) - k; }, 0, 100);
  const fit_result r = run(tau_method::eb, y, v, 1e-12);
  EXPECT_NEAR(r.tau2, tau2, iterative_tol);
  double sw = 0;
  for (double x : v) sw += 1 / (x + tau2);
  EXPECT_NEAR(*r.tau2_se, std::sqrt(2 * k * k / (k - 1) / (sw * sw)), 1e-8);
}

TEST(TauEstimators, MaximumLikelihoodMaximisesTheLikelihood)
{
  const double tau2 = grid_argmax([](double t) { return log_lik(t, false); }, 0, 5);
  const fit_result r = run(tau_method::ml, y, v, 1e-12);
  EXPECT_NEAR(r.tau2, tau2, argmax_tol);
  EXPECT_GE(log_lik(r.tau2, false), log_lik(tau2, false) - 1e-14);  // ~20 ulps of |l|: evaluation rounding
  double sw2 = 0;
  for (double x : v) sw2 += 1 / ((x + tau2) * (x + tau2));
  EXPECT_NEAR(*r.tau2_se, std::sqrt(2 / sw2), 1e-8);
  ASSERT_TRUE(r.log_likelihood.has_value());
  EXPECT_NEAR(*r.log_likelihood, log_lik(tau2, false), 1e-12);
}

TEST(TauEstimators, RestrictedMaximumLikelihoodMaximisesTheRestrictedLikelihood)
{
  const double tau2 = grid_argmax([](double t) { return log_lik(t, true); }, 0, 5);
  const fit_result r = run(tau_method::reml, y, v, 1e-12);
  EXPECT_NEAR(r.tau2, tau2, argmax_tol);
  EXPECT_GE(log_lik(r.tau2, true), log_lik(tau2, true) - 1e-14);  // ~20 ulps of |l|: evaluation rounding
  const auto P = projection(tau2);
  EXPECT_NEAR(*r.tau2_se, std::sqrt(2 / trace_product(P, P)), 1e-8);
  EXPECT_NEAR(*r.log_likelihood, log_lik(tau2, true), 1e-12);
  // The reported value is the full restricted likelihood, log|X'X| / 2 included (metafor's logLik).
  EXPECT_NEAR(*r.log_likelihood, error_contrast_log_lik(y, v, r.tau2), 1e-12);
  // metafor's defaults (threshold 1e-5 on the change in tau2) stop within 1e-5 of the maximum.
  EXPECT_NEAR(run(tau_method::reml).tau2, tau2, 1e-5);
}

TEST(TauEstimators, HomogeneousDataTruncateAtZero)
{
  // Means closer together than sampling noise: every estimator gives exactly 0 (metafor truncates).
  const std::vector<double> yy{0.30, 0.31, 0.29, 0.305, 0.295};
  for (tau_method m : {tau_method::mom, tau_method::dl, tau_method::pm, tau_method::sj, tau_method::ml,
                       tau_method::reml, tau_method::eb}) {
    const fit_result r = run(m, yy);
    if (m == tau_method::sj) {
      // SJ is positive by construction: tau0^2 Q(tau0^2) / (k-1) with tau0^2 > 0.
      EXPECT_GT(r.tau2, 0) << to_string(m);
      EXPECT_LT(r.tau2, 1e-3) << to_string(m);
    } else {
      EXPECT_EQ(r.tau2, 0.0) << to_string(m);
    }
  }
}

TEST(TauEstimators, QProfileIntervalHitsTheChiSquareQuantiles)
{
  // Q(tau2_lower) = chi2_{0.975, 4} and Q(tau2_upper) = chi2_{0.025, 4} (values from R's qchisq).
  const fit_result r = run(tau_method::reml);
  ASSERT_TRUE(r.tau2_lower && r.tau2_upper);
  const double q975 = 11.143286781877794, q025 = 0.48441855708793014;
  // Solved to ~1e-15 of tau2 (Halley's steps): Q there hits the quantile to rounding.
  if (q_of(0) > q975) {
    EXPECT_NEAR(q_of(*r.tau2_lower), q975, 1e-14 * q975);
  } else {
    EXPECT_EQ(*r.tau2_lower, 0.0);
  }
  EXPECT_NEAR(q_of(*r.tau2_upper), q025, 1e-14 * q025);
  EXPECT_LE(*r.tau2_lower, r.tau2);
  EXPECT_GE(*r.tau2_upper, r.tau2);
}

// The Q-profile interval on J = 1e5 groups: Q at each bound (in long double, here) equals the
// chi-square quantile to rounding, and each bound took two reductions: a Newton step from the
// estimate (whose sums the fit has), then Halley steps, the second below 1e-5 of tau2.
TEST(TauEstimators, QProfileBoundsInOneReductionEachOnAHundredThousandGroups)
{
  const std::size_t J = 100000;
  std::mt19937_64 rng(9);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> unif(0.05, 1.05);
  std::vector<double> yy(J), se(J);
  for (std::size_t j = 0; j < J; ++j) {
    se[j] = std::sqrt(unif(rng));
    yy[j] = 0.5 * normal(rng) + se[j] * normal(rng);
  }
  auto q_long = [&](double tau2) {
    long double sw = 0, swy = 0, q = 0;
    for (std::size_t j = 0; j < J; ++j) {
      const long double w = 1 / (static_cast<long double>(se[j]) * se[j] + tau2);
      sw += w, swy += w * yy[j];
    }
    const long double mu = swy / sw;
    for (std::size_t j = 0; j < J; ++j) {
      const long double w = 1 / (static_cast<long double>(se[j]) * se[j] + tau2);
      q += w * (yy[j] - mu) * (yy[j] - mu);
    }
    return static_cast<double>(q);
  };
  namespace d = shrink::detail;
  auto engine = d::make_cpu_engine(summary_data_view{yy.data(), se.data(), J, 0.0}, 2);
  const d::weighted_sums fixed_effect = engine->weighted(0.0, false);
  const d::unweighted_sums u = engine->unweighted();
  const d::variance_range vr = engine->variances();
  fit_options o;
  o.method = tau_method::reml;
  const double tau2 = d::estimate_tau2(*engine, o, u, engine->weighted(0.0, true)).tau2;
  int passes = 0;
  const d::interval ci = d::q_profile_interval(*engine, 0.95, fixed_effect, tau2, engine->weighted(tau2, false), u, vr, &passes);
  const double df = static_cast<double>(J - 1);
  EXPECT_NEAR(q_long(ci.lower), d::chi_square_quantile(0.975, df), 1e-14 * df);
  EXPECT_NEAR(q_long(ci.upper), d::chi_square_quantile(0.025, df), 1e-14 * df);
  EXPECT_LT(ci.lower, tau2);
  EXPECT_GT(ci.upper, tau2);
  EXPECT_LE(passes, 4);  // Brent's method to 1e-10 of the bracket took 10 to 12 per interval
  // From tau2 = 0 instead (no estimate known) it still converges, in a few more reductions.
  passes = 0;
  const d::interval from_zero = d::q_profile_interval(*engine, 0.95, fixed_effect, 0.0, fixed_effect, u, vr, &passes);
  EXPECT_NEAR(from_zero.lower, ci.lower, 4e-15 * ci.lower);
  EXPECT_NEAR(from_zero.upper, ci.upper, 4e-15 * ci.upper);
  EXPECT_LE(passes, 8);
}

TEST(TauEstimators, StandardErrorOfMuAndPredictionInterval)
{
  const fit_result r = run(tau_method::reml);
  double sw = 0;
  for (double x : v) sw += 1 / (x + r.tau2);
  const double z = 1.959963984540054;
  EXPECT_NEAR(r.mu_se, std::sqrt(1 / sw), 1e-14);
  EXPECT_NEAR(r.mu_lower, r.mu - z * r.mu_se, 1e-13);
  EXPECT_NEAR(r.pred_upper, r.mu + z * std::sqrt(1 / sw + r.tau2), 1e-13);
}

TEST(TauEstimators, ParsesMethodNamesAndPriors)
{
  for (const char* n : {"mom", "dl", "pm", "sj", "ml", "reml", "eb", "fixed", "bayes"})
    EXPECT_EQ(to_string(parse_tau_method(n)), n);
  EXPECT_THROW(parse_tau_method("he"), shrink::error);
  EXPECT_EQ(parse_tau_prior("half-cauchy:25").type, tau_prior::kind::half_cauchy);
  EXPECT_EQ(parse_tau_prior("inv-gamma:1,0.5").shape, 1.0);
  EXPECT_THROW(parse_tau_prior("half-cauchy:-1"), shrink::error);
  EXPECT_EQ(*parse_group_prior("t:4"), 4.0);
  EXPECT_FALSE(parse_group_prior("normal").has_value());
  EXPECT_THROW(parse_group_prior("t:"), shrink::error);
}

// J = 1e6 groups drawn from the model with tau2 = 0.25 and v_j in [0.05, 1.05]: the iterative
// methods converge, and each lands within 6 of its own standard errors of the truth (at J = 1e6
// the se is near 1e-3, so this is a tight check that they estimate the right quantity).
TEST(TauEstimators, IterativeMethodsConvergeOnAMillionGroups)
{
  const std::size_t J = 1000000;
  const double tau2_true = 0.25;
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> unif(0.05, 1.05);
  std::vector<double> yy(J), se(J);
  for (std::size_t j = 0; j < J; ++j) {
    const double vj = unif(rng);
    se[j] = std::sqrt(vj);
    yy[j] = 1.0 + std::sqrt(tau2_true) * normal(rng) + se[j] * normal(rng);
  }
  for (tau_method m : {tau_method::ml, tau_method::reml, tau_method::pm, tau_method::eb}) {
    fit_options o;
    o.method = m;
    o.requested_backend = backend::cpu;
    const fit_result r = fit(summary_data_view{yy.data(), se.data(), J, 0.0}, o);
    ASSERT_TRUE(r.tau2_se.has_value()) << to_string(m);
    EXPECT_NEAR(r.tau2, tau2_true, 6 * *r.tau2_se) << to_string(m);
    EXPECT_LT(*r.tau2_se, 2e-3) << to_string(m);
    EXPECT_NEAR(r.mu, 1.0, 6 * r.mu_se) << to_string(m);
    EXPECT_EQ(r.estimate.size(), J);
  }
}

}  // namespace
