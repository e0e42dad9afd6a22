// The kernels of glmm_lanes.hpp, written once over a register type V of simulate_lanes_impl.hpp
// (sse2_ops, avx2_ops, avx512_ops) and instantiated by glmm_lanes_{sse2,avx2,avx512}.cpp, each built
// for its instruction set. As there, everything has internal linkage and nothing calls outside
// this file: no function built for AVX-512 can stand in for a portable one at link time.
//
// The formulas are normal_prior.hpp's, copied expression for expression over `num` (a register
// whose operators are the lanes' correctly rounded +, -, *, / and a sign flip for unary minus), so
// C++'s left-to-right grouping gives each lane the scalar operations in the scalar order.

#include "glmm_lanes.hpp"
#include "simulate_lanes_impl.hpp"

namespace shrink::detail::sim {
namespace {

template <class V>
struct num {
  typename V::d v;
  num(typename V::d x) : v(x) {}
  num(double x) : v(V::set(x)) {}
};
template <class V> num<V> operator+(num<V> a, num<V> b) { return V::add(a.v, b.v); }
template <class V> num<V> operator-(num<V> a, num<V> b) { return V::sub(a.v, b.v); }
template <class V> num<V> operator*(num<V> a, num<V> b) { return V::mul(a.v, b.v); }
template <class V> num<V> operator/(num<V> a, num<V> b) { return V::div(a.v, b.v); }
template <class V> num<V> operator+(double a, num<V> b) { return num<V>(a) + b; }
template <class V> num<V> operator-(double a, num<V> b) { return num<V>(a) - b; }
template <class V> num<V> operator*(double a, num<V> b) { return num<V>(a) * b; }
template <class V> num<V> operator/(double a, num<V> b) { return num<V>(a) / b; }
template <class V> num<V> operator+(num<V> a, double b) { return a + num<V>(b); }
template <class V> num<V> operator-(num<V> a, double b) { return a - num<V>(b); }
template <class V> num<V> operator*(num<V> a, double b) { return a * num<V>(b); }
template <class V> num<V> operator/(num<V> a, double b) { return a / num<V>(b); }
template <class V> num<V> operator-(num<V> a)
{
  return V::as_double(V::bit_xor(V::as_bits(a.v), V::set(std::uint64_t{0x8000000000000000ull})));
}

template <class V> num<V> sqrt_of(num<V> a) { return V::sqrt(a.v); }

template <class V>
struct glmm_lane_formulas {
  using d = typename V::d;
  using n = num<V>;
  static constexpr int width = V::width;
  static constexpr unsigned all = (1u << width) - 1u;

  static n abs(n x) { return V::as_double(V::bit_and(V::as_bits(x.v), V::set(std::uint64_t{0x7FFFFFFFFFFFFFFFull}))); }
  static n select(unsigned lanes, n a, n b) { return V::select(V::from_bits(lanes), a.v, b.v); }
  static unsigned less(n a, n b) { return V::bits(V::less(a.v, b.v)); }
  static unsigned less_equal(n a, n b) { return V::bits(V::less_equal(a.v, b.v)); }
  static unsigned equal(n a, n b) { return V::bits(V::equal(a.v, b.v)); }
  /// portable_exp; lanes outside the lanes' range are cleared from `ok`.
  static n exp(n x, unsigned& ok)
  {
    unsigned in_range = 0;
    const n e = lanes<V>::exp_lanes(x.v, in_range);
    ok &= in_range;
    return e;
  }
  /// portable_log for positive normal x; other lanes are cleared from `ok`.
  static n log(n x, unsigned& ok)
  {
    ok &= less_equal(0x1p-1022, x) & less(x, HUGE_VAL);
    return draw_math<V>::log_normal(x.v);
  }

  struct terms {
    n f0, f1, f2, f3, f4, theta;
  };
  /// logit_normal::at (logit) or log_normal::at.
  template <bool logit>
  static terms at(n count, n size, n eta, unsigned& ok)
  {
    if (!logit) {
      const n rate = exp(eta, ok), m = size * rate;
      return {count * eta - m, count - m, -m, -m, -m, rate};
    }
    const unsigned negative = less(eta, 0.0);  // eta >= 0 elsewhere (NaN lanes fail exp's range)
    const n e = exp(select(negative, eta, -eta), ok);
    const n recip = 1 / (1 + e), ratio = e / (1 + e);
    const n p = select(negative, ratio, recip), q = select(negative, recip, ratio);
    const n npq = size * p * q;
    // portable_log1p(e): u = 1 + e; e where u is 1, else log(u) (e / (u - 1)).
    const n u = 1.0 + e;
    const n log1p = select(equal(u, 1.0), e, log(u, ok) * (e / (u - 1.0)));
    const n f0 = select(negative, count * eta, (count - size) * eta) - size * log1p;
    const n f1 = select(negative, count - size * p, (count - size) + size * q);
    return {f0, f1, -npq, -npq * (q - p), -npq * (1 - 6 * p * q), p};
  }

  /// The density kernel (glmm_lanes::density_kernel): posterior_density::operator().
  template <bool logit>
  static unsigned density(const glmm_lanes::density_args& a, const double* z, int count, double* value, double* theta,
                          double* slope)
  {
    unsigned left = 0;
    for (int first = 0; first < count; first += width) {
      const int here = count - first < width ? count - first : width;
      double in[width] = {}, out[3][width];
      for (int k = 0; k < here; ++k) in[k] = z[first + k];
      unsigned ok = all;
      const n u = a.u0 + a.s * n(V::load(in));
      const terms t = at<logit>(a.count, a.size, a.mu + a.tau * u, ok);
      V::store(out[0], exp(t.f0 - 0.5 * u * u - a.h0, ok).v);
      V::store(out[1], t.theta.v);
      V::store(out[2], (a.s * (a.tau * t.f1 - u)).v);
      for (int k = 0; k < here; ++k) {
        value[first + k] = out[0][k];
        theta[first + k] = out[1][k];
        slope[first + k] = out[2][k];
      }
      left |= (~ok & ((1u << here) - 1u)) << first;
    }
    return left;
  }

  /// conditional_mode_terms from mode_memory::start or Likelihood::saturated, masked lane by lane.
  template <bool logit>
  static n mode(n count, n size, double mu, double tau, n u, terms& here, unsigned& ok)
  {
    // The fresh start where the remembered one is not finite.
    const unsigned fresh = ~equal(u - u, 0.0) & all;
    if (fresh != 0) {
      n eta_y = 0.0, information = 0.0;
      unsigned ok_start = all;
      if (logit) {
        const n p = (count + 0.5) / (size + 1);
        eta_y = log((count + 0.5) / (size - count + 0.5), ok_start);
        information = size * p * (1 - p);
      } else {
        eta_y = log((count + 0.5) / size, ok_start);
        information = count + 0.5;
      }
      ok &= ok_start | ~fresh;
      u = select(fresh, tau * information * (eta_y - mu) / (1 + tau * tau * information), u);
    }
    here = at<logit>(count, size, mu + tau * u, ok);
    unsigned active = all;
    for (int iteration = 0; iteration < 200 && active != 0; ++iteration) {
      const n h = here.f0 - 0.5 * u * u;
      const n h1 = tau * here.f1 - u, h2 = tau * tau * here.f2 - 1, h3 = tau * tau * tau * here.f3;
      const n newton = -h1 / h2, damp = 0.5 * newton * h3 / h2;
      n step = select(less(damp, 0.5) & less(-0.5, damp), newton / (1 - damp), newton);
      const n floor = h - 1e-14 * (1 + abs(h));
      terms next = here;
      unsigned pending = active;
      for (int halving = 0; halving < 60 && pending != 0; ++halving) {
        unsigned ok_next = all;
        const terms t = at<logit>(count, size, mu + tau * (u + step), ok_next);
        ok &= ok_next | ~pending;
        const n h_next = t.f0 - 0.5 * (u + step) * (u + step);
        const unsigned accept = equal(h_next, h_next) & less_equal(floor, h_next);
        next = {select(pending, t.f0, next.f0), select(pending, t.f1, next.f1), select(pending, t.f2, next.f2),
                select(pending, t.f3, next.f3), select(pending, t.f4, next.f4), select(pending, t.theta, next.theta)};
        pending &= ~accept;
        step = select(pending, step * 0.5, step);
      }
      u = select(active, u + step, u);
      here = next;  // unchanged in the lanes no longer active
      active &= ~less_equal(abs(step), 1e-7 * (1 + abs(u)));
    }
    return u;
  }

  /// The AGHQ kernel (glmm_lanes::aghq_kernel): aghq_term's terms of entries [first, first + count).
  template <bool logit>
  static unsigned aghq(const glmm_lanes::aghq_args& a, std::size_t first, int count, marginal_sums* out)
  {
    const double mu = a.mu, tau = a.tau;
    const bool remembered = a.warm && a.d_mu <= 0.25 && a.d_mu >= -0.25 && a.d_tau <= 0.25 && a.d_tau >= -0.25;
    unsigned left = 0;
    for (int block = 0; block < count; block += width) {
      const int here = count - block < width ? count - block : width;
      double y[width], size[width], weight[width], start[width], mem[5][width];
      for (int k = 0; k < width; ++k) {
        const std::size_t i = first + static_cast<std::size_t>(block + (k < here ? k : 0));
        y[k] = a.groups[2 * i];
        size[k] = a.groups[2 * i + 1];
        weight[k] = a.weights != nullptr ? a.weights[i] : 1.0;
        const mode_memory& m = a.memory[i];
        start[k] = m.u;
        mem[0][k] = m.du_mu;
        mem[1][k] = m.du_tau;
        mem[2][k] = m.du_mu_mu;
        mem[3][k] = m.du_mu_tau;
        mem[4][k] = m.du_tau_tau;
      }
      unsigned ok = all;
      // mode_memory::start.
      n u = __builtin_nan("");
      if (remembered) {
        const double d_mu = a.d_mu, d_tau = a.d_tau;
        const n du_mu = V::load(mem[0]), du_tau = V::load(mem[1]), du_mu_mu = V::load(mem[2]);
        const n du_mu_tau = V::load(mem[3]), du_tau_tau = V::load(mem[4]);
        u = n(V::load(start)) + (du_mu * d_mu + du_tau * d_tau) +
            0.5 * (du_mu_mu * d_mu * d_mu + 2 * du_mu_tau * d_mu * d_tau + du_tau_tau * d_tau * d_tau);
      }
      terms f = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
      const n u0 = mode<logit>(V::load(y), V::load(size), mu, tau, u, f, ok);
      // aghq_terms from here on, expression for expression.
      const mode_scale<n> m = mode_scale_at(tau, u0, f);
      const n s = m.s, dls1 = m.dls1, dls2 = m.dls2, dls11 = m.dls11, dls12 = m.dls12, dls22 = m.dls22;
      const n h0 = f.f0 - 0.5 * u0 * u0;
      node_sums<n> nodes;
      for (int k = 0; k < a.points; ++k) {
        const double z = a.z[k];
        const n uk = u0 + z * s;
        const terms t = z == 0 ? f : at<logit>(V::load(y), V::load(size), mu + tau * uk, ok);
        nodes.add(z, uk, a.w[k] * exp(t.f0 - 0.5 * uk * uk - h0 + 0.5 * z * z, ok), t, tau, m);
      }
      const n A = nodes.A, S11 = nodes.S11, S12 = nodes.S12, S22 = nodes.S22;
      const n g1 = nodes.G1 / A, g2 = nodes.G2 / A;
      const unsigned one = equal(A, 1.0);
      unsigned ok_log = all;
      const n log_a = log(A, ok_log);
      ok &= ok_log | one;
      const n value = h0 + log(s, ok) + select(one, 0.0, log_a);
      // scaled(): times the weight where it is not 1.
      const n wt = V::load(weight);
      const unsigned unit = equal(wt, 1.0);
      const n sums[6] = {value,
                         dls1 + g1,
                         dls2 + g2,
                         dls11 + S11 / A - g1 * g1,
                         dls12 + S12 / A - g1 * g2,
                         dls22 + S22 / A - g2 * g2};
      double lanes_out[6][width], memory_out[6][width];
      for (int j = 0; j < 6; ++j) V::store(lanes_out[j], select(unit, sums[j], sums[j] * wt).v);
      const n memory[6] = {u0, m.du1, m.du2, m.duu11, m.duu12, m.duu22};
      for (int j = 0; j < 6; ++j) V::store(memory_out[j], memory[j].v);
      for (int k = 0; k < here; ++k) {
        if (!(ok >> k & 1u)) continue;  // left to the scalar formula, its memory untouched
        const std::size_t i = first + static_cast<std::size_t>(block + k);
        out[block + k] = {lanes_out[0][k], lanes_out[1][k], lanes_out[2][k], lanes_out[3][k], lanes_out[4][k], lanes_out[5][k]};
        a.memory[i] = {memory_out[0][k], memory_out[1][k], memory_out[2][k], memory_out[3][k], memory_out[4][k], memory_out[5][k]};
      }
      left |= (~ok & ((1u << here) - 1u)) << block;
    }
    return left;
  }

  static const glmm_lanes::kernels& table()
  {
    static const glmm_lanes::kernels k{&density<true>, &density<false>, &aghq<true>, &aghq<false>};
    return k;
  }
};

}  // namespace
}  // namespace shrink::detail::sim
