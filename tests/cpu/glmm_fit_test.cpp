// The normal prior on the link scale (logit-normal, log-normal; src/api/glmm_fit.cpp and
// src/common/families/normal_prior.hpp): the Gauss-Hermite rule against N(0, 1)'s moments, K = 1
// against the Laplace formula by hand, the AGHQ integral against Simpson's rule in R, the derivatives
// against finite differences, and the maximum likelihood on lme4's cbpp (binomial) and the pumps
// (poisson) against an independent maximisation in R and against glmer
// (tests/data/glmm_reference.R prints every reference value used here).

#include "api/count_fit.hpp"
#include "api/glmm_fit.hpp"
#include "test_support.hpp"

#include <shrink/error.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace shrink::detail {
namespace {

/// cbpp's rows (tests/data/cbpp.csv) summed per herd, in herd order: (incidence, size).
std::vector<logit_normal::group> cbpp_herds()
{
  std::ifstream in(test::reference_data() / "cbpp.csv");
  EXPECT_TRUE(in.good()) << "tests/data/cbpp.csv is missing";
  std::map<int, logit_normal::group> herds;
  std::string line;
  std::getline(in, line);  // header: herd,incidence,size,period
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string herd, y, n;
    std::getline(fields, herd, ',');
    std::getline(fields, y, ',');
    std::getline(fields, n, ',');
    herds[std::stoi(herd)].count += std::stod(y);
    herds[std::stoi(herd)].size += std::stod(n);
  }
  std::vector<logit_normal::group> out;
  for (auto& [key, g] : herds) out.push_back(g);
  EXPECT_EQ(out.size(), 15u);
  return out;
}

std::vector<log_normal::group> pumps()
{
  return {{5, 94.32}, {1, 15.72}, {5, 62.88}, {14, 125.76}, {3, 5.24},
          {19, 31.44}, {1, 1.048}, {1, 1.048}, {4, 2.096}, {22, 10.48}};
}

/// cbpp: the rows' binomial log-likelihood is the herds' plus sum_rows lchoose(n, y) - sum_herds
/// lchoose(N, Y) (a constant of the data: R); glmer's nAGQ > 1 log-likelihood is the rows' less
/// their saturated log-likelihood.
constexpr double cbpp_rows_minus_herds = -60.967084868312782;
constexpr double cbpp_saturated_rows = -41.97835376893557;

template <class Likelihood>
struct fitted {
  glmm_estimate e;
  count_totals t;
};

template <class Likelihood>
fitted<Likelihood> fit_ml(const std::vector<typename Likelihood::group>& groups, int K, int threads = 1)
{
  const hermite_nodes nodes = gauss_hermite(K);
  const glmm_groups<Likelihood> data{{groups.data(), groups.size(), threads, nullptr}, nodes.rule(), {}};
  using conjugate = typename Likelihood::conjugate;
  const count_totals t = count_summaries(count_groups<conjugate>{groups.data(), groups.size(), threads});
  return {glmm_ml(data, t.count, t.size, t.log_constants, 200), t};
}

void expect_relative(double computed, double expected, double tolerance, const char* what)
{
  EXPECT_NEAR(computed, expected, tolerance * std::abs(expected)) << what;
}

TEST(GaussHermite, IntegratesNormalMomentsExactly)
{
  // A K-point rule integrates polynomials of degree 2K - 1 exactly: E z^(2m) = (2m - 1)!!.
  for (int K : {1, 2, 3, 7, 10, 25, 60, 100}) {
    const hermite_nodes r = gauss_hermite(K);
    double double_factorial = 1;
    for (int m = 0; 2 * m <= 2 * K - 1 && m <= 12; ++m) {
      if (m > 0) double_factorial *= 2 * m - 1;
      double moment = 0, odd = 0;
      for (int k = 0; k < K; ++k) {
        moment += r.w[k] * std::pow(r.z[k], 2 * m);
        odd += r.w[k] * std::pow(r.z[k], 2 * m + 1);
      }
      EXPECT_NEAR(moment, double_factorial, 1e-12 * double_factorial) << "K=" << K << " m=" << m;
      EXPECT_NEAR(odd, 0, 1e-12 * double_factorial * 10) << "K=" << K << " m=" << m;
    }
  }
  // K = 3 in closed form: nodes 0, +-sqrt(3), weights 2/3 and 1/6.
  const hermite_nodes r = gauss_hermite(3);
  EXPECT_NEAR(r.z[2], std::sqrt(3.0), 1e-15);
  EXPECT_EQ(r.z[1], 0.0);
  EXPECT_NEAR(r.w[1], 2.0 / 3, 1e-15);
  EXPECT_NEAR(r.w[0], 1.0 / 6, 1e-15);
  EXPECT_THROW(gauss_hermite(0), error);
  EXPECT_THROW(gauss_hermite(101), error);
}

TEST(Aghq, OnePointIsTheLaplaceFormulaByHand)
{
  // Binomial 9 of 40 at (mu, tau) = (-2, 0.8): the mode of h(u) = 9 eta - 40 log(1 + e^eta) - u^2/2
  // by bisection on h'(u) = tau (9 - 40 p) - u, then h(u^) - log(1 + tau^2 40 p q) / 2.
  const logit_normal::group g{9, 40};
  const double mu = -2, tau = 0.8;
  double lo = -10, hi = 10;
  for (int i = 0; i < 200; ++i) {
    const double u = 0.5 * (lo + hi), p = 1 / (1 + std::exp(-(mu + tau * u)));
    (tau * (9 - 40 * p) - u > 0 ? lo : hi) = u;
  }
  const double u = 0.5 * (lo + hi), eta = mu + tau * u, p = 1 / (1 + std::exp(-eta));
  const double laplace = 9 * eta - 40 * std::log1p(std::exp(eta)) - u * u / 2 - 0.5 * std::log(1 + tau * tau * 40 * p * (1 - p));
  const hermite_nodes one = gauss_hermite(1);
  EXPECT_NEAR(aghq_terms<logit_normal>(g, mu, tau, one.rule()).value, laplace, 1e-13);
  EXPECT_NEAR(conditional_mode<logit_normal>(g, mu, tau), u, 1e-13);
  // Poisson 4 over exposure 2.096 at (-1, 1.2): likewise, h = 4 eta - E e^eta - u^2/2.
  const log_normal::group c{4, 2.096};
  lo = -10;
  hi = 10;
  for (int i = 0; i < 200; ++i) {
    const double v = 0.5 * (lo + hi);
    (1.2 * (4 - 2.096 * std::exp(-1 + 1.2 * v)) - v > 0 ? lo : hi) = v;
  }
  const double v = 0.5 * (lo + hi), m = 2.096 * std::exp(-1 + 1.2 * v);
  const double laplace_p = 4 * (-1 + 1.2 * v) - m - v * v / 2 - 0.5 * std::log(1 + 1.44 * m);
  EXPECT_NEAR(aghq_terms<log_normal>(c, -1, 1.2, one.rule()).value, laplace_p, 1e-13);
}

TEST(Aghq, ConditionalModeOfExtremeGroups)
{
  // The mode solves h'(u) = tau f'(mu + tau u) - u = 0 (h strictly concave): bisection on its sign,
  // for groups far from the start at the group's own rate (all or no successes, a million trials,
  // tiny and huge tau), against conditional_mode's Halley steps from that start. (A million
  // successes of a million once cost the mode 1e-5: h's rounding, from n eta - y eta, stopped its
  // line search.)
  const auto bisect = [](auto slope) {
    double lo = -1e4, hi = 1e4;
    for (int i = 0; i < 200; ++i) (slope(0.5 * (lo + hi)) > 0 ? lo : hi) = 0.5 * (lo + hi);
    return 0.5 * (lo + hi);
  };
  for (const auto& [y, n] : std::vector<std::pair<double, double>>{
         {0, 5}, {5, 5}, {1, 1}, {0, 1e6}, {1e6, 1e6}, {3, 1e6}, {5e5, 1e6}, {17, 40}})
    for (const auto& [mu, tau] : std::vector<std::pair<double, double>>{{-2, 0.01}, {-2, 0.8}, {3, 5}, {-8, 20}}) {
      const double u = bisect([&](double v) {
        const double eta = mu + tau * v;
        // y - n p, as n q - (n - y) where p is near 1 (no cancellation).
        return tau * (eta < 0 ? y - n / (1 + std::exp(-eta)) : n / (1 + std::exp(eta)) - (n - y)) - v;
      });
      EXPECT_NEAR(conditional_mode<logit_normal>({y, n}, mu, tau), u, 1e-12 * (1 + std::abs(u))) << y << " of " << n << " at " << mu << ", " << tau;
    }
  for (const auto& [y, E] : std::vector<std::pair<double, double>>{{0, 1e-3}, {0, 50}, {1e6, 2}, {4, 2.096}})
    for (const auto& [mu, tau] : std::vector<std::pair<double, double>>{{-1, 0.01}, {-1, 1.2}, {2, 4}}) {
      const double u = bisect([&](double v) { return tau * (y - E * std::exp(mu + tau * v)) - v; });
      EXPECT_NEAR(conditional_mode<log_normal>({y, E}, mu, tau), u, 1e-12 * (1 + std::abs(u))) << y << " over " << E << " at " << mu << ", " << tau;
    }
}

TEST(Aghq, MatchesIntegratePerHerd)
{
  // R: log of Simpson's rule (h = 1.5e-3 over the mode +-15) on exp(f(-2 + 0.8 u)) dnorm(u), plus
  // lchoose(N, Y), per herd; and the
  // same AGHQ formula written in R with K = 25 nodes (eigen() Golub-Welsch).
  const double exact[15] = {-3.0799262416654507, -2.5116038580313464, -3.1507670684694098, -2.1647830250848923,
                            -2.6497094572526834, -2.6778592450749006, -3.7492930409222147, -4.0632112656661121,
                            -1.8827040028349682, -2.8704099486388426, -2.9489101456347591, -1.9652403757337868,
                            -3.0698920128708753, -4.4073601677669281, -2.6218237066390504};
  const double r_aghq25[15] = {-3.0799262416654614, -2.5116038580313855, -3.150767068469424,  -2.1647830250848532,
                               -2.6497094572527722, -2.6778592450749397, -3.7492930409222147, -4.0632112656661121,
                               -1.8827040028345454, -2.8704099486389634, -2.9489101456348337, -1.9652403757336661,
                               -3.0698920128710547, -4.4073601677669281, -2.6218237066389634};
  const std::vector<logit_normal::group> herds = cbpp_herds();
  const hermite_nodes k25 = gauss_hermite(25), k100 = gauss_hermite(100);
  for (std::size_t j = 0; j < herds.size(); ++j) {
    const double constant = beta_binomial::log_constant(herds[j]);
    EXPECT_NEAR(aghq_terms<logit_normal>(herds[j], -2, 0.8, k25.rule()).value + constant, r_aghq25[j], 1e-12) << j;
    // These posteriors are close to normal: 25 or 100 nodes give the integral to ~1e-12.
    EXPECT_NEAR(aghq_terms<logit_normal>(herds[j], -2, 0.8, k25.rule()).value + constant, exact[j], 1e-11) << j;
    EXPECT_NEAR(aghq_terms<logit_normal>(herds[j], -2, 0.8, k100.rule()).value + constant, exact[j], 1e-11) << j;
  }
}

template <class Likelihood>
void expect_derivatives_match_differences(const typename Likelihood::group& g, double mu, double tau, int K)
{
  const hermite_nodes nodes = gauss_hermite(K);
  const auto at = [&](double m, double t) { return aghq_terms<Likelihood>(g, m, t, nodes.rule()); };
  const marginal_sums s = at(mu, tau);
  // Central differences with step 1e-5: truncation ~1e-10, rounding ~1e-11 relative.
  const double h = 1e-5;
  const marginal_sums mp = at(mu + h, tau), mm = at(mu - h, tau), tp = at(mu, tau + h), tm = at(mu, tau - h);
  const double scale = 1 + std::abs(s.value);
  EXPECT_NEAR(s.d_a, (mp.value - mm.value) / (2 * h), 1e-8 * scale) << K;
  EXPECT_NEAR(s.d_b, (tp.value - tm.value) / (2 * h), 1e-8 * scale) << K;
  EXPECT_NEAR(s.d_aa, (mp.d_a - mm.d_a) / (2 * h), 1e-7 * scale) << K;
  EXPECT_NEAR(s.d_ab, (tp.d_a - tm.d_a) / (2 * h), 1e-7 * scale) << K;
  EXPECT_NEAR(s.d_ab, (mp.d_b - mm.d_b) / (2 * h), 1e-7 * scale) << K;
  EXPECT_NEAR(s.d_bb, (tp.d_b - tm.d_b) / (2 * h), 1e-7 * scale) << K;
}

TEST(Aghq, DerivativesMatchFiniteDifferences)
{
  for (int K : {1, 2, 5, 25}) {
    expect_derivatives_match_differences<logit_normal>({9, 40}, -2, 0.8, K);
    expect_derivatives_match_differences<logit_normal>({0, 300}, -1, 2.5, K);
    expect_derivatives_match_differences<logit_normal>({7, 7}, 0.5, 0.3, K);
    expect_derivatives_match_differences<log_normal>({22, 10.48}, -1.2, 1.3, K);
    expect_derivatives_match_differences<log_normal>({0, 5.24}, 0.4, 0.7, K);
  }
}

TEST(Aghq, WarmStartedModesGiveTheSameTerms)
{
  // aghq_term carries each entry's mode to the next sum as a Taylor start: a start, not an answer,
  // so the terms at the next point are those of the fresh start to the rounding of the mode (the
  // mode itself to 1e-12: Halley's error after a step below 1e-7). Moves from 1e-6 (Newton's last
  // steps) to 0.2, and 0.3 (beyond the Taylor start's range: the fresh start).
  const hermite_nodes one = gauss_hermite(1), ten = gauss_hermite(10);
  for (const hermite_nodes* nodes : {&one, &ten})
    for (const auto& [y, n] : std::vector<std::pair<double, double>>{{9, 40}, {0, 300}, {7, 7}, {1e6 - 3, 1e6}})
      for (const double move : {1e-6, 1e-3, 0.05, 0.2, 0.3}) {
        const logit_normal::group g{y, n};
        mode_memory memory;
        aghq_terms<logit_normal>(g, -2, 0.8, nodes->rule(), &memory);
        EXPECT_NEAR(memory.u, conditional_mode<logit_normal>(g, -2, 0.8), 1e-12);
        const double mu = -2 + move, tau = 0.8 - 0.7 * move;
        const marginal_sums warm = aghq_terms<logit_normal>(g, mu, tau, nodes->rule(), &memory, true, move, -0.7 * move);
        const marginal_sums cold = aghq_terms<logit_normal>(g, mu, tau, nodes->rule());
        EXPECT_NEAR(memory.u, conditional_mode<logit_normal>(g, mu, tau), 1e-12 * (1 + std::abs(memory.u)));
        const double scale = 1 + std::abs(cold.value);
        EXPECT_NEAR(warm.value, cold.value, 1e-14 * scale) << y << " of " << n << ", move " << move;
        EXPECT_NEAR(warm.d_a, cold.d_a, 1e-11 * (1 + std::abs(cold.d_a))) << y << " of " << n << ", move " << move;
        EXPECT_NEAR(warm.d_b, cold.d_b, 1e-11 * (1 + std::abs(cold.d_b))) << y << " of " << n << ", move " << move;
        EXPECT_NEAR(warm.d_aa, cold.d_aa, 1e-10 * (1 + std::abs(cold.d_aa))) << y << " of " << n << ", move " << move;
        EXPECT_NEAR(warm.d_ab, cold.d_ab, 1e-10 * (1 + std::abs(cold.d_ab))) << y << " of " << n << ", move " << move;
        EXPECT_NEAR(warm.d_bb, cold.d_bb, 1e-10 * (1 + std::abs(cold.d_bb))) << y << " of " << n << ", move " << move;
      }
}

/// The posterior of theta by brute force, independently of glmm_posterior_of: the density
/// exp(f(mu + tau u) - u^2/2) on a grid of u from its maximum on the grid, Gauss-Kronrod's
/// 15 points on panels of width 1/200 (of u) until it falls below 1e-40 of it; mean and sd about
/// the grid mean (two passes), quantiles by bisection on the cumulative masses within a panel.
template <class Likelihood>
std::vector<double> brute_force_posterior(const typename Likelihood::group& g, double mu, double tau, double tail)
{
  const auto log_density = [&](double u) { return Likelihood::at(g, mu + tau * u).f0 - 0.5 * u * u; };
  double peak = 0, best = log_density(0);
  for (double u = -40; u <= 40; u += 1e-3)
    if (log_density(u) > best) best = log_density(u), peak = u;
  const double width = 1.0 / 200;
  double lo = peak, hi = peak;
  while (log_density(lo) - best > -92) lo -= width;
  while (log_density(hi) - best > -92) hi += width;
  const int panels = static_cast<int>(std::round((hi - lo) / width));
  const auto panel = [&](double a, double b, auto&& weight) {
    double sum = 0;
    for (int k = 0; k < 15; ++k) {
      double wk = 0, wg = 0;
      const double u = gk15_point(a, b, k, wk, wg);
      sum += wk * std::exp(log_density(u) - best) * weight(Likelihood::at(g, mu + tau * u).theta);
    }
    return sum;
  };
  std::vector<double> cumulative{0};
  double m0 = 0, m1 = 0;
  for (int i = 0; i < panels; ++i) {
    const double mass = panel(lo + i * width, lo + (i + 1) * width, [](double) { return 1.0; });
    m0 += mass;
    cumulative.push_back(m0);
    m1 += panel(lo + i * width, lo + (i + 1) * width, [](double t) { return t; });
  }
  const double mean = m1 / m0;
  double m2 = 0, m1c = 0;
  for (int i = 0; i < panels; ++i) {
    m1c += panel(lo + i * width, lo + (i + 1) * width, [&](double t) { return t - mean; });
    m2 += panel(lo + i * width, lo + (i + 1) * width, [&](double t) { return (t - mean) * (t - mean); });
  }
  const auto quantile = [&](double q) {
    const double target = q * m0;
    const int i = static_cast<int>(std::upper_bound(cumulative.begin(), cumulative.end(), target) - cumulative.begin()) - 1;
    double a = lo + i * width, b = a + width;
    for (int step = 0; step < 60; ++step) {
      const double x = 0.5 * (a + b);
      (cumulative[static_cast<std::size_t>(i)] + panel(lo + i * width, x, [](double) { return 1.0; }) < target ? a : b) = x;
    }
    return Likelihood::inverse_link(mu + tau * 0.5 * (a + b));
  };
  const double shift = m1c / m0;
  return {mean + shift, std::sqrt(m2 / m0 - shift * shift), quantile(tail), quantile(1 - tail)};
}

TEST(GlmmPosterior, MatchesBruteForceIntegration)
{
  // glmm_posterior_of's Gauss panels in z = (u - u^) sqrt(c) (their sides ended by the tangent
  // bound on the tail, the quantiles' last Halley step by the two-point Hermite rule; the tau 0.5
  // and 0.8 cases on the wide panels) against brute_force_posterior. Measured: mean and quantiles
  // within 1.0e-13 relative and the sd within 4.3e-13 where tau <= 0.8 (the benchmark's groups: tau
  // 0.5); where tau or the groups are larger (a wider posterior of theta) mean and quantiles within
  // 1.2e-12, the sd within 5.3e-12. main's panels measured the same (0 of 5: its quantiles also
  // 1.1e-13 off). Poisson (tau 0.7): mean within 6.5e-14, quantiles 3.2e-13, sd 3.3e-12.
  struct binomial_case {
    double y, n, mu, tau, tolerance, sd_tolerance;
  };
  for (const binomial_case& c : std::vector<binomial_case>{{6, 72, -1.99, 0.5, 2e-13, 1e-12},
                                                            {0, 5, -1.99, 0.5, 2e-13, 1e-12},
                                                            {40, 200, -1.99, 0.5, 2e-13, 1e-12},
                                                            {11, 171, -1.99, 0.5, 2e-13, 1e-12},
                                                            {9, 40, -2, 0.8, 2e-13, 1e-12},
                                                            {0, 300, -1, 1.5, 3e-12, 1e-11},
                                                            {7, 7, 0.5, 1.2, 3e-12, 1e-11},
                                                            {1e6 - 3, 1e6, 2, 1, 3e-12, 1e-11}}) {
    const glmm_posterior p = glmm_posterior_of<logit_normal>({c.y, c.n}, c.mu, c.tau, 0.025);
    const std::vector<double> b = brute_force_posterior<logit_normal>({c.y, c.n}, c.mu, c.tau, 0.025);
    const std::string what = std::to_string(c.y) + " of " + std::to_string(c.n) + " at tau " + std::to_string(c.tau);
    EXPECT_NEAR(p.theta.mean, b[0], c.tolerance * b[0]) << what;
    EXPECT_NEAR(p.theta.sd, b[1], c.sd_tolerance * b[1]) << what;
    EXPECT_NEAR(p.theta.lower, b[2], c.tolerance * b[2]) << what;
    EXPECT_NEAR(p.theta.upper, b[3], c.tolerance * b[3]) << what;
  }
  for (const auto& [y, E] : std::vector<std::pair<double, double>>{{5, 94.32}, {22, 10.48}, {0, 1.0}}) {
    const glmm_posterior p = glmm_posterior_of<log_normal>({y, E}, -2.3, 0.7, 0.025);
    const std::vector<double> b = brute_force_posterior<log_normal>({y, E}, -2.3, 0.7, 0.025);
    EXPECT_NEAR(p.theta.mean, b[0], 2e-13 * b[0]) << y << " over " << E;
    EXPECT_NEAR(p.theta.sd, b[1], 1e-11 * b[1]) << y << " over " << E;
    EXPECT_NEAR(p.theta.lower, b[2], 1e-12 * b[2]) << y << " over " << E;
    EXPECT_NEAR(p.theta.upper, b[3], 1e-12 * b[3]) << y << " over " << E;
  }
}

TEST(GlmmFit, CbppMatchesAnIndependentMaximisationAndGlmer)
{
  const std::vector<logit_normal::group> herds = cbpp_herds();
  // R (tests/data/glmm_reference.R): nlminb on the AGHQ objective written from its formula, polished
  // by Newton on Richardson-extrapolated differences (gradient ~1e-11): 1e-9 relative.
  struct reference {
    int K;
    double mu, tau2, loglik;
    std::vector<double> modes, sds;
  };
  const reference refs[] = {
    {1, -2.0461622864290945, 0.65934299516767392, -43.864228720931422,
     {0.65976735758038818, -0.2804752024519559, 0.35014266157440926, -0.0010718079697675184, -0.26533741815881606,
      -0.57643704615805702, 1.0091917266181523, 1.1967530300202305, -0.32067756635464317, -0.70061391977971987,
      -0.18804117503544823, -0.07287959041106766, -0.89608653303356689, 1.3913824939226922, -0.6611552113989716},
     {0.35541811610783725, 0.39345968225776673, 0.29869931625543089, 0.44452029938782073, 0.36906276078890893,
      0.40619062399330863, 0.32887172272014503, 0.33999787791130548, 0.51367574740061228, 0.39922981580748923,
      0.31776012863450726, 0.48260436156596009, 0.42043111808797645, 0.36843262307345148, 0.43564544287995582}},
    {25, -2.0465039440629837, 0.66976219682121596, -43.791787058082697,
     {0.66201577950924273, -0.28124141456364887, 0.35117720335521752, -0.00083644428015200965, -0.26592120484399129,
      -0.57843438551401805, 1.0120586939208061, 1.2003068445953813, -0.32248141731542257, -0.70300098483456297,
      -0.18820027878377926, -0.073060171070463115, -0.89959312898995536, 1.3961227738233872, -0.66388762302140036},
     {0.35578395564027804, 0.39431812334777999, 0.29895228219460906, 0.44557299693457098, 0.36976883368633223,
      0.40729339360994365, 0.32912628382438447, 0.34028155247617342, 0.5155586775697536, 0.40034801972185124,
      0.31819385468857175, 0.48400041372241542, 0.42184689297868555, 0.36882027271550627, 0.4370442656677162}},
  };
  for (const reference& ref : refs) {
    const glmm_estimate e = fit_ml<logit_normal>(herds, ref.K).e;
    EXPECT_FALSE(e.boundary);
    // Standard errors: R's inverse of the finite-difference Hessian (its error ~1e-7 relative).
    expect_relative(e.mu_se, ref.K == 1 ? 0.242364779508 : 0.243824096935, 1e-6, "mu se");
    expect_relative(e.tau_se, ref.K == 1 ? 0.194781503364 : 0.196988423543, 1e-6, "tau se");
    expect_relative(e.mu, ref.mu, 1e-9, "mu");
    expect_relative(e.tau * e.tau, ref.tau2, 1e-9, "tau2");
    expect_relative(e.log_likelihood, ref.loglik, 1e-11, "log-likelihood");
    for (std::size_t j = 0; j < herds.size(); ++j) {
      const glmm_posterior p = glmm_posterior_of<logit_normal>(herds[j], e.mu, e.tau, 0.025);
      EXPECT_NEAR(p.mode, ref.modes[j], 1e-9 * std::abs(ref.modes[j]) + 1e-12) << ref.K << " herd " << j + 1;
      expect_relative(p.mode_sd, ref.sds[j], 1e-9, "conditional sd");
    }
  }
  // glmer (bobyqa, rhoend 1e-12, tolPwrss 1e-10: see below) stops within ~1e-8 of those maxima: 1e-6
  // relative. Its log-likelihood is the rows' (nAGQ = 25: less their saturated one). Its
  // conditional modes likewise (herd 4's is ~1e-3: 1e-6 of 0.1 there).
  struct glmer_fit {
    int K;
    double mu, tau2, loglik, constant;
    std::vector<double> modes;
  };
  const glmer_fit glmer[] = {
    {1, -2.04616225713555, 0.659342950281655, -104.831313593856, cbpp_rows_minus_herds,
     {0.659767325293984, -0.280475220384366, 0.35014263301929, -0.00107182846246931, -0.265337437669354,
      -0.576437058301583, 1.00919169086006, 1.1967529915787, -0.320677575188738, -0.700613930462501, -0.18804119788261,
      -0.0728796076043539, -0.896086538119695, 1.39138245115924, -0.661155219304969}},
    {25, -2.04650394796971, 0.669762199447646, -62.7805181574599, cbpp_rows_minus_herds - cbpp_saturated_rows,
     {0.662015788286318, -0.281241403654457, 0.351177213365328, -0.000836434295445424, -0.265921194128741,
      -0.578434373087688, 1.01205870265138, 1.20030685284888, -0.322481403620054, -0.703000971974747,
      -0.188200268197739, -0.0730601603435949, -0.899593114069962, 1.39612278112896, -0.663887609073145}},
  };
  for (const glmer_fit& ref : glmer) {
    const glmm_estimate e = fit_ml<logit_normal>(herds, ref.K).e;
    expect_relative(e.mu, ref.mu, 1e-6, "glmer mu");
    expect_relative(e.tau * e.tau, ref.tau2, 1e-6, "glmer tau2");
    expect_relative(e.log_likelihood + ref.constant, ref.loglik, 1e-6, "glmer loglik");
    for (std::size_t j = 0; j < herds.size(); ++j) {
      const glmm_posterior p = glmm_posterior_of<logit_normal>(herds[j], e.mu, e.tau, 0.025);
      EXPECT_NEAR(p.mode, ref.modes[j], 1e-6 * std::max(std::abs(ref.modes[j]), 0.1)) << ref.K << " herd " << j + 1;
    }
  }
  // With glmer's default tolPwrss (1e-7) its nAGQ = 1 deviance takes the log-determinant from a
  // Cholesky factor one PIRLS step behind the modes (4e-4 off at its estimate), and it stops at
  // mu = -2.045667, 5e-4 from the Laplace maximum; from tolPwrss = 1e-10 on it agrees as above.
}

TEST(GlmmFit, CbppTenPointsTestAndPosteriors)
{
  const std::vector<logit_normal::group> herds = cbpp_herds();
  const glmm_estimate e = fit_ml<logit_normal>(herds, 10).e;
  expect_relative(e.mu, -2.0465040289338416, 1e-9, "mu");
  expect_relative(e.tau * e.tau, 0.66976146093492206, 1e-9, "tau2");
  // The likelihood-ratio test of tau2 = 0: 2 (l - l_glm), l_glm = sum dbinom at the pooled rate.
  expect_relative(e.lrt_statistic, 29.256428112319384, 1e-9, "LRT");
  EXPECT_NEAR(e.lrt_p_value, 0.5 * std::erfc(std::sqrt(e.lrt_statistic / 2)), 1e-13);
  // Posterior mean, sd and 2.5% / 97.5% quantiles of theta (R: Simpson's rule and uniroot() on the
  // exact posterior of u at R's estimate, Simpson's rule; the estimates differ by 1e-10).
  const std::pair<std::size_t, std::vector<double>> posteriors[] = {
    {0, {0.201440241501056, 0.056479072118746, 0.104132730448286, 0.323605319069178}},
    {4, {0.091036194104952, 0.0303087766024663, 0.0417019843385639, 0.1592388899375}}};
  for (const auto& [j, ref] : posteriors) {
    const glmm_posterior p = glmm_posterior_of<logit_normal>(herds[j], e.mu, e.tau, 0.025);
    expect_relative(p.theta.mean, ref[0], 1e-8, "posterior mean");
    expect_relative(p.theta.sd, ref[1], 1e-7, "posterior sd");
    expect_relative(p.theta.lower, ref[2], 1e-8, "lower");
    expect_relative(p.theta.upper, ref[3], 1e-8, "upper");
    // The shrinkage analogue is the conditional variance of b over tau^2.
    EXPECT_NEAR(p.theta.shrinkage, p.mode_sd * p.mode_sd / (e.tau * e.tau), 1e-14);
  }
}

TEST(GlmmFit, ProfileIntervalsMatchR)
{
  // R: optimize() over the other parameter inside uniroot() (tolerances 1e-13), K = 10, 95%.
  const auto check = [](const auto& groups, double mu_lo, double mu_hi, double tau2_lo, double tau2_hi) {
    using L = std::conditional_t<std::is_same_v<std::decay_t<decltype(groups[0])>, logit_normal::group>, logit_normal,
                                 log_normal>;
    const fitted<L> f = fit_ml<L>(groups, 10);
    const hermite_nodes nodes = gauss_hermite(10);
    const glmm_groups<L> data{{groups.data(), groups.size(), 1, nullptr}, nodes.rule(), {}};
    const glmm_intervals ci = glmm_profile_intervals(data, f.e, f.t.log_constants, 0.95);
    EXPECT_NEAR(ci.mu_lower, mu_lo, 1e-9);
    EXPECT_NEAR(ci.mu_upper, mu_hi, 1e-9);
    EXPECT_NEAR(ci.tau2_lower, tau2_lo, 1e-9);
    EXPECT_NEAR(ci.tau2_upper, tau2_hi, 1e-9);
  };
  check(cbpp_herds(), -2.57512085411, -1.55279494186, 0.257065868795, 1.78811333996);
  check(pumps(), -2.16766408011, -0.209210000547, 0.64946478046, 5.16830241483);
}

TEST(GlmmFit, PumpsMatchAnIndependentMaximisationAndGlmer)
{
  const std::vector<log_normal::group> p = pumps();
  struct reference {
    int K;
    double mu, tau2, loglik, glmer_mu, glmer_tau2, glmer_loglik;
    std::vector<double> modes, glmer_modes;
  };
  const reference refs[] = {
    {1, -1.1797259714988442, 1.6266138072130936, -32.084002244568758, -1.17972497699767, 1.62661445794156,
     -32.0840024014654,
     {-1.5799958455606005, -1.0697894810921806, -1.2130422591878831, -0.97372240212830929, 0.51132703262456114,
      0.65467344347381962, 0.63645351393697824, 0.63645351393697824, 1.5532330749333985, 1.8676970068958187},
     {-1.57999680623186, -1.06979032232798, -1.21304320447035, -0.973723372182922, 0.511326261473363, 0.654672489176282,
      0.636453147081036, 0.636453147081036, 1.55323235186051, 1.86769606227391}},
    {25, -1.1761311268334718, 1.6606428880452113, -32.04143128692693, -1.17613112306423, 1.66064287907345,
     std::nan(""),
     {-1.5862926350704607, -1.0783992096295827, -1.2187053441417244, -0.97798202170750592, 0.51034700412027822,
      0.65162076057692708, 0.64124998681276713, 0.64124998681276713, 1.5555818019663057, 1.8652990683038058},
     {-1.58629263770656, -1.07839921083255, -1.21870534692698, -0.977982025117887, 0.510347000536005, 0.651620756815488,
      0.641249983194487, 0.641249983194487, 1.55558179743562, 1.86529906435771}},
  };
  for (const reference& ref : refs) {
    const glmm_estimate e = fit_ml<log_normal>(p, ref.K).e;
    expect_relative(e.mu, ref.mu, 1e-9, "mu");
    expect_relative(e.tau * e.tau, ref.tau2, 1e-9, "tau2");
    expect_relative(e.log_likelihood, ref.loglik, 1e-11, "log-likelihood");
    expect_relative(e.mu, ref.glmer_mu, 1e-6, "glmer mu");
    expect_relative(e.tau * e.tau, ref.glmer_tau2, 1e-6, "glmer tau2");
    if (ref.K == 1) expect_relative(e.log_likelihood, ref.glmer_loglik, 1e-8, "glmer loglik");
    for (std::size_t j = 0; j < p.size(); ++j) {
      const glmm_posterior post = glmm_posterior_of<log_normal>(p[j], e.mu, e.tau, 0.025);
      EXPECT_NEAR(post.mode, ref.modes[j], 1e-9 * std::abs(ref.modes[j])) << ref.K << " pump " << j + 1;
      // glmer's own mu is 8e-7 (relative) from the maximum at K = 1 (its optimizer's tolerance),
      // which moves its modes by up to 1.5e-6 relative.
      EXPECT_NEAR(post.mode, ref.glmer_modes[j], 2e-6 * std::abs(ref.glmer_modes[j])) << ref.K << " pump " << j + 1;
    }
  }
  const glmm_estimate e = fit_ml<log_normal>(p, 10).e;
  expect_relative(e.lrt_statistic, 93.890970645361989, 1e-9, "LRT");
  const std::pair<std::size_t, std::vector<double>> posteriors[] = {
    {0, {0.0635851295805153, 0.024759275707957, 0.0250929860897962, 0.120852618077923}},
    {9, {1.99336255924243, 0.429977307465945, 1.2428161747048, 2.92137747268738}}};
  for (const auto& [j, ref] : posteriors) {
    const glmm_posterior post = glmm_posterior_of<log_normal>(p[j], e.mu, e.tau, 0.025);
    expect_relative(post.theta.mean, ref[0], 1e-8, "posterior mean");
    expect_relative(post.theta.sd, ref[1], 1e-7, "posterior sd");
    expect_relative(post.theta.lower, ref[2], 1e-8, "lower");
    expect_relative(post.theta.upper, ref[3], 1e-8, "upper");
  }
}

TEST(GlmmFit, NoSpreadIsTheBoundary)
{
  // Identical rates 0.3: the maximum is tau = 0, the GLM at the pooled rate.
  std::vector<logit_normal::group> groups;
  for (int j = 0; j < 40; ++j) groups.push_back({static_cast<double>(3 * (1 + j % 4)), static_cast<double>(10 * (1 + j % 4))});
  const fitted<logit_normal> f = fit_ml<logit_normal>(groups, 5);
  EXPECT_TRUE(f.e.boundary);
  EXPECT_EQ(f.e.tau, 0);
  EXPECT_NEAR(f.e.mu, std::log(0.3 / 0.7), 1e-15);
  EXPECT_EQ(f.e.lrt_statistic, 0);
  EXPECT_EQ(f.e.lrt_p_value, 1);
  // log-likelihood: sum of log dbinom at 0.3, by hand.
  double l = 0;
  for (const auto& g : groups)
    l += std::lgamma(g.size + 1) - std::lgamma(g.count + 1) - std::lgamma(g.size - g.count + 1) + g.count * std::log(0.3) +
         (g.size - g.count) * std::log(0.7);
  EXPECT_NEAR(f.e.log_likelihood, l, 1e-11 * std::abs(l));
  // The posterior is then the point mass at the pooled rate.
  const glmm_posterior p = glmm_posterior_of<logit_normal>(groups[0], f.e.mu, 0.0, 0.025);
  EXPECT_NEAR(p.theta.mean, 0.3, 1e-15);
  EXPECT_EQ(p.theta.sd, 0);
}

TEST(GlmmFit, BadInputIsAnError)
{
  const std::vector<logit_normal::group> zeros{{0, 5}, {0, 7}, {0, 9}};
  EXPECT_THROW(fit_ml<logit_normal>(zeros, 3), error);
  const std::vector<logit_normal::group> all{{5, 5}, {7, 7}};
  EXPECT_THROW(fit_ml<logit_normal>(all, 3), error);
  const std::vector<log_normal::group> none{{0, 1.5}, {0, 2}};
  EXPECT_THROW(fit_ml<log_normal>(none, 3), error);
}

TEST(GlmmFit, ThreadCountDoesNotChangeABit)
{
  std::mt19937_64 rng(11);
  std::vector<logit_normal::group> groups;
  for (int j = 0; j < 5000; ++j) {
    const int n = 1 + static_cast<int>(rng() % 200);
    const double p = 1 / (1 + std::exp(-(-1.5 + 0.7 * std::normal_distribution<double>()(rng))));
    groups.push_back({static_cast<double>(std::binomial_distribution<int>(n, p)(rng)), static_cast<double>(n)});
  }
  const glmm_estimate one = fit_ml<logit_normal>(groups, 10, 1).e;
  EXPECT_NEAR(one.mu, -1.5, 0.1);
  EXPECT_NEAR(one.tau, 0.7, 0.1);
  for (int threads : {2, 3, 8}) {
    const glmm_estimate e = fit_ml<logit_normal>(groups, 10, threads).e;
    EXPECT_EQ(e.mu, one.mu) << threads;
    EXPECT_EQ(e.tau, one.tau) << threads;
    EXPECT_EQ(e.log_likelihood, one.log_likelihood) << threads;
    EXPECT_EQ(e.iterations, one.iterations) << threads;
  }
}

}  // namespace
}  // namespace shrink::detail
