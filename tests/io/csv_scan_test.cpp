// The reader's SIMD paths against their references: the structural scan at every level this CPU
// supports against a byte-by-byte reading of the text; the batched numbers against the scalar
// formula, bit for bit; and whole files read through every level against the general row scanner
// (the same file with its first key quoted, which sends the block down the general path): values,
// keys and error messages (with their line numbers) identical.

#include "io/csv_scan.hpp"
#include "io/decimal.hpp"
#include "io/table_reader.hpp"
#include "test_support.hpp"

#include <shrink/error.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

namespace {

using namespace shrink;
using io::simd_level;

std::vector<simd_level> supported_levels()
{
  std::vector<simd_level> levels;
  for (simd_level l : {simd_level::scalar, simd_level::sse2, simd_level::avx2, simd_level::avx512})
    if (detail::simd_supported(l)) levels.push_back(l);
  return levels;
}

/// Restores the best level when a test ends, whatever it forced.
struct level_guard {
  ~level_guard() { io::force_simd_level(supported_levels().back()); }
};

TEST(CsvScan, EveryLevelFindsWhatAByteByByteReadingFinds)
{
  level_guard guard;
  std::mt19937_64 rng(7);
  const char alphabet[] = {'0', '1', '5', '9', ',', '\n', '\t', '.', '-', '+', '"', '\r', ' ', 'a', '/', ':', '\0',
                           static_cast<char>(0xEF), static_cast<char>(0x80), static_cast<char>(0xFF), '\n', ','};
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t size = trial < 200 ? static_cast<std::size_t>(trial) : 1000 + rng() % 5000;
    std::string text(size + 64, 'x');
    const std::size_t skew = rng() % 64;  // any alignment
    for (std::size_t i = 0; i < size; ++i) text[skew + i] = alphabet[rng() % sizeof alphabet];
    const char* begin = text.data() + skew;
    const char delimiter = trial % 3 == 0 ? '\t' : ',';
    // The reference: offsets of the delimiters and line ends, bits of the non-digits.
    std::vector<std::uint32_t> offsets;
    std::vector<std::uint64_t> non_digit((size + 63) / 64 + 1, 0);
    for (std::size_t i = 0; i < size; ++i) {
      if (begin[i] == '\n' || begin[i] == delimiter) offsets.push_back(static_cast<std::uint32_t>(i));
      if (begin[i] < '0' || begin[i] > '9') non_digit[i / 64] |= std::uint64_t{1} << (i % 64);
    }
    for (simd_level level : supported_levels()) {
      io::force_simd_level(level);
      ASSERT_EQ(io::active_simd_level(), level);
      io::scan_bitmaps scan;
      scan.structural.assign(3, 12345);  // stale contents must not matter
      io::scan_structure(begin, size, delimiter, scan);
      SCOPED_TRACE(std::string(detail::simd_name(level)) + ", size " + std::to_string(size));
      ASSERT_EQ(scan.size, size);
      ASSERT_EQ(scan.structurals, offsets.size());
      for (std::size_t j = 0; j < offsets.size(); ++j) ASSERT_EQ(scan.structural[j], offsets[j]) << j;
      EXPECT_EQ(scan.structural[offsets.size()], size);  // the two sentinels
      EXPECT_EQ(scan.structural[offsets.size() + 1], size);
      ASSERT_GE(scan.non_digit.size(), non_digit.size());
      for (std::size_t w = 0; w < non_digit.size(); ++w) ASSERT_EQ(scan.non_digit[w], non_digit[w]) << w;
    }
  }
}

TEST(CsvScan, BatchedNumbersHaveTheScalarFormulasBits)
{
  level_guard guard;
  std::mt19937_64 rng(11);
  std::vector<std::uint64_t> mantissa;
  std::vector<std::uint8_t> scale;
  // Edges: zero, the 53-bit boundary, 19-digit extremes, the top of uint64 (rounds to 2^64).
  for (std::uint64_t m : {std::uint64_t{0}, std::uint64_t{1}, (std::uint64_t{1} << 53) - 1, std::uint64_t{1} << 53,
                          (std::uint64_t{1} << 53) + 1, std::uint64_t{9999999999999999999ull},
                          std::uint64_t{1000000000000000000ull}, ~std::uint64_t{0}, ~std::uint64_t{0} - 1024,
                          std::uint64_t{1} << 63})
    for (int k = 0; k <= 22; ++k)
      for (int negative = 0; negative < 2; ++negative) {
        mantissa.push_back(m);
        scale.push_back(static_cast<std::uint8_t>(k + 32 * negative));
      }
  for (int i = 0; i < 20000; ++i) {
    const int digits = 1 + static_cast<int>(rng() % 19);
    std::uint64_t m = rng();
    if (i % 4 != 0) m %= [&] { std::uint64_t p = 1; for (int d = 0; d < digits; ++d) p *= 10; return p; }();
    mantissa.push_back(m);
    scale.push_back(static_cast<std::uint8_t>(rng() % 23 + 32 * (rng() % 2)));
  }
  const std::size_t n = mantissa.size();
  for (simd_level level : supported_levels()) {
    io::force_simd_level(level);
    // Every count from 0 to 20 (the vector loop's remainders), then all.
    for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{9},
                              std::size_t{15}, std::size_t{17}, n}) {
      std::vector<double> hi(count, -1), lo(count, -1);
      io::numbers_from_small_decimals(mantissa.data(), scale.data(), count, hi.data(), lo.data());
      for (std::size_t i = 0; i < count; ++i) {
        io::exact_number v;
        io::number_from_small_decimal(mantissa[i], scale[i] & 31, (scale[i] & 32) != 0, v);
        ASSERT_EQ(std::memcmp(&hi[i], &v.hi, 8), 0)
          << detail::simd_name(level) << ": " << mantissa[i] << " / 10^" << (scale[i] & 31);
        ASSERT_EQ(std::memcmp(&lo[i], &v.lo, 8), 0)
          << detail::simd_name(level) << ": " << mantissa[i] << " / 10^" << (scale[i] & 31);
      }
    }
  }
}

void expect_same(const io::group_table& a, const io::group_table& b)
{
  ASSERT_EQ(a.n.size(), b.n.size());
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_EQ(a.n, b.n);
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(std::memcmp(&a.offset, &b.offset, sizeof(double)), 0);
  for (const auto column : {&io::group_table::mean, &io::group_table::m2, &io::group_table::exact_mean})
    for (std::size_t j = 0; j < a.n.size(); ++j)
      ASSERT_EQ(std::memcmp(&(a.*column)[j], &(b.*column)[j], sizeof(double)), 0)
        << "group " << a.keys[j] << ": " << (a.*column)[j] << " vs " << (b.*column)[j];
}

/// Rows of every shape the fast path meets: short and long keys, 19- and 20-digit values, signs,
/// exponents, spaces, CRLF, blank lines, rows longer than 64 bytes; lengths varied so that rows
/// cross 64-byte blocks, scan batches and 1 MiB pieces anywhere.
std::string tricky_rows(std::size_t rows, unsigned seed)
{
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0, 1e3);
  std::string body;
  char buf[128];
  for (std::size_t i = 0; i < rows; ++i) {
    switch (rng() % 6) {
      case 0: body += std::to_string(rng() % 100); break;
      case 1: body += "-" + std::to_string(1 + rng() % 1000); break;
      case 2: body += std::to_string(100000000000000000ull + rng() % 1000); break;  // 18 digits
      case 3: body += "0"; break;
      default: body += std::to_string(rng() % 5000);
    }
    body += ',';
    const double y = normal(rng);
    switch (rng() % 24) {
      case 0: body += "1234567890123456789"; break;   // 19 digits
      case 1: body += "-12345678901234567.89"; break;  // 19 digits with a point
      case 2: body += "12345678901234567890"; break;   // 20: the general parser
      case 3: body += "+5.25"; break;
      case 4: body += "-.5"; break;
      case 5: body += "5."; break;
      case 6: body += "2.5E-3"; break;
      case 7: body += " 7.5 "; break;
      case 8: body += "-0"; break;
      case 9: body += "0.12345678901234567"; break;  // 17 fraction digits
      case 10: body += std::string(70, '0') + "1.25"; break;  // a row over 64 bytes
      case 11: std::snprintf(buf, sizeof buf, "%.3f", y); body += buf; break;
      case 12: std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(y)); body += buf; break;
      case 13: body += "99999999.99999999999"; break;  // 19 digits, 8 before the point
      case 14: body += "123456789.5"; break;           // 9 digits before the point
      default: std::snprintf(buf, sizeof buf, "%.17g", y); body += buf;
    }
    const unsigned eol = static_cast<unsigned>(rng() % 40);
    body += eol == 0 ? "\r\n" : eol == 1 ? "\n\n" : eol == 2 ? "\n  \r\n" : eol == 3 ? "\r\r\n" : "\n";
  }
  return body;
}

/// The table (or the error) read_groups gives for `text` at the forced level.
struct outcome {
  io::group_table table;
  std::string error;
};

outcome read_at(const std::string& path, int threads)
{
  outcome o;
  try {
    o.table = io::read_groups(path, {"group", "y"}, threads);
  } catch (const error& e) {
    o.error = e.what();
  }
  return o;
}

/// Reads `body` after a group,y header through every level, with 1 and 3 threads, and expects
/// what the general scanner reads from the same text with its first key quoted.
void expect_every_level_reads_as_the_general_scanner(const std::string& body, const std::string& name)
{
  level_guard guard;
  test::temp_dir dir;
  const std::string plain = (dir / (name + ".csv")).string(), quoted = (dir / (name + "_q.csv")).string();
  test::write_file(plain, "group,y\n" + body);
  const std::size_t comma = body.find(',');
  test::write_file(quoted, "group,y\n\"" + body.substr(0, comma) + "\"" + body.substr(comma));
  const outcome general = read_at(quoted, 2);
  for (simd_level level : supported_levels()) {
    io::force_simd_level(level);
    for (int threads : {1, 3}) {
      SCOPED_TRACE(name + ": " + detail::simd_name(level) + ", " + std::to_string(threads) + " threads");
      const outcome fast = read_at(plain, threads);
      // The messages name the file: compare them with the file names taken out.
      auto unnamed = [&](std::string e, const std::string& path) {
        const std::size_t at = e.find(path);
        return at == std::string::npos ? e : e.erase(at, path.size());
      };
      EXPECT_EQ(unnamed(fast.error, plain), unnamed(general.error, quoted));
      if (general.error.empty() && fast.error.empty()) expect_same(fast.table, general.table);
    }
  }
}

TEST(CsvScan, TrickyRowsReadAlikeAtEveryLevel)
{
  // Over 1 MiB: several pieces, many scan batches.
  const std::string body = tricky_rows(60000, 1);
  ASSERT_GT(body.size(), std::size_t{1} << 20);
  expect_every_level_reads_as_the_general_scanner(body, "tricky");
  // The last row without a line end; and ending in spaces and CRs.
  expect_every_level_reads_as_the_general_scanner(tricky_rows(3000, 2) + "17,2.5", "no_final_newline");
  expect_every_level_reads_as_the_general_scanner(tricky_rows(3000, 3) + "17,2.5\r \r", "final_cr");
  // Tiny inputs: every row near the end of the window.
  expect_every_level_reads_as_the_general_scanner("1,2", "one_row");
  expect_every_level_reads_as_the_general_scanner("1,2\n1,3\n2,-4.5\r\n2,5", "four_rows");
}

// Every split of up to 19 digits around the point (and none), each group a different shape, so
// that each shape's digits are read and compared by themselves.
TEST(CsvScan, EveryDigitCountAroundThePointReadsAlike)
{
  std::mt19937_64 rng(3);
  std::string body;
  int group = 0;
  for (int before = 0; before <= 19; ++before)
    for (int after = 0; before + after <= 19; ++after)
      for (int point = 0; point < 2; ++point) {
        if (before + after == 0 || (after > 0 && point == 0)) continue;
        ++group;
        for (int rep = 0; rep < 4; ++rep) {
          std::string v = rep % 2 ? "-" : "";
          for (int i = 0; i < before; ++i) v += static_cast<char>('0' + rng() % 10);
          if (point) v += '.';
          for (int i = 0; i < after; ++i) v += static_cast<char>('0' + rng() % 10);
          body += std::to_string(group) + "," + v + (rep == 3 ? "\r\n" : "\n");
        }
      }
  expect_every_level_reads_as_the_general_scanner(body, "digit_counts");
}

TEST(CsvScan, ErrorsNameTheSameLineAtEveryLevel)
{
  const std::string head = tricky_rows(45000, 4);  // the bad row lies in the second piece
  ASSERT_GT(head.size(), std::size_t{1} << 20);
  for (const char* bad : {"5,abc\n", "5,1,2\n", "5,\n", "5,1e999\n", "5,--1\n", "5,1.2.3\n", ",3\n", "5\n"}) {
    const std::string body = head + bad + tricky_rows(100, 5);
    expect_every_level_reads_as_the_general_scanner(body, "bad");
  }
  // And the messages themselves: one of them spelled out.
  level_guard guard;
  test::temp_dir dir;
  const std::string path = (dir / "e.csv").string();
  test::write_file(path, "group,y\n1,1\n\n1,2\r\n2,x3\n");
  for (simd_level level : supported_levels()) {
    io::force_simd_level(level);
    const outcome o = read_at(path, 1);
    EXPECT_NE(o.error.find("line 5: column 'y': 'x3' is not a number"), std::string::npos) << o.error;
  }
}

TEST(CsvScan, TextKeysAnywhereReadAlikeAtEveryLevel)
{
  std::string body = tricky_rows(30000, 6);
  body += "a17,3.5\n";  // from here on (and back) every key is text
  body += tricky_rows(30000, 7);
  expect_every_level_reads_as_the_general_scanner(body, "text_keys");
  // Keys the fast path leaves to the general one: 19 digits, leading zeros, "-0".
  expect_every_level_reads_as_the_general_scanner(tricky_rows(2000, 8) + "1234567890123456789,1\n", "key19");
  expect_every_level_reads_as_the_general_scanner(tricky_rows(2000, 9) + "007,1\n", "key_zeros");
  expect_every_level_reads_as_the_general_scanner(tricky_rows(2000, 10) + "-0,1\n", "key_minus_zero");
}

// Quotes are found by the parallel pass: a quoted key in the second piece sends the block back
// to be parsed as quoted text, and the values are those of the same file without the quotes.
TEST(CsvScan, AQuoteBeyondTheFirstPieceReadsAsWithoutIt)
{
  level_guard guard;
  test::temp_dir dir;
  const std::string head = tricky_rows(45000, 14), tail = tricky_rows(2000, 15);
  ASSERT_GT(head.size(), std::size_t{1} << 20);
  const std::string quoted = (dir / "q.csv").string(), plain = (dir / "p.csv").string();
  test::write_file(quoted, "group,y\n" + head + "\"5\",1.5\n" + tail);
  test::write_file(plain, "group,y\n" + head + "5,1.5\n" + tail);
  for (simd_level level : supported_levels()) {
    io::force_simd_level(level);
    for (int threads : {1, 3}) {
      const outcome q = read_at(quoted, threads), p = read_at(plain, threads);
      ASSERT_EQ(q.error, "");
      ASSERT_EQ(p.error, "");
      expect_same(q.table, p.table);
    }
  }
  // A quoted line end there: the row is one row (the block was cut where quotes allow).
  test::write_file(quoted, "group,y\n" + head + "\"x\ny\",1.5\n" + tail);
  const outcome q = read_at(quoted, 2);
  ASSERT_EQ(q.error, "");
  const std::vector<std::string>& keys = q.table.keys.text();  // a key with a line end: text keys
  const auto at = std::find(keys.begin(), keys.end(), "x\ny");
  ASSERT_NE(at, keys.end());
  EXPECT_EQ(q.table.n[static_cast<std::size_t>(at - keys.begin())], 1);
}

TEST(CsvScan, TabSeparatedReadsAlikeAtEveryLevel)
{
  level_guard guard;
  test::temp_dir dir;
  std::string body = tricky_rows(20000, 12);
  for (char& c : body)
    if (c == ',') c = '\t';
  const std::string tsv = (dir / "t.tsv").string(), csv = (dir / "t.csv").string();
  test::write_file(tsv, "group\ty\n" + body);
  std::string as_csv = body;
  for (char& c : as_csv)
    if (c == '\t') c = ',';
  test::write_file(csv, "group,y\n\"" + as_csv.substr(0, as_csv.find(',')) + "\"" + as_csv.substr(as_csv.find(',')));
  const outcome general = read_at(csv, 2);
  ASSERT_EQ(general.error, "");
  for (simd_level level : supported_levels()) {
    io::force_simd_level(level);
    const outcome fast = read_at(tsv, 2);
    ASSERT_EQ(fast.error, "") << detail::simd_name(level);
    expect_same(fast.table, general.table);
  }
}

// SHRINK_SIMD chooses the level of a run: every level writes the same bytes.
TEST(CsvScan, ShrinkSimdEnvironmentVariableGivesTheSameOutput)
{
  test::temp_dir dir;
  const std::string data = (dir / "d.csv").string();
  test::write_file(data, "group,y\n" + tricky_rows(20000, 13));
  std::string first;
  for (simd_level level : supported_levels()) {
    const std::string out = (dir / (std::string(detail::simd_name(level)) + ".csv")).string();
    const std::string cmd = "SHRINK_SIMD=" + std::string(detail::simd_name(level)) + " '" + SHRINK_BINARY +
                            "' fit '" + data + "' --backend cpu -q -o '" + out + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const std::string written = test::read_file(out);
    ASSERT_GT(written.size(), 1000u);
    if (first.empty()) first = written;
    EXPECT_EQ(written, first) << detail::simd_name(level);
  }
}

}  // namespace

namespace shrink::test {
namespace {

TEST(SimdLevel, ABadShrinkSimdIsAOneLineErrorForEveryCommand)
{
  // Read on the main thread at start-up (a worker thread's exception would abort the process).
  temp_dir dir;
  write_file(dir / "in.csv", small_csv);
  for (const char* value : {"bogus", "avx1024"}) {
    ::setenv("SHRINK_SIMD", value, 1);
    const run_result fit = run_shrink("fit " + quoted(dir / "in.csv") + " -o " + quoted(dir / "o.csv"), dir);
    const run_result sim =
      run_shrink("simulate --groups 10 --obs 5 --mu 0 --sigma 1 --tau 1 --replicates 10 --seed 1 -o " + quoted(dir / "s.csv"), dir);
    ::unsetenv("SHRINK_SIMD");
    expect_error(fit, std::string("SHRINK_SIMD=") + value + ": unknown level");
    expect_error(sim, std::string("SHRINK_SIMD=") + value + ": unknown level");
  }
}

}  // namespace
}  // namespace shrink::test
