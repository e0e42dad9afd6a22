// Published values: eight schools (BDA3 section 5.5) and the BCG vaccine trials (metafor).

#include "io/table_reader.hpp"
#include "test_support.hpp"

#include <shrink/fit.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace {

using namespace shrink;

fit_result fit_file(const std::filesystem::path& file, const std::string& estimate, const std::string& se,
                    const std::string& group, tau_method m = tau_method::mom)
{
  io::summary_columns c;
  c.group = group;
  c.estimate = estimate;
  c.se = se;
  const io::summary_table t = io::read_summary_table(file.string(), c);
  fit_options o;
  o.method = m;
  o.requested_backend = backend::cpu;
  return fit(summary_data_view{t.estimates.data(), t.standard_errors.data(), t.estimates.size(), t.offset}, o);
}

TEST(EightSchools, MomentEstimateIsZeroAndPartialEqualsCompletePooling)
{
  const auto file = test::reference_data() / "eight_schools.csv";
  if (!std::filesystem::exists(file)) FAIL() << "reference data missing (tests/data or $SHRINK_REFERENCE_DATA): " << file;
  const fit_result r = fit_file(file, "y", "sigma", "school");
  // Published: complete pooling 7.7 (variance 16.6); Q = 4.71 from the rounded table, 7 df.
  EXPECT_NEAR(r.complete_pooling, 7.7, 0.05);
  EXPECT_NEAR(r.Q, 4.71, 0.005);
  EXPECT_EQ(r.tau2, 0.0);
  EXPECT_EQ(r.I2, 0.0);
  for (std::size_t j = 0; j < r.groups; ++j) {
    EXPECT_EQ(r.shrinkage[j], 1.0);
    EXPECT_DOUBLE_EQ(r.estimate[j], r.mu);
  }
  ASSERT_FALSE(r.notes.empty());
}

// BCG log risk ratios recomputed from the 2x2 counts, as REFERENCE.md advises.
struct bcg {
  std::vector<double> yi, vi;
};

bcg read_bcg(const std::filesystem::path& file)
{
  bcg b;
  const std::string text = test::read_file(file);
  std::istringstream in(text);
  std::string header;
  std::getline(in, header);
  std::vector<std::string> names;
  {
    std::istringstream h(header);
    std::string f;
    while (std::getline(h, f, ',')) names.push_back(f);
  }
  auto col = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) - names.begin(); };
  const auto tpos = col("tpos"), tneg = col("tneg"), cpos = col("cpos"), cneg = col("cneg");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream s(line);
    std::string x;
    while (std::getline(s, x, ',')) f.push_back(x);
    const double a = std::stod(f[tpos]), b_ = std::stod(f[tneg]), c_ = std::stod(f[cpos]), d = std::stod(f[cneg]);
    b.yi.push_back(std::log((a / (a + b_)) / (c_ / (c_ + d))));
    b.vi.push_back(1 / a - 1 / (a + b_) + 1 / c_ - 1 / (c_ + d));
  }
  return b;
}

TEST(Bcg, CochranQAndTheMomentEstimate)
{
  const auto file = test::reference_data() / "metafor" / "dat.bcg.csv";
  if (!std::filesystem::exists(file)) FAIL() << "reference data missing (tests/data or $SHRINK_REFERENCE_DATA): " << file;
  const bcg b = read_bcg(file);
  ASSERT_EQ(b.yi.size(), 13u);
  std::vector<double> se;
  for (double v : b.vi) se.push_back(std::sqrt(v));
  fit_options o;
  o.requested_backend = backend::cpu;
  const fit_result r = fit(summary_data_view{b.yi.data(), se.data(), 13, 0.0}, o);
  EXPECT_NEAR(r.Q, 152.2330, 0.00005);  // metafor: Q(df = 12) = 152.2330
  // HE by its definition, two-pass: S^2 of yi minus the mean vi.
  double m = 0, ss = 0, mv = 0;
  for (int j = 0; j < 13; ++j) m += b.yi[j] / 13, mv += b.vi[j] / 13;
  for (int j = 0; j < 13; ++j) ss += (b.yi[j] - m) * (b.yi[j] - m);
  const double tau2 = std::max(0.0, ss / 12 - mv);
  EXPECT_NEAR(r.tau2, tau2, 1e-14);
  double sw = 0, swy = 0, sw2 = 0, w0 = 0, w02 = 0;
  for (int j = 0; j < 13; ++j) {
    const double w = 1 / (b.vi[j] + tau2);
    sw += w, swy += w * b.yi[j], sw2 += w * w;
    w0 += 1 / b.vi[j], w02 += 1 / (b.vi[j] * b.vi[j]);
  }
  EXPECT_NEAR(r.mu, swy / sw, 1e-14);
  const double s2 = 12 * w0 / (w0 * w0 - w02);
  EXPECT_NEAR(r.I2, 100 * tau2 / (tau2 + s2), 1e-11);
  // With the DerSimonian-Laird tau2 in place of HE, metafor's I^2 formula gives the published 92.12%:
  // I^2_DL = (Q - df) / Q.
  EXPECT_NEAR(100 * (r.Q - 12) / r.Q, 92.12, 0.005);
}

}  // namespace
