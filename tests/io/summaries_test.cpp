// Mergeable group summaries (src/io/summaries.hpp): merged parts against hand-computed moments and
// exact decimals, the raw reader's key order, the CSV round trip, and bad input.

#include "io/output.hpp"
#include "io/summaries.hpp"
#include "test_support.hpp"

#include <shrink/error.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace shrink::test {
namespace {

io::group_table read_part(const temp_dir& dir, const std::string& name, const std::string& rows)
{
  write_file(dir / name, "group,y\n" + rows);
  return io::read_groups((dir / name).string(), {"group", "y"}, 2);
}

/// The raw rows of each part (CSV rows without the header) read and merged in order.
io::group_table merge_rows(const temp_dir& dir, const std::vector<std::string>& parts, int threads = 2)
{
  std::vector<io::group_table> tables;
  for (std::size_t p = 0; p < parts.size(); ++p) tables.push_back(read_part(dir, "part" + std::to_string(p) + ".csv", parts[p]));
  return io::merge_group_tables(std::move(tables), threads);
}

/// The part written by write_summaries, as text.
std::string summaries_text(const temp_dir& dir, const io::summary_part& s)
{
  {
    io::atomic_output out((dir / "s.csv").string());
    io::write_summaries(out, s, 2);
    out.commit();
  }
  return read_file(dir / "s.csv");
}

/// Expects `what` to throw shrink::error with `expected` in its one-line message.
template <class F>
void expect_error_of(F&& what, const std::string& expected)
{
  try {
    what();
    ADD_FAILURE() << "no error; expected: " << expected;
  } catch (const error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(Summaries, MergedPartsGiveTheHandComputedMoments)
{
  temp_dir dir;
  // Group 1: 1,2,3 | 4,5 (n 5, mean 3, m2 = 4+1+0+1+4 = 10); group 2 in the second part only
  // (7, 9: mean 8, m2 2); group 3 one row in each part (10 | 20: mean 15, m2 50).
  const io::group_table t = merge_rows(dir, {"1,1\n1,2\n3,10\n1,3\n", "1,4\n2,7\n3,20\n2,9\n1,5\n"});
  ASSERT_EQ(t.keys, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(t.n, (std::vector<std::int64_t>{5, 2, 2}));
  EXPECT_EQ(t.exact_mean, (std::vector<double>{3, 8, 15}));
  EXPECT_EQ(t.m2, (std::vector<double>{10, 2, 50}));
  EXPECT_EQ(t.rows, 9u);
  for (std::size_t j = 0; j < 3; ++j) EXPECT_EQ(t.mean[j] + t.offset, t.exact_mean[j]);
}

TEST(Summaries, HugeOffsetKeepsTheDecimals)
{
  // Group 7: 1e12 + 0.1 | 1e12 + 0.4 | 1e12 + 0.2, 1e12 + 0.3 (three parts, one a single row):
  // mean 1e12 + 0.25, m2 = 2 (0.15^2 + 0.05^2) = 0.05; group 8: 1e12 + 0.1 | 1e12 + 0.2: mean
  // 1e12 + 0.15, m2 = 0.005; group 9: 1e12 (hand computations). A double cannot hold the rows
  // (spacing 1.2e-4 near 1e12): plain doubles get m2 wrong by ~1e-4. The offset is 1e12 (the
  // smallest mean in the median's binade), so the fit sees 0.25 and 0.15 to the last bit.
  temp_dir dir;
  const io::group_table t = merge_rows(dir,
                                       {"7,1000000000000.1\n8,1000000000000.1\n9,1000000000000\n", "7,1000000000000.4\n",
                                        "8,1000000000000.2\n7,1000000000000.2\n7,1000000000000.3\n"},
                                       1);
  ASSERT_EQ(t.keys, (std::vector<std::string>{"7", "8", "9"}));
  EXPECT_EQ(t.offset, 1e12);
  EXPECT_EQ(t.mean[0], 0.25);
  EXPECT_NEAR(t.mean[1], 0.15, 0.15 * 1e-15);
  EXPECT_EQ(t.mean[2], 0.0);
  EXPECT_EQ(t.exact_mean[0], 1000000000000.25);
  EXPECT_EQ(t.exact_mean[1], 1000000000000.15);  // the nearest double
  EXPECT_NEAR(t.m2[0], 0.05, 0.05 * 1e-14);
  EXPECT_NEAR(t.m2[1], 0.005, 0.005 * 1e-14);
  EXPECT_EQ(t.m2[2], 0.0);

  // Written and read back, the decimals survive (mean_lo holds what the double drops).
  temp_dir out;
  io::summary_part s;
  s.groups = t;
  const std::string text = summaries_text(out, s);
  const io::summary_part back = io::read_summaries((out / "s.csv").string());
  ASSERT_EQ(back.family, io::summary_family::normal);
  EXPECT_EQ(back.groups.keys, t.keys);
  EXPECT_EQ(back.groups.n, t.n);
  EXPECT_EQ(back.groups.exact_mean, t.exact_mean);
  EXPECT_EQ(back.groups.mean, t.mean);
  EXPECT_EQ(back.groups.m2, t.m2);
  EXPECT_EQ(back.groups.offset, t.offset);
  EXPECT_EQ(text.substr(0, text.find('\n')), "group,n,mean,mean_lo,m2");
}

TEST(Summaries, KeysMatchAsTheRawReaderMatchesThem)
{
  temp_dir dir;
  // Integer keys in one part, text ("b", and "02", which is not the integer 2) in the other: the
  // whole becomes text keys in byte order, exactly as the raw reader orders the concatenation.
  const io::group_table t = merge_rows(dir, {"10,1\n2,2\n1,3\n", "b,4\n02,5\n2,6\n"});
  const std::vector<std::string> order{"02", "1", "10", "2", "b"};
  EXPECT_EQ(t.keys, order);
  EXPECT_EQ(t.n, (std::vector<std::int64_t>{1, 1, 1, 2, 1}));
  EXPECT_EQ(t.exact_mean[3], 4);  // "2": rows 2 and 6
  EXPECT_EQ(read_part(dir, "whole.csv", "10,1\n2,2\n1,3\nb,4\n02,5\n2,6\n").keys, order);
  // All canonical integers: numeric order (-3 < 2 < 10), also across parts.
  EXPECT_EQ(merge_rows(dir, {"10,1\n", "-3,1\n2,1\n"}).keys, (std::vector<std::string>{"-3", "2", "10"}));
}

TEST(Summaries, CountPartsAddUp)
{
  temp_dir dir;
  write_file(dir / "a.csv", "group,trials,successes\n1,10,3\n2,5,5\n");
  write_file(dir / "b.csv", "group,trials,successes\n2,7,0\n3,1,1\n");
  write_file(dir / "e.csv", "group,trials,successes\n");  // an empty part
  std::vector<io::summary_part> parts;
  for (const char* name : {"a.csv", "e.csv", "b.csv"}) parts.push_back(io::read_summaries((dir / name).string()));
  const io::summary_part m = io::merge_summaries(std::move(parts));
  ASSERT_EQ(m.family, io::summary_family::binomial);
  EXPECT_EQ(m.counts.keys, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(m.counts.sizes, (std::vector<double>{10, 12, 1}));
  EXPECT_EQ(m.counts.counts, (std::vector<double>{3, 5, 1}));
  EXPECT_EQ(summaries_text(dir, m), "group,trials,successes\n1,10,3\n2,12,5\n3,1,1\n");

  write_file(dir / "p.csv", "group,exposure,count\nx,0.5,2\ny,2,0\n");
  write_file(dir / "q.csv", "group,exposure,count\nx,1.25,4\n");
  std::vector<io::summary_part> poisson;
  for (const char* name : {"p.csv", "q.csv"}) poisson.push_back(io::read_summaries((dir / name).string()));
  const io::summary_part pm = io::merge_summaries(std::move(poisson));
  ASSERT_EQ(pm.family, io::summary_family::poisson);
  EXPECT_EQ(pm.counts.sizes, (std::vector<double>{1.75, 2}));
  EXPECT_EQ(pm.counts.counts, (std::vector<double>{6, 0}));
}

TEST(Summaries, RawRowsOfTheCountFamilies)
{
  // Hand sums: binomial 0/1 rows per trial; poisson counts, one unit of exposure a row or a column.
  temp_dir dir;
  write_file(dir / "b.csv", "group,y\n1,1\n2,1\n1,0\n1,1\n");
  io::raw_input in;
  in.path = (dir / "b.csv").string();
  const io::summary_part b = io::read_raw_summaries(in, io::summary_family::binomial, 2);
  EXPECT_EQ(b.counts.keys, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(b.counts.counts, (std::vector<double>{2, 1}));
  EXPECT_EQ(b.counts.sizes, (std::vector<double>{3, 1}));
  write_file(dir / "p.csv", "group,y,e\n1,2,0.5\n1,3,0.25\n2,0,2\n");
  in.path = (dir / "p.csv").string();
  const io::summary_part p = io::read_raw_summaries(in, io::summary_family::poisson, 2);
  EXPECT_EQ(p.counts.counts, (std::vector<double>{5, 0}));
  EXPECT_EQ(p.counts.sizes, (std::vector<double>{2, 1}));
  in.exposure = "e";
  const io::summary_part pe = io::read_raw_summaries(in, io::summary_family::poisson, 2);
  EXPECT_EQ(pe.counts.counts, (std::vector<double>{5, 0}));
  EXPECT_EQ(pe.counts.sizes, (std::vector<double>{0.75, 2}));
  // A header alone: an empty part where asked for, else the reader's error.
  write_file(dir / "e.csv", "group,y,e\n");
  in.path = (dir / "e.csv").string();
  expect_error_of([&] { io::read_raw_summaries(in, io::summary_family::poisson, 1); }, "no data rows");
  in.allow_empty = true;
  EXPECT_TRUE(io::read_raw_summaries(in, io::summary_family::poisson, 1).counts.keys.empty());
  in.exposure.clear();
  EXPECT_TRUE(io::read_raw_summaries(in, io::summary_family::normal, 1).groups.keys.empty());
}

TEST(Summaries, ReadBackGivesTheSameDoubles)
{
  temp_dir dir;
  // Values whose means and m2 need all 17 digits.
  io::summary_part s;
  s.groups = read_part(dir, "a.csv", "1,0.1\n1,0.7\n2,3.3333333333333335\n2,1e-7\n3,123456.789\n\"a, b\",2\n");
  const std::string text = summaries_text(dir, s);
  const io::summary_part back = io::read_summaries((dir / "s.csv").string());
  EXPECT_EQ(back.groups.keys, s.groups.keys);
  EXPECT_EQ(back.groups.n, s.groups.n);
  EXPECT_EQ(back.groups.exact_mean, s.groups.exact_mean);
  EXPECT_EQ(back.groups.m2, s.groups.m2);
  EXPECT_EQ(back.groups.offset, s.groups.offset);
  // The offset-relative means to their last bit: a mean far from the offset (0.4 against an
  // offset of 1.67) may round once more.
  for (std::size_t j = 0; j < s.groups.mean.size(); ++j)
    EXPECT_LE(std::abs(back.groups.mean[j] - s.groups.mean[j]), std::abs(s.groups.mean[j]) * 2.3e-16) << j;
  EXPECT_NE(text.find("\"a, b\",1,2,0,0\n"), std::string::npos) << text;  // quoted key, hand-computed row
  // Without mean_lo (another engine's summaries): the mean as written.
  write_file(dir / "plain.csv", "group,n,mean,m2\n1,2,0.4,0.18\n");
  const io::summary_part plain = io::read_summaries((dir / "plain.csv").string());
  EXPECT_EQ(plain.groups.exact_mean, (std::vector<double>{0.4}));
  EXPECT_EQ(plain.groups.m2, (std::vector<double>{0.18}));
}

TEST(Summaries, BadInputIsAOneLineError)
{
  temp_dir dir;
  // Each file's text and what its one-line error says.
  const std::vector<std::pair<std::string, std::string>> cases{
    {"group,n,mean\n1,2,3\n", "no data column 'm2'"},
    {"group,y\n1,2\n", "no data column"},
    {"group,n,mean,m2\n1,2,3,1\n1,2,3,1\n", "bad.csv': group '1' appears twice"},
    {"group,n,mean,m2\n1,0,3,0\n", "n must be a whole number >= 1"},
    {"group,n,mean,m2\n1,2.5,3,0\n", "n must be a whole number >= 1"},
    {"group,n,mean,m2\n1,2,3,-1e-300\n", "m2 (the sum of squared deviations) must be finite and >= 0"},
    {"group,n,mean,m2\n1,2,3,nan\n", "column 'm2': 'nan'"},
    {"group,n,mean,m2\n1,1,3,0.5\n", "m2 must be 0 for a group of one row"},
    {"group,n,mean,m2\n1,2,,0\n", "column 'mean': '' is empty"},
    {"group,trials,successes\n1,3,4\n", "more successes than trials"},
    {"group,trials,successes\n1,3.5,1\n", "trials must be a whole number > 0"},
    {"group,exposure,count\n1,0,1\n", "exposure must be > 0"},
    {"group,exposure,count\n1,1,-1\n", "count must be a whole number >= 0"},
  };
  for (const auto& [text, expected] : cases) {
    write_file(dir / "bad.csv", text);
    expect_error_of([&] { io::read_summaries((dir / "bad.csv").string()); }, expected);
  }
  expect_error_of([&] { io::read_summaries((dir / "missing.csv").string()); }, "missing.csv");
  expect_error_of([] { io::merge_summaries({}); }, "no summaries to merge");
  write_file(dir / "n.csv", "group,n,mean,m2\n1,2,3,1\n");
  write_file(dir / "b.csv", "group,trials,successes\n1,3,1\n");
  expect_error_of(
    [&] {
      std::vector<io::summary_part> parts;
      parts.push_back(io::read_summaries((dir / "n.csv").string()));
      parts.push_back(io::read_summaries((dir / "b.csv").string()));
      io::merge_summaries(std::move(parts));
    },
    "the summaries mix families: part 1 is normal, part 2 binomial");
  write_file(dir / "h.csv", "group,n,mean,m2\n");
  expect_error_of(
    [&] {
      std::vector<io::summary_part> parts;
      parts.push_back(io::read_summaries((dir / "h.csv").string()));
      io::merge_summaries(std::move(parts));
    },
    "no groups: every part of the summaries is empty");
  // A table handed over by a binding with a key twice.
  io::group_table twice = read_part(dir, "a.csv", "1,1\n2,2\n");
  twice.keys = io::group_keys(std::vector<std::int64_t>{1, 1});
  std::vector<io::group_table> parts;
  parts.push_back(twice);
  expect_error_of([&] { io::merge_group_tables(std::move(parts)); }, "group '1' appears twice");
}

}  // namespace
}  // namespace shrink::test
