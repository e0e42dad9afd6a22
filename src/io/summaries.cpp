#include "summaries.hpp"

#include "../common/cross_products.hpp"
#include "cross_product_fold.hpp"
#include "decimal.hpp"
#include "npy.hpp"

#include <shrink/error.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <numeric>
#include <optional>
#include <string_view>

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

/// One row of one part, placed in the merged order.
struct part_row {
  std::int64_t number;   // the key as an integer, when every key is one
  std::string_view key;  // its text (into the part's keys or merged_keys::text); empty for an integer key
                         // where every key is one
  std::uint32_t part, row;
};

/// The rows of all parts in the merged order: groups in the raw reader's key order (numerically
/// when every key of every part is an integer, else bytewise), each group's rows in part order.
/// Sorted rather than hashed: the same order whatever the parts, and no hash table of millions of
/// keys. A key twice in one part is an error.
struct merged_keys {
  std::vector<part_row> rows;
  bool integers = true;          // rows compare by number, else by text
  std::deque<std::string> text;  // a part's integer keys as text, where another part's are text

  explicit merged_keys(const std::vector<key_view>& part_keys)
  {
    for (const key_view& k : part_keys)
      for (std::size_t j = 0; j < k.size() && integers && !k.integer(); ++j) {
        std::int64_t number;
        integers = parse_int_key(k.text(j), number);
      }
    for (std::size_t p = 0; p < part_keys.size(); ++p) {
      const key_view& k = part_keys[p];
      for (std::size_t j = 0; j < k.size(); ++j) {
        part_row r{0, {}, static_cast<std::uint32_t>(p), static_cast<std::uint32_t>(j)};
        if (k.integer()) {
          r.number = k.integer(j);
          if (!integers) r.key = text.emplace_back(std::to_string(r.number));
        } else {
          r.key = k.text(j);
          if (integers) parse_int_key(r.key, r.number);
        }
        rows.push_back(r);
      }
    }
    std::sort(rows.begin(), rows.end(), [this](const part_row& a, const part_row& b) {
      if (!same(a, b)) return integers ? a.number < b.number : a.key < b.key;
      return a.part != b.part ? a.part < b.part : a.row < b.row;
    });
    for (std::size_t i = 1; i < rows.size(); ++i)
      if (rows[i].part == rows[i - 1].part && same(rows[i], rows[i - 1]))
        throw error("group '" + shown(key(i)) + "' appears twice" +
                    (part_keys.size() > 1 ? " in part " + std::to_string(rows[i].part + 1) : std::string()));
  }
  bool same(const part_row& a, const part_row& b) const { return integers ? a.number == b.number : a.key == b.key; }
  /// Row i's key as text.
  std::string key(std::size_t i) const { return integers ? std::to_string(rows[i].number) : std::string(rows[i].key); }

  /// Calls on_group(first, last) for each group's run [first, last) of the rows.
  template <class OnGroup>
  void for_each_group(OnGroup&& on_group) const
  {
    if (rows.empty()) throw error("no groups: every part of the summaries is empty");
    for (std::size_t first = 0, last = 0; first < rows.size(); first = last) {
      while (last < rows.size() && same(rows[last], rows[first])) ++last;
      on_group(first, last);
    }
  }
};

/// A field as the double its shortest text was written from (from_chars rounds correctly); a
/// one-line error names the column when it is not a finite number (parse_number says why).
double number_field(std::string_view f, const char* column)
{
  double d = 0;
  const char* begin = f.data() + (!f.empty() && f.front() == '+' ? 1 : 0);
  const auto [end, ec] = std::from_chars(begin, f.data() + f.size(), d);
  if (ec == std::errc() && end == f.data() + f.size() && std::isfinite(d)) return d;
  exact_number v;
  if (!parse_number(f, v))
    throw error(std::string("column '") + column + "': '" + shown(f) + "' " + (f.empty() ? "is empty" : number_problem(f)));
  return v.hi;
}

/// The columns of covariate summaries whose columns (covariates, then the value) are `names`.
std::vector<std::string> cross_product_columns(const std::vector<std::string>& names)
{
  std::vector<std::string> columns{"group", "n"};
  for (const std::string& c : names) columns.insert(columns.end(), {"mean:" + c, "mean_lo:" + c});
  for (std::size_t a = 0; a < names.size(); ++a)
    for (std::size_t b = 0; b <= a; ++b) columns.push_back("comoment:" + names[a] + ":" + names[b]);
  return columns;
}

/// "x1, x2 and y": the columns of a cross-product table, for messages.
std::string columns_of(const cross_product_table& t)
{
  std::string out;
  for (const std::string& c : t.data.covariates) out += (out.empty() ? "" : ", ") + shown(c);
  return out + " and " + shown(t.value);
}

}  // namespace

const char* to_string(summary_family f)
{
  switch (f) {
    case summary_family::normal: return "normal";
    case summary_family::binomial: return "binomial";
    case summary_family::poisson: return "poisson";
    case summary_family::covariates: return "normal with covariates";
  }
  return "normal";
}

group_table merge_group_tables(std::vector<group_table>&& parts, int threads)
{
  std::vector<key_view> part_keys;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    const group_table& t = parts[p];
    const std::size_t J = t.keys.size();
    if (t.n.size() != J || t.mean.size() != J || t.m2.size() != J || (!t.exact_mean.empty() && t.exact_mean.size() != J))
      throw error("part " + std::to_string(p + 1) + ": its columns differ in length");
    part_keys.push_back(t.keys);
  }
  const merged_keys merged(part_keys);
  const std::vector<part_row>& rows = merged.rows;
  std::vector<std::int64_t> integer_keys;
  std::vector<std::string> text_keys;
  std::vector<group_accumulator> acc;
  std::uint64_t total = 0;
  merged.for_each_group([&](std::size_t first, std::size_t last) {
    group_accumulator a;
    for (std::size_t i = first; i < last; ++i) {
      const group_table& t = parts[rows[i].part];
      const std::size_t j = rows[i].row;
      double hi, lo;
      mean_of(t, j, hi, lo);
      if (const char* problem = normal_problem(static_cast<double>(t.n[j]), hi, lo, t.m2[j]))
        throw error("part " + std::to_string(rows[i].part + 1) + ", group '" + shown(t.keys[j]) + "': " + problem);
      // Chan's merge, each part's mean taken relative to the group's first mean (as the raw
      // reader takes each row relative to the group's first value).
      if (i == first) a.shift_hi = hi, a.shift_lo = lo;
      a.n += t.n[j];
      a.d = a.d + detail::moments{static_cast<double>(t.n[j]), difference(hi, lo, a.shift_hi, a.shift_lo), t.m2[j]};
    }
    if (merged.integers)
      integer_keys.push_back(rows[first].number);
    else
      text_keys.emplace_back(rows[first].key);
    acc.push_back(a);
    total += static_cast<std::uint64_t>(a.n);
  });
  group_keys keys = merged.integers ? group_keys(std::move(integer_keys)) : group_keys(std::move(text_keys));
  return tabulate_groups(std::move(keys), acc.data(), nullptr, total, "mean", threads);
}

count_table merge_count_tables(std::vector<count_table>&& parts)
{
  std::vector<key_view> part_keys;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    if (parts[p].counts.size() != parts[p].keys.size() || parts[p].sizes.size() != parts[p].keys.size())
      throw error("part " + std::to_string(p + 1) + ": its columns differ in length");
    part_keys.push_back(parts[p].keys);
  }
  const merged_keys merged(part_keys);
  const std::vector<part_row>& rows = merged.rows;
  count_table out;
  merged.for_each_group([&](std::size_t first, std::size_t last) {
    // Sums in part order: whole numbers below 2^53 add exactly.
    double count = 0, size = 0;
    for (std::size_t i = first; i < last; ++i) {
      count += parts[rows[i].part].counts[rows[i].row];
      size += parts[rows[i].part].sizes[rows[i].row];
    }
    if (!(count < exact_limit) || !std::isfinite(size))
      throw error("group '" + shown(merged.key(first)) + "': its total count or size reaches 2^53 or overflows");
    out.keys.emplace_back(rows[first].key);
    out.counts.push_back(count);
    out.sizes.push_back(size);
  });
  return out;
}

cross_product_table merge_cross_product_tables(std::vector<cross_product_table>&& parts)
{
  if (parts.empty()) throw error("no summaries to merge: give at least one part");
  cross_product_table out;
  out.data.covariates = parts[0].data.covariates;
  out.value = parts[0].value;
  const std::size_t w = out.data.width = out.data.covariates.size() + 1;
  std::vector<key_view> part_keys;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    const cross_product_table& t = parts[p];
    if (t.data.covariates != out.data.covariates || t.value != out.value)
      throw error("the summaries hold different columns: part 1 " + columns_of(parts[0]) + ", part " + std::to_string(p + 1) +
                  " " + columns_of(t) + " (summarize every part with the same --value, --covariates and --offset)");
    const std::size_t J = t.keys.size();
    if (t.data.width != w || t.data.n.size() != J || t.data.mean.size() != J * w || t.data.mean_lo.size() != J * w ||
        t.data.comoment.size() != J * w * w)
      throw error("part " + std::to_string(p + 1) + ": its columns differ in length");
    part_keys.push_back(t.keys);
  }
  const merged_keys merged(part_keys);
  const std::vector<part_row>& rows = merged.rows;
  std::vector<double> shift_hi(w), shift_lo(w), mean(w), comoment(w * w), d(w), delta(w);
  merged.for_each_group([&](std::size_t first, std::size_t last) {
    double n = 0;
    for (std::size_t i = first; i < last; ++i) {
      const cross_product_table& t = parts[rows[i].part];
      const std::size_t j = rows[i].row;
      // Each part's means relative to the group's first part's (as the fold takes each row
      // relative to the group's first row), then Chan's merge.
      if (i == first) {
        std::copy(&t.data.mean[j * w], &t.data.mean[(j + 1) * w], shift_hi.begin());
        std::copy(&t.data.mean_lo[j * w], &t.data.mean_lo[(j + 1) * w], shift_lo.begin());
      }
      for (std::size_t a = 0; a < w; ++a) d[a] = difference(t.data.mean[j * w + a], t.data.mean_lo[j * w + a], shift_hi[a], shift_lo[a]);
      detail::cross_product_merge(n, mean.data(), comoment.data(), t.data.n[j], d.data(), &t.data.comoment[j * w * w],
                                  delta.data(), w);
    }
    out.keys.emplace_back(rows[first].key);
    out.data.n.push_back(n);
    for (std::size_t a = 0; a < w; ++a) {
      double hi, lo;
      add_shift(shift_hi[a], shift_lo[a], mean[a], hi, lo);
      out.data.mean.push_back(hi);
      out.data.mean_lo.push_back(lo);
    }
    for (const double c : comoment)
      if (!std::isfinite(c)) throw error("group '" + shown(merged.key(first)) + "': its co-moments overflow double");
    out.data.comoment.insert(out.data.comoment.end(), comoment.begin(), comoment.end());
  });
  out.data.groups = out.keys.size();
  return out;
}

cross_product_table select_covariates(const cross_product_table& t, const std::vector<std::string>& covariates)
{
  // Column positions in t of the covariates asked for, then of the value.
  std::vector<std::size_t> at;
  for (const std::string& c : covariates) {
    const auto it = std::find(t.data.covariates.begin(), t.data.covariates.end(), c);
    if (it == t.data.covariates.end())
      throw error("--covariates: the summaries hold no covariate '" + shown(c) + "' (they hold " + columns_of(t) + ")");
    at.push_back(static_cast<std::size_t>(it - t.data.covariates.begin()));
  }
  at.push_back(t.data.covariates.size());
  // The fold updates each mean and co-moment from its own columns alone: a selection is the
  // fold of the selected columns, bit for bit.
  const std::size_t w = t.data.width, v = at.size();
  cross_product_table out;
  out.keys = t.keys;
  out.value = t.value;
  out.data.covariates = covariates;
  out.data.groups = t.data.groups;
  out.data.width = v;
  out.data.n = t.data.n;
  for (std::size_t j = 0; j < t.keys.size(); ++j)
    for (std::size_t a = 0; a < v; ++a) {
      out.data.mean.push_back(t.data.mean[j * w + at[a]]);
      out.data.mean_lo.push_back(t.data.mean_lo[j * w + at[a]]);
      for (std::size_t b = 0; b < v; ++b) out.data.comoment.push_back(t.data.comoment[j * w * w + at[a] * w + at[b]]);
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
  } else if (out.family == summary_family::covariates) {
    std::vector<cross_product_table> tables;
    for (summary_part& s : parts) tables.push_back(std::move(s.cross));
    out.cross = merge_cross_product_tables(std::move(tables));
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
  std::vector<std::string> keys;
  std::vector<group_accumulator> acc;  // normal: each group's mean as a shift, its m2 as moments
  std::vector<double> counts, sizes;
  // Covariate summaries: the columns of z (covariates, then the value) named by the mean: columns.
  std::vector<std::string> names, columns;
  cross_product_table& cross = out.cross;
  const auto choose = [&](const std::vector<std::string>& header) {
    for (const std::string& h : header)
      if (h.rfind("mean:", 0) == 0) names.push_back(h.substr(5));
    if (names.size() == 1) throw error("'" + shown(path) + "': covariate summaries need a covariate and the value (mean: columns)");
    if (!names.empty()) return columns = cross_product_columns(names);
    std::size_t fewest = 0;
    set = choose_column_set(header, column_sets, fewest);
    return column_sets[set == column_sets.size() ? fewest : set];
  };
  visit_rows(path, choose, [&](const std::vector<std::string_view>& f, std::size_t) {
    if (f[0].empty()) throw error("has an empty group key");
    if (!names.empty()) {
      const std::size_t w = names.size();
      const double n = number_field(f[1], "n");
      const std::string group = "group '" + shown(f[0]) + "': ";
      if (!(n >= 1 && whole(n))) throw error(group + "n must be a whole number >= 1 (below 2^53)");
      cross.data.n.push_back(n);
      for (std::size_t a = 0; a < w; ++a) {
        cross.data.mean.push_back(number_field(f[2 + 2 * a], columns[2 + 2 * a].c_str()));
        cross.data.mean_lo.push_back(number_field(f[3 + 2 * a], columns[3 + 2 * a].c_str()));
      }
      const std::size_t at = cross.data.comoment.size();
      cross.data.comoment.resize(at + w * w);
      for (std::size_t a = 0, c = 2 + 2 * w; a < w; ++a)
        for (std::size_t b = 0; b <= a; ++b, ++c) {
          const double v = number_field(f[c], columns[c].c_str());
          if (a == b && !(v >= 0)) throw error(group + columns[c] + " (a sum of squared deviations) must be >= 0");
          if (n == 1 && v != 0) throw error(group + columns[c] + " must be 0 for a group of one row (n = 1)");
          cross.data.comoment[at + a * w + b] = cross.data.comoment[at + b * w + a] = v;
        }
    } else if (set <= 1) {
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
  if (!names.empty()) {
    // One part merged alone: the raw reader's key order (a key on two rows is an error), each
    // group's numbers as they are.
    out.family = summary_family::covariates;
    cross.keys = std::move(keys);
    cross.value = names.back();
    names.pop_back();
    cross.data.covariates = names;
    cross.data.width = names.size() + 1;
    cross.data.groups = cross.keys.size();
    if (cross.keys.empty()) return out;
    try {
      std::vector<cross_product_table> one;
      one.push_back(std::move(cross));
      cross = merge_cross_product_tables(std::move(one));
    } catch (const error& e) {
      throw error("'" + shown(path) + "': " + e.what());
    }
    return out;
  }
  out.family = set <= 1 ? summary_family::normal : set == 2 ? summary_family::binomial : summary_family::poisson;
  // The raw reader's key order (and a key on two rows is an error).
  std::optional<merged_keys> merged;
  try {
    merged.emplace(std::vector<key_view>{keys});
  } catch (const error& e) {
    throw error("'" + shown(path) + "': " + e.what());
  }
  std::vector<std::int32_t> order;
  for (const part_row& r : merged->rows) order.push_back(static_cast<std::int32_t>(r.row));
  if (out.family == summary_family::normal) {
    std::uint64_t rows = 0;
    for (const group_accumulator& a : acc) rows += static_cast<std::uint64_t>(a.n);
    std::vector<std::int64_t> integer_keys;
    std::vector<std::string> text_keys;
    for (const part_row& r : merged->rows) {
      if (merged->integers)
        integer_keys.push_back(r.number);
      else
        text_keys.push_back(std::move(keys[r.row]));
    }
    group_keys sorted = merged->integers ? group_keys(std::move(integer_keys)) : group_keys(std::move(text_keys));
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

std::vector<result_column> summaries_columns(const cross_product_table& t, std::vector<std::vector<double>>& storage)
{
  std::vector<std::string> names = t.data.covariates;
  names.push_back(t.value);
  const std::vector<std::string> columns = cross_product_columns(names);
  const std::size_t w = names.size(), J = t.keys.size();
  storage.assign(columns.size() - 1, std::vector<double>(J));
  for (std::size_t j = 0; j < J; ++j) {
    storage[0][j] = t.data.n[j];
    for (std::size_t a = 0, c = 1 + 2 * w; a < w; ++a) {
      storage[1 + 2 * a][j] = t.data.mean[j * w + a];
      storage[2 + 2 * a][j] = t.data.mean_lo[j * w + a];
      for (std::size_t b = 0; b <= a; ++b, ++c) storage[c][j] = t.data.comoment[j * w * w + a * w + b];
    }
  }
  std::vector<result_column> out;
  for (std::size_t c = 1; c < columns.size(); ++c) out.push_back({columns[c], storage[c - 1].data()});
  return out;
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
  if (s.family == summary_family::covariates) {
    std::vector<std::vector<double>> storage;
    return write_table_csv(out, s.cross.keys, summaries_columns(s.cross, storage), threads);
  }
  write_summaries(out, s.counts, s.family == summary_family::binomial ? count_family::binomial : count_family::poisson, threads);
}

summary_part read_raw_summaries(const raw_input& in, summary_family family, int threads)
{
  if (!in.covariates.empty()) {
    if (family != summary_family::normal && family != summary_family::covariates)
      throw error("--covariates: summaries with covariates are of --family normal");
    family = summary_family::covariates;
  } else if (!in.offset.empty()) {
    throw error("--offset is subtracted from the value of summaries with --covariates: give --covariates too");
  }
  summary_part out;
  out.family = family;
  const bool binary = !in.group_npy.empty() || !in.value_npy.empty();
  if (family == summary_family::covariates) {
    if (binary) throw error("--covariates names CSV columns: .npy raw rows hold a key and a value only");
    out.cross = read_cross_products(in.path, in.group, in.value, in.covariates, in.offset, threads, true);
    return out;
  }
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
  t.keys = key_view(rows.keys).strings();
  for (std::size_t j = 0; j < rows.n.size(); ++j) {
    const double n = static_cast<double>(rows.n[j]);
    t.counts.push_back(std::round(n * rows.exact_mean[j]));
    t.sizes.push_back(n);
  }
  return t;
}

}  // namespace shrink::io
