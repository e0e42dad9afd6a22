// The CUDA backend against the CPU backend on the same inputs: every output column and every
// fitted scalar, for adversarial group counts and sizes, chunked and sorted inputs, and the NIST
// StRD ANOVA sets; and the GPU against itself run to run (bitwise). Every test skips where no GPU
// is usable, so the suite passes on machines without one.

#include "io/decimal.hpp"
#include "io/table_reader.hpp"
#include "test_support.hpp"

#include <shrink/config.hpp>
#include <shrink/error.hpp>
#include <shrink/fit.hpp>

#if SHRINK_HAS_CUDA
#include "cuda/cuda_backend.hpp"
#include "cuda/stream.hpp"
#endif

#include <gtest/gtest.h>

#include <map>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace shrink;

// Both backends reduce over groups by the same fixed tree (src/common/fixed_reduce.hpp), so most
// outputs are bitwise equal (tests/cuda/bitwise_parity_test.cpp holds them to that); this suite keeps
// the looser 1e-12 relative bound for what may still differ by rounding: rows folded on the GPU with
// groups of more than 1024 rows in a chunk (Chan merges against Welford's sequence).
constexpr double rel_tol = 1e-12;
// The full-Bayes quantiles and the t-prior quadrature stop adaptively (relative tolerances 1e-13
// and 1e-10 of the spread / integral); an ulp of difference in the device's exp/erfc may move a
// panel split or a Newton stop, so parity holds to those tolerances, not to rounding.
constexpr double adaptive_tol = 1e-8;

/// Rows from the two-level model: group sizes uniform on [min_n, max_n], rows shuffled.
struct rows {
  std::vector<std::int32_t> ids;
  std::vector<double> y;
  std::size_t groups = 0;
  raw_data_view view(double offset = 0) const { return {ids.data(), y.data(), y.size(), groups, offset}; }
};

rows make_rows(std::size_t groups, int min_n, int max_n, std::uint64_t seed, bool shuffle = true)
{
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<int> size(min_n, max_n);
  rows r;
  r.groups = groups;
  for (std::size_t j = 0; j < groups; ++j) {
    const double theta = 3.0 + 0.7 * normal(rng);
    const int n = size(rng);
    for (int i = 0; i < n; ++i) {
      r.ids.push_back(static_cast<std::int32_t>(j));
      r.y.push_back(theta + 1.5 * normal(rng));
    }
  }
  if (shuffle) {
    std::vector<std::size_t> order(r.y.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    rows s;
    s.groups = groups;
    s.ids.reserve(order.size());
    s.y.reserve(order.size());
    for (std::size_t i : order) {
      s.ids.push_back(r.ids[i]);
      s.y.push_back(r.y[i]);
    }
    return s;
  }
  return r;
}

template <class View>
fit_result fit_on(backend b, const View& v, fit_options o = {})
{
  o.requested_backend = b;
  return fit(v, o);
}

/// |a - b| <= tol * max(|a|, |b|, scale): `scale` is the column's magnitude for location columns,
/// whose values near zero are differences of quantities of that size.
void expect_close(double a, double b, double tol, double scale, const std::string& what)
{
  if (a == b) return;  // also equal infinities
  const double bound = tol * std::max({std::fabs(a), std::fabs(b), scale});
  EXPECT_LE(std::fabs(a - b), bound) << what << ": cpu " << a << " gpu " << b;
}

double max_abs(const std::vector<double>& x)
{
  double m = 0;
  for (double v : x) m = std::max(m, std::fabs(v));
  return m;
}

void expect_column(const std::vector<double>& cpu, const std::vector<double>& gpu, double tol, bool location,
                   const char* name)
{
  ASSERT_EQ(cpu.size(), gpu.size()) << name;
  const double scale = location ? std::max(max_abs(cpu), max_abs(gpu)) : 0.0;
  int failures = 0;
  for (std::size_t j = 0; j < cpu.size() && failures < 5; ++j) {
    const double bound = tol * std::max({std::fabs(cpu[j]), std::fabs(gpu[j]), scale});
    if (!(cpu[j] == gpu[j] || std::fabs(cpu[j] - gpu[j]) <= bound)) {
      ++failures;
      ADD_FAILURE() << name << "[" << j << "]: cpu " << cpu[j] << " gpu " << gpu[j];
    }
  }
}

void expect_parity(const fit_result& c, const fit_result& g, double tol = rel_tol)
{
  EXPECT_EQ(c.used, backend::cpu);
  EXPECT_EQ(g.used, backend::cuda);
  ASSERT_EQ(c.groups, g.groups);
  EXPECT_EQ(c.observations, g.observations);
  EXPECT_EQ(c.n, g.n);
  expect_column(c.mean, g.mean, rel_tol, true, "mean");
  expect_column(c.se, g.se, rel_tol, false, "se");
  expect_column(c.shrinkage, g.shrinkage, tol, false, "shrinkage");
  expect_column(c.estimate, g.estimate, tol, true, "estimate");
  expect_column(c.sd, g.sd, tol, false, "sd");
  expect_column(c.lower, g.lower, tol, true, "lower");
  expect_column(c.upper, g.upper, tol, true, "upper");
  expect_column(c.james_stein, g.james_stein, rel_tol, true, "james_stein");
  const double loc = std::max(std::fabs(c.mu), std::fabs(c.complete_pooling));
  expect_close(c.mu, g.mu, tol, loc, "mu");
  expect_close(c.complete_pooling, g.complete_pooling, rel_tol, loc, "complete_pooling");
  expect_close(c.tau2, g.tau2, tol, 0, "tau2");
  ASSERT_EQ(c.sigma2.has_value(), g.sigma2.has_value());
  if (c.sigma2) expect_close(*c.sigma2, *g.sigma2, rel_tol, 0, "sigma2");
  expect_close(c.Q, g.Q, rel_tol, 0, "Q");
  expect_close(c.I2, g.I2, tol, 0, "I2");
  expect_close(c.H2, g.H2, tol, 0, "H2");
  ASSERT_EQ(c.james_stein_c.has_value(), g.james_stein_c.has_value());
  if (c.james_stein_c) expect_close(*c.james_stein_c, *g.james_stein_c, rel_tol, 0, "james_stein_c");
  ASSERT_EQ(c.anova.has_value(), g.anova.has_value());
  if (c.anova) {
    EXPECT_EQ(c.anova->df_between, g.anova->df_between);
    EXPECT_EQ(c.anova->df_within, g.anova->df_within);
    expect_close(c.anova->ss_between, g.anova->ss_between, rel_tol, 0, "ss_between");
    expect_close(c.anova->ss_within, g.anova->ss_within, rel_tol, 0, "ss_within");
    expect_close(c.anova->F, g.anova->F, rel_tol, 0, "F");
  }
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b)
{
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

void expect_bitwise_equal(const fit_result& a, const fit_result& b)
{
  EXPECT_TRUE(same_bits(a.n, b.n));
  EXPECT_TRUE(same_bits(a.mean, b.mean));
  EXPECT_TRUE(same_bits(a.se, b.se));
  EXPECT_TRUE(same_bits(a.shrinkage, b.shrinkage));
  EXPECT_TRUE(same_bits(a.estimate, b.estimate));
  EXPECT_TRUE(same_bits(a.sd, b.sd));
  EXPECT_TRUE(same_bits(a.lower, b.lower));
  EXPECT_TRUE(same_bits(a.upper, b.upper));
  EXPECT_TRUE(same_bits(a.james_stein, b.james_stein));
  EXPECT_EQ(std::memcmp(&a.mu, &b.mu, sizeof(double)), 0);
  EXPECT_EQ(std::memcmp(&a.tau2, &b.tau2, sizeof(double)), 0);
  EXPECT_EQ(std::memcmp(&a.Q, &b.Q, sizeof(double)), 0);
}

class GroupCounts : public ::testing::TestWithParam<std::size_t> {};

TEST_P(GroupCounts, EveryOutputMatchesTheCpu)
{
  SHRINK_SKIP_WITHOUT_GPU();
  const std::size_t J = GetParam();
  const rows r = make_rows(J, 2, 40, 1000 + J);
  fit_options o;
  if (J < 2) {  // a single group needs a given tau
    o.method = tau_method::fixed;
    o.tau = 0.5;
  }
  const fit_result c = fit_on(backend::cpu, r.view(), o);
  const fit_result g = fit_on(backend::cuda, r.view(), o);
  expect_parity(c, g);
  // Groups of at most 1024 rows are folded row by row in input order, as on the CPU: the
  // summaries, and so the no-pooling column, are bitwise equal.
  EXPECT_TRUE(same_bits(c.mean, g.mean));
}

INSTANTIATE_TEST_SUITE_P(Adversarial, GroupCounts, ::testing::Values(1, 2, 3, 4, 31, 32, 33, 1025));

/// Three groups with rows only in 0 and 2 (the id range has an empty group), shuffled.
rows rows_with_empty_group()
{
  rows r;
  r.groups = 3;
  std::mt19937_64 rng(43);
  std::normal_distribution<double> normal;
  for (int i = 0; i < 2000; ++i) {
    r.ids.push_back(i % 3 == 0 ? 0 : 2);
    r.y.push_back((i % 3 == 0 ? 1.0 : 4.0) + normal(rng));
  }
  return r;
}

TEST(CudaParity, EmptyGroupFailsLikeTheCpu)
{
  SHRINK_SKIP_WITHOUT_GPU();
  // The empty group's sampling variance sigma^2 / 0 is not finite: the CPU rejects the fit, and
  // the GPU must reach the same verdict from its own table and reductions.
  const rows r = rows_with_empty_group();
  std::string cpu_message, gpu_message;
  try {
    fit_on(backend::cpu, r.view());
  } catch (const error& e) {
    cpu_message = e.what();
  }
  try {
    fit_on(backend::cuda, r.view());
  } catch (const error& e) {
    gpu_message = e.what();
  }
  EXPECT_NE(cpu_message.find("sampling variances"), std::string::npos) << cpu_message;
  EXPECT_EQ(cpu_message, gpu_message);
}

TEST(CudaParity, IdsOutOfRangeAreAnError)
{
  SHRINK_SKIP_WITHOUT_GPU();
  rows r = make_rows(10, 2, 5, 7);
  r.ids[3] = 10;
  EXPECT_THROW(fit_on(backend::cuda, r.view()), error);
  r.ids[3] = -1;
  EXPECT_THROW(fit_on(backend::cuda, r.view()), error);
}

TEST(CudaParity, AMillionGroups)
{
  SHRINK_SKIP_WITHOUT_GPU();
  const rows r = make_rows(1000000, 1, 7, 99);
  const fit_result c = fit_on(backend::cpu, r.view());
  const fit_result g = fit_on(backend::cuda, r.view());
  expect_parity(c, g);
  EXPECT_TRUE(same_bits(c.mean, g.mean));
}

TEST(CudaParity, SingletonGroupsBesideAMillionRowGroup)
{
  SHRINK_SKIP_WITHOUT_GPU();
  // Group 0 has 1e6 rows (folded by a whole block, Chan-merged), the others one row each.
  rows r;
  r.groups = 2001;
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  for (int i = 0; i < 1000000; ++i) {
    r.ids.push_back(0);
    r.y.push_back(10 + normal(rng));
  }
  for (std::int32_t j = 1; j < 2001; ++j) {
    r.ids.push_back(j);
    r.y.push_back(10 + 2 * normal(rng));
  }
  std::vector<std::size_t> order(r.y.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  rows s;
  s.groups = r.groups;
  for (std::size_t i : order) {
    s.ids.push_back(r.ids[i]);
    s.y.push_back(r.y[i]);
  }
  expect_parity(fit_on(backend::cpu, s.view()), fit_on(backend::cuda, s.view()));
}

TEST(CudaParity, BitwiseReproducibleRunToRun)
{
  SHRINK_SKIP_WITHOUT_GPU();
  const rows r = make_rows(20000, 1, 3000, 11);  // some groups exceed the one-thread run length
  const fit_result a = fit_on(backend::cuda, r.view());
  const fit_result b = fit_on(backend::cuda, r.view());
  expect_bitwise_equal(a, b);
}

TEST(CudaParity, OffsetIsAddedBack)
{
  SHRINK_SKIP_WITHOUT_GPU();
  const rows r = make_rows(200, 2, 9, 3);
  expect_parity(fit_on(backend::cpu, r.view(1e9)), fit_on(backend::cuda, r.view(1e9)));
}

TEST(CudaParity, SummaryInput)
{
  SHRINK_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(17);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.2, 3.0);
  for (std::size_t J : {2, 33, 1025, 100000}) {
    std::vector<double> est(J), se(J);
    for (std::size_t j = 0; j < J; ++j) {
      est[j] = 1 + normal(rng);
      se[j] = uniform(rng);
    }
    const summary_data_view v{est.data(), se.data(), J, 0};
    fit_options o;
    o.requested_backend = backend::cpu;
    const fit_result c = fit(v, o);
    o.requested_backend = backend::cuda;
    const fit_result g = fit(v, o);
    expect_parity(c, g);
  }
}

TEST(CudaParity, TauMethods)
{
  SHRINK_SKIP_WITHOUT_GPU();
  const rows r = make_rows(3000, 2, 30, 23);
  for (tau_method m : {tau_method::mom, tau_method::dl, tau_method::pm, tau_method::sj, tau_method::ml,
                       tau_method::reml, tau_method::eb}) {
    SCOPED_TRACE(to_string(m));
    fit_options o;
    o.method = m;
    // Iterative methods stop at metafor's tolerances; both backends take the same steps as long
    // as the reductions agree to rounding, which they do.
    expect_parity(fit_on(backend::cpu, r.view(), o), fit_on(backend::cuda, r.view(), o));
  }
}

TEST(CudaParity, FullBayesAndTPrior)
{
  SHRINK_SKIP_WITHOUT_GPU();
  const rows r = make_rows(500, 2, 30, 29);
  fit_options bayes;
  bayes.method = tau_method::bayes;
  expect_parity(fit_on(backend::cpu, r.view(), bayes), fit_on(backend::cuda, r.view(), bayes), adaptive_tol);
  fit_options t;
  t.t_prior_df = 4;
  expect_parity(fit_on(backend::cpu, r.view(), t), fit_on(backend::cuda, r.view(), t), adaptive_tol);
}

TEST(CudaParity, NistStrdAnova)
{
  SHRINK_SKIP_WITHOUT_GPU();
  const auto dir = test::reference_data() / "nist_anova";
  if (!std::filesystem::exists(dir)) FAIL() << "reference data missing (tests/data or $SHRINK_REFERENCE_DATA): " << dir;
  for (const char* name : {"SiRstv", "SmLs01", "SmLs02", "SmLs03", "AtmWtAg", "SmLs04", "SmLs05", "SmLs06", "SmLs07",
                           "SmLs08", "SmLs09"}) {
    SCOPED_TRACE(name);
    const test::nist_anova cert = test::read_nist_anova(dir / (std::string(name) + ".dat"));
    test::temp_dir tmp;
    test::write_file(tmp / "data.csv", cert.csv);
    // The streaming reader's group table, fitted on each backend ...
    const io::group_table t = io::read_groups((tmp / "data.csv").string(), {"group", "y"}, 1);
    expect_parity(fit_on(backend::cpu, t.view()), fit_on(backend::cuda, t.view()));
    // ... and the rows themselves (values to ~32 digits, stored relative to the column's offset)
    // summarised by each backend.
    std::vector<std::int32_t> ids;
    std::vector<double> hi, lo;
    std::map<std::string, std::int32_t> id_of;
    for (const auto& row : test::parse_csv(cert.csv)) {
      if (row[0] == "group") continue;
      io::exact_number x;
      ASSERT_TRUE(io::parse_number(row[1], x));
      ids.push_back(id_of.emplace(row[0], static_cast<std::int32_t>(id_of.size())).first->second);
      hi.push_back(x.hi);
      lo.push_back(x.lo);
    }
    const double offset = io::rebase_offset(hi.data(), hi.size(), 1);
    ASSERT_TRUE(io::rebase(hi.data(), lo.data(), hi.size(), offset, 1));
    const raw_data_view v{ids.data(), hi.data(), hi.size(), id_of.size(), offset};
    const fit_result c = fit_on(backend::cpu, v);
    const fit_result g = fit_on(backend::cuda, v);
    expect_parity(c, g);
    ASSERT_TRUE(g.anova.has_value());
    EXPECT_GE(test::lre(g.anova->ss_between, cert.ss_between), 10);
    EXPECT_GE(test::lre(g.anova->ss_within, cert.ss_within), 10);
    EXPECT_GE(test::lre(g.anova->F, cert.F), 10);
  }
}

#if SHRINK_HAS_CUDA

/// The per-group columns of an engine (posteriors at tau2 = 1, no offset).
fit_result engine_columns(detail::group_engine& e, double sigma2)
{
  e.set_sigma2(sigma2);
  detail::posterior_params p;
  p.tau2 = 1;
  p.z = 1.96;
  fit_result out;
  e.posteriors(p, out);
  return out;
}

TEST(CudaEngine, SmallChunksMergeLikeOneChunk)
{
  SHRINK_SKIP_WITHOUT_GPU();
  const rows r = make_rows(777, 1, 60, 31);
  auto cpu = detail::make_cpu_engine(r.view(), 2);
  const detail::group_totals ct = cpu->totals();
  for (std::size_t chunk : {1000, 4096, 100000}) {
    SCOPED_TRACE(chunk);
    auto gpu = detail::make_cuda_engine(r.view(), detail::cuda_engine_options{chunk});
    const detail::group_totals gt = gpu->totals();
    EXPECT_EQ(ct.observations, gt.observations);
    expect_close(ct.ss_within, gt.ss_within, rel_tol, 0, "ss_within");
    expect_close(ct.between.m2, gt.between.m2, rel_tol, 0, "ss_between");
    // Every run of a chunk is short, and chunks continue each group's Welford sequence: the
    // summaries are the CPU's bit for bit, whatever the chunk size.
    const fit_result c = engine_columns(*cpu, 2.25);
    const fit_result g = engine_columns(*gpu, 2.25);
    EXPECT_EQ(c.n, g.n);
    EXPECT_TRUE(same_bits(c.mean, g.mean));
    EXPECT_TRUE(same_bits(c.se, g.se));
  }
}

TEST(CudaEngine, EmptyGroupKeepsZeroMoments)
{
  SHRINK_SKIP_WITHOUT_GPU();
  // Group 1 gets no run in any chunk: its row of the table must stay the merge identity while
  // groups 0 and 2 are folded around it, in one chunk and in many, as on the CPU.
  const rows r = rows_with_empty_group();
  auto cpu = detail::make_cpu_engine(r.view(), 2);
  const detail::group_totals ct = cpu->totals();
  const fit_result c = engine_columns(*cpu, 1.0);
  for (std::size_t chunk : {0, 64}) {
    SCOPED_TRACE(chunk);
    auto gpu = detail::make_cuda_engine(r.view(), detail::cuda_engine_options{chunk});
    const detail::group_totals gt = gpu->totals();
    EXPECT_EQ(gt.observations, 2000);
    EXPECT_EQ(ct.df_within, gt.df_within);
    EXPECT_EQ(std::memcmp(&ct.ss_within, &gt.ss_within, sizeof(double)), 0);
    expect_close(ct.between.m2, gt.between.m2, rel_tol, 0, "ss_between");
    const fit_result g = engine_columns(*gpu, 1.0);
    EXPECT_EQ(g.n, (std::vector<std::int64_t>{667, 0, 1333}));
    EXPECT_EQ(c.n, g.n);
    EXPECT_EQ(std::memcmp(&c.mean[0], &g.mean[0], sizeof(double)), 0);
    EXPECT_EQ(std::memcmp(&c.mean[2], &g.mean[2], sizeof(double)), 0);
  }
}

TEST(CudaEngine, DeviceRowsMatchHostRowsBitwise)
{
  SHRINK_SKIP_WITHOUT_GPU();
  // Caller-owned device rows in chunks of 4096: a grouped half (long runs, chunks that skip the
  // sort, runs crossing chunk boundaries) then a shuffled half of the same groups (sorted chunks).
  const rows grouped = make_rows(150, 1, 3000, 47, false);
  const rows shuffled = make_rows(150, 1, 60, 53);
  rows r;
  r.groups = 150;
  r.ids = grouped.ids;
  r.y = grouped.y;
  r.ids.insert(r.ids.end(), shuffled.ids.begin(), shuffled.ids.end());
  r.y.insert(r.y.end(), shuffled.y.begin(), shuffled.y.end());
  const detail::cuda_engine_options options{4096};
  auto from_host = detail::make_cuda_engine(r.view(), options);
  std::unique_ptr<detail::group_engine> from_device;
  {
    detail::cuda_stream upload;
    detail::device_buffer<std::int32_t> d_keys(r.ids.size(), upload.get());
    detail::device_buffer<double> d_values(r.y.size(), upload.get());
    SHRINK_CUDA_TRY(cudaMemcpyAsync(d_keys.data(), r.ids.data(), d_keys.bytes(), cudaMemcpyHostToDevice, upload.get()));
    SHRINK_CUDA_TRY(cudaMemcpyAsync(d_values.data(), r.y.data(), d_values.bytes(), cudaMemcpyHostToDevice, upload.get()));
    upload.synchronize();
    from_device = detail::make_cuda_engine(d_keys.data(), d_values.data(), r.y.size(), r.groups, options);
    upload.synchronize();
  }  // the rows are freed here: the engine no longer needs them
  const detail::group_totals th = from_host->totals();
  const detail::group_totals td = from_device->totals();
  EXPECT_EQ(th.observations, static_cast<std::int64_t>(r.y.size()));
  EXPECT_EQ(th.observations, td.observations);
  EXPECT_EQ(std::memcmp(&th.ss_within, &td.ss_within, sizeof(double)), 0);
  EXPECT_EQ(std::memcmp(&th.between.m2, &td.between.m2, sizeof(double)), 0);
  const fit_result h = engine_columns(*from_host, 2.0);
  const fit_result d = engine_columns(*from_device, 2.0);
  EXPECT_EQ(h.n, d.n);
  EXPECT_TRUE(same_bits(h.mean, d.mean));
  EXPECT_TRUE(same_bits(h.se, d.se));
  EXPECT_TRUE(same_bits(h.estimate, d.estimate));

  // And the CPU's, to the parity tolerance (runs over 1024 rows are Chan-merged on the GPU).
  auto cpu = detail::make_cpu_engine(r.view(), 2);
  const fit_result c = engine_columns(*cpu, 2.0);
  EXPECT_EQ(c.n, d.n);
  expect_column(c.mean, d.mean, rel_tol, true, "mean");
}

TEST(CudaEngine, DeviceRowsWithBadIdsAreAnError)
{
  SHRINK_SKIP_WITHOUT_GPU();
  rows r = make_rows(40, 1, 9, 59);
  r.ids[r.ids.size() / 2] = 40;
  detail::cuda_stream upload;
  detail::device_buffer<std::int32_t> d_keys(r.ids.size(), upload.get());
  detail::device_buffer<double> d_values(r.y.size(), upload.get());
  SHRINK_CUDA_TRY(cudaMemcpyAsync(d_keys.data(), r.ids.data(), d_keys.bytes(), cudaMemcpyHostToDevice, upload.get()));
  SHRINK_CUDA_TRY(cudaMemcpyAsync(d_values.data(), r.y.data(), d_values.bytes(), cudaMemcpyHostToDevice, upload.get()));
  upload.synchronize();
  EXPECT_THROW(detail::make_cuda_engine(d_keys.data(), d_values.data(), r.y.size(), r.groups, detail::cuda_engine_options{64}),
               error);
  upload.synchronize();
}

TEST(CudaEngine, SortedInputGivesTheSameSummaries)
{
  SHRINK_SKIP_WITHOUT_GPU();
  const rows shuffled = make_rows(5000, 1, 20, 37);
  // A stable sort by id keeps each group's rows in input order, so the CPU's result is unchanged.
  std::vector<std::size_t> order(shuffled.y.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return shuffled.ids[a] < shuffled.ids[b]; });
  rows sorted;
  sorted.groups = shuffled.groups;
  for (std::size_t i : order) {
    sorted.ids.push_back(shuffled.ids[i]);
    sorted.y.push_back(shuffled.y[i]);
  }
  auto a = detail::make_cuda_engine(shuffled.view(), detail::cuda_engine_options{4096});
  auto b = detail::make_cuda_engine(sorted.view(), detail::cuda_engine_options{4096});
  const fit_result ca = engine_columns(*a, 1.0);
  const fit_result cb = engine_columns(*b, 1.0);
  EXPECT_EQ(ca.n, cb.n);
  EXPECT_TRUE(same_bits(ca.mean, cb.mean));
}

#endif  // SHRINK_HAS_CUDA

}  // namespace
