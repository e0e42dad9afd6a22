#pragma once
// The count families' hyperparameter estimators on the host (issue 11), generic over the family
// (src/common/families/: beta_binomial, gamma_poisson): the method of moments on the observed
// rates, a fixed prior, and maximum likelihood by Newton's method on the working parameters
// (u, v) = (link of the prior mean, log concentration), with profile-likelihood intervals. The sums
// over groups go through the CPU's fixed-shape reduction (the same SHRINK_HD terms a GPU engine
// would reduce).

#include "common/families/beta_binomial.hpp"
#include "common/families/gamma_poisson.hpp"

#include <shrink/error.hpp>

#include <cmath>
#include <utility>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace shrink::detail {

/// The groups as the estimators see them: `count` entries, each standing for weights[i] identical
/// groups (weights null: one each). Every sum over groups is a sum over entries of weight x term,
/// so groups that share their counts (common where trials or exposures are small) cost one term.
/// The conjugate priors' (count_groups) and the normal prior's on the link scale (glmm_groups, with
/// its quadrature rule) differ only in their `Device`.
template <class Group, class Device>
struct weighted_entries {
  const Group* groups = nullptr;
  std::size_t count = 0;
  int threads = 0;
  const double* weights = nullptr;
  Device* device = nullptr;  ///< where the sums over entries run (null: the CPU)

  double weight(std::size_t i) const { return weights != nullptr ? weights[i] : 1.0; }
};

template <class Family>
class count_device;

template <class Family>
using count_groups = weighted_entries<typename Family::group, count_device<Family>>;

/// The CUDA backend's side of a count family (src/cuda/count_engine.cu): the entries and their
/// weights held on the device, the marginal sums reduced there by the same fixed tree as the CPU's,
/// and the posteriors computed there, by the same SHRINK_HD formulas: the CPU's bits.
template <class Family>
class count_device {
 public:
  virtual ~count_device() = default;
  virtual marginal_sums marginal(double a, double b) = 0;
  /// out[i] = Family::posterior_of(entry i, a, b, tail) for every entry.
  virtual void posteriors(double a, double b, double tail, count_posterior* out) = 0;
  /// out[k] = the sum over entries of the marginal log-likelihood's value at (a[k], b[k]), k < pairs:
  /// the full-Bayes grid (the same tree and terms as marginal(a, b).value, so the same bits).
  virtual void marginal_values(const double* a, const double* b, std::size_t pairs, double* out) = 0;
};

/// The entries of `data` copied to the GPU (src/cuda/count_engine.cu; without CUDA, src/api/no_cuda.cpp
/// throws).
template <class Family>
std::unique_ptr<count_device<Family>> make_cuda_count_device(const count_groups<Family>& data);

/// Groups with the same counts gathered into one entry each, weighted by how many there are, in the
/// order of (size, count): a function of the groups as a multiset, so results do not depend on their
/// order. `entry_of[j]` is group j's entry.
template <class Family>
struct distinct_groups {
  std::vector<typename Family::group> groups;
  std::vector<double> weights;
  std::vector<std::uint32_t> entry_of;
};
template <class Family>
distinct_groups<Family> gather_distinct(const std::vector<typename Family::group>& groups);

/// The sums of the marginal terms over the entries at (a, b): on the device when the data have one,
/// else on the CPU threads; the same fixed tree over the same terms either way.
template <class Family>
marginal_sums marginal_at(const count_groups<Family>& data, double a, double b);

/// marginal_at(data, a[k], b[k]).value for k < pairs, in one call (one batch on the device; on the
/// CPU threads split the pairs where the entries are few). The same bits either way.
template <class Family>
void marginal_values(const count_groups<Family>& data, const double* a, const double* b, std::size_t pairs, double* out);

/// Where newton_maximise stopped: the point, the terms there, the iterations taken.
struct newton_state {
  double u = 0, v = 0;
  working_terms at;
  int iterations = 0;
  bool converged = false;
};

/// Why binomial ml refuses data whose every group has one trial: P(y_j = 1) = m whatever the
/// concentration. `shrink fit` and `shrink simulate` say the same.
inline constexpr const char* one_trial_not_identified =
  "every group has one trial: the likelihood does not depend on the concentration, which is not identified "
  "(ml needs groups of 2 or more trials)";

/// Newton's method for a maximum of a function of (u, v) whose value, gradient and Hessian
/// `evaluate(u, v)` returns (working_terms): the direction on -H, shifted (Levenberg) until it is
/// positive definite, with step halving. Converged when the Newton decrement falls below the
/// rounding of the value (max(1e-12, 1e-13 |l|)), after one more full step (Newton's convergence is
/// quadratic: it takes the iterate from ~1e-6 of the standard errors to the last digits), or when no
/// step along an unshifted Newton direction raises the value strictly (the gradient is then rounding
/// noise of the value's sums). `give_up(state)` after each step, and where the terms leave double
/// precision, may end it early; otherwise non-finite terms are an error naming `what`.
template <class Evaluate, class GiveUp>
newton_state newton_maximise(Evaluate&& evaluate, double u, double v, int max_iterations, GiveUp&& give_up,
                             const std::string& what)
{
  newton_state s;
  s.u = u;
  s.v = v;
  s.at = evaluate(u, v);
  for (int iteration = 1; iteration <= max_iterations; ++iteration) {
    s.iterations = iteration;
    const working_terms& at = s.at;
    const double a = -at.h_uu, b = -at.h_uv, c = -at.h_vv;
    const bool finite = std::isfinite(a) && std::isfinite(b) && std::isfinite(c) && std::isfinite(at.g_u) &&
                        std::isfinite(at.g_v) && std::isfinite(at.value);
    if (!finite && give_up(s)) break;
    SHRINK_EXPECTS(finite, what + " left double precision (counts or sizes too extreme?)");
    double shift = 0;
    while (!(a + shift > 0 && (a + shift) * (c + shift) - b * b > 0))
      shift = shift == 0 ? 1e-8 * (std::abs(a) + std::abs(c) + 1) : shift * 10;
    const double det = (a + shift) * (c + shift) - b * b;
    const double du = ((c + shift) * at.g_u - b * at.g_v) / det, dv = ((a + shift) * at.g_v - b * at.g_u) / det;
    // The ascent a full Newton step promises, to second order; not a test of convergence where the
    // Hessian needed a shift (the shift shrinks it without the gradient being small). The gain a
    // step can show is about decrement / 2: below ~1e-13 of |l| it drowns in the rounding of l's sums.
    const double decrement = du * at.g_u + dv * at.g_v;
    if (shift == 0 && decrement < std::max(1e-12, 1e-13 * std::abs(at.value))) {
      s.u += du;
      s.v += dv;
      s.at = evaluate(s.u, s.v);
      s.converged = true;
      break;
    }
    double step = 1;
    working_terms next = evaluate(s.u + du, s.v + dv);
    bool rises = std::isfinite(next.value) && next.value >= at.value;
    for (int halving = 1; halving < 60 && !rises; ++halving) {
      step *= 0.5;
      next = evaluate(s.u + step * du, s.v + step * dv);
      rises = std::isfinite(next.value) && next.value >= at.value;
    }
    // No step along the ascent direction of a negative definite Hessian raises l strictly: the
    // gradient is rounding noise of l's sums (their cancellation grows with the groups), so this is
    // the maximum to the precision of l (simulation studies met it in about one replicate in a thousand).
    if (shift == 0 && !(rises && next.value > at.value)) {
      s.converged = true;
      break;
    }
    s.u += step * du;
    s.v += step * dv;
    s.at = next;
    if (give_up(s)) break;
  }
  return s;
}

/// Newton's method in one parameter with step halving (a profile's inner maximisation), from
/// `free`, updated to the maximiser: `at(x)` gives the terms at x, `slope_curvature(terms)` their
/// first and second derivatives in x. Stops when the step's promised gain |g step| is below
/// `tolerance`, or when `done(x, terms)` says so after a step; returns the terms at the last point.
template <class At, class SlopeCurvature, class Done>
auto maximise_along(At&& at, double& free, SlopeCurvature&& slope_curvature, double tolerance, Done&& done)
{
  auto here = at(free);
  for (int iteration = 0; iteration < 100; ++iteration) {
    const auto [g, h] = slope_curvature(here);
    double step = h < 0 ? -g / h : (g > 0 ? 1.0 : -1.0);
    if (std::abs(g * step) < tolerance) break;
    decltype(here) next{};
    for (int halving = 0; halving < 60; ++halving, step *= 0.5) {
      next = at(free + step);
      if (std::isfinite(next.value) && next.value >= here.value) break;
    }
    free += step;
    here = next;
    if (done(free, here)) break;
  }
  return here;
}

/// The log-likelihood (without constants) at log concentration v maximised over u, by Newton's
/// method from `u` (updated to the maximiser): the profile along the concentration that the
/// figures draw (`shrink fit --plot`).
template <class Family>
double profile_over_mean(const count_groups<Family>& data, double v, double& u);

/// Sums of the data the estimators start from.
struct count_totals {
  double groups = 0;               ///< the number of groups (the sum of the entries' weights)
  double count = 0, size = 0;      ///< over all groups: complete pooling's rate is their ratio
  double rate_mean = 0;            ///< mean of the rates y_j / size_j
  double rate_variance = 0;        ///< their sample variance (divisor J - 1)
  double mean_inverse_size = 0;    ///< mean of 1 / size_j (the Poisson moment estimator's noise term)
  double log_constants = 0;        ///< sum of the families' constants, for the reported log-likelihood
};

template <class Family>
count_totals count_summaries(const count_groups<Family>& data);

struct count_estimate {
  double a = 0, b = 0;           ///< the prior's natural parameters (alpha, beta or shape, rate); infinite on the boundary
  double mean = 0;               ///< the prior mean m
  double concentration = 0;      ///< nu = alpha + beta, or the gamma's shape (infinite: no over-dispersion)
  double se_link_mean = 0;       ///< from the observed information in (u, v); NaN when not ml
  double se_log_concentration = 0;
  double log_likelihood = 0;     ///< with the families' constants
  double lrt_statistic = 0;      ///< 2 (l - l at concentration = infinity): no over-dispersion
  double lrt_p_value = 1;        ///< chi-bar-square: half a chi-square(1) tail (the boundary)
  int iterations = 0;
  bool boundary = false;         ///< concentration = infinity: partial pooling is complete pooling
};

/// The method of moments on the observed rates; no spread beyond the likelihood's noise gives the
/// boundary (concentration = infinity).
template <class Family>
count_estimate count_moments(const count_groups<Family>& data, const count_totals& totals);

/// The prior given in natural parameters (a, b), with its log-likelihood and the over-dispersion test.
template <class Family>
count_estimate count_fixed(const count_groups<Family>& data, const count_totals& totals, double a, double b);

/// Maximum likelihood: Newton on (u, v) from the moment estimate, with step halving and a Levenberg
/// shift where the Hessian is not negative definite; converged when the Newton decrement falls below
/// max(1e-12, 1e-13 |l|), or when no step raises l strictly (the gradient is then rounding noise); a
/// search that fails beyond a concentration of 1e6 is the boundary. All counts 0 (or, binomial, all
/// successes) is an error: no finite maximum.
template <class Family>
count_estimate count_ml(const count_groups<Family>& data, const count_totals& totals, int max_iterations = 200);

/// Profile-likelihood intervals at `level` for m and the concentration (each maximised over the
/// other): where 2 (l_max - l_profile) stays below the chi-square(1) quantile. An end the likelihood
/// never leaves the set at is open: the mean's range end, 0 or infinity for the concentration.
struct count_intervals {
  double mean_lower = 0, mean_upper = 0;
  double concentration_lower = 0, concentration_upper = 0;
};
template <class Family>
count_intervals count_profile_intervals(const count_groups<Family>& data, const count_totals& totals,
                                        const count_estimate& estimate, double level);

}  // namespace shrink::detail
