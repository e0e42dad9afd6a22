#pragma once
// What every count family (beta-binomial, gamma-Poisson) gives the generic estimators
// (src/api/count_fit.cpp), written once for both backends:
//   - group { count, size }: successes of trials, or counts over an exposure;
//   - marginal(group, a, b): the group's marginal log-likelihood (without constants) and its
//     gradient and Hessian in the prior's natural parameters (a, b) (Beta(alpha, beta),
//     Gamma(shape, rate)): summed over groups, one reduction gives a Newton step;
//   - natural(u, v): the working parameters (u: the prior mean on its link scale, v: log of the
//     concentration or shape) mapped to (a, b) with first and second derivatives, so Newton runs
//     on a scale where the likelihood is close to quadratic (logit/log: the remark);
//   - log_constant(group), limit(count, size, u): the constants added back for the reported
//     log-likelihood, and the likelihood as the concentration goes to infinity (no over-dispersion);
//   - posterior_of(group, a, b, tail): the conjugate posterior's mean, sd, shrinkage and exact
//     central interval (posterior_moments without the interval; posterior_cdf its CDF and density,
//     and marginal_value the marginal's value alone, for the full-Bayes grid and mixtures).
// A new family is one such header plus one line in count_fit.cpp's instantiations.

#include "common/macros.hpp"

#include <cstddef>

namespace shrink::detail {

/// Sums over groups of a marginal log-likelihood, its gradient and Hessian in (a, b).
struct marginal_sums {
  double value = 0;
  double d_a = 0, d_b = 0;
  double d_aa = 0, d_ab = 0, d_bb = 0;

  SHRINK_HD marginal_sums& operator+=(const marginal_sums& o)
  {
    value += o.value;
    d_a += o.d_a;
    d_b += o.d_b;
    d_aa += o.d_aa;
    d_ab += o.d_ab;
    d_bb += o.d_bb;
    return *this;
  }
  SHRINK_HD friend marginal_sums operator+(marginal_sums a, const marginal_sums& b) { return a += b; }
};

/// A group's terms counted `w` times (identical groups gathered into one entry); unchanged at w = 1.
SHRINK_HD inline marginal_sums scaled(marginal_sums m, double w)
{
  if (w == 1) return m;
  m.value *= w;
  m.d_a *= w;
  m.d_b *= w;
  m.d_aa *= w;
  m.d_ab *= w;
  m.d_bb *= w;
  return m;
}

/// The reduction term of entry i: its marginal terms at (a, b), weighted. One definition for the
/// CPU's reduction and the GPU's, so both sum the same bits in the same fixed tree.
template <class Family>
struct marginal_term {
  const typename Family::group* groups;
  const double* weights;  ///< null: every entry one group
  double a, b;
  SHRINK_HD marginal_sums operator()(std::size_t i) const
  {
    return scaled(Family::marginal(groups[i], a, b), weights != nullptr ? weights[i] : 1.0);
  }
};

/// The value alone of marginal_term (the same bits as its .value: scaled() multiplies the same way).
template <class Family>
struct marginal_value_term {
  const typename Family::group* groups;
  const double* weights;  ///< null: every entry one group
  double a, b;
  SHRINK_HD double operator()(std::size_t i) const
  {
    const double v = Family::marginal_value(groups[i], a, b);
    const double w = weights != nullptr ? weights[i] : 1.0;
    return w == 1 ? v : v * w;
  }
};

/// (a, b) as functions of the working parameters (u, v), with their first and second derivatives.
struct parameter_map {
  double a = 0, b = 0;
  double a_u = 0, a_v = 0, b_u = 0, b_v = 0;
  double a_uu = 0, a_uv = 0, a_vv = 0, b_uu = 0, b_uv = 0, b_vv = 0;
};

/// The log-likelihood with its gradient and Hessian in (u, v).
struct working_terms {
  double value = 0, g_u = 0, g_v = 0, h_uu = 0, h_uv = 0, h_vv = 0;
};

/// The chain rule from (a, b) to (u, v).
SHRINK_HD inline working_terms to_working(const marginal_sums& s, const parameter_map& p)
{
  working_terms w;
  w.value = s.value;
  w.g_u = s.d_a * p.a_u + s.d_b * p.b_u;
  w.g_v = s.d_a * p.a_v + s.d_b * p.b_v;
  w.h_uu = s.d_aa * p.a_u * p.a_u + 2 * s.d_ab * p.a_u * p.b_u + s.d_bb * p.b_u * p.b_u + s.d_a * p.a_uu + s.d_b * p.b_uu;
  w.h_uv = s.d_aa * p.a_u * p.a_v + s.d_ab * (p.a_u * p.b_v + p.a_v * p.b_u) + s.d_bb * p.b_u * p.b_v + s.d_a * p.a_uv +
           s.d_b * p.b_uv;
  w.h_vv = s.d_aa * p.a_v * p.a_v + 2 * s.d_ab * p.a_v * p.b_v + s.d_bb * p.b_v * p.b_v + s.d_a * p.a_vv + s.d_b * p.b_vv;
  return w;
}

/// A conjugate posterior's summary for one group.
struct count_posterior {
  double mean = 0;       ///< the posterior mean: partial pooling
  double sd = 0;         ///< the posterior's standard deviation
  double shrinkage = 0;  ///< the weight of the prior mean in the posterior mean
  double lower = 0;      ///< the `tail` quantile
  double upper = 0;      ///< the 1 - `tail` quantile
};

}  // namespace shrink::detail
