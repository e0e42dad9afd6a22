// The CSV reader's fast path (unquoted `key,value` rows parsed straight into the final arrays)
// must give exactly what the general scanner gives: the same ids, keys and value bits, and the
// same errors. A quote anywhere in the data sends a file down the general path, so each case is
// read twice, once as is and once with one key quoted.

#include "io/table_reader.hpp"

#include <shrink/error.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <fcntl.h>
#include <unistd.h>

namespace {

using shrink::io::group_table;
using shrink::io::read_groups;

std::string temp_path(const std::string& name)
{
  return "/tmp/shrink_reader_test_" + std::to_string(::getpid()) + "_" + name;
}

std::string write(const std::string& name, const std::string& text)
{
  const std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

/// Same groups, keys and bits: the fast path and the general scanner must not differ at all.
void expect_same(const group_table& a, const group_table& b)
{
  ASSERT_EQ(a.n.size(), b.n.size());
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_EQ(a.n, b.n);
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(std::memcmp(&a.offset, &b.offset, sizeof(double)), 0);
  for (const auto column : {&group_table::mean, &group_table::m2, &group_table::exact_mean})
    for (std::size_t j = 0; j < a.n.size(); ++j)
      ASSERT_EQ(std::memcmp(&(a.*column)[j], &(b.*column)[j], sizeof(double)), 0)
        << "group " << j << ": " << (a.*column)[j] << " vs " << (b.*column)[j];
}

/// Reads `body` (after a group,y header) as is and with its first key quoted; both must agree,
/// for 1, 2 and 3 threads.
group_table read_both_ways(const std::string& name, const std::string& body, const std::string& eol = "\n")
{
  const std::string plain = write(name + ".csv", "group,y" + eol + body);
  const std::size_t comma = body.find(',');
  const std::string quoted_body = "\"" + body.substr(0, comma) + "\"" + body.substr(comma);
  const std::string quoted = write(name + "_q.csv", "group,y" + eol + quoted_body);
  const group_table general = read_groups(quoted, {}, 2);
  group_table fast;
  for (int threads : {1, 2, 3}) {
    fast = read_groups(plain, {}, threads);
    expect_same(fast, general);
  }
  std::remove(plain.c_str());
  std::remove(quoted.c_str());
  return fast;
}

std::string random_rows(std::size_t rows, unsigned seed, const std::string& eol, std::int64_t key_scale)
{
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(3, 10);
  std::string body;
  char buf[64];
  for (std::size_t i = 0; i < rows; ++i) {
    const std::int64_t key = static_cast<std::int64_t>(rng() % 5000) * key_scale - 7 * key_scale;
    const double y = normal(rng);
    switch (rng() % 8) {
      case 0: std::snprintf(buf, sizeof buf, "%.17g", y); break;
      case 1: std::snprintf(buf, sizeof buf, "%.3e", y); break;     // exponent: the full parser
      case 2: std::snprintf(buf, sizeof buf, "%+.2f", y); break;    // explicit sign
      case 3: std::snprintf(buf, sizeof buf, "%.0f", y); break;     // integer
      case 4: std::snprintf(buf, sizeof buf, "%.25f", y); break;    // > 19 digits
      default: std::snprintf(buf, sizeof buf, "%.16g", y); break;
    }
    body += std::to_string(key) + "," + buf + eol;
    if (rng() % 1000 == 0) body += eol;  // blank line
  }
  return body;
}

TEST(Reader, FastPathMatchesGeneralScanner)
{
  // Over 1 MiB, so the input is cut into chunks parsed in parallel.
  const group_table t = read_both_ways("random", random_rows(120000, 1, "\n", 1));
  EXPECT_EQ(t.rows, 120000u);
  EXPECT_EQ(t.keys[0], "-7");
  read_both_ways("crlf", random_rows(60000, 2, "\r\n", 1), "\r\n");
  read_both_ways("sparse", random_rows(60000, 3, "\n", 100000), "\n");  // sparse keys: sorted ids
  read_both_ways("small", "3,1.5\n-2,0.25\n\n10,-7\n3,1e3\n  \n-2,.5");  // no final line end
  read_both_ways("reference_big", "1,1000000000000.4\n2,1000000000000.3\n1,1000000000000.5\n2,999999999999.9\n");
}

TEST(Reader, UnusualRowsGoToTheGeneralPath)
{
  read_both_ways("spaces", "1, 2.5\n2 ,3\n 1,4 \n2,5\r\n");
  read_both_ways("wide_keys", "1,2\n12345678901,3\n1,4\n12345678901,5\n1234567890123456789,6\n");
  read_both_ways("zero_key", "0,1\n-1,2\n0,3\n");
  const group_table text = read_both_ways("text_keys", "1,2\n01,3\nb,4\n1,5\n");
  EXPECT_EQ(text.keys, (std::vector<std::string>{"01", "1", "b"}));
}

TEST(Reader, ErrorsNameTheLine)
{
  std::string body = random_rows(80000, 4, "\n", 1);
  std::size_t line = 2;  // first data line
  std::size_t pos = 0;
  for (std::size_t i = 0; i < 70000; ++i) pos = body.find('\n', pos) + 1, ++line;
  for (const char* bad : {"7,abc\n", "7,1,2\n", ",5\n", "7,\n", "7,nan\n"}) {
    const std::string path = write("bad.csv", "group,y\n" + body.substr(0, pos) + bad + body.substr(pos));
    try {
      read_groups(path, {}, 2);
      ADD_FAILURE() << "no error for " << bad;
    } catch (const shrink::error& e) {
      EXPECT_NE(std::string(e.what()).find("line " + std::to_string(line) + ":"), std::string::npos) << e.what();
    }
    std::remove(path.c_str());
  }
}

}  // namespace

namespace {

// Over one 32 MiB block: rows on both sides of every block boundary are folded once each, and
// stdin (a pipe-like stream) reads the same bits as the file.
TEST(Reader, StreamsBlocksWithoutLosingOrRepeatingRows)
{
  constexpr int groups = 997;
  std::vector<std::int64_t> count(groups, 0), sum(groups, 0);  // values in thousandths: exact
  std::string text = "group,y\n";
  std::mt19937_64 rng(5);
  while (text.size() < (std::size_t{40} << 20)) {
    const int g = static_cast<int>(rng() % groups);
    const std::int64_t milli = static_cast<std::int64_t>(rng() % 2000000) - 1000000 + 1000000000LL * g;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%d,%s%lld.%03lld\n", g + 1, milli < 0 ? "-" : "", static_cast<long long>(std::llabs(milli) / 1000),
                  static_cast<long long>(std::llabs(milli) % 1000));
    text += buf;
    ++count[static_cast<std::size_t>(g)];
    sum[static_cast<std::size_t>(g)] += milli;
  }
  const std::string path = write("blocks.csv", text);
  const group_table t = read_groups(path, {}, 2);
  ASSERT_EQ(t.n.size(), static_cast<std::size_t>(groups));
  for (int g = 0; g < groups; ++g) {
    const auto j = static_cast<std::size_t>(g);
    ASSERT_EQ(t.n[j], count[j]) << g;
    const long double exact = static_cast<long double>(sum[j]) / 1000 / static_cast<long double>(count[j]);
    // Welford's running mean: rounding error up to about n eps times the spread (1000 here).
    EXPECT_NEAR(t.exact_mean[j], static_cast<double>(exact), 4.0 * static_cast<double>(count[j]) * 1.1e-16 * 1000) << g;
  }
  const int file = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(file, 0);
  const int saved = ::dup(STDIN_FILENO);
  ::dup2(file, STDIN_FILENO);
  const group_table from_stdin = read_groups("-", {}, 1);
  ::dup2(saved, STDIN_FILENO);
  ::close(saved);
  ::close(file);
  expect_same(from_stdin, t);
  std::remove(path.c_str());
}

}  // namespace
