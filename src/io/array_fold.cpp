#include "array_fold.hpp"

#include "../cpu/parallel.hpp"

#include <shrink/error.hpp>

#include <algorithm>
#include <cmath>
#include <string_view>

namespace shrink::io {
namespace {

template <class T>
void copy_ints(const void* from, std::size_t first, std::size_t n, std::int64_t* to)
{
  const T* p = static_cast<const T*>(from) + first;
  for (std::size_t i = 0; i < n; ++i) to[i] = p[i];
}

/// Integers `first` .. `first + n` of a column of `bytes`-wide integers, widened to int64.
void copy_ints(const void* from, int bytes, std::size_t first, std::size_t n, std::int64_t* to)
{
  switch (bytes) {
    case 1: return copy_ints<std::int8_t>(from, first, n, to);
    case 2: return copy_ints<std::int16_t>(from, first, n, to);
    case 4: return copy_ints<std::int32_t>(from, first, n, to);
    default: return copy_ints<std::int64_t>(from, first, n, to);
  }
}

std::string_view text_at(const key_array& k, std::int64_t i)
{
  const auto at = [&](std::int64_t r) {
    return k.offset_bytes == 4 ? static_cast<std::int64_t>(static_cast<const std::int32_t*>(k.offsets)[r])
                               : static_cast<const std::int64_t*>(k.offsets)[r];
  };
  const std::int64_t begin = at(i);
  return {k.text + begin, static_cast<std::size_t>(at(i + 1) - begin)};
}

bool is_text(const key_array& k) { return (k.dictionary != nullptr ? k.dictionary->offsets : k.offsets) != nullptr; }

error non_finite_value(const std::string& value_name, std::uint64_t row, double x)
{
  return error(value_name + ": row " + std::to_string(row) + " (0-based): " + (std::isnan(x) ? "NaN" : x > 0 ? "inf" : "-inf") +
               " is not a finite number");
}

error no_rows(const std::string& value_name) { return error("no data rows: " + value_name + " is empty"); }

}  // namespace

array_fold::array_fold(int threads, std::string value_name, value_kind kind)
  : workers_(detail::thread_count(threads)), value_name_(std::move(value_name)), kind_(kind), fold_(workers_)
{
}

void array_fold::add(const key_array& keys, const value_array& values, std::size_t rows)
{
  const bool text = is_text(keys);
  if (key_text_ == -1) {
    key_text_ = text ? 1 : 0;
    if (text) fold_.switch_to_text_keys();
  } else if (key_text_ != (text ? 1 : 0)) {
    throw error("group keys mix integers and text: give keys of one type");
  }
  // Pieces of 2^18 rows, 16 at a time, converted in parallel, then folded in row order.
  constexpr std::size_t piece = std::size_t{1} << 18, pieces_per_step = 16;
  std::vector<std::size_t> first_bad;
  std::vector<char> bad_key;  // whether a piece's first bad row lacks its key (else its value is bad)
  for (std::size_t start = 0; start < rows; start += piece * pieces_per_step) {
    const std::size_t step_end = std::min(rows, start + piece * pieces_per_step);
    const std::size_t count = (step_end - start + piece - 1) / piece;
    parts_.resize(count);
    first_bad.assign(count, rows);
    bad_key.assign(count, 0);
    detail::for_each_block(count, 1, workers_, [&](std::size_t p, std::size_t, std::size_t) {
      const std::size_t b0 = start + p * piece, m = std::min(step_end, b0 + piece) - b0;
      row_block& r = parts_[p];
      r.hi.resize(m);
      r.lo.assign(m, 0.0);
      if (values.float32)
        std::copy_n(static_cast<const float*>(values.data) + b0, m, r.hi.data());
      else
        std::copy_n(static_cast<const double*>(values.data) + b0, m, r.hi.data());
      // Dictionary codes first become integers; a code outside the dictionary (a missing key,
      // pandas' -1) is a bad row.
      r.int_keys.resize(text && keys.dictionary == nullptr ? 0 : m);
      if (!r.int_keys.empty()) copy_ints(keys.ints, keys.int_bytes, b0, m, r.int_keys.data());
      std::size_t bad = m;
      if (keys.dictionary != nullptr) {
        const auto size = static_cast<std::int64_t>(keys.dictionary_size);
        for (std::size_t i = 0; i < m && bad == m; ++i)
          if (r.int_keys[i] < 0 || r.int_keys[i] >= size) bad = i;
        if (bad < m) bad_key[p] = 1;
        if (bad == m && !text) {
          const auto* dictionary = static_cast<const std::int64_t*>(keys.dictionary->ints);
          for (std::size_t i = 0; i < m; ++i) r.int_keys[i] = dictionary[r.int_keys[i]];
        }
      }
      r.text_keys.resize(text ? m : 0);
      if (text && bad == m)
        for (std::size_t i = 0; i < m; ++i)
          r.text_keys[i] = keys.dictionary != nullptr ? text_at(*keys.dictionary, r.int_keys[i])
                                                      : text_at(keys, static_cast<std::int64_t>(b0 + i));
      // NaN and infinities are refused (a single one would make its group and every pooled
      // quantity NaN); the first bad row is reported, whatever the threads.
      for (std::size_t i = 0; i < std::min(bad, m); ++i)
        if (!std::isfinite(r.hi[i])) {
          bad = i;
          break;
        }
      if (bad < m) first_bad[p] = b0 + bad;
    });
    const auto bad = std::find_if(first_bad.begin(), first_bad.end(), [rows](std::size_t i) { return i != rows; });
    if (bad != first_bad.end()) {
      if (bad_key[static_cast<std::size_t>(bad - first_bad.begin())])
        throw error("group keys: row " + std::to_string(rows_ + *bad) + " (0-based) has no key (a missing value)");
      const double x = values.float32 ? static_cast<const float*>(values.data)[*bad] : static_cast<const double*>(values.data)[*bad];
      throw non_finite_value(value_name_, rows_ + *bad, x);
    }
    check_values(parts_, value_name_, kind_, text);
    fold_.fold(parts_);
  }
  rows_ += rows;
}

group_table array_fold::finish()
{
  if (fold_.groups() == 0) throw no_rows(value_name_);
  return fold_.finish(value_name_);
}

group_table fold_device_rows(const detail::device_column& keys, const detail::device_column& values, std::size_t rows,
                             const std::string& value_name, int threads, std::size_t chunk_rows)
{
  detail::device_groups g = detail::fold_device_columns(keys, values, rows, chunk_rows);
  if (g.first_non_finite >= 0) throw non_finite_value(value_name, static_cast<std::uint64_t>(g.first_non_finite), g.non_finite_value);
  if (g.keys.empty()) throw no_rows(value_name);
  // What group_fold keeps per group: each value is one double (no low part), as array_fold reads it.
  std::vector<group_accumulator> acc(g.keys.size());
  for (std::size_t j = 0; j < acc.size(); ++j) {
    acc[j].n = static_cast<std::int64_t>(g.d[j].weight);
    acc[j].shift_hi = g.shift[j];
    acc[j].d = g.d[j];
  }
  return tabulate_groups(group_keys(std::move(g.keys)), acc.data(), nullptr, rows, value_name, detail::thread_count(threads));
}

}  // namespace shrink::io
