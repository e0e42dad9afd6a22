// The .npy column reader and writer: round trips, headers as NumPy writes them, the dense-id
// mapping of integer keys, and clear errors for files shrink cannot use.

#include "io/npy.hpp"
#include "test_support.hpp"

#include <shrink/error.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace shrink;

/// A version-1.0 .npy file with the given header dict and raw payload.
std::string npy_bytes(const std::string& dict, const std::string& payload)
{
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + payload;
}

template <class T>
std::string raw_bytes(const std::vector<T>& v)
{
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

TEST(Npy, RoundTrip)
{
  test::temp_dir dir;
  const std::vector<std::int32_t> ids{3, 0, 2, 1, 2};
  const std::vector<double> y{1.5, -2.25, 1e300, 0.1, -0.0};
  io::write_npy((dir / "g.npy").string(), ids.data(), ids.size());
  io::write_npy((dir / "y.npy").string(), y.data(), y.size());
  const io::npy_column g((dir / "g.npy").string());
  const io::npy_column v((dir / "y.npy").string());
  ASSERT_EQ(g.dtype(), io::npy_dtype::int32);
  ASSERT_EQ(v.dtype(), io::npy_dtype::float64);
  ASSERT_EQ(g.size(), ids.size());
  EXPECT_EQ(std::memcmp(g.data(), ids.data(), ids.size() * 4), 0);
  EXPECT_EQ(std::memcmp(v.data(), y.data(), y.size() * 8), 0);
  // The header is padded so the data start on a 64-byte boundary, as NumPy does.
  EXPECT_EQ(test::read_file(dir / "g.npy").size() % 64, (ids.size() * 4) % 64);
}

TEST(Npy, ReadsNumpyHeaderAndEmptyColumn)
{
  test::temp_dir dir;
  // Exactly what numpy.save writes for np.arange(3, dtype='<f8') and an empty int32 array.
  test::write_file(dir / "a.npy", npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                                            raw_bytes(std::vector<double>{0, 1, 2})));
  test::write_file(dir / "e.npy", npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (0,), }", ""));
  const io::npy_column a((dir / "a.npy").string());
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(static_cast<const double*>(a.data())[2], 2.0);
  EXPECT_EQ(io::npy_column((dir / "e.npy").string()).size(), 0u);
}

TEST(Npy, RejectsWhatItCannotRead)
{
  test::temp_dir dir;
  auto rejects = [&](const std::string& bytes) {
    test::write_file(dir / "bad.npy", bytes);
    EXPECT_THROW(io::npy_column((dir / "bad.npy").string()), error);
  };
  rejects("not a numpy file at all");
  rejects(npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", std::string(32, '\0')));
  rejects(npy_bytes("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0')));
  rejects(npy_bytes("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", std::string(16, '\0')));
  rejects(npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }", std::string(16, '\0')));
  EXPECT_THROW(io::npy_column((dir / "missing.npy").string()), error);
}

TEST(Npy, KeysFoldIntoGroupsInKeyOrder)
{
  test::temp_dir dir;
  const std::vector<std::int32_t> ids{1, 0, 2, 0};
  const std::vector<double> y{1, 2, 3, 4};
  io::write_npy((dir / "g.npy").string(), ids.data(), ids.size());
  io::write_npy((dir / "y.npy").string(), y.data(), y.size());
  const io::group_table t = io::read_groups_npy((dir / "g.npy").string(), (dir / "y.npy").string(), 2);
  EXPECT_EQ(t.keys, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(t.n, (std::vector<std::int64_t>{2, 1, 1}));
  EXPECT_EQ(t.exact_mean, (std::vector<double>{3, 1, 3}));
  EXPECT_EQ(t.m2[0], 2.0);  // (2 - 3)^2 + (4 - 3)^2
  EXPECT_EQ(t.rows, 4u);
}

TEST(Npy, SparseKeysMapToGroupsInKeyOrder)
{
  test::temp_dir dir;
  const std::vector<std::int64_t> keys{1000000000000, -5, 42, -5, 1000000000000};
  const std::vector<double> y{1, 2, 3, 4, 5};
  io::write_npy((dir / "g.npy").string(), keys.data(), keys.size());
  io::write_npy((dir / "y.npy").string(), y.data(), y.size());
  const io::group_table t = io::read_groups_npy((dir / "g.npy").string(), (dir / "y.npy").string(), 1);
  EXPECT_EQ(t.keys, (std::vector<std::string>{"-5", "42", "1000000000000"}));
  EXPECT_EQ(t.exact_mean, (std::vector<double>{3, 3, 3}));
  EXPECT_EQ(t.n, (std::vector<std::int64_t>{2, 1, 2}));
}

TEST(Npy, Float32ValuesAndLengthMismatch)
{
  test::temp_dir dir;
  const std::vector<float> y{0.5f, 1.25f};
  test::write_file(dir / "y.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", raw_bytes(y)));
  const std::vector<std::int32_t> ids{0, 1};
  io::write_npy((dir / "g.npy").string(), ids.data(), ids.size());
  const io::group_table t = io::read_groups_npy((dir / "g.npy").string(), (dir / "y.npy").string(), 1);
  EXPECT_EQ(t.exact_mean[1], 1.25);
  const std::vector<std::int32_t> three{0, 0, 0};
  io::write_npy((dir / "g3.npy").string(), three.data(), three.size());
  EXPECT_THROW(io::read_groups_npy((dir / "g3.npy").string(), (dir / "y.npy").string(), 1), error);
}

TEST(Npy, KeysSpanningTheWholeInt64RangeMapInOrder)
{
  // hi - lo does not fit in int64 here (and hi - lo + 1 wraps to 0 as uint64): the hashed key
  // map, with groups in increasing key order.
  test::temp_dir dir;
  const std::int64_t min = std::numeric_limits<std::int64_t>::min();
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  const std::vector<std::int64_t> keys{max, 0, min, max, -1};
  const std::vector<double> y{1, 2, 3, 4, 5};
  io::write_npy((dir / "g.npy").string(), keys.data(), keys.size());
  io::write_npy((dir / "y.npy").string(), y.data(), y.size());
  const io::group_table t = io::read_groups_npy((dir / "g.npy").string(), (dir / "y.npy").string(), 2);
  EXPECT_EQ(t.keys, (std::vector<std::string>{std::to_string(min), "-1", "0", std::to_string(max)}));
  EXPECT_EQ(t.exact_mean, (std::vector<double>{3, 5, 2, 2.5}));

  // A range just over INT64_MAX wide, and one at the top of the type through the direct table.
  const std::vector<std::int64_t> wide{-2, max, -2};
  io::write_npy((dir / "w.npy").string(), wide.data(), wide.size());
  io::write_npy((dir / "x.npy").string(), y.data(), wide.size());
  const io::group_table e = io::read_groups_npy((dir / "w.npy").string(), (dir / "x.npy").string(), 1);
  EXPECT_EQ(e.keys, (std::vector<std::string>{"-2", std::to_string(max)}));
  EXPECT_EQ(e.exact_mean, (std::vector<double>{2, 2}));
  const std::vector<std::int64_t> top{max, max - 2, max};
  io::write_npy((dir / "t.npy").string(), top.data(), top.size());
  const io::group_table f = io::read_groups_npy((dir / "t.npy").string(), (dir / "x.npy").string(), 1);
  EXPECT_EQ(f.keys, (std::vector<std::string>{std::to_string(max - 2), std::to_string(max)}));
  EXPECT_EQ(f.exact_mean, (std::vector<double>{2, 2}));
}

/// The message of the error reading `groups` and `values`, or "" when they read.
std::string read_error(const std::string& groups, const std::string& values, int threads)
{
  try {
    io::read_groups_npy(groups, values, threads);
  } catch (const error& e) {
    return e.what();
  }
  return "";
}

TEST(Npy, NonFiniteValuesAreRejectedAtTheFirstBadRow)
{
  test::temp_dir dir;
  const std::string g = (dir / "g.npy").string(), y = (dir / "y.npy").string();
  // Three blocks of the parallel scan (2^20 rows each) with bad values in the last two: the first
  // bad row is reported whatever the thread count.
  const std::size_t n = (std::size_t{1} << 21) + 100;
  const std::vector<std::int32_t> ids(n, 0);
  io::write_npy(g, ids.data(), n);
  std::vector<double> v(n, 1.5);
  v[n - 3] = std::numeric_limits<double>::quiet_NaN();
  v[(std::size_t{1} << 20) + 123] = std::numeric_limits<double>::infinity();
  io::write_npy(y, v.data(), n);
  for (int threads : {1, 2, 3}) {
    const std::string m = read_error(g, y, threads);
    EXPECT_NE(m.find("y.npy: row 1048699 (0-based): inf is not a finite number"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  v[(std::size_t{1} << 20) + 123] = 1.5;
  io::write_npy(y, v.data(), n);
  EXPECT_NE(read_error(g, y, 2).find("row " + std::to_string(n - 3) + " (0-based): NaN is not a finite number"),
            std::string::npos);

  // float32 values are checked after widening.
  const std::vector<float> f{0.5f, -std::numeric_limits<float>::infinity()};
  test::write_file(dir / "f.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", raw_bytes(f)));
  io::write_npy(g, ids.data(), 2);
  EXPECT_NE(read_error(g, (dir / "f.npy").string(), 1).find("row 1 (0-based): -inf is not a finite number"),
            std::string::npos);
}

}  // namespace

namespace {

/// The numeric cells of a per-group CSV, row by row (the header and key column dropped).
std::vector<std::vector<double>> csv_numbers(const std::string& text)
{
  std::vector<std::vector<double>> rows;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::istringstream cells(line);
    std::string cell;
    std::getline(cells, cell, ',');  // key
    while (std::getline(cells, cell, ',')) row.push_back(cell.empty() ? 0.0 : std::stod(cell));
    rows.push_back(row);
  }
  return rows;
}

TEST(NpyCli, GenerateAndFitBinaryColumnsLikeCsv)
{
  test::temp_dir dir;
  const std::string d = dir.path().string();
  ASSERT_EQ(test::run_shrink("generate --groups 300 --obs 2:9 --seed 4 -o " + d + "/data.csv --group-npy " + d +
                               "/g.npy --value-npy " + d + "/y.npy",
                             dir)
              .status,
            0);
  ASSERT_EQ(test::run_shrink("fit " + d + "/data.csv -q -o " + d + "/from_csv.csv --backend cpu", dir).status, 0);
  const auto r = test::run_shrink(
    "fit -q --group-npy " + d + "/g.npy --value-npy " + d + "/y.npy -o " + d + "/from_npy.csv --backend cpu", dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto a = csv_numbers(test::read_file(dir / "from_csv.csv"));
  const auto b = csv_numbers(test::read_file(dir / "from_npy.csv"));
  ASSERT_EQ(a.size(), 300u);
  ASSERT_EQ(a.size(), b.size());
  // The CSV reader holds values relative to the column's first value, the .npy reader as they
  // are: the same numbers to rounding.
  for (std::size_t j = 0; j < a.size(); ++j) {
    ASSERT_EQ(a[j].size(), b[j].size());
    for (std::size_t k = 0; k < a[j].size(); ++k)
      EXPECT_NEAR(a[j][k], b[j][k], 1e-12 * std::max(1.0, std::fabs(a[j][k]))) << "row " << j << " column " << k;
  }
}

TEST(NpyCli, MismatchedColumnsFailClearly)
{
  test::temp_dir dir;
  const std::string d = dir.path().string();
  const std::vector<std::int32_t> ids{0, 1, 1};
  const std::vector<double> y{1, 2};
  io::write_npy(d + "/g.npy", ids.data(), ids.size());
  io::write_npy(d + "/y.npy", y.data(), y.size());
  const auto r = test::run_shrink("fit -q --group-npy " + d + "/g.npy --value-npy " + d + "/y.npy", dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("rows"), std::string::npos) << r.err;
}

}  // namespace
