// Meta-regression (summary mode with --covariates), written as metafor 3.8's rma.uni computes a
// model with moderators, with every k x k matrix of metafor's code reduced to p x p sums over the
// groups. With W = diag(w), A = (X'WX)^-1 and P = W - W X A X' W:
//   Y'PY = sum w r^2 (r = Y - X beta_hat),   PY = W r,
//   tr(P D) = sum w d - tr(A S(w^2 d)),
//   tr(P D1 P D2) = sum w^2 d1 d2 - 2 tr(A S(w^3 d1 d2)) + tr(A S(w^2 d1) A S(w^2 d2)),
// where S(c) = X' diag(c) X, a p x p sum over groups by the fixed reduction of a cross_reducer
// (src/api/cross_reduce.hpp) on the chosen backend: the same bits for any thread count, CPU or GPU. The tau2 estimators and QE use the centred estimates, as metafor does.

#include <shrink/regression.hpp>

#include "../common/macros.hpp"
#include "../common/mixture_posterior.hpp"
#include "../common/special.hpp"
#include "../cpu/parallel.hpp"
#include "bayes.hpp"
#include "cross_reduce.hpp"
#include "numerics.hpp"
#include "structures.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <vector>

namespace shrink {
namespace {

using Matrix = Eigen::MatrixXd;
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXd;
constexpr double two_pi = 6.283185307179586;

/// The data of one fit: X (k x p), the estimates minus the offsets, their centred copy, the variances.
struct problem {
  RowMatrix X;  ///< row-major: each group's covariates together (centred when there is an intercept)
  Vector y, y_centred, v;
  Vector centres;  ///< what each column of X had subtracted (0 for the intercept; all 0 without one)
  std::size_t k = 0, p = 0;
  std::shared_ptr<detail::cross_reducer> cross;  ///< S(c) over the rows of X
};

/// S(c) = X' diag(c) X by the problem's reducer (its lower triangle packed row by row): this sum is
/// most of a summary-mode fit's time.
Matrix weighted_cross(const problem& d, const Vector& c)
{
  const std::size_t p = d.p;
  std::vector<double> lower(p * (p + 1) / 2);
  d.cross->weighted_outer(c.data(), lower.data());
  Matrix s(static_cast<Eigen::Index>(p), static_cast<Eigen::Index>(p));
  const double* row = lower.data();
  for (std::size_t a = 0; a < p; row += ++a)
    for (std::size_t b = 0; b <= a; ++b)
      s(static_cast<Eigen::Index>(a), static_cast<Eigen::Index>(b)) = s(static_cast<Eigen::Index>(b), static_cast<Eigen::Index>(a)) = row[b];
  return s;
}

/// Weighted least squares at weights w: A = (X'WX)^-1, beta, and the weighted residual sum Y'PY.
struct wls {
  Vector w;
  Matrix A;
  Vector beta;
  Vector r;  ///< Y - X beta
  double rss = 0;
  double log_det = 0;  ///< log det X'WX
};

wls solve(const problem& d, const Vector& w, const Vector& y)
{
  wls f;
  f.w = w;
  const Matrix xtwx = weighted_cross(d, w);
  Vector xtwy = Vector::Zero(static_cast<Eigen::Index>(d.p));
  for (Eigen::Index j = 0; j < d.X.rows(); ++j) xtwy += (w[j] * y[j]) * d.X.row(j).transpose();
  const Eigen::LLT<Matrix> llt(xtwx);
  SHRINK_EXPECTS(llt.info() == Eigen::Success, "the weighted design is singular (covariates collinear at these weights)");
  f.A = llt.solve(Matrix::Identity(xtwx.rows(), xtwx.cols()));
  f.beta = llt.solve(xtwy);
  f.r = y - d.X * f.beta;
  f.rss = (w.array() * f.r.array().square()).sum();
  f.log_det = 2 * llt.matrixL().toDenseMatrix().diagonal().array().log().sum();
  return f;
}

/// tr(P D) for diagonal D = diag(dv).
double trace_p(const problem& d, const wls& f, const Vector& dv)
{
  const Vector w2d = f.w.array().square() * dv.array();
  return (f.w.array() * dv.array()).sum() - (f.A * weighted_cross(d, w2d)).trace();
}

/// tr(P D1 P D2) for diagonal D1, D2.
double trace_pp(const problem& d, const wls& f, const Vector& d1, const Vector& d2)
{
  const Vector w = f.w;
  const Vector w2 = w.array().square();
  const Vector w3d = w2.array() * w.array() * d1.array() * d2.array();
  const Matrix s1 = f.A * weighted_cross(d, w2.cwiseProduct(d1));
  const Matrix s2 = f.A * weighted_cross(d, w2.cwiseProduct(d2));
  return (w2.array() * d1.array() * d2.array()).sum() - 2 * (f.A * weighted_cross(d, w3d)).trace() + (s1 * s2).trace();
}

Vector weights_at(const problem& d, double tau2) { return (d.v.array() + tau2).inverse(); }

/// Q(tau2) = Y'P(tau2)Y on the centred estimates (metafor's .QE.func).
double q_at(const problem& d, double tau2) { return solve(d, weights_at(d, tau2), d.y_centred).rss; }

/// R's mad(y): 1.4826 median |y - median(y)|.
double scaled_mad(const Vector& y)
{
  std::vector<double> x(y.data(), y.data() + y.size());
  auto median = [](std::vector<double> z) {
    std::sort(z.begin(), z.end());
    const std::size_t n = z.size();
    return n % 2 == 1 ? z[n / 2] : 0.5 * (z[n / 2 - 1] + z[n / 2]);
  };
  const double m = median(x);
  for (double& e : x) e = std::fabs(e - m);
  return 1.4826 * median(x);
}

/// The tau2 where Q(tau2) = target (Q decreases in tau2), by Brent's method to full precision on a
/// bracket widened tenfold until it holds the root; tau2 = lo when Q(lo) <= target.
double solve_q(const problem& d, double target, double lo, double hi)
{
  const double at_lo = q_at(d, lo) - target;
  if (at_lo <= 0) return lo;
  double at_hi = q_at(d, hi) - target;
  while (at_hi > 0) {
    SHRINK_EXPECTS(hi < 1e300, "no root of the generalised Q statistic found");
    hi *= 10;
    at_hi = q_at(d, hi) - target;
  }
  const detail::root_result root = detail::find_root([&](double t) { return q_at(d, t) - target; }, lo, hi, at_lo, at_hi, 0.0, 1000);
  return root.x;
}

/// metafor's log-likelihood (restricted with `reml`) of the estimates `y` at tau2.
double log_likelihood(const problem& d, const Vector& y, double tau2, bool reml, double log_det_xtx)
{
  const wls f = solve(d, weights_at(d, tau2), y);
  const double k = static_cast<double>(d.k), p = static_cast<double>(d.p);
  const double sum_log = (d.v.array() + tau2).log().sum();
  if (!reml) return -0.5 * k * std::log(two_pi) - 0.5 * sum_log - 0.5 * f.rss;
  // metafor's default REMLf = TRUE: + log det(X'X) / 2.
  return -0.5 * (k - p) * std::log(two_pi) + 0.5 * log_det_xtx - 0.5 * sum_log - 0.5 * f.log_det - 0.5 * f.rss;
}

struct tau2_fit {
  double tau2 = 0;
  std::optional<double> se;
  int iterations = 0;
};

/// metafor's tau2 estimators for a model with moderators (rma.uni; see the file comment).
tau2_fit estimate_tau2(const problem& d, const fit_options& o, double log_det_xtx)
{
  const double k = static_cast<double>(d.k), p = static_cast<double>(d.p);
  const Vector ones = Vector::Ones(static_cast<Eigen::Index>(d.k));
  tau2_fit r;
  if (o.method == tau_method::fixed) {
    r.tau2 = o.tau * o.tau;
    return r;
  }
  // HE: ordinary least squares, P = I - X (X'X)^-1 X'.
  const wls ols = solve(d, ones, d.y_centred);
  const double tr_pv = trace_p(d, ols, d.v);
  const double he = (ols.rss - tr_pv) / (k - p);
  switch (o.method) {
    case tau_method::mom: {
      r.tau2 = std::max(0.0, he);
      r.se = std::sqrt((2 * trace_pp(d, ols, d.v, d.v) + 4 * r.tau2 * tr_pv + 2 * r.tau2 * r.tau2 * (k - p)) /
                       ((k - p) * (k - p)));
      return r;
    }
    case tau_method::dl: {
      const wls f = solve(d, d.v.cwiseInverse(), d.y_centred);
      const double trp = trace_p(d, f, ones);
      r.tau2 = std::max(0.0, (f.rss - (k - p)) / trp);
      r.se = std::sqrt((2 * (k - p) + 4 * r.tau2 * trp + 2 * r.tau2 * r.tau2 * trace_pp(d, f, ones, ones)) / (trp * trp));
      return r;
    }
    case tau_method::sj: {
      const double mean = d.y.mean();
      const double tau2_0 = (d.y.array() - mean).square().sum() / k;  // var(y) (k-1)/k
      const wls f = solve(d, weights_at(d, tau2_0), d.y_centred);
      r.tau2 = std::max(0.0, tau2_0 * f.rss / (k - p));
      r.se = std::sqrt(tau2_0 * tau2_0 / ((k - p) * (k - p)) *
                       (2 * trace_pp(d, f, d.v, d.v) + 4 * r.tau2 * trace_pp(d, f, d.v, ones) +
                        2 * r.tau2 * r.tau2 * trace_pp(d, f, ones, ones)));
      return r;
    }
    case tau_method::pm: {
      // uniroot on metafor's bracket [0, max(100, 10 mad(y)^2)] with its tolerance, so that the
      // steps are metafor's; widened tenfold where metafor would stop with an error.
      const double target = k - p;
      const double at_min = q_at(d, 0) - target;
      if (at_min >= 0) {
        const double spread = scaled_mad(d.y);
        double hi = std::max(100.0, 10 * spread * spread);
        double at_max = q_at(d, hi) - target;
        while (at_max > 0) {
          SHRINK_EXPECTS(hi < 1e300, "Paule-Mandel: no root of Q(tau2) = k - p found");
          hi *= 10;
          at_max = q_at(d, hi) - target;
        }
        const detail::root_result root = detail::find_root([&](double t) { return q_at(d, t) - target; }, 0.0, hi,
                                                           at_min, at_max, o.root_tol, o.max_iterations);
        SHRINK_EXPECTS(root.converged, "Paule-Mandel root finding did not converge (raise --max-iterations)");
        r.tau2 = std::max(0.0, root.x);
        r.iterations = root.iterations;
      }
      r.se = std::sqrt(2 * k * k / (k - p)) / weights_at(d, r.tau2).sum();
      return r;
    }
    case tau_method::ml:
    case tau_method::reml:
    case tau_method::eb: {
      double tau2 = std::max(0.0, he);
      detail::scoring_steps steps;
      double change = o.threshold + 1;
      while (change > o.threshold) {
        ++r.iterations;
        SHRINK_EXPECTS(r.iterations <= o.max_iterations + 1,
                       "Fisher scoring did not converge in " + std::to_string(o.max_iterations) +
                         " iterations (raise --max-iterations, or try another --tau-method)");
        const double old = tau2;
        const wls f = solve(d, weights_at(d, tau2), d.y_centred);
        const double ypp = (f.w.array() * f.r.array()).square().sum();
        double adj = 0;
        if (o.method == tau_method::ml) adj = (ypp - f.w.sum()) / f.w.squaredNorm();
        if (o.method == tau_method::reml) adj = (ypp - trace_p(d, f, ones)) / trace_pp(d, f, ones, ones);
        if (o.method == tau_method::eb) adj = (f.rss * k / (k - p) - k) / f.w.sum();
        SHRINK_EXPECTS(std::isfinite(adj), "Fisher scoring produced a non-finite step (values too extreme?)");
        tau2 = steps.next(tau2, adj);
        change = std::fabs(old - tau2);
      }
      if (o.method != tau_method::eb) {
        // metafor's ll0check: a likelihood larger at tau2 = 0 means scoring stopped at a local maximum.
        const bool reml = o.method == tau_method::reml;
        const double tol = 1.220703125e-4;  // .Machine$double.eps^0.25
        if (log_likelihood(d, d.y_centred, 0, reml, log_det_xtx) - log_likelihood(d, d.y_centred, tau2, reml, log_det_xtx) > tol &&
            tau2 > o.threshold)
          tau2 = 0;
      }
      r.tau2 = tau2;
      const wls f = solve(d, weights_at(d, tau2), d.y_centred);
      if (o.method == tau_method::ml) r.se = std::sqrt(2 / f.w.squaredNorm());
      if (o.method == tau_method::reml) r.se = std::sqrt(2 / trace_pp(d, f, ones, ones));
      if (o.method == tau_method::eb) r.se = std::sqrt(2 * k * k / (k - p)) / f.w.sum();
      return r;
    }
    default:
      throw error("--covariates: --tau-method " + to_string(o.method) +
                  " is not available with covariates (choose mom, dl, pm, sj, ml, reml, eb or fixed)");
  }
}

/// Upper tail of the chi-square distribution (p-values of QE, QM and, with 1 df, of z^2).
double chi_square_upper(double x, double df) { return detail::incomplete_gamma(df / 2, x / 2, true); }

/// Rank check of X by a pivoted QR of the column-scaled matrix: names the first column that the
/// earlier ones explain.
void check_full_rank(const design_matrix& d, const RowMatrix& X)
{
  Matrix scaled = X;
  for (Eigen::Index c = 0; c < X.cols(); ++c) {
    const double norm = X.col(c).norm();
    if (norm > 0) scaled.col(c) /= norm;
  }
  Eigen::ColPivHouseholderQR<Matrix> all(scaled);
  all.setThreshold(1e-10);
  if (all.rank() == X.cols()) return;
  for (Eigen::Index c = 1; c <= X.cols(); ++c) {
    Eigen::ColPivHouseholderQR<Matrix> qr(scaled.leftCols(c));
    qr.setThreshold(1e-10);
    if (qr.rank() < c) {
      std::string earlier;
      for (Eigen::Index e = 0; e + 1 < c; ++e) earlier += (e ? ", " : "") + d.names[static_cast<std::size_t>(e)];
      throw error("covariates are collinear: '" + d.names[static_cast<std::size_t>(c - 1)] +
                  "' is a linear combination of " + (earlier.empty() ? "nothing (it is zero)" : earlier) +
                  "; drop one of them");
    }
  }
}

/// The Fay-Herriot EBLUP's MSE per group, in the notation of Rao and Molina (2015,
/// ch. 6): g1 = v tau2 / (v + tau2), g2 = B^2 x' (X'WX)^-1 x, g3 = B^2 Var(tau2_hat) / (v + tau2),
/// B = v / (v + tau2), with Var(tau2_hat) and the bias b(tau2_hat) of each estimator to O(1/k):
///   mom (Prasad and Rao 1990):        Var = 2 sum (tau2 + v)^2 / k^2,            b = 0
///   reml (Datta and Lahiri 2000):     Var = 2 / sum w^2,                          b = 0
///   ml (Datta and Lahiri 2000):       Var = 2 / sum w^2,  b = -tr((X'WX)^-1 X'W^2X) / sum w^2
///   eb, pm (Datta, Rao and Smith 2005): Var = 2k / (sum w)^2,  b = 2 (k sum w^2 - (sum w)^2) / (sum w)^3
/// mse = g1 + g2 + 2 g3 - B^2 b. Var and b are the fit's (below); g1, g2, g3 the group's
/// (add_group_columns). None for the estimators without a published form (dl, sj).
struct mse_terms {
  double variance = 0, bias = 0;
};
std::optional<mse_terms> fay_herriot_terms(const problem& d, const wls& f, double tau2, tau_method m)
{
  if (m == tau_method::dl || m == tau_method::sj || m == tau_method::bayes) return std::nullopt;
  const double k = static_cast<double>(d.k);
  const double sw = f.w.sum(), sw2 = f.w.squaredNorm();
  mse_terms t;
  switch (m) {
    case tau_method::mom: t.variance = 2 * (d.v.array() + tau2).square().sum() / (k * k); break;
    case tau_method::reml: t.variance = 2 / sw2; break;
    case tau_method::ml:
      t.variance = 2 / sw2;
      t.bias = -(f.A * weighted_cross(d, f.w.cwiseProduct(f.w))).trace() / sw2;
      break;
    case tau_method::eb:
    case tau_method::pm:
      t.variance = 2 * k / (sw * sw);
      t.bias = 2 * (k * sw2 - sw * sw) / (sw * sw * sw);
      break;
    default: break;  // fixed: tau2 is known
  }
  return t;
}

/// Every group's columns at beta (at the centres), its covariance A and tau2: metafor's blup
/// shrinking towards x_j' beta + offset_j, its sd and interval, and the Fay-Herriot mse (when
/// `mse`). A fit's and an applied fit's rows come from this one arithmetic.
void add_group_columns(meta_regression_result& r, const problem& d, const std::vector<double>& offset, const Vector& beta,
                       const Matrix& A, double tau2, double z_crit, const std::optional<mse_terms>& mse)
{
  const std::size_t k = d.k;
  for (std::vector<double>* column : {&r.fitted, &r.shrinkage, &r.estimate, &r.sd, &r.lower, &r.upper}) column->resize(k);
  if (mse) r.mse.resize(k);
  for (std::size_t j = 0; j < k; ++j) {
    const auto i = static_cast<Eigen::Index>(j);
    const double off = offset.empty() ? 0.0 : offset[j];
    const double xb = d.X.row(i).dot(beta);
    const double b = d.v[i] / (d.v[i] + tau2);
    const double x_var_x = d.X.row(i).dot(A * d.X.row(i).transpose());
    r.fitted[j] = xb + off;
    r.shrinkage[j] = b;
    r.estimate[j] = (1 - b) * d.y[i] + b * xb + off;
    r.sd[j] = std::sqrt((1 - b) * d.v[i] + b * b * x_var_x);
    r.lower[j] = r.estimate[j] - z_crit * r.sd[j];
    r.upper[j] = r.estimate[j] + z_crit * r.sd[j];
    if (mse) {
      const double total = d.v[i] + tau2;
      const double g1 = d.v[i] * tau2 / total, g2 = b * b * x_var_x, g3 = b * b * mse->variance / total;
      r.mse[j] = g1 + g2 + 2 * g3 - b * b * mse->bias;
    }
  }
}

/// d.y = y - offset and d.v = v, each checked: finite, v positive.
void set_values(problem& d, const std::vector<double>& y, const std::vector<double>& v, const std::vector<double>& offset)
{
  const std::size_t k = y.size();
  d.y.resize(static_cast<Eigen::Index>(k));
  d.v.resize(static_cast<Eigen::Index>(k));
  for (std::size_t j = 0; j < k; ++j) {
    SHRINK_EXPECTS(std::isfinite(y[j]) && (offset.empty() || std::isfinite(offset[j])),
                   "group " + std::to_string(j + 1) + ": the estimate or offset is not a finite number");
    SHRINK_EXPECTS(v[j] > 0 && std::isfinite(v[j]), "group " + std::to_string(j + 1) + ": the sampling variance must be positive");
    d.y[static_cast<Eigen::Index>(j)] = y[j] - (offset.empty() ? 0.0 : offset[j]);
    d.v[static_cast<Eigen::Index>(j)] = v[j];
  }
}

/// Checks the inputs and gathers them: y - offset, its centred copy, v and X (full rank).
problem make_problem(const std::vector<double>& y, const std::vector<double>& v, const design_matrix& design,
                     const std::vector<double>& offset, backend use = backend::cpu, int threads = 0)
{
  const std::size_t k = y.size(), p = design.cols;
  SHRINK_EXPECTS(v.size() == k && design.rows == k && design.x.size() == k * p && (offset.empty() || offset.size() == k),
                 "internal: the columns of the meta-regression differ in length");
  SHRINK_EXPECTS(k > p, std::to_string(p) + " coefficients need more than " + std::to_string(p) + " groups (there are " +
                          std::to_string(k) + ")");
  problem d;
  d.k = k;
  d.p = p;
  d.X = Eigen::Map<const RowMatrix>(design.x.data(), static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(p));
  // With an intercept the covariates are centred at their means: the same column space (every fit,
  // Q, BLUP and log-likelihood unchanged; det X'X too), but a covariate far from zero (1e6 + j) is
  // neither taken for a multiple of the intercept nor left to lose its digits. Only the intercept's
  // row of the coefficient table is moved back (fit_meta_regression).
  d.centres = Vector::Zero(static_cast<Eigen::Index>(p));
  if (design.intercept)
    for (Eigen::Index c = 1; c < static_cast<Eigen::Index>(p); ++c) {
      d.centres[c] = d.X.col(c).mean();
      d.X.col(c).array() -= d.centres[c];
    }
  check_full_rank(design, d.X);
  set_values(d, y, v, offset);
  d.y_centred = d.y.array() - d.y.mean();
  d.cross = detail::make_cross_reducer(use, d.X.data(), k, p, threads);
  return d;
}

/// The rows of an applied fit: X less the fit's centres, y - offset and v (checked as a fit's).
problem applied_problem(const std::vector<double>& y, const std::vector<double>& v, const design_matrix& design,
                        const std::vector<double>& offset, const std::vector<double>& centres)
{
  const std::size_t k = y.size(), p = design.cols;
  SHRINK_EXPECTS(v.size() == k && design.rows == k && design.x.size() == k * p && centres.size() == p &&
                   (offset.empty() || offset.size() == k),
                 "internal: the columns of the applied meta-regression differ in length");
  problem d;
  d.k = k;
  d.p = p;
  d.X = Eigen::Map<const RowMatrix>(design.x.data(), static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(p));
  d.centres = Eigen::Map<const Vector>(centres.data(), static_cast<Eigen::Index>(p));
  for (Eigen::Index c = 0; c < static_cast<Eigen::Index>(p); ++c)
    if (d.centres[c] != 0) d.X.col(c).array() -= d.centres[c];
  set_values(d, y, v, offset);
  return d;
}

/// Leave-one-group-out log score at tau2: without group j, beta_{-j} follows from Sherman-Morrison,
/// y_j - x_j' beta_{-j} = r_j / (1 - h_j) and its predictive variance is 1 / (w_j (1 - h_j)),
/// h_j = w_j x_j' (X'WX)^-1 x_j. Absent when a group alone fixes a coefficient (h_j = 1).
std::optional<double> logo_score(const problem& d, double tau2)
{
  const wls f = solve(d, weights_at(d, tau2), d.y);
  double score = 0;
  for (Eigen::Index j = 0; j < d.X.rows(); ++j) {
    const double h = f.w[j] * d.X.row(j).dot(f.A * d.X.row(j).transpose());
    if (!(h < 1 - 1e-12)) return std::nullopt;
    const double e = f.r[j] / (1 - h), s2 = 1 / (f.w[j] * (1 - h));
    score += -0.5 * std::log(two_pi * s2) - 0.5 * e * e / s2;
  }
  return score;
}

/// The row vector that reads coefficient c off beta: the intercept at x = 0 rather than at the
/// centres (beta_0 - c' beta, variance a' A a with a = e_0 - centres), any other coefficient as it is.
Vector coefficient_row(const problem& d, bool intercept, std::size_t c)
{
  Vector a = Vector::Zero(static_cast<Eigen::Index>(d.p));
  if (intercept && c == 0) a = -d.centres;
  a[static_cast<Eigen::Index>(c)] += 1;
  return a;
}

/// Full Bayes with a flat prior on beta and `o.prior_tau` on tau: given tau, beta | y, tau is
/// N(beta_hat(tau), (X'WX)^-1), so integrating beta out leaves the restricted likelihood
///   p(tau | y) ∝ p(tau) prod_j w_j^(1/2) |X'WX|^(-1/2) exp(-Y'PY / 2),
/// integrated over tau by the no-covariate model's quadrature (bayes.cpp). Each coefficient and
/// each theta_j is then a mixture over the nodes of its normal posterior given tau (theta_j's as
/// mixture_posterior.hpp writes it, with mu_hat and V_mu the group's own x_j' beta_hat and x_j' A x_j).
/// Fills r's tau posterior, tau2 (the posterior median of tau, squared: the point value the other
/// statistics use), the coefficients (z and p NaN: no z tests) and the per-group columns.
void fit_bayes(const problem& d, const design_matrix& design, const std::vector<double>& offset, const fit_options& o,
               meta_regression_result& r)
{
  const std::function<double(double)> log_restricted = [&](double t) {
    const wls f = solve(d, weights_at(d, t * t), d.y);
    return 0.5 * f.w.array().log().sum() - 0.5 * f.log_det - 0.5 * f.rss;
  };
  const detail::tau_quadrature q = detail::integrate_tau(log_restricted, o.prior_tau, std::sqrt(d.v.mean()),
                                                         static_cast<double>(d.k - d.p), o.level);
  // Per node only beta_hat(tau) and A(tau) are kept (p + p^2 numbers, not the k-long weights).
  struct node_fit {
    Vector beta;
    Matrix A;
  };
  std::vector<double> weight, tau2;
  std::vector<node_fit> at;
  for (std::size_t g = 0; g < q.weight.size(); ++g) {
    if (!q.visible(g)) continue;
    weight.push_back(q.weight[g]);
    tau2.push_back(q.tau[g] * q.tau[g]);
    wls f = solve(d, weights_at(d, tau2.back()), d.y);
    at.push_back({std::move(f.beta), std::move(f.A)});
  }
  const int nodes = static_cast<int>(weight.size());
  r.tau_post = q.posterior;
  r.tau_post->nodes = nodes;
  r.tau2 = q.posterior.median * q.posterior.median;
  const double alpha = 1 - o.level, inf = std::numeric_limits<double>::infinity();

  // Coefficient c: the mixture of N(a' beta_hat(tau), a' A(tau) a); its variance grows as tau^2,
  // so its sd is finite only where p(tau | y)'s second moment is (tail > 3).
  std::vector<double> m(static_cast<std::size_t>(nodes)), sd(static_cast<std::size_t>(nodes));
  auto component = [&](int g, double& mean, double& s) {
    mean = m[static_cast<std::size_t>(g)];
    s = sd[static_cast<std::size_t>(g)];
  };
  for (std::size_t c = 0; c < d.p; ++c) {
    const Vector a = coefficient_row(d, design.intercept, c);
    double mean = 0, var = 0;
    for (std::size_t g = 0; g < weight.size(); ++g) {
      m[g] = a.dot(at[g].beta);
      sd[g] = std::sqrt(a.dot(at[g].A * a));
      mean += weight[g] * m[g];
    }
    for (std::size_t g = 0; g < weight.size(); ++g) var += weight[g] * (sd[g] * sd[g] + (m[g] - mean) * (m[g] - mean));
    coefficient e;
    e.name = design.names[c];
    const double spread = std::sqrt(var);
    e.estimate = mean;
    e.se = q.tail > 3 ? spread : inf;
    e.z = e.p = std::nan("");
    e.lower = detail::mixture_quantile(weight.data(), nodes, component, alpha / 2, false, mean - 2 * spread, spread);
    e.upper = detail::mixture_quantile(weight.data(), nodes, component, alpha / 2, true, mean + 2 * spread, spread);
    r.coefficients.push_back(e);
  }

  // Group j: theta_j | y, tau ~ N(y_j + B_j (x_j' beta_hat - y_j), v_j (1 - B_j) + B_j^2 x_j' A x_j).
  // Groups are independent: blocks of them on the threads, the same bits for any thread count.
  for (std::vector<double>* column : {&r.fitted, &r.shrinkage, &r.estimate, &r.sd, &r.lower, &r.upper}) column->resize(d.k);
  detail::for_each_block(d.k, 256, detail::thread_count(o.threads), [&](std::size_t begin, std::size_t end, std::size_t) {
    std::vector<double> mu(weight.size()), v_mu(weight.size());
    detail::mixture_params mp;
    mp.tau2 = tau2.data();
    mp.weight = weight.data();
    mp.mu = mu.data();
    mp.v_mu = v_mu.data();
    mp.nodes = nodes;
    mp.p_lower = mp.q_upper = alpha / 2;
    for (std::size_t j = begin; j < end; ++j) {
      const double* x = d.X.data() + j * d.p;
      double fitted = 0;
      for (std::size_t g = 0; g < weight.size(); ++g) {
        double xb = 0, xax = 0;
        for (std::size_t a = 0; a < d.p; ++a) {
          const auto ia = static_cast<Eigen::Index>(a);
          xb += x[a] * at[g].beta[ia];
          double ax = 0;
          for (std::size_t b = 0; b < d.p; ++b) ax += at[g].A(ia, static_cast<Eigen::Index>(b)) * x[b];
          xax += x[a] * ax;
        }
        mu[g] = xb;
        v_mu[g] = xax;
        fitted += weight[g] * xb;
      }
      mp.offset = offset.empty() ? 0.0 : offset[j];
      const auto i = static_cast<Eigen::Index>(j);
      const detail::posterior post = detail::mixture_posterior_of(d.y[i], d.v[i], mp);
      r.fitted[j] = mp.offset + fitted;
      r.shrinkage[j] = post.shrinkage;
      r.estimate[j] = post.estimate;
      r.sd[j] = post.sd;
      r.lower[j] = post.lower;
      r.upper[j] = post.upper;
    }
  });
  r.notes.push_back("bayes: flat prior on the coefficients; each coefficient's estimate/se/ci and each group's "
                    "estimate/sd/lower/upper are posterior means, sds and quantiles averaged over tau (z and p are null); "
                    "tau2 is the posterior median of tau squared, and QE, QM, I2, H2 and the log-likelihoods are taken there");
}

}  // namespace

design_matrix intercept_design(std::size_t rows)
{
  design_matrix d;
  d.names = {"intercept"};
  d.x.assign(rows, 1.0);
  d.rows = rows;
  d.cols = 1;
  return d;
}

structure_comparison compare_structures(const std::vector<double>& y, const std::vector<double>& v,
                                        const design_matrix& design, const std::vector<double>& offset)
{
  const problem d = make_problem(y, v, design, offset);
  const double k = static_cast<double>(d.k);
  const double log_det_xtx = solve(d, Vector::Ones(static_cast<Eigen::Index>(d.k)), d.y).log_det;
  // The hierarchical maximum: metafor's ML scoring, run to convergence far below its threshold.
  fit_options o;
  o.method = tau_method::ml;
  o.threshold = 1e-13 * (1 + d.v.mean());
  o.max_iterations = 100000;
  structure_comparison c;
  c.tau2_ml = estimate_tau2(d, o, log_det_xtx).tau2;

  const double base = -0.5 * (two_pi * d.v.array()).log().sum();  // every residual zero
  const double pooled = base - 0.5 * solve(d, d.v.cwiseInverse(), d.y).rss;
  // At tau2 = 0 the hierarchy is the pooled structure itself (the same number, not a rounding apart).
  const double hierarchical = c.tau2_ml == 0 ? pooled : log_likelihood(d, d.y, c.tau2_ml, false, log_det_xtx);
  detail::add_structure(c, "separate", base, d.k, k, std::nullopt);
  detail::add_structure(c, "pooled", pooled, d.p, k, logo_score(d, 0));
  detail::add_structure(c, "hierarchical", hierarchical, d.p + 1, k, logo_score(d, c.tau2_ml));
  detail::decide_structure(c, d.p > 1);
  return c;
}

namespace detail {

void add_structure(structure_comparison& c, const char* name, double log_likelihood, std::size_t parameters, double n,
                   std::optional<double> logo_score)
{
  structure_fit s;
  s.name = name;
  s.log_likelihood = log_likelihood;
  s.parameters = parameters;
  s.aic = -2 * log_likelihood + 2 * static_cast<double>(parameters);
  s.bic = -2 * log_likelihood + static_cast<double>(parameters) * std::log(n);
  s.logo_score = logo_score;
  c.structures.push_back(s);
}

void decide_structure(structure_comparison& c, bool covariates)
{
  const double pooled = c.structures[1].log_likelihood, hierarchical = c.structures[2].log_likelihood;
  c.lr_statistic = std::max(0.0, 2 * (hierarchical - pooled));
  c.lr_p_value = c.lr_statistic > 0 ? 0.5 * chi_square_upper(c.lr_statistic, 1) : 1.0;
  const auto best = std::min_element(c.structures.begin(), c.structures.end(),
                                     [](const structure_fit& a, const structure_fit& b) { return a.aic < b.aic; });
  c.favoured = best->name;
  char p[32];
  std::snprintf(p, sizeof p, "%.3g", c.lr_p_value);
  const std::string given = covariates ? " once the covariates are accounted for" : "";
  if (c.favoured == "pooled")
    c.verdict = "the data favour the pooled structure (complete pooling): the groups differ no more than sampling noise"
                " explains" + given + " (likelihood-ratio test of tau2 = 0: p = " + std::string(p) + ")";
  else if (c.favoured == "hierarchical")
    c.verdict = "the data favour the hierarchical structure (partial pooling): the groups differ beyond sampling noise" +
                given + " (p = " + p + "), and each group's estimate borrows strength from the others";
  else
    c.verdict = "the data favour the separate structure (no pooling): the groups differ so much beyond their noise"
                " that partial pooling barely moves them";
}

}  // namespace detail

namespace {

/// make_design and make_applied_design: `fit_levels` null for a fit (the levels are the rows'
/// own, and a constant covariate is refused), else the applied fit's levels.
design_matrix build_design(const std::vector<covariate>& columns, std::size_t rows, bool intercept,
                           const std::vector<std::vector<std::string>>* fit_levels)
{
  const bool applied = fit_levels != nullptr;
  SHRINK_EXPECTS(!applied || fit_levels->size() == columns.size(), "internal: one list of levels per covariate");
  design_matrix d;
  d.rows = rows;
  d.intercept = intercept;
  std::vector<std::vector<double>> cols;
  if (intercept) {
    d.names.push_back("intercept");
    cols.emplace_back(rows, 1.0);
  }
  bool full_factor = !intercept;  // without an intercept, the first factor keeps every level
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const covariate& c = columns[i];
    SHRINK_EXPECTS(c.numbers.size() == rows || c.labels.size() == rows, "covariate '" + c.name + "' has the wrong length");
    d.covariates.push_back(c.name);
    const bool factor = applied ? !(*fit_levels)[i].empty() : !c.labels.empty();
    if (applied && factor != !c.labels.empty())
      throw error("covariate '" + c.name + "' is " + (factor ? "a factor" : "numeric") + " in the applied fit but " +
                  (factor ? "numeric" : "text") + " here");
    if (factor) {
      const std::set<std::string> seen(c.labels.begin(), c.labels.end());
      const std::vector<std::string> levels = applied ? (*fit_levels)[i] : std::vector<std::string>(seen.begin(), seen.end());
      if (applied) {
        for (const std::string& label : seen)
          SHRINK_EXPECTS(std::binary_search(levels.begin(), levels.end(), label),
                         "covariate '" + c.name + "': level '" + label + "' is not one of the applied fit's levels");
      } else {
        // Constant, it is the intercept where it keeps its one level (no intercept, first factor).
        SHRINK_EXPECTS(levels.size() > 1 || full_factor, "covariate '" + c.name + "' is constant (every group has level '" +
                                                           levels.front() + "'): drop it");
      }
      auto level = levels.begin();
      if (!full_factor) ++level;  // treatment contrasts: the first level is the baseline
      full_factor = false;
      for (; level != levels.end(); ++level) {
        d.names.push_back(c.name + *level);
        std::vector<double> x(rows);
        for (std::size_t j = 0; j < rows; ++j) x[j] = c.labels[j] == *level ? 1.0 : 0.0;
        cols.push_back(std::move(x));
      }
      d.levels.push_back(levels);
    } else {
      for (double x : c.numbers) SHRINK_EXPECTS(std::isfinite(x), "covariate '" + c.name + "' has a value that is not a finite number");
      const bool constant =
        std::all_of(c.numbers.begin(), c.numbers.end(), [&](double x) { return x == c.numbers.front(); });
      // Without --no-intercept a constant is the intercept again; with it, it is the intercept.
      SHRINK_EXPECTS(applied || !constant || !intercept, "covariate '" + c.name + "' is constant (every group has " +
                                                           std::to_string(c.numbers.front()) + "): drop it");
      d.names.push_back(c.name);
      cols.push_back(c.numbers);
      d.levels.emplace_back();
    }
  }
  SHRINK_EXPECTS(!cols.empty(), "--no-intercept without covariates leaves no coefficients");
  d.cols = cols.size();
  d.x.resize(rows * d.cols);
  for (std::size_t j = 0; j < rows; ++j)
    for (std::size_t c = 0; c < d.cols; ++c) d.x[j * d.cols + c] = cols[c][j];
  return d;
}

}  // namespace

design_matrix make_design(const std::vector<covariate>& columns, std::size_t rows, bool intercept)
{
  return build_design(columns, rows, intercept, nullptr);
}

design_matrix make_applied_design(const std::vector<covariate>& columns, std::size_t rows, bool intercept,
                                  const std::vector<std::vector<std::string>>& levels)
{
  return build_design(columns, rows, intercept, &levels);
}

meta_regression_result fit_meta_regression(const std::vector<double>& y, const std::vector<double>& v,
                                           const design_matrix& design, const std::vector<double>& offset,
                                           const fit_options& o)
{
  const std::size_t k = y.size(), p = design.cols;
  SHRINK_EXPECTS(!o.t_prior_df, "--covariates: --prior t is not available with covariates");
  SHRINK_EXPECTS(o.level > 0 && o.level < 1, "--level must lie strictly between 0 and 1");

  const backend use = resolve_backend(o.requested_backend);
  const problem d = make_problem(y, v, design, offset, use, o.threads);
  const double log_det_xtx = solve(d, Vector::Ones(static_cast<Eigen::Index>(k)), d.y).log_det;

  meta_regression_result r;
  r.used = use;
  r.method = o.method;
  r.level = o.level;
  SHRINK_EXPECTS(o.method != tau_method::fixed || (std::isfinite(o.tau) && o.tau >= 0), "--tau must be a finite number >= 0");
  const bool bayes = o.method == tau_method::bayes;
  if (bayes) {
    fit_bayes(d, design, offset, o, r);
  } else {
    const tau2_fit t = estimate_tau2(d, o, log_det_xtx);
    r.tau2 = t.tau2;
    r.tau2_se = t.se;
    r.iterations = t.iterations;
  }

  // Coefficients at the estimate.
  const wls f = solve(d, weights_at(d, r.tau2), d.y);
  const double z_crit = detail::interval_quantile(o.level);
  for (std::size_t c = 0; c < p && !bayes; ++c) {
    coefficient e;
    e.name = design.names[c];
    const Vector a = coefficient_row(d, design.intercept, c);
    e.estimate = a.dot(f.beta);
    e.se = std::sqrt(a.dot(f.A * a));
    e.z = e.estimate / e.se;
    e.p = chi_square_upper(e.z * e.z, 1);
    e.lower = e.estimate - z_crit * e.se;
    e.upper = e.estimate + z_crit * e.se;
    r.coefficients.push_back(e);
  }
  // QM: every coefficient but the intercept.
  const Eigen::Index first = design.intercept ? 1 : 0, m = static_cast<Eigen::Index>(p) - first;
  r.QM_df = static_cast<std::size_t>(m);
  if (m > 0) {
    const Vector b = f.beta.segment(first, m);
    r.QM = b.dot(f.A.block(first, first, m, m).llt().solve(b));
    r.QM_p = chi_square_upper(r.QM, static_cast<double>(m));
  }

  // Residual heterogeneity (weights 1 / v) and metafor's I2, H2.
  const Vector ones = Vector::Ones(static_cast<Eigen::Index>(k));
  const wls fe = solve(d, d.v.cwiseInverse(), d.y_centred);
  r.QE = std::max(0.0, fe.rss);
  r.QE_df = k - p;
  r.QE_p = chi_square_upper(r.QE, static_cast<double>(k - p));
  const double vt = static_cast<double>(k - p) / trace_p(d, fe, ones);
  r.I2 = 100 * r.tau2 / (vt + r.tau2);
  r.H2 = r.tau2 / vt + 1;
  r.log_likelihood_ml = log_likelihood(d, d.y, r.tau2, false, log_det_xtx);
  r.log_likelihood_reml = log_likelihood(d, d.y, r.tau2, true, log_det_xtx);

  if (o.method != tau_method::fixed && !bayes) {
    // Q-profile interval (Viechtbauer 2007): Q(tau2) at the chi-square quantiles on k - p df.
    const double df = static_cast<double>(k - p), alpha = 1 - o.level;
    const double hi = std::max(100.0, 10 * r.tau2);
    r.tau2_lower = solve_q(d, detail::chi_square_quantile(1 - alpha / 2, df), 0, hi);
    r.tau2_upper = solve_q(d, detail::chi_square_quantile(alpha / 2, df), 0, hi);
  }
  // R2: the intercept-only model's tau2 by the same method (metafor's pseudo-R2).
  if (design.intercept && p > 1 && o.method != tau_method::fixed && !bayes) {
    problem d0 = d;
    d0.X = Matrix::Ones(static_cast<Eigen::Index>(k), 1);
    d0.p = 1;
    d0.cross = detail::make_cross_reducer(use, d0.X.data(), k, 1, o.threads);
    const double tau2_re = estimate_tau2(d0, o, 0.0).tau2;
    r.R2 = tau2_re == 0 ? 0.0 : std::max(0.0, 100 * (tau2_re - r.tau2) / tau2_re);
  }

  // Per group, and what they were computed from (bayes: fit_bayes, a mixture over tau).
  if (!bayes) {
    const std::optional<mse_terms> mse = fay_herriot_terms(d, f, r.tau2, o.method);
    add_group_columns(r, d, offset, f.beta, f.A, r.tau2, z_crit, mse);
    meta_regression_parameters h;
    h.covariates = design.covariates;
    h.levels = design.levels;
    h.intercept = design.intercept;
    h.names = design.names;
    h.centres.assign(d.centres.data(), d.centres.data() + p);
    h.beta.assign(f.beta.data(), f.beta.data() + p);
    const RowMatrix A = f.A;
    h.beta_covariance.assign(A.data(), A.data() + p * p);
    h.tau2 = r.tau2;
    h.level = o.level;
    h.interval_quantile = z_crit;
    if (mse) {
      h.mse_variance = mse->variance;
      h.mse_bias = mse->bias;
    }
    r.posterior = std::move(h);
  }
  if (r.tau2 == 0 && !bayes) r.notes.push_back("tau2 = 0: the covariates explain the between-group variation; every group sits on its regression line");
  return r;
}

meta_regression_result apply_meta_regression(const std::vector<double>& y, const std::vector<double>& v,
                                             const design_matrix& design, const std::vector<double>& offset,
                                             const meta_regression_parameters& fit)
{
  const std::size_t p = fit.names.size();
  SHRINK_EXPECTS(design.names == fit.names, "--apply: the applied fit's coefficient_names do not follow from its covariates, "
                                            "factor_levels and intercept");
  SHRINK_EXPECTS(fit.beta.size() == p && fit.beta_covariance.size() == p * p, "internal: the applied fit's beta does not match its columns");
  const problem d = applied_problem(y, v, design, offset, fit.centres);
  const Vector beta = Eigen::Map<const Vector>(fit.beta.data(), static_cast<Eigen::Index>(p));
  const Matrix A = Eigen::Map<const RowMatrix>(fit.beta_covariance.data(), static_cast<Eigen::Index>(p), static_cast<Eigen::Index>(p));

  meta_regression_result r;
  r.applied = true;
  r.method = tau_method::fixed;
  r.level = fit.level;
  r.tau2 = fit.tau2;
  // The fit's coefficient table, from its own numbers (as fit_meta_regression reports it).
  const double z_crit = fit.interval_quantile;
  for (std::size_t c = 0; c < p; ++c) {
    coefficient e;
    e.name = fit.names[c];
    const Vector a = coefficient_row(d, fit.intercept, c);
    e.estimate = a.dot(beta);
    e.se = std::sqrt(a.dot(A * a));
    e.z = e.estimate / e.se;
    e.p = chi_square_upper(e.z * e.z, 1);
    e.lower = e.estimate - z_crit * e.se;
    e.upper = e.estimate + z_crit * e.se;
    r.coefficients.push_back(e);
  }
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  r.QE = r.QE_p = r.QM = r.QM_p = r.I2 = r.H2 = r.log_likelihood_ml = r.log_likelihood_reml = nan;
  std::optional<mse_terms> mse;
  if (fit.mse_variance && fit.mse_bias) mse = mse_terms{*fit.mse_variance, *fit.mse_bias};
  add_group_columns(r, d, offset, beta, A, r.tau2, z_crit, mse);
  r.posterior = fit;
  return r;
}

}  // namespace shrink
