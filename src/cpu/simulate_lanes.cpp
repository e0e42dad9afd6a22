// The scalar kernels of simulate_lanes.hpp (the SHRINK_HD formulas group by group: the reference
// the SIMD levels must match bit for bit) and the choice of level.

#include "simulate_lanes.hpp"

#include "../common/count_samplers.hpp"
#include "../common/simulate_formulas.hpp"

#include <shrink/error.hpp>

#include <atomic>
#include <cstdlib>
#include <string>

namespace shrink::detail::sim {

namespace {

void draw_block_scalar(const draw_block_args& a, double* t, double* d, pass1_lanes& sums)
{
  for (std::uint32_t i = 0; i < a.count; ++i) {
    const normal_pair z = normals_of(philox4x32_10(philox_words{{0, a.first + i, a.replicate, a.tag}}, a.k0, a.k1));
    // design_of(): sigma_j = sigma sqrt(1 / n_j).
    double nj = a.n_equal, sigma_j = a.sigma_equal, inv_n = 0;
    if (a.n != nullptr) {
      nj = static_cast<double>(a.n[i]);
      inv_n = 1.0 / nj;
      sigma_j = a.sigma * std::sqrt(inv_n);
    }
    t[i] = a.tau * z.z0;
    d[i] = t[i] + sigma_j * z.z1;
    const int l = static_cast<int>(i % sum_lanes);
    sums.d[l] += d[i];
    sums.dd[l] += d[i] * d[i];
    sums.nd[l] += nj * d[i];
    if (a.n != nullptr) {
      sums.n[l] += nj;
      sums.inv_n[l] += inv_n;
    }
  }
}

/// Adds one group's pass3_sums terms into lane l.
void add_to_lane(const pass3_sums& one, int l, pass3_lanes& sums)
{
  for (int e = 0; e < estimator_count; ++e) {
    sums.se2[e][l] += one.se2[e];
    sums.se[e][l] += one.se[e];
  }
  sums.covered_np[l] += one.covered_np;
  sums.covered_pp[l] += one.covered_pp;
  sums.covered_or[l] += one.covered_or;
}

void pass3_block_scalar(const double* t, const double* d, std::uint32_t count, const pass3_constants& c,
                        pass3_lanes& sums)
{
  replicate_hats h{};
  h.mu_pooled = c.mu_pooled;
  h.mu = c.mu;
  h.js_center = c.js_center;
  h.js_c = c.js_c;
  const group_constants g{c.b_hat, c.half_pp, c.half_np, c.b_oracle, c.half_or};
  for (std::uint32_t i = 0; i < count; ++i) {
    pass3_sums one;  // this group's terms alone (0 + x = x), then added into its lane
    one.add(group_draw{t[i], d[i], 0.0}, g, h);
    add_to_lane(one, static_cast<int>(i % sum_lanes), sums);
  }
}

replicate_hats hats_of(const design_constants& c)
{
  replicate_hats h{};
  h.mu_pooled = c.mu_pooled;
  h.mu = c.mu;
  h.js_center = c.js_center;
  h.js_c = c.js_c;
  h.sigma2 = c.sigma2;
  h.tau2 = c.tau2;
  h.q = c.q;
  return h;
}

scenario_params scenario_of(const design_constants& c)
{
  scenario_params s;
  s.sigma = c.sigma;
  s.theta_var = c.theta_var;
  s.z = c.z;
  return s;
}

void pass3_block_design_scalar(const double* t, const double* d, const std::int32_t* n, std::uint32_t count,
                               const design_constants& c, pass3_lanes& sums)
{
  const replicate_hats h = hats_of(c);
  const scenario_params s = scenario_of(c);
  for (std::uint32_t i = 0; i < count; ++i) {
    pass3_sums one;
    one.add(group_draw{t[i], d[i], 0.0}, constants_of(s, design_of(s, n[i]), h), h);
    add_to_lane(one, static_cast<int>(i % sum_lanes), sums);
  }
}

void pass2_block_scalar(const double* d, const std::int32_t* n, std::uint32_t count, const design_constants& c,
                        pass2_lanes& sums)
{
  const scenario_params s = scenario_of(c);
  for (std::uint32_t i = 0; i < count; ++i) {
    pass2_sums one;
    one.add(d[i], design_of(s, n[i]).inv_n, c.sigma2, c.tau2);
    const auto l = static_cast<int>(i % sum_lanes);
    sums.w[l] += one.w;
    sums.wd[l] += one.wd;
  }
}

void normals_scalar(const std::uint32_t* w0, const std::uint32_t* w1, const std::uint32_t* w2,
                    const std::uint32_t* w3, std::uint32_t count, double* z0, double* z1)
{
  for (std::uint32_t i = 0; i < count; ++i) {
    const normal_pair z = normals_of(philox_words{{w0[i], w1[i], w2[i], w3[i]}});
    z0[i] = z.z0;
    z1[i] = z.z1;
  }
}

/// The streams of group first + i of a count block.
philox_stream stream_of(const count_block_args& a, std::uint32_t i, std::uint32_t tag)
{
  return philox_stream{a.k0, a.k1, a.first + i, a.replicate, tag};
}

double size_of(const count_block_args& a, std::uint32_t i)
{
  return a.n != nullptr ? static_cast<double>(a.n[i]) : a.n_equal;
}

/// Group first + i's count given theta[i], by the sampler itself.
void count_scalar(const count_block_args& a, std::uint32_t i, const double* theta, double* y)
{
  y[i] = a.binomial ? binomial_draw(size_of(a, i), theta[i], stream_of(a, i, a.tag_y))
                    : poisson_draw(size_of(a, i) * theta[i], stream_of(a, i, a.tag_y));
}

/// Group first + i's draws by the samplers themselves (draw_count_group).
void draws_scalar(const count_block_args& a, std::uint32_t i, double* theta, double* y)
{
  theta[i] = a.binomial ? beta_draw(a.a, a.b, stream_of(a, i, a.tag_a), stream_of(a, i, a.tag_b))
                        : portable_exp(log_standard_gamma(a.a, stream_of(a, i, a.tag_a))) / a.b;
  count_scalar(a, i, theta, y);
}

void count_block_scalar(const count_block_args& a, double* theta, double* y, redo_lanes& redo)
{
  redo.theta_count = redo.y_count = 0;
  for (std::uint32_t i = 0; i < a.count; ++i) draws_scalar(a, i, theta, y);
}

void logs_scalar(const double* x, std::uint32_t count, double* out)
{
  for (std::uint32_t i = 0; i < count; ++i) out[i] = portable_log(x[i]);
}

const lane_kernels scalar_kernels{draw_block_scalar, pass3_block_scalar, pass3_block_design_scalar, pass2_block_scalar,
                                  normals_scalar, count_block_scalar, logs_scalar};

// -1: not decided yet; else a simd_level. Deciding twice at once decides the same.
std::atomic<int> chosen{-1};

}  // namespace

simd_level simd_level_in_use()
{
  int level = chosen.load(std::memory_order_relaxed);
  if (level < 0) {
    level = static_cast<int>(detail::simd_level_requested());
    chosen.store(level, std::memory_order_relaxed);
  }
  return static_cast<simd_level>(level);
}

void force_simd_level(simd_level level)
{
  if (!simd_supported(level)) throw error(std::string("SIMD level ") + simd_name(level) + " is not supported here");
  chosen.store(static_cast<int>(level), std::memory_order_relaxed);
}

const lane_kernels& kernels_of(simd_level level)
{
#if defined(__x86_64__) && defined(__GNUC__)
  if (level == simd_level::avx512) return avx512_kernels();
  if (level == simd_level::avx2) return avx2_kernels();
  if (level == simd_level::sse2) return sse2_kernels();
#endif
  return scalar_kernels;
}

count_block_args count_block_args_of(const count_scenario& s)
{
  count_block_args a{};
  a.binomial = s.binomial;
  const philox_stream prior = make_stream(s.seed, s.index, 0, 0, purpose::prior_a);
  a.k0 = prior.k0;
  a.k1 = prior.k1;
  a.tag_a = prior.tag;
  a.tag_b = make_stream(s.seed, s.index, 0, 0, purpose::prior_b).tag;
  a.tag_y = make_stream(s.seed, s.index, 0, 0, purpose::counts).tag;
  a.a = s.a;
  a.b = s.b;
  a.inversion_limit = inversion_limit;
  a.n_equal = s.size;
  for (int x = 0; x < small_terms; ++x)
    a.small[x] = s.binomial ? log_factorial_correction(x) : log_gamma(x + 1.0);
  return a;
}

void draw_count_block(const lane_kernels& k, const count_block_args& a, double* theta, double* y, redo_lanes& redo)
{
  k.count_block(a, theta, y, redo);
  for (std::uint32_t r = 0; r < redo.theta_count; ++r) draws_scalar(a, redo.theta[r], theta, y);
  for (std::uint32_t r = 0; r < redo.y_count; ++r) count_scalar(a, redo.y[r], theta, y);
}

}  // namespace shrink::detail::sim
