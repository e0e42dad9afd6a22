#include "api/glmm_fit.hpp"

#include "api/count_fit.hpp"

#include "api/numerics.hpp"
#include "cpu/glmm_lanes.hpp"
#include "cpu/parallel.hpp"

#include <shrink/error.hpp>

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace shrink::detail {

hermite_nodes gauss_hermite(int K)
{
  SHRINK_EXPECTS(K >= 1 && K <= 100, "--quadrature-points must lie between 1 and 100");
  hermite_nodes out;
  out.z.assign(static_cast<std::size_t>(K), 0.0);
  out.w.assign(static_cast<std::size_t>(K), 1.0);
  if (K == 1) return out;
  // Probabilists' Hermite: x He_k = He_(k+1) + k He_(k-1); the Jacobi matrix has sqrt(k) off the diagonal.
  Eigen::VectorXd diagonal = Eigen::VectorXd::Zero(K), off(K - 1);
  for (int k = 1; k < K; ++k) off[k - 1] = std::sqrt(static_cast<double>(k));
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver;
  solver.computeFromTridiagonal(diagonal, off, Eigen::EigenvaluesOnly);
  // The orthonormal polynomials p_k (p_0 = 1 under N(0, 1)) at x, and p_(K-1): the weight is
  // 1 / sum_k p_k(x)^2 (Christoffel), the node a root of p_K (Newton: p_K' = sqrt(K) p_(K-1)).
  const auto recurrence = [K](double x, double& pK, double& pK1, double& christoffel) {
    double previous = 0, current = 1;
    christoffel = 1;
    for (int k = 1; k <= K; ++k) {
      const double next = (x * current - std::sqrt(static_cast<double>(k - 1)) * previous) / std::sqrt(static_cast<double>(k));
      previous = current;
      current = next;
      if (k < K) christoffel += current * current;
    }
    pK = current;
    pK1 = previous;
  };
  for (int i = 0; i < K; ++i) {
    double x = solver.eigenvalues()[i], pK = 0, pK1 = 0, christoffel = 1;
    for (int polish = 0; polish < 3; ++polish) {
      recurrence(x, pK, pK1, christoffel);
      x -= pK / (std::sqrt(static_cast<double>(K)) * pK1);
    }
    recurrence(x, pK, pK1, christoffel);
    out.z[static_cast<std::size_t>(i)] = x;
    out.w[static_cast<std::size_t>(i)] = 1 / christoffel;
  }
  // Exactly symmetric (the middle node of an odd rule exactly 0), weights summing to 1.
  for (int i = 0; i < K / 2; ++i) {
    const std::size_t a = static_cast<std::size_t>(i), b = static_cast<std::size_t>(K - 1 - i);
    const double z = 0.5 * (out.z[b] - out.z[a]), w = 0.5 * (out.w[a] + out.w[b]);
    out.z[a] = -z;
    out.z[b] = z;
    out.w[a] = out.w[b] = w;
  }
  if (K % 2 == 1) out.z[static_cast<std::size_t>(K / 2)] = 0;
  double total = 0;
  for (double w : out.w) total += w;
  for (double& w : out.w) w /= total;
  return out;
}

template <class Likelihood>
marginal_sums glmm_marginal(const glmm_groups<Likelihood>& data, double mu, double tau)
{
  if (data.device != nullptr) return data.device->marginal(mu, tau);
  glmm_mode_cache& c = data.cache;
  if (c.modes.size() != data.count) c = {std::vector<mode_memory>(data.count), 0, 0, false};
  const aghq_term<Likelihood> term{data.groups, data.weights, mu, tau, data.rule, c.modes.data(), c.warm, mu - c.mu, tau - c.tau};
  marginal_sums out;
  if (const glmm_lanes::kernels* k = glmm_lanes::kernels_in_use()) {
    // The terms 8 entries at a time in SIMD lanes (the same bits; a lane they leave by the scalar
    // formula), then the same fixed tree over them.
    static_assert(sizeof(typename Likelihood::group) == 2 * sizeof(double), "groups as (count, size) pairs");
    const glmm_lanes::aghq_args a{reinterpret_cast<const double*>(data.groups), data.weights, mu, tau, data.rule.z,
                                  data.rule.w, data.rule.points, c.modes.data(), c.warm, term.d_mu, term.d_tau};
    const glmm_lanes::aghq_kernel kernel = Likelihood::bounded_mean ? k->aghq_logit : k->aghq_log;
    std::vector<marginal_sums> terms(data.count);
    for_each_block(data.count, 1 << 10, data.threads, [&](std::size_t begin, std::size_t end, std::size_t) {
      for (std::size_t i = begin; i < end; i += 8) {
        const int n = static_cast<int>(std::min<std::size_t>(8, end - i));
        for (unsigned left = kernel(a, i, n, terms.data() + i); left != 0; left &= left - 1)
          terms[i + static_cast<std::size_t>(__builtin_ctz(left))] = term(i + static_cast<std::size_t>(__builtin_ctz(left)));
      }
    });
    out = reduce<marginal_sums>(data.count, data.threads, [&](std::size_t j) { return terms[j]; });
  } else {
    out = reduce<marginal_sums>(data.count, data.threads, [&](std::size_t j) { return term(j); });
  }
  c.mu = mu;
  c.tau = tau;
  c.warm = true;
  return out;
}

namespace {

/// Newton's start: the method of moments on the groups' own links (Likelihood::saturated), mu
/// their weighted mean and tau2 their variance less the mean of their sampling variances
/// 1 / information; lme4's start (mu = `pooled_link`, tau = 1) where that tau2 is not positive.
/// Near the maximum, it saves Newton about half its steps.
template <class Likelihood>
std::pair<double, double> moment_start(const glmm_groups<Likelihood>& data, double pooled_link)
{
  double total = 0, mean = 0, squares = 0, noise = 0;
  for (std::size_t i = 0; i < data.count; ++i) {
    double eta = 0, information = 0;
    Likelihood::saturated(data.groups[i], eta, information);
    const double w = data.weight(i), d = eta - mean;
    total += w;
    mean += w * d / total;
    squares += w * d * (eta - mean);
    noise += w / information;
  }
  const double between = (squares - noise) / total;
  if (between > 0) return {mean, std::sqrt(between)};
  return {pooled_link, 1.0};
}

}  // namespace

template <class Likelihood>
glmm_estimate glmm_ml(const glmm_groups<Likelihood>& data, double count, double size, double log_constants,
                      int max_iterations)
{
  using conjugate = typename Likelihood::conjugate;
  SHRINK_EXPECTS(count > 0, std::string("every group's count is 0: the ") + Likelihood::name +
                              " likelihood has no maximum (mu would be -infinity)");
  SHRINK_EXPECTS(!Likelihood::bounded_mean || count < size, std::string("every group has only successes: the ") +
                                                             Likelihood::name + " likelihood has no maximum");
  // One trial per group: every group's likelihood is P(y = 1) = E expit(mu + tau u) or its
  // complement, one number along a ridge of (mu, tau): tau is not identified.
  bool one_trial = Likelihood::bounded_mean;
  for (std::size_t i = 0; i < data.count && one_trial; ++i) one_trial = data.groups[i].size == 1;
  SHRINK_EXPECTS(!one_trial, "every group has one trial: the likelihood depends on mu and tau2 only through the rate "
                             "P(y = 1), so tau2 is not identified (the logit-normal fit needs groups of 2 or more trials)");
  const double pooled = count / size;
  // tau = 0: the model without random effects, maximised in closed form at the pooled rate.
  const double l_zero = conjugate::limit(count, size, pooled) + log_constants;
  double mu = 0, tau = 0;
  std::tie(mu, tau) = moment_start(data, conjugate::link(pooled));
  glmm_estimate e;
  // Newton's method on (mu, tau): the count families' maximiser, with the sums as they are (the
  // working parameters are the natural ones here).
  const auto terms = [&](double m, double t) {
    const marginal_sums x = glmm_marginal(data, m, t);
    return working_terms{x.value, x.d_a, x.d_b, x.d_aa, x.d_ab, x.d_bb};
  };
  const newton_state s = newton_maximise(terms, mu, tau, max_iterations, [](const newton_state&) { return false; },
                                         std::string("ml: the ") + Likelihood::name + " GLMM likelihood's derivatives");
  SHRINK_EXPECTS(s.converged, "ml: Newton's method did not converge in " + std::to_string(max_iterations) + " iterations");
  e.iterations = s.iterations;
  mu = s.u;
  tau = s.v;
  const marginal_sums at{s.at.value, s.at.g_u, s.at.g_v, s.at.h_uu, s.at.h_uv, s.at.h_vv};
  // The likelihood is even in tau (b and -b have the same prior): tau's sign is immaterial. The
  // maximum is the boundary tau = 0 when the likelihood there is at least as high.
  tau = std::abs(tau);
  const double l = at.value + log_constants;
  if (tau < 1e-8 || l <= l_zero + 1e-13 * std::abs(l_zero)) {
    e.boundary = true;
    e.mu = conjugate::link(pooled);
    e.tau = 0;
    e.log_likelihood = l_zero;
    e.mu_se = e.tau_se = std::numeric_limits<double>::quiet_NaN();
  } else {
    e.mu = mu;
    e.tau = tau;
    e.log_likelihood = l;
    const double det = at.d_aa * at.d_bb - at.d_ab * at.d_ab;
    e.mu_se = std::sqrt(-at.d_bb / det);
    e.tau_se = std::sqrt(-at.d_aa / det);
    e.mu_tau_covariance = at.d_ab / det;
  }
  e.lrt_statistic = e.boundary ? 0.0 : std::max(0.0, 2 * (e.log_likelihood - l_zero));
  e.lrt_p_value = e.lrt_statistic > 0 ? 0.5 * incomplete_gamma(0.5, 0.5 * e.lrt_statistic, true) : 1.0;
  return e;
}

namespace {

/// The log-likelihood (without constants) maximised over tau at mu = fixed (over_tau) or over mu at
/// tau = fixed, by Newton's method in the free parameter with step halving, from `free` (updated to
/// the maximiser: the next point's start). Its gradient in the fixed parameter there is the
/// profile's derivative (the envelope theorem).
template <class Likelihood>
marginal_sums profile(const glmm_groups<Likelihood>& data, bool over_tau, double fixed, double& free)
{
  const auto at = [&](double f) { return over_tau ? glmm_marginal(data, fixed, f) : glmm_marginal(data, f, fixed); };
  return maximise_along(
    at, free, [&](const marginal_sums& x) { return over_tau ? std::pair(x.d_b, x.d_bb) : std::pair(x.d_a, x.d_aa); }, 1e-13,
    [](double, const marginal_sums&) { return false; });
}

}  // namespace

template <class Likelihood>
glmm_intervals glmm_profile_intervals(const glmm_groups<Likelihood>& data, const glmm_estimate& e,
                                      double log_constants, double level)
{
  // 2 (l_max - l) <= the chi-square(1) quantile at `level`: P(1/2, c/2) = level.
  const double half_crit = inverse_incomplete_gamma(0.5, level);
  const double l_hat = e.log_likelihood - log_constants;
  constexpr double infinity = std::numeric_limits<double>::infinity();
  // One end, where deficit(p) = l_hat - profile(p) - half_crit (> 0 outside) crosses 0 on the side of
  // `direction`: Newton's method on the pair (p, free) that solves deficit = 0 and dl/d free = 0
  // together, one sum a step (the free parameter is not maximised anew at every point), from the
  // quadratic approximation's end; where a step is not sound (it turns back past the estimate, or
  // leaves the range), the end is bracketed outwards by doubling steps on the profile and found by
  // Brent's method. An end the deficit never reaches before `limit` is `limit`.
  // `other`, where the parameter's other end was found by Newton's method, is that end and its
  // free parameter: a cubic term of the profile moves both ends the same way, so the start moves
  // by what the other end showed, and the free parameter's start takes the curvature the other
  // end showed: second-order starts, one sum fewer an end.
  struct found {
    double p, f;
    bool newton;
  };
  const auto end = [&](bool of_mu, double direction, double limit, const found* other) -> found {
    const double centre = of_mu ? e.mu : e.tau, se = of_mu ? e.mu_se : e.tau_se;
    const double scale = std::isfinite(se) && se > 0 ? se : 0.1;
    const double free_start = of_mu ? (e.boundary ? 0.5 : e.tau) : e.mu;
    const double reach = std::sqrt(2 * half_crit) * scale;
    // The free parameter starts where the quadratic approximation puts its maximiser at p: moved
    // from the estimate by p's regression on it (covariance / variance of p).
    const double slope = std::isfinite(se) && se > 0 ? e.mu_tau_covariance / (se * se) : 0.0;
    double p = centre + direction * reach, f = free_start + slope * (p - centre);
    if (other != nullptr && other->newton) {
      const double t = other->p - centre, shift = std::abs(t) - reach;
      if (std::abs(shift) < 0.5 * reach) {
        p = centre + direction * (reach - shift);
        const double bend = (other->f - free_start - slope * t) / (t * t);
        f = free_start + slope * (p - centre) + bend * (p - centre) * (p - centre);
      }
    }
    for (int iteration = 0; iteration < 30 && direction * (limit - p) > 0; ++iteration) {
      const marginal_sums s = of_mu ? glmm_marginal(data, p, f) : glmm_marginal(data, f, p);
      const double g_p = of_mu ? s.d_a : s.d_b, g_f = of_mu ? s.d_b : s.d_a, h_ff = of_mu ? s.d_bb : s.d_aa;
      const double d = l_hat - s.value - half_crit;
      // The Jacobian of (d, g_f) in (p, f) is [[-g_p, -g_f], [h_pf, h_ff]]; det / h_ff is the
      // deficit's slope along the profile, which must rise outwards.
      const double det = g_f * s.d_ab - g_p * h_ff;
      const double dp = -(h_ff * d + g_f * g_f) / det, df = (g_p * g_f + s.d_ab * d) / det;
      const double next = p + dp;
      if (!std::isfinite(next) || !std::isfinite(df) || !(h_ff < 0) || direction * det / h_ff <= 0 ||
          direction * (next - centre) <= 0 || direction * (limit - next) <= 0)
        break;
      // Newton's error is about the square of its step in units of the scale: ~1e-10 of it here.
      if (std::abs(dp) <= 1e-5 * scale) return found{next, f + df, true};
      p = next;
      f += df;
    }
    double free = free_start;
    const auto value = [&](double x) { return l_hat - profile(data, of_mu, x, free).value - half_crit; };
    double inside = centre, d_inside = -half_crit, step = direction * scale;
    for (int k = 0; k < 60; ++k, step *= 2) {
      const double outside = direction > 0 ? std::min(centre + step, limit) : std::max(centre + step, limit);
      const double d_outside = value(outside);
      if (d_outside >= 0) return found{find_root(value, inside, outside, d_inside, d_outside, 1e-12, 200).x, 0, false};
      if (outside == limit) return found{limit, 0, false};
      inside = outside;
      d_inside = d_outside;
    }
    return found{limit, 0, false};
  };
  glmm_intervals out;
  const found mu_lower = end(true, -1, -infinity, nullptr);
  out.mu_lower = mu_lower.p;
  out.mu_upper = end(true, 1, infinity, &mu_lower).p;
  const found tau_lower = e.boundary ? found{0.0, 0, false} : end(false, -1, 0.0, nullptr);
  const double tau_upper = end(false, 1, infinity, &tau_lower).p;
  out.tau2_lower = tau_lower.p * tau_lower.p;
  out.tau2_upper = tau_upper * tau_upper;
  return out;
}

template <class Likelihood>
double glmm_profile_over_mu(const glmm_groups<Likelihood>& data, double tau, double& mu)
{
  return profile(data, false, tau, mu).value;
}

#define SHRINK_GLMM_LIKELIHOOD(L)                                                                  \
  template marginal_sums glmm_marginal<L>(const glmm_groups<L>&, double, double);                 \
  template glmm_estimate glmm_ml<L>(const glmm_groups<L>&, double, double, double, int);                       \
  template glmm_intervals glmm_profile_intervals<L>(const glmm_groups<L>&, const glmm_estimate&, double, double); \
  template double glmm_profile_over_mu<L>(const glmm_groups<L>&, double, double&);
SHRINK_GLMM_LIKELIHOOD(logit_normal)
SHRINK_GLMM_LIKELIHOOD(log_normal)
#undef SHRINK_GLMM_LIKELIHOOD

}  // namespace shrink::detail
