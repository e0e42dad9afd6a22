// Raw rows with covariates read in parallel pieces: the per-group cross products must be bitwise
// those of one plain pass over the rows in file order (std::strtod and the multivariate Welford
// update row by row), for any thread count, and errors must name their line across pieces.

#include "test_support.hpp"

#include "common/cross_products.hpp"
#include "io/cross_product_fold.hpp"

#include <shrink/error.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

namespace shrink {
namespace {

struct serial_group {
  double n = 0;
  std::vector<double> shift, mean, comoment;
};

// Rows of about 30 bytes: 150000 of them span several 1 MiB pieces.
constexpr std::size_t rows = 150000;
constexpr int groups = 4999;

std::string make_rows(std::map<long long, serial_group>& truth)
{
  std::ostringstream text;
  text << "g,y,a,b,off\n";
  unsigned state = 12345;
  auto next = [&] { return state = state * 1103515245u + 12345u, (state >> 8) % 100000; };
  const std::size_t w = 3;
  std::vector<double> z(w), delta(w);
  for (std::size_t r = 0; r < rows; ++r) {
    char line[128];
    const long long g = static_cast<long long>(next() % groups);
    const double y = (static_cast<double>(next()) - 50000) / 997, a = static_cast<double>(next()) / 1000,
                 b = static_cast<double>(next() % 7), off = static_cast<double>(next() % 100) / 8;
    std::snprintf(line, sizeof line, "%lld,%.17g,%.17g,%.17g,%.17g\n", g, y, a, b, off);
    text << line;
    serial_group& s = truth[g];
    if (s.mean.empty()) s.shift.assign(w, 0.0), s.mean.assign(w, 0.0), s.comoment.assign(w * w, 0.0);
    z = {a, b, y - off};
    detail::cross_product_update(s.n, s.shift.data(), s.mean.data(), s.comoment.data(), z.data(), delta.data(), w);
  }
  return text.str();
}

TEST(CrossProductFold, SameBitsAsOneSerialPassForAnyThreadCount)
{
  test::temp_dir dir;
  std::map<long long, serial_group> truth;
  test::write_file(dir.path() / "rows.csv", make_rows(truth));
  ASSERT_GT(std::filesystem::file_size(dir.path() / "rows.csv"), std::size_t{3} << 20);  // several pieces
  for (int threads : {1, 2, 3, 8}) {
    const io::cross_product_table t =
      io::read_cross_products((dir.path() / "rows.csv").string(), "g", "y", {"a", "b"}, "off", threads);
    ASSERT_EQ(t.keys.size(), truth.size());
    std::size_t j = 0;
    for (const auto& [key, s] : truth) {  // numeric key order
      ASSERT_EQ(t.keys[j], std::to_string(key));
      EXPECT_EQ(t.data.n[j], s.n);
      for (std::size_t a = 0; a < 3; ++a) EXPECT_EQ(t.data.mean[j * 3 + a], s.shift[a] + s.mean[a]) << threads;
      for (std::size_t a = 0; a < 9; ++a) EXPECT_EQ(t.data.comoment[j * 9 + a], s.comoment[a]) << threads;
      ++j;
    }
  }
}

TEST(CrossProductFold, ErrorNamesItsLineInALaterPiece)
{
  test::temp_dir dir;
  std::map<long long, serial_group> truth;
  std::string text = make_rows(truth);
  // Line 120001 (the header is line 1) lies in the third 1 MiB piece or later.
  std::size_t at = 0;
  for (int i = 0; i < 120000; ++i) at = text.find('\n', at) + 1;
  text.insert(at, "7,1.5,abc,2,0\n");
  test::write_file(dir.path() / "bad.csv", text);
  for (int threads : {1, 4}) {
    try {
      io::read_cross_products((dir.path() / "bad.csv").string(), "g", "y", {"a", "b"}, "off", threads);
      FAIL() << "no error";
    } catch (const error& e) {
      EXPECT_NE(std::string(e.what()).find("line 120001: column 'a': 'abc' is not a number"), std::string::npos)
        << e.what();
    }
  }
}

}  // namespace
}  // namespace shrink
