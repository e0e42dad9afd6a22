#include "cross_product_fold.hpp"

#include "../api/cross_reduce.hpp"
#include "../common/cross_products.hpp"
#include "../cpu/parallel.hpp"
#include "decimal.hpp"
#include "output.hpp"
#include "table_reader.hpp"
#include "text_source.hpp"

#include <shrink/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <deque>
#include <string_view>
#include <numeric>
#include <unordered_map>

namespace shrink::io {
namespace {

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

  /// Ids in key order: numerically when every key is a canonical integer (parse_int_key), else
  /// bytewise, as the plain raw fit sorts.
  std::vector<std::size_t> sorted() const
  {
    if (keys_.empty()) throw error("no data rows: the input has only a header");
    if (ids_.empty() && direct_.size() <= 16 * keys_.size() + 4096) {
      // Every key a small canonical integer: their numeric order is the direct table's (no sort).
      std::vector<std::size_t> order;
      order.reserve(keys_.size());
      for (std::uint32_t id : direct_)
        if (id != 0) order.push_back(id - 1);
      return order;
    }
    std::vector<std::int64_t> numeric(keys_.size());
    bool all_integer = true;
    for (std::size_t j = 0; j < keys_.size() && all_integer; ++j) all_integer = parse_int_key(keys_[j], numeric[j]);
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

/// Whether a field is text, not a number (nor a malformed one: those stay errors of the number path).
bool is_text(std::string_view f)
{
  exact_number v;
  return !f.empty() && !parse_number(f, v) && std::strcmp(number_problem(f), "is not a number") == 0;
}

/// The table of the groups in key order from each group's state (n, shift, means, co-moments of
/// width w); no groups is an error unless `allow_empty`. The groups are copied on `threads`
/// threads (0: all): in key order the states are read at random, so the copy waits on memory.
cross_product_table assemble(const key_ids& ids, const std::vector<double>& state, std::vector<std::string> names,
                             std::string value, bool allow_empty, int threads = 1)
{
  const std::size_t w = names.size() + 1, stride_g = 1 + 2 * w + w * w;
  cross_product_table t;
  t.data.covariates = std::move(names);
  t.data.groups = ids.size();
  t.data.width = w;
  t.value = std::move(value);
  if (ids.size() == 0 && allow_empty) return t;
  const std::vector<std::size_t> order = ids.sorted();
  const std::size_t groups = order.size();
  t.keys.resize(groups);
  t.data.n.resize(groups);
  t.data.mean.resize(groups * w);
  t.data.mean_lo.resize(groups * w);
  t.data.comoment.resize(groups * w * w);
  detail::for_each_block(groups, detail::reduce_block, detail::thread_count(threads), [&](std::size_t first, std::size_t last, std::size_t) {
    for (std::size_t i = first; i < last; ++i) {
      const std::size_t j = order[i];
      t.keys[i] = ids.key(j);
      const double* g = &state[j * stride_g];
      t.data.n[i] = g[0];
      for (std::size_t a = 0; a < w; ++a) add_shift(g[1 + a], 0.0, g[1 + w + a], t.data.mean[i * w + a], t.data.mean_lo[i * w + a]);
      std::copy(g + 1 + 2 * w, g + stride_g, &t.data.comoment[i * w * w]);
    }
  });
  return t;
}

/// Rows one at a time (the factor reader's), handed to a folder in batches: each group's rows in
/// input order, as the numeric reader folds them.
class row_sink {
 public:
  row_sink(std::size_t w, backend use) : w_(w), folder_(detail::make_cross_folder(use, w, 0)) {}

  void add(std::size_t j, std::size_t groups, const double* z)
  {
    ids_.push_back(static_cast<std::uint32_t>(j));
    z_.insert(z_.end(), z, z + w_);
    if (ids_.size() == batch_rows) flush(groups);
  }

  /// Each group's statistics (the sink is spent).
  std::vector<double> state(std::size_t groups)
  {
    flush(groups);
    return folder_->state();
  }

 private:
  static constexpr std::size_t batch_rows = std::size_t{1} << 16;

  void flush(std::size_t groups)
  {
    folder_->fold(ids_.data(), z_.data(), ids_.size(), groups);
    ids_.clear();
    z_.clear();
  }

  std::size_t w_;
  std::unique_ptr<detail::cross_folder> folder_;
  std::vector<double> z_;
  std::vector<std::uint32_t> ids_;
};

/// Raw rows where some covariates are factors (`factor[c]`): a first pass collects each factor's
/// levels, a second folds the rows (one thread, in row order) with treatment contrasts against the
/// first level in sorted (byte) order, as summary mode and R do: column NAME + level for the others.
cross_product_table read_with_factors(const std::string& path, const std::vector<std::string>& columns,
                                      const std::vector<std::string>& covariates, const std::vector<bool>& factor,
                                      bool with_offset, std::string value, backend use)
{
  const std::size_t q = covariates.size();
  std::vector<std::set<std::string, std::less<>>> levels(q);
  visit_rows(path, columns, [&](const std::vector<std::string_view>& f, std::size_t) {
    for (std::size_t c = 0; c < q; ++c)
      if (factor[c]) {
        if (f[2 + c].empty()) throw error("column '" + shown(columns[2 + c]) + "': the covariate is empty");
        if (levels[c].find(f[2 + c]) == levels[c].end()) levels[c].emplace(f[2 + c]);
      }
  });
  // Each covariate's first design column, and each kept level's column (the baseline has none).
  std::vector<std::string> names;
  std::vector<std::size_t> first(q);
  std::vector<std::map<std::string, std::size_t, std::less<>>> level_column(q);
  for (std::size_t c = 0; c < q; ++c) {
    first[c] = names.size();
    if (!factor[c]) {
      names.push_back(covariates[c]);
      continue;
    }
    if (levels[c].size() < 2)
      throw error("covariate '" + shown(covariates[c]) + "' is constant (every row has level '" + shown(*levels[c].begin()) +
                  "'): drop it");
    for (auto level = std::next(levels[c].begin()); level != levels[c].end(); ++level) {
      level_column[c][*level] = names.size();
      names.push_back(covariates[c] + *level);
    }
  }
  const std::size_t w = names.size() + 1;
  key_ids ids;
  row_sink sink(w, use);
  std::vector<double> z(w);
  visit_rows(path, columns, [&](const std::vector<std::string_view>& f, std::size_t) {
    const std::size_t j = ids.id(f[0]);
    std::fill(z.begin(), z.end(), 0.0);
    for (std::size_t c = 0; c < q; ++c) {
      if (!factor[c]) {
        z[first[c]] = number_field(f, 2 + c, columns).hi;
        continue;
      }
      const auto it = level_column[c].find(f[2 + c]);
      if (it != level_column[c].end()) z[it->second] = 1;
    }
    z[w - 1] = number_field(f, 1, columns).hi - (with_offset ? number_field(f, columns.size() - 1, columns).hi : 0.0);
    sink.add(j, ids.size(), z.data());
  });
  return assemble(ids, sink.state(ids.size()), names, std::move(value), false);
}

}  // namespace

cross_product_table read_cross_products(const std::string& path, const std::string& group, const std::string& value,
                                        const std::vector<std::string>& covariates, const std::string& offset,
                                        int threads, bool part, backend use)
{
  SHRINK_EXPECTS(use != backend::automatic, "internal: resolve the backend before reading");
  const int workers = detail::thread_count(threads);
  std::vector<std::string> columns{group, value};
  columns.insert(columns.end(), covariates.begin(), covariates.end());
  if (!offset.empty()) columns.push_back(offset);
  const std::string value_name = offset.empty() ? value : value + "-" + offset;
  // A covariate whose first field is text is a factor, read by the two-pass path (stdin copied to
  // a temporary file for it); numeric covariates take the parallel one-pass fold.
  if (!covariates.empty()) {
    const std::vector<std::string> first = first_row(path, columns);
    std::vector<bool> factor(covariates.size(), false);
    for (std::size_t c = 0; c < covariates.size() && !first.empty(); ++c) factor[c] = is_text(first[2 + c]);
    const auto first_factor = std::find(factor.begin(), factor.end(), true);
    if (first_factor != factor.end() && part)
      throw error("covariate '" + shown(covariates[static_cast<std::size_t>(first_factor - factor.begin())]) +
                  "' is text (a factor): summaries hold numeric covariates only, as a part does not know the other parts' "
                  "levels; give the factor as 0/1 columns, one per level but the first");
    if (first_factor != factor.end()) {
      if (path == "-") stdin_input::spool();
      return read_with_factors(path, columns, covariates, factor, !offset.empty(), value_name, use);
    }
  }
  const std::size_t w = covariates.size() + 1;  // covariates, then y
  const std::size_t stride = columns.size() - 1;  // numbers per row: y, covariates, offset

  key_ids ids;
  const std::unique_ptr<detail::cross_folder> folder = detail::make_cross_folder(use, w, threads);
  std::vector<std::uint32_t> row_group;
  uninitialized_vector<double> z;  // every entry written before it is read
  std::vector<std::size_t> first_row;
  visit_keyed_rows(path, columns, workers, [&](const std::vector<keyed_rows>& pieces) {
    // Group ids in row order (serial: new groups are numbered as they first appear) ...
    row_group.clear();
    first_row.clear();
    for (const keyed_rows& piece : pieces) {
      first_row.push_back(row_group.size());
      for (std::string_view k : piece.keys) row_group.push_back(static_cast<std::uint32_t>(ids.id(k)));
    }
    // ... each row's z (the pieces in parallel), then the block folded on the backend.
    z.resize(row_group.size() * w);
    detail::for_each_block(pieces.size(), 1, workers, [&](std::size_t p, std::size_t, std::size_t) {
      const keyed_rows& piece = pieces[p];
      for (std::size_t i = 0; i < piece.keys.size(); ++i)
        detail::cross_product_row(&piece.numbers[i * stride], w, stride, !offset.empty(), &z[(first_row[p] + i) * w]);
    });
    folder->fold(row_group.data(), z.data(), row_group.size(), ids.size());
  });
  return assemble(ids, folder->state(), covariates, value_name, part, threads);
}

count_table read_count_rows(const std::string& path, const std::string& group, const std::string& value,
                            const std::string& exposure, bool allow_empty)
{
  constexpr double exact_limit = 9007199254740992.0;  // 2^53: doubles hold every count below it
  key_ids ids;
  std::vector<double> counts, exposures;
  // Parsed in parallel pieces; the sums run in row order on this thread (the same bits for any
  // thread count; exact for the counts).
  visit_keyed_rows(path, {group, value, exposure}, 0, [&](const std::vector<keyed_rows>& pieces) {
    for (std::size_t p = 0; p < pieces.size(); ++p)
      for (std::size_t i = 0; i < pieces[p].keys.size(); ++i) {
        const std::string_view key = pieces[p].keys[i];
        const double y = pieces[p].numbers[2 * i], y_low = pieces[p].lows[2 * i], e = pieces[p].numbers[2 * i + 1];
        const auto fail = [&](const std::string& what) {
          throw keyed_row_error{p, i, "group '" + shown(key) + "' has " + what};
        };
        if (!(y_low == 0 && y >= 0 && y < exact_limit && y == std::floor(y)))
          fail("the " + shown(value) + " value " + format_number(y + y_low) +
               ": raw rows of --family poisson are counts, whole numbers >= 0 (below 2^53)");
        if (!(e > 0)) fail("the " + shown(exposure) + " value " + format_number(e) + ": exposures must be > 0");
        const std::size_t j = ids.id(key);
        if (j == counts.size()) {
          counts.push_back(0);
          exposures.push_back(0);
        }
        counts[j] += y;
        exposures[j] += e;
        if (!(counts[j] < exact_limit)) fail("a total " + shown(value) + " of 2^53 or more");
        if (!std::isfinite(exposures[j])) fail("a total " + shown(exposure) + " beyond double precision");
      }
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
