// The CPU simulation's SIMD levels (src/cpu/simulate_lanes.hpp) against the scalar SHRINK_HD
// formulas the GPU runs: every level this machine supports must give bit for bit the normals of
// normals_of(), the draws of draw_group(), the lane sums of the scalar kernels, and so the same CSV
// of whole studies. Levels this machine lacks are reported as skipped.

#include "common/count_samplers.hpp"
#include "common/philox.hpp"
#include "common/simulate_formulas.hpp"
#include "cpu/simulate_lanes.hpp"

#include <shrink/simulate.hpp>

#include "simd_levels.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace shrink;
namespace d = shrink::detail;
namespace sim = shrink::detail::sim;

using shrink::test::bits;
using shrink::test::forced_level;
using shrink::test::simd_levels;

TEST(SimulateSimd, ReportsWhichLevelsRun)
{
  EXPECT_TRUE(sim::simd_supported(sim::simd_level::scalar));
  for (sim::simd_level level : simd_levels)
    if (!sim::simd_supported(level)) std::cout << "[ SKIPPED  ] " << sim::simd_name(level) << ": not on this machine\n";
#if defined(__x86_64__)
  // x86-64 machines of the last decade have AVX2; a missing one here would hide a dispatch bug.
  EXPECT_EQ(sim::simd_supported(sim::simd_level::avx2), static_cast<bool>(__builtin_cpu_supports("avx2")));
#endif
}

TEST(SimulateSimd, NormalsMatchTheScalarFormulaOnEdgeAndRandomWords)
{
  // Words whose 52-bit radius and angle fields (bits52) hit the ends of (0, 1), every quarter-turn
  // boundary and its neighbours (the quadrant's swap and signs), and log's carry at m ~ sqrt(2).
  std::vector<std::uint64_t> radius = {0, 1, 2, (std::uint64_t{1} << 52) - 1, (std::uint64_t{1} << 52) - 2,
                                       std::uint64_t{0x6A09C} << 32, (std::uint64_t{0x6A09C} << 32) - 1,
                                       std::uint64_t{1} << 51, (std::uint64_t{1} << 51) - 1};
  std::vector<std::uint64_t> angle;
  for (std::uint64_t q = 0; q <= 4; ++q) {
    for (std::int64_t delta : {-2, -1, 0, 1, 2}) {
      const std::int64_t b = static_cast<std::int64_t>(q << 50) + (std::int64_t{1} << 49) * (q < 4 ? 1 : 0) + delta;
      const std::int64_t c = static_cast<std::int64_t>(q << 50) + delta;
      for (std::int64_t x : {b, c})
        if (x >= 0 && x < (std::int64_t{1} << 52)) angle.push_back(static_cast<std::uint64_t>(x));
    }
  }
  std::vector<std::uint32_t> w0, w1, w2, w3;
  const auto push = [&](std::uint64_t r, std::uint64_t a) {
    // bits52(hi, lo) = (hi << 20) ^ (lo >> 12) with the low 12 bits of lo free: set them.
    w0.push_back(static_cast<std::uint32_t>(r >> 20));
    w1.push_back(static_cast<std::uint32_t>((r & 0xFFFFF) << 12) | 0xABC);
    w2.push_back(static_cast<std::uint32_t>(a >> 20));
    w3.push_back(static_cast<std::uint32_t>((a & 0xFFFFF) << 12) | 0x123);
  };
  for (std::uint64_t r : radius)
    for (std::uint64_t a : angle) push(r, a);
  std::mt19937_64 gen(7);
  for (int i = 0; i < 100003; ++i) push(gen() >> 12, gen() >> 12);
  const auto count = static_cast<std::uint32_t>(w0.size());
  std::vector<double> z0(count), z1(count);
  for (sim::simd_level level : simd_levels) {
    if (!sim::simd_supported(level)) continue;
    sim::kernels_of(level).normals(w0.data(), w1.data(), w2.data(), w3.data(), count, z0.data(), z1.data());
    int shown = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
      const d::normal_pair ref = d::normals_of(d::philox_words{{w0[i], w1[i], w2[i], w3[i]}});
      if (bits(z0[i]) != bits(ref.z0) || bits(z1[i]) != bits(ref.z1)) {
        ADD_FAILURE() << sim::simd_name(level) << " word " << i << ": " << z0[i] << ", " << z1[i] << " vs "
                      << ref.z0 << ", " << ref.z1;
        if (++shown == 5) break;
      }
    }
  }
}

/// A scenario of sufficient mode with a normal prior, as the CPU backend's draws see it.
d::sim::scenario_params scenario(std::int64_t groups, std::int64_t n)
{
  d::sim::scenario_params s;
  s.index = 77;
  s.seed = 12345;
  s.groups = groups;
  s.n = n;
  s.equal_n = true;
  s.sigma = 1.7;
  s.tau = 0.6;
  return s;
}

TEST(SimulateSimd, BlockDrawsAndPassOneSumsMatchDrawGroupAndTheScalarKernel)
{
  std::vector<std::int32_t> n_j(4096);
  for (std::size_t i = 0; i < n_j.size(); ++i) n_j[i] = 1 + static_cast<std::int32_t>((i * 7919) % 23);
  // Replicates past 2^32 and a block past group 2^32 put upper halves into the key.
  const std::uint64_t replicate = (std::uint64_t{3} << 32) + 41;
  for (std::uint64_t j0 : {std::uint64_t{0}, std::uint64_t{8192}, (std::uint64_t{1} << 32) + 4096}) {
    for (std::uint32_t count : {4096u, 4095u, 13u, 8u, 7u, 1u}) {
      for (bool equal : {true, false}) {
        const d::sim::scenario_params s = scenario(static_cast<std::int64_t>(j0 + count), 10);
        const d::philox_stream base = d::make_stream(s.seed, s.index, replicate, j0, d::purpose::theta_ybar);
        const d::sim::group_design equal_design = d::sim::design_of(s, s.n);
        sim::draw_block_args a{base.k0, base.k1, base.replicate, base.tag, base.group, count, s.tau, s.sigma,
                               static_cast<double>(s.n), equal_design.sigma_j, equal ? nullptr : n_j.data()};
        std::vector<double> t_ref(count), d_ref(count);
        sim::pass1_lanes sums_ref{};
        sim::kernels_of(sim::simd_level::scalar).draw_block(a, t_ref.data(), d_ref.data(), sums_ref);
        // The scalar kernel is draw_group(), the GPU's formula, group by group.
        for (std::uint32_t i = 0; i < count; ++i) {
          const d::sim::group_design g = equal ? equal_design : d::sim::design_of(s, n_j[i]);
          const d::sim::group_draw x = d::sim::draw_group(s, g, replicate, j0 + i, false);
          EXPECT_SAME_BITS(t_ref[i], x.t, "t of group " << i);
          EXPECT_SAME_BITS(d_ref[i], x.d, "d of group " << i);
          if (i > 20) break;
        }
        // A hand fold of lane 3's sum of d: groups 3, 11, 19, ... in order.
        double lane3 = 0;
        for (std::uint32_t i = 3; i < count; i += 8) lane3 += d_ref[i];
        EXPECT_SAME_BITS(sums_ref.d[3], lane3, "lane 3");
        for (sim::simd_level level : simd_levels) {
          if (!sim::simd_supported(level)) continue;
          const std::string what = std::string(sim::simd_name(level)) + " j0 " + std::to_string(j0) + " count " +
                                   std::to_string(count) + (equal ? " equal n" : " unequal n");
          std::vector<double> t(count), dd(count);
          sim::pass1_lanes sums{};
          sim::kernels_of(level).draw_block(a, t.data(), dd.data(), sums);
          EXPECT_EQ(std::memcmp(t.data(), t_ref.data(), count * sizeof(double)), 0) << what;
          EXPECT_EQ(std::memcmp(dd.data(), d_ref.data(), count * sizeof(double)), 0) << what;
          EXPECT_EQ(std::memcmp(&sums, &sums_ref, sizeof sums), 0) << what;
        }
      }
    }
  }
}

TEST(SimulateSimd, PassThreeSumsMatchTheScalarKernelIncludingIntervalEnds)
{
  std::mt19937_64 gen(3);
  std::normal_distribution<double> normal;
  const sim::pass3_constants c{0.01, -0.02, 0.015, 0.93, 0.31, 0.62, 0.5, 0.27, 0.45};
  std::vector<double> t(4096), dd(4096);
  for (std::size_t i = 0; i < t.size(); ++i) {
    t[i] = 0.6 * normal(gen);
    dd[i] = t[i] + 0.5 * normal(gen);
  }
  // Groups exactly on the no-pooling interval's ends (|d - t| = half_np: covered) and just past.
  for (std::size_t i = 0; i < 40; ++i) {
    t[i] = 0.0;
    dd[i] = (i % 2 ? -1.0 : 1.0) * (i % 4 < 2 ? c.half_np : std::nextafter(c.half_np, 1.0));
  }
  for (std::uint32_t count : {4096u, 4093u, 12u, 5u, 1u}) {
    sim::pass3_lanes ref{};
    sim::kernels_of(sim::simd_level::scalar).pass3_block(t.data(), dd.data(), count, c, ref);
    // Lane 1's no-pooling coverage by hand: groups 1, 9, 17, ...
    double covered = 0;
    for (std::uint32_t i = 1; i < count; i += 8) covered += std::fabs(dd[i] - t[i]) <= c.half_np ? 1.0 : 0.0;
    EXPECT_EQ(ref.covered_np[1], covered);
    for (sim::simd_level level : simd_levels) {
      if (!sim::simd_supported(level)) continue;
      sim::pass3_lanes sums{};
      sim::kernels_of(level).pass3_block(t.data(), dd.data(), count, c, sums);
      EXPECT_EQ(std::memcmp(&sums, &ref, sizeof sums), 0) << sim::simd_name(level) << " count " << count;
    }
  }
}

TEST(SimulateSimd, UnequalSizePassesMatchConstantsOfGroupByGroup)
{
  std::mt19937_64 gen(5);
  std::normal_distribution<double> normal;
  std::vector<double> t(4096), dd(4096);
  std::vector<std::int32_t> n(4096);
  for (std::size_t i = 0; i < t.size(); ++i) {
    n[i] = 1 + static_cast<std::int32_t>(gen() % 40);
    t[i] = 0.6 * normal(gen);
    dd[i] = t[i] + normal(gen) / std::sqrt(static_cast<double>(n[i]));
  }
  for (double tau2 : {0.0, 0.37}) {
    const sim::design_constants c{0.01, -0.02, 0.015, 0.93, 1.1, tau2, 2.01, 1.05, 0.36, 1.959963984540054};
    // The scalar kernels against constants_of() and pass2_sums::add by hand, on lanes 0 and 5.
    d::sim::scenario_params s;
    s.sigma = c.sigma;
    s.theta_var = c.theta_var;
    s.z = c.z;
    d::sim::replicate_hats h{};
    h.mu_pooled = c.mu_pooled;
    h.mu = c.mu;
    h.js_center = c.js_center;
    h.js_c = c.js_c;
    h.sigma2 = c.sigma2;
    h.tau2 = c.tau2;
    h.q = c.q;
    sim::pass3_lanes ref3{};
    sim::pass2_lanes ref2{};
    sim::kernels_of(sim::simd_level::scalar).pass3_block_design(t.data(), dd.data(), n.data(), 4096, c, ref3);
    sim::kernels_of(sim::simd_level::scalar).pass2_block(dd.data(), n.data(), 4096, c, ref2);
    for (int lane : {0, 5}) {
      d::sim::pass3_sums by_hand;
      double w = 0;
      for (int i = lane; i < 4096; i += 8) {
        by_hand.add(d::sim::group_draw{t[i], dd[i], 0.0},
                    d::sim::constants_of(s, d::sim::design_of(s, n[i]), h), h);
        w += 1.0 / (c.sigma2 / n[i] + c.tau2);
      }
      EXPECT_SAME_BITS(ref3.se2[d::sim::partial_pool][lane], by_hand.se2[d::sim::partial_pool], "lane " << lane);
      EXPECT_EQ(ref3.covered_or[lane], by_hand.covered_or);
      EXPECT_NEAR(ref2.w[lane], w, 1e-12 * w);  // 1 / n_j rounded first in the kernel
    }
    for (sim::simd_level level : simd_levels) {
      if (!sim::simd_supported(level)) continue;
      for (std::uint32_t count : {4096u, 4091u, 6u}) {
        sim::pass3_lanes ref{}, sums3{};
        sim::pass2_lanes ref_w{}, sums2{};
        sim::kernels_of(sim::simd_level::scalar).pass3_block_design(t.data(), dd.data(), n.data(), count, c, ref);
        sim::kernels_of(sim::simd_level::scalar).pass2_block(dd.data(), n.data(), count, c, ref_w);
        sim::kernels_of(level).pass3_block_design(t.data(), dd.data(), n.data(), count, c, sums3);
        sim::kernels_of(level).pass2_block(dd.data(), n.data(), count, c, sums2);
        EXPECT_EQ(std::memcmp(&sums3, &ref, sizeof ref), 0) << sim::simd_name(level) << " count " << count;
        EXPECT_EQ(std::memcmp(&sums2, &ref_w, sizeof ref_w), 0) << sim::simd_name(level) << " count " << count;
      }
    }
  }
}

TEST(SimulateSimd, LogarithmMatchesPortableLogOnEdgeAndRandomArguments)
{
  // Powers of two and their neighbours, fdlibm's formula switches (high mantissa words 0x6147a and
  // 0x6b851) and normalisation carry (m ~ sqrt(2)), the ends of the normal range, random arguments.
  std::vector<double> x = {1.0, 2.0, 0.5, std::nextafter(1.0, 0.0), std::nextafter(1.0, 2.0),
                           std::numeric_limits<double>::min(), std::numeric_limits<double>::max(),
                           std::sqrt(2.0), std::sqrt(0.5), 1e-300, 1e300, 3.0, 10.0, 0.07};
  for (std::uint64_t hx : {0x6147aull, 0x6b851ull, 0x6a09cull, 0x6a09dull, 0x6a09eull})
    for (std::uint64_t exponent : {0x3ffull, 0x3feull, 0x400ull, 0x001ull, 0x7feull})
      for (std::int64_t delta : {-1, 0, 1}) {
        const std::uint64_t b = (exponent << 52) | ((hx << 32) + static_cast<std::uint64_t>(delta));
        double v;
        std::memcpy(&v, &b, sizeof v);
        x.push_back(v);
      }
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(-700, 700);
  for (int i = 0; i < 20000; ++i) x.push_back(std::exp(exponent(rng)));
  const auto count = static_cast<std::uint32_t>(x.size());
  std::vector<double> ref(x.size()), got(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = d::portable_log(x[i]);
  for (sim::simd_level level : simd_levels) {
    if (!sim::simd_supported(level)) continue;
    sim::kernels_of(level).logs(x.data(), count, got.data());
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_SAME_BITS(got[i], ref[i], sim::simd_name(level) << " log " << x[i]);
  }
}

TEST(SimulateSimd, CountBlocksMatchDrawCountGroupOnEveryLevel)
{
  struct prior {
    bool binomial;
    double a, b, size;
  };
  // Shapes at 1 and above (the lanes' range). Binomial: trials from few (inversion) to a billion
  // (BTRS throughout); Poisson: means from below 10 (inversion) to millions (PTRS). Size 0: the
  // unequal design below.
  const prior priors[] = {{true, 3, 7, 50},     {true, 1, 1, 20},   {true, 1, 30, 1000}, {true, 40, 2, 200},
                          {true, 300, 700, 1e9}, {true, 2.5, 2.5, 0}, {false, 1, 1, 5},    {false, 10, 0.5, 20},
                          {false, 2, 2, 1e6},    {false, 4, 20, 0}};
  std::vector<std::int32_t> design(sim::count_block);
  std::mt19937 rng(11);
  for (std::int32_t& n : design) n = std::uniform_int_distribution<std::int32_t>(1, 3000)(rng);
  std::vector<double> theta(sim::count_block), y(sim::count_block);
  const auto redo = std::make_unique<sim::redo_lanes>();
  for (const prior& p : priors) {
    sim::count_scenario s;
    s.index = 0xABCDE;
    s.seed = 99;
    s.binomial = p.binomial;
    s.a = p.a;
    s.b = p.b;
    s.equal_size = p.size > 0;
    s.size = p.size;
    for (std::uint64_t r : {0ull, 5ull, 4000000000ull}) {
      for (std::uint32_t first : {0u, 8192u}) {
        for (std::uint32_t count : {sim::count_block, 13u}) {
          sim::count_block_args a = sim::count_block_args_of(s);
          a.replicate = static_cast<std::uint32_t>(r);
          a.first = first;
          a.count = count;
          a.n = s.equal_size ? nullptr : design.data();
          for (sim::simd_level level : {sim::simd_level::scalar, sim::simd_level::sse2, sim::simd_level::avx2,
                                        sim::simd_level::avx512}) {
            if (!sim::simd_supported(level)) continue;
            sim::draw_count_block(sim::kernels_of(level), a, theta.data(), y.data(), *redo);
            for (std::uint32_t i = 0; i < count; ++i) {
              const double n = s.equal_size ? p.size : design[i];
              const sim::count_draw want = sim::draw_count_group(s, n, r, first + i);
              EXPECT_SAME_BITS(theta[i], want.theta, sim::simd_name(level) << " theta " << i);
              EXPECT_SAME_BITS(y[i], want.y, sim::simd_name(level) << " y " << i);
            }
            // The lanes settle nearly every draw themselves (the kernel is not the scalar sampler in disguise):
            // the rest are the gammas' rare rejections.
            if (level != sim::simd_level::scalar && count == sim::count_block)
              EXPECT_LT(redo->theta_count + redo->y_count, count / 25)
                  << sim::simd_name(level) << (p.binomial ? " binomial " : " poisson ") << p.a << ", " << p.b
                  << ", size " << p.size;
          }
        }
      }
    }
  }
}

struct study_variant {
  simulate_options o;
  std::string what;
};

/// Each study's CSV at every SIMD level this machine runs, bit for bit the scalar path's.
void expect_same_csv_on_every_level(const std::vector<study_variant>& variants)
{
  const forced_level restore;
  for (const study_variant& v : variants) {
    sim::force_simd_level(sim::simd_level::scalar);
    const std::string ref = shrink::test::simulate_csv(simulate(v.o));
    for (sim::simd_level level : simd_levels) {
      if (!sim::simd_supported(level)) continue;
      sim::force_simd_level(level);
      EXPECT_EQ(shrink::test::simulate_csv(simulate(v.o)), ref) << v.what << " on " << sim::simd_name(level);
    }
  }
}

simulate_options binomial_study(std::int64_t J, std::int64_t trials_min, std::int64_t trials_max, double nu,
                                std::uint64_t R)
{
  simulate_options o;
  o.family = count_family::binomial;
  o.groups = {J};
  o.obs = {obs_range{trials_min, trials_max}};
  o.prior_mean = 0.3;
  o.concentration = {nu};
  o.replicates = R;
  o.seed = 5;
  o.requested_backend = backend::cpu;
  o.threads = 1;
  return o;
}

TEST(SimulateSimd, CountStudiesAreBitwiseTheSameOnEveryLevel)
{
  std::vector<study_variant> variants;
  variants.push_back({binomial_study(4096 + 13, 50, 50, 10, 6), "50 trials, a partial block"});
  variants.push_back({binomial_study(300, 1, 400, 10, 10), "unequal trials"});
  variants.push_back({binomial_study(7, 20, 20, 1000, 30), "J = 7, concentration 1000"});
  simulate_options mixed = binomial_study(2000, 30, 30, 1, 8);  // shapes below 1: the scalar samplers
  mixed.concentration = {1, 10};
  mixed.threads = 2;
  variants.push_back({mixed, "shapes below and above 1, two threads"});
  simulate_options poisson = binomial_study(3000, 1, 200, 2, 6);
  poisson.family = count_family::poisson;
  poisson.prior_mean = 4;
  poisson.concentration = {0.5, 2, 50};
  variants.push_back({poisson, "poisson, unequal exposures, shapes below and above 1"});
  expect_same_csv_on_every_level(variants);
}

simulate_options study(std::int64_t J, obs_range n, std::uint64_t R)
{
  simulate_options o;
  o.groups = {J};
  o.obs = {n};
  o.sigma = {1.0};
  o.tau = {0.0, 0.4};
  o.mu = 2.0;
  o.replicates = R;
  o.seed = 21;
  o.requested_backend = backend::cpu;
  o.threads = 1;
  return o;
}

TEST(SimulateSimd, StudiesAreBitwiseTheSameOnEveryLevel)
{
  std::vector<study_variant> variants;
  variants.push_back({study(4096 + 13, {10, 10}, 40), "equal n, a partial block"});
  variants.push_back({study(5, {3, 3}, 400), "J = 5"});
  variants.push_back({study(9000, {1, 12}, 6), "unequal n"});
  simulate_options redraw = study(3000, {2, 9}, 8);
  redraw.redraw_obs = true;
  variants.push_back({redraw, "redrawn n"});
  simulate_options raw = study(700, {4, 4}, 5);
  raw.mode = simulation_mode::raw;
  variants.push_back({raw, "raw"});
  simulate_options t_prior = study(5000, {5, 5}, 4);
  t_prior.prior = prior_family::student_t;
  t_prior.prior_df = 5;
  variants.push_back({t_prior, "t prior"});
  simulate_options split = study(20000, {6, 6}, 2);  // threads over group blocks
  split.threads = 2;
  variants.push_back({split, "threads over blocks"});
  simulate_options big = study(1100000, {3, 3}, 2);  // past the groups kept in memory: drawn again
  big.tau = {0.4};
  variants.push_back({big, "regenerated passes"});
  simulate_options big_redraw = study(1100000, {1, 4}, 2);
  big_redraw.tau = {0.4};
  big_redraw.redraw_obs = true;
  variants.push_back({big_redraw, "regenerated passes, redrawn n"});
  expect_same_csv_on_every_level(variants);
}

TEST(SimulateSimd, EnvironmentChoosesTheLevelAndRejectsUnknownOnes)
{
  shrink::test::temp_dir dir;
  const std::string args = "simulate --groups 1000 --obs 4 --tau 0.3 --replicates 20 --seed 5 --backend cpu -q -o ";
  const auto run = [&](const char* level, const std::string& out) {
    ::setenv("SHRINK_SIMD", level, 1);
    const shrink::test::run_result r = shrink::test::run_shrink(args + shrink::test::quoted(dir / out), dir);
    ::unsetenv("SHRINK_SIMD");
    return r;
  };
  ASSERT_EQ(run("scalar", "scalar.csv").status, 0);
  const std::string ref = shrink::test::read_file(dir / "scalar.csv");
  for (sim::simd_level level : simd_levels) {
    if (!sim::simd_supported(level)) continue;
    const std::string out = std::string(sim::simd_name(level)) + ".csv";
    ASSERT_EQ(run(sim::simd_name(level), out).status, 0);
    EXPECT_EQ(shrink::test::read_file(dir / out), ref) << sim::simd_name(level);
  }
  shrink::test::expect_error(run("sse9", "x.csv"), "SHRINK_SIMD=sse9: unknown level");
}

}  // namespace
