// The tau2 estimators, written as metafor's rma.uni computes them for the intercept-only model
// (metafor 4.x, R/rma.uni.r; Viechtbauer 2005, 2007), with every matrix expression of metafor's
// code reduced to sums over groups (see weighted_sums in src/common/group_sums.hpp):
//   HE:   (sum (y - ybar)^2 - tr(PV)) / (J-1),  P = I - 11'/J        (our "mom")
//   DL:   (Q(0) - (J-1)) / tr P(0)
//   SJ:   tau0^2 Q(tau0^2) / (J-1),  tau0^2 = var(y) (J-1) / J
//   PM:   uniroot of Q(tau2) = J - 1 on [0, max(100, 10 mad(y)^2)], tol eps^0.25
//   ML/REML/EB: Fisher scoring from max(0, HE), step halving at 0, threshold 1e-5, 100 steps,
//         then (ML/REML) metafor's check that the likelihood is not larger at tau2 = 0.
// Estimates are truncated at 0 as metafor does.

#include "tau_estimators.hpp"

#include "../common/macros.hpp"
#include "numerics.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace shrink::detail {
namespace {

constexpr double two_pi = 6.283185307179586;

/// tr(PVPV) and sum(PV * P) for P = W - w w'/s at the weights of `s` (metafor's SJ/HE/GENQ
/// standard errors), from the per-group sums of w^a v^b.
struct pv_traces {
  double pvpv, pvp;
};

pv_traces traces_pv(const weighted_sums& s)
{
  const double sw = s.sum_w();
  const double a = s.sum_w2v / sw;
  return {s.sum_w2v2 - 2 * s.sum_w3v2 / sw + a * a,
          s.sum_w2v - 2 * s.sum_w3v / sw + s.sum_w2v * s.sum_w2 / (sw * sw)};
}

std::string not_converged(const char* what, int iterations)
{
  return std::string(what) + " did not converge in " + std::to_string(iterations) +
         " iterations (raise --max-iterations, or try another --tau-method)";
}

/// R's mad(y): 1.4826 median |y_j - median(y)| over the group means y_j = ybar_j. The engine
/// has no order statistics, so the means come from its per-group map (one O(J) copy to the host).
double scaled_mad(group_engine& engine)
{
  fit_result scratch;
  engine.posteriors(posterior_params{}, scratch);
  std::vector<double>& y = scratch.mean;
  auto median = [](std::vector<double>& x) {
    const std::size_t n = x.size(), h = n / 2;
    std::nth_element(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(h), x.end());
    const double upper = x[h];
    if (n % 2 == 1) return upper;
    return 0.5 * (upper + *std::max_element(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(h)));
  };
  const double center = median(y);
  for (double& x : y) x = std::fabs(x - center);
  return 1.4826 * median(y);
}

}  // namespace

double pooled_sigma2(const group_totals& t)
{
  SHRINK_EXPECTS(t.df_within > 0,
                 "no within-group variance: every group has one observation (give the known sd with --sigma)");
  const double sigma2 = t.ss_within / t.df_within;
  SHRINK_EXPECTS(sigma2 > 0,
                 "the within-group variance is zero: every group's values are identical (give the known sd with --sigma)");
  return sigma2;
}

double log_likelihood(const weighted_sums& s, std::size_t groups, bool reml)
{
  const double k = static_cast<double>(groups);
  // REML includes metafor's default REMLf = TRUE term +log|X'X| / 2, X the column of ones: log(J) / 2.
  if (reml)
    return -0.5 * (k - 1) * std::log(two_pi) + 0.5 * std::log(k) + 0.5 * s.sum_log_w - 0.5 * std::log(s.sum_w()) -
           0.5 * s.q();
  return -0.5 * k * std::log(two_pi) + 0.5 * s.sum_log_w - 0.5 * s.q();
}

tau2_estimate estimate_tau2(group_engine& engine, const fit_options& o, const unweighted_sums& u)
{
  const std::size_t J = engine.groups();
  const double k = static_cast<double>(J);
  tau2_estimate r;

  if (o.method == tau_method::fixed) {
    r.tau2 = o.tau * o.tau;
    return r;
  }
  SHRINK_EXPECTS(J >= 2, "tau2 cannot be estimated from a single group");

  // HE: with P = I - 11'/J, Y'PY = sum (y - ybar)^2 and tr(PV) = sum v (J-1)/J.
  const double he_raw = (u.ybar.m2 - u.sum_v * (k - 1) / k) / (k - 1);

  switch (o.method) {
    case tau_method::mom: {
      r.tau2 = std::max(0.0, he_raw);
      // tr(PVPV) with unit weights: sum v^2 - 2 sum v^2 / J + (sum v / J)^2.
      const double trpv = u.sum_v * (k - 1) / k;
      const double pvpv = u.sum_v2 - 2 * u.sum_v2 / k + (u.sum_v / k) * (u.sum_v / k);
      r.se = std::sqrt((2 * pvpv + 4 * r.tau2 * trpv + 2 * r.tau2 * r.tau2 * (k - 1)) / ((k - 1) * (k - 1)));
      return r;
    }
    case tau_method::dl: {
      const weighted_sums s = engine.weighted(0.0);
      const double trp = s.trace_p();
      r.tau2 = std::max(0.0, (s.q() - (k - 1)) / trp);
      r.se = std::sqrt((2 * (k - 1) + 4 * r.tau2 * trp + 2 * r.tau2 * r.tau2 * s.trace_pp()) / (trp * trp));
      return r;
    }
    case tau_method::sj: {
      const double tau2_0 = u.ybar.m2 / k;  // var(y) (J-1)/J
      const weighted_sums s = engine.weighted(tau2_0);
      r.tau2 = std::max(0.0, tau2_0 * s.q() / (k - 1));
      const pv_traces t = traces_pv(s);
      r.se = std::sqrt(tau2_0 * tau2_0 / ((k - 1) * (k - 1)) *
                       (2 * t.pvpv + 4 * r.tau2 * t.pvp + 2 * r.tau2 * r.tau2 * s.trace_pp()));
      return r;
    }
    case tau_method::pm: {
      const double target = k - 1;
      auto excess = [&](double tau2) { return engine.weighted(tau2).q() - target; };
      const double at_min = excess(0.0);
      if (at_min < 0) {
        r.tau2 = 0;
      } else {
        // metafor's bracket [tau2.min, tau2.max] = [0, max(100, 10 mad(y)^2)] (rma.uni's control
        // defaults), so that Brent's method takes uniroot's steps and the result agrees one to one.
        // Deviation: where Q(tau2.max) is still above J-1 metafor stops with an error; Q decreases
        // in tau2, so we widen the bracket tenfold until it holds the root instead.
        const double spread = scaled_mad(engine);
        double hi = std::max(100.0, 10 * spread * spread);
        double at_max = excess(hi);
        while (at_max > 0) {
          SHRINK_EXPECTS(std::isfinite(hi) && hi < 1e300, "Paule-Mandel: no root of Q(tau2) = J-1 found");
          hi *= 10;
          at_max = excess(hi);
        }
        const root_result root = find_root(excess, 0.0, hi, at_min, at_max, o.root_tol, o.max_iterations);
        SHRINK_EXPECTS(root.converged, not_converged("Paule-Mandel root finding", root.iterations));
        r.tau2 = std::max(0.0, root.x);
        r.iterations = root.iterations;
      }
      const double sw = engine.weighted(r.tau2).sum_w();
      r.se = std::sqrt(2 * k * k / (k - 1) / (sw * sw));
      return r;
    }
    case tau_method::ml:
    case tau_method::reml:
    case tau_method::eb: {
      double tau2 = std::max(0.0, he_raw);
      double change = o.threshold + 1;
      int iter = 0;
      while (change > o.threshold) {
        ++iter;
        const double old = tau2;
        const weighted_sums s = engine.weighted(tau2);
        double adj = 0;
        if (o.method == tau_method::ml) adj = (s.ypp() - s.sum_w()) / s.sum_w2;
        if (o.method == tau_method::reml) adj = (s.ypp() - s.trace_p()) / s.trace_pp();
        if (o.method == tau_method::eb) adj = (s.q() * k / (k - 1) - k) / s.sum_w();
        SHRINK_EXPECTS(std::isfinite(adj), "Fisher scoring produced a non-finite step (values too extreme?)");
        while (tau2 + adj < 0) adj /= 2;  // metafor's step halving at tau2.min = 0
        tau2 += adj;
        change = std::fabs(old - tau2);
        SHRINK_EXPECTS(iter <= o.max_iterations, not_converged("Fisher scoring", o.max_iterations));
      }
      r.iterations = iter;
      if (o.method != tau_method::eb) {
        // metafor's ll0check: a larger likelihood at tau2 = 0 means scoring found a local maximum.
        const bool reml = o.method == tau_method::reml;
        const double ll0 = log_likelihood(engine.weighted(0.0), J, reml);
        const double ll = log_likelihood(engine.weighted(tau2), J, reml);
        if (ll0 - ll > o.root_tol && tau2 > o.threshold) tau2 = 0;
      }
      r.tau2 = std::max(0.0, tau2);
      const weighted_sums s = engine.weighted(r.tau2);
      if (o.method == tau_method::ml) r.se = std::sqrt(2 / s.sum_w2);
      if (o.method == tau_method::reml) r.se = std::sqrt(2 / s.trace_pp());
      if (o.method == tau_method::eb) r.se = std::sqrt(2 * k * k / (k - 1) / (s.sum_w() * s.sum_w()));
      if (o.method != tau_method::eb) r.log_likelihood = log_likelihood(s, J, o.method == tau_method::reml);
      return r;
    }
    case tau_method::fixed:
    case tau_method::bayes: break;
  }
  SHRINK_FAIL("estimate_tau2: unhandled tau method");
}

interval q_profile_interval(group_engine& engine, double level)
{
  const std::size_t J = engine.groups();
  const double df = static_cast<double>(J - 1);
  const double alpha = 1 - level;
  const double crit_hi = chi_square_quantile(1 - alpha / 2, df);  // gives the lower bound
  const double crit_lo = chi_square_quantile(alpha / 2, df);      // gives the upper bound
  const double q0 = engine.weighted(0.0).q();
  const unweighted_sums u = engine.unweighted();
  const variance_range vr = engine.variances();

  auto solve = [&](double crit) {
    if (q0 <= crit) return 0.0;  // Q(0) already below: the bound would be negative
    // crit / Q(tau2) - 1: Q falls roughly as 1 / (v + tau2), so this is nearly linear in tau2 and
    // Brent's secant steps converge in a few reductions.
    auto f = [&](double tau2) { return crit / engine.weighted_q(tau2).q() - 1; };
    // Q(tau2) <= sum_j (y_j - mean y)^2 / (min v + tau2), so this tau2 brackets the root.
    const double hi = std::max(u.ybar.m2 / crit - vr.min, 0.0) * 1.01 + 1e-300;
    const double f_hi = f(hi);
    SHRINK_EXPECTS(f_hi >= 0, "Q-profile interval: no solution of Q(tau2) = quantile found");
    // Bounds to 1e-10 of the bracket: far below the interval's own sampling uncertainty.
    const root_result root = find_root(f, 0.0, hi, crit / q0 - 1, f_hi, 1e-10 * hi, 1000);
    SHRINK_EXPECTS(root.converged, "Q-profile interval: root finding did not converge");
    return std::max(0.0, root.x);
  };
  return {solve(crit_hi), solve(crit_lo)};
}

variance_components fit_random_intercept(group_engine& engine, const group_totals& t, bool reml)
{
  SHRINK_EXPECTS(t.df_within > 0 && t.ss_within > 0,
                 "ml/reml in raw mode need within-group variation (groups with 2 or more distinct values)");
  const double N = static_cast<double>(t.observations);
  const double ssw = t.ss_within;
  const double dof = reml ? N - 1 : N;
  engine.set_sigma2(1.0);  // v_j = 1 / n_j: the between-group variances in units of sigma2

  // Derivative of the profiled deviance in lambda = tau2 / sigma2 (sigma2 profiled out as
  // y'Py / dof, y'Py = SSW + Q(lambda)); REML: tr P - (N-1) Y'PPY / y'Py, ML: sum w - N Y'PPY / y'Py.
  int evaluations = 0;
  auto slope = [&](double lambda) {
    ++evaluations;
    const weighted_sums s = engine.weighted(lambda);
    const double ypy = ssw + s.q();
    return (reml ? s.trace_p() : s.sum_w()) - dof * s.ypp() / ypy;
  };

  variance_components r;
  double lambda = 0;
  const double g0 = slope(0.0);
  if (g0 < 0) {
    // Bracket from a moment-type start: double until the deviance increases.
    const double s2_pooled = ssw / t.df_within;
    const unweighted_sums u = engine.unweighted();
    const double mom = u.ybar.m2 / static_cast<double>(engine.groups() - 1) - u.sum_v / static_cast<double>(engine.groups()) * s2_pooled;
    double hi = std::max(mom / s2_pooled, 1e-8);
    double g_hi = slope(hi);
    double lo = 0, g_lo = g0;
    while (g_hi < 0) {
      SHRINK_EXPECTS(hi < 1e300, "ml/reml: the likelihood keeps increasing with tau2 (no within-group variation?)");
      lo = hi;
      g_lo = g_hi;
      hi *= 4;
      g_hi = slope(hi);
    }
    const root_result root = find_root(slope, lo, hi, g_lo, g_hi, 0.0, 500);
    SHRINK_EXPECTS(root.converged, "ml/reml: the variance-ratio search did not converge");
    lambda = root.x;
  }
  const weighted_sums s = engine.weighted(lambda);
  const double ypy = ssw + s.q();
  r.sigma2 = ypy / dof;
  r.tau2 = lambda * r.sigma2;
  r.iterations = evaluations;
  // -2 l = dof (1 + log(2 pi sigma2)) + sum log(1 + n_j lambda) [+ log sum_j n_j / (1 + n_j lambda)].
  const double sum_log_n = engine.weighted(0.0).sum_log_w;
  const double log_det = sum_log_n - s.sum_log_w;
  double dev = dof * (1 + std::log(two_pi * r.sigma2)) + log_det;
  if (reml) dev += std::log(s.sum_w());
  r.log_likelihood = -0.5 * dev;
  engine.set_sigma2(r.sigma2);

  // Expected information of (sigma2, tau2), 1/2 tr(V^-1 dV V^-1 dV) (REML: P for V^-1), with
  // V_j = sigma2 I + tau2 11' (eigenvalues sigma2, n_j - 1 times, and sigma2 + n_j tau2 = n_j / w_j)
  // and w_j = 1 / (v_j + tau2), v_j = sigma2 / n_j, reduced to sums over groups (Searle, Casella &
  // McCulloch 1992, ch. 6): with sum w^2/n = sum w^2 v / sigma2 and sum w^2/n^2 = sum w^2 v^2 / sigma2^2,
  //   ML:   I_ss = [(N - J) + sum w^2 v^2] / (2 sigma2^2),  I_st = sum w^2 v / (2 sigma2),  I_tt = sum w^2 / 2
  //   REML: the same with P's traces: sum w^2 v^2 -> tr(PVPV), sum w^2 v -> sum(PV * P), sum w^2 -> tr PP.
  const weighted_sums at = engine.weighted(r.tau2);
  const double within = N - static_cast<double>(engine.groups());
  double i_ss = 0, i_st = 0, i_tt = 0;
  if (reml) {
    const pv_traces tr = traces_pv(at);
    i_ss = (within + tr.pvpv) / (2 * r.sigma2 * r.sigma2);
    i_st = tr.pvp / (2 * r.sigma2);
    i_tt = at.trace_pp() / 2;
  } else {
    i_ss = (within + at.sum_w2v2) / (2 * r.sigma2 * r.sigma2);
    i_st = at.sum_w2v / (2 * r.sigma2);
    i_tt = at.sum_w2 / 2;
  }
  const double det = i_ss * i_tt - i_st * i_st;
  r.tau2_se = std::sqrt(i_ss / det);
  r.sigma2_se = std::sqrt(i_tt / det);
  return r;
}

}  // namespace shrink::detail
