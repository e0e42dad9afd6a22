// The tau2 estimators, written as metafor's rma.uni computes them for the intercept-only model
// (metafor 4.x, R/rma.uni.r; Viechtbauer 2005, 2007), with every matrix expression of metafor's
// code reduced to sums over groups (see weighted_sums in src/common/group_sums.hpp):
//   HE:   (sum (y - ybar)^2 - tr(PV)) / (J-1),  P = I - 11'/J        (our "mom")
//   DL:   (Q(0) - (J-1)) / tr P(0)
//   SJ:   tau0^2 Q(tau0^2) / (J-1),  tau0^2 = var(y) (J-1) / J
//   PM:   uniroot of Q(tau2) = J - 1 on [0, max(100, 10 mad(y)^2)], tol eps^0.25
//   ML/REML/EB: Fisher scoring from max(0, HE), step halving at 0, threshold 1e-5, 100 steps
//         (a step that overshoots the score's bracket bisects it: numerics.hpp's scoring_steps),
//         then (ML/REML) metafor's check that the likelihood is not larger at tau2 = 0.
// Estimates are truncated at 0 as metafor does. The iterations reduce the cheap newton_sums (no
// logarithm); the weighted sums with their logarithm are reduced once, at the estimate.

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

/// engine.newton(tau2, center), with `center` then moved to mu_hat(tau2) for the next call (the
/// iterates move little, so the next center is close). Where the old center lay so far from
/// mu_hat that Q = sum w d^2 - delta sum w d lost more than about three digits to cancellation,
/// the pass is repeated around the new center. `passes`, when given, counts the reductions.
newton_sums newton_at(group_engine& engine, double tau2, double& center, int* passes = nullptr)
{
  newton_sums s = engine.newton(tau2, center);
  int used = 1;
  center += s.delta();
  if (!(s.swd * s.delta() <= 1e3 * s.q())) {
    s = engine.newton(tau2, center);
    ++used;
    center += s.delta();
  }
  if (passes) *passes += used;
  return s;
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
  return estimate_tau2(engine, o, u, engine.weighted(0.0, needs_log_likelihood(o.method)));
}

tau2_estimate estimate_tau2(group_engine& engine, const fit_options& o, const unweighted_sums& u,
                            const weighted_sums& fixed_effect)
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
      const weighted_sums& s = fixed_effect;
      const double trp = s.trace_p();
      r.tau2 = std::max(0.0, (s.q() - (k - 1)) / trp);
      r.se = std::sqrt((2 * (k - 1) + 4 * r.tau2 * trp + 2 * r.tau2 * r.tau2 * s.trace_pp()) / (trp * trp));
      return r;
    }
    case tau_method::sj: {
      const double tau2_0 = u.ybar.m2 / k;  // var(y) (J-1)/J
      const weighted_sums s = engine.weighted(tau2_0, false);
      r.tau2 = std::max(0.0, tau2_0 * s.q() / (k - 1));
      const pv_traces t = traces_pv(s);
      r.se = std::sqrt(tau2_0 * tau2_0 / ((k - 1) * (k - 1)) *
                       (2 * t.pvpv + 4 * r.tau2 * t.pvp + 2 * r.tau2 * r.tau2 * s.trace_pp()));
      return r;
    }
    case tau_method::pm: {
      const double target = k - 1;
      double center = fixed_effect.wy.mean;
      auto excess = [&](double tau2) { return newton_at(engine, tau2, center).q() - target; };
      const double at_min = fixed_effect.q() - target;
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
      r.at_tau = r.tau2 == 0 ? fixed_effect : engine.weighted(r.tau2, false);
      const double sw = r.at_tau->sum_w();
      r.se = std::sqrt(2 * k * k / (k - 1) / (sw * sw));
      return r;
    }
    case tau_method::ml:
    case tau_method::reml:
    case tau_method::eb: {
      double tau2 = std::max(0.0, he_raw);
      double center = fixed_effect.wy.mean;
      double change = o.threshold + 1;
      int iter = 0;
      detail::scoring_steps steps;
      while (change > o.threshold) {
        ++iter;
        const double old = tau2;
        const newton_sums s = newton_at(engine, tau2, center);
        double adj = 0;
        if (o.method == tau_method::ml) adj = (s.ypp() - s.sw) / s.sw2;
        if (o.method == tau_method::reml) adj = (s.ypp() - s.trace_p()) / s.trace_pp();
        if (o.method == tau_method::eb) adj = (s.q() * k / (k - 1) - k) / s.sw;
        SHRINK_EXPECTS(std::isfinite(adj), "Fisher scoring produced a non-finite step (values too extreme?)");
        tau2 = steps.next(tau2, adj);
        change = std::fabs(old - tau2);
        SHRINK_EXPECTS(iter <= o.max_iterations, not_converged("Fisher scoring", o.max_iterations));
      }
      r.iterations = iter;
      const bool likelihood = o.method != tau_method::eb;
      weighted_sums s = tau2 == 0 ? fixed_effect : engine.weighted(tau2, likelihood);
      if (likelihood) {
        // metafor's ll0check: a larger likelihood at tau2 = 0 means scoring found a local maximum.
        const bool reml = o.method == tau_method::reml;
        const double ll0 = log_likelihood(fixed_effect, J, reml);
        const double ll = log_likelihood(s, J, reml);
        if (ll0 - ll > o.root_tol && tau2 > o.threshold) {
          tau2 = 0;
          s = fixed_effect;
        }
      }
      r.tau2 = std::max(0.0, tau2);
      r.at_tau = s;
      if (o.method == tau_method::ml) r.se = std::sqrt(2 / s.sum_w2);
      if (o.method == tau_method::reml) r.se = std::sqrt(2 / s.trace_pp());
      if (o.method == tau_method::eb) r.se = std::sqrt(2 * k * k / (k - 1) / (s.sum_w() * s.sum_w()));
      if (likelihood) r.log_likelihood = log_likelihood(s, J, o.method == tau_method::reml);
      return r;
    }
    case tau_method::fixed:
    case tau_method::bayes: break;
  }
  SHRINK_FAIL("estimate_tau2: unhandled tau method");
}

interval q_profile_interval(group_engine& engine, double level, const weighted_sums& fixed_effect, double tau2,
                            const weighted_sums& at_tau, const unweighted_sums& u, const variance_range& vr,
                            int* passes)
{
  const std::size_t J = engine.groups();
  const double df = static_cast<double>(J - 1);
  const double alpha = 1 - level;
  const double crit_hi = chi_square_quantile(1 - alpha / 2, df);  // gives the lower bound
  const double crit_lo = chi_square_quantile(alpha / 2, df);      // gives the upper bound
  const double q0 = fixed_effect.q();
  int count = 0;

  // Q(tau2) decreases and is convex (dQ/dtau2 = -Y'PPY, d2Q/dtau2^2 = 2 Y'PPPY >= 0); for a single
  // group's Q = a / (v + tau2), 1 / Q is linear in tau2, and it is nearly so in general. So the
  // steps solve f = 1 / Q - 1 / crit = 0, starting from whichever of tau2 = 0 and the estimate
  // (whose weighted sums the fit already has) is nearer: the first by Newton's method, the others
  // by Halley's, as each pass gives f'' too (f' = Y'PPY / Q^2, f'' / 2f' = Y'PPY / Q - Y'PPPY / Y'PPY).
  // Safeguards: a step that leaves the bracket [lo, hi] is replaced by Newton's, then by Newton's on
  // Q itself from the left (on a convex decreasing Q it lands between the point and the root), or
  // else by bisection. Halley's method converges cubically and Newton's quadratically, so once a
  // Halley step is below 1e-5 of tau2 (a Newton step below 1e-8) the point it gives is accurate to
  // about 1e-15 and is returned without another reduction (tests/cpu/tau_estimators_test.cpp
  // checks Q there against the quantile).
  auto solve = [&](double crit) {
    if (q0 <= crit) return 0.0;  // Q(0) already below: the bound would be negative
    // Q(tau2) <= sum_j (y_j - mean y)^2 / (min v + tau2) < crit at hi: the root lies below it.
    double lo = 0, hi = std::max(u.ybar.m2 / crit - vr.min, 0.0) * 1.01 + 1e-300;
    double x = 0, q = q0, ypp = fixed_effect.ypp(), center = fixed_effect.wy.mean;
    double curvature = HUGE_VAL;  // f'' / 2f', unknown at the starting point
    const double q_est = at_tau.q();
    if (tau2 > 0) {
      if (q_est == crit) return tau2;
      if (q_est > crit) lo = tau2;
      else hi = std::min(hi, tau2);
      if (std::fabs(1 / q_est - 1 / crit) < std::fabs(1 / q0 - 1 / crit)) {
        x = tau2;
        q = q_est;
        ypp = at_tau.ypp();
        center = at_tau.wy.mean;
      }
    }
    auto inside = [&](double t) { return t > lo && t < hi; };
    for (int it = 0; it < 200; ++it) {
      const double newton = q * (q - crit) / (crit * ypp);  // -f / f'
      double next = x + newton / (1 + newton * curvature);
      double tol = 1e-5;
      if (!(std::isfinite(curvature) && 1 + newton * curvature > 0 && inside(next))) {
        next = x + newton;
        tol = 1e-8;
      }
      if (!inside(next) && q > crit) next = x + (q - crit) / ypp;
      if (!inside(next)) next = 0.5 * (lo + hi);
      if (std::fabs(next - x) <= tol * next) return next;
      x = next;
      const newton_sums s = newton_at(engine, x, center, &count);
      q = s.q();
      ypp = s.ypp();
      curvature = ypp / q - s.yppp() / ypp;
      if (q > crit) lo = x;
      else if (q < crit) hi = x;
      else return x;
    }
    throw error("Q-profile interval: root finding did not converge");
  };
  const interval ci{solve(crit_hi), solve(crit_lo)};
  if (passes) *passes += count;
  return ci;
}

variance_components fit_random_intercept(group_engine& engine, const group_totals& t, bool reml)
{
  SHRINK_EXPECTS(t.df_within > 0 && t.ss_within > 0,
                 "ml/reml in raw mode need within-group variation (groups with 2 or more distinct values)");
  const double N = static_cast<double>(t.observations);
  const double J = static_cast<double>(engine.groups());
  const double ssw = t.ss_within;
  const double dof = reml ? N - 1 : N;
  engine.set_sigma2(1.0);  // v_j = 1 / n_j: the between-group variances in units of sigma2

  // The profiled deviance in lambda = tau2 / sigma2 (sigma2 profiled out as y'Py / dof,
  // y'Py = SSW + Q(lambda)) has the slope g = T - dof Y'PPY / y'Py with T = tr P (REML) or
  // sum w (ML), and, by the derivatives listed at newton_sums,
  //   g' = -T2 + dof (2 Y'PPPY / y'Py - (Y'PPY / y'Py)^2),  T2 = tr PP (REML) or sum w^2 (ML).
  struct slope {
    double g, dg;
  };
  auto slope_of = [&](const newton_sums& s) {
    const double ypy = ssw + s.q();
    const double r = s.ypp() / ypy;
    return slope{(reml ? s.trace_p() : s.sw) - dof * r,
                 -(reml ? s.trace_pp() : s.sw2) + dof * (2 * s.yppp() / ypy - r * r)};
  };

  // At lambda = 0 (w_j = n_j) the sums come from the totals: sum w = N, sum w^2 = sum n_j^2,
  // Q = SS between and Y'PPY = sum n_j^2 (ybar_j - ybar)^2.
  const double sum_n2 = t.between_n2.weight;
  const double gap = t.between_n2.mean - t.between.mean;
  const double ypp0 = t.between_n2.m2 + sum_n2 * gap * gap;
  const double g0 = (reml ? N - sum_n2 / N : N) - dof * ypp0 / (ssw + t.between.m2);
  int passes = 0;
  double center = t.between.mean;  // mu_hat(0): the n_j-weighted grand mean
  double lambda = 0, q_at = t.between.m2;
  if (g0 < 0) {
    // Start: the ANOVA estimate (MSB / MSW - 1) / n0 of unbalanced data, n0 = (N - sum n_j^2 / N)
    // / (J - 1); where that is not positive, one standard error of it at lambda = 0.
    const double n0 = (N - sum_n2 / N) / (J - 1);
    double x = (t.between.m2 / (J - 1) / (ssw / t.df_within) - 1) / n0;
    if (!(x > 0 && std::isfinite(x))) x = std::sqrt(2 / (J - 1)) / n0;
    // Newton on g, safeguarded: [lo, hi] brackets the root (g(lo) < 0 < g(hi)); a step that leaves
    // it, or goes against the curvature, is replaced by bisection, or while no hi is known by
    // quadrupling lambda.
    double lo = 0, hi = HUGE_VAL;
    for (int it = 0;; ++it) {
      SHRINK_EXPECTS(it < 200, "ml/reml: the variance-ratio search did not converge");
      SHRINK_EXPECTS(x < 1e300, "ml/reml: the likelihood keeps increasing with tau2 (no within-group variation?)");
      const newton_sums s = newton_at(engine, x, center, &passes);
      const slope d = slope_of(s);
      if (d.g == 0) {
        lambda = x;
        q_at = s.q();
        break;
      }
      (d.g < 0 ? lo : hi) = x;
      double next = x - d.g / d.dg;
      if (!(d.dg > 0 && next > lo && next < hi)) next = hi == HUGE_VAL ? 4 * x : 0.5 * (lo + hi);
      const double step = next - x;
      if (std::fabs(step) <= 1e-9 * next) {
        // Quadratic convergence: next is accurate to about 1e-18 of lambda. Q there from this
        // pass's Taylor expansion (dQ = -Y'PPY, d2Q = 2 Y'PPPY): the next term, of order step^3,
        // lies far below rounding.
        lambda = next;
        q_at = s.q() - step * (s.ypp() - step * s.yppp());
        break;
      }
      x = next;
    }
  }
  variance_components r;
  r.sigma2 = (ssw + q_at) / dof;
  r.tau2 = lambda * r.sigma2;
  r.iterations = passes;
  engine.set_sigma2(r.sigma2);
  r.fixed_effect = engine.weighted(0.0, true);
  r.at_tau = r.tau2 == 0 ? r.fixed_effect : engine.weighted(r.tau2, true);
  const weighted_sums& at = r.at_tau;

  // -2 l = dof (1 + log(2 pi sigma2)) + sum log(1 + n_j lambda) [+ log sum_j n_j / (1 + n_j lambda)],
  // where with v_j = sigma2 / n_j: log(1 + n_j lambda) = log(v_j + tau2) - log v_j and
  // n_j / (1 + n_j lambda) = sigma2 w_j.
  const double log_det = r.fixed_effect.sum_log_w - at.sum_log_w;
  double dev = dof * (1 + std::log(two_pi * r.sigma2)) + log_det;
  if (reml) dev += std::log(r.sigma2 * at.sum_w());
  r.log_likelihood = -0.5 * dev;

  // Expected information of (sigma2, tau2), 1/2 tr(V^-1 dV V^-1 dV) (REML: P for V^-1), with
  // V_j = sigma2 I + tau2 11' (eigenvalues sigma2, n_j - 1 times, and sigma2 + n_j tau2 = n_j / w_j)
  // and w_j = 1 / (v_j + tau2), v_j = sigma2 / n_j, reduced to sums over groups (Searle, Casella &
  // McCulloch 1992, ch. 6): with sum w^2/n = sum w^2 v / sigma2 and sum w^2/n^2 = sum w^2 v^2 / sigma2^2,
  //   ML:   I_ss = [(N - J) + sum w^2 v^2] / (2 sigma2^2),  I_st = sum w^2 v / (2 sigma2),  I_tt = sum w^2 / 2
  //   REML: the same with P's traces: sum w^2 v^2 -> tr(PVPV), sum w^2 v -> sum(PV * P), sum w^2 -> tr PP.
  const double within = N - J;
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
