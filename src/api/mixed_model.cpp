// The random-intercept model y_ij = x_ij' beta + b_j + e_ij (lme4's lmer(y ~ x + (1 | g))) from
// per-group cross products. With g = tau2 / sigma2 and w_j = n_j / (1 + n_j g), the augmented
// matrix T(g) = sum_j [C_j + w_j m_j m_j'] (C_j the centred co-moments of (1, x, y) padded with a
// zero row and column for the intercept, m_j = (1, xbar_j, ybar_j)) holds X'H^-1X, X'H^-1y and
// y'H^-1y for H = I + g ZZ'. Its Cholesky factor gives beta and the residual r(g) = L_yy^2 without
// cancellation. sigma2 and beta are profiled out and the profiled deviance
//   ML:   N log r + sum log(1 + n_j g),   REML: (N - p) log r + sum log(1 + n_j g) + log det M,
// is minimised by solving its derivative in g for zero (Brent, to machine precision):
//   dT/dg = -sum n_j^2 / (1 + n_j g)^2 m_j m_j',  r' = [-beta; 1]' dT [-beta; 1],
//   d log det M = tr(M^-1 dM).
// Groups of equal size share w_j, so each evaluation sums over the distinct sizes (size_classes),
// by the fixed reduction of a cross_reducer (src/api/cross_reduce.hpp) on the chosen backend, as
// is sum_j C_j; the once-only sums per size run in group order on the host. So the result does
// not depend on the thread count, and the CPU and the GPU give the same bits.

#include <shrink/regression.hpp>

#include "../common/macros.hpp"
#include "../common/special.hpp"
#include "../cpu/parallel.hpp"
#include "cross_reduce.hpp"
#include "numerics.hpp"
#include "structures.hpp"

#include <Eigen/Dense>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

namespace shrink {
namespace {

using Matrix = Eigen::MatrixXd;
using Vector = Eigen::VectorXd;
constexpr double two_pi = 6.283185307179586;

struct profile {
  Matrix T;      ///< T(g), (p + 1) x (p + 1)
  Matrix M;      ///< X'H^-1X (p x p)
  Vector beta;
  double r = 0;  ///< (y - X beta)' H^-1 (y - X beta)
  double log_det_h = 0, log_det_m = 0;
  double derivative = 0;  ///< of the profiled deviance in g
};

/// The cross products as the fits read them, pointing into the data where nothing changes: n and
/// the co-moments are the data's; `mean` has the covariates centred (prepared::centred_mean) or,
/// without covariates, is the data's.
struct cross_view {
  std::size_t groups = 0, width = 0;
  const double* n = nullptr;
  const double* mean = nullptr;      ///< groups x width
  const double* comoment = nullptr;  ///< groups x width x width
  const std::vector<std::string>* covariates = nullptr;
};

/// sum_j C_j, padded for the intercept: the part of T that does not depend on g (the fixed
/// reduction on `use`).
Matrix within_comoments(const cross_view& d, backend use, int threads)
{
  const auto w = static_cast<Eigen::Index>(d.width);
  std::vector<double> sum(d.width * d.width);
  detail::sum_rows(use, d.comoment, d.groups, sum.size(), threads, sum.data());
  Matrix T = Matrix::Zero(w + 1, w + 1);
  for (Eigen::Index a = 0; a < w; ++a)
    for (Eigen::Index b = 0; b < w; ++b) T(a + 1, b + 1) = sum[static_cast<std::size_t>(a * w + b)];
  return T;
}

/// The groups gathered by their size: T(g) and its derivative weigh each group's m_j m_j' by a
/// function of n_j alone, so the sums of m_j m_j' over the groups of each size, formed once (in
/// group order), make every evaluation of the profile a sum over the distinct sizes (a handful in
/// most data) rather than over the groups.
struct size_classes {
  std::size_t width = 0;     ///< of m = (1, xbar, ybar)
  std::vector<double> n;     ///< each distinct n_j, ascending
  std::vector<double> count; ///< groups of that size
  std::vector<double> outer; ///< per size, sum of m_j m_j': lower triangles row by row, contiguous
  std::vector<std::uint32_t> of_group;  ///< each group's size class
  std::shared_ptr<detail::cross_reducer> sums;  ///< weighted sums of the rows of `outer`
};

/// Adds group j's m m' (m = (1, mean), W = its width when known at compile time, else 0) to a
/// packed lower triangle.
template <std::size_t W>
void add_outer(const double* mean, std::size_t width_run, double* outer)
{
  const std::size_t width = W != 0 ? W : width_run;
  outer[0] += 1.0 * 1.0;
  std::size_t at = 1;
  for (std::size_t a = 1; a < width; at += ++a) {
    outer[at] += mean[a - 1] * 1.0;
    for (std::size_t b = 1; b <= a; ++b) outer[at + b] += mean[a - 1] * mean[b - 1];
  }
}

size_classes gather_sizes(const cross_view& d, backend use, int threads)
{
  size_classes s;
  s.width = d.width + 1;
  // The distinct sizes, ascending, and each group's class: sizes count rows, so a table indexed by
  // the size serves where the largest is not far above the number of groups (else a sort).
  double largest = 0;
  bool whole = true;
  for (std::size_t j = 0; j < d.groups; ++j) {
    const double n = d.n[j];
    largest = std::max(largest, n), whole = whole && n == std::floor(n) && n >= 0;
  }
  std::vector<std::uint32_t> class_of;
  if (whole && largest <= 4.0 * static_cast<double>(d.groups) + 1024) {
    class_of.assign(static_cast<std::size_t>(largest) + 1, 0);
    for (std::size_t j = 0; j < d.groups; ++j) class_of[static_cast<std::size_t>(d.n[j])] = 1;
    for (std::size_t v = 0; v < class_of.size(); ++v)
      if (class_of[v] != 0) {
        class_of[v] = static_cast<std::uint32_t>(s.n.size());
        s.n.push_back(static_cast<double>(v));
      }
  } else {
    s.n.assign(d.n, d.n + d.groups);
    std::sort(s.n.begin(), s.n.end());
    s.n.erase(std::unique(s.n.begin(), s.n.end()), s.n.end());
  }
  const std::size_t packed = s.width * (s.width + 1) / 2;
  s.count.assign(s.n.size(), 0.0);
  s.outer.assign(s.n.size() * packed, 0.0);
  s.of_group.resize(d.groups);
  for (std::size_t j = 0; j < d.groups; ++j)
    s.of_group[j] = !class_of.empty() ? class_of[static_cast<std::size_t>(d.n[j])]
                                      : static_cast<std::uint32_t>(std::lower_bound(s.n.begin(), s.n.end(), d.n[j]) - s.n.begin());
  // The sums in group order; widths known at compile time unroll the loops (the same operations).
  const auto sum = [&](auto width) {
    for (std::size_t j = 0; j < d.groups; ++j) {
      s.count[s.of_group[j]] += 1;
      add_outer<decltype(width)::value>(&d.mean[j * d.width], s.width, &s.outer[s.of_group[j] * packed]);
    }
  };
  switch (s.width) {
    case 2: sum(std::integral_constant<std::size_t, 2>{}); break;
    case 3: sum(std::integral_constant<std::size_t, 3>{}); break;
    case 4: sum(std::integral_constant<std::size_t, 4>{}); break;
    case 5: sum(std::integral_constant<std::size_t, 5>{}); break;
    case 6: sum(std::integral_constant<std::size_t, 6>{}); break;
    default: sum(std::integral_constant<std::size_t, 0>{});
  }
  s.sums = detail::make_cross_reducer(use, s.outer.data(), s.n.size(), packed, threads);
  return s;
}

/// T(g) and its derivative summed over the group sizes (lower triangles, by the fixed reduction),
/// then the profile at g (log det H only `with_log_det`).
profile profile_at(const size_classes& sizes, const Matrix& within, double g, bool reml, bool with_log_det = false)
{
  const auto w = static_cast<Eigen::Index>(sizes.width - 1), p = w;  // p = intercept + q covariates
  const std::size_t packed = sizes.width * (sizes.width + 1) / 2;
  std::vector<double> t_lower(packed), dt_lower(packed), weights(sizes.n.size()), d_weights(sizes.n.size());
  profile f;
  double sum_n_over = 0, N = 0;
  for (std::size_t k = 0; k < sizes.n.size(); ++k) {
    const double n = sizes.n[k], groups = sizes.count[k], denom = 1 + n * g;
    const double weight = n / denom;
    weights[k] = weight;
    d_weights[k] = -(n * n / (denom * denom));
    if (with_log_det) f.log_det_h += groups * std::log(denom);  // the value only: the root search needs none
    sum_n_over += groups * weight;
    N += groups * n;
  }
  sizes.sums->weighted_rows(weights.data(), t_lower.data());
  sizes.sums->weighted_rows(d_weights.data(), dt_lower.data());
  Matrix T(w + 1, w + 1), dT(w + 1, w + 1);
  std::size_t at = 0;
  for (Eigen::Index a = 0; a <= w; at += static_cast<std::size_t>(++a))
    for (Eigen::Index b = 0; b <= a; ++b) {
      T(a, b) = T(b, a) = t_lower[at + static_cast<std::size_t>(b)];
      dT(a, b) = dT(b, a) = dt_lower[at + static_cast<std::size_t>(b)];
    }
  T += within;
  f.T = T;
  f.M = T.topLeftCorner(p, p);
  const Eigen::LLT<Matrix> llt(T);
  const Matrix L = llt.matrixL();
  f.r = L(p, p) * L(p, p);
  SHRINK_EXPECTS(llt.info() == Eigen::Success && f.r > 0, "the intercept and covariates fit y exactly: no residual variance");
  const Eigen::LLT<Matrix> m_llt(f.M);
  f.beta = m_llt.solve(T.topRightCorner(p, 1));
  f.log_det_m = 2 * L.topLeftCorner(p, p).diagonal().array().log().sum();
  Vector a(p + 1);
  a.head(p) = -f.beta;
  a[p] = 1;
  const double dr = a.dot(dT * a);
  const double df = reml ? N - static_cast<double>(p) : N;
  f.derivative = df * dr / f.r + sum_n_over;
  if (reml) f.derivative += m_llt.solve(dT.topLeftCorner(p, p)).trace();
  return f;
}

/// Names the first covariate that the intercept and the earlier ones explain: leading blocks of
/// X'X (T at g = 0, from the sizes' sums), scaled to unit diagonal, must stay positive definite.
void check_design(const std::vector<std::string>& covariates, const size_classes& sizes, const Matrix& within)
{
  const auto p = static_cast<Eigen::Index>(sizes.width - 1);
  Matrix xtx = within.topLeftCorner(p, p);
  const std::size_t packed = sizes.width * (sizes.width + 1) / 2;
  for (std::size_t k = 0; k < sizes.n.size(); ++k) {
    std::size_t at = 0;
    for (Eigen::Index a = 0; a < p; at += static_cast<std::size_t>(++a))
      for (Eigen::Index b = 0; b <= a; ++b) {
        const double add = sizes.n[k] * sizes.outer[k * packed + at + static_cast<std::size_t>(b)];
        xtx(a, b) += add;
        if (b != a) xtx(b, a) += add;
      }
  }
  const Vector scale = xtx.diagonal().cwiseSqrt().cwiseInverse();
  const Matrix unit = scale.asDiagonal() * xtx * scale.asDiagonal();
  for (Eigen::Index c = 2; c <= p; ++c) {
    const Eigen::LDLT<Matrix> ldlt(unit.topLeftCorner(c, c));
    if (ldlt.info() == Eigen::Success && (ldlt.vectorD().array() > 1e-10).all()) continue;  // NaN: a zero column
    std::string earlier = "the intercept";
    for (Eigen::Index e = 1; e + 1 < c; ++e) earlier += ", " + covariates[static_cast<std::size_t>(e - 1)];
    throw error("covariates are collinear: '" + covariates[static_cast<std::size_t>(c - 2)] +
                "' is a linear combination of " + earlier + "; drop one");
  }
}

/// The covariates' row means (in group order: the same bits for any --threads), where the fits
/// centre them.
std::vector<double> row_means(const group_cross_products& raw)
{
  std::vector<double> shift(raw.covariates.size(), 0.0);
  double rows = 0;
  for (std::size_t j = 0; j < raw.groups; ++j) {
    rows += raw.n[j];
    for (std::size_t k = 0; k < shift.size(); ++k) shift[k] += raw.n[j] * (raw.mean[j * raw.width + k] - shift[k]) / rows;
  }
  return shift;
}

/// The means of `raw` with the covariates centred at `shift`, empty without covariates (the
/// data's means serve). Each mean's digits beyond its double (a covariate like 1e9 + x) join it
/// once it is small; y's stay apart (y is not centred: where the rows fit exactly, sigma2 -> 0,
/// the fit's limit is reached more closely from y's own decimals than from y less its mean).
std::vector<double> centred_means(const group_cross_products& raw, const std::vector<double>& shift)
{
  if (shift.empty()) return {};
  std::vector<double> mean(raw.mean);
  for (std::size_t j = 0; j < raw.groups; ++j)
    for (std::size_t k = 0; k < shift.size(); ++k) {
      const std::size_t at = j * raw.width + k;
      mean[at] = (mean[at] - shift[k]) + (raw.mean_lo.empty() ? 0.0 : raw.mean_lo[at]);
    }
  return mean;
}

/// `raw` seen with its means at `mean` (the data's own where that is empty).
cross_view view_of(const group_cross_products& raw, const std::vector<double>& mean)
{
  return {raw.groups, raw.width, raw.n.data(), mean.empty() ? raw.mean.data() : mean.data(), raw.comoment.data(), &raw.covariates};
}

/// The data as every fit works on them, made once for the fit and the structures comparison (the
/// profile interval of the figures makes its own): the covariates centred at their row means, since uncentred cross products of a
/// covariate like 1e6 + j lose its spread to rounding (refused as collinear, or a slope off in its
/// sixth digit; only the intercept moves back); the within-group co-moments and the sizes' sums.
/// Checked once: the design, the rows. It points into the data, which must outlive it.
struct prepared {
  cross_view d;
  std::vector<double> centred_mean;  ///< what d.mean points to, with covariates
  std::vector<double> shift;
  Matrix within;
  size_classes sizes;
  double N = 0;
  std::size_t p = 0;  ///< intercept + covariates
  backend use = backend::cpu;  ///< where the sums over groups run

  prepared(const group_cross_products& raw, backend on, int threads);
  prepared(const prepared&) = delete;  // d points into centred_mean
  prepared& operator=(const prepared&) = delete;
};

prepared::prepared(const group_cross_products& raw, backend on, int threads) : p(raw.width), use(on)
{
  SHRINK_EXPECTS(use != backend::automatic, "internal: resolve the backend before fitting");
  SHRINK_EXPECTS(raw.width >= 1 && raw.covariates.size() + 1 == raw.width && raw.n.size() == raw.groups &&
                   raw.mean.size() == raw.groups * raw.width && raw.comoment.size() == raw.groups * raw.width * raw.width,
                 "internal: cross products of the wrong width");
  shift = row_means(raw);
  centred_mean = centred_means(raw, shift);
  d = view_of(raw, centred_mean);
  SHRINK_EXPECTS(d.groups >= 2, "the random-intercept model needs at least two groups");
  for (std::size_t j = 0; j < d.groups; ++j) N += d.n[j];
  SHRINK_EXPECTS(N > static_cast<double>(p) + 1, std::to_string(p) + " coefficients and two variances need more than " +
                                                   std::to_string(p + 1) + " rows");
  within = within_comoments(d, use, threads);
  sizes = gather_sizes(d, use, threads);
  check_design(raw.covariates, sizes, within);
}

void check_level(double level) { SHRINK_EXPECTS(level > 0 && level < 1, "--level must lie strictly between 0 and 1"); }

double residual_df(const prepared& s, bool reml) { return reml ? s.N - static_cast<double>(s.p) : s.N; }

/// The (restricted) log-likelihood at (g, sigma2), beta at its GLS value for g (profile f at g).
double log_likelihood_at(const prepared& s, const profile& f, double sigma2, bool reml)
{
  return -0.5 * (residual_df(s, reml) * std::log(two_pi * sigma2) + f.r / sigma2 + f.log_det_h + (reml ? f.log_det_m : 0.0));
}

/// At a fixed tau: the sigma2 that maximises the (restricted) likelihood there. In log sigma2 the
/// deviance rises without bound at both ends (a small sigma2 leaves the rows' within-group residual
/// over it, a large one its log), so Brent's minimiser on a wide bracket finds it.
double sigma2_at_tau(const prepared& s, double tau, bool reml)
{
  const double pooled = profile_at(s.sizes, s.within, 0, reml).r / residual_df(s, reml);
  if (tau == 0) return pooled;
  const auto deviance = [&](double log_sigma2) {
    const double sigma2 = std::exp(log_sigma2);
    return -log_likelihood_at(s, profile_at(s.sizes, s.within, tau * tau / sigma2, reml, true), sigma2, reml);
  };
  return std::exp(detail::minimize(deviance, std::log(pooled) - 40, std::log(pooled) + 5, 1e-12));
}

void add_group_columns(mixed_model_result& r, const cross_view& d);

/// a = (1, -shift): the intercept at the covariates' zero is a' beta for beta at their centres.
Vector uncentring(const std::vector<double>& shift)
{
  Vector a(static_cast<Eigen::Index>(shift.size() + 1));
  a[0] = 1;
  for (std::size_t k = 0; k < shift.size(); ++k) a[static_cast<Eigen::Index>(k + 1)] = -shift[k];
  return a;
}

/// The fit at g = tau2 / sigma2 with the given sigma2: coefficients and (per_group) the per-group columns.
mixed_model_result fit_at(const prepared& s, bool reml, double level, double g, double sigma2, bool per_group = true)
{
  const cross_view& d = s.d;
  const std::size_t p = s.p;
  const profile f = profile_at(s.sizes, s.within, g, reml, true);
  mixed_model_result r;
  r.used = s.use;
  r.reml = reml;
  r.level = level;
  r.groups = d.groups;
  r.observations = s.N;
  r.sigma2 = sigma2;
  r.tau2 = g * r.sigma2;
  r.log_likelihood = log_likelihood_at(s, f, sigma2, reml);
  Matrix cov = r.sigma2 * f.M.llt().solve(Matrix::Identity(static_cast<Eigen::Index>(p), static_cast<Eigen::Index>(p)));
  const Vector a = uncentring(s.shift);  // back from the centred covariates
  const double intercept = a.dot(f.beta), intercept_var = a.dot(cov * a);
  const double z = detail::interval_quantile(level);
  for (std::size_t c = 0; c < p; ++c) {
    const auto i = static_cast<Eigen::Index>(c);
    coefficient e;
    e.name = c == 0 ? "intercept" : (*d.covariates)[c - 1];
    e.estimate = c == 0 ? intercept : f.beta[i];
    e.se = std::sqrt(c == 0 ? intercept_var : cov(i, i));
    e.z = e.estimate / e.se;
    e.p = detail::incomplete_gamma(0.5, e.z * e.z / 2, true);
    e.lower = e.estimate - z * e.se;
    e.upper = e.estimate + z * e.se;
    r.coefficients.push_back(e);
  }
  r.posterior.covariates = *d.covariates;
  r.posterior.centres = s.shift;
  r.posterior.beta.assign(f.beta.data(), f.beta.data() + f.beta.size());
  r.posterior.tau2 = r.tau2;
  r.posterior.sigma2 = r.sigma2;
  r.posterior.level = level;
  r.posterior.interval_quantile = z;
  if (per_group) add_group_columns(r, d);
  return r;
}

/// Every group's columns of `r` from r.posterior and the centred cross products `d`.
void add_group_columns(mixed_model_result& r, const cross_view& d)
{
  const random_intercept_parameters& h = r.posterior;
  const std::size_t w = d.width, p = h.beta.size();
  const double g = h.tau2 / h.sigma2, z = h.interval_quantile;
  // Reserved: grown by doubling, the eight columns would fault in and copy twice their size.
  for (auto* column : {&r.n, &r.mean, &r.fitted, &r.effect, &r.effect_sd, &r.estimate, &r.lower, &r.upper}) column->reserve(d.groups);
  for (std::size_t j = 0; j < d.groups; ++j) {
    const double n = d.n[j];
    const double* mean = &d.mean[j * w];
    double fitted = h.beta[0];
    for (std::size_t a = 1; a < p; ++a) fitted += mean[a - 1] * h.beta[a];
    const double b = n * g / (1 + n * g) * (mean[w - 1] - fitted);
    const double sd = std::sqrt(h.sigma2 * g / (1 + n * g));
    r.n.push_back(n);
    r.mean.push_back(mean[w - 1]);
    r.fitted.push_back(fitted);
    r.effect.push_back(b);
    r.effect_sd.push_back(sd);
    r.estimate.push_back(fitted + b);
    r.lower.push_back(fitted + b - z * sd);
    r.upper.push_back(fitted + b + z * sd);
  }
}

/// fit_mixed_model, with the per-group columns only where `per_group`.
mixed_model_result fit_tau(const prepared& s, bool reml, double level, bool per_group)
{
  // The deviance's derivative in g: negative at 0 unless the groups vary no more than noise does.
  double g = 0;
  const double at_zero = profile_at(s.sizes, s.within, 0, reml).derivative;
  if (at_zero < 0) {
    double hi = 1, at_hi = profile_at(s.sizes, s.within, hi, reml).derivative;
    while (at_hi < 0) {
      SHRINK_EXPECTS(hi < 1e15, "the between-group variance is unbounded (every row of a group identical?)");
      hi *= 10;
      at_hi = profile_at(s.sizes, s.within, hi, reml).derivative;
    }
    const detail::root_result root = detail::find_root(
      [&](double x) { return profile_at(s.sizes, s.within, x, reml).derivative; }, 0.0, hi, at_zero, at_hi, 0.0, 2000);
    SHRINK_EXPECTS(root.converged, "the random-intercept fit did not converge");
    g = root.x;
  }
  mixed_model_result r = fit_at(s, reml, level, g, profile_at(s.sizes, s.within, g, reml).r / residual_df(s, reml), per_group);
  if (g == 0) r.notes.push_back("tau2 = 0: the groups vary no more than the rows' noise explains (complete pooling)");
  return r;
}

}  // namespace

mixed_model_result apply_mixed_model(const group_cross_products& raw, const random_intercept_parameters& fit)
{
  SHRINK_EXPECTS(raw.covariates == fit.covariates && fit.centres.size() == fit.covariates.size() &&
                   fit.beta.size() == fit.covariates.size() + 1 && raw.width == fit.beta.size(),
                 "--apply: the data's covariates must be the applied fit's, in its order");
  const std::vector<double> mean = centred_means(raw, fit.centres);
  const cross_view d = view_of(raw, mean);
  mixed_model_result r;
  r.applied = true;
  r.level = fit.level;
  r.groups = d.groups;
  for (double n : raw.n) r.observations += n;
  r.tau2 = fit.tau2;
  r.sigma2 = fit.sigma2;
  r.log_likelihood = std::numeric_limits<double>::quiet_NaN();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double intercept =
    uncentring(fit.centres).dot(Eigen::Map<const Vector>(fit.beta.data(), static_cast<Eigen::Index>(fit.beta.size())));
  for (std::size_t c = 0; c < fit.beta.size(); ++c)
    r.coefficients.push_back({c == 0 ? "intercept" : fit.covariates[c - 1], c == 0 ? intercept : fit.beta[c], nan, nan, nan, nan, nan});
  r.posterior = fit;
  add_group_columns(r, d);
  r.notes.push_back("--apply: the coefficients, tau2 and sigma2 are the given fit's; nothing was estimated (the "
                    "coefficients' standard errors and the log-likelihood belong to that fit's data)");
  return r;
}

mixed_model_result fit_mixed_model(const group_cross_products& raw, bool reml, double level, backend use, int threads)
{
  check_level(level);
  const prepared s(raw, use, threads);
  return fit_tau(s, reml, level, true);
}

mixed_model_result fit_mixed_model_at_tau(const group_cross_products& raw, bool reml, double tau, double level)
{
  SHRINK_EXPECTS(tau >= 0 && std::isfinite(tau), "tau must be a finite number >= 0");
  check_level(level);
  const prepared s(raw, backend::cpu, 0);
  const double sigma2 = sigma2_at_tau(s, tau, reml);
  return fit_at(s, reml, level, tau * tau / sigma2, sigma2);
}

std::pair<double, double> mixed_model_tau_interval(const group_cross_products& raw, const mixed_model_result& fit)
{
  check_level(fit.level);
  const prepared s(raw, backend::cpu, 0);
  const bool reml = fit.reml;
  const auto profile_ll = [&](double tau) {
    const double sigma2 = sigma2_at_tau(s, tau, reml);
    return log_likelihood_at(s, profile_at(s.sizes, s.within, tau * tau / sigma2, reml, true), sigma2, reml);
  };
  // Likelihood-ratio interval: 2 (max - profile) below the chi-square(1) quantile, z^2.
  const double z = detail::interval_quantile(fit.level), tau = std::sqrt(fit.tau2);
  const auto gap = [&](double t) { return profile_ll(t) - (fit.log_likelihood - 0.5 * z * z); };
  double lower = 0;
  const double at_zero = gap(0);
  if (at_zero < 0) {
    const detail::root_result root = detail::find_root(gap, 0.0, tau, at_zero, gap(tau), 1e-12 * tau, 200);
    SHRINK_EXPECTS(root.converged, "the profile interval of tau did not converge");
    lower = root.x;
  }
  double hi = std::max(2 * tau, std::sqrt(fit.sigma2)), at_hi = gap(hi);
  while (at_hi > 0) {
    SHRINK_EXPECTS(hi < 1e15 * std::sqrt(fit.sigma2), "the profile interval of tau is unbounded");
    hi *= 2;
    at_hi = gap(hi);
  }
  const detail::root_result root = detail::find_root(gap, tau, hi, gap(tau), at_hi, 1e-12 * hi, 200);
  SHRINK_EXPECTS(root.converged, "the profile interval of tau did not converge");
  return {lower, root.x};
}

namespace {

/// Two groups' numbers side by side (SSE2, the x86-64 baseline): every lane takes the scalar
/// code's operations in the scalar code's order (no fused multiply-adds: -ffp-contract=off), so
/// each lane holds the bits the scalar code gives. V: double (one group) or double2. Off x86-64
/// every group takes the one-group path (the same bits).
#if defined(__SSE2__)
using double2 = __m128d;
#endif

template <class V>
constexpr std::size_t lane_count = std::is_same_v<V, double> ? 1 : 2;

inline double square_root(double x) { return std::sqrt(x); }
#if defined(__SSE2__)
inline double2 square_root(double2 x) { return _mm_sqrt_pd(x); }
#endif

/// x in every lane.
template <class V>
V splat(double x)
{
  if constexpr (std::is_same_v<V, double>)
    return x;
  else
    return V{x, x};
}

/// Lane i holds at(i).
template <class V, class At>
V gather(At at)
{
  if constexpr (std::is_same_v<V, double>)
    return at(0);
  else
    return V{at(0), at(1)};
}

template <class V>
double lane(V x, std::size_t i)
{
  if constexpr (std::is_same_v<V, double>)
    return i == 0 ? x : 0.0;
  else
    return x[i];
}

/// The Cholesky factor of the p x p symmetric matrix `a` (row-major, lower triangle read) in
/// place, lower triangle. A lane whose matrix is not positive definite is left with a diagonal
/// entry not > 0 (0 or NaN: the square root of a pivot <= 0), which logo_terms checks. P: p when
/// known at compile time (the loops then unroll), else 0.
template <std::size_t P, class V>
void cholesky(V* a, std::size_t p_run)
{
  const std::size_t p = P != 0 ? P : p_run;
  for (std::size_t j = 0; j < p; ++j) {
    V d = a[j * p + j];
    for (std::size_t k = 0; k < j; ++k) d -= a[j * p + k] * a[j * p + k];
    d = square_root(d);
    a[j * p + j] = d;
    for (std::size_t i = j + 1; i < p; ++i) {
      V v = a[i * p + j];
      for (std::size_t k = 0; k < j; ++k) v -= a[i * p + k] * a[j * p + k];
      a[i * p + j] = v / d;
    }
  }
}

/// x = L^-1 x (L from cholesky), in place.
template <std::size_t P, class V>
void forward(const V* l, V* x, std::size_t p_run)
{
  const std::size_t p = P != 0 ? P : p_run;
  for (std::size_t i = 0; i < p; ++i) {
    V v = x[i];
    for (std::size_t k = 0; k < i; ++k) v -= l[i * p + k] * x[k];
    x[i] = v / l[i * p + i];
  }
}

/// x = L'^-1 x, in place.
template <std::size_t P, class V>
void backward(const V* l, V* x, std::size_t p_run)
{
  const std::size_t p = P != 0 ? P : p_run;
  for (std::size_t i = p; i-- > 0;) {
    V v = x[i];
    for (std::size_t k = i + 1; k < p; ++k) v -= l[k * p + i] * x[k];
    x[i] = v / l[i * p + i];
  }
}

/// What a group's term of raw_logo_score needs of its size n alone (once per size class): M_{-j}'s
/// first entry, (M_{-j})_11 = T_11 - s, is the same for every group of that size.
struct logo_class {
  double s = 0;         ///< n / (1 + n g)
  double shrink_m = 0;  ///< tau2 / (sigma2 + tau2 (M_{-j})_11)
  double log_sigma = 0, log_k = 0;  ///< n log(2 pi sigma2), log(1 + tau2 (M_{-j})_11 / sigma2)
};

logo_class logo_class_at(double n, const double* t, double sigma2, double tau2, double log_two_pi_sigma2)
{
  logo_class k;
  k.s = n / (1 + n * (tau2 / sigma2));
  const double m11 = t[0] - k.s;
  k.shrink_m = tau2 / (sigma2 + tau2 * m11);
  k.log_sigma = n * log_two_pi_sigma2;
  k.log_k = std::log1p(tau2 * m11 / sigma2);
  return k;
}

/// The terms of raw_logo_score of groups j0 .. j0 + lanes - 1 into out[0 ..] (NaN where M_{-j} is
/// singular). `t`: T(g), w x w row-major (w = p + 1, Z = (1, x, y)); `k`: each lane's size class's
/// part. P: p when known at compile time, so that the small matrices' loops unroll (a third of the
/// work of Eigen's dynamic-size routines) and the scratch lies on the stack, else 0.
template <std::size_t P, class V>
void logo_terms(const cross_view& d, const double* t, const logo_class* const* k, std::size_t j0, double sigma2, double* out)
{
  constexpr std::size_t lanes = lane_count<V>;
  const std::size_t p = P != 0 ? P : d.width, w = p + 1;
  std::conditional_t<P != 0, std::array<V, 3 * P * P + 3 * (P + 1)>, std::vector<V>> work;  // every entry written before it is read
  if constexpr (P == 0) work.resize(3 * p * p + 3 * w);
  V* const M = work.data();   // M_{-j}, then its factor
  V* const A = M + p * p;     // sigma2 K^-1 + X_j'X_j, then its factor
  V* const c = A + p * p;     // C_j of (x, y): Z's co-moments less the intercept's zeros
  V* const m = c + p * p;     // (1, xbar, ybar)
  V* const a = m + w;         // (-beta_{-j}, 1)
  V* const za = a + w;        // Z_j'Z_j a
  // The groups' numbers, read once into the lanes.
  const V n = gather<V>([&](std::size_t i) { return d.n[j0 + i]; });
  const V s = gather<V>([&](std::size_t i) { return k[i]->s; });
  const V shrink_m = gather<V>([&](std::size_t i) { return k[i]->shrink_m; });
  for (std::size_t e = 0; e < p * p; ++e) c[e] = gather<V>([&](std::size_t i) { return d.comoment[(j0 + i) * p * p + e]; });
  m[0] = splat<V>(1);
  for (std::size_t u = 1; u < w; ++u) m[u] = gather<V>([&](std::size_t i) { return d.mean[(j0 + i) * p + u - 1]; });
  auto cz = [&](std::size_t u, std::size_t v) { return u == 0 || v == 0 ? splat<V>(0.0) : c[(u - 1) * p + v - 1]; };
  // The rest of T without group j: M_{-j} (its first p rows and columns) and b_{-j} (column p).
  for (std::size_t u = 0; u < p; ++u) {
    for (std::size_t v = 0; v <= u; ++v) M[u * p + v] = (splat<V>(t[u * w + v]) - cz(u, v)) - (s * m[u]) * m[v];
    a[u] = -((splat<V>(t[u * w + p]) - cz(u, p)) - (s * m[u]) * m[p]);
  }
  a[p] = splat<V>(1);
  // A = M_{-j} - tau2 / (sigma2 + tau2 M_11) M e1 e1'M + U, U = X_j'X_j (sigma2 K^-1 by Sherman-Morrison).
  for (std::size_t u = 0; u < p; ++u)
    for (std::size_t v = 0; v <= u; ++v)
      A[u * p + v] = (M[u * p + v] - (shrink_m * M[u * p]) * M[v * p]) + (cz(u, v) + (n * m[u]) * m[v]);
  cholesky<P>(M, p);
  cholesky<P>(A, p);
  forward<P>(M, a, p);
  backward<P>(M, a, p);
  V ma = splat<V>(0);
  for (std::size_t u = 0; u < w; ++u) ma += m[u] * a[u];
  for (std::size_t u = 0; u < w; ++u) {
    V v = (n * ma) * m[u];
    for (std::size_t b = 1; b < w; ++b) v += cz(u, b) * a[b];
    za[u] = v;
  }
  V e2 = splat<V>(0);  // e'e
  for (std::size_t u = 0; u < w; ++u) e2 += a[u] * za[u];
  forward<P>(A, za, p);  // r = za's first p entries: r'A^-1 r = |L_A^-1 r|^2
  V r_a_r = splat<V>(0), det_ratio = splat<V>(1);
  for (std::size_t u = 0; u < p; ++u) r_a_r += za[u] * za[u], det_ratio *= A[u * p + u] / M[u * p + u];
  for (std::size_t i = 0; i < lanes; ++i) {
    bool definite = true;
    for (std::size_t u = 0; u < p; ++u) definite = definite && lane(M[u * p + u], i) > 0 && lane(A[u * p + u], i) > 0;
    if (!definite) {
      out[i] = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    // log det A - log det M_{-j} by one logarithm while the product stays in range.
    const double ratio = lane(det_ratio, i);
    double log_det_ratio = 2 * std::log(ratio);
    if (!(ratio > 1e-150 && ratio < 1e150)) {
      log_det_ratio = 0;
      for (std::size_t u = 0; u < p; ++u) log_det_ratio += 2 * (std::log(lane(A[u * p + u], i)) - std::log(lane(M[u * p + u], i)));
    }
    const double log_det_sigma = k[i]->log_sigma + log_det_ratio + k[i]->log_k;
    out[i] = -0.5 * (log_det_sigma + (lane(e2, i) - lane(r_a_r, i)) / sigma2);
  }
}

/// What a score term of rows without covariates (width 1) needs of a group's size n alone, where the
/// matrices are 2 x 2 and M_{-j} is 1 x 1: worked out once per size class, so that a group's term
/// takes no logarithm. The same operations in the same order as Eigen's (Cholesky factor sqrt(x);
/// its matrix solve multiplies by 1 / sqrt(x) twice, its vector solve divides twice), as scalars:
/// the same bits at a fraction of the cost.
struct intercept_class {
  double s = 0;          ///< n / (1 + n g)
  double inverse_l_m = 0, l_a = 0;  ///< 1 / sqrt(M_{-j}), sqrt(A)
  double constant = 0;   ///< n log(2 pi) + log det Sigma
  bool singular = false;  ///< where Eigen's LLT fails
};

intercept_class intercept_class_at(double n, const Matrix& T, double sigma2, double tau2)
{
  intercept_class k;
  const double g = tau2 / sigma2;
  k.s = n / (1 + n * g);
  const double M = T(0, 0) - k.s;
  const double A = (M - (tau2 / (sigma2 + tau2 * M)) * M * M) + n;
  k.singular = M <= 0 || A <= 0;
  const double l_m = std::sqrt(M);
  k.inverse_l_m = 1 / l_m;
  k.l_a = std::sqrt(A);
  const double log_det_sigma = n * std::log(sigma2) - 2 * std::log(l_m) + std::log1p(tau2 * M / sigma2) + 2 * std::log(k.l_a);
  k.constant = n * std::log(two_pi) + log_det_sigma;
  return k;
}

/// Group j's term of rows without covariates, its size class's part `k` given.
double logo_term_intercept(const cross_view& d, const intercept_class& k, double T01, std::size_t j, double sigma2)
{
  const double n = d.n[j], ybar = d.mean[j];
  const double rest_01 = T01 - k.s * ybar;
  const double a = -((rest_01 * k.inverse_l_m) * k.inverse_l_m);
  const double r = n * (a + ybar), za = d.comoment[j] + r * ybar;
  return -0.5 * (k.constant + (a * r + za - r * (r / k.l_a / k.l_a)) / sigma2);
}

/// Leave-one-group-out log score of raw rows at (sigma2, tau2), g = tau2 / sigma2: without group j,
/// beta_{-j} = M_{-j}^-1 b_{-j} from T(g) less group j's part, with covariance sigma2 M_{-j}^-1, so
/// group j's rows are N(X_j beta_{-j}, Sigma), Sigma = sigma2 I + X_j K X_j', K = sigma2 M_{-j}^-1 +
/// tau2 e1 e1' (the intercept column is 1). By Woodbury only the group's cross products are needed:
///   log det Sigma = (n - p) log sigma2 + log det K + log det A,   A = sigma2 K^-1 + X_j'X_j,
///   log det K = p log sigma2 - log det M_{-j} + log(1 + tau2 (M_{-j})_11 / sigma2),
///   e'Sigma^-1 e = (e'e - r' A^-1 r) / sigma2,   e = y_j - X_j beta_{-j},  r = X_j'e,
/// e'e and r from the centred co-moments (a' C_j a + n (m'a)^2, a = (-beta_{-j}, 1)). Absent when
/// leaving a group out leaves the covariates collinear.
/// `terms`: scratch for the groups' terms (kept between calls: fresh pages cost).
std::optional<double> raw_logo_score(const prepared& s, double sigma2, double tau2, int threads, std::vector<double>& terms)
{
  const cross_view& d = s.d;
  const Matrix T = profile_at(s.sizes, s.within, tau2 / sigma2, false).T;
  const auto sum = [&](auto term) { return detail::reduce<double>(d.groups, detail::thread_count(threads), term); };
  const std::vector<double> t(T.data(), T.data() + T.size());  // symmetric: either storage order
  const double log_two_pi_sigma2 = std::log(two_pi * sigma2);
  std::vector<logo_class> classes;
  if (d.width > 1)
    for (double n : s.sizes.n) classes.push_back(logo_class_at(n, t.data(), sigma2, tau2, log_two_pi_sigma2));
  // The groups' terms (two at a time where p is known at compile time), then their sum.
  const auto fixed = [&](auto width) {
    constexpr std::size_t P = decltype(width)::value;
    terms.resize(d.groups);
    detail::for_each_block(d.groups, detail::reduce_block, detail::thread_count(threads), [&](std::size_t first, std::size_t last, std::size_t) {
      const auto run = [&](std::size_t j, auto lanes) {
        using V = decltype(lanes);
        constexpr std::size_t L = lane_count<V>;
        const logo_class* k[L];
        for (std::size_t i = 0; i < L; ++i) k[i] = &classes[s.sizes.of_group[j + i]];
        logo_terms<P, V>(d, t.data(), k, j, sigma2, &terms[j]);
      };
      std::size_t j = first;
#if defined(__SSE2__)
      if constexpr (P != 0)
        for (; j + 2 <= last; j += 2) run(j, double2{});
#endif
      for (; j < last; ++j) run(j, 0.0);
    });
    return sum([&](std::size_t j) { return terms[j]; });
  };
  double score = 0;
  switch (d.width) {
    case 1: {
      std::vector<intercept_class> classes;
      for (double n : s.sizes.n) {
        classes.push_back(intercept_class_at(n, T, sigma2, tau2));
        if (classes.back().singular) return std::nullopt;  // that class's groups' terms are NaN
      }
      const double T01 = T(0, 1);
      score = sum([&](std::size_t j) { return logo_term_intercept(d, classes[s.sizes.of_group[j]], T01, j, sigma2); });
      break;
    }
    case 2: score = fixed(std::integral_constant<std::size_t, 2>{}); break;
    case 3: score = fixed(std::integral_constant<std::size_t, 3>{}); break;
    case 4: score = fixed(std::integral_constant<std::size_t, 4>{}); break;
    case 5: score = fixed(std::integral_constant<std::size_t, 5>{}); break;
    case 6: score = fixed(std::integral_constant<std::size_t, 6>{}); break;
    case 7: score = fixed(std::integral_constant<std::size_t, 7>{}); break;
    default: score = fixed(std::integral_constant<std::size_t, 0>{});
  }
  if (std::isnan(score)) return std::nullopt;
  return score;
}

/// compare_structures of prepared data (centred as the fit is: the likelihoods do not move with
/// the covariates' levels).
structure_comparison compare_prepared(const prepared& s, int threads)
{
  const cross_view& d = s.d;
  const double N = s.N;
  const auto w = static_cast<Eigen::Index>(d.width), q = w - 1;  // covariates, then y
  const Matrix& within = s.within;
  // Maximised normal log-likelihood of a residual sum of squares over N rows.
  auto ll = [&](double rss) { return -0.5 * N * (1 + std::log(two_pi * rss / N)); };
  // Separate: within-group least squares, sum C_j's Schur complement; covariates constant within
  // every group are absorbed by the group means (rank deficiency, by the pseudo-inverse).
  double rss_separate = within(w, w);
  std::size_t within_rank = 0;
  if (q > 0) {
    const Vector cxy = within.block(1, w, q, 1);
    const Eigen::CompleteOrthogonalDecomposition<Matrix> within_fit(within.block(1, 1, q, q));
    rss_separate -= cxy.dot(within_fit.solve(cxy));
    within_rank = static_cast<std::size_t>(within_fit.rank());
  }

  // The separate structure fits best; where it leaves (next to) nothing, so does no comparison,
  // and the ML fit below would chase a zero variance. Total: within plus between sum of squares.
  double grand = 0, total = within(w, w);
  for (std::size_t j = 0; j < d.groups; ++j) grand += d.n[j] * d.mean[j * d.width + d.width - 1] / N;
  for (std::size_t j = 0; j < d.groups; ++j) {
    const double e = d.mean[j * d.width + d.width - 1] - grand;
    total += d.n[j] * e * e;
  }
  if (!(rss_separate > 1e-13 * total))
    throw exact_fit_error("the structures cannot be compared: a structure fits the rows exactly");

  structure_comparison c;
  const double rss_pooled = profile_at(s.sizes, within, 0, false).r, pooled = ll(rss_pooled);
  const mixed_model_result h = fit_tau(s, false, 0.95, false);  // its likelihood: no per-group columns
  c.tau2_ml = h.tau2;
  detail::add_structure(c, "separate", ll(rss_separate), d.groups + within_rank + 1, N, std::nullopt);
  std::vector<double> terms;
  detail::add_structure(c, "pooled", pooled, d.width + 1, N, raw_logo_score(s, rss_pooled / N, 0, threads, terms));
  detail::add_structure(c, "hierarchical", h.tau2 == 0 ? pooled : h.log_likelihood, d.width + 2, N,
                        raw_logo_score(s, h.sigma2, h.tau2, threads, terms));
  detail::decide_structure(c, q > 0);
  return c;
}

}  // namespace

structure_comparison compare_structures(const group_cross_products& raw, int threads, backend use)
{
  const prepared s(raw, use, threads);
  return compare_prepared(s, threads);
}

mixed_model_with_structures fit_mixed_model_with_structures(const group_cross_products& raw, bool reml, double level,
                                                            backend use, int threads)
{
  check_level(level);
  const prepared s(raw, use, threads);
  mixed_model_with_structures out{fit_tau(s, reml, level, true), std::nullopt};
  try {
    out.structures = compare_prepared(s, threads);
  } catch (const exact_fit_error&) {
  }
  return out;
}

}  // namespace shrink
