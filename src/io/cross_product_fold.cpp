#include "cross_product_fold.hpp"

#include "../common/cross_products.hpp"
#include "../cpu/parallel.hpp"
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
                                        const std::vector<std::string>& covariates, const std::string& offset,
                                        int threads)
{
  const int workers = detail::thread_count(threads);
  std::vector<std::string> columns{group, value};
  columns.insert(columns.end(), covariates.begin(), covariates.end());
  if (!offset.empty()) columns.push_back(offset);
  const std::size_t w = covariates.size() + 1;  // covariates, then y
  const std::size_t stride = columns.size() - 1;  // numbers per row: y, covariates, offset

  // Keys are looked up by their view into the row (no string per row); each new key is kept in
  // `keys` (a deque: its strings never move) and indexed by a view of that copy.
  std::unordered_map<std::string_view, std::size_t> ids;
  std::deque<std::string> keys;
  // Small integer keys (the common case) skip the hash table: id + 1 at the key's index.
  std::vector<std::uint32_t> direct;
  // Each group's n, mean and co-moments side by side (three cache lines at q = 3, not five).
  const std::size_t stride_g = 1 + w + w * w;
  std::vector<double> state;
  std::vector<std::size_t> row_group;
  visit_keyed_rows(path, columns, workers, [&](const std::vector<keyed_rows>& pieces) {
    // Group ids in row order (serial: new groups are numbered as they first appear) ...
    row_group.clear();
    for (const keyed_rows& piece : pieces)
      for (std::string_view k : piece.keys) {
        std::size_t j = keys.size(), small = 0;
        const bool is_small = small_canonical_integer(k, small);
        if (is_small && small < direct.size() && direct[small] != 0) {
          j = direct[small] - 1;
        } else if (!is_small) {
          const auto it = ids.find(k);
          if (it != ids.end()) j = it->second;
        }
        if (j == keys.size()) {
          keys.emplace_back(k);
          if (is_small) {
            if (small >= direct.size()) direct.resize(std::max(2 * direct.size(), small + 1), 0);
            direct[small] = static_cast<std::uint32_t>(j + 1);
          } else {
            ids.emplace(keys.back(), j);
          }
        }
        row_group.push_back(j);
      }
    state.resize(keys.size() * stride_g, 0.0);
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
    const double* g = &state[j * stride_g];
    t.data.n.push_back(g[0]);
    t.data.mean.insert(t.data.mean.end(), g + 1, g + 1 + w);
    t.data.comoment.insert(t.data.comoment.end(), g + 1 + w, g + stride_g);
  }
  return t;
}

}  // namespace shrink::io
