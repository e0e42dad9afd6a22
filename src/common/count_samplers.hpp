#pragma once
// Exact samplers of the count families' simulation studies (`shrink simulate --family`), written
// once for both backends (SHRINK_HD) on Philox streams (philox.hpp) and the portable logarithm and
// exponential (portable_log.hpp, special.hpp): no libm call, so the CPU and the GPU draw the same bits.
//
// Every sampler reads its own stream and uses one Philox call (four 32-bit words) per attempt, call
// 0, 1, 2, ... in order: a draw is a pure function of (stream, parameters), however many attempts
// it takes.
//   gamma     Marsaglia & Tsang (2000): a normal (words 0-2) and a uniform (word 3) per attempt;
//             shape < 1 by Gamma(a) = Gamma(a + 1) U^(1/a), kept on the log scale (U^(1/a) underflows
//             for small a), U from a call of its own (call 0; attempts then start at 1).
//   beta      two gammas on two streams: theta = G_a / (G_a + G_b) when both shapes are >= 1, else
//             1 / (1 + exp(log G_b - log G_a)).
//   binomial  inversion (the pmf's recurrence from 0) where n min(p, 1 - p) < 10, else Hormann's
//             BTRS (transformed rejection with squeeze, Hormann 1993): two uniforms per attempt.
//   poisson   inversion where the mean is below 10, else Hormann's PTRS (1993): two uniforms per attempt.

#include "macros.hpp"
#include "philox.hpp"
#include "special.hpp"

#include <cmath>
#include <cstdint>

namespace shrink::detail::sim {

/// Means (n p for the binomial) from which the rejection samplers take over from inversion.
inline constexpr double inversion_limit = 10;

/// log of a standard Gamma(shape) draw (shape > 0): Marsaglia & Tsang with the portable logarithm.
SHRINK_HD inline double log_standard_gamma(double shape, const philox_stream& s)
{
  double log_boost = 0;
  std::uint32_t call = 0;
  if (shape < 1) {
    const philox_words x = s(call++);
    log_boost = log_unit(uniform52(x.w[0], x.w[1])) / shape;
    shape += 1;
  }
  return portable_log(marsaglia_tsang(shape, s, call, [](double v) { return portable_log(v); })) + log_boost;
}

/// Beta(a, b) from two gamma streams: G_a / (G_a + G_b) where both shapes are >= 1 (three fewer
/// log/exp), else on the log scale (a small shape's gamma underflows).
SHRINK_HD inline double beta_draw(double a, double b, const philox_stream& sa, const philox_stream& sb)
{
  if (a >= 1 && b >= 1) {
    const auto log_fn = [](double v) { return portable_log(v); };
    const double ga = marsaglia_tsang(a, sa, 0, log_fn), gb = marsaglia_tsang(b, sb, 0, log_fn);
    return ga / (ga + gb);
  }
  return 1.0 / (1.0 + portable_exp(log_standard_gamma(b, sb) - log_standard_gamma(a, sa)));
}

/// log k! - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2]: Stirling's correction of log k!
/// (BTRS's f_c), by the asymptotic series from k = 9, else from log Gamma itself.
SHRINK_HD inline double log_factorial_correction(double k)
{
  using namespace special_detail;
  if (k >= 9) return stirling_correction(k + 1);
  return log_gamma(k + 1) - ((k + 0.5) * portable_log(k + 1) - (k + 1) + half_log_two_pi);
}

/// Binomial(n, p) by inversion (n p < inversion_limit, p <= 1/2): one uniform, the pmf summed from 0.
SHRINK_HD inline double binomial_inversion(double n, double p, const philox_stream& s)
{
  const philox_words x = s(0);
  const double u = uniform52(x.w[0], x.w[1]);
  const double ratio = p / (1 - p);
  double f = portable_exp(n * portable_log1p(-p)), cdf = f, k = 0;
  // f > 0: a u above the rounded total (within ulps of 1) stops where the pmf underflows.
  while (u > cdf && k < n && f > 0) {
    f *= (n - k) / (k + 1) * ratio;
    k += 1;
    cdf += f;
  }
  return k;
}

/// Binomial(n, p) by BTRS (n p >= inversion_limit, p <= 1/2).
SHRINK_HD inline double binomial_btrs(double n, double p, const philox_stream& s)
{
  const double q = 1 - p;
  const double spq = std::sqrt(n * p * q);
  const double b = 1.15 + 2.53 * spq;
  const double a = -0.0873 + 0.0248 * b + 0.01 * p;
  const double c = n * p + 0.5;
  const double v_r = 0.92 - 4.2 / b;
  const double r = p / q;
  const double alpha = (2.83 + 5.1 / b) * spq;
  const double m = std::floor((n + 1) * p);
  // The bound at the mode, taken at the first draw that the squeeze does not accept (most never need it).
  double bound_m = 0;
  bool have_bound_m = false;
  for (std::uint32_t call = 0;; ++call) {
    const philox_words x = s(call);
    const double u = uniform52(x.w[0], x.w[1]) - 0.5, v = uniform52(x.w[2], x.w[3]);
    const double us = 0.5 - std::fabs(u);
    const double k = std::floor((2 * a / us + b) * u + c);
    if (us >= 0.07 && v <= v_r) return k;
    if (k < 0 || k > n) continue;
    if (!have_bound_m) {
      bound_m = (m + 0.5) * portable_log((m + 1) / (r * (n - m + 1))) + log_factorial_correction(m) +
                log_factorial_correction(n - m);
      have_bound_m = true;
    }
    const double log_v = portable_log(v * alpha / (a / (us * us) + b));
    const double bound = bound_m + (n + 1) * portable_log((n - m + 1) / (n - k + 1)) +
                         (k + 0.5) * portable_log((n - k + 1) * r / (k + 1)) - log_factorial_correction(k) -
                         log_factorial_correction(n - k);
    if (log_v <= bound) return k;
  }
}

/// Binomial(n, p), n a whole number >= 0, 0 <= p <= 1.
SHRINK_HD inline double binomial_draw(double n, double p, const philox_stream& s)
{
  if (!(p > 0) || n == 0) return 0;
  if (!(p < 1)) return n;
  // The smaller of p and 1 - p: inversion's sum is short and BTRS's constants hold.
  const bool flip = p > 0.5;
  const double small = flip ? 1 - p : p;
  const double k = n * small < inversion_limit ? binomial_inversion(n, small, s) : binomial_btrs(n, small, s);
  return flip ? n - k : k;
}

/// Poisson(mean), mean >= 0.
SHRINK_HD inline double poisson_draw(double mean, const philox_stream& s)
{
  if (!(mean > 0)) return 0;
  if (mean < inversion_limit) {
    const philox_words x = s(0);
    const double u = uniform52(x.w[0], x.w[1]);
    double f = portable_exp(-mean), cdf = f, k = 0;
    while (u > cdf && f > 0) {
      k += 1;
      f *= mean / k;
      cdf += f;
    }
    return k;
  }
  // PTRS.
  const double log_mean = portable_log(mean);
  const double b = 0.931 + 2.53 * std::sqrt(mean);
  const double a = -0.059 + 0.02483 * b;
  const double log_inv_alpha = portable_log(1.1239 + 1.1328 / (b - 3.4));
  const double v_r = 0.9277 - 3.6224 / (b - 2);
  for (std::uint32_t call = 0;; ++call) {
    const philox_words x = s(call);
    const double u = uniform52(x.w[0], x.w[1]) - 0.5, v = uniform52(x.w[2], x.w[3]);
    const double us = 0.5 - std::fabs(u);
    const double k = std::floor((2 * a / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= v_r) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (portable_log(v) + log_inv_alpha - portable_log(a / (us * us) + b) <= -mean + k * log_mean - log_gamma(k + 1))
      return k;
  }
}

/// One scenario of a count family's study, flattened for kernels.
struct count_scenario {
  std::uint32_t index = 0;  ///< the scenario word of the Philox counter (a hash of groups and sizes)
  std::uint64_t seed = 0;
  std::int64_t groups = 0;
  bool binomial = true;     ///< else poisson
  double a = 1, b = 1;      ///< the true prior: Beta(a, b), or Gamma(shape a, rate b)
  bool equal_size = true;   ///< every size is `size`, else the design array's
  double size = 1;          ///< trials or exposure when equal_size
};

/// A group's true rate and its count.
struct count_draw {
  double theta = 0, y = 0;
};

/// theta_j from the prior and y_j given it, for group j of replicate r with `size` trials or exposure:
/// the same streams for every concentration of a (groups, sizes) pair (common random numbers).
SHRINK_HD inline count_draw draw_count_group(const count_scenario& s, double size, std::uint64_t r, std::uint64_t j)
{
  const philox_stream prior = make_stream(s.seed, s.index, r, j, purpose::prior_a);
  const philox_stream data = make_stream(s.seed, s.index, r, j, purpose::counts);
  count_draw d;
  if (s.binomial) {
    d.theta = beta_draw(s.a, s.b, prior, make_stream(s.seed, s.index, r, j, purpose::prior_b));
    d.y = binomial_draw(size, d.theta, data);
  } else {
    d.theta = portable_exp(log_standard_gamma(s.a, prior)) / s.b;
    d.y = poisson_draw(size * d.theta, data);
  }
  return d;
}

}  // namespace shrink::detail::sim
