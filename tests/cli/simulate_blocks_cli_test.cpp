// `shrink simulate --replicate-range FIRST:COUNT --partial-out FILE` and `--merge-partials`: ranges
// run by separate processes, merged (in any order, or in a tree of merges), write the single run's
// CSV byte for byte and its JSON but for the timings; figures are drawn again from the options;
// every misuse is one line on stderr with exit 1.

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace {

using shrink::test::expect_error;
using shrink::test::quoted;
using shrink::test::read_file;
using shrink::test::run_shrink;
using shrink::test::temp_dir;

const std::string normal_base = "simulate --obs 1:8 --tau 0,0.6 --mu 1 --replicates 300 --backend cpu -q";
const std::string normal = normal_base + " --groups 6,30 --seed 5";
const std::string binomial =
  "simulate --family binomial --groups 10 --trials 3:20 --mean 0.4 --concentration 5,50 --replicates 130 --seed 2 "
  "--backend cpu -q";

/// Runs `study` over `ranges` (FIRST:COUNT each) into part files, merges them (listed in reverse)
/// and returns the merged CSV.
std::string merged_csv(const std::string& study, const std::vector<std::string>& ranges, const temp_dir& dir,
                       const std::string& threads)
{
  std::string parts;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const auto part = dir / ("part" + std::to_string(i) + ".json");
    const auto r = run_shrink(study + " --threads " + threads + " --replicate-range " + ranges[i] + " --partial-out " +
                                quoted(part), dir);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "");
    parts = quoted(part) + " " + parts;
  }
  const auto r = run_shrink("simulate -q --merge-partials " + parts + "-o " + quoted(dir / "merged.csv"), dir);
  EXPECT_EQ(r.status, 0) << r.err;
  return read_file(dir / "merged.csv");
}

TEST(SimulateBlocksCli, MergedPartsWriteTheSingleRunsCsv)
{
  temp_dir dir;
  const std::pair<std::string, int> studies[] = {{normal, 300}, {binomial, 130}, {normal + " --mode raw --prior t:4", 300}};
  for (const auto& [study, R] : studies) {
    const auto single = run_shrink(study + " --threads 1", dir);
    ASSERT_EQ(single.status, 0) << single.err;
    const int last = (R - 1) / 64 * 64;  // the uneven last block
    const auto range = [](int first, int count) { return std::to_string(first) + ":" + std::to_string(count); };
    std::vector<std::string> small;
    for (int f = 0; f < R; f += 64) small.push_back(range(f, std::min(64, R - f)));
    for (const std::vector<std::string>& ranges :
         {std::vector<std::string>{range(0, R)}, {range(0, 64), range(64, R - 64)},
          {range(0, 64), range(64, last - 64), range(last, R - last)}, small})
      for (const char* threads : {"1", "2"})
        EXPECT_EQ(merged_csv(study, ranges, dir, threads), single.out) << study << ", " << ranges.size() << " parts";
  }
}

TEST(SimulateBlocksCli, TreeOfMergesJsonAndFigures)
{
  temp_dir dir;
  const std::string study = normal_base + " --groups 30 --seed 5";
  const auto single = run_shrink(study + " --json " + quoted(dir / "single.json"), dir);
  ASSERT_EQ(single.status, 0) << single.err;
  const std::pair<const char*, const char*> parts[] = {{"0:128", "a.json"}, {"128:64", "b.json"}, {"192:108", "c.json"}};
  for (const auto& [range, name] : parts)
    ASSERT_EQ(run_shrink(study + " --replicate-range " + range + " --partial-out " + quoted(dir / name), dir).status, 0);
  // Two parts merged into a partial, then merged with the third: the same study.
  auto r = run_shrink("simulate --merge-partials " + quoted(dir / "c.json") + " " + quoted(dir / "b.json") +
                        " --partial-out " + quoted(dir / "bc.json"), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_shrink("simulate -q --merge-partials " + quoted(dir / "a.json") + " " + quoted(dir / "bc.json") + " --json " +
                   quoted(dir / "merged.json") + " --plot " + quoted(dir / "merged.svg"), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, single.out);
  auto a = nlohmann::json::parse(read_file(dir / "single.json")), b = nlohmann::json::parse(read_file(dir / "merged.json"));
  for (const char* timing : {"seconds", "backend_seconds", "group_replicates_per_second"}) {
    a.erase(timing);
    b.erase(timing);
  }
  EXPECT_EQ(a, b);
  // The figure of replicate 0 is the single run's.
  const auto figure = run_shrink(study + " -o /dev/null --plot " + quoted(dir / "single.svg"), dir);
  ASSERT_EQ(figure.status, 0) << figure.err;
  EXPECT_EQ(read_file(dir / "merged.svg"), read_file(dir / "single.svg"));
}

TEST(SimulateBlocksCli, MisuseIsOneLine)
{
  temp_dir dir;
  const auto part = [&](const std::string& extra, const std::string& range, const std::string& name) {
    return run_shrink(normal + extra + " --replicate-range " + range + " --partial-out " + quoted(dir / name), dir);
  };
  ASSERT_EQ(part("", "0:64", "a.json").status, 0);
  ASSERT_EQ(part("", "128:172", "c.json").status, 0);
  ASSERT_EQ(run_shrink(normal_base + " --groups 6,30 --seed 6 --replicate-range 64:236 --partial-out " +
                         quoted(dir / "s.json"), dir).status, 0);
  expect_error(part("", "10:64", "x.json"), "FIRST must be a multiple of 64");
  expect_error(part("", "0:100", "x.json"), "COUNT must be a multiple of 64 unless");
  expect_error(part("", "0:400", "x.json"), "FIRST + COUNT <= the study's 300 replicates");
  expect_error(part("", "64", "x.json"), "--replicate-range: give FIRST:COUNT");
  expect_error(part("", "-64:64", "x.json"), "--replicate-range FIRST");
  expect_error(run_shrink(normal + " --replicate-range 0:64", dir), "--replicate-range needs --partial-out");
  expect_error(run_shrink(normal + " --partial-out x.json --json y.json", dir), "--json: --partial-out writes");
  const std::string merge = "simulate --merge-partials " + quoted(dir / "a.json") + " ";
  expect_error(run_shrink(merge + quoted(dir / "c.json"), dir), "leave a gap: replicates 64 to 127 are missing");
  expect_error(run_shrink(merge + quoted(dir / "a.json"), dir), "overlap");
  expect_error(run_shrink(merge + quoted(dir / "s.json"), dir), "'seed' differs (5 and 6)");
  expect_error(run_shrink(merge + "--tau 1", dir), "--tau: the study's options come from the partials");
  expect_error(run_shrink(merge + quoted(dir / "missing.json"), dir), "cannot read");
  shrink::test::write_file(dir / "bad.json", read_file(dir / "c.json").substr(0, 100));
  expect_error(run_shrink(merge + quoted(dir / "bad.json"), dir), "bad.json: not a partial study of shrink simulate");
  expect_error(run_shrink("simulate --merge-partials " + quoted(dir / "a.json") + " -o " + quoted(dir / "o.csv"), dir),
               "covers replicates 0:64 of 300: merge the other ranges first");
}

}  // namespace
