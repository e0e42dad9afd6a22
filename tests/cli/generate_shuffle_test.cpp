// `shrink generate --shuffle`: the unshuffled file's rows (the truth: its bytes, sorted), in an
// order fixed by --seed, the true means unchanged, the .npy columns in the CSV's order, and files
// larger than one chunk of the permutation's passes.

#include "io/npy.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using shrink::test::quoted;
using shrink::test::read_file;
using shrink::test::run_shrink;
using shrink::test::temp_dir;

/// The lines after the header, sorted.
std::vector<std::string> sorted_rows(const std::string& csv)
{
  std::vector<std::string> rows;
  std::size_t at = csv.find('\n') + 1;
  while (at < csv.size()) {
    const std::size_t end = csv.find('\n', at);
    rows.push_back(csv.substr(at, end - at));
    at = end + 1;
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

/// How many rows have the same group as the row before: n - J for a grouped file; in a random
/// order sum_j n_j (n_j - 1) / (n - 1) on average.
std::size_t same_group_neighbours(const std::string& csv)
{
  std::size_t same = 0;
  std::string_view previous;
  for (std::size_t at = csv.find('\n') + 1; at < csv.size(); at = csv.find('\n', at) + 1) {
    const std::string_view key(csv.data() + at, csv.find(',', at) - at);
    same += key == previous;
    previous = key;
  }
  return same;
}

shrink::test::run_result generate(const std::string& args, const temp_dir& d) { return run_shrink("generate " + args, d); }

TEST(GenerateShuffle, SameRowsInASeededOrder)
{
  temp_dir d;
  const std::string design = "--groups 2000 --obs 1:9 --mu 3 --tau 2 --sigma 0.5 --seed 5";
  ASSERT_EQ(generate(design + " -o " + quoted(d / "g.csv") + " --truth " + quoted(d / "gt.csv"), d).status, 0);
  const auto s = generate(design + " --shuffle -o " + quoted(d / "s.csv") + " --truth " + quoted(d / "st.csv"), d);
  ASSERT_EQ(s.status, 0) << s.err;
  const std::string grouped = read_file(d / "g.csv"), shuffled = read_file(d / "s.csv");
  ASSERT_EQ(shuffled.substr(0, 8), "group,y\n");
  EXPECT_EQ(sorted_rows(shuffled), sorted_rows(grouped));
  EXPECT_EQ(read_file(d / "st.csv"), read_file(d / "gt.csv"));  // the true means keep group order
  // Grouped: n - J = ~8,000 equal neighbours; random order: 5.3 expected.
  EXPECT_GT(same_group_neighbours(grouped), 7000u);
  EXPECT_LT(same_group_neighbours(shuffled), 30u);
  // The order depends on the seed alone: the same seed, the same bytes.
  EXPECT_EQ(generate(design + " --shuffle", d).out, shuffled);
  const auto other = generate("--groups 2000 --obs 1:9 --mu 3 --tau 2 --sigma 0.5 --seed 6 --shuffle", d);
  EXPECT_NE(other.out, shuffled);
}

TEST(GenerateShuffle, NpyColumnsHoldTheCsvRowsInItsOrder)
{
  temp_dir d;
  const auto r = generate("--groups 50 --obs 1:4 --seed 9 --shuffle -o " + quoted(d / "s.csv") + " --group-npy " + quoted(d / "g.npy") +
                            " --value-npy " + quoted(d / "v.npy"),
                          d);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto rows = shrink::test::parse_csv(read_file(d / "s.csv"));
  const shrink::io::npy_column ids((d / "g.npy").string()), values((d / "v.npy").string());
  ASSERT_EQ(rows.size(), ids.size() + 1);
  ASSERT_EQ(values.size(), ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(std::stoi(rows[i + 1][0]), static_cast<const std::int32_t*>(ids.data())[i]) << i;
    EXPECT_EQ(std::stod(rows[i + 1][1]), static_cast<const double*>(values.data())[i]) << i;
  }
}

TEST(GenerateShuffle, RowsBeyondOneChunk)
{
  // 2,250,000 rows: two chunks of the shuffle's 2^21 output rows, the second partial.
  temp_dir d;
  const std::string design = "--groups 250000 --obs 9 --seed 2";
  ASSERT_EQ(generate(design + " -o " + quoted(d / "g.csv"), d).status, 0);
  ASSERT_EQ(generate(design + " --shuffle -o " + quoted(d / "s.csv"), d).status, 0);
  const std::string shuffled = read_file(d / "s.csv");
  EXPECT_EQ(sorted_rows(shuffled), sorted_rows(read_file(d / "g.csv")));
  EXPECT_LT(same_group_neighbours(shuffled), 100u);  // 8 expected
}

}  // namespace
