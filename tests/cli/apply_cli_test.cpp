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
#include <cstdint>
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

/// `shrink fit ARGS` fails with one line naming `message`.
void expect_fit_error(const temp_dir& dir, const std::string& args, const std::string& message)
{
  const run_result r = run_shrink("fit " + args + " -o " + quoted(dir / "x.csv") + " -q", dir);
  EXPECT_NE(r.status, 0) << args;
  EXPECT_NE(r.err.find(message), std::string::npos) << args << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
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
  const std::string apply = " --apply " + quoted(dir / "whole.json");
  expect_fit_error(dir, part + apply + " --tau-method reml", "--tau-method and --apply");
  expect_fit_error(dir, part + apply + " --level 0.8", "--level and --apply");
  expect_fit_error(dir, part + " --apply " + quoted(dir / "missing.json"), "cannot open");
  write_file(dir / "bad.json", "{not json");
  expect_fit_error(dir, part + " --apply " + quoted(dir / "bad.json"), "not a JSON file");
  // A bayes fit has no point tau2: no posterior_parameters.
  ASSERT_EQ(run_shrink("fit " + quoted(dir / "whole.csv") + " --tau-method bayes -o " + quoted(dir / "b.csv") + " --summary " +
                         quoted(dir / "bayes.json") + " -q",
                       dir)
              .status,
            0);
  expect_fit_error(dir, part + " --apply " + quoted(dir / "bayes.json"), "no \"posterior_parameters\"");
  // A raw-rows fit (it has sigma2) applied to per-group estimates.
  write_file(dir / "est.csv", "group,yi,sei\n1,2,1\n2,3,1\n");
  expect_fit_error(dir, quoted(dir / "est.csv") + " --estimate yi --se sei" + apply, "it has sigma2");
  ASSERT_EQ(run_shrink("fit " + quoted(dir / "est.csv") + " --estimate yi --se sei -o " + quoted(dir / "e.csv") +
                         " --summary " + quoted(dir / "est.json") + " -q",
                       dir)
              .status,
            0);
  expect_fit_error(dir, part + " --apply " + quoted(dir / "est.json"), "the given fit is of per-group estimates");
  expect_fit_error(dir, part + apply + " --family poisson --counts y", "the summary of a normal fit: apply it with --family normal");
  // The applied file is an input: no output may overwrite it.
  const run_result r = run_shrink("fit " + part + apply + " -o " + quoted(dir / "x.csv") + " --summary " +
                                    quoted(dir / "whole.json") + " -q",
                                  dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--apply"), std::string::npos) << r.err;
}

/// Uniform draws in [0, 1) from a 64-bit linear congruential hash: test data without a library.
struct hashed_uniforms {
  std::uint64_t h;
  double operator()()
  {
    h = h * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(h >> 11) / 9007199254740992.0;
  }
};

/// Raw rows with covariates: key,y,x1,x2,o: x1 varies within groups (around 1e6, so the parts'
/// centres differ from the whole's), x2 is constant in a group, o an offset; y from a hash.
std::string covariate_rows()
{
  std::ostringstream csv;
  csv.precision(17);
  csv << "group,y,x1,x2,o\n";
  hashed_uniforms uniform{12345};
  for (int k = 0; k < 60; ++k) {
    const double effect = uniform() - 0.5, x2 = k % 5;
    for (int i = 0; i < 2 + k % 7; ++i) {
      const double x1 = 1e6 + 0.5 * ((i * 37 + k) % 11), o = 0.25 * ((i + k) % 3);
      csv << k << ',' << 2 + 0.3 * (x1 - 1e6) - 0.2 * x2 + o + effect + (uniform() - 0.5) << ',' << x1 << ',' << x2 << ','
          << o << '\n';
    }
  }
  return csv.str();
}

class ApplyCovariates : public Apply {
 protected:
  void SetUp() override
  {
    split = split_by_key(covariate_rows());
    write_file(dir / "whole.csv", covariate_rows());
    for (std::size_t p = 0; p < split.parts.size(); ++p) write_file(dir / ("part" + std::to_string(p) + ".csv"), split.parts[p]);
  }
};

TEST_F(ApplyCovariates, RawPartsAndTheirSummariesGetTheWholeFitsRows)
{
  for (const std::string model : {" --covariates x1,x2", " --covariates x1,x2 --offset o --tau-method ml"}) {
    const table whole = rows_by_key(fit_whole(quoted(dir / "whole.csv") + model));
    const nlohmann::json fitted = nlohmann::json::parse(read_file(dir / "whole.json"));
    const nlohmann::json& h = fitted.at("posterior_parameters");
    EXPECT_EQ(h.at("covariates"), nlohmann::json({"x1", "x2"}));
    EXPECT_EQ(h.at("tau2").get<double>(), fitted.at("tau2").get<double>());
    EXPECT_EQ(h.at("sigma2").get<double>(), fitted.at("sigma2").get<double>());
    EXPECT_NEAR(h.at("centres")[0].get<double>(), 1e6 + 2.5, 3);  // the row mean of x1
    const bool offset = model.find("--offset") != std::string::npos;
    EXPECT_EQ(h.at("value"), offset ? "y-o" : "y");
    for (int p = 0; p < 3; ++p) {
      const std::string name = "part" + std::to_string(p);
      // The covariates and the offset come from the applied fit.
      const table part = rows_by_key(apply_to(quoted(dir / (name + ".csv"))));
      expect_rows_of(part, whole, 1e-14, model + ", " + name);
      const nlohmann::json applied = nlohmann::json::parse(read_file(dir / "part.json"));
      EXPECT_TRUE(applied.at("log_likelihood").is_null());
      EXPECT_EQ(applied.at("tau_method"), "fixed");
      EXPECT_EQ(applied.at("tau2").get<double>(), fitted.at("tau2").get<double>());
      EXPECT_FALSE(applied.contains("structures"));
      for (std::size_t c = 0; c < 3; ++c) {
        const double given = fitted.at("coefficients")[c].at("estimate"), got = applied.at("coefficients")[c].at("estimate");
        EXPECT_NEAR(got, given, 1e-14 * std::abs(given)) << c;
        EXPECT_TRUE(applied.at("coefficients")[c].at("se").is_null());
      }
      // The same part from its mergeable summaries (the Dask path), the offset folded in by summarize.
      ASSERT_EQ(run_shrink("summarize " + quoted(dir / (name + ".csv")) + " --covariates x1,x2" + (offset ? " --offset o" : "") +
                             " -o " + quoted(dir / "s.csv"),
                           dir)
                  .status,
                0);
      expect_rows_of(rows_by_key(apply_to("--from-summaries " + quoted(dir / "s.csv"))), whole, 1e-14,
                     model + ", " + name + " from its summaries");
    }
  }
}

TEST_F(ApplyCovariates, TheRowsAreTheClosedFormOfTheGivenParameters)
{
  fit_whole(quoted(dir / "whole.csv") + " --covariates x1,x2");
  const nlohmann::json h = nlohmann::json::parse(read_file(dir / "whole.json")).at("posterior_parameters");
  const double tau2 = h.at("tau2"), sigma2 = h.at("sigma2"), q = h.at("interval_quantile");
  // group,n,mean,fitted,effect,effect_sd,estimate,lower,upper; x means of each group from the rows.
  std::map<std::string, std::vector<double>> x_sum;
  const auto rows = parse_csv(split.parts[1]);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    auto& s = x_sum[rows[i][0]];
    s.resize(3);
    s[0] += 1, s[1] += std::stod(rows[i][2]) - 1e6, s[2] += std::stod(rows[i][3]);  // x1 - 1e6: halves, summed exactly
  }
  for (const auto& [key, c] : rows_by_key(apply_to(quoted(dir / "part1.csv")))) {
    const std::vector<double>& s = x_sum.at(key);
    ASSERT_EQ(c[0], s[0]) << key;
    const double fitted = h.at("beta_at_centres")[0].get<double>() +
                          ((1e6 - h.at("centres")[0].get<double>()) + s[1] / s[0]) * h.at("beta_at_centres")[1].get<double>() +
                          (s[2] / s[0] - h.at("centres")[1].get<double>()) * h.at("beta_at_centres")[2].get<double>();
    const double n = c[0], B = n * tau2 / (sigma2 + n * tau2), sd = std::sqrt(sigma2 * tau2 / (sigma2 + n * tau2));
    EXPECT_NEAR(c[2], fitted, 1e-12) << key;
    EXPECT_NEAR(c[3], B * (c[1] - c[2]), 1e-12) << key;
    EXPECT_NEAR(c[4], sd, 1e-14 * sd) << key;
    EXPECT_NEAR(c[5], c[2] + c[3], 1e-12) << key;
    EXPECT_NEAR(c[6], c[5] - q * sd, 1e-12) << key;
    EXPECT_NEAR(c[7], c[5] + q * sd, 1e-12) << key;
  }
}

TEST_F(ApplyCovariates, BadInputIsAOneLineError)
{
  fit_whole(quoted(dir / "whole.csv") + " --covariates x1,x2 --offset o");
  const std::string part = quoted(dir / "part0.csv"), apply = " --apply " + quoted(dir / "whole.json");
  expect_fit_error(dir, part + apply + " --covariates x2,x1", "the applied fit's covariates are x1,x2, in that order");
  expect_fit_error(dir, part + apply + " --offset x2", "the applied fit's y is 'y-o' (VALUE or VALUE-OFFSET); give --value and --offset");
  expect_fit_error(dir, part + apply + " --value x1", "the applied fit's y is 'y-o'");
  // Summaries of rows without the offset: their y is not the fit's.
  ASSERT_EQ(run_shrink("summarize " + part + " --covariates x1,x2 -o " + quoted(dir / "s.csv"), dir).status, 0);
  expect_fit_error(dir, "--from-summaries " + quoted(dir / "s.csv") + apply, "the summaries' y is 'y', the applied fit's 'y-o'");
  expect_fit_error(dir, part + apply + " --tau-method ml", "--tau-method and --apply");
  expect_fit_error(dir, part + " --estimate y --se x2" + apply, "apply it to raw rows or their summaries");
  write_file(dir / "less.csv", "group,y,x1,o\n1,2,3,0\n");
  expect_fit_error(dir, quoted(dir / "less.csv") + apply, "x2");
  // A fit without covariates applied with covariates, and the other way round.
  ASSERT_EQ(run_shrink("fit " + part + " -o " + quoted(dir / "p.csv") + " --summary " + quoted(dir / "plain.json") + " -q", dir)
              .status,
            0);
  expect_fit_error(dir, part + " --apply " + quoted(dir / "plain.json") + " --covariates x1", "--covariates and --apply");
}

// Count fits: a part's groups get the whole fit's rows under its prior (Beta, Gamma, or the link's
// normal: --apply reads its "posterior_parameters"), bitwise where the prior's numbers are used as
// they were (binomial); --method fixed with the same numbers gives the same rows.
class ApplyCounts : public ::testing::Test {
 protected:
  void SetUp() override
  {
    std::ostringstream binomial, poisson;
    binomial << "group,y,n\n";
    poisson << "group,y,e\n";
    std::uint32_t state = 7;
    auto next = [&] { return state = state * 1664525u + 1013904223u; };
    for (int j = 1; j <= 90; ++j) {
      const unsigned n = 5 + next() % 40, rate = 5 + next() % 30;  // rates 5%..35%
      binomial << j << ',' << n * rate / 100 + next() % 3 << ',' << n + 2 << '\n';
      poisson << j << ',' << next() % 12 << ',' << 0.5 + (next() % 100) * 0.05 << '\n';
    }
    write_file(dir / "binomial.csv", binomial.str());
    write_file(dir / "poisson.csv", poisson.str());
    for (const std::string family : {"binomial", "poisson"}) {
      const split_data split = split_by_key(read_file(dir / (family + ".csv")));
      for (std::size_t p = 0; p < split.parts.size(); ++p)
        write_file(dir / (family + std::to_string(p) + ".csv"), split.parts[p]);
    }
  }

  std::string fit(const std::string& args, const std::string& out, const std::string& json)
  {
    const run_result r = run_shrink("fit " + args + " -o " + quoted(dir / out) + " --summary " + quoted(dir / json) + " -q", dir);
    EXPECT_EQ(r.status, 0) << args << ": " << r.err;
    return read_file(dir / out);
  }

  temp_dir dir;
  const std::string binomial = " --family binomial --successes y --trials n";
  const std::string poisson = " --family poisson --counts y --exposure e";
};

TEST_F(ApplyCounts, PartsGetTheWholeFitsRows)
{
  struct run_case {
    std::string family, columns, prior;
    double tol;
  };
  // Poisson's exposures are rescaled by each input's own unit: its rows agree to rounding.
  for (const run_case& c : {run_case{"binomial", binomial, " --method ml", 0}, run_case{"binomial", binomial, " --method mom", 0},
                            run_case{"binomial", binomial, " --prior logit-normal --quadrature-points 5", 0},
                            run_case{"poisson", poisson, " --method ml", 1e-14}, run_case{"poisson", poisson, " --prior log-normal", 1e-13}}) {
    const table whole = rows_by_key(fit(quoted(dir / (c.family + ".csv")) + c.columns + c.prior, "whole.csv", "whole.json"));
    for (int p = 0; p < 3; ++p) {
      const std::string part = quoted(dir / (c.family + std::to_string(p) + ".csv"));
      expect_rows_of(rows_by_key(fit(part + c.columns + " --apply " + quoted(dir / "whole.json"), "part.csv", "part.json")), whole,
                     c.tol, c.family + c.prior + ", part " + std::to_string(p));
      const nlohmann::json applied = nlohmann::json::parse(read_file(dir / "part.json"));
      EXPECT_EQ(applied.at("method"), "fixed") << c.prior;
    }
  }
}

TEST_F(ApplyCounts, TheBetaPriorsRowsAreItsClosedForm)
{
  fit(quoted(dir / "binomial.csv") + binomial, "whole.csv", "whole.json");
  const nlohmann::json h = nlohmann::json::parse(read_file(dir / "whole.json")).at("posterior_parameters");
  const double alpha = h.at("alpha"), beta = h.at("beta");
  // group,trials,successes,rate,shrinkage,estimate,...: (alpha + y) / (alpha + beta + n), nu / (nu + n).
  for (const auto& [key, c] : rows_by_key(fit(quoted(dir / "binomial1.csv") + binomial + " --apply " + quoted(dir / "whole.json"),
                                              "part.csv", "part.json"))) {
    const double n = c[0], y = c[1];
    EXPECT_NEAR(c[3], (alpha + beta) / (alpha + beta + n), 1e-15) << key;
    EXPECT_NEAR(c[4], (alpha + y) / (alpha + beta + n), 1e-15) << key;
  }
}

TEST_F(ApplyCounts, LinkNormalFixedAtTheFittedPriorIsTheFit)
{
  const std::string data = quoted(dir / "binomial.csv") + binomial + " --prior logit-normal";
  const std::string whole = fit(data, "ml.csv", "ml.json");
  const nlohmann::json ml = nlohmann::json::parse(read_file(dir / "ml.json"));
  std::ostringstream given;
  given.precision(17);
  given << " --method fixed --mu " << ml.at("mu").get<double>() << " --tau " << ml.at("tau").get<double>();
  EXPECT_EQ(fit(data + given.str(), "fixed.csv", "fixed.json"), whole);
  const nlohmann::json fixed = nlohmann::json::parse(read_file(dir / "fixed.json"));
  EXPECT_EQ(fixed.at("method"), "fixed");
  EXPECT_NEAR(fixed.at("log_likelihood").get<double>(), ml.at("log_likelihood").get<double>(),
              1e-12 * std::abs(ml.at("log_likelihood").get<double>()));
  EXPECT_EQ(fixed.at("tau2_test").at("statistic"), ml.at("tau2_test").at("statistic"));  // at the maximum, both
  EXPECT_TRUE(fixed.at("mu_se").is_null());
  EXPECT_TRUE(fixed.at("tau2_ci").at(0).is_null());
  // tau = 0: every group's rate is expit(mu).
  const table pooled = rows_by_key(fit(quoted(dir / "binomial.csv") + binomial + " --prior logit-normal --method fixed --mu -1 --tau 0",
                                       "zero.csv", "zero.json"));
  for (const auto& [key, c] : pooled) EXPECT_NEAR(c[4], 1 / (1 + std::exp(1.0)), 1e-15) << key;
}

TEST_F(ApplyCounts, BadInputIsAOneLineError)
{
  const std::string part = quoted(dir / "binomial0.csv") + binomial;
  // (bayes on six over-dispersed groups: on the 90 groups' near-binomial rates its grid runs long)
  write_file(dir / "spread.csv", "group,y,n\n1,2,20\n2,9,20\n3,1,20\n4,14,20\n5,5,20\n6,7,20\n");
  fit(quoted(dir / "spread.csv") + binomial + " --method bayes", "b.csv", "bayes.json");
  expect_fit_error(dir, part + " --apply " + quoted(dir / "bayes.json"), "no \"posterior_parameters\"");
  fit(quoted(dir / "binomial.csv") + binomial, "w.csv", "whole.json");
  const std::string apply = " --apply " + quoted(dir / "whole.json");
  expect_fit_error(dir, quoted(dir / "poisson0.csv") + poisson + apply, "the summary of a binomial fit: apply it with --family binomial");
  expect_fit_error(dir, part + apply + " --method ml", "--method and --apply");
  expect_fit_error(dir, part + apply + " --prior logit-normal", "--prior and --apply");
  expect_fit_error(dir, part + apply + " --level 0.9", "--level and --apply");
  expect_fit_error(dir, part + apply + " --tau 0.5", "--tau and --apply");
  expect_fit_error(dir, part + " --prior logit-normal --method fixed --mu 0.1", "needs the prior as --mu M --tau T");
  expect_fit_error(dir, part + " --prior logit-normal --method fixed --mu 0.1 --tau -1", "--tau must be >= 0");
  expect_fit_error(dir, part + " --prior logit-normal --mu 0.1 --tau 1", "--mu and --tau give the prior of --method fixed");
  expect_fit_error(dir, part + " --method fixed --mu 0.1", "--mu gives --prior logit-normal under --method fixed");
  expect_fit_error(dir, part + " --prior logit-normal --method fixed --mu 0.1 --tau 1 --alpha 2",
               "--prior logit-normal takes --mu and --tau");
  expect_fit_error(dir, part + " --prior logit-normal --method mom", "fitted by --method ml (maximum likelihood, as glmer) or given by --method fixed");
  expect_fit_error(dir, part + " --tau 1", "--tau belongs to --family normal");
}

// Meta-regression (per-group estimates with covariates): a part's groups get the whole fit's rows
// under its coefficients, their covariance and tau2, bit for bit, for every point method; the rows
// are the closed forms of the JSON's numbers (metafor's blup and the Fay-Herriot mse).
class ApplyMetaRegression : public Apply {
 protected:
  void SetUp() override
  {
    // key,yi,vi,x,f,o: x around 1e3 (the parts' centres differ from the whole's), f a factor whose
    // level c appears in part 0 only (key % 3 == 0 and key % 7 == 0), o an offset.
    std::ostringstream csv;
    csv.precision(17);
    csv << "key,yi,vi,x,f,o\n";
    hashed_uniforms uniform{99};
    for (int k = 0; k < 90; ++k) {
      const double x = 1000 + (k * 13) % 17, o = 0.1 * (k % 4), vi = 0.02 + 0.3 * uniform();
      const char* f = k % 21 == 0 ? "c" : k % 2 == 0 ? "a" : "b";
      const double yi = 0.5 - 0.05 * (x - 1000) + (f[0] == 'b' ? 0.3 : 0.0) + o + 0.4 * (uniform() - 0.5) + std::sqrt(vi) * (uniform() - 0.5);
      csv << k << ',' << yi << ',' << vi << ',' << x << ',' << f << ',' << o << '\n';
    }
    write_file(dir / "whole.csv", csv.str());
    split = split_by_key(csv.str());
    for (std::size_t p = 0; p < split.parts.size(); ++p) write_file(dir / ("part" + std::to_string(p) + ".csv"), split.parts[p]);
  }
  const std::string summary = " --group key --estimate yi --variance vi";
};

TEST_F(ApplyMetaRegression, PartsGetTheWholeFitsRowsForEveryPointMethod)
{
  for (const std::string model : {" --covariates x,f --tau-method reml", " --covariates x,f --offset o --tau-method ml",
                                  " --covariates x --tau-method mom", " --covariates f,x --tau-method dl",
                                  " --covariates x,f --tau-method pm", " --covariates x --offset o --tau-method eb",
                                  " --covariates x,f --tau-method sj", " --covariates x,f --tau 0.3",
                                  " --covariates f,x --no-intercept --tau-method reml"}) {
    const table whole = rows_by_key(fit_whole(quoted(dir / "whole.csv") + summary + model));
    const nlohmann::json fitted = nlohmann::json::parse(read_file(dir / "whole.json"));
    const nlohmann::json& h = fitted.at("posterior_parameters");
    EXPECT_EQ(h.at("tau2").get<double>(), fitted.at("tau2").get<double>()) << model;
    EXPECT_EQ(h.at("offset").is_null(), model.find("--offset") == std::string::npos) << model;
    for (int p = 0; p < 3; ++p) {
      const std::string name = "part" + std::to_string(p);
      // The covariates, factor levels and offset come from the applied fit (parts 1 and 2 lack level c).
      expect_rows_of(rows_by_key(apply_to(quoted(dir / (name + ".csv")) + summary)), whole, 0, model + ", " + name);
      const nlohmann::json applied = nlohmann::json::parse(read_file(dir / "part.json"));
      EXPECT_EQ(applied.at("tau_method"), "fixed") << model;
      EXPECT_EQ(applied.at("tau2").get<double>(), fitted.at("tau2").get<double>()) << model;
      EXPECT_TRUE(applied.at("QE").is_null() && applied.at("QM").is_null() && applied.at("I2").is_null()) << model;
      EXPECT_TRUE(applied.at("log_likelihood").at("reml").is_null()) << model;
      EXPECT_FALSE(applied.contains("structures")) << model;
      EXPECT_EQ(applied.at("coefficients"), fitted.at("coefficients")) << model;  // the fit's own table
      EXPECT_EQ(applied.at("posterior_parameters"), h) << model;
    }
  }
}

TEST_F(ApplyMetaRegression, TheRowsAreTheClosedFormOfTheGivenParameters)
{
  fit_whole(quoted(dir / "whole.csv") + summary + " --covariates x,f --offset o --tau-method reml");
  const nlohmann::json h = nlohmann::json::parse(read_file(dir / "whole.json")).at("posterior_parameters");
  EXPECT_EQ(h.at("coefficient_names"), nlohmann::json({"intercept", "x", "fb", "fc"}));
  EXPECT_EQ(h.at("factor_levels"), nlohmann::json({{"f", {"a", "b", "c"}}}));
  const double tau2 = h.at("tau2"), q = h.at("interval_quantile");
  const double variance = h.at("mse_terms").at("variance"), bias = h.at("mse_terms").at("bias");
  EXPECT_EQ(bias, 0);  // REML: Datta and Lahiri's bias term is zero
  std::map<std::string, std::vector<double>> inputs;  // key -> yi, vi, x, fb, fc, o
  const auto rows = parse_csv(split.parts[0]);
  for (std::size_t i = 1; i < rows.size(); ++i)
    inputs[rows[i][0]] = {std::stod(rows[i][1]), std::stod(rows[i][2]), std::stod(rows[i][3]),
                          rows[i][4] == "b" ? 1.0 : 0.0, rows[i][4] == "c" ? 1.0 : 0.0, std::stod(rows[i][5])};
  // group,n,mean,se,shrinkage,fitted,estimate,sd,lower,upper,mse
  for (const auto& [key, c] : rows_by_key(apply_to(quoted(dir / "part0.csv") + summary))) {
    const std::vector<double>& in = inputs.at(key);
    const double xc[4] = {1, in[2] - h.at("centres")[1].get<double>(), in[3] - h.at("centres")[2].get<double>(),
                          in[4] - h.at("centres")[3].get<double>()};
    double xb = 0, xax = 0;
    for (int a = 0; a < 4; ++a) {
      xb += xc[a] * h.at("beta_at_centres")[a].get<double>();
      for (int b = 0; b < 4; ++b) xax += xc[a] * h.at("beta_covariance")[a][b].get<double>() * xc[b];
    }
    const double v = in[1], y = in[0] - in[5], B = v / (v + tau2);
    const double estimate = (1 - B) * y + B * xb + in[5], sd = std::sqrt((1 - B) * v + B * B * xax);
    EXPECT_NEAR(c[3], B, 1e-14) << key;
    EXPECT_NEAR(c[4], xb + in[5], 1e-12) << key;
    EXPECT_NEAR(c[5], estimate, 1e-12) << key;
    EXPECT_NEAR(c[6], sd, 1e-12 * sd) << key;
    EXPECT_NEAR(c[7], estimate - q * sd, 1e-12) << key;
    EXPECT_NEAR(c[8], estimate + q * sd, 1e-12) << key;
    const double mse = v * tau2 / (v + tau2) + B * B * xax + 2 * B * B * variance / (v + tau2) - B * B * bias;
    EXPECT_NEAR(c[9], mse, 1e-12 * mse) << key;
  }
}

// Not --apply itself, but these data: metafor's plain Fisher scoring cycles on them for ML and
// REML with x alone (rma stops with "did not converge"); shrink's scoring bisects the overshooting
// step. The references are rma(yi, vi, mods = ~ x, method = "ML" / "REML", control =
// list(stepadj = 0.5, threshold = 1e-12)) in metafor 4.x on this CSV; scoring stops within its
// threshold 1e-5, and the structures' ML (run to 1e-13) is the maximum itself.
TEST_F(ApplyMetaRegression, ScoringThatOvershootsBisectsToTheMaximum)
{
  for (const auto& [method, reference] : {std::pair<std::string, double>{"ml", 0.00890215319549946}, {"reml", 0.0101966206699756}}) {
    fit_whole(quoted(dir / "whole.csv") + summary + " --covariates x --tau-method " + method);
    const nlohmann::json fitted = nlohmann::json::parse(read_file(dir / "whole.json"));
    EXPECT_NEAR(fitted.at("tau2").get<double>(), reference, 1e-5) << method;
    if (method == "ml") EXPECT_NEAR(fitted.at("structures").at("tau2_ml").get<double>(), reference, 1e-10 * reference);
  }
}

TEST_F(ApplyMetaRegression, BadInputIsAOneLineError)
{
  fit_whole(quoted(dir / "whole.csv") + summary + " --covariates x,f");
  const std::string part = quoted(dir / "part0.csv") + summary, apply = " --apply " + quoted(dir / "whole.json");
  expect_fit_error(dir, part + apply + " --covariates f,x", "the applied fit's covariates are x,f, in that order");
  expect_fit_error(dir, part + apply + " --offset o", "the applied fit's offset is none");
  expect_fit_error(dir, part + apply + " --no-intercept", "--no-intercept and --apply");
  expect_fit_error(dir, part + apply + " --tau-method reml", "--tau-method and --apply");
  expect_fit_error(dir, quoted(dir / "part0.csv") + " --group key --value yi" + apply, "apply it to per-group estimates");
  expect_fit_error(dir, quoted(dir / "part0.csv") + " --group key --estimate yi" + apply, "exactly one of --se NAME or --variance NAME");
  write_file(dir / "level.csv", "key,yi,vi,x,f,o\n1,0.1,0.2,1001,d,0\n");
  expect_fit_error(dir, quoted(dir / "level.csv") + summary + apply, "covariate 'f': level 'd' is not one of the applied fit's levels");
  write_file(dir / "text.csv", "key,yi,vi,x,f,o\n1,0.1,0.2,high,a,0\n");
  expect_fit_error(dir, quoted(dir / "text.csv") + summary + apply, "covariate 'x' is numeric in the applied fit but text here");
  write_file(dir / "less.csv", "key,yi,vi,x,o\n1,0.1,0.2,1001,0\n");
  expect_fit_error(dir, quoted(dir / "less.csv") + summary + apply, "no covariate column 'f'");
  nlohmann::json broken = nlohmann::json::parse(read_file(dir / "whole.json"));
  broken["posterior_parameters"]["beta_covariance"][1] = {1, 2};
  write_file(dir / "broken.json", broken.dump());
  expect_fit_error(dir, part + " --apply " + quoted(dir / "broken.json"), "posterior_parameters.beta_covariance is not a 4 x 4 matrix");
  broken = nlohmann::json::parse(read_file(dir / "whole.json"));
  broken["posterior_parameters"]["beta_covariance"][2][2] = -1;
  write_file(dir / "broken.json", broken.dump());
  expect_fit_error(dir, part + " --apply " + quoted(dir / "broken.json"), "posterior_parameters.beta_covariance has a negative variance");
  broken = nlohmann::json::parse(read_file(dir / "whole.json"));
  broken["posterior_parameters"]["beta_covariance"][1][0] = 1;
  write_file(dir / "broken.json", broken.dump());
  expect_fit_error(dir, part + " --apply " + quoted(dir / "broken.json"), "posterior_parameters.beta_covariance is not symmetric");
  broken = nlohmann::json::parse(read_file(dir / "whole.json"));
  broken["posterior_parameters"]["intercept"] = false;
  write_file(dir / "broken.json", broken.dump());
  expect_fit_error(dir, part + " --apply " + quoted(dir / "broken.json"), "coefficient_names do not follow from its covariates");
  // bayes: a mixture over tau, no point parameters to apply.
  ASSERT_EQ(run_shrink("fit " + quoted(dir / "whole.csv") + summary + " --covariates x --tau-method bayes -o " +
                         quoted(dir / "b.csv") + " --summary " + quoted(dir / "bayes.json") + " -q",
                       dir)
              .status,
            0);
  expect_fit_error(dir, part + " --apply " + quoted(dir / "bayes.json"), "no \"posterior_parameters\"");
}

}  // namespace
}  // namespace shrink::test
