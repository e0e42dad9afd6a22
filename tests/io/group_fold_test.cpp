// group_fold (the streaming fold of raw rows into per-group summaries) against the simplest fold:
// a std::map from key to accumulator, every row added in input order. Many groups in random order
// take the bucketed path (rows moved into buckets of group ids first), few groups or grouped rows
// the in-place one; either must give the map's bits, for any thread count and any cut of the rows
// into blocks and parts, since each group's rows must keep their input order.

#include "common/bits.hpp"
#include "io/decimal.hpp"
#include "io/group_fold.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace shrink {
namespace {

using io::group_accumulator;
using io::group_table;

struct rows_in {
  std::vector<std::int64_t> keys;  // integer keys, or the index into `text`
  std::vector<std::string> text;   // text keys (empty: integer keys)
  std::vector<double> hi, lo;
};

io::group_keys keys_of(std::vector<std::int64_t> k) { return io::group_keys(std::move(k)); }
io::group_keys keys_of(std::vector<std::string> k) { return io::group_keys(std::move(k)); }

/// The reference: one accumulator per key in a std::map, rows added one by one in input order
/// (the first value as the shift, Welford on the differences), then tabulated in key order; keys
/// of the map's kind (integer keys stay integers).
template <class Key>
group_table map_fold(const rows_in& r, Key (*key_of)(const rows_in&, std::size_t))
{
  std::map<Key, group_accumulator> groups;
  for (std::size_t i = 0; i < r.hi.size(); ++i) {
    group_accumulator& a = groups[key_of(r, i)];
    if (a.n++ == 0) a.shift_hi = r.hi[i], a.shift_lo = r.lo[i];
    a.d.add(io::difference(r.hi[i], r.lo[i], a.shift_hi, a.shift_lo));
  }
  std::vector<Key> keys;
  std::vector<group_accumulator> acc;
  for (const auto& [k, a] : groups) keys.push_back(k), acc.push_back(a);
  return io::tabulate_groups(keys_of(std::move(keys)), acc.data(), nullptr, r.hi.size(), "y", 1);
}

group_table reference(const rows_in& r)
{
  if (r.text.empty()) return map_fold<std::int64_t>(r, [](const rows_in& x, std::size_t i) { return x.keys[i]; });
  return map_fold<std::string>(r, [](const rows_in& x, std::size_t i) { return x.text[static_cast<std::size_t>(x.keys[i])]; });
}

/// group_fold over the rows cut into blocks of `block` rows, each block into parts of `part` rows.
group_table fold(const rows_in& r, int threads, std::size_t block, std::size_t part)
{
  io::group_fold g(threads);
  if (!r.text.empty()) g.switch_to_text_keys();
  for (std::size_t b0 = 0; b0 < r.hi.size(); b0 += block) {
    std::vector<io::row_block> parts;
    const std::size_t b1 = std::min(r.hi.size(), b0 + block);
    for (std::size_t p0 = b0; p0 < b1; p0 += part) {
      const std::size_t p1 = std::min(b1, p0 + part);
      io::row_block rb;
      rb.hi.assign(r.hi.begin() + p0, r.hi.begin() + p1);
      rb.lo.assign(r.lo.begin() + p0, r.lo.begin() + p1);
      for (std::size_t i = p0; i < p1; ++i) {
        if (r.text.empty())
          rb.int_keys.push_back(r.keys[i]);
        else
          rb.text_keys.push_back(r.text[static_cast<std::size_t>(r.keys[i])]);
      }
      parts.push_back(std::move(rb));
    }
    g.fold(parts);
  }
  return g.finish("y");
}

/// Bitwise equal tables, and n_j equal to a plain count of each key's rows.
void expect_same(const group_table& want, const group_table& got, const rows_in& r)
{
  ASSERT_EQ(want.keys, got.keys);  // the same kind too: integer keys stay integers
  ASSERT_EQ(got.keys.integer(), r.text.empty());
  EXPECT_EQ(want.rows, got.rows);
  EXPECT_EQ(want.n, got.n);
  std::map<std::string, std::int64_t> count;
  for (std::size_t i = 0; i < r.hi.size(); ++i)
    ++count[r.text.empty() ? std::to_string(r.keys[i]) : r.text[static_cast<std::size_t>(r.keys[i])]];
  for (std::size_t j = 0; j < got.keys.size(); ++j) ASSERT_EQ(got.n[j], count[got.keys[j]]) << got.keys[j];
  EXPECT_EQ(detail::bits_of(want.offset), detail::bits_of(got.offset));
  for (std::size_t j = 0; j < want.n.size(); ++j) {
    ASSERT_EQ(detail::bits_of(want.exact_mean[j]), detail::bits_of(got.exact_mean[j])) << j;
    ASSERT_EQ(detail::bits_of(want.mean[j]), detail::bits_of(got.mean[j])) << j;
    ASSERT_EQ(detail::bits_of(want.m2[j]), detail::bits_of(got.m2[j])) << j;
  }
}

/// Every thread count, and cuts from one row per block and part to blocks of many parts.
void check_all_ways(const rows_in& r, bool one_row_cuts = false)
{
  const group_table want = reference(r);
  for (int threads : {1, 2, 3}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    expect_same(want, fold(r, threads, r.hi.size(), r.hi.size()), r);  // one block, one part
    expect_same(want, fold(r, threads, 65536, 4093), r);                // many parts, several blocks
    if (one_row_cuts) {
      expect_same(want, fold(r, threads, 1, 1), r);   // a block per row
      expect_same(want, fold(r, threads, 64, 1), r);  // a part per row
    }
  }
}

/// Values of every magnitude in one group, a few with a low part (CSV decimals give hi + lo).
void add_value(rows_in& r, std::mt19937_64& rng)
{
  std::normal_distribution<double> normal(0, 1);
  const double x = 1000 + normal(rng) * 3;
  r.hi.push_back(x);
  r.lo.push_back(rng() % 8 == 0 ? x * 0x1p-60 : 0.0);
}

rows_in random_rows(std::size_t rows, std::int64_t groups, std::uint64_t seed)
{
  std::mt19937_64 rng(seed);
  rows_in r;
  for (std::size_t i = 0; i < rows; ++i) {
    r.keys.push_back(static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(groups)));
    add_value(r, rng);
  }
  return r;
}

TEST(GroupFold, ManyGroupsInRandomOrderAsTheMapFold)
{
  // 50,000 groups (7 buckets of 8,192 ids) of 6 rows on average, keys 0..49,999 in random order.
  check_all_ways(random_rows(300000, 50000, 1));
}

TEST(GroupFold, SparseKeysInRandomOrder)
{
  // Keys spread over 2^40 (the hashed key map), all sharing their low 20 bits.
  rows_in r = random_rows(200000, 30000, 2);
  for (auto& k : r.keys) k = (k << 40) + 12345;
  check_all_ways(r);
}

TEST(GroupFold, KeysThatFillTheirSpanLater)
{
  // The first two keys span 2^20 + 3 (more than a direct table allows with two groups: the hashed
  // map); the rest fill the span, so at 2^18 groups the map becomes a direct table again (~300,000
  // groups in all). Two folds, not check_all_ways: the comparison of 3e5 groups is what costs.
  rows_in r = random_rows(350000, (std::int64_t{1} << 20) + 3, 9);
  r.keys[0] = 0;
  r.keys[1] = (std::int64_t{1} << 20) + 2;
  const group_table want = reference(r);
  expect_same(want, fold(r, 1, 65536, 4093), r);
  expect_same(want, fold(r, 2, r.hi.size(), r.hi.size()), r);
  // Keys widening the span on alternate sides, each its own group: 5e6, 5e6 + 1, 5e6 - 1, ...
  rows_in w = random_rows(100000, 1, 10);
  for (std::size_t i = 0; i < w.keys.size(); ++i)
    w.keys[i] = 5000000 + (i % 2 == 1 ? 1 : -1) * static_cast<std::int64_t>((i + 1) / 2);
  check_all_ways(w);
}

TEST(GroupFold, EveryRowItsOwnGroup)
{
  rows_in r = random_rows(40000, 1, 3);
  std::vector<std::int64_t> keys(r.hi.size());
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<std::int64_t>(i) * 7 - 100000;
  std::shuffle(keys.begin(), keys.end(), std::mt19937_64(4));
  r.keys = keys;
  check_all_ways(r);
}

TEST(GroupFold, OneGroup)
{
  check_all_ways(random_rows(100000, 1, 5));
  check_all_ways(random_rows(300, 1, 6), true);
}

TEST(GroupFold, Int64ExtremesAmongManyGroups)
{
  rows_in r = random_rows(120000, 20000, 7);
  const std::int64_t lowest = std::numeric_limits<std::int64_t>::min(), highest = std::numeric_limits<std::int64_t>::max();
  const std::int64_t extremes[] = {lowest, lowest + 1, -1, 0, highest - 1, highest};
  for (std::size_t i = 0; i < r.keys.size(); i += 97) r.keys[i] = extremes[(i / 97) % 6];
  check_all_ways(r);
}

TEST(GroupFold, SkewedBucketsAndGroupedRows)
{
  // Most rows in the first bucket's groups, a few in each of 40,000 others.
  std::mt19937_64 rng(8);
  rows_in r;
  for (std::size_t i = 0; i < 200000; ++i) {
    r.keys.push_back(static_cast<std::int64_t>(i % 10 == 0 ? rng() % 40000 : rng() % 100));
    add_value(r, rng);
  }
  check_all_ways(r);
  // Rows already grouped by key (folded in place, in one pass on one thread, past the cache's
  // size): sorted by key, ties in input order.
  std::vector<std::size_t> order(r.keys.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return r.keys[a] < r.keys[b]; });
  rows_in grouped;
  for (const std::size_t i : order) grouped.keys.push_back(r.keys[i]), grouped.hi.push_back(r.hi[i]), grouped.lo.push_back(r.lo[i]);
  check_all_ways(grouped);
  // Grouped rows, then the same rows in random order: one path after the other.
  rows_in both = grouped;
  both.keys.insert(both.keys.end(), r.keys.begin(), r.keys.end());
  both.hi.insert(both.hi.end(), r.hi.begin(), r.hi.end());
  both.lo.insert(both.lo.end(), r.lo.begin(), r.lo.end());
  check_all_ways(both);
}

TEST(GroupFold, GroupedRowsSplitBetweenThreadsWhereTheGroupChanges)
{
  // Rows grouped by key, ids never decreasing: each thread folds one range of rows, cut where the
  // group changes. A group of 1,500 rows straddles the even cut and many parts; text keys in
  // unsorted order are grouped too (their ids follow first appearance).
  std::mt19937_64 rng(21);
  rows_in r;
  for (std::int64_t g = 0; g < 200; ++g)
    for (std::size_t i = 0, n = g == 100 ? 1500 : 1 + rng() % 9; i < n; ++i) {
      r.keys.push_back(3 * g);
      add_value(r, rng);
    }
  check_all_ways(r, true);
  rows_in text = r;
  for (std::int64_t g = 0; g < 200; ++g) text.text.push_back(std::to_string((g * 7919) % 200) + "k");
  for (std::int64_t& k : text.keys) k /= 3;
  check_all_ways(text, true);
}

TEST(GroupFold, SlotsWidenedAndLeft)
{
  // Keys 1..J need no map: slot key - low. Keys ascending and descending (the slots widened a
  // block at a time on one side), from the middle out, and in random order.
  rows_in up = random_rows(60000, 1, 11);
  for (std::size_t i = 0; i < up.keys.size(); ++i) up.keys[i] = 1000 + static_cast<std::int64_t>(i / 3);
  check_all_ways(up);
  rows_in down = up;
  for (auto& k : down.keys) k = -k;
  check_all_ways(down);
  // Dense keys 0..9,999 for most of the rows, then one far key: the slots give way to ids (the
  // groups seen keep their rows), and the dense keys go on mapping through the key -> id map.
  rows_in far = random_rows(200000, 10000, 12);
  far.keys[150000] = std::int64_t{1} << 50;
  check_all_ways(far);
  // A key that fills a gap far below, in a late block: the slots widen down, keeping their rows.
  rows_in below = random_rows(200000, 10000, 13);
  below.keys[190000] = -30000;
  check_all_ways(below);
}

TEST(GroupFold, IntegerKeysThenText)
{
  // The reader turns to text keys at the first key that is not an integer: the groups folded so
  // far (in slots, or with ids) become their decimal text. Against the map fold of all rows as text.
  for (const std::int64_t spread : {std::int64_t{1}, std::int64_t{1} << 40}) {
    rows_in r = random_rows(120000, 5000, 14);
    std::vector<std::string> text;
    for (std::size_t i = 0; i < r.keys.size(); ++i) {  // some keys of the last block are not integers
      const std::int64_t k = r.keys[i];
      text.push_back(i >= 80000 && k % 1000 == 7 ? "x" + std::to_string(k) : std::to_string(k * spread));
      r.keys[i] = static_cast<std::int64_t>(i);
    }
    r.text = text;
    const group_table want = reference(r);
    for (int threads : {1, 2}) {
      io::group_fold g(threads);
      for (std::size_t b0 = 0; b0 < r.hi.size(); b0 += 40000) {
        io::row_block rb;
        const std::size_t b1 = std::min(r.hi.size(), b0 + 40000);
        rb.hi.assign(r.hi.begin() + b0, r.hi.begin() + b1);
        rb.lo.assign(r.lo.begin() + b0, r.lo.begin() + b1);
        if (b0 == 80000) g.switch_to_text_keys();  // the last block: text
        for (std::size_t i = b0; i < b1; ++i) {
          const std::string& t = r.text[static_cast<std::size_t>(r.keys[i])];
          if (g.text_keys())
            rb.text_keys.push_back(t);
          else
            rb.int_keys.push_back(std::stoll(t));
        }
        std::vector<io::row_block> parts;
        parts.push_back(std::move(rb));
        g.fold(parts);
      }
      expect_same(want, g.finish("y"), r);
    }
  }
}

TEST(GroupFold, TextKeys)
{
  rows_in r = random_rows(150000, 20000, 9);
  for (std::int64_t g = 0; g < 20000; ++g) r.text.push_back("k" + std::to_string(g * 7919 % 20000) + (g % 3 ? "" : " x"));
  check_all_ways(r);
  rows_in few = random_rows(500, 7, 10);
  few.text = {"", "a", "b", "B", "\xc3\xa9", "a,b", "zz"};
  check_all_ways(few, true);
}

}  // namespace
}  // namespace shrink
