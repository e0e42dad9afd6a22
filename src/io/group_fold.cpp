#include "group_fold.hpp"

#include "../cpu/parallel.hpp"
#include "decimal.hpp"

#include <shrink/error.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>

namespace shrink::io {
namespace {

constexpr std::int32_t no_id = -1;
constexpr unsigned min_bucket_shift = 13;  // see group_fold::fold

/// One row into its group: the first value becomes the shift (see group_accumulator). True for
/// a group's first row.
inline bool fold_row(group_accumulator& a, double hi, double lo)
{
  const bool first = a.n++ == 0;
  if (first) a.shift_hi = hi, a.shift_lo = lo;
  a.d.add(difference(hi, lo, a.shift_hi, a.shift_lo));
  return first;
}

/// Key minus `low`, modulo 2^64: a slot index where the key lies in the slots' span.
inline std::uint64_t slot_of(std::int64_t key, std::int64_t low)
{
  return static_cast<std::uint64_t>(key) - static_cast<std::uint64_t>(low);
}

inline std::size_t hash_of(std::int64_t key, std::size_t mask)
{
  const std::uint64_t h = static_cast<std::uint64_t>(key) * 0x9E3779B97F4A7C15ull;
  return static_cast<std::size_t>(h ^ (h >> 31)) & mask;
}

}  // namespace

std::int32_t group_fold::int_key_map::find_hashed(std::int64_t key) const
{
  const std::size_t mask = id_.size() - 1;
  for (std::size_t i = hash_of(key, mask);; i = (i + 1) & mask) {
    if (id_[i] == no_id) return no_id;
    if (slot_key_[i] == key) return id_[i];
  }
}

void group_fold::int_key_map::entries(std::vector<std::int64_t>& keys, std::vector<std::int32_t>& ids) const
{
  for (std::size_t i = 0; i < id_.size(); ++i)
    if (id_[i] != no_id) {
      keys.push_back(dense_ ? static_cast<std::int64_t>(static_cast<std::uint64_t>(low_) + i) : slot_key_[i]);
      ids.push_back(id_[i]);
    }
}

void group_fold::int_key_map::rehash(std::size_t capacity)
{
  std::vector<std::int64_t> keys;
  std::vector<std::int32_t> ids;
  entries(keys, ids);
  dense_ = false;
  id_.assign(capacity, no_id);
  slot_key_.assign(capacity, 0);
  const std::size_t mask = capacity - 1;
  for (std::size_t k = 0; k < keys.size(); ++k) {
    std::size_t i = hash_of(keys[k], mask);
    while (id_[i] != no_id) i = (i + 1) & mask;
    id_[i] = ids[k];
    slot_key_[i] = keys[k];
  }
}

void group_fold::int_key_map::make_dense(std::uint64_t size)
{
  std::vector<std::int64_t> keys;
  std::vector<std::int32_t> ids;
  entries(keys, ids);
  // Keys are taken modulo 2^64 (slot = key - low_), so a low_ that wraps past the int64 range
  // still lists the keys in order.
  const std::uint64_t span = static_cast<std::uint64_t>(max_) - static_cast<std::uint64_t>(min_) + 1;
  low_ = static_cast<std::int64_t>(static_cast<std::uint64_t>(min_) - (size - span) / 2);
  dense_ = true;
  id_.assign(static_cast<std::size_t>(size), no_id);
  slot_key_ = {};
  for (std::size_t k = 0; k < keys.size(); ++k)
    id_[static_cast<std::size_t>(static_cast<std::uint64_t>(keys[k]) - static_cast<std::uint64_t>(low_))] = ids[k];
}

void group_fold::int_key_map::insert(std::int64_t key, std::int32_t id, std::size_t groups)
{
  if (groups == 1) min_ = max_ = key;
  min_ = std::min(min_, key);
  max_ = std::max(max_, key);
  // A direct table while the keys inserted span at most a few slots per group (or 2^20), else
  // open addressing; the table is sized by the keys' span, not by a previous table's slack, so
  // keys 1..J in any order stay direct, and hashed keys become direct again once the groups fill
  // their span.
  const std::uint64_t span = static_cast<std::uint64_t>(max_) - static_cast<std::uint64_t>(min_) + 1;  // 0: all of int64
  const std::uint64_t limit = std::max<std::uint64_t>(4 * (groups + 1), std::uint64_t{1} << 20);
  const bool fits = span != 0 && span <= limit;
  if (dense_) {
    if (static_cast<std::uint64_t>(key) - static_cast<std::uint64_t>(low_) < id_.size()) {
      id_[static_cast<std::size_t>(static_cast<std::uint64_t>(key) - static_cast<std::uint64_t>(low_))] = id;
      return;
    }
    // Doubling, so a run of descending keys costs amortised O(span); the spare slots split
    // evenly, so keys widening the span on alternate sides cost O(limit log limit) at most.
    if (fits) {
      make_dense(std::min<std::uint64_t>(limit, std::max<std::uint64_t>(span, 2 * id_.size())));
      id_[static_cast<std::size_t>(static_cast<std::uint64_t>(key) - static_cast<std::uint64_t>(low_))] = id;
      return;
    }
    std::size_t capacity = 1024;
    while (capacity < 2 * (groups + 1)) capacity *= 2;
    rehash(capacity);
  } else if (2 * (groups + 1) > id_.size()) {
    if (fits) {
      make_dense(std::min<std::uint64_t>(limit, 2 * span));
      id_[static_cast<std::size_t>(static_cast<std::uint64_t>(key) - static_cast<std::uint64_t>(low_))] = id;
      return;
    }
    rehash(2 * id_.size());
  }
  const std::size_t mask = id_.size() - 1;
  std::size_t i = hash_of(key, mask);
  while (id_[i] != no_id) i = (i + 1) & mask;
  id_[i] = id;
  slot_key_[i] = key;
}

bool group_fold::int_key_map::ids_in_key_order(std::vector<std::int32_t>& order) const
{
  if (!dense_) return false;
  order.clear();
  for (const std::int32_t id : id_)
    if (id != no_id) order.push_back(id);
  return true;
}

group_fold::group_fold(int threads) : threads_(detail::thread_count(threads)) {}

bool group_fold::place_slots(const std::vector<row_block>& parts, std::size_t rows)
{
  if (rows == 0) return true;
  // The block's smallest and largest key, each part's in parallel.
  std::vector<std::pair<std::int64_t, std::int64_t>> range(parts.size());
  detail::for_each_block(parts.size(), 1, threads_, [&](std::size_t p, std::size_t, std::size_t) {
    std::int64_t lo = std::numeric_limits<std::int64_t>::max(), hi = std::numeric_limits<std::int64_t>::min();
    for (const std::int64_t k : parts[p].int_keys) {
      lo = std::min(lo, k);
      hi = std::max(hi, k);
    }
    range[p] = {lo, hi};
  });
  const bool seen = acc_.size() > 0;
  std::int64_t lo = seen ? min_ : std::numeric_limits<std::int64_t>::max();
  std::int64_t hi = seen ? max_ : std::numeric_limits<std::int64_t>::min();
  for (const auto& [l, h] : range) {
    lo = std::min(lo, l);
    hi = std::max(hi, h);
  }
  // Slots while the keys span at most about two per group (counting each row of this block as
  // a possible new group), ids beyond: the slots' memory stays within about twice the groups
  // plus a block's rows.
  const std::uint64_t span = slot_of(hi, lo) + 1;  // 0: all of int64
  const std::uint64_t limit = std::min<std::uint64_t>(2 * (groups_ + rows) + (std::uint64_t{1} << 16),
                                                      std::numeric_limits<std::int32_t>::max());
  if (span == 0 || span > limit) return false;
  const std::int64_t old_min = min_, old_max = max_;
  min_ = lo;
  max_ = hi;
  if (seen && slot_of(lo, low_) < acc_.size() && slot_of(hi, low_) < acc_.size()) return true;
  // At least doubled, so keys that widen the span a block at a time cost amortised O(span); the
  // spare slots go to the side the keys grew to (both sides: split evenly). The first layout keeps
  // a sixteenth of the span spare on each side: keys in random order reach the ends of their span
  // over a few blocks, and a block that widens it by a key would otherwise copy every slot into a
  // doubled array of fresh memory.
  const std::uint64_t size = std::min(limit, seen ? std::max<std::uint64_t>(span, 2 * acc_.size()) : span + span / 8);
  const std::uint64_t spare = size - span;
  std::uint64_t low = static_cast<std::uint64_t>(lo) - spare / 2;
  if (seen && lo == old_min) low = static_cast<std::uint64_t>(lo);
  else if (seen && hi == old_max) low = static_cast<std::uint64_t>(lo) - spare;
  const auto new_low = static_cast<std::int64_t>(low);
  if (seen)
    acc_.relayout(static_cast<std::size_t>(size), static_cast<std::size_t>(slot_of(old_min, low_)),
                  static_cast<std::size_t>(slot_of(old_max, old_min) + 1), static_cast<std::size_t>(slot_of(old_min, new_low)));
  else
    acc_.relayout(static_cast<std::size_t>(size), 0, 0, 0);
  low_ = new_low;
  return true;
}

void group_fold::leave_slots()
{
  slots_ = false;
  std::size_t id = 0;
  for (std::size_t s = 0; s < acc_.size(); ++s) {
    if (acc_[s].n == 0) continue;
    acc_[id] = acc_[s];
    const auto key = static_cast<std::int64_t>(static_cast<std::uint64_t>(low_) + s);
    int_key_of_.push_back(key);
    int_id_.insert(key, static_cast<std::int32_t>(id), id + 1);
    ++id;
  }
  acc_.truncate(id);
}

std::int32_t group_fold::add_group()
{
  if (acc_.size() == static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw error("more than 2^31-1 groups");
  acc_.emplace_back();
  return static_cast<std::int32_t>(acc_.size() - 1);
}

void group_fold::switch_to_text_keys()
{
  if (text_) return;
  if (slots_) leave_slots();
  text_ = true;
  for (const std::int64_t k : int_key_of_) {
    text_store_.push_back(std::to_string(k));
    text_key_of_.push_back(text_store_.back());
    text_id_.emplace(text_store_.back(), static_cast<std::int32_t>(text_key_of_.size() - 1));
  }
  int_key_of_ = {};
  int_id_ = {};
}

void group_fold::map_keys(std::vector<row_block>& parts)
{
  ids_.resize(parts.size());
  misses_.assign(parts.size(), 0);
  // Known keys in parallel (the maps are only read) ...
  detail::for_each_block(parts.size(), 1, threads_, [&](std::size_t p, std::size_t, std::size_t) {
    const row_block& b = parts[p];
    uninitialized_vector<std::int32_t>& out = ids_[p];
    std::size_t misses = 0;
    if (text_) {
      out.resize(b.text_keys.size());
      for (std::size_t i = 0; i < out.size(); ++i) {
        const auto it = text_id_.find(b.text_keys[i]);
        out[i] = it == text_id_.end() ? no_id : it->second;
        misses += out[i] == no_id;
      }
    } else if (slots_) {  // every key lies in the slots' span (place_slots)
      out.resize(b.int_keys.size());
      std::int32_t* const id = out.data();
      const std::int64_t* const key = b.int_keys.data();
      for (std::size_t i = 0; i < out.size(); ++i) id[i] = static_cast<std::int32_t>(slot_of(key[i], low_));
    } else {
      out.resize(b.int_keys.size());
      std::int32_t* const id = out.data();
      const std::int64_t* const key = b.int_keys.data();
      for (std::size_t i = 0; i < out.size(); ++i) {
        id[i] = int_id_.find(key[i]);
        misses += id[i] == no_id;
      }
    }
    misses_[p] = misses;
  });
  // ... then new keys in input order, so ids follow first appearance whatever the threads.
  for (std::size_t p = 0; p < parts.size(); ++p) {
    if (misses_[p] == 0) continue;
    uninitialized_vector<std::int32_t>& out = ids_[p];
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out[i] != no_id) continue;
      if (text_) {
        const auto it = text_id_.find(parts[p].text_keys[i]);
        if (it != text_id_.end()) {
          out[i] = it->second;
          continue;
        }
        out[i] = add_group();
        text_store_.emplace_back(parts[p].text_keys[i]);
        text_key_of_.push_back(text_store_.back());
        text_id_.emplace(text_store_.back(), out[i]);
      } else {
        const std::int64_t k = parts[p].int_keys[i];
        out[i] = int_id_.find(k);
        if (out[i] != no_id) continue;
        out[i] = add_group();
        int_id_.insert(k, out[i], acc_.size());
        int_key_of_.push_back(k);
      }
    }
  }
}

void group_fold::fold(std::vector<row_block>& parts)
{
  const std::size_t rows = std::accumulate(parts.begin(), parts.end(), std::size_t{0},
                                           [](std::size_t s, const row_block& b) { return s + b.hi.size(); });
  rows_ += rows;
  if (slots_ && !place_slots(parts, rows)) leave_slots();
  if (threads_ == 1 && !text_ && grouped_) return fold_one_pass(parts, rows);
  map_keys(parts);
  // Buckets of at least 2^13 groups (8,192 accumulators of 48 bytes: 384 KiB, in a core's L2),
  // at most 2^9 of them (rows scattered to more places than that outrun the caches and the TLB).
  unsigned shift = min_bucket_shift;
  while (acc_.size() > (std::size_t{512} << shift)) ++shift;
  const std::size_t buckets = (acc_.size() + (std::size_t{1} << shift) - 1) >> shift;
  grouped_ = buckets <= 1;
  if (grouped_) return fold_in_place(parts);
  // Each part's rows per bucket, and how often consecutive rows change bucket: rows already
  // grouped by key (a file written group by group) rarely do, and fold in place at cache speed.
  std::vector<std::vector<std::size_t>> counts(parts.size());
  std::vector<std::size_t> changes(parts.size());
  detail::for_each_block(parts.size(), 1, threads_, [&](std::size_t p, std::size_t, std::size_t) {
    std::vector<std::size_t>& count = counts[p];
    count.assign(buckets, 0);
    const std::int32_t* const id = ids_[p].data();
    std::size_t changed = 0, last = 0;
    for (std::size_t i = 0; i < ids_[p].size(); ++i) {
      const std::size_t b = static_cast<std::uint32_t>(id[i]) >> shift;
      ++count[b];
      changed += b != last;
      last = b;
    }
    changes[p] = changed;
  });
  grouped_ = 16 * std::accumulate(changes.begin(), changes.end(), std::size_t{0}) < rows;
  if (grouped_) return fold_in_place(parts);
  fold_in_buckets(parts, shift, counts);
}

void group_fold::fold_one_pass(const std::vector<row_block>& parts, std::size_t rows)
{
  // Each row's id (new keys in input order, as map_keys gives them) and its fold in one pass,
  // counting how often the rows change bucket of the smallest size: are they still grouped?
  std::size_t changed = 0, last = 0;
  for (const row_block& b : parts) {
    const std::int64_t* const key = b.int_keys.data();
    const double* const hi = b.hi.data();
    const double* const lo = b.lo.data();
    for (std::size_t i = 0; i < b.int_keys.size(); ++i) {
      std::int32_t id = slots_ ? static_cast<std::int32_t>(slot_of(key[i], low_)) : int_id_.find(key[i]);
      if (id == no_id) {
        id = add_group();
        int_id_.insert(key[i], id, acc_.size());
        int_key_of_.push_back(key[i]);
      }
      groups_ += fold_row(acc_[static_cast<std::uint32_t>(id)], hi[i], lo[i]);
      const std::size_t bucket = static_cast<std::uint32_t>(id) >> min_bucket_shift;
      changed += bucket != last;
      last = bucket;
    }
  }
  grouped_ = 16 * changed < rows;
}

void group_fold::fold_in_buckets(const std::vector<row_block>& parts, unsigned shift,
                                 std::vector<std::vector<std::size_t>>& counts)
{
  // Bucket b's rows start at first[b]: part 0's rows of it, then part 1's, ..., each in input
  // order, so every group's rows stay in input order. counts[p][b] becomes where part p's go.
  const std::size_t buckets = counts.empty() ? 0 : counts[0].size();
  std::vector<std::size_t> first(buckets + 1);
  std::size_t at = 0;
  for (std::size_t b = 0; b < buckets; ++b) {
    first[b] = at;
    for (auto& count : counts) at += std::exchange(count[b], at);
  }
  first[buckets] = at;
  if (bucketed_.capacity() < at) {
    // Emptied first, so the rows of the last block are not copied into the new array (all of
    // them are overwritten), and sized with room for blocks a little longer than this one.
    bucketed_ = {};
    bucketed_.reserve(at + at / 8);
  }
  bucketed_.resize(at);
  detail::for_each_block(parts.size(), 1, threads_, [&](std::size_t p, std::size_t, std::size_t) {
    std::size_t* const to = counts[p].data();
    const std::int32_t* const id = ids_[p].data();
    const double* const hi = parts[p].hi.data();
    const double* const lo = parts[p].lo.data();
    bucketed_row* const out = bucketed_.data();
    for (std::size_t i = 0; i < ids_[p].size(); ++i) out[to[static_cast<std::uint32_t>(id[i]) >> shift]++] = {hi[i], lo[i], id[i]};
  });
  // Buckets hold disjoint groups: threads take whole buckets.
  std::vector<std::size_t> fresh(buckets);  // each bucket's groups new in this block
  detail::for_each_block(buckets, 1, threads_, [&](std::size_t b, std::size_t, std::size_t) {
    // The accumulator of the row 16 ahead is fetched now, so the misses overlap instead of
    // stalling the fold one at a time (a sweep over the bucket's accumulators first left most
    // of them stalling: 8% more CPU in all).
    constexpr std::size_t ahead = 16;
    std::size_t added = 0;
    for (std::size_t k = first[b]; k < first[b + 1]; ++k) {
      if (k + ahead < first[b + 1]) __builtin_prefetch(&acc_[static_cast<std::uint32_t>(bucketed_[k + ahead].id)], 1);
      const bucketed_row& r = bucketed_[k];
      added += fold_row(acc_[static_cast<std::uint32_t>(r.id)], r.hi, r.lo);
    }
    fresh[b] = added;
  });
  groups_ += std::accumulate(fresh.begin(), fresh.end(), std::size_t{0});
}

bool group_fold::fold_in_ranges(const std::vector<row_block>& parts)
{
  // The block's rows as one sequence: part p's row i is row first[p] + i. Their ids must never
  // decrease (checked: one sequential look at each id), so a cut where the id changes leaves every
  // group's rows in one range.
  std::vector<std::size_t> first(parts.size() + 1, 0);
  std::int32_t last = std::numeric_limits<std::int32_t>::min();
  for (std::size_t p = 0; p < parts.size(); ++p) {
    first[p + 1] = first[p] + ids_[p].size();
    for (const std::int32_t id : ids_[p]) {
      if (id < last) return false;
      last = id;
    }
  }
  const std::size_t rows = first.back();
  const auto id_at = [&](std::size_t r) {
    const std::size_t p = static_cast<std::size_t>(std::upper_bound(first.begin(), first.end(), r) - first.begin()) - 1;
    return ids_[p][r - first[p]];
  };
  const auto workers = static_cast<std::size_t>(threads_);
  std::vector<std::size_t> cut(workers + 1, rows);
  cut[0] = 0;
  for (std::size_t t = 1; t < workers; ++t) {
    std::size_t r = std::max(cut[t - 1], rows / workers * t);
    while (r > 0 && r < rows && id_at(r) == id_at(r - 1)) ++r;
    cut[t] = r;
  }
  std::vector<std::size_t> fresh(workers);  // each thread's groups new in this block
  detail::for_each_block(workers, 1, threads_, [&](std::size_t t, std::size_t, std::size_t) {
    std::size_t added = 0;
    for (std::size_t p = 0; p < parts.size(); ++p) {
      const std::size_t from = std::max(cut[t], first[p]), to = std::min(cut[t + 1], first[p + 1]);
      const std::int32_t* id = ids_[p].data();
      const double* hi = parts[p].hi.data();
      const double* lo = parts[p].lo.data();
      for (std::size_t i = from - first[p]; from < to && i < to - first[p]; ++i)
        added += fold_row(acc_[static_cast<std::uint32_t>(id[i])], hi[i], lo[i]);
    }
    fresh[t] = added;
  });
  groups_ += std::accumulate(fresh.begin(), fresh.end(), std::size_t{0});
  return true;
}

void group_fold::fold_in_place(const std::vector<row_block>& parts)
{
  if (threads_ > 1 && fold_in_ranges(parts)) return;
  // Threads split the groups in stripes of 64 (no two threads write one cache line); each walks
  // all rows in input order and folds those of its own groups. Stripe s belongs to thread
  // owner[s % 256]: a table lookup, not a division per row.
  const auto workers = static_cast<std::size_t>(threads_);
  std::array<std::uint8_t, 256> owner{};
  for (std::size_t s = 0; s < owner.size(); ++s) owner[s] = static_cast<std::uint8_t>(s % std::min<std::size_t>(workers, 256));
  std::vector<std::size_t> fresh(std::min<std::size_t>(workers, 256));  // each thread's groups new in this block
  detail::for_each_block(fresh.size(), 1, threads_, [&](std::size_t t, std::size_t, std::size_t) {
    std::size_t added = 0;
    for (std::size_t p = 0; p < parts.size(); ++p) {
      const std::int32_t* id = ids_[p].data();
      const double* hi = parts[p].hi.data();
      const double* lo = parts[p].lo.data();
      const std::size_t rows = parts[p].hi.size();
      if (workers == 1) {  // every group is this thread's: the same folds, no ownership test
        for (std::size_t i = 0; i < rows; ++i) added += fold_row(acc_[static_cast<std::uint32_t>(id[i])], hi[i], lo[i]);
        continue;
      }
      for (std::size_t i = 0; i < rows; ++i) {
        const auto j = static_cast<std::uint32_t>(id[i]);
        if (owner[(j >> 6) & 255] != t) continue;
        added += fold_row(acc_[j], hi[i], lo[i]);
      }
    }
    fresh[t] = added;
  });
  groups_ += std::accumulate(fresh.begin(), fresh.end(), std::size_t{0});
}

group_table group_fold::finish(const std::string& value_name)
{
  // Groups in key order: numerically for integer keys, bytewise for text: the J accumulators from
  // `first`, or those that `order` lists (left empty where they are in key order already).
  // (Keys are unique, so the order is unique: input already in key order is not sorted again.)
  std::vector<std::int32_t> order;
  const accumulator* first = acc_.data();
  std::size_t J = acc_.size();
  if (slots_) {
    if (groups_ > 0 && groups_ == slot_of(max_, min_) + 1) {  // every slot of the keys' span has rows (keys 1..J)
      first += slot_of(min_, low_);
      J = groups_;
    } else {  // the slots with rows, in order
      order.reserve(groups_);
      for (std::size_t s = 0; s < acc_.size(); ++s)
        if (acc_[s].n != 0) order.push_back(static_cast<std::int32_t>(s));
      J = order.size();
    }
  } else if (text_) {
    if (!std::is_sorted(text_key_of_.begin(), text_key_of_.end())) {
      order.resize(J);
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) { return text_key_of_[a] < text_key_of_[b]; });
    }
  } else if (!std::is_sorted(int_key_of_.begin(), int_key_of_.end()) && !int_id_.ids_in_key_order(order)) {
    // Sorted as (key, id) pairs side by side: no key fetched from afar per comparison.
    std::vector<std::pair<std::int64_t, std::int32_t>> by_key(J);
    for (std::size_t j = 0; j < J; ++j) by_key[j] = {int_key_of_[j], static_cast<std::int32_t>(j)};
    std::sort(by_key.begin(), by_key.end());
    order.resize(J);
    for (std::size_t j = 0; j < J; ++j) order[j] = by_key[j].second;
  }
  const auto id_of = [&](std::size_t j) { return order.empty() ? j : static_cast<std::size_t>(order[j]); };

  group_keys keys;
  if (text_) {
    std::vector<std::string> text;
    text.reserve(J);
    for (std::size_t j = 0; j < J; ++j) text.emplace_back(text_key_of_[id_of(j)]);
    keys = group_keys(std::move(text));
  } else {
    // Slot mode: the key of the accumulator `id` after `first`.
    const std::uint64_t key_of_first = static_cast<std::uint64_t>(low_) + static_cast<std::uint64_t>(first - acc_.data());
    std::vector<std::int64_t> integers;
    integers.reserve(J);
    for (std::size_t j = 0; j < J; ++j)
      integers.push_back(slots_ ? static_cast<std::int64_t>(key_of_first + id_of(j)) : int_key_of_[id_of(j)]);
    keys = group_keys(std::move(integers));
  }
  group_table t = tabulate_groups(std::move(keys), first, order.empty() ? nullptr : order.data(), rows_, value_name, threads_);
  acc_.release();
  return t;
}

group_table tabulate_groups(group_keys&& keys, const group_accumulator* acc, const std::int32_t* order,
                            std::uint64_t rows, const std::string& value_name, int threads)
{
  const std::size_t J = keys.size();
  group_table t;
  t.rows = rows;
  t.keys = std::move(keys);
  // Filled by push_back, not resized first: no zero-filling of what is about to be written. `mean`
  // holds each exact mean's low part until it is rebased over it: four columns of fresh memory.
  t.n.reserve(J);
  t.m2.reserve(J);
  t.exact_mean.reserve(J);
  t.mean.reserve(J);
  for (std::size_t j = 0; j < J; ++j) {
    const group_accumulator& a = acc[order != nullptr ? static_cast<std::size_t>(order[j]) : j];
    t.n.push_back(a.n);
    t.m2.push_back(a.d.m2);
    // ybar_j = shift + mean of the differences, as hi + lo: the exact mean to the last bit.
    double hi, lo;
    add_shift(a.shift_hi, a.shift_lo, a.d.mean, hi, lo);
    t.exact_mean.push_back(hi);
    t.mean.push_back(lo);
    if (!std::isfinite(t.exact_mean[j]) || !std::isfinite(t.m2[j]))
      throw error("column '" + value_name + "': group '" + t.keys[j] +
                  "': its mean or sum of squares overflows double (values too large in magnitude)");
  }
  // The fit works relative to an offset among the bulk of the group means (see decimal.hpp).
  t.offset = rebase_offset(t.exact_mean.data(), J, threads);
  if (!rebase(t.exact_mean.data(), t.mean.data(), t.mean.data(), J, t.offset, threads))
    throw error("column '" + value_name + "': the group means are too far apart: their differences overflow double");
  return t;
}

}  // namespace shrink::io
