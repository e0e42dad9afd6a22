#include "cross_product_fold.hpp"

#include "../common/cross_products.hpp"
#include "../cpu/parallel.hpp"
#include "decimal.hpp"
#include "table_reader.hpp"

#include <shrink/error.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <deque>
#include <string_view>
#include <numeric>
#include <unordered_map>

namespace shrink::io {
namespace {

/// An integer key in plain digits (an optional sign), for the numeric order of keys.
bool integer_key(const std::string& k, long long& out)
{
  const char* b = k.data() + (!k.empty() && k[0] == '+' ? 1 : 0);
  const auto [end, ec] = std::from_chars(b, k.data() + k.size(), out);
  return ec == std::errc() && end == k.data() + k.size() && b != end;
}

/// A key in canonical digits (no sign, no leading zero) below 2^24: looked up in a direct table.
bool small_canonical_integer(std::string_view k, std::size_t& out)
{
  if (k.empty() || k.size() > 8 || (k[0] == '0' && k.size() > 1)) return false;
  std::size_t v = 0;
  for (char c : k) {
    if (c < '0' || c > '9') return false;
    v = 10 * v + static_cast<std::size_t>(c - '0');
  }
  out = v;
  return v < (std::size_t{1} << 24);
}

/// Group ids of the keys met in row order. Keys are looked up by their view into the row (no
/// string per row); each new key is kept in a deque (its strings never move) and indexed by a view
/// of that copy. Small integer keys (the common case) skip the hash table: id + 1 at the key's index.
class key_ids {
 public:
  /// The key's id; a new key gets the next one.
  std::size_t id(std::string_view key)
  {
    if (key.empty()) throw error("has an empty group key");
    std::size_t small = 0;
    const bool is_small = small_canonical_integer(key, small);
    if (is_small && small < direct_.size() && direct_[small] != 0) return direct_[small] - 1;
    if (!is_small) {
      const auto it = ids_.find(key);
      if (it != ids_.end()) return it->second;
    }
    const std::size_t j = keys_.size();
    keys_.emplace_back(key);
    if (is_small) {
      if (small >= direct_.size()) direct_.resize(std::max(2 * direct_.size(), small + 1), 0);
      direct_[small] = static_cast<std::uint32_t>(j + 1);
    } else {
      ids_.emplace(keys_.back(), j);
    }
    return j;
  }

  const std::string& key(std::size_t j) const { return keys_[j]; }
  std::size_t size() const { return keys_.size(); }

  /// Ids in key order: numerically when every key is an integer (as the plain raw fit sorts).
  std::vector<std::size_t> sorted() const
  {
    if (keys_.empty()) throw error("no data rows: the input has only a header");
    std::vector<long long> numeric(keys_.size());
    bool all_integer = true;
    for (std::size_t j = 0; j < keys_.size() && all_integer; ++j) all_integer = integer_key(keys_[j], numeric[j]);
    std::vector<std::size_t> order(keys_.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return all_integer ? numeric[a] < numeric[b] : keys_[a] < keys_[b];
    });
    return order;
  }

 private:
  std::unordered_map<std::string_view, std::size_t> ids_;
  std::deque<std::string> keys_;
  std::vector<std::uint32_t> direct_;
};

/// Field `c` of a row as a number (about 32 digits: hi + lo); a one-line error names the column.
exact_number number_field(const std::vector<std::string_view>& f, std::size_t c, const std::vector<std::string>& columns)
{
  exact_number v;
  if (!parse_number(f[c], v))
    throw error("column '" + shown(columns[c]) + "': '" + shown(f[c]) + "' " +
                (f[c].empty() ? "is empty" : number_problem(f[c])));
  return v;
}

}  // namespace

cross_product_table read_cross_products(const std::string& path, const std::string& group, const std::string& value,
                                        const std::vector<std::string>& covariates, const std::string& offset,
                                        int threads)
{
  const int workers = detail::thread_count(threads);
  std::vector<std::string> columns{group, value};
  columns.insert(columns.end(), covariates.begin(), covariates.end());
  if (!offset.empty()) columns.push_back(offset);
  const std::size_t w = covariates.size() + 1;  // covariates, then y
  const std::size_t stride = columns.size() - 1;  // numbers per row: y, covariates, offset

  key_ids ids;
  // Each group's n, mean and co-moments side by side (three cache lines at q = 3, not five).
  const std::size_t stride_g = 1 + w + w * w;
  std::vector<double> state;
  std::vector<std::size_t> row_group;
  visit_keyed_rows(path, columns, workers, [&](const std::vector<keyed_rows>& pieces) {
    // Group ids in row order (serial: new groups are numbered as they first appear) ...
    row_group.clear();
    for (const keyed_rows& piece : pieces)
      for (std::string_view k : piece.keys) row_group.push_back(ids.id(k));
    state.resize(ids.size() * stride_g, 0.0);
    // ... then folded, the threads splitting the groups (never a group's rows): each group's rows
    // in input order whatever the thread count, so the same bits for any --threads. Groups come
    // in random order: the state of a row some rows ahead is prefetched.
    const auto owners = static_cast<std::size_t>(workers);
    constexpr std::size_t ahead = 16;
    detail::run_workers(workers, [&](int t) {
      std::vector<double> z(w), delta(w);
      std::size_t r = 0;
      for (const keyed_rows& piece : pieces)
        for (std::size_t i = 0; i < piece.keys.size(); ++i, ++r) {
          if (r + ahead < row_group.size() && row_group[r + ahead] % owners == static_cast<std::size_t>(t)) {
            const char* next = reinterpret_cast<const char*>(&state[row_group[r + ahead] * stride_g]);
            for (std::size_t b = 0; b < stride_g * sizeof(double); b += 64) __builtin_prefetch(next + b, 1);
          }
          const std::size_t j = row_group[r];
          if (j % owners != static_cast<std::size_t>(t)) continue;
          const double* x = &piece.numbers[i * stride];
          for (std::size_t a = 0; a + 1 < w; ++a) z[a] = x[1 + a];
          z[w - 1] = x[0] - (offset.empty() ? 0.0 : x[stride - 1]);
          double* g = &state[j * stride_g];
          detail::cross_product_update(g[0], g + 1, g + 1 + w, z.data(), delta.data(), w);
        }
    });
  });

  cross_product_table t;
  t.data.covariates = covariates;
  t.data.groups = ids.size();
  t.data.width = w;
  for (std::size_t j : ids.sorted()) {
    t.keys.push_back(ids.key(j));
    const double* g = &state[j * stride_g];
    t.data.n.push_back(g[0]);
    t.data.mean.insert(t.data.mean.end(), g + 1, g + 1 + w);
    t.data.comoment.insert(t.data.comoment.end(), g + 1 + w, g + stride_g);
  }
  return t;
}

count_table read_count_rows(const std::string& path, const std::string& group, const std::string& value,
                            const std::string& exposure, bool allow_empty)
{
  const std::vector<std::string> columns{group, value, exposure};
  constexpr double exact_limit = 9007199254740992.0;  // 2^53: doubles hold every count below it
  key_ids ids;
  std::vector<double> counts, exposures;
  visit_rows(path, columns, [&](const std::vector<std::string_view>& f, std::size_t) {
    const std::size_t j = ids.id(f[0]);
    const exact_number y = number_field(f, 1, columns), e = number_field(f, 2, columns);
    if (j == counts.size()) {
      counts.push_back(0);
      exposures.push_back(0);
    }
    const auto group_says = [&] { return "group '" + shown(f[0]) + "' has the "; };
    if (!(y.lo == 0 && y.hi >= 0 && y.hi < exact_limit && y.hi == std::floor(y.hi)))
      throw error(group_says() + shown(value) + " value " + shown(f[1]) +
                  ": raw rows of --family poisson are counts, whole numbers >= 0 (below 2^53)");
    if (!(e.hi > 0)) throw error(group_says() + shown(exposure) + " value " + shown(f[2]) + ": exposures must be > 0");
    // Sums in row order: the same bits for any thread count (one reader), exact for the counts.
    counts[j] += y.hi;
    exposures[j] += e.hi;
    if (!(counts[j] < exact_limit)) throw error(group_says() + "a total " + shown(value) + " of 2^53 or more");
    if (!std::isfinite(exposures[j])) throw error(group_says() + "a total " + shown(exposure) + " beyond double precision");
  });

  count_table t;
  if (ids.size() == 0 && allow_empty) return t;
  for (std::size_t j : ids.sorted()) {
    t.keys.push_back(ids.key(j));
    t.counts.push_back(counts[j]);
    t.sizes.push_back(exposures[j]);
  }
  return t;
}

}  // namespace shrink::io
