// `shrink fit --apply FIT.json`: the groups of one part of the data get the posteriors the fit of
// the whole gave them. Checked against the whole fit's per-group CSV (every point-tau2 method, raw
// rows, their merged summaries and per-group estimates) and against the closed form
// estimate = ybar + B (mu - ybar), B = v / (v + tau2), computed here from the JSON's numbers; bad
// input is a one-line error.

#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace shrink::test {
namespace {

using table = std::map<std::string, std::vector<double>>;  // key -> the row's numbers

table rows_by_key(const std::string& csv)
{
  table t;
  const auto rows = parse_csv(csv);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    std::vector<double> numbers;
    for (std::size_t c = 1; c < rows[i].size(); ++c) numbers.push_back(rows[i][c].empty() ? NAN : std::stod(rows[i][c]));
    t[rows[i][0]] = numbers;
  }
  return t;
}

/// Every number of `part` within `tol` relative of the same group's in `whole`.
void expect_rows_of(const table& part, const table& whole, double tol, const std::string& what)
{
  ASSERT_FALSE(part.empty()) << what;
  for (const auto& [key, numbers] : part) {
    const auto it = whole.find(key);
    ASSERT_NE(it, whole.end()) << what << ": group " << key;
    ASSERT_EQ(numbers.size(), it->second.size()) << what;
    for (std::size_t c = 0; c < numbers.size(); ++c) {
      if (std::isnan(it->second[c])) {
        EXPECT_TRUE(std::isnan(numbers[c])) << what << ": group " << key << " column " << c;
        continue;
      }
      EXPECT_LE(std::abs(numbers[c] - it->second[c]), tol * std::abs(it->second[c]))
        << what << ": group " << key << " column " << c << ": " << numbers[c] << " vs " << it->second[c];
    }
  }
}

struct split_data {
  std::string header;
  std::vector<std::string> parts;  // CSV text of each part: the groups with key % 3 == part
};

split_data split_by_key(const std::string& csv)
{
  split_data s;
  std::istringstream in(csv);
  std::getline(in, s.header);
  s.parts.assign(3, s.header + "\n");
  std::string line;
  while (std::getline(in, line)) s.parts[std::stoll(line.substr(0, line.find(','))) % 3] += line + "\n";
  return s;
}

class Apply : public ::testing::Test {
 protected:
  void SetUp() override
  {
    // Groups of 2 to 20 rows around 1e6 (far from 0: the offsets of the parts differ from the whole's).
    const run_result g = run_shrink("generate --groups 60 --obs 2:20 --mu 1000000 --tau 0.8 --seed 3 -o " +
                                      quoted(dir / "whole.csv"),
                                    dir);
    ASSERT_EQ(g.status, 0) << g.err;
    split = split_by_key(read_file(dir / "whole.csv"));
    for (std::size_t p = 0; p < split.parts.size(); ++p) write_file(dir / ("part" + std::to_string(p) + ".csv"), split.parts[p]);
  }

  /// The whole fit's CSV, and its JSON at whole.json.
  std::string fit_whole(const std::string& input_and_method)
  {
    const run_result r = run_shrink("fit " + input_and_method + " -o " + quoted(dir / "whole_out.csv") + " --summary " +
                                      quoted(dir / "whole.json") + " -q",
                                    dir);
    EXPECT_EQ(r.status, 0) << r.err;
    return read_file(dir / "whole_out.csv");
  }

  std::string apply_to(const std::string& input, const std::string& extra = "")
  {
    const run_result r =
      run_shrink("fit " + input + " --apply " + quoted(dir / "whole.json") + extra + " -o " + quoted(dir / "part_out.csv") +
                   " --summary " + quoted(dir / "part.json") + " -q",
                 dir);
    EXPECT_EQ(r.status, 0) << r.err;
    return read_file(dir / "part_out.csv");
  }

  temp_dir dir;
  split_data split;
};

TEST_F(Apply, RawPartsGetTheWholeFitsPosteriorsForEveryPointMethod)
{
  for (const std::string method : {"mom", "dl", "pm", "sj", "ml", "reml", "eb", "fixed --tau 0.7"}) {
    const table whole = rows_by_key(fit_whole(quoted(dir / "whole.csv") + " --tau-method " + method));
    for (int p = 0; p < 3; ++p)
      expect_rows_of(rows_by_key(apply_to(quoted(dir / ("part" + std::to_string(p) + ".csv")))), whole, 1e-14,
                     method + ", part " + std::to_string(p));
  }
}

TEST_F(Apply, MergedSummariesOfAPartAndTheClosedForm)
{
  const table whole = rows_by_key(fit_whole(quoted(dir / "whole.csv") + " --tau-method reml --level 0.9"));
  const nlohmann::json fitted = nlohmann::json::parse(read_file(dir / "whole.json"));
  const nlohmann::json& h = fitted.at("posterior_parameters");
  EXPECT_EQ(h.at("level").get<double>(), 0.9);
  EXPECT_EQ(h.at("tau2").get<double>(), fitted.at("tau2").get<double>());
  EXPECT_EQ(h.at("sigma2").get<double>(), fitted.at("sigma2").get<double>());
  // The part's summaries, as a Dask worker would hand them over.
  ASSERT_EQ(run_shrink("summarize " + quoted(dir / "part1.csv") + " -o " + quoted(dir / "s1.csv"), dir).status, 0);
  const table part = rows_by_key(apply_to("--from-summaries " + quoted(dir / "s1.csv")));
  expect_rows_of(part, whole, 1e-14, "part 1 from its summaries");

  // group,n,mean,se,shrinkage,estimate,sd,lower,upper,james_stein: the normal model's closed form.
  const double mu = h.at("mu"), tau2 = h.at("tau2"), sigma2 = h.at("sigma2"), q = h.at("interval_quantile");
  for (const auto& [key, c] : part) {
    const double n = c[0], ybar = c[1], v = sigma2 / n, B = v / (v + tau2), sd = std::sqrt(v * tau2 / (v + tau2));
    EXPECT_NEAR(c[3], B, 1e-14) << key;
    EXPECT_NEAR(c[4], ybar + B * (mu - ybar), 1e-9) << key;  // 1e6 + O(1): ~1e-16 relative
    EXPECT_NEAR(c[5], sd, 1e-14 * sd) << key;
    EXPECT_NEAR(c[6], c[4] - q * sd, 1e-9) << key;
    EXPECT_NEAR(c[7], c[4] + q * sd, 1e-9) << key;
  }
  const nlohmann::json applied = nlohmann::json::parse(read_file(dir / "part.json"));
  EXPECT_EQ(applied.at("tau_method"), "fixed");
  EXPECT_EQ(applied.at("mu").get<double>(), mu);
  EXPECT_EQ(applied.at("level").get<double>(), 0.9);
}

TEST_F(Apply, PerGroupEstimates)
{
  // Summary mode: estimates with standard errors, eight schools (Rubin 1981).
  const std::string schools =
    "school,yi,sei\nA,28,15\nB,8,10\nC,-3,16\nD,7,11\nE,-1,9\nF,1,11\nG,18,10\nH,12,18\n";
  write_file(dir / "schools.csv", schools);
  write_file(dir / "some.csv", "school,yi,sei\nB,8,10\nG,18,10\nH,12,18\n");
  const std::string columns = " --group school --estimate yi --se sei";
  const table whole = rows_by_key(fit_whole(quoted(dir / "schools.csv") + columns + " --tau-method dl"));
  expect_rows_of(rows_by_key(apply_to(quoted(dir / "some.csv") + columns)), whole, 1e-14, "three schools");
}

TEST_F(Apply, BadInputIsAOneLineError)
{
  fit_whole(quoted(dir / "whole.csv"));
  const std::string part = quoted(dir / "part0.csv");
  auto expect_error = [&](const std::string& args, const std::string& message) {
    const run_result r = run_shrink("fit " + args + " -o " + quoted(dir / "x.csv") + " -q", dir);
    EXPECT_NE(r.status, 0) << args;
    EXPECT_NE(r.err.find(message), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  };
  const std::string apply = " --apply " + quoted(dir / "whole.json");
  expect_error(part + apply + " --tau-method reml", "--tau-method and --apply");
  expect_error(part + apply + " --level 0.8", "--level and --apply");
  expect_error(part + " --apply " + quoted(dir / "missing.json"), "cannot open");
  write_file(dir / "bad.json", "{not json");
  expect_error(part + " --apply " + quoted(dir / "bad.json"), "not a JSON file");
  // A bayes fit has no point tau2: no posterior_parameters.
  ASSERT_EQ(run_shrink("fit " + quoted(dir / "whole.csv") + " --tau-method bayes -o " + quoted(dir / "b.csv") + " --summary " +
                         quoted(dir / "bayes.json") + " -q",
                       dir)
              .status,
            0);
  expect_error(part + " --apply " + quoted(dir / "bayes.json"), "no \"posterior_parameters\"");
  // A raw-rows fit (it has sigma2) applied to per-group estimates.
  write_file(dir / "est.csv", "group,yi,sei\n1,2,1\n2,3,1\n");
  expect_error(quoted(dir / "est.csv") + " --estimate yi --se sei" + apply, "it has sigma2");
  ASSERT_EQ(run_shrink("fit " + quoted(dir / "est.csv") + " --estimate yi --se sei -o " + quoted(dir / "e.csv") +
                         " --summary " + quoted(dir / "est.json") + " -q",
                       dir)
              .status,
            0);
  expect_error(part + " --apply " + quoted(dir / "est.json"), "the given fit is of per-group estimates");
  expect_error(part + apply + " --family poisson --counts y", "--apply takes the normal family");
  // The applied file is an input: no output may overwrite it.
  const run_result r = run_shrink("fit " + part + apply + " -o " + quoted(dir / "x.csv") + " --summary " +
                                    quoted(dir / "whole.json") + " -q",
                                  dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--apply"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace shrink::test
