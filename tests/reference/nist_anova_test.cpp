// NIST StRD one-way ANOVA: the certified sums of squares, mean squares and F of all eleven data
// sets, read through the streaming CSV reader (~32-digit decimals, per-group shifts) and fitted.

#include "io/table_reader.hpp"
#include "test_support.hpp"

#include <shrink/fit.hpp>

#include <gtest/gtest.h>

namespace {

using namespace shrink;

class NistAnova : public ::testing::TestWithParam<const char*> {};

TEST_P(NistAnova, CertifiedValuesToTenDigits)
{
  const auto file = test::reference_data() / "nist_anova" / (std::string(GetParam()) + ".dat");
  if (!std::filesystem::exists(file)) FAIL() << "reference data missing (tests/data or $SHRINK_REFERENCE_DATA): " << file;
  const test::nist_anova cert = test::read_nist_anova(file);
  test::temp_dir dir;
  test::write_file(dir / "data.csv", cert.csv);

  for (int threads : {1, 2}) {
    const io::group_table t = io::read_groups((dir / "data.csv").string(), {"group", "y"}, threads);
    const grouped_data_view v = t.view();
    fit_options o;
    o.requested_backend = backend::cpu;
    o.threads = threads;
    const fit_result r = fit(v, o);
    ASSERT_TRUE(r.anova.has_value());
    const anova_table& a = *r.anova;
    EXPECT_EQ(a.df_between, cert.df_between);
    EXPECT_EQ(a.df_within, cert.df_within);
    // LRE >= 10 on every certified value (DESIGN.md section 5; the issue asks 9).
    EXPECT_GE(test::lre(a.ss_between, cert.ss_between), 10) << a.ss_between;
    EXPECT_GE(test::lre(a.ss_within, cert.ss_within), 10) << a.ss_within;
    EXPECT_GE(test::lre(a.ms_between, cert.ms_between), 10) << a.ms_between;
    EXPECT_GE(test::lre(a.ms_within, cert.ms_within), 10) << a.ms_within;
    EXPECT_GE(test::lre(a.F, cert.F), 10) << a.F;
    EXPECT_EQ(*r.sigma2, a.ms_within);
  }
}

INSTANTIATE_TEST_SUITE_P(AllElevenSets, NistAnova,
                         ::testing::Values("SiRstv", "SmLs01", "SmLs02", "SmLs03", "AtmWtAg", "SmLs04", "SmLs05",
                                           "SmLs06", "SmLs07", "SmLs08", "SmLs09"));

}  // namespace
