#include "api/count_fit.hpp"

#include "api/numerics.hpp"
#include "common/moments.hpp"
#include "cpu/parallel.hpp"

#include <shrink/error.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace shrink::detail {
namespace {

constexpr double infinity = std::numeric_limits<double>::infinity();
constexpr double not_available = std::numeric_limits<double>::quiet_NaN();

/// Concentrations beyond this are the boundary (infinity): the prior's spread, ~1/sqrt of it, is
/// then below 1e-6 of the mean, far inside the noise of any real data.
constexpr double boundary_concentration = 1e12;
/// Concentrations beyond this where Newton's method fails to settle are taken as the boundary: the
/// prior's spread is then below 1e-3 of the mean.
constexpr double flat_concentration = 1e6;
/// The working parameters' ranges for the profile intervals: beyond them an interval is open.
constexpr double link_range = 40, log_concentration_floor = -40;

struct pair_hash {
  std::size_t operator()(const std::pair<double, double>& p) const
  {
    return std::hash<double>()(p.first) * 0x9E3779B97F4A7C15ull ^ std::hash<double>()(p.second);
  }
};

struct summary_sums {
  double count = 0, size = 0, inverse_size = 0, log_constants = 0;
  moments rates;  ///< weighted: the weight is the number of groups

  friend summary_sums operator+(const summary_sums& a, const summary_sums& b)
  {
    return {a.count + b.count, a.size + b.size, a.inverse_size + b.inverse_size, a.log_constants + b.log_constants,
            a.rates + b.rates};
  }
};

template <class Family>
working_terms terms_at(const count_groups<Family>& data, double u, double v)
{
  const parameter_map p = Family::natural(u, v);
  return to_working(marginal_at(data, p.a, p.b), p);
}

/// The log-likelihood at concentration = infinity and the pooled mean, constants included.
template <class Family>
double pooled_log_likelihood(const count_totals& t)
{
  return Family::limit(t.count, t.size, t.count / t.size) + t.log_constants;
}

/// The likelihood-ratio test of concentration = infinity, on the boundary of the parameter space:
/// the statistic's null distribution is the 50:50 mixture of chi-square(0) and chi-square(1) (Self
/// and Liang 1987), so p = P(chi2_1 > s) / 2 for s > 0, and 1 at s = 0.
template <class Family>
void set_overdispersion_test(count_estimate& e, const count_totals& t)
{
  e.lrt_statistic = e.boundary ? 0.0 : std::max(0.0, 2 * (e.log_likelihood - pooled_log_likelihood<Family>(t)));
  e.lrt_p_value = e.lrt_statistic > 0 ? 0.5 * incomplete_gamma(0.5, 0.5 * e.lrt_statistic, true) : 1.0;
}

template <class Family>
void set_boundary(count_estimate& e, double mean, const count_totals& t)
{
  e.boundary = true;
  e.a = e.b = e.concentration = infinity;
  e.mean = mean;
  e.se_log_concentration = not_available;
  e.log_likelihood = pooled_log_likelihood<Family>(t);
}

template <class Family>
void check_has_maximum(const count_totals& t)
{
  SHRINK_EXPECTS(t.count > 0, std::string("every group's count is 0: the ") + Family::name +
                                " likelihood has no maximum (the prior mean would be 0)");
  SHRINK_EXPECTS(!Family::bounded_mean || t.count < t.size,
                 std::string("every group has only successes: the ") + Family::name +
                   " likelihood has no maximum (the prior mean would be 1)");
}

/// The profile log-likelihood (without constants) at u fixed (maximised over v) or at v fixed
/// (over u), by Newton's method in the free parameter with step halving; over v it may run to the
/// boundary, whose limit is the likelihood without over-dispersion at the mean.
template <class Family>
double profile_value(const count_groups<Family>& data, const count_totals& t, bool fix_mean, double fixed, double start)
{
  const double v_cap = std::log(boundary_concentration);
  double free = start;
  const auto at = [&](double f) { return fix_mean ? terms_at(data, fixed, f) : terms_at(data, f, fixed); };
  bool boundary = false;
  const working_terms here = maximise_along(
    at, free, [&](const working_terms& x) { return fix_mean ? std::pair(x.g_v, x.h_vv) : std::pair(x.g_u, x.h_uu); }, 1e-12,
    [&](double f, const working_terms& x) { return boundary = fix_mean && f > v_cap && x.g_v > 0; });
  return boundary ? Family::limit(t.count, t.size, Family::mean_of(fixed)) : here.value;
}

/// One end of a profile-likelihood interval by Newton's method on the pair of equations
/// g_q(p, q) = 0 (q maximises the likelihood at p) and l(p, q) = target (Venzon and Moolgavkar
/// 1988): one reduction a step, started from the quadratic approximation's end. Nothing when a step
/// is not finite, the iterate crosses to the other side of the maximum, or it does not settle: the
/// caller then brackets the end instead.
template <class Family>
std::optional<double> profile_end_newton(const count_groups<Family>& data, bool p_is_mean, double p_hat, double q_hat,
                                         const working_terms& at_hat, double direction, double half_crit)
{
  const double hpp = p_is_mean ? at_hat.h_uu : at_hat.h_vv, hqq = p_is_mean ? at_hat.h_vv : at_hat.h_uu;
  const double det_hat = hpp * hqq - at_hat.h_uv * at_hat.h_uv;
  const double v_pp = -hqq / det_hat, v_pq = at_hat.h_uv / det_hat;  // (-H)^-1
  if (!(v_pp > 0) || !(det_hat > 0)) return std::nullopt;
  const double target = at_hat.value - half_crit;
  const double first = direction * std::sqrt(2 * half_crit * v_pp);
  double p = p_hat + first, q = q_hat + v_pq / v_pp * first;
  for (int iteration = 0; iteration < 50; ++iteration) {
    const working_terms w = p_is_mean ? terms_at(data, p, q) : terms_at(data, q, p);
    const double g_p = p_is_mean ? w.g_u : w.g_v, g_q = p_is_mean ? w.g_v : w.g_u;
    const double h_qq = p_is_mean ? w.h_vv : w.h_uu, h_pq = w.h_uv;
    const double f1 = g_q, f2 = w.value - target;
    const double det = h_pq * g_q - h_qq * g_p;
    const double dp = (-f1 * g_q + h_qq * f2) / det, dq = (-h_pq * f2 + g_p * f1) / det;
    if (!std::isfinite(dp) || !std::isfinite(dq)) return std::nullopt;
    p += dp;
    q += dq;
    if (direction * (p - p_hat) <= 0) return std::nullopt;
    if (std::abs(dp) <= 1e-11 * (1 + std::abs(p)) && std::abs(dq) <= 1e-11 * (1 + std::abs(q))) return p;
  }
  return std::nullopt;
}

}  // namespace

template <class Family>
marginal_sums marginal_at(const count_groups<Family>& data, double a, double b)
{
  if (data.device != nullptr) return data.device->marginal(a, b);
  const marginal_term<Family> term{data.groups, data.weights, a, b};
  return reduce<marginal_sums>(data.count, data.threads, [&](std::size_t j) { return term(j); });
}

template <class Family>
void marginal_values(const count_groups<Family>& data, const double* a, const double* b, std::size_t pairs, double* out)
{
  if (data.device != nullptr) return data.device->marginal_values(a, b, pairs, out);
  const auto value_at = [&](std::size_t k, int threads) {
    const marginal_value_term<Family> term{data.groups, data.weights, a[k], b[k]};
    return reduce<double>(data.count, threads, term);
  };
  // Few entries: one pair per thread (each reduction alone is too small to split); else each
  // reduction on all threads. The tree, and so the bits, are the same.
  if (data.count < 4 * fixed_tile * fixed_tile) {
    for_each_block(pairs, 1, thread_count(data.threads), [&](std::size_t k, std::size_t, std::size_t) { out[k] = value_at(k, 1); });
  } else {
    for (std::size_t k = 0; k < pairs; ++k) out[k] = value_at(k, data.threads);
  }
}

template <class Family>
count_totals count_summaries(const count_groups<Family>& data)
{
  const summary_sums s = reduce<summary_sums>(data.count, data.threads, [&](std::size_t j) {
    const typename Family::group& g = data.groups[j];
    const double w = data.weight(j);
    summary_sums one{w * g.count, w * g.size, w / g.size, w * Family::log_constant(g), {}};
    one.rates.add(g.count / g.size, w);
    return one;
  });
  count_totals t;
  t.groups = s.rates.weight;
  t.count = s.count;
  t.size = s.size;
  t.rate_mean = s.rates.mean;
  t.rate_variance = t.groups > 1 ? s.rates.m2 / (t.groups - 1) : 0.0;
  t.mean_inverse_size = t.groups > 0 ? s.inverse_size / t.groups : 0.0;
  t.log_constants = s.log_constants;
  return t;
}

template <class Family>
count_estimate count_moments(const count_groups<Family>& data, const count_totals& t)
{
  SHRINK_EXPECTS(t.groups >= 2, "the method of moments needs at least 2 groups");
  check_has_maximum<Family>(t);
  count_estimate e;
  e.se_link_mean = e.se_log_concentration = not_available;
  const double m = t.rate_mean, v = t.rate_variance;
  const double nu = v > 0 ? Family::concentration_from_moments(m, v, t.mean_inverse_size) : infinity;
  if (!(nu > 0) || nu > boundary_concentration || m <= 0 || (Family::bounded_mean && m >= 1)) {
    set_boundary<Family>(e, m, t);
  } else {
    const parameter_map p = Family::natural(Family::link(m), std::log(nu));
    e.a = p.a;
    e.b = p.b;
    e.mean = m;
    e.concentration = nu;
    e.log_likelihood = terms_at(data, Family::link(m), std::log(nu)).value + t.log_constants;
  }
  set_overdispersion_test<Family>(e, t);
  return e;
}

template <class Family>
count_estimate count_fixed(const count_groups<Family>& data, const count_totals& t, double a, double b)
{
  // Both families' mean and concentration from (a, b): binomial a / (a + b) and a + b; Poisson
  // a / b and a. The working parameters then reproduce (a, b) through Family::natural.
  count_estimate e;
  e.a = a;
  e.b = b;
  e.mean = Family::bounded_mean ? a / (a + b) : a / b;
  e.concentration = Family::bounded_mean ? a + b : a;
  e.se_link_mean = e.se_log_concentration = not_available;
  e.log_likelihood = marginal_at(data, a, b).value + t.log_constants;
  set_overdispersion_test<Family>(e, t);
  return e;
}

template <class Family>
count_estimate count_ml(const count_groups<Family>& data, const count_totals& t, int max_iterations)
{
  SHRINK_EXPECTS(t.groups >= 2, "ml needs at least 2 groups");
  check_has_maximum<Family>(t);
  if (Family::bounded_mean) {
    // One trial per group: P(y_j = 1) = m whatever nu, so the likelihood is flat in nu. Counts all
    // 0 or n_j: it rises as nu falls to 0 (no pooling), a supremum no prior attains.
    bool one_trial = true, extreme = true;
    for (std::size_t i = 0; i < data.count; ++i) {
      one_trial = one_trial && data.groups[i].size == 1;
      extreme = extreme && (data.groups[i].count == 0 || data.groups[i].count == data.groups[i].size);
    }
    SHRINK_EXPECTS(!one_trial, one_trial_not_identified);
    SHRINK_EXPECTS(!extreme, "every group's successes are 0 or all its trials: the likelihood rises as the concentration "
                             "falls to 0, the no-pooling limit (each rate its own y_j / n_j), so ml has no finite estimate");
  }

  // Start from the moment estimate, its concentration kept finite so that Newton can move either way.
  const double pooled = t.count / t.size;
  double m = t.rate_mean > 0 && (!Family::bounded_mean || t.rate_mean < 1) ? t.rate_mean : pooled;
  double nu = t.rate_variance > 0 ? Family::concentration_from_moments(m, t.rate_variance, t.mean_inverse_size) : 1e3;
  if (!(nu > 0.01 && nu < 1e6)) nu = nu > 0.01 ? 1e6 : 1.0;
  double u = Family::link(m), v = std::log(nu);

  count_estimate e;
  const newton_state s = newton_maximise([&](double uu, double vv) { return terms_at(data, uu, vv); }, u, v, max_iterations,
                                         [](const newton_state& x) {
                                           // Heading to infinity, or the boundary's flat approach
                                           // (derivatives lost beyond flat_concentration: below).
                                           return (x.v > std::log(boundary_concentration) && x.at.g_v > 0) ||
                                                  (!std::isfinite(x.at.value + x.at.g_u + x.at.g_v + x.at.h_uu + x.at.h_uv + x.at.h_vv) &&
                                                   x.v > std::log(flat_concentration));
                                         },
                                         std::string("ml: the ") + Family::name + " likelihood's derivatives");
  u = s.u;
  v = s.v;
  const working_terms& at = s.at;
  const bool converged = s.converged;
  e.iterations = s.iterations;
  m = Family::mean_of(u);
  nu = std::exp(v);
  // The maximum lies on the boundary when the likelihood without over-dispersion (at the pooled
  // rate) is at least as high as where Newton stopped: it was still climbing towards infinity,
  // ever more slowly (l = l_inf - C / nu), which no step-size test tells from convergence.
  const double l_inf = Family::limit(t.count, t.size, pooled);
  // Beyond flat_concentration a search that did not settle has been creeping towards infinity: the
  // likelihood there is within ~1e-8 of its limit and its derivatives are rounding noise (in
  // simulation studies a replicate or two in a thousand).
  const bool crept_out = !converged && v > std::log(flat_concentration);
  if (nu > boundary_concentration || crept_out || !(at.value > l_inf + 1e-13 * std::abs(l_inf))) {
    set_boundary<Family>(e, pooled, t);
  } else {
    SHRINK_EXPECTS(converged, "ml: Newton's method did not converge in " + std::to_string(max_iterations) + " iterations");
    const parameter_map p = Family::natural(u, v);
    e.a = p.a;
    e.b = p.b;
    e.mean = m;
    e.concentration = nu;
    e.log_likelihood = at.value + t.log_constants;
    // Standard errors from the observed information -H in (u, v).
    const double det = at.h_uu * at.h_vv - at.h_uv * at.h_uv;
    e.se_link_mean = std::sqrt(-at.h_vv / det);
    e.se_log_concentration = std::sqrt(-at.h_uu / det);
  }
  set_overdispersion_test<Family>(e, t);
  return e;
}

template <class Family>
count_intervals count_profile_intervals(const count_groups<Family>& data, const count_totals& t, const count_estimate& e,
                                        double level)
{
  // -2 log likelihood ratio <= the chi-square(1) quantile at `level`: P(1/2, c/2) = level.
  const double half_crit = inverse_incomplete_gamma(0.5, level);
  const double l_hat = e.log_likelihood - t.log_constants;
  const double u_hat = Family::link(e.mean);
  const double v_cap = std::log(boundary_concentration);
  const double v_hat = e.boundary ? v_cap : std::log(e.concentration);
  // For each parameter and side: Newton on the end's two equations; where that fails (an end near
  // the boundary or open), step outwards (doubling) until the deficit passes half_crit or the range
  // ends (the interval is then open there), and solve deficit = half_crit between.
  const working_terms at_hat = terms_at(data, u_hat, v_hat);
  const auto solve = [&](bool fix_mean, double centre, double other, double first_step, double range_end) {
    if (!e.boundary)
      if (const auto end = profile_end_newton(data, fix_mean, centre, other, at_hat, first_step > 0 ? 1.0 : -1.0, half_crit))
        if (first_step > 0 ? *end < range_end : *end > range_end) return *end;
    const auto deficit = [&](double p) { return l_hat - profile_value(data, t, fix_mean, p, other) - half_crit; };
    double inside = centre, d_inside = -half_crit, step = first_step;
    for (int k = 0; k < 60; ++k, step *= 2) {
      const double outside = first_step > 0 ? std::min(centre + step, range_end) : std::max(centre + step, range_end);
      const double d_outside = deficit(outside);
      if (d_outside >= 0) return find_root(deficit, inside, outside, d_inside, d_outside, 1e-10, 200).x;
      if (outside == range_end) return range_end;
      inside = outside;
      d_inside = d_outside;
    }
    return range_end;
  };
  const double su = std::isfinite(e.se_link_mean) && e.se_link_mean > 0 ? e.se_link_mean : 0.1;
  const double sv = std::isfinite(e.se_log_concentration) && e.se_log_concentration > 0 ? e.se_log_concentration : 0.5;
  const double v_start = e.boundary ? std::log(1e6) : v_hat;
  const double u_lo = solve(true, u_hat, v_start, -su, u_hat - link_range);
  const double u_hi = solve(true, u_hat, v_start, su, u_hat + link_range);
  count_intervals out;
  out.mean_lower = u_lo <= u_hat - link_range ? Family::mean_of(-infinity) : Family::mean_of(u_lo);
  out.mean_upper = u_hi >= u_hat + link_range ? Family::mean_of(infinity) : Family::mean_of(u_hi);
  const double v_lo = solve(false, v_hat, u_hat, -sv, log_concentration_floor);
  const double v_hi = e.boundary ? v_cap : solve(false, v_hat, u_hat, sv, v_cap);
  out.concentration_lower = v_lo <= log_concentration_floor ? 0.0 : std::exp(v_lo);
  out.concentration_upper = v_hi >= v_cap ? infinity : std::exp(v_hi);
  return out;
}

template <class Family>
double profile_over_mean(const count_groups<Family>& data, double v, double& u)
{
  return maximise_along([&](double f) { return terms_at(data, f, v); }, u,
                        [](const working_terms& x) { return std::pair(x.g_u, x.h_uu); }, 1e-12,
                        [](double, const working_terms&) { return false; })
    .value;
}

namespace {

/// gather_distinct where every size and count is a whole number and (max size + 1) (max count + 1)
/// is at most 2 J + 65536 (binomial trials up to a few hundred): a table indexed by (size, count),
/// whose order is the entries' sorted order, counts the groups and holds each pair's first group
/// and then its rank: no hashing. The same entries, weights and ranks as the general path. False
/// (and `out` untouched) where the pairs do not fit.
template <class Family>
bool gather_dense(const std::vector<typename Family::group>& groups, distinct_groups<Family>& out)
{
  double max_size = 0, max_count = 0;
  for (const auto& g : groups) {
    if (!(g.size >= 0 && g.count >= 0 && g.size <= 1e9 && g.count <= 1e9 && g.size == std::floor(g.size) &&
          g.count == std::floor(g.count)))
      return false;
    max_size = std::max(max_size, g.size);
    max_count = std::max(max_count, g.count);
  }
  const std::size_t counts = static_cast<std::size_t>(max_count) + 1;
  const double cells = (max_size + 1) * static_cast<double>(counts);
  if (cells > 2.0 * static_cast<double>(groups.size()) + 65536) return false;
  const auto cell_of = [&](std::size_t j) {
    return static_cast<std::size_t>(groups[j].size) * counts + static_cast<std::size_t>(groups[j].count);
  };
  std::vector<std::uint32_t> members(static_cast<std::size_t>(cells), 0), first(static_cast<std::size_t>(cells), 0);
  for (std::size_t j = 0; j < groups.size(); ++j) {
    const std::size_t c = cell_of(j);
    if (members[c]++ == 0) first[c] = static_cast<std::uint32_t>(j);
  }
  for (std::size_t c = 0; c < members.size(); ++c)
    if (members[c] > 0) {
      out.groups.push_back(groups[first[c]]);
      out.weights.push_back(members[c]);
      first[c] = static_cast<std::uint32_t>(out.groups.size() - 1);  // now the rank
    }
  out.entry_of.resize(groups.size());
  for (std::size_t j = 0; j < groups.size(); ++j) out.entry_of[j] = first[cell_of(j)];
  return true;
}

}  // namespace

template <class Family>
distinct_groups<Family> gather_distinct(const std::vector<typename Family::group>& groups)
{
  using group = typename Family::group;
  {
    distinct_groups<Family> out;
    if (gather_dense<Family>(groups, out)) return out;
  }
  const auto less = [](const group& x, const group& y) { return x.size < y.size || (x.size == y.size && x.count < y.count); };
  // The distinct pairs in the order first seen (one hash lookup a group), then sorted (few where
  // gathering pays; when most groups are distinct, a sort of them all): a group's entry is the rank
  // of its pair.
  std::unordered_map<std::pair<double, double>, std::uint32_t, pair_hash> index;
  index.reserve(1024);
  std::vector<group> seen;
  std::vector<std::uint32_t> seen_of(groups.size());
  for (std::size_t j = 0; j < groups.size(); ++j) {
    const auto inserted = index.emplace(std::make_pair(groups[j].size, groups[j].count), static_cast<std::uint32_t>(seen.size()));
    if (inserted.second) seen.push_back(groups[j]);
    seen_of[j] = inserted.first->second;
  }
  std::vector<std::uint32_t> order(seen.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return less(seen[a], seen[b]); });
  distinct_groups<Family> out;
  std::vector<std::uint32_t> rank(seen.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    out.groups.push_back(seen[order[i]]);
    rank[order[i]] = static_cast<std::uint32_t>(i);
  }
  out.weights.assign(out.groups.size(), 0.0);
  out.entry_of.resize(groups.size());
  for (std::size_t j = 0; j < groups.size(); ++j) {
    const std::uint32_t i = rank[seen_of[j]];
    out.entry_of[j] = i;
    out.weights[i] += 1;
  }
  return out;
}

// The families: one line each.
#define SHRINK_COUNT_FAMILY(F)                                                                                      \
  template marginal_sums marginal_at<F>(const count_groups<F>&, double, double);                                    \
  template void marginal_values<F>(const count_groups<F>&, const double*, const double*, std::size_t, double*);     \
  template count_totals count_summaries<F>(const count_groups<F>&);                                                 \
  template count_estimate count_moments<F>(const count_groups<F>&, const count_totals&);                            \
  template count_estimate count_fixed<F>(const count_groups<F>&, const count_totals&, double, double);              \
  template count_estimate count_ml<F>(const count_groups<F>&, const count_totals&, int);                            \
  template count_intervals count_profile_intervals<F>(const count_groups<F>&, const count_totals&, const count_estimate&, \
                                                      double);                                                          \
  template distinct_groups<F> gather_distinct<F>(const std::vector<F::group>&);                                     \
  template double profile_over_mean<F>(const count_groups<F>&, double, double&);
SHRINK_COUNT_FAMILY(beta_binomial)
SHRINK_COUNT_FAMILY(gamma_poisson)
#undef SHRINK_COUNT_FAMILY

}  // namespace shrink::detail
