#include "summaries.hpp"

#include "cross_product_fold.hpp"
#include "decimal.hpp"
#include "npy.hpp"

#include <shrink/error.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <limits>
#include <numeric>
#include <string_view>
#include <unordered_map>

namespace shrink::io {
namespace {

constexpr double exact_limit = 9007199254740992.0;  // 2^53: doubles hold every whole number below it

bool whole(double x) { return x >= 0 && x < exact_limit && x == std::floor(x); }

/// Group j's mean as hi + lo: the exact mean and the rest, which the offset-relative mean keeps
/// (a table without exact means: offset + mean).
void mean_of(const group_table& t, std::size_t j, double& hi, double& lo)
{
  if (t.exact_mean.empty()) return two_sum(t.offset, t.mean[j], hi, lo);
  hi = t.exact_mean[j];
  double s, e;
  two_sum(hi, -t.offset, s, e);  // mean = s + (e + lo), rounded once (rebase)
  lo = (t.mean[j] - s) - e;
  // A mean far from the offset holds no digits beyond hi: what came back is rounding, and must
  // not move hi when added back.
  if (hi + lo != hi) lo = 0;
}

/// What is wrong with a normal summary, or null.
const char* normal_problem(double n, double hi, double lo, double m2)
{
  if (!(n >= 1 && whole(n))) return "n must be a whole number >= 1 (below 2^53)";
  if (!std::isfinite(hi) || !std::isfinite(lo)) return "mean must be finite";
  if (!(m2 >= 0) || !std::isfinite(m2)) return "m2 (the sum of squared deviations) must be finite and >= 0";
  if (n == 1 && m2 != 0) return "m2 must be 0 for a group of one row (n = 1)";
  return nullptr;
}

/// Ids in the raw reader's group order: numerically when every key is a canonical integer, else
/// bytewise.
std::vector<std::int32_t> key_order(const std::vector<std::string>& keys)
{
  std::vector<std::int64_t> number(keys.size());
  bool integers = true;
  for (std::size_t j = 0; j < keys.size() && integers; ++j) integers = parse_int_key(keys[j], number[j]);
  std::vector<std::int32_t> order(keys.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
    return integers ? number[static_cast<std::size_t>(a)] < number[static_cast<std::size_t>(b)]
                    : keys[static_cast<std::size_t>(a)] < keys[static_cast<std::size_t>(b)];
  });
  return order;
}

/// Keys of several parts mapped to ids in order of first appearance; a key twice in one part is
/// an error.
class key_index {
 public:
  /// The id of `key` in part `part` (parts in increasing order); `added` says whether it is new.
  std::size_t id(const std::string& key, std::size_t part, bool& added)
  {
    const auto it = ids_.find(key);
    added = it == ids_.end();
    if (!added) {
      if (last_part_[it->second] == part) throw error("group '" + shown(key) + "' appears twice in part " + std::to_string(part + 1));
      last_part_[it->second] = part;
      return it->second;
    }
    if (keys_.size() >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
      throw error("more than 2^31-1 groups");
    keys_.push_back(key);
    last_part_.push_back(part);
    ids_.emplace(keys_.back(), keys_.size() - 1);
    return keys_.size() - 1;
  }
  std::size_t size() const { return keys_.size(); }
  /// The keys in key order and, for each, its id.
  std::vector<std::string> sorted_keys(std::vector<std::int32_t>& order) const
  {
    const std::vector<std::string> keys(keys_.begin(), keys_.end());
    order = key_order(keys);
    std::vector<std::string> out;
    out.reserve(keys.size());
    for (const std::int32_t id : order) out.push_back(keys[static_cast<std::size_t>(id)]);
    return out;
  }

 private:
  std::deque<std::string> keys_;  // the map's views point here (a deque never moves them)
  std::vector<std::size_t> last_part_;
  std::unordered_map<std::string_view, std::size_t> ids_;
};

/// A field as the double its shortest text was written from (from_chars rounds correctly);
/// a one-line error names the column when it is not a finite number.
double number_field(std::string_view f, const char* column)
{
  exact_number v;
  if (!parse_number(f, v))
    throw error(std::string("column '") + column + "': '" + shown(f) + "' " + (f.empty() ? "is empty" : number_problem(f)));
  double d = v.hi;
  const char* begin = f.data() + (f.front() == '+' ? 1 : 0);
  std::from_chars(begin, f.data() + f.size(), d);
  return d;
}

}  // namespace

const char* to_string(summary_family f)
{
  switch (f) {
    case summary_family::normal: return "normal";
    case summary_family::binomial: return "binomial";
    case summary_family::poisson: return "poisson";
  }
  return "normal";
}

group_table merge_group_tables(std::vector<group_table>&& parts, int threads)
{
  key_index index;
  std::vector<group_accumulator> acc;
  std::uint64_t rows = 0;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    group_table& t = parts[p];
    const std::size_t J = t.keys.size();
    if (t.n.size() != J || t.mean.size() != J || t.m2.size() != J || (!t.exact_mean.empty() && t.exact_mean.size() != J))
      throw error("part " + std::to_string(p + 1) + ": its columns differ in length");
    for (std::size_t j = 0; j < J; ++j) {
      double hi, lo;
      mean_of(t, j, hi, lo);
      if (const char* problem = normal_problem(static_cast<double>(t.n[j]), hi, lo, t.m2[j]))
        throw error("part " + std::to_string(p + 1) + ", group '" + shown(t.keys[j]) + "': " + problem);
      bool added = false;
      const std::size_t id = index.id(t.keys[j], p, added);
      if (added) acc.push_back({0, hi, lo, {}});
      // Chan's merge, each part's mean taken relative to the group's first mean (as the raw
      // reader takes each row relative to the group's first value).
      group_accumulator& a = acc[id];
      a.n += t.n[j];
      a.d = a.d + detail::moments{static_cast<double>(t.n[j]), difference(hi, lo, a.shift_hi, a.shift_lo), t.m2[j]};
      rows += static_cast<std::uint64_t>(t.n[j]);
    }
    t = group_table{};  // the part is no longer needed
  }
  if (index.size() == 0) throw error("no groups: every part of the summaries is empty");
  std::vector<std::int32_t> order;
  std::vector<std::string> keys = index.sorted_keys(order);
  return tabulate_groups(std::move(keys), acc.data(), order.data(), rows, "mean", threads);
}

count_table merge_count_tables(std::vector<count_table>&& parts)
{
  key_index index;
  std::vector<double> counts, sizes;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    count_table& t = parts[p];
    if (t.counts.size() != t.keys.size() || t.sizes.size() != t.keys.size())
      throw error("part " + std::to_string(p + 1) + ": its columns differ in length");
    for (std::size_t j = 0; j < t.keys.size(); ++j) {
      bool added = false;
      const std::size_t id = index.id(t.keys[j], p, added);
      if (added) counts.push_back(0), sizes.push_back(0);
      // Sums in part order: whole numbers below 2^53 add exactly.
      counts[id] += t.counts[j];
      sizes[id] += t.sizes[j];
      if (!(counts[id] < exact_limit) || !std::isfinite(sizes[id]))
        throw error("group '" + shown(t.keys[j]) + "': its total count or size reaches 2^53 or overflows");
    }
    t = count_table{};
  }
  if (index.size() == 0) throw error("no groups: every part of the summaries is empty");
  count_table out;
  std::vector<std::int32_t> order;
  out.keys = index.sorted_keys(order);
  for (const std::int32_t id : order) {
    out.counts.push_back(counts[static_cast<std::size_t>(id)]);
    out.sizes.push_back(sizes[static_cast<std::size_t>(id)]);
  }
  return out;
}

summary_part merge_summaries(std::vector<summary_part>&& parts, int threads)
{
  if (parts.empty()) throw error("no summaries to merge: give at least one part");
  summary_part out;
  out.family = parts[0].family;
  for (std::size_t p = 1; p < parts.size(); ++p)
    if (parts[p].family != out.family)
      throw error(std::string("the summaries mix families: part 1 is ") + to_string(out.family) + ", part " +
                  std::to_string(p + 1) + " " + to_string(parts[p].family));
  if (out.family == summary_family::normal) {
    std::vector<group_table> tables;
    for (summary_part& s : parts) tables.push_back(std::move(s.groups));
    out.groups = merge_group_tables(std::move(tables), threads);
  } else {
    std::vector<count_table> tables;
    for (summary_part& s : parts) tables.push_back(std::move(s.counts));
    out.counts = merge_count_tables(std::move(tables));
  }
  return out;
}

summary_part read_summaries(const std::string& path)
{
  // The normal family with and without mean_lo, then the count families.
  static const std::vector<std::vector<std::string>> column_sets{{"group", "n", "mean", "mean_lo", "m2"},
                                                                 {"group", "n", "mean", "m2"},
                                                                 {"group", "trials", "successes"},
                                                                 {"group", "exposure", "count"}};
  summary_part out;
  std::size_t set = 0;
  std::unordered_map<std::string, std::size_t> line_of_key;
  std::vector<std::string> keys;
  std::vector<group_accumulator> acc;  // normal: each group's mean as a shift, its m2 as moments
  std::vector<double> counts, sizes;
  visit_rows(path, column_sets, set, [&](const std::vector<std::string_view>& f, std::size_t line) {
    if (f[0].empty()) throw error("has an empty group key");
    const auto [it, added] = line_of_key.emplace(std::string(f[0]), line);
    if (!added) throw error("group '" + shown(f[0]) + "' appears twice (also on line " + std::to_string(it->second) + ")");
    if (set <= 1) {
      const double n = number_field(f[1], "n"), hi = number_field(f[2], "mean");
      const double lo = set == 0 ? number_field(f[3], "mean_lo") : 0.0, m2 = number_field(f.back(), "m2");
      if (const char* problem = normal_problem(n, hi, lo, m2)) throw error("group '" + shown(f[0]) + "': " + problem);
      acc.push_back({static_cast<std::int64_t>(n), hi, lo, detail::moments{n, 0.0, m2}});
    } else {
      const bool binomial = set == 2;
      const double size = number_field(f[1], binomial ? "trials" : "exposure");
      const double count = number_field(f[2], binomial ? "successes" : "count");
      const std::string group = "group '" + shown(f[0]) + "': ";
      if (binomial && !(size > 0 && whole(size))) throw error(group + "trials must be a whole number > 0 (below 2^53)");
      if (!binomial && !(size > 0)) throw error(group + "exposure must be > 0");
      if (!whole(count)) throw error(group + (binomial ? "successes" : "count") + " must be a whole number >= 0 (below 2^53)");
      if (binomial && count > size) throw error(group + "more successes than trials");
      counts.push_back(count);
      sizes.push_back(size);
    }
    keys.emplace_back(f[0]);
  });
  out.family = set <= 1 ? summary_family::normal : set == 2 ? summary_family::binomial : summary_family::poisson;
  std::vector<std::int32_t> order = key_order(keys);
  if (out.family == summary_family::normal) {
    std::uint64_t rows = 0;
    for (const group_accumulator& a : acc) rows += static_cast<std::uint64_t>(a.n);
    std::vector<std::string> sorted;
    for (const std::int32_t id : order) sorted.push_back(std::move(keys[static_cast<std::size_t>(id)]));
    out.groups = tabulate_groups(std::move(sorted), acc.data(), order.data(), rows, "mean", 1);
  } else {
    for (const std::int32_t id : order) {
      const auto j = static_cast<std::size_t>(id);
      out.counts.keys.push_back(std::move(keys[j]));
      out.counts.counts.push_back(counts[j]);
      out.counts.sizes.push_back(sizes[j]);
    }
  }
  return out;
}

std::vector<result_column> summaries_columns(const group_table& t, std::vector<double>& mean_hi, std::vector<double>& mean_lo)
{
  mean_hi.resize(t.keys.size());
  mean_lo.resize(t.keys.size());
  for (std::size_t j = 0; j < t.keys.size(); ++j) mean_of(t, j, mean_hi[j], mean_lo[j]);
  return {{"n", nullptr, t.n.data()}, {"mean", mean_hi.data()}, {"mean_lo", mean_lo.data()}, {"m2", t.m2.data()}};
}

std::vector<result_column> summaries_columns(const count_table& t, count_family family)
{
  const bool binomial = family == count_family::binomial;
  return {{binomial ? "trials" : "exposure", t.sizes.data()}, {binomial ? "successes" : "count", t.counts.data()}};
}

void write_summaries(atomic_output& out, const group_table& t, int threads)
{
  std::vector<double> hi, lo;
  write_table_csv(out, t.keys, summaries_columns(t, hi, lo), threads);
}

void write_summaries(atomic_output& out, const count_table& t, count_family family, int threads)
{
  write_table_csv(out, t.keys, summaries_columns(t, family), threads);
}

void write_summaries(atomic_output& out, const summary_part& s, int threads)
{
  if (s.family == summary_family::normal) return write_summaries(out, s.groups, threads);
  write_summaries(out, s.counts, s.family == summary_family::binomial ? count_family::binomial : count_family::poisson, threads);
}

summary_part read_raw_summaries(const raw_input& in, summary_family family, int threads)
{
  summary_part out;
  out.family = family;
  const bool binary = !in.group_npy.empty() || !in.value_npy.empty();
  if (family == summary_family::poisson && !in.exposure.empty()) {
    if (binary)
      throw error("--exposure names a CSV column: .npy raw rows have no exposure column (each row is one unit of exposure)");
    out.counts = read_count_rows(in.path, in.group, in.value, in.exposure, in.allow_empty);
    return out;
  }
  // The count families' rows are checked as they are read (0/1 trials; whole counts).
  const value_kind kind = family == summary_family::normal     ? value_kind::any
                          : family == summary_family::binomial ? value_kind::binary
                                                               : value_kind::count;
  group_table rows = binary ? read_groups_npy(in.group_npy, in.value_npy, threads, kind)
                            : read_groups(in.path, {in.group, in.value, kind, in.allow_empty}, threads);
  if (family == summary_family::normal)
    out.groups = std::move(rows);
  else
    out.counts = count_table_of(rows);
  return out;
}

count_table count_table_of(const group_table& rows)
{
  count_table t;
  t.keys = rows.keys;
  for (std::size_t j = 0; j < rows.n.size(); ++j) {
    const double n = static_cast<double>(rows.n[j]);
    t.counts.push_back(std::round(n * rows.exact_mean[j]));
    t.sizes.push_back(n);
  }
  return t;
}

}  // namespace shrink::io
