#include "cross_product_fold.hpp"

#include "../common/cross_products.hpp"
#include "decimal.hpp"
#include "table_reader.hpp"

#include <shrink/error.hpp>

#include <algorithm>
#include <charconv>
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

}  // namespace

cross_product_table read_cross_products(const std::string& path, const std::string& group, const std::string& value,
                                        const std::vector<std::string>& covariates, const std::string& offset)
{
  std::vector<std::string> columns{group, value};
  columns.insert(columns.end(), covariates.begin(), covariates.end());
  if (!offset.empty()) columns.push_back(offset);
  const std::size_t w = covariates.size() + 1;  // covariates, then y

  // Keys are looked up by their view into the row (no string per row); each new key is kept in
  // `keys` (a deque: its strings never move) and indexed by a view of that copy.
  std::unordered_map<std::string_view, std::size_t> ids;
  std::deque<std::string> keys;
  // Small integer keys (the common case) skip the hash table: id + 1 at the key's index.
  std::vector<std::uint32_t> direct;
  std::vector<double> n, mean, comoment;
  std::vector<double> z(w), delta(w);
  visit_rows(path, columns, [&](const std::vector<std::string_view>& f, std::size_t) {
    if (f[0].empty()) throw error("has an empty group key");
    auto number = [&](std::size_t c) {
      exact_number v;
      if (!parse_number(f[c], v))
        throw error("column '" + columns[c] + "': '" + std::string(f[c].substr(0, 40)) + "' " +
                    (f[c].empty() ? "is empty" : number_problem(f[c])));
      return v.hi;
    };
    for (std::size_t a = 0; a + 1 < w; ++a) z[a] = number(2 + a);
    z[w - 1] = number(1) - (offset.empty() ? 0.0 : number(columns.size() - 1));
    std::size_t j = keys.size(), small = 0;
    const bool is_small = small_canonical_integer(f[0], small);
    if (is_small && small < direct.size() && direct[small] != 0) {
      j = direct[small] - 1;
    } else if (!is_small) {
      const auto it = ids.find(f[0]);
      if (it != ids.end()) j = it->second;
    }
    if (j == keys.size()) {
      keys.emplace_back(f[0]);
      if (is_small) {
        if (small >= direct.size()) direct.resize(std::max(2 * direct.size(), small + 1), 0);
        direct[small] = static_cast<std::uint32_t>(j + 1);
      } else {
        ids.emplace(keys.back(), j);
      }
      n.push_back(0);
      mean.resize(mean.size() + w, 0.0);
      comoment.resize(comoment.size() + w * w, 0.0);
    }
    detail::cross_product_update(n[j], &mean[j * w], &comoment[j * w * w], z.data(), delta.data(), w);
  });
  if (keys.empty()) throw error("no data rows: the input has only a header");

  // Groups in key order: numerically when every key is an integer (as the plain raw fit sorts).
  std::vector<long long> numeric(keys.size());
  bool all_integer = true;
  for (std::size_t j = 0; j < keys.size() && all_integer; ++j) all_integer = integer_key(keys[j], numeric[j]);
  std::vector<std::size_t> order(keys.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return all_integer ? numeric[a] < numeric[b] : keys[a] < keys[b];
  });
  cross_product_table t;
  t.data.covariates = covariates;
  t.data.groups = keys.size();
  t.data.width = w;
  for (std::size_t j : order) {
    t.keys.push_back(keys[j]);
    t.data.n.push_back(n[j]);
    t.data.mean.insert(t.data.mean.end(), mean.begin() + j * w, mean.begin() + (j + 1) * w);
    t.data.comoment.insert(t.data.comoment.end(), comoment.begin() + j * w * w, comoment.begin() + (j + 1) * w * w);
  }
  return t;
}

}  // namespace shrink::io
