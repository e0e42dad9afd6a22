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
#include <unistd.h>

namespace {

using shrink::io::raw_table;
using shrink::io::read_raw_table;

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

void expect_same(const raw_table& a, const raw_table& b)
{
  ASSERT_EQ(a.values.size(), b.values.size());
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_EQ(a.group_ids, b.group_ids);
  EXPECT_EQ(std::memcmp(&a.offset, &b.offset, sizeof(double)), 0);
  for (std::size_t i = 0; i < a.values.size(); ++i)
    ASSERT_EQ(std::memcmp(&a.values[i], &b.values[i], sizeof(double)), 0) << "row " << i << ": " << a.values[i]
                                                                           << " vs " << b.values[i];
}

/// Reads `body` (after a group,y header) as is and with its first key quoted; both must agree,
/// for 1, 2 and 3 threads.
raw_table read_both_ways(const std::string& name, const std::string& body, const std::string& eol = "\n")
{
  const std::string plain = write(name + ".csv", "group,y" + eol + body);
  const std::size_t comma = body.find(',');
  const std::string quoted_body = "\"" + body.substr(0, comma) + "\"" + body.substr(comma);
  const std::string quoted = write(name + "_q.csv", "group,y" + eol + quoted_body);
  const raw_table general = read_raw_table(quoted, {}, 2);
  raw_table fast;
  for (int threads : {1, 2, 3}) {
    fast = read_raw_table(plain, {}, threads);
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
  const raw_table t = read_both_ways("random", random_rows(120000, 1, "\n", 1));
  EXPECT_EQ(t.values.size(), 120000u);
  EXPECT_EQ(t.keys.front(), "-7");
  read_both_ways("crlf", random_rows(60000, 2, "\r\n", 1), "\r\n");
  read_both_ways("sparse", random_rows(60000, 3, "\n", 100000), "\n");  // sparse keys: sorted ids
  read_both_ways("small", "3,1.5\n-2,0.25\n\n10,-7\n3,1e3\n  \n-2,.5");  // no final line end
  read_both_ways("reference_big", "1,1000000000000.4\n2,1000000000000.3\n1,1000000000000.5\n2,999999999999.9\n");
}

TEST(Reader, UnusualRowsGoToTheGeneralPath)
{
  read_both_ways("spaces", "1, 2.5\n2 ,3\n 1,4 \n2,5\r\n");
  read_both_ways("wide_keys", "1,2\n12345678901,3\n1,4\n12345678901,5\n");
  read_both_ways("zero_key", "0,1\n-1,2\n0,3\n");
  const raw_table text = read_both_ways("text_keys", "1,2\n01,3\nb,4\n1,5\n");
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
      read_raw_table(path, {}, 2);
      ADD_FAILURE() << "no error for " << bad;
    } catch (const shrink::error& e) {
      EXPECT_NE(std::string(e.what()).find("line " + std::to_string(line) + ":"), std::string::npos) << e.what();
    }
    std::remove(path.c_str());
  }
}

}  // namespace
