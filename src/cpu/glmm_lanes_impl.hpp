// The kernels of glmm_lanes.hpp, written once over a register type V of simulate_lanes_impl.hpp
// (sse2_ops, avx2_ops, avx512_ops) and instantiated by glmm_lanes_{sse2,avx2,avx512}.cpp, each built
// for its instruction set. As there, everything has internal linkage and nothing calls outside
// this file: no function built for AVX-512 can stand in for a portable one at link time.

#include "glmm_lanes.hpp"
#include "simulate_lanes_impl.hpp"

namespace shrink::detail::sim {
namespace {

template <class V>
struct glmm_density {
  using d = typename V::d;
  static constexpr int width = V::width;

  /// posterior_density::operator() with logit_normal::at (logit) or log_normal::at, step for step.
  template <bool logit>
  static unsigned run(const glmm_lanes::density_args& a, const double* z, int n, double* value, double* theta,
                      double* slope)
  {
    const d zero = V::set(0.0), one = V::set(1.0), count = V::set(a.count), size = V::set(a.size);
    unsigned left = 0;
    for (int first = 0; first < n; first += width) {
      const int here = n - first < width ? n - first : width;
      double in[width] = {}, out[3][width];
      for (int k = 0; k < here; ++k) in[k] = z[first + k];
      // u = u0 + s z, eta = mu + tau u.
      const d u = V::add(V::set(a.u0), V::mul(V::set(a.s), V::load(in)));
      const d eta = V::add(V::set(a.mu), V::mul(V::set(a.tau), u));
      unsigned ok = 0, ok_r = 0;
      d f0, f1, p;
      if (logit) {
        // e = exp(-|eta|); where eta >= 0: p = 1 / (1 + e), q = e / (1 + e), f0 = (y - n) eta - n log1p(e),
        // f1 = (y - n) + n q; else p = e / (1 + e), q = 1 / (1 + e), f0 = y eta - n log1p(e), f1 = y - n p.
        const auto negative = V::less(eta, zero);
        const d minus_eta = V::as_double(V::bit_xor(V::as_bits(eta), V::set(std::uint64_t{0x8000000000000000ull})));
        const d e = lanes<V>::exp_lanes(V::select(negative, eta, minus_eta), ok);
        const d one_e = V::add(one, e);
        const d recip = V::div(one, one_e), ratio = V::div(e, one_e);
        p = V::select(negative, ratio, recip);
        const d q = V::select(negative, recip, ratio);
        // portable_log1p(e): log(1 + e) e / ((1 + e) - 1), or e where 1 + e rounds to 1.
        const d log1p = V::select(V::equal(one_e, one), e,
                                  V::mul(draw_math<V>::log_normal(one_e), V::div(e, V::sub(one_e, one))));
        const d y_n = V::sub(count, size);
        f0 = V::sub(V::mul(V::select(negative, count, y_n), eta), V::mul(size, log1p));
        f1 = V::select(negative, V::sub(count, V::mul(size, p)), V::add(y_n, V::mul(size, q)));
      } else {
        // rate = exp(eta), m = E rate: f0 = y eta - m, f1 = y - m.
        p = lanes<V>::exp_lanes(eta, ok);
        const d m = V::mul(size, p);
        f0 = V::sub(V::mul(count, eta), m);
        f1 = V::sub(count, m);
      }
      // r = exp(f0 - u^2 / 2 - h0), slope = s (tau f1 - u).
      const d r = lanes<V>::exp_lanes(V::sub(V::sub(f0, V::mul(V::mul(V::set(0.5), u), u)), V::set(a.h0)), ok_r);
      V::store(out[0], r);
      V::store(out[1], p);
      V::store(out[2], V::mul(V::set(a.s), V::sub(V::mul(V::set(a.tau), f1), u)));
      for (int k = 0; k < here; ++k) {
        value[first + k] = out[0][k];
        theta[first + k] = out[1][k];
        slope[first + k] = out[2][k];
      }
      left |= (~(ok & ok_r) & ((1u << here) - 1u)) << first;
    }
    return left;
  }

  static const glmm_lanes::kernels& table()
  {
    static const glmm_lanes::kernels k{&run<true>, &run<false>};
    return k;
  }
};

}  // namespace
}  // namespace shrink::detail::sim
