// Keyed rows (raw rows with covariates, poisson rows with exposures) take the SIMD fast path where
// a row is plain and the general scanner elsewhere. Truth: every key is the field's text with the
// spaces around it removed and every number is std::strtod of the field (the nearest double; within
// one unit in the last place for the texts of 20 and more significant digits, which the reader
// holds to about 32 digits as hi + lo, README "Precision"), in file order, whichever path read it:
// texts in every form the reader accepts (signs, exponents, up to 19 and beyond 19 significant
// digits, spaces, CRLF, blank lines, quoted fields), over several 1 MiB pieces, for any thread count.
// Poisson rows with exposures: errors name their line past the first piece, the sums match a hand
// count, and stdin gives the same table as the file.

#include "io/cross_product_fold.hpp"
#include "io/csv_scan.hpp"
#include "io/decimal.hpp"
#include "io/table_reader.hpp"
#include "test_support.hpp"

#include <shrink/error.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace shrink {
namespace {

struct expected_row {
  std::string key;
  std::vector<double> numbers;
  std::vector<bool> long_text;  // more than 19 significant digits
};

std::string trimmed(const std::string& s)
{
  const std::size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// The text of a number in one of several forms, and its value by strtod.
std::string number_text(unsigned r, unsigned i)
{
  const double x = (static_cast<double>(r % 2000003) - 1000000.0) / 997.0 * (i + 1);
  char buf[64];
  switch (r % 11) {
    case 0: std::snprintf(buf, sizeof buf, "%.17g", x); break;
    case 1: std::snprintf(buf, sizeof buf, "%.3f", x); break;
    case 2: std::snprintf(buf, sizeof buf, "%.6e", x); break;           // an exponent
    case 3: std::snprintf(buf, sizeof buf, " %.10g ", x); break;        // spaces around
    case 4: std::snprintf(buf, sizeof buf, "+%u", r % 1000); break;     // a plus sign
    case 5: std::snprintf(buf, sizeof buf, "0.%019u", r); break;        // 19 digits, a leading zero
    case 6: std::snprintf(buf, sizeof buf, "%u.%09u%09u", r % 97, r, r / 3); break;  // more than 19 digits
    case 7: std::snprintf(buf, sizeof buf, "-%u", r % 100000); break;
    case 8: std::snprintf(buf, sizeof buf, "%.1f", x / 1e6); break;     // -0.0 among them
    case 9: std::snprintf(buf, sizeof buf, "%u", r); break;
    default: std::snprintf(buf, sizeof buf, "%.12g", x * 1e-9); break;  // small: exponents
  }
  return buf;
}

// About 2.5 MB of `key,y,a,b` rows (several 1 MiB pieces); `quote_at`: that row's key is quoted.
std::string make_rows(std::vector<expected_row>& truth, std::size_t quote_at = std::size_t(-1))
{
  std::string text = "key,y,a,b\r\n";
  unsigned state = 2026;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  for (std::size_t row = 0; row < 60000; ++row) {
    const unsigned r = next();
    std::string key = (r % 13 == 0) ? "k" + std::to_string(r % 500) : std::to_string(r % 4000);
    std::string field = r % 29 == 0 ? " " + key + "\t" : key;  // spaces or a tab around the key
    if (row == quote_at) field = "\"" + key + "\"";
    expected_row e{key, {}, {}};
    std::string line = field;
    for (unsigned c = 0; c < 3; ++c) {
      const std::string t = number_text(next(), c);
      e.numbers.push_back(std::strtod(trimmed(t).c_str(), nullptr));
      e.long_text.push_back(t.size() > 20 && t.find('e') == std::string::npos && t.find(' ') == std::string::npos);
      line += "," + t;
    }
    text += line + (r % 7 == 0 ? "\r\n" : "\n");
    if (r % 101 == 0) text += "\n";  // a blank line
    truth.push_back(e);
  }
  return text;
}

std::vector<expected_row> visit(const std::string& path, int threads)
{
  std::vector<expected_row> rows;
  io::visit_keyed_rows(path, {"key", "y", "a", "b"}, threads, [&](const std::vector<io::keyed_rows>& pieces) {
    for (const io::keyed_rows& p : pieces)
      for (std::size_t i = 0; i < p.keys.size(); ++i)
        rows.push_back({std::string(p.keys[i]), {p.numbers.begin() + 3 * i, p.numbers.begin() + 3 * i + 3}, {}});
  });
  return rows;
}

void expect_rows(const std::vector<expected_row>& got, const std::vector<expected_row>& truth, const std::string& what)
{
  ASSERT_EQ(got.size(), truth.size()) << what;
  for (std::size_t r = 0; r < truth.size(); ++r) {
    ASSERT_EQ(got[r].key, truth[r].key) << what << " row " << r;
    for (std::size_t c = 0; c < 3; ++c) {
      const double x = truth[r].numbers[c];
      if (truth[r].long_text[c])
        ASSERT_LE(std::fabs(got[r].numbers[c] - x), std::nextafter(std::fabs(x), INFINITY) - std::fabs(x))
          << what << " row " << r << " column " << c;
      else
        ASSERT_EQ(got[r].numbers[c], x) << what << " row " << r << " column " << c;
    }
  }
}

TEST(KeyedRows, EveryFormReadsAsStrtodOnBothPathsForAnyThreadCount)
{
  test::temp_dir dir;
  std::vector<expected_row> truth;
  test::write_file(dir / "rows.csv", make_rows(truth));
  for (int threads : {1, 3}) expect_rows(visit((dir / "rows.csv").string(), threads), truth, "unquoted");
  // One quoted key sends its block to the general scanner in one piece: the same rows.
  std::vector<expected_row> quoted_truth;
  test::write_file(dir / "quoted.csv", make_rows(quoted_truth, 30000));
  expect_rows(visit((dir / "quoted.csv").string(), 2), quoted_truth, "quoted");
}

// Plain numbers of up to 16 digits and point take the fast path's one-vector digit reading, longer
// ones its two-vector reading, and the rest parse_number: texts on both sides of each boundary
// (lengths 14 to 20, signs, leading and trailing zeros, points first and last) read as strtod.
TEST(KeyedRows, NumbersAroundSixteenCharactersReadAsStrtod)
{
  const std::vector<std::string> texts{
    "123456789012345",   "1234567890123456",   "12345678901234567",  "1234567890123456789", "-1234567890123456",
    "-12345678901234567", "1.23456789012345",  "1.234567890123456",  "0.00000000000001",    "0000000000001.25",
    "-0000000000001.25", "00000000000001.25",  "9999999999999999",   "99999999999999999",   "-9.999999999999999",
    "123456789012345.",  ".5",                 "+1.5",               "-0.0",                "0",
    "1234567890.123456789", "12345678901.23456789", "0.1234567890123456", "-0.000000000000001", "7.",
    "100000000000000.0", "1000000000000000.0", "2.5e-7",             "-1.5E+3",             "00000000000000000001"};
  std::string text = "key,y,a,b\n";
  std::vector<expected_row> truth;
  for (std::size_t row = 0; row < 40000; ++row) {
    expected_row e{std::to_string(row % 50), {}, {}};
    std::string line = e.key;
    for (std::size_t c = 0; c < 3; ++c) {
      const std::string& t = texts[(row * 7 + c * 11) % texts.size()];
      e.numbers.push_back(std::strtod(t.c_str(), nullptr));
      e.long_text.push_back(false);
      line += "," + t;
    }
    text += line + "\n";
    truth.push_back(e);
  }
  ASSERT_GT(text.size(), std::size_t{1} << 20);  // several pieces
  test::temp_dir dir;
  test::write_file(dir / "rows.csv", text);
  for (int threads : {1, 3}) expect_rows(visit((dir / "rows.csv").string(), threads), truth, "boundaries");
}

// A random number text of an adversarial form: signs, leading zeros, no integer or no fraction
// digits, up to 24 digits on either side of the point, exponents from e-330 (subnormals) to
// e+330 (too large: redrawn), spaces around.
std::string adversarial_number(std::mt19937_64& rng)
{
  auto pick = [&](unsigned n) { return static_cast<unsigned>(rng() % n); };
  auto digits = [&](unsigned n) {
    std::string d;
    for (unsigned i = 0; i < n; ++i) d += static_cast<char>('0' + (pick(4) == 0 ? 0 : pick(10)));
    return d;
  };
  std::string t = pick(3) == 0 ? "-" : (pick(20) == 0 ? "+" : "");
  if (pick(10) == 0) t += std::string(pick(12), '0');  // leading zeros
  const unsigned kind = pick(8);
  if (kind == 0) t += digits(1 + pick(24));                            // an integer
  else if (kind == 1) t += "." + digits(1 + pick(20));                 // .5
  else if (kind == 2) t += digits(1 + pick(20)) + ".";                 // 5.
  else t += digits(1 + pick(kind < 6 ? 10 : 24)) + "." + digits(1 + pick(kind < 6 ? 12 : 24));
  if (pick(6) == 0) {
    t += pick(2) == 0 ? "e" : "E";
    const unsigned size = pick(3);
    const int e = static_cast<int>(size == 0 ? pick(23) : size == 1 ? pick(80) : 250 + pick(81));
    t += (pick(2) == 0 ? "-" : (pick(3) == 0 ? "+" : "")) + std::to_string(e);
  }
  if (pick(40) == 0) t = " " + t + "\t";
  return t;
}

std::uint64_t bits(double x)
{
  std::uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// Randomized differential test: every number the keyed reader returns (fast path or general
// scanner, whichever took its row) has the same hi and lo, bit for bit, as parse_number (the
// general scanner's parser) on its text: rows
// of four numbers of adversarial forms (above), CRLF line ends, and again with one field quoted (its
// block goes to the general scanner), over several pieces, for 1 and 2 threads, on every SIMD
// level this machine runs.
TEST(KeyedRows, RandomNumbersHaveParseNumbersHiAndLo)
{
  std::mt19937_64 rng(20261202);
  std::string text = "g,y,x1,x2,x3\n";
  std::vector<std::string> fields;
  std::size_t quoted_at = 0;  // where the second file's quoted field starts
  while (text.size() < (std::size_t{5} << 20)) {
    std::string line = std::to_string(rng() % 100000);
    for (int c = 0; c < 4; ++c) {
      std::string t;
      io::exact_number v;
      do t = adversarial_number(rng);
      while (!io::parse_number(trimmed(t), v));  // too large, or rounding to zero: redrawn
      fields.push_back(trimmed(t));
      if (fields.size() == 200001) quoted_at = text.size() + line.size() + 1;
      line += "," + t;
    }
    text += line + (rng() % 5 == 0 ? "\r\n" : "\n");
  }
  ASSERT_GT(quoted_at, 0u);
  test::temp_dir dir;
  test::write_file(dir / "rows.csv", text);
  // One field quoted: its block (here the whole file) goes to the general scanner.
  const std::size_t quoted_end = text.find_first_of(",\r\n", quoted_at);
  test::write_file(dir / "quoted.csv", text.substr(0, quoted_at) + "\"" + text.substr(quoted_at, quoted_end - quoted_at) +
                                          "\"" + text.substr(quoted_end));
  std::vector<io::simd_level> levels;  // the scan's and the batched numbers' instruction sets
  for (io::simd_level l : {io::simd_level::scalar, io::simd_level::sse2, io::simd_level::avx2, io::simd_level::avx512})
    if (detail::simd_supported(l)) levels.push_back(l);
  struct restore {
    io::simd_level best;
    ~restore() { io::force_simd_level(best); }
  } guard{levels.back()};
  // Every (level, file, threads) in one loop: each number checked against parse_number.
  for (std::size_t run = 0; run < levels.size() * 4; ++run) {
    const io::simd_level level = levels[run / 4];
    const char* file = run % 4 < 2 ? "rows.csv" : "quoted.csv";
    const int threads = 1 + static_cast<int>(run % 2);
    io::force_simd_level(level);
    std::size_t i = 0;
    io::visit_keyed_rows((dir / file).string(), {"g", "y", "x1", "x2", "x3"}, threads,
                         [&](const std::vector<io::keyed_rows>& pieces) {
                           for (const io::keyed_rows& p : pieces)
                             for (std::size_t k = 0; k < p.numbers.size(); ++k, ++i) {
                               ASSERT_LT(i, fields.size());
                               io::exact_number want;
                               ASSERT_TRUE(io::parse_number(fields[i], want));
                               ASSERT_EQ(bits(p.numbers[k]), bits(want.hi)) << file << ": '" << fields[i] << "'";
                               ASSERT_EQ(bits(p.lows[k]), bits(want.lo)) << file << ": '" << fields[i] << "'";
                             }
                         });
    EXPECT_EQ(i, fields.size()) << file << ", " << threads << " threads, " << detail::simd_name(level);
  }
}

TEST(KeyedRows, CountRowErrorsNameTheirLineInALaterPiece)
{
  test::temp_dir dir;
  std::string text = "g,y,e\n";
  for (int i = 0; i < 150000; ++i) text += std::to_string(i % 321) + "," + std::to_string(i % 5) + ",2.5\n";
  const std::string bad_count = text + "17,1.5,2\n", bad_exposure = text + "\n18,1,-0.25\n";
  test::write_file(dir / "count.csv", bad_count);
  test::write_file(dir / "exposure.csv", bad_exposure);
  ASSERT_GT(bad_count.size(), std::size_t{1} << 20);  // the bad row lies past the first piece
  const auto message = [&](const char* file) {
    try {
      io::read_count_rows((dir / file).string(), "g", "y", "e");
    } catch (const error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("count.csv").find("line 150002: group '17' has the y value 1.5: raw rows of --family poisson are counts"),
            std::string::npos)
    << message("count.csv");
  EXPECT_NE(message("exposure.csv").find("line 150003: group '18' has the e value -0.25: exposures must be > 0"),
            std::string::npos)
    << message("exposure.csv");
  // The sums, against a hand count: group 0 holds rows i = 0, 321, 642, ..., each y = i % 5, e = 2.5.
  test::write_file(dir / "good.csv", text);
  const io::count_table t = io::read_count_rows((dir / "good.csv").string(), "g", "y", "e");
  ASSERT_EQ(t.keys.size(), 321u);
  double count0 = 0, rows0 = 0;
  for (int i = 0; i < 150000; i += 321) count0 += i % 5, rows0 += 1;
  EXPECT_EQ(t.keys[0], "0");
  EXPECT_EQ(t.counts[0], count0);
  EXPECT_EQ(t.sizes[0], 2.5 * rows0);
  // The same rows from stdin (read block by block, not held): the same table.
  const int file = ::open((dir / "good.csv").c_str(), O_RDONLY);
  ASSERT_GE(file, 0);
  const int saved_stdin = ::dup(STDIN_FILENO);
  ASSERT_GE(::dup2(file, STDIN_FILENO), 0);
  ::close(file);
  io::count_table from_stdin;
  try {
    from_stdin = io::read_count_rows("-", "g", "y", "e");
  } catch (...) {
  }
  ::dup2(saved_stdin, STDIN_FILENO);
  ::close(saved_stdin);
  EXPECT_EQ(from_stdin.keys, t.keys);
  EXPECT_EQ(from_stdin.counts, t.counts);
  EXPECT_EQ(from_stdin.sizes, t.sizes);
}

}  // namespace
}  // namespace shrink
