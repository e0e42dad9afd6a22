#pragma once
// The normal prior's per-entry formulas (normal_prior.hpp) in SIMD lanes, for the CPU: the posterior
// density (posterior_density: r, theta and the slope of log r) at the points of one Gauss panel,
// and the AGHQ terms of 8 entries at once (aghq_term: the conditional mode's search masked lane by
// lane, then the derivatives). The lanes do the scalar formulas' IEEE operations in the same order
// (logit_normal::at or log_normal::at, portable_exp, portable_log and portable_log1p by
// simulate_lanes_impl.hpp's fdlibm steps), so every level gives the scalar bits; a lane whose
// exponential or logarithm leaves the lanes' range (or NaN) is left to the scalar formula. The
// level is simulate_lanes.hpp's (SHRINK_SIMD).

#include "common/families/normal_prior.hpp"

#include <cstddef>

namespace shrink::detail::glmm_lanes {

/// One entry's density: the group, (mu, tau), the mode u0, the scale s and h(u0).
struct density_args {
  double count, size, mu, tau, u0, s, h0;
};

/// r, theta and the slope at z[0, n) (n <= 10) into value, theta, slope; returns the mask of the
/// points (bit k: point k) left for the scalar formula.
using density_kernel = unsigned (*)(const density_args& a, const double* z, int n, double* value, double* theta,
                                    double* slope);

/// One AGHQ sum's arguments (aghq_term's), the groups as (count, size) pairs.
struct aghq_args {
  const double* groups;
  const double* weights;  ///< null: every entry one group
  double mu, tau;
  const double* z;
  const double* w;
  int points;
  mode_memory* memory;
  bool warm;
  double d_mu, d_tau;
};

/// aghq_term(first + k) into out[k], k < count <= 8, with its mode_memory; returns the mask of the
/// entries left for the scalar formula (their memory untouched).
using aghq_kernel = unsigned (*)(const aghq_args& a, std::size_t first, int count, marginal_sums* out);

struct kernels {
  density_kernel logit, log;  ///< logit_normal, log_normal
  aghq_kernel aghq_logit, aghq_log;
};

/// The kernels of the level in use; null at the scalar level (or off x86-64).
const kernels* kernels_in_use();

const kernels& sse2_kernels();
const kernels& avx2_kernels();
const kernels& avx512_kernels();

/// glmm_detail::pointwise's interface over the lanes of `k` (null: pointwise).
template <class Likelihood>
struct batch {
  const kernels* k = kernels_in_use();
  void operator()(const glmm_detail::posterior_density<Likelihood>& r, const double* z, int n, double* value,
                  double* theta, double* slope) const
  {
    if (k == nullptr) return glmm_detail::pointwise{}(r, z, n, value, theta, slope);
    const density_kernel kernel = Likelihood::bounded_mean ? k->logit : k->log;
    for (unsigned left = kernel({r.g.count, r.g.size, r.mu, r.tau, r.u0, r.s, r.h0}, z, n, value, theta, slope); left != 0;
         left &= left - 1) {
      const int i = __builtin_ctz(left);
      value[i] = r(z[i], theta + i, slope + i);
    }
  }
};

}  // namespace shrink::detail::glmm_lanes
