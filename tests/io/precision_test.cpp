// Precision that does not depend on the order of the rows: every value is parsed to about 32
// digits and stored relative to an offset chosen from the column as a multiset (decimal.hpp), so
// shuffling the rows or putting an outlier first costs nothing. Truth: the NIST StRD certified
// values, and group means computed here in exact integer arithmetic.

#include "io/decimal.hpp"
#include "io/table_reader.hpp"
#include "test_support.hpp"

#include <shrink/fit.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

namespace {

using namespace shrink;

fit_result fit_csv(const std::string& path, int threads = 2)
{
  const io::group_table t = io::read_groups(path, {"group", "y"}, threads);
  fit_options o;
  o.requested_backend = backend::cpu;
  o.threads = threads;
  return fit(t.view(), o);
}

/// The exact mean of decimal texts, as long double: the sum of the scaled integers is exact.
long double exact_mean(const std::vector<std::string>& values)
{
  int scale = 0;
  for (const auto& v : values) {
    const auto dot = v.find('.');
    if (dot != std::string::npos) scale = std::max(scale, static_cast<int>(v.size() - dot - 1));
  }
  __int128 sum = 0;
  for (const auto& v : values) {
    std::string digits = v;
    const auto dot = v.find('.');
    int decimals = 0;
    if (dot != std::string::npos) {
      decimals = static_cast<int>(v.size() - dot - 1);
      digits.erase(dot, 1);
    }
    __int128 x = 0;
    bool negative = false;
    for (char c : digits) {
      if (c == '-') negative = true;
      else x = x * 10 + (c - '0');
    }
    for (int i = decimals; i < scale; ++i) x *= 10;
    sum += negative ? -x : x;
  }
  long double p = 1;
  for (int i = 0; i < scale; ++i) p *= 10;
  return static_cast<long double>(sum) / p / static_cast<long double>(values.size());
}

class NistShuffled : public ::testing::TestWithParam<const char*> {};

// Every NIST set with its rows shuffled (5 seeds), and again with an outlier group (two rows of
// 1e17, adding nothing to the within sum of squares) as the first rows: the certified values
// that the outlier leaves alone still hold to LRE >= 10, and every NIST group's mean matches the
// exact one.
TEST_P(NistShuffled, CertifiedValuesForEveryPermutationAndAnOutlierFirst)
{
  const auto file = test::reference_data() / "nist_anova" / (std::string(GetParam()) + ".dat");
  ASSERT_TRUE(std::filesystem::exists(file)) << file;
  const test::nist_anova cert = test::read_nist_anova(file);
  std::vector<std::string> rows;
  std::map<std::string, std::vector<std::string>> by_group;
  for (const auto& r : test::parse_csv(cert.csv)) {
    if (r[0] == "group") continue;
    rows.push_back(r[0] + "," + r[1]);
    by_group[r[0]].push_back(r[1]);
  }
  test::temp_dir dir;
  for (unsigned seed = 1; seed <= 5; ++seed) {
    std::mt19937 rng(seed);
    std::shuffle(rows.begin(), rows.end(), rng);
    for (bool outlier : {false, true}) {
      std::string csv = "group,y\n";
      if (outlier) csv += "999999,1e17\n999999,100000000000000000\n";
      for (const auto& r : rows) csv += r + "\n";
      test::write_file(dir / "data.csv", csv);
      const fit_result r = fit_csv((dir / "data.csv").string());
      ASSERT_TRUE(r.anova.has_value());
      EXPECT_GE(test::lre(r.anova->ss_within, cert.ss_within), 10) << "seed " << seed << " outlier " << outlier;
      if (!outlier) {
        EXPECT_GE(test::lre(r.anova->ss_between, cert.ss_between), 10) << "seed " << seed;
        EXPECT_GE(test::lre(r.anova->F, cert.F), 10) << "seed " << seed;
        EXPECT_GE(test::lre(r.anova->ms_within, cert.ms_within), 10) << "seed " << seed;
      }
      // Group ids follow the sorted integer keys; the outlier's 999999 sorts last.
      std::size_t j = 0;
      std::vector<std::string> keys;
      for (const auto& [k, v] : by_group) keys.push_back(k);
      std::sort(keys.begin(), keys.end(), [](const std::string& a, const std::string& b) { return std::stol(a) < std::stol(b); });
      for (const auto& k : keys) {
        const long double exact = exact_mean(by_group[k]);
        EXPECT_GE(test::lre(r.mean[j], static_cast<double>(exact)), 13) << "group " << k << " seed " << seed;
        ++j;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllElevenSets, NistShuffled,
                         ::testing::Values("SiRstv", "SmLs01", "SmLs02", "SmLs03", "AtmWtAg", "SmLs04", "SmLs05",
                                           "SmLs06", "SmLs07", "SmLs08", "SmLs09"));

// The case that showed the bug: an outlier in the first row cost every other group its digits
// (0.12345683574676514 for 0.123456789012). Every order of the six rows gives the exact means to
// within a rounding of the distance from the offset (the column's median, here 5.5).
TEST(Precision, OutlierFirstCostsOtherGroupsNothingInAnyRowOrder)
{
  std::vector<std::string> rows = {"1,1000000000", "1,1000000001", "2,0.123456789012",
                                   "2,0.123456789012", "3,5.5", "3,5.6"};
  const double exact[] = {1000000000.5, 0.123456789012, 5.55};
  std::sort(rows.begin(), rows.end());
  test::temp_dir dir;
  int permutations = 0;
  do {
    std::string csv = "group,y\n";
    for (const auto& r : rows) csv += r + "\n";
    test::write_file(dir / "data.csv", csv);
    const fit_result r = fit_csv((dir / "data.csv").string(), 1);
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(r.mean[j], exact[j], 1e-15 * std::max(1.0, std::abs(exact[j]))) << csv;
    ++permutations;
  } while (std::next_permutation(rows.begin(), rows.end()));
  EXPECT_EQ(permutations, 360);  // 6! / 2!: two rows are equal
}

// Summary mode: a first estimate of 1e17 turned 3, 5.5, 0.25 and 7 into 0.
TEST(Precision, SummaryEstimatesKeepTheirDigitsBesideAnOutlier)
{
  test::temp_dir dir;
  test::write_file(dir / "s.csv", "est,se\n1e17,1\n3,1\n5.5,1\n0.25,1\n7,1\n0.0001,1\n");
  const io::summary_table t = io::read_summary_table((dir / "s.csv").string(), {std::nullopt, "est", "se", false});
  const double exact[] = {1e17, 3, 5.5, 0.25, 7, 0.0001};
  ASSERT_EQ(t.estimates.size(), 6u);
  for (int j = 0; j < 5; ++j) EXPECT_EQ(t.offset + t.estimates[static_cast<std::size_t>(j)], exact[j]) << j;
  // 0.0001 is stored as its distance from the offset (3 or 5.5), rounded once: not exact there,
  // but every location column is anchored back on the estimate as read.
  // James-Stein barely shrinks here (c = 1 - 5e-34): each group keeps its own digits, though the
  // center (the mean of the estimates, 2e16) is far away.
  fit_options o;
  o.requested_backend = backend::cpu;
  const fit_result r = fit(t.view(), o);
  ASSERT_EQ(r.james_stein.size(), 6u);
  for (std::size_t j = 0; j < 6; ++j) {
    EXPECT_EQ(r.mean[j], exact[j]) << j;
    EXPECT_EQ(r.estimate[j], exact[j]) << j;  // B_j = 5e-34: no visible shrinkage
    EXPECT_EQ(r.james_stein[j], exact[j]) << j;
  }
}

TEST(Precision, OffsetDependsOnTheValuesAsAMultisetAndLiesAmongTheBulk)
{
  std::vector<double> v = {1e17, 0.3, 0.1, 0.2, -4, 0.25, 1e-300};
  const double o = io::rebase_offset(v.data(), v.size(), 1);
  EXPECT_GE(o, 0.1);  // the median's binade [0.125, 0.25) or its neighbourhood, not the outlier
  EXPECT_LE(o, 0.3);
  std::mt19937 rng(3);
  for (int i = 0; i < 20; ++i) {
    std::shuffle(v.begin(), v.end(), rng);
    EXPECT_EQ(io::rebase_offset(v.data(), v.size(), 1 + i % 3), o);
  }
}

TEST(Precision, DecimalsToThirtyTwoDigits)
{
  io::exact_number x;
  ASSERT_TRUE(io::parse_number("1000000000000.4", x));
  // hi + lo is 1000000000000.4 to about 1e-20: hi - 1e12 is exact, and adding lo gives 0.4.
  EXPECT_EQ((x.hi - 1e12) + x.lo, 0.4);
  ASSERT_TRUE(io::parse_number("0.1", x));
  EXPECT_EQ(x.hi, 0.1);
  EXPECT_NEAR(static_cast<long double>(x.hi) + x.lo, 0.1L, 1e-19L);  // a long double ulp; a double alone is 5.5e-18 off
  for (const char* bad : {"+-5", "-+5", "++5", "--5", "5-", "1e", "", ".", "0x10", "inf", "nan", "1,5"})
    EXPECT_FALSE(io::parse_number(bad, x)) << bad;
  EXPECT_TRUE(io::parse_number("5e-324", x));  // the smallest subnormal
  EXPECT_EQ(x.hi, 5e-324);
  EXPECT_FALSE(io::parse_number("2e-324", x));
  EXPECT_STREQ(io::number_problem("2e-324"), "is too small for a double (it rounds to zero)");
  EXPECT_STREQ(io::number_problem("1e400"), "is too large for a double");
  EXPECT_STREQ(io::number_problem("+-5"), "is not a number");
  EXPECT_STREQ(io::number_problem("-Inf"), "is infinite or NaN");
}

}  // namespace
