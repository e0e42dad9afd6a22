#pragma once
// Special functions of the proportion and count families (beta-binomial, gamma-Poisson), once for
// both backends: exp, log1p, log-gamma, digamma, trigamma, log-beta, the regularised incomplete
// beta and gamma functions and their inverses.
//
// Like portable_log, everything here is built from IEEE additions, multiplications, divisions and
// square roots (correctly rounded on the host and the GPU; both builds turn fused multiply-adds off)
// and integer operations on the bits, with no call into a libm: the host's and the device's libm
// differ in the last place, and a sum over a million groups of per-group terms would differ in its
// last bits. So the CPU and the CUDA backends get the same bits from these functions.
//
// Accuracy (tests/cpu/special_test.cpp, against 60-digit mpmath values in tests/data):
//   portable_exp 1 ulp (fdlibm's exp), portable_log1p 2 ulp (Goldberg's correction of log);
//   log_gamma, digamma, trigamma: 4 ulp relative (Taylor series at 1 and 2 keep log_gamma relative at
//     its zeros), digamma 2 ulp absolute near its zero at 1.4616...; log_beta 8 ulp relative;
//   incomplete_beta: relative to the tail asked for, 1e-14 + 2 ulp x |log prefactor| + 4 ulp x
//     sqrt(a + b) (the continued fraction's terms; 1.3e-13 at a = b = 1e6), plus, where the fraction
//     runs on the other tail, the rounding of 1 - x through that tail's condition number
//     (the prefactor x^a (1-x)^b / B(a, b) is taken through Stirling differences for large a and b,
//     so a million trials cost nothing to cancellation);
//   incomplete_gamma: 1e-13 relative (its series and fraction are short);
//   the inverses: the forward error carried through the slope (dx = dp / density), plus 8 ulp of x.
// Parameters beyond ~1e8 would want Temme's uniform asymptotic expansions (not built: the fraction
// then takes ~sqrt(a) terms and its rounding grows as the bound above says).

#include "bits.hpp"
#include "exact_arithmetic.hpp"
#include "fdlibm_constants.hpp"
#include "macros.hpp"
#include "portable_log.hpp"

#include <cmath>
#include <cstdint>

namespace shrink::detail {

SHRINK_HD inline double not_a_number() { return double_of(0x7ff8000000000000ull); }

/// e^x, the same bits on host and device (fdlibm's e_exp.c: x = k ln2 + r, |r| <= ln2/2, and a
/// degree-5 minimax polynomial for r; error < 1 ulp). +inf above 709.78, 0 below -745.13.
SHRINK_HD inline double portable_exp(double x)
{
  using namespace fdlibm;
  if (x != x) return x;
  if (x > 7.09782712893383973096e+02) return HUGE_VAL;
  if (x < -7.45133219101941108420e+02) return 0.0;
  const double ax = x < 0 ? -x : x;
  if (ax < 0x1p-28) return 1.0 + x;
  int k = 0;
  double hi = x, lo = 0;
  if (ax > 0.5 * 6.93147180559945286227e-01) {
    k = static_cast<int>(inv_ln2 * x + (x < 0 ? -0.5 : 0.5));  // rounds to nearest (truncation after +-0.5)
    const double t = static_cast<double>(k);
    hi = x - t * ln2_hi;  // exact: ln2_hi has 32 trailing zero bits
    lo = t * ln2_lo;
  }
  const double r = hi - lo;
  const double t = r * r;
  const double c = r - t * (exp_p1 + t * (exp_p2 + t * (exp_p3 + t * (exp_p4 + t * exp_p5))));
  if (k == 0) return 1.0 - ((r * c) / (c - 2.0) - r);
  const double y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
  // y * 2^k by the exponent bits; below 2^-1021 in two steps (the result is subnormal).
  if (k >= -1021) return double_of(bits_of(y) + (static_cast<std::uint64_t>(static_cast<std::int64_t>(k)) << 52));
  return double_of(bits_of(y) + (static_cast<std::uint64_t>(static_cast<std::int64_t>(k + 1000)) << 52)) * 0x1p-1000;
}

/// log(1 + x) for x > -1, accurate for small x: with u = 1 + x rounded, log(u) * x / (u - 1)
/// corrects the rounding of u (Goldberg 1991, theorem 4).
SHRINK_HD inline double portable_log1p(double x)
{
  const double u = 1.0 + x;
  if (u == 1.0) return x;
  if (u == HUGE_VAL) return portable_log(x);
  return portable_log(u) * (x / (u - 1.0));
}

/// log(1 + d) - d, accurate also where the two terms nearly cancel (|d| small): the series
/// -d^2/2 + d^3/3 - ... for |d| < 1/2 (until its terms fall below the last bit), else the
/// difference itself (its terms then differ enough).
SHRINK_HD inline double log1p_minus(double d)
{
  if (d < -0.5 || d > 0.5) return portable_log1p(d) - d;
  double power = d * d, sum = -0.5 * power;
  for (int k = 3; k < 80; ++k) {
    power *= d;
    const double term = power / k;
    sum += (k & 1) ? term : -term;
    if ((term < 0 ? -term : term) < 0x1p-56 * (sum < 0 ? -sum : sum)) break;
  }
  return sum;
}

namespace special_detail {

constexpr double half_log_two_pi = 0.91893853320467274178;  // log(2 pi) / 2
constexpr double euler_gamma = 0.57721566490153286061;

/// Stirling's correction lgamma(x) - [(x - 1/2) log x - x + log(2 pi)/2] for x >= 10: the
/// asymptotic series 1/(12x) - 1/(360x^3) + ..., its first omitted term below 1e-17 there.
SHRINK_HD inline double stirling_correction(double x)
{
  const double r = 1.0 / x, r2 = r * r;
  return r * (1.0 / 12 +
              r2 * (-1.0 / 360 +
                    r2 * (1.0 / 1260 +
                          r2 * (-1.0 / 1680 + r2 * (1.0 / 1188 + r2 * (-691.0 / 360360 + r2 * (1.0 / 156)))))));
}

/// The Taylor series at z = 0 of log Gamma(1 + z) = -gamma z + sum_k (-1)^k zeta(k) z^k / k
/// (Abramowitz and Stegun 6.1.33) or, with `derivative`, of psi(1 + z) = -gamma + sum_k (-1)^k
/// zeta(k) z^(k-1) (6.3.14), for |z| <= 1/2: to k = 56 (30 for |z| <= 1/4), where the terms fall
/// below 2^-56 of the smallest value taken there. Relative accuracy at the zeros near z = 0.
SHRINK_HD inline double gamma_1p_series(double z, bool derivative)
{
  // (-1)^k zeta(k) and (-1)^k zeta(k) / k, k = 2 .. 56, correctly rounded (mpmath).
  constexpr double signed_zeta[55] = {
    1.6449340668482264, -1.2020569031595942, 1.0823232337111381, -1.03692775514337, 1.0173430619844492,
    -1.008349277381923, 1.0040773561979444, -1.0020083928260821, 1.000994575127818, -1.0004941886041194,
    1.000246086553308, -1.0001227133475785, 1.0000612481350588, -1.000030588236307, 1.0000152822594086,
    -1.0000076371976379, 1.000003817293265, -1.0000019082127165, 1.0000009539620338,
    -1.0000004769329869, 1.0000002384505027, -1.000000119219926, 1.000000059608189, -1.0000000298035034,
    1.0000000149015549, -1.0000000074507118, 1.000000003725334, -1.0000000018626598, 1.0000000009313275,
    -1.0000000004656628, 1.000000000232831, -1.0000000001164155, 1.0000000000582077,
    -1.0000000000291038, 1.000000000014552, -1.000000000007276, 1.000000000003638, -1.000000000001819,
    1.0000000000009095, -1.0000000000004547, 1.0000000000002274, -1.0000000000001137,
    1.0000000000000568, -1.0000000000000284, 1.0000000000000142, -1.000000000000007, 1.0000000000000036,
    -1.0000000000000018, 1.0000000000000009, -1.0000000000000004, 1.0000000000000002,
    -1.0000000000000002, 1.0, -1.0, 1.0};
  constexpr double signed_zeta_over_k[55] = {
    0.8224670334241132, -0.40068563438653143, 0.27058080842778454, -0.20738555102867398,
    0.1695571769974082, -0.1440498967688461, 0.12550966952474304, -0.11133426586956469,
    0.1000994575127818, -0.09095401714582904, 0.083353840546109, -0.0769325164113522,
    0.07143294629536133, -0.06666870588242046, 0.06250095514121304, -0.058823978658684585,
    0.055555767627403614, -0.05263167937961666, 0.05000004769810169, -0.047619070330142226,
    0.04545455629320467, -0.04347826605304026, 0.04166666915034121, -0.04000000119214014,
    0.03846153903467518, -0.037037037312989324, 0.035714285847333355, -0.034482758684919304,
    0.03333333336437758, -0.03225806453115042, 0.03125000000727597, -0.030303030306558044,
    0.029411764707594344, -0.02857142857226011, 0.027777777778181998, -0.027027027027223673,
    0.02631578947377995, -0.025641025641072283, 0.025000000000022737, -0.024390243902450117,
    0.023809523809529224, -0.023255813953491015, 0.02272727272727402, -0.022222222222222855,
    0.021739130434782917, -0.021276595744681003, 0.02083333333333341, -0.02040816326530616,
    0.020000000000000018, -0.019607843137254912, 0.019230769230769235, -0.01886792452830189,
    0.01851851851851852, -0.01818181818181818, 0.017857142857142856};
  const int last = (z < -0.25 || z > 0.25) ? 56 : 30;
  double s = 0;
  if (derivative) {
    for (int k = last; k >= 2; --k) s = s * z + signed_zeta[k - 2];
    return s * z - euler_gamma;
  }
  for (int k = last; k >= 2; --k) s = s * z + signed_zeta_over_k[k - 2];
  return z * (s * z - euler_gamma);
}

/// The asymptotic series of digamma beyond log x - 1/(2x), for x >= 10: sum B_2k / (2k x^2k)
/// (1/12, -1/120, 1/252, -1/240, 1/132, -691/32760, 1/12; the first omitted term < 1e-17).
SHRINK_HD inline double digamma_series(double x)
{
  const double r2 = 1 / (x * x);
  return r2 * (1.0 / 12 - r2 * (1.0 / 120 - r2 * (1.0 / 252 - r2 * (1.0 / 240 - r2 * (1.0 / 132 - r2 * (691.0 / 32760 - r2 / 12))))));
}

/// The asymptotic series of trigamma beyond 1/x + 1/(2x^2), for x >= 10: sum B_2k / x^(2k+1)
/// (1/6, -1/30, 1/42, -1/30, 5/66, -691/2730, 7/6).
SHRINK_HD inline double trigamma_series(double x)
{
  const double r = 1 / x, r2 = r * r;
  return r * r2 * (1.0 / 6 - r2 * (1.0 / 30 - r2 * (1.0 / 42 - r2 * (1.0 / 30 - r2 * (5.0 / 66 - r2 * (691.0 / 2730 - r2 * 7.0 / 6))))));
}

}  // namespace special_detail

/// log Gamma(x) for x > 0 (NaN otherwise, +inf at 0 and +inf): the Taylor series at 1 or 2 for
/// x < 2.5 (x - 1 and x - 2 are exact), the recurrence down into (1.5, 2.5] below 10 (its terms are
/// all positive), Stirling's series from 10.
SHRINK_HD inline double log_gamma(double x)
{
  using namespace special_detail;
  if (!(x > 0)) return x == 0 ? HUGE_VAL : not_a_number();
  if (x == HUGE_VAL) return x;
  if (x < 0.5) return gamma_1p_series(x, false) - portable_log(x);  // Gamma(x) = Gamma(1 + x) / x
  if (x <= 1.5) return gamma_1p_series(x - 1, false);
  if (x <= 2.5) return gamma_1p_series(x - 2, false) + portable_log1p(x - 2);  // Gamma(2 + z) = (1 + z) Gamma(1 + z)
  if (x >= 10) return (x - 0.5) * portable_log(x) - x + half_log_two_pi + stirling_correction(x);
  double product = 1, y = x;
  while (y > 2.5) {
    y -= 1;
    product *= y;
  }
  return portable_log(product) + gamma_1p_series(y - 2, false) + portable_log1p(y - 2);
}

/// log Beta(a, b) = lgamma(a) + lgamma(b) - lgamma(a + b) for a, b > 0; for large arguments by
/// Stirling differences, so that three nearly cancelling lgamma values lose nothing.
SHRINK_HD inline double log_beta(double a, double b)
{
  using namespace special_detail;
  if (!(a > 0 && b > 0)) return a >= 0 && b >= 0 ? HUGE_VAL : not_a_number();
  const double lo = a < b ? a : b, hi = a < b ? b : a;
  if (lo >= 10) {
    // (lo - 1/2) log(lo / s) + hi log(hi / s) + log(2 pi)/2 + corrections, s = lo + hi.
    const double s = lo + hi;
    const double corr = stirling_correction(lo) + stirling_correction(hi) - stirling_correction(s);
    return (lo - 0.5) * portable_log(lo / s) + hi * portable_log1p(-lo / s) + half_log_two_pi - 0.5 * portable_log(hi) + corr;
  }
  if (hi >= 10) {
    // lgamma(hi) - lgamma(hi + lo) by Stirling: (hi - 1/2) log(hi/(hi+lo)) - lo log(hi+lo) + lo + corr.
    const double s = hi + lo;
    const double corr = stirling_correction(hi) - stirling_correction(s);
    return log_gamma(lo) + (hi - 0.5) * portable_log1p(-lo / s) - lo * portable_log(s) + lo + corr;
  }
  return log_gamma(a) + log_gamma(b) - log_gamma(a + b);
}

/// psi(x) = d/dx log Gamma(x) for x > 0: as log_gamma, the Taylor series at 1 or 2 below 2.5, the
/// recurrence down below 10 (positive terms: psi > 0 above its zero at 1.4616...), the asymptotic
/// series from 10.
SHRINK_HD inline double digamma(double x)
{
  using namespace special_detail;
  if (!(x > 0)) return not_a_number();
  if (x == HUGE_VAL) return x;
  if (x < 0.5) return gamma_1p_series(x, true) - 1 / x;  // psi(x) = psi(1 + x) - 1/x
  if (x <= 1.5) return gamma_1p_series(x - 1, true);
  if (x <= 2.5) return gamma_1p_series(x - 2, true) + 1 / (x - 1);  // psi(2 + z) = psi(1 + z) + 1/(1 + z)
  if (x < 10) {
    double sum = 0, y = x;
    while (y > 2.5) {
      y -= 1;
      sum += 1 / y;
    }
    return sum + gamma_1p_series(y - 2, true) + 1 / (y - 1);
  }
  return portable_log(x) - 0.5 / x - digamma_series(x);
}

/// psi'(x) = d^2/dx^2 log Gamma(x) for x > 0.
SHRINK_HD inline double trigamma(double x)
{
  using namespace special_detail;
  if (!(x > 0)) return not_a_number();
  if (x == HUGE_VAL) return 0.0;
  double shift = 0;
  while (x < 10) {
    shift += 1.0 / (x * x);
    x += 1;
  }
  const double r = 1.0 / x;
  return r + 0.5 * r * r + trigamma_series(x) + shift;
}


/// log[x^a (1 - x)^b / B(a, b)], the prefactor of the incomplete beta function, for a, b > 0 and
/// 0 < x < 1 (symmetric: the same for (b, a, 1 - x), so callers pass the x they were given and
/// never a rounded 1 - x). With both parameters large it is written around the mean p0 = a/(a+b):
/// with t = x - p0 and d1 = t / p0, d2 = -t / q0 (so that a d1 + b d2 = 0),
///   a log1p_minus(d1) + b log1p_minus(d2) + log(ab/(a+b))/2 - log(2 pi)/2 - Stirling corrections,
/// each term without cancellation; t is taken from the exact a/(a+b) (its rounding error added back),
/// or a and b of a million would cost the prefactor 1e-10 of its value.
struct beta_prefactor {
  double a = 0, b = 0;
  bool around_mean = false;  ///< a, b >= 10: the form around the mean
  double log_beta = 0;       ///< else log B(a, b)
  double p0 = 0, q0 = 0, p0_err = 0, half_log = 0, corr = 0;  ///< the form around the mean's constants

  /// log_beta_prefactor(a, b, x), to the bit.
  SHRINK_HD double at(double x) const
  {
    if (!around_mean) return a * portable_log(x) + b * portable_log1p(-x) - log_beta;
    const double t = (x - p0) - p0_err;
    return a * log1p_minus(t / p0) + b * log1p_minus(-t / q0) + half_log - special_detail::half_log_two_pi - corr;
  }
};

/// The terms of log_beta_prefactor that depend on (a, b) alone, worked out once for many x (the
/// Halley steps of a quantile evaluate the prefactor at each step).
SHRINK_HD inline beta_prefactor beta_prefactor_of(double a, double b)
{
  using namespace special_detail;
  beta_prefactor f;
  f.a = a;
  f.b = b;
  f.around_mean = !(a < 10 || b < 10);
  if (!f.around_mean) {
    f.log_beta = log_beta(a, b);
    return f;
  }
  double s, s_err, ps, ps_err;
  two_sum(a, b, s, s_err);
  f.p0 = a / s;
  f.q0 = b / s;
  two_prod(f.p0, s, ps, ps_err);
  f.p0_err = ((a - ps) - ps_err - f.p0 * s_err) / s;  // a/(a+b) - p0, to ~1e-16 of itself
  f.corr = stirling_correction(a) + stirling_correction(b) - stirling_correction(s);
  f.half_log = 0.5 * portable_log(a * (b / s));
  return f;
}

SHRINK_HD inline double log_beta_prefactor(double a, double b, double x) { return beta_prefactor_of(a, b).at(x); }

/// The prefactor for inverse_incomplete_beta_bounds: for a + b up to 1e6 its plain form
/// a log x + b log(1 - x) - log B(a, b), two logarithms where the form around the mean sums two
/// series of ~40 terms, at the cost of the rounding of its terms (~ulp x their size, allowed for
/// there); beyond, the form around the mean.
SHRINK_HD inline beta_prefactor bounds_prefactor_of(double a, double b)
{
  if (a + b > 1e6) return beta_prefactor_of(a, b);
  beta_prefactor f;
  f.a = a;
  f.b = b;
  f.log_beta = log_beta(a, b);
  return f;
}

/// log[x^a e^-x / Gamma(a)], the prefactor of the incomplete gamma function, for a, x > 0 (for
/// a >= 10 through a log1p_minus((x - a)/a), as log_beta_prefactor).
SHRINK_HD inline double log_gamma_prefactor(double a, double x)
{
  using namespace special_detail;
  if (a < 10) return a * portable_log(x) - x - log_gamma(a);
  return a * log1p_minus((x - a) / a) + 0.5 * portable_log(a) - half_log_two_pi - stirling_correction(a);
}

namespace special_detail {

constexpr double tiny = 1e-300;  // Lentz's guard against a zero denominator
constexpr int max_fraction_terms = 1000000;

/// The continued fraction of I_x(a, b) (Abramowitz and Stegun 26.5.8) by the modified Lentz
/// method, without its prefactor / a; it converges fast for x < (a + 1) / (a + b + 2), in about
/// sqrt(max(a, b)) terms. y = 1 - x, of which the caller knows the smaller exactly.
SHRINK_HD inline double beta_fraction(double a, double b, double x, double y)
{
  // The first denominator 1 - (a + b) x / (a + 1) = (1 - b + (a + b) y) / (a + 1), y = 1 - x: from
  // y when y is the exactly known one (x rounded from 1 - y), where the first form would cancel.
  double c = 1, d = y < x ? (1 - b + (a + b) * y) / (a + 1) : 1 - (a + b) * x / (a + 1);
  if (d > -tiny && d < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= max_fraction_terms; ++m) {
    const double m2 = 2.0 * m;
    double step = m * (b - m) * x / ((a + m2 - 1) * (a + m2));  // even term
    d = 1 + step * d;
    if (d > -tiny && d < tiny) d = tiny;
    c = 1 + step / c;
    if (c > -tiny && c < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    step = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));  // odd term
    d = 1 + step * d;
    if (d > -tiny && d < tiny) d = tiny;
    c = 1 + step / c;
    if (c > -tiny && c < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (delta > 1 - 0x1p-53 && delta < 1 + 0x1p-52) break;
  }
  return h;
}

}  // namespace special_detail

/// The regularised incomplete beta function I_x(a, b) = P(X <= x) for X ~ Beta(a, b), a, b > 0;
/// `upper` gives 1 - I_x(a, b) = I_(1-x)(b, a) without the cancellation of 1 - I. With `density`,
/// also the Beta(a, b) density at x (from the same prefactor).
/// `pf` is beta_prefactor_of(a, b) (for many x of one (a, b)).
SHRINK_HD inline double incomplete_beta(const beta_prefactor& pf, double x, bool upper = false, double* density = nullptr)
{
  const double a = pf.a, b = pf.b;
  if (!(a > 0 && b > 0) || !(x >= 0 && x <= 1)) return not_a_number();
  if (x == 0 || x == 1) {
    if (density != nullptr) *density = 0;  // (only its sign is used at the ends: no step from there)
    return (x == 0) != upper ? 0.0 : 1.0;
  }
  // The fraction for the tail it converges on; the other tail by symmetry.
  const bool swap = x * (a + b + 2) > a + 1;
  const double log_prefactor = pf.at(x);
  // (Below e^-690 the series' sum, up to a / prefactor, could overflow, and I_x is 1 to the last bit
  // beyond the fraction's tail: the fraction then.)
  if (swap && x < 0.5 && (a + b) * x <= 1e5 && log_prefactor > -690) {
    // The fraction would run on 1 - x rounded, whose relative error is eps / x (a tail of
    // Beta(3, 1e12) near x = 7e-12 would lose five digits): sum instead the series
    // I_x = prefactor / a * sum_n (a + b)_n / (a + 1)_n x^n (positive terms; about (a + b) x of
    // them before they fall) on x itself.
    const double prefactor = portable_exp(log_prefactor);
    if (density != nullptr) *density = prefactor / (x * (1 - x));
    double term = 1, sum = 1;
    for (double n = 0; n < 4e5; n += 1) {
      term *= (a + b + n) / (a + 1 + n) * x;
      sum += term;
      if (term < sum * 0x1p-54 && (a + b + n) * x < a + 1 + n) break;  // falling, and below the last bit
    }
    const double lower = prefactor * sum / a;
    // The upper tail as 1 - lower carries eps / upper of relative error, the fraction on 1 - x about
    // eps (a + b) / 100 (measured): the complement where it is the better of the two.
    if (!upper) return lower;
    if (1 - lower > 100 / (a + b)) return 1 - lower;
  }
  const double aa = swap ? b : a, bb = swap ? a : b, xx = swap ? 1 - x : x, yy = swap ? x : 1 - x;
  const double prefactor = portable_exp(log_prefactor);
  if (density != nullptr) *density = prefactor / (x * (1 - x));
  const double tail = prefactor * special_detail::beta_fraction(aa, bb, xx, yy) / aa;
  return (swap != upper) ? 1 - tail : tail;
}

SHRINK_HD inline double incomplete_beta(double a, double b, double x, bool upper = false, double* density = nullptr)
{
  return incomplete_beta(beta_prefactor_of(a, b), x, upper, density);
}

/// The regularised incomplete gamma functions P(a, x) = P(X <= x) for X ~ Gamma(a, 1) and, with
/// `upper`, Q(a, x) = 1 - P(a, x) without cancellation; a > 0, x >= 0.
SHRINK_HD inline double incomplete_gamma(double a, double x, bool upper = false)
{
  using namespace special_detail;
  if (!(a > 0) || !(x >= 0)) return not_a_number();
  if (x == 0) return upper ? 1.0 : 0.0;
  if (x == HUGE_VAL) return upper ? 0.0 : 1.0;
  const double front = portable_exp(log_gamma_prefactor(a, x));
  if (x < a + 1) {
    // P by its series: front / a * sum_n x^n / ((a + 1) ... (a + n)).
    double term = 1, sum = 1;
    for (int n = 1; n <= max_fraction_terms; ++n) {
      term *= x / (a + n);
      sum += term;
      if (term < sum * 0x1p-54) break;
    }
    const double p = front * sum / a;
    return upper ? 1 - p : p;
  }
  // Q by its continued fraction (Abramowitz and Stegun 6.5.31), modified Lentz.
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int n = 1; n <= max_fraction_terms; ++n) {
    const double an = -n * (n - a);
    b += 2;
    d = an * d + b;
    if (d > -tiny && d < tiny) d = tiny;
    c = b + an / c;
    if (c > -tiny && c < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (delta > 1 - 0x1p-53 && delta < 1 + 0x1p-52) break;
  }
  const double q = front * h;
  return upper ? q : 1 - q;
}

namespace special_detail {

/// Upper-tail standard normal quantile z (P(Z > z) = p, 0 < p <= 1/2) to about 4.5e-4: Abramowitz
/// and Stegun 26.2.23. A starting point for the Halley iterations below, nothing more.
SHRINK_HD inline double rough_normal_quantile(double p)
{
  const double t = std::sqrt(-2 * portable_log(p));
  return t - (2.515517 + t * (0.802853 + t * 0.010328)) / (1 + t * (1.432788 + t * (0.189269 + t * 0.001308)));
}

/// Root of f in [lo, hi] (f increasing, f(lo) < 0 < f(hi)) by Halley steps from x, each kept inside
/// the bracket (a bisection otherwise), until a step falls below 2^-40 of x (the next error is below
/// the last bit) or the bracket closes. `eval(x, f, ratio)`
/// gives f(x) and the Halley ratio f''/f' at x.
template <class Eval>
SHRINK_HD inline double bracketed_halley(double x, double lo, double hi, Eval&& eval)
{
  for (int i = 0; i < 200; ++i) {
    double f = 0, fprime = 0, curvature = 0;
    eval(x, f, fprime, curvature);
    if (f == 0) return x;
    if (f < 0) lo = x;
    else hi = x;
    double step = f / fprime;
    const double damp = 0.5 * step * curvature;
    if (damp < 1 && damp > -1) step /= 1 - damp;  // Halley's correction when it is sound
    double next = x - step;
    if (next == x) break;  // the step is below half an ulp: x is the root to the last bit
    const bool inside = next > lo && next < hi;
    // Outside the bracket: bisect; from a bracket that starts at 0, by 2^-64 steps, so a root far
    // below 1 (a tail quantile of a tiny shape, 1e-300) is reached in ~16 steps, not 1000 halvings.
    if (!inside) next = lo > 0 ? 0.5 * (lo + hi) : (x < hi ? x : hi) * 0x1p-64;
    const double change = next > x ? next - x : x - next;
    x = next;
    // A Halley (or Newton) step of 2^-40 relative leaves an error of its square or cube: far below
    // the last bit, so no evaluation after it is needed.
    if ((inside && change <= 0x1p-40 * x) || hi - lo <= 0x1p-52 * hi) break;
  }
  return x;
}

/// The starting point of inverse_incomplete_beta in (0, 1): Abramowitz and Stegun 26.5.22 (a, b >= 1)
/// or the tails' power laws; 0 < p < 1.
SHRINK_HD inline double beta_quantile_start(double a, double b, double p, bool upper)
{
  const double lower_p = upper ? 1 - p : p;
  double x;
  if (a >= 1 && b >= 1) {
    const double tail = lower_p < 0.5 ? lower_p : 1 - lower_p;
    double z = rough_normal_quantile(tail);  // z with P(Z > z) = tail
    if (lower_p < 0.5) z = -z;                // now P(Z < z) = lower_p
    const double lambda = (z * z - 3) / 6;
    const double h = 2 / (1 / (2 * a - 1) + 1 / (2 * b - 1));
    // With y = -z the upper-tail normal quantile of lower_p: x = a / (a + b e^(2w)).
    const double w = -z * std::sqrt(h + lambda) / h - (1 / (2 * b - 1) - 1 / (2 * a - 1)) * (lambda + 5.0 / 6 - 2 / (3 * h));
    x = a / (a + b * portable_exp(2 * w));
  } else {
    const double s = a + b;
    const double t = portable_exp(a * portable_log(a / s)) / a, u = portable_exp(b * portable_log(b / s)) / b;
    const double w = t + u;
    x = lower_p < t / w ? portable_exp(portable_log(a * w * lower_p) / a) : 1 - portable_exp(portable_log(b * w * (1 - lower_p)) / b);
  }
  return x > 0 && x < 1 ? x : a / (a + b);
}

}  // namespace special_detail

/// x with I_x(a, b) = p (or, with `upper`, 1 - I_x(a, b) = p): the Beta(a, b) quantile, 0 <= p <= 1.
/// Bracketed Halley steps on the incomplete beta function from beta_quantile_start.
/// `pf` is beta_prefactor_of(a, b) (for both ends of an interval).
SHRINK_HD inline double inverse_incomplete_beta(const beta_prefactor& pf, double p, bool upper = false)
{
  using namespace special_detail;
  const double a = pf.a, b = pf.b;
  if (!(a > 0 && b > 0) || !(p >= 0 && p <= 1)) return not_a_number();
  if (p == 0) return upper ? 1.0 : 0.0;
  if (p == 1) return upper ? 0.0 : 1.0;
  const double sign = upper ? -1.0 : 1.0;  // the upper tail decreases in x
  return bracketed_halley(beta_quantile_start(a, b, p, upper), 0.0, 1.0,
                          [&](double at, double& f, double& fprime, double& curvature) {
                            // f = sign (I_at - p), increasing; f' = the density; f''/f' = (a - 1)/x - (b - 1)/(1 - x).
                            f = sign * (incomplete_beta(pf, at, upper, &fprime) - p);
                            curvature = (a - 1) / at - (b - 1) / (1 - at);
                          });
}

/// Bounds [lo, hi] that hold inverse_incomplete_beta(pf, p, upper) for a, b >= 1, from one evaluation
/// of the incomplete beta at the starting point x0 instead of the ~4 of the quantile: where I must
/// change by D between x0 and the root r, D = the integral of the density g from x0 to r; g is
/// log-concave for a, b >= 1, so its log-slope (a - 1)/x - (b - 1)/(1 - x) falls with x and, on a
/// segment from x0, bounds g between g(x0) e^(w min slope) and g(x0) e^(w max slope): the root lies
/// D / g_max to D / g_min from x0 once the segment is wide enough to hold it. D and g(x0) are widened
/// by the incomplete beta's error (special.hpp's header, with a 100x margin; g by 2^-30 more) and the
/// bounds by 2^-30 of x0 (the quantile's own rounding is a few ulp: ~10^6 times less); `pf` in the
/// plain form (bounds_prefactor_of) adds its terms' rounding, 16 ulp of their sum, to both. Returns false
/// (no bounds) where a or b < 1 or the segment does not hold the root; a caller then takes the
/// quantile itself.
SHRINK_HD inline bool inverse_incomplete_beta_bounds(const beta_prefactor& pf, double p, bool upper, double& lo,
                                                     double& hi)
{
  using namespace special_detail;
  const double a = pf.a, b = pf.b;
  if (!(a >= 1 && b >= 1) || !(p > 0 && p < 1)) return false;
  const double x0 = beta_quantile_start(a, b, p, upper);
  double g0 = 0;
  const double tail = incomplete_beta(pf, x0, upper, &g0);
  // I(r) - I(x0) = D: p - I(x0) below, (1 - p) - (1 - Q(x0)) = Q(x0) - p above.
  const double d = upper ? tail - p : p - tail;
  if (!(g0 > 0)) return false;
  // The plain form's terms a log x + b log(1 - x) = log prefactor + log B, each <= 0 (a, b >= 1).
  const double terms = pf.around_mean ? 0.0 : -portable_log(g0 * x0 * (1 - x0)) - pf.log_beta;
  const double rounding = pf.around_mean ? 0.0 : 0x1p-48 * ((terms < 0 ? -terms : terms) + (pf.log_beta < 0 ? -pf.log_beta : pf.log_beta));
  const double relative = 1e-12 + 1e-14 * std::sqrt(a + b) + rounding;  // of the tail and of g0
  const double error = (tail > p ? tail : p) * relative;
  const double d_lo = (d < 0 ? -d : d) - error, d_hi = (d < 0 ? -d : d) + error;
  if (!(d_lo > 0)) return false;  // x0 too near the root to tell its side
  const double dir = d > 0 ? 1.0 : -1.0;
  const double w = 2 * d_hi / g0, x1 = x0 + dir * w;
  if (!(x1 > 0 && x1 < 1)) return false;
  // The log-slope of g along the direction to the root, at both ends of the segment.
  const double s0 = dir * ((a - 1) / x0 - (b - 1) / (1 - x0)), s1 = dir * ((a - 1) / x1 - (b - 1) / (1 - x1));
  const double slope_min = s0 < s1 ? s0 : s1, slope_max = s0 < s1 ? s1 : s0;
  const double g_min = g0 * portable_exp(w * (slope_min < 0 ? slope_min : 0.0)) * (1 - 0x1p-30 - relative);
  const double g_max = g0 * portable_exp(w * (slope_max > 0 ? slope_max : 0.0)) * (1 + 0x1p-30 + relative);
  const double far = d_hi / g_min, near = d_lo / g_max;
  if (!(far <= w)) return false;  // the segment might not reach the root
  const double margin = 0x1p-30 * (x0 + far);
  lo = dir > 0 ? x0 + near - margin : x0 - far - margin;
  hi = dir > 0 ? x0 + far + margin : x0 - near + margin;
  return true;
}

SHRINK_HD inline double inverse_incomplete_beta(double a, double b, double p, bool upper = false)
{
  return inverse_incomplete_beta(beta_prefactor_of(a, b), p, upper);
}

/// x with P(a, x) = p (or, with `upper`, Q(a, x) = p): the Gamma(a, 1) quantile, 0 <= p <= 1.
/// Starting points from the Wilson-Hilferty cube (a > 1) or the lower tail's power law, polished
/// by bracketed Halley steps.
SHRINK_HD inline double inverse_incomplete_gamma(double a, double p, bool upper = false)
{
  using namespace special_detail;
  if (!(a > 0) || !(p >= 0 && p <= 1)) return not_a_number();
  if (p == 0) return upper ? HUGE_VAL : 0.0;
  if (p == 1) return upper ? 0.0 : HUGE_VAL;
  const double lower_p = upper ? 1 - p : p;
  double x;
  if (a > 1) {
    const double tail = lower_p < 0.5 ? lower_p : 1 - lower_p;
    double z = rough_normal_quantile(tail);
    if (lower_p < 0.5) z = -z;
    const double c = 1 / (9 * a);
    const double r = 1 - c + z * std::sqrt(c);
    x = r > 0 ? a * r * r * r : a * 1e-3;
  } else {
    // P(a, x) ~ x^a / Gamma(a + 1) for small x; beyond, 1 - e^-x scaled.
    const double t = 1 - a * (0.253 + a * 0.12);
    x = lower_p < t ? portable_exp(portable_log(lower_p / t) / a) : 1 - portable_log1p(-(lower_p - t) / (1 - t));
  }
  // An upper end of the bracket: double until P(a, hi) > p.
  double hi = x > 1 ? 2 * x : 2;
  const double sign = upper ? -1.0 : 1.0;  // f = sign (P or Q - p) increases in x
  while (sign * (incomplete_gamma(a, hi, upper) - p) < 0 && hi < 1e300) hi *= 2;
  if (!(x > 0 && x < hi)) x = 0.5 * hi;
  return bracketed_halley(x, 0.0, hi, [&](double at, double& f, double& fprime, double& curvature) {
    // f' = the density at^(a-1) e^-at / Gamma(a); f''/f' = (a - 1)/x - 1.
    f = sign * (incomplete_gamma(a, at, upper) - p);
    fprime = portable_exp(log_gamma_prefactor(a, at)) / at;
    curvature = (a - 1) / at - 1;
  });
}

}  // namespace shrink::detail
