// Full Bayes over the count families' hyperparameters (see count_bayes.hpp for the quadrature).

#include "api/count_bayes.hpp"

#include "common/quadrature.hpp"
#include "common/special.hpp"

#include <shrink/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace shrink::detail {
namespace {

constexpr double infinity = std::numeric_limits<double>::infinity();
/// Points of the 2-D lattice beyond which the quadrature gives up (a posterior it cannot resolve).
constexpr std::size_t max_lattice_points = 400000;
/// A line integral across a 1-D marginal stops where its terms fall below this of its largest.
constexpr double line_cutoff = 1e-15;

/// log p(u, v) of the hyperprior (the Jacobian of (m, nu) -> (u, v) included) and its derivatives;
/// the two parts are independent, so there is no cross term.
struct prior_terms {
  double value = 0, d_u = 0, d_v = 0, d_uu = 0, d_vv = 0;
};

template <class Family>
prior_terms log_hyperprior(const count_hyperprior& p, double u, double v, double log_unit)
{
  using mean_kind = count_hyperprior::mean_kind;
  prior_terms t;
  if constexpr (Family::bounded_mean) {
    // m ~ Beta(A, B) (the default: A = B = 1, uniform) times dm/du = m (1 - m).
    const double A = p.mean == mean_kind::beta ? p.mean_a : 1.0, B = p.mean == mean_kind::beta ? p.mean_b : 1.0;
    const double m = Family::mean_of(u);
    const double log_m = -portable_log1p(portable_exp(-u)), log_1m = -portable_log1p(portable_exp(u));
    t.value = A * log_m + B * log_1m - log_beta(A, B);
    t.d_u = A * (1 - m) - B * m;
    t.d_uu = -(A + B) * m * (1 - m);
  } else {
    const double w = u - log_unit;  // log m in the data's units
    if (p.mean == mean_kind::gamma) {  // m ~ Gamma(S, R) times dm/du = m
      const double S = p.mean_a, R = p.mean_b, rm = R * portable_exp(w);
      t.value = S * portable_log(R) - log_gamma(S) + S * w - rm;
      t.d_u = S - rm;
      t.d_uu = -rm;
    } else if (p.mean == mean_kind::log_normal) {  // log m ~ N(mu, sigma^2)
      const double z = (w - p.mean_a) / p.mean_b;
      t.value = -0.5 * z * z - portable_log(p.mean_b) - special_detail::half_log_two_pi;
      t.d_u = -z / p.mean_b;
      t.d_uu = -1 / (p.mean_b * p.mean_b);
    }  // the default p(m) ~ 1/m is flat in u
  }
  if (p.concentration == count_hyperprior::concentration_kind::exponential) {
    const double r = portable_exp(v) / p.scale;  // nu ~ exponential(mean S) times dnu/dv = nu
    t.value += v - portable_log(p.scale) - r;
    t.d_v = 1 - r;
    t.d_vv = -r;
  } else {
    t.value -= 0.5 * v;  // nu^(-3/2) times nu
    t.d_v = -0.5;
  }
  return t;
}

/// Whether the hyperprior integrates to one (then the log marginal likelihood is reported).
template <class Family>
bool proper(const count_hyperprior& p)
{
  return (Family::bounded_mean || p.mean != count_hyperprior::mean_kind::standard) &&
         p.concentration != count_hyperprior::concentration_kind::standard;
}

/// Under p(m) ~ 1/m the posterior of log m keeps a polynomial tail: where the shape -> 0 the
/// likelihood falls only as m^(-J shape) (and as shape^k, k the groups with a count), so log m's
/// density falls as (log m)^-(k - 1/2) (with an exponential prior on the shape, (log m)^-(k + 1)).
/// The lattice reaches such a tail, to the 1e-10 of its second moment that the sds need, within its
/// max_lattice_points only where it falls at least as fast as (log m)^-min_tail_exponent (the pumps'
/// first 9 groups: 258,000 points; their first 8: more than 400,000). A slower tail is refused at
/// once, not after minutes of growth.
constexpr double min_tail_exponent = 8.5;

template <class Family>
void check_tail_reachable(const count_hyperprior& p, double informative)
{
  if (Family::bounded_mean || p.mean != count_hyperprior::mean_kind::standard) return;
  const bool exponential = p.concentration == count_hyperprior::concentration_kind::exponential;
  const double exponent = exponential ? informative + 1 : informative - 0.5;
  if (exponent >= min_tail_exponent) return;
  throw error(fmt::format("bayes: the posterior is too diffuse for the quadrature: under the default p(m) ~ 1/m its "
                          "density in log m falls only as (log m)^-{} ({} groups with a count; the grid needs at least "
                          "{}, or {} with an exponential prior on the shape); give a proper prior on the mean, e.g. "
                          "--hyperprior \"mean=gamma:1,1\"",
                          exponent, informative, std::ceil(min_tail_exponent + 0.5), std::ceil(min_tail_exponent - 1)));
}

/// The default hyperprior's improper parts need data about them (BDA3 5.3; exercise 5.9 shows
/// flatter priors that stay improper): p(nu) ~ nu^(-3/2) near nu = 0 is integrable only against
/// the likelihood's nu^k there, k the groups with 0 < y < n (binomial) or y > 0 (poisson); the
/// Poisson's p(m) ~ 1/m as m grows needs one such group more (the likelihood falls as
/// m^(-J shape), which is flat where shape -> 0).
template <class Family>
double check_proper(const count_groups<Family>& data, const count_hyperprior& p)
{
  int needed = p.concentration == count_hyperprior::concentration_kind::standard ? 1 : 0;
  if (!Family::bounded_mean && p.mean == count_hyperprior::mean_kind::standard) ++needed;
  double informative = 0;
  for (std::size_t i = 0; i < data.count; ++i) {
    const auto& g = data.groups[i];
    if (g.count > 0 && (!Family::bounded_mean || g.count < g.size)) informative += data.weight(i);
  }
  if (informative >= needed) {
    check_tail_reachable<Family>(p, informative);
    return informative;
  }
  if (Family::bounded_mean)
    throw error("bayes: the posterior is improper: under the default hyperprior on the concentration (p ~ nu^(-3/2), "
                "BDA3 5.3) it needs a group with 0 < successes < trials; give a proper one, e.g. --hyperprior "
                "\"concentration=exp:100\"");
  throw error("bayes: the posterior is improper: under the hyperprior's default parts (p(m) ~ 1/m, p(shape) ~ "
              "shape^(-3/2)) it needs at least " + std::to_string(needed) +
              " groups with a count > 0; give a proper one, e.g. --hyperprior \"mean=gamma:1,1;concentration=exp:10\"");
}

/// The log posterior density of (u, v), up to a constant.
template <class Family>
struct posterior_density {
  const count_groups<Family>& data;
  const count_hyperprior& prior;
  double log_unit;

  /// With its gradient and Hessian, for Newton's method.
  working_terms terms(double u, double v) const
  {
    const parameter_map p = Family::natural(u, v);
    working_terms w = to_working(marginal_at(data, p.a, p.b), p);
    const prior_terms t = log_hyperprior<Family>(prior, u, v, log_unit);
    w.value += t.value;
    w.g_u += t.d_u;
    w.g_v += t.d_v;
    w.h_uu += t.d_uu;
    w.h_vv += t.d_vv;
    return w;
  }

  /// The values at many points, one batch of marginal sums (not finite: -infinity).
  std::vector<double> values(const std::vector<std::pair<double, double>>& points) const
  {
    const std::size_t n = points.size();
    std::vector<double> a(n), b(n), out(n);
    for (std::size_t k = 0; k < n; ++k) {
      const parameter_map p = Family::natural(points[k].first, points[k].second);
      a[k] = p.a;
      b[k] = p.b;
    }
    marginal_values(data, a.data(), b.data(), n, out.data());
    for (std::size_t k = 0; k < n; ++k) {
      out[k] += log_hyperprior<Family>(prior, points[k].first, points[k].second, log_unit).value;
      if (!std::isfinite(out[k])) out[k] = -infinity;
    }
    return out;
  }
};

/// The working parameters as affine functions of standard coordinates: (u, v) = mode + L z.
struct standardisation {
  double u0 = 0, v0 = 0;
  double l11 = 0, l21 = 0, l22 = 0;           ///< the Cholesky factor of the inverse of -H
  double h_uu = 0, h_uv = 0, h_vv = 0;        ///< -H at the mode
  std::pair<double, double> at(double z1, double z2) const { return {u0 + l11 * z1, v0 + l21 * z1 + l22 * z2}; }
};

/// A point of the lattice: where, and its log density.
struct lattice_point {
  double u, v, log_density;
};

/// A 1-D marginal: w = u with the line across it along v, or w = v - f(u) with the line along u
/// (v = w + f(u): a shift, Jacobian 1).
struct marginal_axis {
  bool across_v = true;
  double (*f)(double u) = nullptr;
  double (*f_prime)(double u) = nullptr;

  double w_of(double u, double v) const { return across_v ? u : v - f(u); }
  std::pair<double, double> point(double w, double t) const { return across_v ? std::make_pair(w, t) : std::make_pair(t, w + f(t)); }
};

/// The mode's Gaussian along the line of marginal_axis at w: its centre and sd in t.
void line_gaussian(const standardisation& s, const marginal_axis& axis, double w, double& centre, double& sd)
{
  // The line, linearised at the mode: (u, v) = P + D t.
  double pu, pv, du, dv;
  if (axis.across_v) {
    pu = w, pv = 0, du = 0, dv = 1;
  } else {
    const double slope = axis.f_prime(s.u0);
    pu = 0, pv = w + axis.f(s.u0) - slope * s.u0, du = 1, dv = slope;
  }
  const double eu = pu - s.u0, ev = pv - s.v0;
  const double curvature = du * (s.h_uu * du + s.h_uv * dv) + dv * (s.h_uv * du + s.h_vv * dv);
  centre = -(du * (s.h_uu * eu + s.h_uv * ev) + dv * (s.h_uv * eu + s.h_vv * ev)) / curvature;
  sd = 1 / std::sqrt(curvature);
}

/// Legendre polynomials P_0..P_7 at s.
void legendre(double s, double (&p)[8])
{
  p[0] = 1;
  p[1] = s;
  for (int k = 1; k < 7; ++k) p[k + 1] = ((2 * k + 1) * s * p[k] - k * p[k - 1]) / (k + 1);
}

/// A 1-D marginal density on 7-point Gauss panels and its quantiles.
struct marginal_panels {
  std::vector<double> lo, hi;
  std::vector<double> density;  ///< 7 per panel, at gauss7_point(lo, hi, i)
  std::vector<double> mass;     ///< each panel's 7-point Gauss integral

  /// The x with P(w <= x) = p: the panel where the cumulative mass crosses p, then the integral
  /// of the nodes' degree-6 Legendre interpolant, int_{-1}^{s} P_k = (P_{k+1}(s) - P_{k-1}(s)) / (2k + 1),
  /// solved for s by bisection.
  double quantile(double p) const
  {
    const double total = std::accumulate(mass.begin(), mass.end(), 0.0);
    const double target = p * total;
    double before = 0;
    std::size_t k = 0;
    while (k + 1 < mass.size() && before + mass[k] < target) before += mass[k++];
    double c[7] = {};
    for (int i = 0; i < 7; ++i) {
      double w;
      const double s = gauss7_point(-1, 1, i, w);
      double pl[8];
      legendre(s, pl);
      for (int j = 0; j < 7; ++j) c[j] += (2 * j + 1) / 2.0 * w * density[7 * k + i] * pl[j];
    }
    const double half = 0.5 * (hi[k] - lo[k]);
    const auto partial = [&](double s) {
      double pl[8];
      legendre(s, pl);
      double sum = c[0] * (s + 1);
      for (int j = 1; j < 7; ++j) sum += c[j] * (pl[j + 1] - pl[j - 1]) / (2 * j + 1);
      return half * sum;
    };
    double a = -1, b = 1;
    for (int it = 0; it < 100 && b - a > 1e-16; ++it) {
      const double mid = 0.5 * (a + b);
      if (before + partial(mid) < target) a = mid;
      else b = mid;
    }
    return lo[k] + half * (0.5 * (a + b) + 1);
  }
};

template <class Family>
marginal_panels marginal_of(const posterior_density<Family>& d, const standardisation& s, const marginal_axis& axis,
                            const std::vector<lattice_point>& lattice, const std::vector<double>& weight, double ref,
                            double spacing)
{
  // The range: where the lattice has mass; panels one sd of w wide.
  double w_lo = infinity, w_hi = -infinity, mean = 0, second = 0;
  const double heaviest = *std::max_element(weight.begin(), weight.end());
  for (std::size_t k = 0; k < lattice.size(); ++k) {
    const double w = axis.w_of(lattice[k].u, lattice[k].v);
    mean += weight[k] * w;
    second += weight[k] * w * w;
    if (weight[k] > 1e-16 * heaviest) w_lo = std::min(w_lo, w), w_hi = std::max(w_hi, w);
  }
  const double sd = std::sqrt(std::max(second - mean * mean, 1e-300));
  const std::size_t panels = std::min<std::size_t>(400, static_cast<std::size_t>(std::ceil((w_hi - w_lo) / sd)) + 1);
  marginal_panels m;
  std::vector<double> nodes, centre, step;
  for (std::size_t p = 0; p < panels; ++p) {
    m.lo.push_back(w_lo + (w_hi - w_lo) * p / panels);
    m.hi.push_back(w_lo + (w_hi - w_lo) * (p + 1) / panels);
    for (int i = 0; i < 7; ++i) {
      double unused;
      nodes.push_back(gauss7_point(m.lo.back(), m.hi.back(), i, unused));
      double c, line_sd;
      line_gaussian(s, axis, nodes.back(), c, line_sd);
      centre.push_back(c);
      step.push_back(spacing * line_sd);
    }
  }
  // Each node's line integral by the trapezoidal rule: a window of +-6 sd around the Gaussian's
  // centre, widened (all lines together, one batch) while its end terms are not negligible.
  const int window = static_cast<int>(std::ceil(6 / spacing));
  const std::size_t lines = nodes.size();
  std::vector<int> first(lines, 0), last(lines, -1);  // the points done: j in [first, last]
  std::vector<double> sum(lines, 0.0), largest(lines, 0.0), end_lo(lines, 0.0), end_hi(lines, 0.0);
  std::vector<int> want_lo(lines, -window), want_hi(lines, window);
  for (;;) {
    std::vector<std::pair<double, double>> points;
    std::vector<std::pair<std::size_t, int>> owner;
    for (std::size_t n = 0; n < lines; ++n) {
      for (int j = want_lo[n]; j < first[n]; ++j) points.push_back(axis.point(nodes[n], centre[n] + j * step[n])), owner.push_back({n, j});
      for (int j = std::max(last[n] + 1, want_lo[n]); j <= want_hi[n]; ++j)
        if (j < first[n] || j > last[n]) points.push_back(axis.point(nodes[n], centre[n] + j * step[n])), owner.push_back({n, j});
    }
    if (points.empty()) break;
    const std::vector<double> values = d.values(points);
    for (std::size_t k = 0; k < points.size(); ++k) {
      const auto [n, j] = owner[k];
      const double term = std::exp(values[k] - ref);
      sum[n] += term;
      largest[n] = std::max(largest[n], term);
      if (j == want_lo[n]) end_lo[n] = term;
      if (j == want_hi[n]) end_hi[n] = term;
    }
    for (std::size_t n = 0; n < lines; ++n) {
      first[n] = want_lo[n];
      last[n] = want_hi[n];
      if (end_lo[n] > line_cutoff * largest[n] && want_lo[n] > -40 * window) want_lo[n] -= window;
      if (end_hi[n] > line_cutoff * largest[n] && want_hi[n] < 40 * window) want_hi[n] += window;
    }
  }
  for (std::size_t n = 0; n < lines; ++n) m.density.push_back(step[n] * sum[n]);
  for (std::size_t p = 0; p < panels; ++p) {
    double total = 0;
    for (int i = 0; i < 7; ++i) {
      double w;
      gauss7_point(m.lo[p], m.hi[p], i, w);
      total += w * m.density[7 * p + i];
    }
    m.mass.push_back(total);
  }
  return m;
}

/// Mean and sd of g over the lattice's weights; median and central interval from the marginal's
/// quantiles of w mapped through `from_w` (increasing).
template <class G, class FromW>
posterior_summary summarise(const std::vector<lattice_point>& lattice, const std::vector<double>& weight, G&& g,
                            const marginal_panels& marginal, FromW&& from_w, double tail)
{
  posterior_summary out;
  for (std::size_t k = 0; k < lattice.size(); ++k) out.mean += weight[k] * g(lattice[k].u, lattice[k].v);
  double variance = 0;
  for (std::size_t k = 0; k < lattice.size(); ++k) {
    const double x = g(lattice[k].u, lattice[k].v) - out.mean;
    variance += weight[k] * x * x;
  }
  out.sd = std::sqrt(variance);
  out.median = from_w(marginal.quantile(0.5));
  out.lower = from_w(marginal.quantile(tail));
  out.upper = from_w(marginal.quantile(1 - tail));
  return out;
}

/// Whether the posterior moment of order `power` of each quantity exists (is finite). The default
/// p(nu) ~ nu^(-3/2) leaves the posterior's tail in nu at nu^(-3/2) (the likelihood tends to a
/// constant as nu grows), so alpha, beta and nu have no mean. The Poisson's default p(m) ~ 1/m
/// leaves m without any moment: where shape -> 0 the likelihood falls only as m^(-J shape). Its
/// log m has moments of order below k - 3/2 (k - 1/2 with a proper prior on the shape: their
/// densities near shape = 0 times the likelihood's shape^k there, k the groups with a count); the
/// rate shape / m those of order below the total count (plus a gamma prior's shape) as m -> 0.
struct moments_exist {
  bool a, b, mean, concentration, link_mean;
};

template <class Family>
moments_exist moment_exists(const count_hyperprior& p, double informative, double total_count, int power)
{
  using mean_kind = count_hyperprior::mean_kind;
  const bool spread = p.concentration == count_hyperprior::concentration_kind::exponential;
  moments_exist e{spread, spread, true, spread, true};
  if constexpr (!Family::bounded_mean) {
    const bool standard_mean = p.mean == mean_kind::standard;
    e.mean = !standard_mean;
    e.link_mean = !standard_mean || power < informative - (spread ? 0.5 : 1.5);
    e.b = spread && (p.mean == mean_kind::log_normal || power < total_count + (p.mean == mean_kind::gamma ? p.mean_a : 0.0));
  }
  return e;
}

void drop_moments(posterior_summary& s, bool mean, bool second)
{
  if (!second) s.sd = infinity;
  if (!mean) s.mean = infinity;
}

double identity(double x) { return x; }
double zero(double) { return 0; }
double one(double) { return 1; }
// Binomial: log alpha = v + log m(u), log beta = v + log(1 - m(u)).
double minus_log_mean(double u) { return portable_log1p(portable_exp(-u)); }
double minus_log_mean_prime(double u) { return -1 / (1 + portable_exp(u)); }
double minus_log_complement(double u) { return portable_log1p(portable_exp(u)); }
double minus_log_complement_prime(double u) { return 1 / (1 + portable_exp(-u)); }

std::string describe(const count_hyperprior& p, bool binomial)
{
  using mean_kind = count_hyperprior::mean_kind;
  const auto number = [](double x) { return fmt::format("{}", x); };
  std::string mean = p.mean == mean_kind::beta         ? "mean ~ beta(" + number(p.mean_a) + ", " + number(p.mean_b) + ")"
                     : p.mean == mean_kind::gamma      ? "mean ~ gamma(shape " + number(p.mean_a) + ", rate " + number(p.mean_b) + ")"
                     : p.mean == mean_kind::log_normal ? "log mean ~ normal(" + number(p.mean_a) + ", " + number(p.mean_b) + "^2)"
                     : binomial                        ? "mean ~ uniform(0, 1)"
                                                       : "p(mean) ~ 1/mean";
  const std::string spread = binomial ? "concentration" : "shape";
  std::string concentration = p.concentration == count_hyperprior::concentration_kind::exponential
                                ? spread + " ~ exponential(mean " + number(p.scale) + ")"
                                : "p(" + spread + ") ~ " + spread + "^(-3/2)";
  std::string text = mean + "; " + concentration;
  if (binomial && p.mean == mean_kind::standard && p.concentration == count_hyperprior::concentration_kind::standard)
    text += " (BDA3 5.3: p(alpha, beta) ~ (alpha + beta)^(-5/2))";
  return text;
}

}  // namespace

template <class Family>
count_bayes_fit count_bayes(const count_groups<Family>& data, const count_totals& totals, const count_hyperprior& prior,
                            double level, double unit)
{
  const double informative = check_proper(data, prior);
  const double log_unit = portable_log(unit);
  const posterior_density<Family> d{data, prior, log_unit};

  // The mode: Newton's method from the maximum-likelihood estimate (or, where that is on the
  // boundary or does not exist, from the pooled rate and a concentration of 100).
  const double pooled = (totals.count + 0.5) / (totals.size + 1);
  double u = Family::link(pooled), v = std::log(100.0);
  try {
    const count_estimate ml = count_ml(data, totals);
    if (!ml.boundary) u = Family::link(ml.mean), v = std::log(ml.concentration);
  } catch (const error&) {  // no finite maximum: start from the pooled rate
  }
  const newton_state mode = newton_maximise([&](double uu, double vv) { return d.terms(uu, vv); }, u, v, 200,
                                            [](const newton_state&) { return false; },
                                            std::string("bayes: the ") + Family::name + " posterior's derivatives");
  SHRINK_EXPECTS(mode.converged, "bayes: Newton's method did not find the posterior's mode in 200 iterations");
  standardisation s;
  s.u0 = mode.u;
  s.v0 = mode.v;
  s.h_uu = -mode.at.h_uu, s.h_uv = -mode.at.h_uv, s.h_vv = -mode.at.h_vv;
  const double det = s.h_uu * s.h_vv - s.h_uv * s.h_uv;
  SHRINK_EXPECTS(s.h_uu > 0 && det > 0, "bayes: the posterior's Hessian at its mode is not negative definite");
  const double s_uu = s.h_vv / det, s_uv = -s.h_uv / det, s_vv = s.h_uu / det;  // the inverse of -H
  s.l11 = std::sqrt(s_uu);
  s.l21 = s_uv / s.l11;
  s.l22 = std::sqrt(s_vv - s.l21 * s.l21);

  // The lattice z = h (i, k): grown side by side, then refined (see count_bayes.hpp).
  std::map<std::pair<double, double>, double> known;  // z -> log density (z = index x a power of two: exact keys)
  double h = 0.5;
  std::int64_t lo1 = -12, hi1 = 12, lo2 = -12, hi2 = 12;
  double neglected = 0;
  for (;;) {
    const std::size_t count = static_cast<std::size_t>((hi1 - lo1 + 1) * (hi2 - lo2 + 1));
    SHRINK_EXPECTS(count <= max_lattice_points,
                   "bayes: the hyperparameters' posterior needs more than " + std::to_string(max_lattice_points) +
                     " grid points (too irregular or heavy-tailed for the quadrature; a proper --hyperprior may help)");
    std::vector<std::pair<double, double>> missing_z, missing;
    for (std::int64_t i = lo1; i <= hi1; ++i)
      for (std::int64_t k = lo2; k <= hi2; ++k)
        if (!known.count({i * h, k * h})) missing_z.push_back({i * h, k * h}), missing.push_back(s.at(i * h, k * h));
    const std::vector<double> values = d.values(missing);
    for (std::size_t n = 0; n < missing.size(); ++n) known[missing_z[n]] = values[n];

    double ref = -infinity;
    for (std::int64_t i = lo1; i <= hi1; ++i)
      for (std::int64_t k = lo2; k <= hi2; ++k) ref = std::max(ref, known[{i * h, k * h}]);
    // The mass and the first and second moments of z (about the mode) on the lattice and on its
    // every-other-point sublattice (index 0: the lattice, 1: the sublattice).
    double total[2] = {}, z1[2] = {}, z2[2] = {}, z11[2] = {}, z22[2] = {};
    double lines[4][2] = {};  // per side (i = lo1, i = hi1, k = lo2, k = hi2): the edge line, the next one in
    for (std::int64_t i = lo1; i <= hi1; ++i)
      for (std::int64_t k = lo2; k <= hi2; ++k) {
        const double mass = std::exp(known[{i * h, k * h}] - ref);
        for (int sub = 0; sub < 2; ++sub) {
          if (sub == 1 && (i % 2 != 0 || k % 2 != 0)) break;
          const double m = sub == 1 ? 4 * mass : mass;
          total[sub] += m;
          z1[sub] += m * i * h;
          z2[sub] += m * k * h;
          z11[sub] += m * (i * h) * (i * h);
          z22[sub] += m * (k * h) * (k * h);
        }
        if (i <= lo1 + 1) lines[0][i - lo1] += mass;
        if (i >= hi1 - 1) lines[1][hi1 - i] += mass;
        if (k <= lo2 + 1) lines[2][k - lo2] += mass;
        if (k >= hi2 - 1) lines[3][hi2 - k] += mass;
      }
    // The mass beyond a side and its second moment in z, extrapolated geometrically from its last two
    // lines: the j-th line out, at |z| = edge + j h, holding line[0] q^j. The second moment grows
    // the lattice further than the mass does where a tail is heavy (the sds need it).
    const auto beyond = [h](const double (&line)[2], double edge, double& second) {
      second = 0;
      if (!(line[0] > 0)) return 0.0;
      const double q = line[0] / line[1];
      if (!(q < 1)) return second = infinity;
      const double r = 1 - q;
      const double s0 = q / r, s1 = q / (r * r), s2 = q * (1 + q) / (r * r * r);  // sums of q^j, j q^j, j^2 q^j
      second = line[0] * (edge * edge * s0 + 2 * edge * h * s1 + h * h * s2);
      return line[0] * s0;
    };
    const std::int64_t grow = static_cast<std::int64_t>(std::ceil(2 / h));  // two sds at a time
    bool grew = false;
    std::int64_t* sides[4] = {&lo1, &hi1, &lo2, &hi2};
    neglected = 0;
    for (int side = 0; side < 4; ++side) {
      double second = 0;
      const double out = beyond(lines[side], static_cast<double>(std::abs(*sides[side])) * h, second);
      neglected += out;
      if (std::max(out, second) > count_bayes_tail_tolerance * total[0]) {
        *sides[side] += side % 2 == 0 ? -grow : grow;
        grew = true;
      }
    }
    if (grew) continue;
    neglected /= total[0];
    const auto moment_change = [&](const double (&x)[2]) { return std::abs(x[1] / total[1] - x[0] / total[0]); };
    const double change = std::max({std::abs(total[1] - total[0]) / total[0], moment_change(z1), moment_change(z2),
                                    moment_change(z11), moment_change(z22)});
    if (change <= count_bayes_refine_tolerance) break;
    h /= 2;
    lo1 *= 2, hi1 *= 2, lo2 *= 2, hi2 *= 2;
  }

  // The lattice's points and weights.
  std::vector<lattice_point> lattice;
  double ref = -infinity;
  for (std::int64_t i = lo1; i <= hi1; ++i)
    for (std::int64_t k = lo2; k <= hi2; ++k) {
      const auto [uu, vv] = s.at(i * h, k * h);
      lattice.push_back({uu, vv, known[{i * h, k * h}]});
      ref = std::max(ref, lattice.back().log_density);
    }
  std::vector<double> weight(lattice.size());
  double total = 0;
  for (std::size_t k = 0; k < lattice.size(); ++k) total += weight[k] = std::exp(lattice[k].log_density - ref);
  for (double& w : weight) w /= total;

  count_bayes_fit fit;
  count_bayes_summary& out = fit.summary;
  out.grid_points = lattice.size();
  out.neglected_mass = neglected;
  out.spacing = h;
  out.hyperprior = describe(prior, Family::bounded_mean);
  if (proper<Family>(prior))
    out.log_marginal_likelihood = ref + std::log(total * h * h * s.l11 * s.l22) + totals.log_constants;

  // Means and sds from the lattice; medians and intervals from the 1-D marginals, on the sublattice's
  // spacing (the refinement showed it accurate to the tolerance).
  const double tail = (1 - level) / 2;
  const auto marginal = [&](const marginal_axis& axis) { return marginal_of(d, s, axis, lattice, weight, ref, 2 * h); };
  const marginal_panels of_u = marginal({true, nullptr, nullptr}), of_v = marginal({false, zero, zero});
  const auto exp_of = [](double x) { return std::exp(x); };
  const auto mean_of = [&](double w) { return Family::mean_of(w) / unit; };
  out.link_mean = summarise(lattice, weight, [&](double uu, double) { return uu - log_unit; }, of_u,
                            [&](double w) { return w - log_unit; }, tail);
  out.mean = summarise(lattice, weight, [&](double uu, double) { return Family::mean_of(uu) / unit; }, of_u, mean_of, tail);
  out.log_concentration = summarise(lattice, weight, [](double, double vv) { return vv; }, of_v, identity, tail);
  out.concentration = summarise(lattice, weight, [](double, double vv) { return std::exp(vv); }, of_v, exp_of, tail);
  const double v_mass = std::accumulate(of_v.mass.begin(), of_v.mass.end(), 0.0);
  for (std::size_t p = 0; p < of_v.lo.size(); ++p)
    for (int i = 0; i < 7; ++i) {
      double unused;
      out.log_concentration_nodes.push_back(gauss7_point(of_v.lo[p], of_v.hi[p], i, unused));
      out.log_concentration_density.push_back(of_v.density[7 * p + i] / v_mass);
    }
  const auto natural_a = [&](double uu, double vv) { return Family::natural(uu, vv).a; };
  const auto natural_b = [&](double uu, double vv) { return Family::natural(uu, vv).b * unit; };
  if constexpr (Family::bounded_mean) {
    out.a = summarise(lattice, weight, natural_a, marginal({false, minus_log_mean, minus_log_mean_prime}), exp_of, tail);
    out.b = summarise(lattice, weight, natural_b, marginal({false, minus_log_complement, minus_log_complement_prime}),
                      exp_of, tail);
  } else {
    // shape = e^v (the concentration); log rate = v - u.
    out.a = summarise(lattice, weight, natural_a, of_v, exp_of, tail);
    out.b = summarise(lattice, weight, natural_b, marginal({false, identity, one}),
                      [&](double w) { return std::exp(w) * unit; }, tail);
  }

  const moments_exist first = moment_exists<Family>(prior, informative, totals.count, 1),
                      second = moment_exists<Family>(prior, informative, totals.count, 2);
  drop_moments(out.a, first.a, second.a);
  drop_moments(out.b, first.b, second.b);
  drop_moments(out.mean, first.mean, second.mean);
  drop_moments(out.concentration, first.concentration, second.concentration);
  drop_moments(out.link_mean, first.link_mean, second.link_mean);

  // The per-group mixtures: the sublattice one sd apart (a quadrature of the same posterior, every
  // group's integrands as smooth as the density), its heaviest points holding all but
  // count_bayes_pruned_mass. Each mixture CDF costs an incomplete beta / gamma per point, so the
  // points are few.
  const std::int64_t every = std::max<std::int64_t>(1, static_cast<std::int64_t>(count_bayes_mixture_spacing / h));
  std::vector<std::size_t> order;
  double sub_total = 0;
  for (std::int64_t i = lo1, n = 0; i <= hi1; ++i)
    for (std::int64_t k = lo2; k <= hi2; ++k, ++n)
      if (i % every == 0 && k % every == 0) order.push_back(static_cast<std::size_t>(n)), sub_total += weight[n];
  std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return weight[x] > weight[y] || (weight[x] == weight[y] && x < y); });
  double kept = 0;
  for (std::size_t k : order) {
    if (kept >= (1 - count_bayes_pruned_mass) * sub_total) break;
    const parameter_map p = Family::natural(lattice[k].u, lattice[k].v);
    fit.quantile_a.push_back(p.a);
    fit.quantile_b.push_back(p.b);
    fit.quantile_weight.push_back(weight[k]);
    kept += weight[k];
  }
  for (double& w : fit.quantile_weight) w /= kept;
  for (std::size_t k = 0; k < lattice.size(); ++k) {
    const parameter_map p = Family::natural(lattice[k].u, lattice[k].v);
    fit.a.push_back(p.a);
    fit.b.push_back(p.b);
  }
  fit.weight = weight;
  out.mixture_points = fit.quantile_weight.size();
  return fit;
}

template count_bayes_fit count_bayes<beta_binomial>(const count_groups<beta_binomial>&, const count_totals&,
                                                    const count_hyperprior&, double, double);
template count_bayes_fit count_bayes<gamma_poisson>(const count_groups<gamma_poisson>&, const count_totals&,
                                                    const count_hyperprior&, double, double);

}  // namespace shrink::detail
