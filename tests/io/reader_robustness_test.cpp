// What a careless or hostile input does to the reader: each case a clear one-line error naming
// the problem (exit 1 from the command), or the data read as a person would read them; and memory
// that follows the data kept, not the bytes scanned.

#include "io/table_reader.hpp"
#include "test_support.hpp"

#include <shrink/error.hpp>

#include <gtest/gtest.h>

#include <fstream>

namespace {

using namespace shrink;

std::string write(const test::temp_dir& dir, const std::string& name, const std::string& text)
{
  test::write_file(dir / name, text);
  return (dir / name).string();
}

/// The error read_groups throws on `text` (empty when it reads).
std::string raw_error(const std::string& text)
{
  test::temp_dir dir;
  try {
    io::read_groups(write(dir, "in.csv", text), {"group", "y"}, 2);
  } catch (const error& e) {
    return e.what();
  }
  return {};
}

TEST(ReaderRobustness, SignsAreOneSignAtMost)
{
  for (const char* v : {"+-5", "-+5", "++5", "--5", "5-"}) {
    const std::string e = raw_error(std::string("group,y\n1,1\n1,") + v + "\n2,3\n2,4\n");
    EXPECT_NE(e.find("line 3"), std::string::npos) << e;
    EXPECT_NE(e.find("is not a number"), std::string::npos) << e;
  }
  EXPECT_EQ(raw_error("group,y\n1,+5\n1,-5\n2,+.5\n2,5.\n"), "");
}

TEST(ReaderRobustness, DuplicateColumnNamesAreAnError)
{
  const std::string e = raw_error("group,y,y\n1,1,2\n");
  EXPECT_NE(e.find("'y' 2 times (columns 2 and 3)"), std::string::npos) << e;
  EXPECT_NE(raw_error("group,group,y\n1,1,2\n").find("'group' 2 times"), std::string::npos);
  EXPECT_EQ(raw_error("group,x,x,y\n1,a,b,2\n1,a,b,3\n2,a,b,4\n2,a,b,5\n"), "");  // unused duplicates are harmless
}

TEST(ReaderRobustness, NulBytesUtf16And32AndInnerByteOrderMarksAreRefused)
{
  const std::string nul = raw_error(std::string("group,y\n1,1\n1,2\n2,\0" "3\n2,4\n", 24));
  EXPECT_NE(nul.find("line 4: a NUL byte"), std::string::npos) << nul;
  // Beyond the first MiB (found by the parallel pieces, not the header's window), with its line.
  std::string big = "group,y\n";
  for (int i = 0; i < 200000; ++i) big += std::to_string(i % 1000) + "," + std::to_string(i) + "\n";
  const std::string far = raw_error(big + std::string("7,\0" "5\n", 5) + "8,\xEF\xBB\xBF" "6\n");
  EXPECT_NE(far.find("line 200002: a NUL byte"), std::string::npos) << far;
  const std::string far_bom = raw_error(big + "8,\xEF\xBB\xBF" "6\n");
  EXPECT_NE(far_bom.find("line 200002: a byte-order mark"), std::string::npos) << far_bom;
  EXPECT_NE(raw_error("\xFF\xFEg\0r\0").find("UTF-16"), std::string::npos);
  EXPECT_NE(raw_error(std::string("\xFF\xFE\0\0g\0\0\0", 8)).find("UTF-32"), std::string::npos);
  EXPECT_NE(raw_error(std::string("\xFE\xFF\0g", 4)).find("UTF-16"), std::string::npos);
  const std::string bom = raw_error("group,y\n1,1\n1,2\n\xEF\xBB\xBF" "2,3\n2,4\n");
  EXPECT_NE(bom.find("line 4: a byte-order mark"), std::string::npos) << bom;
  EXPECT_EQ(raw_error("\xEF\xBB\xBFgroup,y\n1,1\n1,2\n2,3\n2,4\n"), "");  // a leading BOM is fine
}

TEST(ReaderRobustness, BlankLinesBeforeTheHeaderAreSkipped)
{
  test::temp_dir dir;
  const io::group_table t = io::read_groups(write(dir, "a.csv", "\n \r\n\ngroup,y\n1,1\n1,2\n2,3\n2,5\n"), {"group", "y"}, 1);
  ASSERT_EQ(t.rows, 4u);
  EXPECT_EQ(t.exact_mean[1], 4.0);
  // Lines are still counted from the top of the file.
  EXPECT_NE(raw_error("\n\ngroup,y\n1,x\n").find("line 4"), std::string::npos);
  EXPECT_NE(raw_error("\n\n  \n").find("empty input"), std::string::npos);
}

TEST(ReaderRobustness, TabInsideAQuotedHeaderNameKeepsCommas)
{
  test::temp_dir dir;
  const io::group_table t =
    io::read_groups(write(dir, "a.csv", "\"gr\toup\",y\n1,1\n1,2\n2,3\n2,5\n"), {"gr\toup", "y"}, 1);
  EXPECT_EQ(t.rows, 4u);
  EXPECT_EQ(t.keys, (std::vector<std::string>{"1", "2"}));
}

TEST(ReaderRobustness, CarriageReturnOnlyLineEndsGiveAShortError)
{
  std::string text = "group,y\r";
  for (int i = 0; i < 100000; ++i) text += "1,2\r";
  const std::string e = raw_error(text);
  EXPECT_NE(e.find("carriage returns (CR) alone"), std::string::npos) << e.substr(0, 200);
  EXPECT_LT(e.size(), 200u);
  EXPECT_EQ(raw_error("group,y\r\n1,1\r\n1,2\r\n2,3\r\n2,5\r\n"), "");  // CRLF is fine
}

TEST(ReaderRobustness, ErrorsQuoteAtMostTenColumnNamesAndFortyCharacters)
{
  std::string header = "a";
  for (int i = 1; i < 1000000; ++i) header += ",c" + std::to_string(i);
  const std::string e = raw_error(header + "\n");
  EXPECT_NE(e.find("and 999990 more"), std::string::npos) << e.substr(0, 300);
  EXPECT_LT(e.size(), 300u);
  const std::string long_value = raw_error("group,y\n1," + std::string(100000, 'x') + "\n");
  EXPECT_LT(long_value.size(), 200u);
}

TEST(ReaderRobustness, ControlCharactersInMessagesAreEscaped)
{
  const std::string e = raw_error("group,y\n1,\x1b[31mred\n");
  EXPECT_EQ(e.find('\x1b'), std::string::npos);
  EXPECT_NE(e.find("'\\x1b[31mred'"), std::string::npos) << e;
  const std::string col = raw_error("group,y\x07\n1,1\n");  // a BEL in a column name
  EXPECT_EQ(col.find('\x07'), std::string::npos);
  EXPECT_NE(col.find("'y\\x07'"), std::string::npos) << col;
}

TEST(ReaderRobustness, NineteenDigitKeysThatFitInt64StayIntegers)
{
  test::temp_dir dir;
  const io::group_table t = io::read_groups(
    write(dir, "a.csv", "group,y\n9223372036854775807,1\n9223372036854775807,2\n10,3\n10,4\n-9223372036854775808,5\n-9223372036854775808,6\n"),
    {"group", "y"}, 1);
  EXPECT_EQ(t.keys, (std::vector<std::string>{"-9223372036854775808", "10", "9223372036854775807"}));
  // One past int64: text keys, sorted bytewise.
  const io::group_table u =
    io::read_groups(write(dir, "b.csv", "group,y\n9223372036854775808,1\n9223372036854775808,2\n10,3\n10,4\n"), {"group", "y"}, 1);
  EXPECT_EQ(u.keys, (std::vector<std::string>{"10", "9223372036854775808"}));
}

TEST(ReaderRobustness, TabsAroundCommaSeparatedValuesAreTrimmedLikeSpaces)
{
  test::temp_dir dir;
  const io::group_table t = io::read_groups(write(dir, "a.csv", "group,y\n1,\t1\t\n\t1 , 2\n2,3\n2, \t5\n"), {"group", "y"}, 1);
  ASSERT_EQ(t.rows, 4u);
  EXPECT_EQ(t.keys, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(t.exact_mean[0], 1.5);
  EXPECT_EQ(t.exact_mean[1], 4.0);
}

TEST(ReaderRobustness, SummaryScalesMustBePositiveAndSaySo)
{
  test::temp_dir dir;
  for (const char* se : {"-0", "0", "-1", "0e5"}) {
    try {
      io::read_summary_table(write(dir, "s.csv", std::string("e,se\n1,1\n2,") + se + "\n3,1\n"), {std::nullopt, "e", "se", false});
      ADD_FAILURE() << se << " accepted";
    } catch (const error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(std::string("line 3: column 'se': '") + se + "' is not positive"), std::string::npos) << m;
      EXPECT_EQ(m.find("0.000000"), std::string::npos) << m;
    }
  }
}

TEST(ReaderRobustness, UnderflowAndOverflowAreNamed)
{
  EXPECT_NE(raw_error("group,y\n1,2e-324\n").find("'2e-324' is too small for a double (it rounds to zero)"), std::string::npos);
  EXPECT_NE(raw_error("group,y\n1,1e400\n").find("'1e400' is too large for a double"), std::string::npos);
  EXPECT_NE(raw_error("group,y\n1,1e308\n1,-1.5e308\n").find("group '1': its mean or sum of squares overflows double"),
            std::string::npos);
  test::temp_dir dir;  // subnormals are numbers
  const io::group_table t = io::read_groups(write(dir, "a.csv", "group,y\n1,5e-324\n1,5e-324\n2,0\n2,1\n"), {"group", "y"}, 1);
  EXPECT_EQ(t.exact_mean[0], 5e-324);
}

/// Runs `shrink fit FILE --backend cpu` under a 300 MB address-space limit.
test::run_result fit_in_300_mb(const std::string& file, const test::temp_dir& dir)
{
  const std::string cmd = "bash -c \"ulimit -v 300000; exec '" + std::string(SHRINK_BINARY) + "' fit '" + file +
                          "' --backend cpu -q\" >'" + (dir / "out").string() + "' 2>'" + (dir / "err").string() + "'";
  const int raw = std::system(cmd.c_str());
  test::run_result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = test::read_file(dir / "out");
  r.err = test::read_file(dir / "err");
  return r;
}

// Each of these took gigabytes (a std::string per header field, a view per field of a ragged
// row, 12 bytes reserved per blank line); now they run in a 300 MB address space.
TEST(ReaderRobustness, MemoryFollowsTheDataKeptNotTheBytesScanned)
{
  test::temp_dir dir;
  const std::string commas(40'000'000, ',');
  {
    const auto r = fit_in_300_mb(write(dir, "header.csv", commas + "\n1,2\n"), dir);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("no group column 'group'"), std::string::npos) << r.err.substr(0, 300);
  }
  {
    const auto r = fit_in_300_mb(write(dir, "line.csv", "group,y\n" + commas + "\n"), dir);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("row has 40000001 fields but the header has 2"), std::string::npos) << r.err.substr(0, 300);
  }
  {
    const auto r = fit_in_300_mb(write(dir, "blank.csv", "group,y\n1,1\n1,2\n2,3\n2,5\n" + std::string(60'000'000, '\n')), dir);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("\n2,2,4,"), std::string::npos) << r.out;
  }
}

}  // namespace

namespace {

// Whatever a message quotes (an option value, a file name), stderr gets one printable line.
TEST(ReaderRobustness, EveryErrorIsOnePrintableLine)
{
  test::temp_dir dir;
  write(dir, "in.csv", "group,y\n1,1\n1,2\n2,3\n2,5\n");
  for (const std::string args : {"fit in.csv --tau-method $'\\x1b[31mred'", "fit $'in\\x1b.csv'",
                                 "fit in.csv --backend $'a\\nb'", "fit $'\\x07bell.csv'"}) {
    const std::string cmd = "cd '" + dir.path().string() + "' && '" + SHRINK_BINARY + "' " + args + " 2>err.txt";
    const int raw = std::system(("bash -c \"" + cmd + "\"").c_str());
    EXPECT_EQ(WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, 1) << args;
    const std::string err = test::read_file(dir / "err.txt");
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << args << ": " << err;
    for (const char c : err.substr(0, err.size() - 1))
      EXPECT_TRUE(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F) << args << ": " << err;
  }
}

}  // namespace
