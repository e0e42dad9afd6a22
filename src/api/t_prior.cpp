// --prior t:NU: theta_j ~ mu + s t_NU. mu and s maximise the marginal likelihood
// sum_j log p(ybar_j | mu, s), each term a per-group 1-D integral (src/common/t_prior.hpp), by
// Nelder-Mead over (mu, log s); then every group's posterior mean, sd and quantiles, and mu's
// standard error, interval and the prediction interval from the same t model.

#include "bayes.hpp"

#include "../common/macros.hpp"
#include "../common/normal.hpp"
#include "numerics.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string>

namespace shrink::detail {
namespace {

t_prior_params make_params(double mu, double scale, double nu)
{
  t_prior_params p;
  p.mu = mu;
  p.scale = scale;
  p.nu = nu;
  // lgamma((nu + 1) / 2) - lgamma(nu / 2) without the cancellation of two huge values at large nu
  // (at nu = 1e16 the direct difference is off by ~30): the normal limit -log(2 pi) / 2 follows.
  p.log_norm = log_gamma_half_ratio(nu / 2) - 0.5 * std::log(nu * M_PI) - std::log(scale);
  return p;
}

}  // namespace

void fit_t_prior(group_engine& engine, double nu, double level, double offset, fit_result& r)
{
  const std::size_t J = engine.groups();
  SHRINK_EXPECTS(J >= 2, "--prior t:NU needs at least 2 groups to fit its scale");
  const unweighted_sums u = engine.unweighted();
  const double typical_sd = std::sqrt(u.sum_v / static_cast<double>(J));
  const double log_s_min = std::log(1e-8 * typical_sd);

  // Start from the normal model's mu and tau.
  const double mu0 = r.mu - offset;
  const double s0 = r.tau2 > 0 ? std::sqrt(r.tau2) : 0.5 * typical_sd;
  auto objective = [&](const std::array<double, 2>& x) {
    const double log_s = std::max(x[1], log_s_min);
    const t_marginal_sums s = engine.t_marginal(make_params(x[0], std::exp(log_s), nu));
    return std::isfinite(s.log_likelihood) ? -s.log_likelihood : HUGE_VAL;
  };

  // Nelder-Mead (standard coefficients) until the simplex's values agree to 1e-11 relative and its
  // size is below 1e-9 of (typical sd, 1) in (mu, log s).
  std::array<std::array<double, 2>, 3> x{{{mu0, std::log(s0)}, {mu0 + 0.5 * typical_sd, std::log(s0)}, {mu0, std::log(s0) + 0.5}}};
  std::array<double, 3> f{objective(x[0]), objective(x[1]), objective(x[2])};
  int evaluations = 3;
  for (; evaluations < 2000;) {
    std::array<int, 3> idx{0, 1, 2};
    std::sort(idx.begin(), idx.end(), [&](int a, int b) { return f[a] < f[b]; });
    const auto best = x[idx[0]], mid = x[idx[1]], worst = x[idx[2]];
    const double fb = f[idx[0]], fm = f[idx[1]], fw = f[idx[2]];
    const double size = std::max({std::fabs(worst[0] - best[0]) / typical_sd, std::fabs(worst[1] - best[1]),
                                  std::fabs(mid[0] - best[0]) / typical_sd, std::fabs(mid[1] - best[1])});
    if (fw - fb <= 1e-11 * (1 + std::fabs(fb)) && size < 1e-9) break;
    if (best[1] <= log_s_min && mid[1] <= log_s_min && worst[1] <= log_s_min) break;
    const std::array<double, 2> c{(best[0] + mid[0]) / 2, (best[1] + mid[1]) / 2};
    auto along = [&](double t) { return std::array<double, 2>{c[0] + t * (worst[0] - c[0]), c[1] + t * (worst[1] - c[1])}; };
    const auto xr = along(-1);
    const double fr = objective(xr);
    ++evaluations;
    if (fr < fb) {
      const auto xe = along(-2);
      const double fe = objective(xe);
      ++evaluations;
      x[idx[2]] = fe < fr ? xe : xr;
      f[idx[2]] = std::min(fe, fr);
    } else if (fr < fm) {
      x[idx[2]] = xr;
      f[idx[2]] = fr;
    } else {
      const auto xc = fr < fw ? along(-0.5) : along(0.5);
      const double fc = objective(xc);
      ++evaluations;
      if (fc < std::min(fr, fw)) {
        x[idx[2]] = xc;
        f[idx[2]] = fc;
      } else {
        for (int i : {idx[1], idx[2]}) {
          x[i] = {(x[i][0] + best[0]) / 2, (x[i][1] + best[1]) / 2};
          f[i] = objective(x[i]);
          ++evaluations;
        }
      }
    }
  }
  SHRINK_EXPECTS(evaluations < 2000, "--prior t: the marginal-likelihood fit of mu and the scale did not converge");
  const int best = static_cast<int>(std::min_element(f.begin(), f.end()) - f.begin());
  const double mu = x[best][0];
  const double scale = std::exp(std::max(x[best][1], log_s_min));

  t_prior_params p = make_params(mu, scale, nu);
  const t_marginal_sums at = engine.t_marginal(p);
  p.p_lower = (1 - level) / 2;
  p.p_upper = 1 - p.p_lower;
  p.offset = offset;
  engine.t_posteriors(p, r);

  // mu's standard error from the observed information of the marginal likelihood at the fitted
  // scale (as metafor's 1 / sum w holds tau2 at its estimate): with theta_j | ybar_j the group's
  // posterior, d^2/dmu^2 log p(ybar_j | mu, s) = Var(theta_j | ybar_j) / v_j^2 - 1 / v_j.
  double information = 0;
  for (std::size_t j = 0; j < J; ++j) {
    const double v = r.se[j] * r.se[j];
    information += (1 - r.sd[j] * r.sd[j] / v) / v;
  }
  SHRINK_EXPECTS(std::isfinite(information) && information > 0,
                 "--prior t: the marginal likelihood is not curved in mu at its maximum (no standard error)");
  const double z = interval_quantile(level);
  r.mu = offset + mu;
  r.mu_se = 1 / std::sqrt(information);
  r.mu_lower = r.mu - z * r.mu_se;
  r.mu_upper = r.mu + z * r.mu_se;
  // A new group's theta ~ mu + s t_NU: the fitted t's central interval (plug-in).
  const double t_half = scale * student_t_upper_quantile((1 - level) / 2, nu);
  r.pred_lower = r.mu - t_half;
  r.pred_upper = r.mu + t_half;
  r.t_df = nu;
  r.t_scale = scale;
  r.log_likelihood = at.log_likelihood;
  char nu_text[32];
  std::snprintf(nu_text, sizeof nu_text, "%g", nu);
  r.notes.push_back("prior t:" + std::string(nu_text) + ": mu and t_scale fitted by marginal likelihood (" +
                    std::to_string(evaluations) + " evaluations); estimate/sd/lower/upper are the t-prior posteriors, "
                    "shrinkage the fraction of the way from mean to mu; mu_se from the marginal likelihood's "
                    "curvature in mu; prediction_interval = mu +- t_scale t_NU quantile (plug-in: without "
                    "the uncertainty of mu and t_scale); tau2, its se and interval are the normal model's");
  if (x[best][1] <= log_s_min)
    r.notes.push_back("prior t: the fitted scale is at its floor (no heterogeneity): the posteriors are complete pooling");
  if (at.unconverged > 0)
    r.notes.push_back("prior t: " + std::to_string(static_cast<long long>(at.unconverged)) +
                      " groups stopped at the quadrature's panel limit (accuracy below 1e-10 there)");
}

}  // namespace shrink::detail
