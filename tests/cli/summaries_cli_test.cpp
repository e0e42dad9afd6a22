// `shrink summarize` and `shrink fit --from-summaries` end to end: the fit of merged parts equals
// the fit of the whole file (every normal --tau-method, the count families' ml) to 1e-12 relative
// on adversarial splits (a group in every part, a part of one row, an empty part, disjoint keys,
// integer and text keys, values of 1e12 + decimals); the same parts merged in the same order give
// the same bytes; bad input is a one-line error.

#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace shrink::test {
namespace {

/// A fixed stream of uniforms in (0, 1) (SplitMix64), so the data are the same everywhere.
struct uniforms {
  std::uint64_t state;
  double operator()()
  {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (static_cast<double>((z ^ (z >> 31)) >> 11) + 0.5) / 9007199254740992.0;
  }
};

/// `units` ten-thousandths as decimal text: 1234567 -> "123.4567".
std::string ten_thousandths(std::int64_t units)
{
  const std::uint64_t a = units < 0 ? 0 - static_cast<std::uint64_t>(units) : static_cast<std::uint64_t>(units);
  std::string frac = std::to_string(a % 10000);
  return (units < 0 ? "-" : "") + std::to_string(a / 10000) + "." + std::string(4 - frac.size(), '0') + frac;
}

/// Rows "key,value" of 40 groups (keys 1..40, every 20th row in group 7, so that group 7 lies in
/// every part of any split below): group effects with sd 2 plus noise with sd 3, four decimals,
/// around `base` (an integer).
std::vector<std::string> normal_rows(std::size_t n, std::int64_t base)
{
  uniforms u{42};
  std::vector<double> effect(41);
  for (double& e : effect) e = 2 * (u() + u() + u() - 1.5) * 2;
  std::vector<std::string> rows;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t key = i % 20 == 0 ? 7 : (i * 7919) % 40 + 1;
    const double y = effect[key] + 3 * (u() + u() + u() + u() - 2) * 1.7;
    rows.push_back(std::to_string(key) + "," + ten_thousandths(base * 10000 + static_cast<std::int64_t>(std::llround(y * 1e4))));
  }
  return rows;
}

std::string csv_of(const std::string& header, const std::vector<std::string>& rows, std::size_t begin, std::size_t end)
{
  std::string out = header + "\n";
  for (std::size_t i = begin; i < end; ++i) out += rows[i] + "\n";
  return out;
}

struct fit_output {
  std::string csv;
  nlohmann::json summary;
};

fit_output run_fit(const temp_dir& dir, const std::string& args)
{
  const run_result r = run_shrink("fit " + args + " -o " + quoted(dir / "fit.csv") + " --summary " + quoted(dir / "fit.json") +
                                    " --backend cpu -q",
                                  dir);
  EXPECT_EQ(r.status, 0) << args << ": " << r.err;
  if (r.status != 0) return {};
  return {read_file(dir / "fit.csv"), nlohmann::json::parse(read_file(dir / "fit.json"))};
}

/// Writes each part's rows as a CSV and summarizes it; returns the summaries' paths in order.
std::string summarize_parts(const temp_dir& dir, const std::string& header, const std::vector<std::string>& rows,
                            const std::vector<std::size_t>& cuts, const std::string& options = "")
{
  std::string paths;
  for (std::size_t p = 0; p + 1 < cuts.size(); ++p) {
    const auto in = dir / ("part" + std::to_string(p) + ".csv");
    const auto out = dir / ("part" + std::to_string(p) + ".summary.csv");
    write_file(in, csv_of(header, rows, cuts[p], cuts[p + 1]));
    const run_result r = run_shrink("summarize " + quoted(in) + " -o " + quoted(out) + " " + options, dir);
    EXPECT_EQ(r.status, 0) << r.err;
    paths += " " + quoted(out);
  }
  return paths;
}

/// Every number of two per-group CSVs within `rel` of the column's scale (its range over the
/// groups, or its largest magnitude when all are equal) plus two units in the last place (the
/// resolution of the printed text); everything else equal.
void expect_same_csv(const std::string& whole, const std::string& merged, double rel, const std::string& what)
{
  const auto a = parse_csv(whole), b = parse_csv(merged);
  ASSERT_EQ(a.size(), b.size()) << what;
  ASSERT_GT(a.size(), 1u) << what;
  ASSERT_EQ(a[0], b[0]) << what;
  for (std::size_t c = 0; c < a[0].size(); ++c) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo, largest = 0;
    for (std::size_t r = 1; r < a.size(); ++r) {
      if (c == 0 || a[r][c].empty()) continue;
      const double x = std::stod(a[r][c]);
      lo = std::min(lo, x), hi = std::max(hi, x), largest = std::max(largest, std::abs(x));
    }
    const double scale = hi > lo ? hi - lo : largest;
    for (std::size_t r = 1; r < a.size(); ++r) {
      ASSERT_EQ(a[r].size(), b[r].size()) << what;
      if (c == 0 || a[r][c].empty() || b[r][c].empty()) {
        EXPECT_EQ(a[r][c], b[r][c]) << what << " row " << r << " column " << a[0][c];
        continue;
      }
      const double x = std::stod(a[r][c]), y = std::stod(b[r][c]);
      const double ulp = std::nextafter(std::max(std::abs(x), std::abs(y)), INFINITY) - std::max(std::abs(x), std::abs(y));
      EXPECT_LE(std::abs(x - y), rel * scale + 2 * ulp)
        << what << " group " << a[r][0] << " column " << a[0][c] << ": whole " << a[r][c] << ", merged " << b[r][c];
    }
  }
}

/// Two JSON summaries: every number within `rel` relative, everything else equal (timings apart).
void expect_same_json(const nlohmann::json& a, const nlohmann::json& b, double rel, const std::string& path)
{
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    EXPECT_LE(std::abs(x - y), rel * std::max(std::abs(x), std::abs(y))) << path << ": whole " << x << ", merged " << y;
  } else if (a.is_object() && b.is_object()) {
    ASSERT_EQ(a.size(), b.size()) << path;
    for (const auto& [key, value] : a.items()) {
      if (key == "seconds" || key == "stage_seconds" || key == "seconds_total") continue;
      ASSERT_TRUE(b.contains(key)) << path << "." << key;
      expect_same_json(value, b[key], rel, path + "." + key);
    }
  } else if (a.is_array() && b.is_array()) {
    ASSERT_EQ(a.size(), b.size()) << path;
    for (std::size_t i = 0; i < a.size(); ++i) expect_same_json(a[i], b[i], rel, path + "[" + std::to_string(i) + "]");
  } else {
    EXPECT_EQ(a, b) << path;
  }
}

void expect_same_fit(const fit_output& whole, const fit_output& merged, const std::string& what)
{
  constexpr double rel = 1e-12;  // the bound; the merge itself differs only in rounding
  expect_same_csv(whole.csv, merged.csv, rel, what);
  expect_same_json(whole.summary, merged.summary, rel, what);
}

const std::vector<std::string> methods{"--tau-method mom", "--tau-method dl",   "--tau-method pm",
                                       "--tau-method sj",  "--tau-method ml",   "--tau-method reml",
                                       "--tau-method eb",  "--tau-method bayes", "--tau-method fixed --tau 1.5"};

TEST(SummariesCli, EveryNormalMethodFromMergedPartsEqualsTheWholeFit)
{
  temp_dir dir;
  const std::vector<std::string> rows = normal_rows(400, 50);
  write_file(dir / "whole.csv", csv_of("group,y", rows, 0, rows.size()));
  // A part of one row, an empty part (header only), then the rest unevenly; group 7 in every
  // non-empty part.
  const std::string parts = summarize_parts(dir, "group,y", rows, {0, 1, 1, 150, 151, 400});
  for (const std::string& method : methods) {
    const fit_output whole = run_fit(dir, quoted(dir / "whole.csv") + " " + method);
    const fit_output merged = run_fit(dir, "--from-summaries" + parts + " " + method);
    expect_same_fit(whole, merged, method);
    EXPECT_EQ(merged.summary["observations"], 400);
  }
}

TEST(SummariesCli, SamePartsSameOrderGiveTheSameBytes)
{
  temp_dir dir;
  const std::vector<std::string> rows = normal_rows(300, 0);
  const std::string parts = summarize_parts(dir, "group,y", rows, {0, 100, 101, 300});
  const run_result a = run_shrink("fit --from-summaries" + parts + " --threads 1 -q --tau-method reml", dir);
  const run_result b = run_shrink("fit --from-summaries" + parts + " --threads 2 -q --tau-method reml", dir);
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  // Summarizing the same rows again gives the same summaries.
  const run_result s1 = run_shrink("summarize " + quoted(dir / "part0.csv") + " --threads 1", dir);
  const run_result s2 = run_shrink("summarize " + quoted(dir / "part0.csv") + " --threads 2", dir);
  EXPECT_EQ(s1.out, read_file(dir / "part0.summary.csv"));
  EXPECT_EQ(s2.out, s1.out);
}

TEST(SummariesCli, HugeOffsetKeepsTheDigits)
{
  // 1e12 + values with four decimals: a double holds them to 1.2e-4 only; tau2 and sigma2 of the
  // merged fit still equal the whole fit's to 1e-12 relative.
  temp_dir dir;
  const std::vector<std::string> rows = normal_rows(400, 1000000000000);
  write_file(dir / "whole.csv", csv_of("group,y", rows, 0, rows.size()));
  const std::string parts = summarize_parts(dir, "group,y", rows, {0, 1, 200, 200, 400});
  for (const char* method : {"--tau-method mom", "--tau-method reml"}) {
    const fit_output whole = run_fit(dir, quoted(dir / "whole.csv") + " " + method);
    const fit_output merged = run_fit(dir, "--from-summaries" + parts + " " + method);
    expect_same_fit(whole, merged, method);
    EXPECT_GT(whole.summary["tau2"].get<double>(), 0.5);  // the decimals carry the between-group spread
  }
}

TEST(SummariesCli, DisjointKeysAndIntegerWithTextKeys)
{
  temp_dir dir;
  std::vector<std::string> rows = normal_rows(200, 0);
  // Disjoint keys: odd keys in one part, even in the other.
  std::vector<std::string> odd, even;
  for (const std::string& r : rows) (std::stoi(r.substr(0, r.find(','))) % 2 ? odd : even).push_back(r);
  std::vector<std::string> split = odd;
  split.insert(split.end(), even.begin(), even.end());
  write_file(dir / "whole.csv", csv_of("group,y", split, 0, split.size()));
  std::string parts = summarize_parts(dir, "group,y", split, {0, odd.size(), split.size()});
  expect_same_fit(run_fit(dir, quoted(dir / "whole.csv")), run_fit(dir, "--from-summaries" + parts), "disjoint");

  // Text keys in the second part only ("g3", and "07", which is not the integer 7): every key
  // is then text, ordered bytewise, as the raw reader orders the whole file.
  for (std::size_t i = 100; i < rows.size(); i += 3) rows[i] = (i % 2 ? "g3" : "07") + rows[i].substr(rows[i].find(','));
  write_file(dir / "whole.csv", csv_of("group,y", rows, 0, rows.size()));
  parts = summarize_parts(dir, "group,y", rows, {0, 100, rows.size()});
  const fit_output whole = run_fit(dir, quoted(dir / "whole.csv"));
  const fit_output merged = run_fit(dir, "--from-summaries" + parts);
  expect_same_fit(whole, merged, "text keys");
  const auto table = parse_csv(merged.csv);
  std::vector<std::string> keys;
  for (std::size_t r = 1; r < table.size(); ++r) keys.push_back(table[r][0]);
  EXPECT_EQ(keys.front(), "07");
  EXPECT_EQ(keys.back(), "g3");
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));  // bytewise: "10" before "2"
  EXPECT_LT(std::find(keys.begin(), keys.end(), "10"), std::find(keys.begin(), keys.end(), "2"));
}

TEST(SummariesCli, CountFamiliesFromMergedPartsEqualTheWholeFit)
{
  temp_dir dir;
  uniforms u{7};
  std::vector<std::string> trials, counts;
  for (std::size_t i = 0; i < 600; ++i) {
    const std::size_t key = i % 15 == 0 ? 3 : (i * 31) % 30 + 1;
    const double p = 0.1 + 0.5 * static_cast<double>(key) / 30;
    trials.push_back(std::to_string(key) + "," + (u() < p ? "1" : "0"));
    // Poisson-ish counts with an exposure per row.
    const int y = static_cast<int>(std::floor(-std::log(u()) * p * 8));
    counts.push_back(std::to_string(key) + "," + std::to_string(y) + "," + ten_thousandths(5000 + static_cast<std::int64_t>(u() * 20000)));
  }
  write_file(dir / "whole.csv", csv_of("group,y", trials, 0, trials.size()));
  std::string parts = summarize_parts(dir, "group,y", trials, {0, 1, 1, 300, 600}, "--family binomial");
  EXPECT_EQ(read_file(dir / "part0.summary.csv"), "group,trials,successes\n3," + std::string("1,") + trials[0].substr(2) + "\n");
  for (const std::string method : {"--method ml", "--method mom"}) {
    const fit_output whole = run_fit(dir, quoted(dir / "whole.csv") + " --family binomial --value y " + method);
    const fit_output merged = run_fit(dir, "--from-summaries" + parts + " " + method);
    expect_same_fit(whole, merged, "binomial " + method);
    EXPECT_EQ(merged.summary["family"], "binomial");
  }

  write_file(dir / "whole.csv", csv_of("group,y,e", counts, 0, counts.size()));
  parts = summarize_parts(dir, "group,y,e", counts, {0, 250, 251, 600}, "--family poisson --value y --exposure e");
  const fit_output whole = run_fit(dir, quoted(dir / "whole.csv") + " --family poisson --value y --exposure e");
  const fit_output merged = run_fit(dir, "--from-summaries" + parts + " --family poisson");
  expect_same_fit(whole, merged, "poisson");
}

TEST(SummariesCli, NpyInputAndFiguresOfTheMergedFit)
{
  temp_dir dir;
  const run_result g = run_shrink("generate --groups 30 --obs 2:9 --mu 1 --tau 0.5 --sigma 1 --seed 3 -o " +
                                    quoted(dir / "g.csv") + " --group-npy " + quoted(dir / "g.npy") + " --value-npy " +
                                    quoted(dir / "y.npy"),
                                  dir);
  ASSERT_EQ(g.status, 0) << g.err;
  const run_result s = run_shrink("summarize --group-npy " + quoted(dir / "g.npy") + " --value-npy " + quoted(dir / "y.npy") +
                                    " -o " + quoted(dir / "s.csv"),
                                  dir);
  ASSERT_EQ(s.status, 0) << s.err;
  const std::string npy = "--group-npy " + quoted(dir / "g.npy") + " --value-npy " + quoted(dir / "y.npy");
  expect_same_fit(run_fit(dir, npy), run_fit(dir, "--from-summaries " + quoted(dir / "s.csv")), "npy");
  ASSERT_EQ(run_shrink("fit " + npy + " -q --plot " + quoted(dir / "whole.svg"), dir).status, 0);
  ASSERT_EQ(run_shrink("fit --from-summaries " + quoted(dir / "s.csv") + " -q --plot " + quoted(dir / "merged.svg"), dir).status, 0);
  EXPECT_EQ(read_file(dir / "whole.svg"), read_file(dir / "merged.svg"));
}

TEST(SummariesCli, BadInputIsAOneLineError)
{
  temp_dir dir;
  write_file(dir / "n.csv", "group,n,mean,mean_lo,m2\n1,2,3,0,1\n2,2,5,0,1\n");
  write_file(dir / "b.csv", "group,trials,successes\n1,3,1\n");
  write_file(dir / "twice.csv", "group,n,mean,m2\n1,2,3,1\n1,2,3,1\n");
  write_file(dir / "rows.csv", "group,y\n1,2\n");
  const std::string n = quoted(dir / "n.csv");
  expect_error(run_shrink("fit --from-summaries", dir), "--from-summaries");
  expect_error(run_shrink("fit --from-summaries " + n + " " + quoted(dir / "b.csv"), dir),
               "the summaries mix families: part 1 is normal, part 2 binomial");
  expect_error(run_shrink("fit --from-summaries " + n + " --family poisson", dir),
               "--family poisson, but the summaries are of the normal family");
  expect_error(run_shrink("fit --from-summaries " + quoted(dir / "none.csv"), dir), "none.csv");
  expect_error(run_shrink("fit --from-summaries " + quoted(dir / "twice.csv"), dir), "group '1' appears twice");
  expect_error(run_shrink("fit --from-summaries " + quoted(dir / "rows.csv"), dir), "no data column");
  expect_error(run_shrink("fit " + quoted(dir / "rows.csv") + " --from-summaries " + n, dir),
               "an input file and --from-summaries");
  expect_error(run_shrink("fit --from-summaries " + n + " --value y", dir), "--value and --from-summaries");
  expect_error(run_shrink("summarize " + quoted(dir / "rows.csv") + " --exposure e", dir), "--exposure belongs to --family poisson");
  expect_error(run_shrink("summarize " + quoted(dir / "rows.csv") + " --family gamma", dir), "unknown --family 'gamma'");
  expect_error(run_shrink("summarize " + quoted(dir / "rows.csv") + " --family binomial", dir), "raw rows of --family binomial are trials");
  expect_error(run_shrink("summarize " + quoted(dir / "rows.csv") + " --value z", dir), "no value column 'z'");
  // A failed summarize leaves an existing output as it was.
  write_file(dir / "keep.csv", "old\n");
  expect_error(run_shrink("summarize " + quoted(dir / "none.csv") + " -o " + quoted(dir / "keep.csv"), dir), "none.csv");
  EXPECT_EQ(read_file(dir / "keep.csv"), "old\n");
}

/// Rows "group,y,x1,x2,o" of 40 groups (keys 1..40, every 20th row in group 7): y = group effect
/// (sd 0.5) + 1.5 x1 - 0.03 x2 + o + noise (sd 1.15), o a known offset; y around `y_base` and x1
/// around `x_base` (integers) with four decimals, x2 small whole numbers. Effects are moderate on purpose: a z of 10
/// to 38 makes a p-value move by z^2 times its z's rounding, beyond the 1e-12 of the comparison.
std::vector<std::string> covariate_rows(std::size_t n, std::int64_t y_base, std::int64_t x_base = 0)
{
  uniforms u{11};
  std::vector<double> effect(41);
  for (double& e : effect) e = 0.5 * (u() + u() + u() - 1.5) * 2;
  std::vector<std::string> rows;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t key = i % 20 == 0 ? 7 : (i * 7919) % 40 + 1;
    const double x1 = 0.3 * u() + 0.005 * static_cast<double>(key), x2 = std::floor(5 * u()), o = u();
    const double y = effect[key] + 1.5 * x1 - 0.03 * x2 + o + 2 * (u() + u() + u() + u() - 2);
    auto decimal = [&](std::int64_t base, double v) {
      return ten_thousandths(base * 10000 + static_cast<std::int64_t>(std::llround(v * 1e4)));
    };
    rows.push_back(std::to_string(key) + "," + decimal(y_base, y) + "," + decimal(x_base, x1) + "," + std::to_string(static_cast<int>(x2)) +
                   "," + ten_thousandths(static_cast<std::int64_t>(std::llround(o * 1e4))));
  }
  return rows;
}

const char* const covariate_header = "group,y,x1,x2,o";
const std::string covariate_options = "--group group --value y --covariates x1,x2";

TEST(SummariesCli, CovariatesFromMergedPartsEqualTheWholeFit)
{
  temp_dir dir;
  const std::vector<std::string> rows = covariate_rows(400, 0);
  write_file(dir / "whole.csv", csv_of(covariate_header, rows, 0, rows.size()));
  for (const std::string offset : {"", " --offset o"}) {
    // A part of one row, an empty part, then the rest unevenly; group 7 in every non-empty part.
    const std::string parts = summarize_parts(dir, covariate_header, rows, {0, 1, 1, 150, 151, 400}, covariate_options + offset);
    for (const std::string method : {"", " --tau-method ml"}) {
      const fit_output whole = run_fit(dir, quoted(dir / "whole.csv") + " " + covariate_options + offset + method);
      const fit_output merged = run_fit(dir, "--from-summaries" + parts + " --covariates x1,x2" + method);
      expect_same_fit(whole, merged, "covariates" + offset + method);
      EXPECT_EQ(merged.summary["observations"], 400);
      const nlohmann::json& slope = whole.summary["coefficients"][1];  // the slope the rows were drawn with
      EXPECT_NEAR(slope["estimate"].get<double>(), 1.5, 3 * slope["se"].get<double>());
    }
    // Any of the covariates, in any order: the raw fit of that list.
    const fit_output whole = run_fit(dir, quoted(dir / "whole.csv") + " --group group --value y --covariates x2" + offset);
    const fit_output merged = run_fit(dir, "--from-summaries" + parts + " --covariates x2");
    expect_same_fit(whole, merged, "x2 alone" + offset);
  }
  // Disjoint keys: groups 1..20 in one part, 21..40 in the other.
  std::vector<std::string> low, high;
  for (const std::string& r : rows) (std::stoi(r.substr(0, r.find(','))) <= 20 ? low : high).push_back(r);
  std::vector<std::string> split = low;
  split.insert(split.end(), high.begin(), high.end());
  write_file(dir / "whole.csv", csv_of(covariate_header, split, 0, split.size()));
  const std::string parts = summarize_parts(dir, covariate_header, split, {0, low.size(), split.size()}, covariate_options);
  expect_same_fit(run_fit(dir, quoted(dir / "whole.csv") + " " + covariate_options),
                  run_fit(dir, "--from-summaries" + parts + " --covariates x1,x2"), "disjoint");
}

TEST(SummariesCli, CovariateSummariesHoldTheDocumentedNumbers)
{
  // Each group's n, means and centred co-moments against a two-pass computation in long double.
  temp_dir dir;
  const std::vector<std::string> rows = covariate_rows(120, 0);
  write_file(dir / "rows.csv", csv_of(covariate_header, rows, 0, rows.size()));
  const run_result r = run_shrink("summarize " + quoted(dir / "rows.csv") + " " + covariate_options + " --offset o -q", dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto table = parse_csv(r.out);
  ASSERT_EQ(table[0], (std::vector<std::string>{"group", "n", "mean:x1", "mean_lo:x1", "mean:x2", "mean_lo:x2", "mean:y-o",
                                                "mean_lo:y-o", "comoment:x1:x1", "comoment:x2:x1", "comoment:x2:x2",
                                                "comoment:y-o:x1", "comoment:y-o:x2", "comoment:y-o:y-o"}));
  std::map<std::string, std::vector<std::array<long double, 3>>> groups;  // z = (x1, x2, y - o) per row
  for (const auto& f : parse_csv(csv_of(covariate_header, rows, 0, rows.size())))
    if (f[0] != "group") groups[f[0]].push_back({std::stold(f[2]), std::stold(f[3]), std::stold(f[1]) - std::stold(f[4])});
  ASSERT_EQ(table.size(), groups.size() + 1);
  for (std::size_t i = 1; i < table.size(); ++i) {
    const auto& z = groups[table[i][0]];
    ASSERT_EQ(std::stod(table[i][1]), static_cast<double>(z.size()));
    std::array<long double, 3> mean{};
    for (const auto& row : z)
      for (int a = 0; a < 3; ++a) mean[a] += row[a] / z.size();
    for (int a = 0, c = 8; a < 3; ++a) {
      const double got = std::stod(table[i][2 + 2 * a]) + std::stod(table[i][3 + 2 * a]);
      EXPECT_NEAR(got, static_cast<double>(mean[a]), 1e-14 * (1 + std::abs(static_cast<double>(mean[a])))) << table[i][0];
      for (int b = 0; b <= a; ++b, ++c) {
        long double truth = 0, scale = 0;
        for (const auto& row : z) {
          truth += (row[a] - mean[a]) * (row[b] - mean[b]);
          scale += std::abs((row[a] - mean[a]) * (row[b] - mean[b]));
        }
        EXPECT_NEAR(std::stod(table[i][c]), static_cast<double>(truth), 1e-13 * static_cast<double>(scale) + 1e-300)
          << "group " << table[i][0] << " " << table[0][c];
      }
    }
  }
}

TEST(SummariesCli, CovariatesOneSummaryGivesTheBytesOfTheWholeFit)
{
  // One part (or one part with empty parts around it) reproduces the fold exactly: the same bytes.
  temp_dir dir;
  const std::vector<std::string> rows = covariate_rows(300, 1000);
  write_file(dir / "whole.csv", csv_of(covariate_header, rows, 0, rows.size()));
  const std::string parts = summarize_parts(dir, covariate_header, rows, {0, 0, 300, 300}, covariate_options + " --offset o");
  const fit_output whole = run_fit(dir, quoted(dir / "whole.csv") + " " + covariate_options + " --offset o");
  const fit_output merged = run_fit(dir, "--from-summaries" + parts + " --covariates x1,x2");
  EXPECT_EQ(whole.csv, merged.csv);
  expect_same_json(whole.summary, merged.summary, 0.0, "one part");
}

TEST(SummariesCli, CovariatesOfHugeOffsetKeepTheirSpread)
{
  // x1 of 1e9 + four decimals: each group's rows are folded relative to its first row (a plain
  // Welford pass loses 1e-6 of x1's co-moments to rounding), and each part's means kept to ~32
  // digits, so the merged fit still equals the whole to 1e-12; and the fit is the one of the same
  // rows less 1e9 (the data's own, to the rounding of the input).
  temp_dir dir;
  const std::vector<std::string> rows = covariate_rows(400, 0, 1000000000), small = covariate_rows(400, 0);
  write_file(dir / "whole.csv", csv_of(covariate_header, rows, 0, rows.size()));
  write_file(dir / "small.csv", csv_of(covariate_header, small, 0, small.size()));
  const std::string parts = summarize_parts(dir, covariate_header, rows, {0, 1, 200, 200, 400}, covariate_options);
  const fit_output whole = run_fit(dir, quoted(dir / "whole.csv") + " " + covariate_options);
  const fit_output merged = run_fit(dir, "--from-summaries" + parts + " --covariates x1,x2");
  expect_same_fit(whole, merged, "1e9");
  const fit_output shifted = run_fit(dir, quoted(dir / "small.csv") + " " + covariate_options);
  // Input rounding: 1e9 + x holds x to 6e-8 and x1 spreads over about 0.1: 1e-6 relative, with room.
  for (const char* what : {"tau2", "sigma2"})
    EXPECT_NEAR(merged.summary[what].get<double>(), shifted.summary[what].get<double>(), 1e-5 * shifted.summary[what].get<double>());
  for (int c = 1; c <= 2; ++c) {
    const double slope = shifted.summary["coefficients"][c]["estimate"].get<double>();
    EXPECT_NEAR(merged.summary["coefficients"][c]["estimate"].get<double>(), slope, 1e-5 * std::abs(slope));
  }
  const auto a = parse_csv(merged.csv), b = parse_csv(shifted.csv);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t r = 1; r < a.size(); ++r)  // the group's effect b_j
    EXPECT_NEAR(std::stod(a[r][4]), std::stod(b[r][4]), 1e-5) << a[r][0];
}

TEST(SummariesCli, CovariatesTreeMergeAndSameBytesForAnyThreads)
{
  temp_dir dir;
  const std::vector<std::string> rows = covariate_rows(300, 0);
  write_file(dir / "whole.csv", csv_of(covariate_header, rows, 0, rows.size()));
  const std::string parts = summarize_parts(dir, covariate_header, rows, {0, 100, 101, 200, 300}, covariate_options);
  // A stage of a tree merge: parts 0 and 1 merged into one, then with the rest.
  const run_result stage = run_shrink("summarize --from-summaries " + quoted(dir / "part0.summary.csv") + " " +
                                        quoted(dir / "part1.summary.csv") + " -o " + quoted(dir / "stage.csv"),
                                      dir);
  ASSERT_EQ(stage.status, 0) << stage.err;
  const fit_output whole = run_fit(dir, quoted(dir / "whole.csv") + " " + covariate_options);
  const fit_output tree = run_fit(dir, "--from-summaries " + quoted(dir / "stage.csv") + " " + quoted(dir / "part2.summary.csv") +
                                         " " + quoted(dir / "part3.summary.csv") + " --covariates x1,x2");
  expect_same_fit(whole, tree, "tree");
  const std::string fit = "fit --from-summaries" + parts + " --covariates x1,x2 -q --threads ";
  const run_result a = run_shrink(fit + "1", dir), b = run_shrink(fit + "2", dir), c = run_shrink(fit + "5", dir);
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.out, c.out);
  const std::string summarize = "summarize " + quoted(dir / "whole.csv") + " " + covariate_options + " -q --threads ";
  const run_result s1 = run_shrink(summarize + "1", dir), s2 = run_shrink(summarize + "2", dir);
  ASSERT_EQ(s1.status, 0) << s1.err;
  EXPECT_EQ(s1.out, s2.out);
  const std::string merge = "summarize -q --from-summaries" + parts + " --threads ";
  const run_result m1 = run_shrink(merge + "1", dir), m2 = run_shrink(merge + "3", dir);
  ASSERT_EQ(m1.status, 0) << m1.err;
  EXPECT_EQ(m1.out, m2.out);
}

TEST(SummariesCli, CovariateSummariesBadInputIsAOneLineError)
{
  temp_dir dir;
  const std::vector<std::string> rows = covariate_rows(60, 0);
  write_file(dir / "rows.csv", csv_of(covariate_header, rows, 0, rows.size()));
  const std::string rows_csv = quoted(dir / "rows.csv");
  const std::string both = summarize_parts(dir, covariate_header, rows, {0, 60}, covariate_options);
  const std::string one = quoted(dir / "one.csv"), plain = quoted(dir / "plain.csv");
  ASSERT_EQ(run_shrink("summarize " + rows_csv + " --group group --value y --covariates x1 -o " + one, dir).status, 0);
  ASSERT_EQ(run_shrink("summarize " + rows_csv + " --group group --value y -o " + plain, dir).status, 0);
  expect_error(run_shrink("fit --from-summaries" + both, dir), "the summaries hold covariates (x1,x2): give --covariates");
  expect_error(run_shrink("fit --from-summaries " + plain + " --covariates x1", dir), "--covariates: the summaries hold no covariates");
  expect_error(run_shrink("fit --from-summaries" + both + " --covariates x3", dir), "the summaries hold no covariate 'x3'");
  expect_error(run_shrink("fit --from-summaries" + both + " " + one + " --covariates x1", dir),
               "the summaries hold different columns: part 1 x1, x2 and y, part 2 x1 and y");
  expect_error(run_shrink("fit --from-summaries" + both + " " + plain + " --covariates x1", dir),
               "the summaries mix families: part 1 is normal with covariates, part 2 normal");
  expect_error(run_shrink("fit --from-summaries" + both + " --covariates x1 --offset o", dir), "--offset and --from-summaries");
  expect_error(run_shrink("fit --from-summaries" + both + " --covariates x1 --tau-method mom", dir),
               "raw mode with covariates fits --tau-method reml (default) or ml");
  expect_error(run_shrink("summarize --from-summaries" + both + " --covariates x1", dir), "give no raw input");
  expect_error(run_shrink("summarize " + rows_csv + " --offset o", dir), "--offset is subtracted from the value of summaries with --covariates");
  expect_error(run_shrink("summarize " + rows_csv + " --covariates x1 --family binomial", dir),
               "--covariates: summaries with covariates are of --family normal");
  expect_error(run_shrink("summarize " + rows_csv + " --covariates x1,x9", dir), "no data column 'x9'");
  // A factor: its levels in other parts are unknown to a part.
  write_file(dir / "factor.csv", "group,y,region\n1,2.5,north\n1,3,south\n2,1,north\n");
  expect_error(run_shrink("summarize " + quoted(dir / "factor.csv") + " --covariates region", dir),
               "covariate 'region' is text (a factor)");
  // Numbers that no fold gives.
  const std::string header = "group,n,mean:x,mean_lo:x,mean:y,mean_lo:y,comoment:x:x,comoment:y:x,comoment:y:y\n";
  write_file(dir / "negative.csv", header + "1,3,1,0,2,0,-1,0,1\n");
  write_file(dir / "single.csv", header + "1,1,1,0,2,0,0,0.5,0\n");
  write_file(dir / "zero.csv", header + "1,0,1,0,2,0,0,0,0\n");
  write_file(dir / "twice.csv", header + "1,2,1,0,2,0,1,0,1\n1,2,1,0,2,0,1,0,1\n");
  write_file(dir / "lonely.csv", "group,n,mean:y,mean_lo:y,comoment:y:y\n1,2,1,0,1\n");
  write_file(dir / "empty.csv", header);
  expect_error(run_shrink("fit --from-summaries " + quoted(dir / "negative.csv") + " --covariates x", dir),
               "group '1': comoment:x:x (a sum of squared deviations) must be >= 0");
  expect_error(run_shrink("fit --from-summaries " + quoted(dir / "single.csv") + " --covariates x", dir),
               "comoment:y:x must be 0 for a group of one row (n = 1)");
  expect_error(run_shrink("fit --from-summaries " + quoted(dir / "zero.csv") + " --covariates x", dir), "n must be a whole number >= 1");
  expect_error(run_shrink("fit --from-summaries " + quoted(dir / "twice.csv") + " --covariates x", dir), "group '1' appears twice");
  expect_error(run_shrink("fit --from-summaries " + quoted(dir / "lonely.csv") + " --covariates x", dir),
               "covariate summaries need a covariate and the value");
  expect_error(run_shrink("fit --from-summaries " + quoted(dir / "empty.csv") + " " + quoted(dir / "empty.csv") + " --covariates x", dir),
               "no groups: every part of the summaries is empty");
}

}  // namespace
}  // namespace shrink::test
