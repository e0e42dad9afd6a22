#include "api/beta_binomial_fit.hpp"

#include "common/moments.hpp"
#include "api/numerics.hpp"
#include "cpu/parallel.hpp"

#include <cmath>
#include <limits>

namespace shrink::detail {
namespace {

constexpr double infinity = std::numeric_limits<double>::infinity();
constexpr double not_available = std::numeric_limits<double>::quiet_NaN();

/// Concentrations beyond this are the boundary nu = infinity: the beta's spread, ~1/sqrt(nu),
/// is then below 1e-6 of any rate, far inside the binomial noise of any real data.
constexpr double boundary_concentration = 1e12;

struct summary_sums {
  double successes = 0, trials = 0, log_coefficients = 0;
  moments rates;

  friend summary_sums operator+(const summary_sums& a, const summary_sums& b)
  {
    return {a.successes + b.successes, a.trials + b.trials, a.log_coefficients + b.log_coefficients, a.rates + b.rates};
  }
};

beta_binomial::marginal_sums marginal_sums_at(const binomial_groups& data, double alpha, double beta)
{
  return reduce<beta_binomial::marginal_sums>(
    data.count, data.threads, [&](std::size_t j) { return beta_binomial::marginal(data.groups[j], alpha, beta); });
}

/// The log-likelihood at nu = infinity (binomial at the pooled rate), coefficients included.

/// The log-likelihood at nu = infinity for the mean m (binomial), without the coefficients.
double binomial_limit(const binomial_totals& t, double m)
{
  return (t.successes > 0 ? t.successes * std::log(m) : 0.0) +
         (t.trials > t.successes ? (t.trials - t.successes) * std::log1p(-m) : 0.0);
}

double pooled_log_likelihood(const binomial_totals& t)
{
  return binomial_limit(t, t.successes / t.trials) + t.log_binomial_coefficients;
}

/// The likelihood-ratio test of nu = infinity, on the boundary of the parameter space: the
/// statistic's null distribution is the 50:50 mixture of chi-square(0) and chi-square(1)
/// (Self and Liang 1987), so p = P(chi2_1 > s) / 2 for s > 0, and 1 at s = 0.
void set_overdispersion_test(beta_binomial_estimate& e, const binomial_totals& t)
{
  e.lrt_statistic = e.boundary ? 0.0 : std::max(0.0, 2 * (e.log_likelihood - pooled_log_likelihood(t)));
  e.lrt_p_value = e.lrt_statistic > 0 ? 0.5 * incomplete_gamma(0.5, 0.5 * e.lrt_statistic, true) : 1.0;
}

/// The log-likelihood (without the binomial coefficients) and its gradient and Hessian in
/// (u, v) = (logit m, log nu), by the chain rule from the sums in (alpha, beta): alpha = nu m,
/// beta = nu (1 - m), d alpha/du = -d beta/du = nu m (1 - m) = w, d alpha/dv = alpha, d beta/dv = beta.
struct likelihood_in_logit_log {
  double value, g_u, g_v, h_uu, h_uv, h_vv;
};

likelihood_in_logit_log likelihood_terms(const binomial_groups& data, double u, double v)
{
  const double m = 1 / (1 + std::exp(-u)), nu = std::exp(v);
  const double alpha = nu * m, beta = nu * (1 - m), w = nu * m * (1 - m);
  const beta_binomial::marginal_sums s = marginal_sums_at(data, alpha, beta);
  likelihood_in_logit_log l;
  l.value = s.value;
  const double diff = s.d_alpha - s.d_beta;
  l.g_u = w * diff;
  l.g_v = alpha * s.d_alpha + beta * s.d_beta;
  l.h_uu = w * w * (s.d_alpha_alpha - 2 * s.d_alpha_beta + s.d_beta_beta) + diff * w * (1 - 2 * m);
  l.h_uv = w * ((alpha * s.d_alpha_alpha + beta * s.d_alpha_beta) - (alpha * s.d_alpha_beta + beta * s.d_beta_beta)) + diff * w;
  l.h_vv = l.g_v + alpha * alpha * s.d_alpha_alpha + 2 * alpha * beta * s.d_alpha_beta + beta * beta * s.d_beta_beta;
  return l;
}

void set_boundary(beta_binomial_estimate& e, double mean, const binomial_totals& t)
{
  e.boundary = true;
  e.alpha = e.beta = e.concentration = infinity;
  e.mean = mean;
  e.se_log_concentration = not_available;
  e.log_likelihood = pooled_log_likelihood(t);
}

}  // namespace

binomial_totals binomial_summaries(const binomial_groups& data)
{
  const summary_sums s = reduce<summary_sums>(data.count, data.threads, [&](std::size_t j) {
    const beta_binomial::group& g = data.groups[j];
    summary_sums one{g.successes, g.trials, beta_binomial::log_binomial_coefficient(g), {}};
    one.rates.add(g.successes / g.trials);
    return one;
  });
  binomial_totals t;
  t.successes = s.successes;
  t.trials = s.trials;
  t.rate_mean = s.rates.mean;
  t.rate_variance = data.count > 1 ? s.rates.m2 / static_cast<double>(data.count - 1) : 0.0;
  t.log_binomial_coefficients = s.log_coefficients;
  return t;
}

beta_binomial_estimate beta_binomial_moments(const binomial_groups& data, const binomial_totals& t)
{
  SHRINK_EXPECTS(data.count >= 2, "the method of moments needs at least 2 groups");
  beta_binomial_estimate e;
  e.se_logit_mean = e.se_log_concentration = not_available;
  const double m = t.rate_mean, v = t.rate_variance;
  const double nu = v > 0 ? m * (1 - m) / v - 1 : infinity;
  if (!(nu > 0) || nu > boundary_concentration || m <= 0 || m >= 1) {
    set_boundary(e, m, t);
  } else {
    e.alpha = m * nu;
    e.beta = (1 - m) * nu;
    e.mean = m;
    e.concentration = nu;
    e.log_likelihood = marginal_sums_at(data, e.alpha, e.beta).value + t.log_binomial_coefficients;
  }
  set_overdispersion_test(e, t);
  return e;
}

beta_binomial_estimate beta_binomial_fixed(const binomial_groups& data, const binomial_totals& t, double alpha, double beta)
{
  beta_binomial_estimate e;
  e.alpha = alpha;
  e.beta = beta;
  e.mean = alpha / (alpha + beta);
  e.concentration = alpha + beta;
  e.se_logit_mean = e.se_log_concentration = not_available;
  e.log_likelihood = marginal_sums_at(data, alpha, beta).value + t.log_binomial_coefficients;
  set_overdispersion_test(e, t);
  return e;
}

beta_binomial_estimate beta_binomial_ml(const binomial_groups& data, const binomial_totals& t, int max_iterations)
{
  SHRINK_EXPECTS(data.count >= 2, "ml needs at least 2 groups");
  SHRINK_EXPECTS(t.successes > 0, "every group has 0 successes: the beta-binomial likelihood has no maximum (m = 0)");
  SHRINK_EXPECTS(t.successes < t.trials,
                 "every group has only successes: the beta-binomial likelihood has no maximum (m = 1)");

  // Start from the moment estimate, its concentration kept finite so that Newton can move either way.
  const double pooled = t.successes / t.trials;
  double m = t.rate_mean > 0 && t.rate_mean < 1 ? t.rate_mean : pooled;
  double nu = t.rate_variance > 0 ? m * (1 - m) / t.rate_variance - 1 : 1e3;
  if (!(nu > 0.01 && nu < 1e6)) nu = nu > 0.01 ? 1e6 : 1.0;
  double u = std::log(m / (1 - m)), v = std::log(nu);

  const auto evaluate = [&](double uu, double vv) { return likelihood_terms(data, uu, vv); };
  beta_binomial_estimate e;
  likelihood_in_logit_log at = evaluate(u, v);
  bool converged = false;
  for (int iteration = 1; iteration <= max_iterations; ++iteration) {
    e.iterations = iteration;
    // Newton's direction on -H, shifted (Levenberg) until it is positive definite.
    double a = -at.h_uu, b = -at.h_uv, c = -at.h_vv, shift = 0;
    while (!(a + shift > 0 && (a + shift) * (c + shift) - b * b > 0)) shift = shift == 0 ? 1e-8 * (std::abs(a) + std::abs(c) + 1) : shift * 10;
    const double det = (a + shift) * (c + shift) - b * b;
    const double du = ((c + shift) * at.g_u - b * at.g_v) / det, dv = ((a + shift) * at.g_v - b * at.g_u) / det;
    const double decrement = du * at.g_u + dv * at.g_v;  // the ascent a full step promises, to second order
    if (decrement < 1e-12) {
      converged = true;
      break;
    }
    // Step halving until the likelihood does not decrease.
    double step = 1;
    likelihood_in_logit_log next{};
    for (int halving = 0; halving < 60; ++halving, step *= 0.5) {
      next = evaluate(u + step * du, v + step * dv);
      if (std::isfinite(next.value) && next.value >= at.value) break;
    }
    u += step * du;
    v += step * dv;
    at = next;
    if (v > std::log(boundary_concentration) && at.g_v > 0) break;  // heading to nu = infinity
  }
  m = 1 / (1 + std::exp(-u));
  nu = std::exp(v);
  if (nu > boundary_concentration) {
    set_boundary(e, pooled, t);
    // Newton's m at the boundary is the pooled rate; its se that of the binomial.
    e.se_logit_mean = std::sqrt(1 / (t.trials * pooled * (1 - pooled)));
  } else {
    SHRINK_EXPECTS(converged, "ml: Newton's method did not converge in " + std::to_string(max_iterations) + " iterations");
    e.mean = m;
    e.concentration = nu;
    e.alpha = nu * m;
    e.beta = nu * (1 - m);
    e.log_likelihood = at.value + t.log_binomial_coefficients;
    // Standard errors from the observed information -H in (u, v).
    const double det = at.h_uu * at.h_vv - at.h_uv * at.h_uv;
    e.se_logit_mean = std::sqrt(-at.h_vv / det);
    e.se_log_concentration = std::sqrt(-at.h_uu / det);
  }
  set_overdispersion_test(e, t);
  return e;
}

namespace {

/// The profile log-likelihood (without coefficients) at u = logit m fixed (maximised over v) or at
/// v = log nu fixed (over u), by Newton's method in the free parameter with step halving; over v it
/// may run to the boundary nu = infinity, whose limit is the binomial likelihood at m.
double profile_value(const binomial_groups& data, const binomial_totals& t, bool fix_mean, double fixed, double start)
{
  const double v_cap = std::log(boundary_concentration);
  double free = start;
  const auto at = [&](double f) {
    return fix_mean ? likelihood_terms(data, fixed, f) : likelihood_terms(data, f, fixed);
  };
  likelihood_in_logit_log here = at(free);
  for (int iteration = 0; iteration < 100; ++iteration) {
    const double g = fix_mean ? here.g_v : here.g_u, h = fix_mean ? here.h_vv : here.h_uu;
    double step = h < 0 ? -g / h : (g > 0 ? 1.0 : -1.0);
    if (std::abs(g * step) < 1e-12) break;
    likelihood_in_logit_log next{};
    for (int halving = 0; halving < 60; ++halving, step *= 0.5) {
      next = at(free + step);
      if (std::isfinite(next.value) && next.value >= here.value) break;
    }
    free += step;
    here = next;
    if (fix_mean && free > v_cap && here.g_v > 0) return binomial_limit(t, 1 / (1 + std::exp(-fixed)));
  }
  return here.value;
}

}  // namespace

beta_binomial_intervals beta_binomial_profile_intervals(const binomial_groups& data, const binomial_totals& t,
                                                        const beta_binomial_estimate& e, double level)
{
  // -2 log likelihood ratio <= the chi-square(1) quantile at `level`: P(1/2, c/2) = level.
  const double half_crit = inverse_incomplete_gamma(0.5, level);
  const double l_hat = e.log_likelihood - t.log_binomial_coefficients;
  const double u_hat = std::log(e.mean / (1 - e.mean));
  const double v_hat = e.boundary ? std::log(1e6) : std::log(e.concentration);
  beta_binomial_intervals out;
  // For each parameter and side: step outwards (doubling) until the deficit passes half_crit or
  // the parameter's range ends (then the interval is open there), and solve deficit = half_crit.
  const auto solve = [&](bool fix_mean, double centre, double other, double first_step, double range_end) {
    const auto deficit = [&](double p) { return l_hat - profile_value(data, t, fix_mean, p, other) - half_crit; };
    double inside = centre, d_inside = -half_crit, step = first_step;
    for (int k = 0; k < 60; ++k, step *= 2) {
      const double outside = (first_step > 0 ? std::min(centre + step, range_end) : std::max(centre + step, range_end));
      const double d_outside = deficit(outside);
      if (d_outside >= 0) {
        const root_result r = find_root(deficit, inside, outside, d_inside, d_outside, 1e-10, 200);
        return r.x;
      }
      if (outside == range_end) return range_end;
      inside = outside;
      d_inside = d_outside;
    }
    return range_end;
  };
  const double su = std::isfinite(e.se_logit_mean) && e.se_logit_mean > 0 ? e.se_logit_mean : 0.1;
  const double sv = std::isfinite(e.se_log_concentration) && e.se_log_concentration > 0 ? e.se_log_concentration : 0.5;
  const double u_lo = solve(true, u_hat, v_hat, -su, -40.0), u_hi = solve(true, u_hat, v_hat, su, 40.0);
  out.mean_lower = 1 / (1 + std::exp(-u_lo));
  out.mean_upper = 1 / (1 + std::exp(-u_hi));
  const double v_cap = std::log(boundary_concentration);
  const double v_lo = solve(false, e.boundary ? v_cap : v_hat, u_hat, -sv, -40.0);
  const double v_hi = e.boundary ? v_cap : solve(false, v_hat, u_hat, sv, v_cap);
  out.concentration_lower = v_lo <= -40.0 ? 0.0 : std::exp(v_lo);
  out.concentration_upper = v_hi >= v_cap ? infinity : std::exp(v_hi);
  return out;
}

}  // namespace shrink::detail
