#pragma once
// Raw rows folded into one summary per group as they are read, so a fit of any number of rows
// holds O(groups) memory: the streaming half of the reader (table_reader.cpp cuts and parses the
// text; this file maps keys to groups and accumulates).
//
// Each group keeps the first value it sees as its shift (hi + lo, ~32 digits) and Welford's
// running mean and sum of squares of the differences from it, so a group's mean keeps every digit
// whatever the other groups hold. Rows are folded in input order within each group (threads split
// the groups, never a group's rows), so the result is bitwise the same for any thread count.
//
// Many groups in random key order: each row would be a cache miss on its group's accumulator, so a
// block's rows are first moved, stably, into buckets of 2^13 or more consecutive group ids (a
// counting sort on the id's high bits) and each bucket is folded with its accumulators in cache.
// A group's rows keep their input order, so the bits are those of the row-by-row fold.
//
// Integer keys that fill their span (the usual 1..J) need no map at all: group `key` is slot
// key - low of the accumulators (an empty slot, n == 0, is a key not seen), so a row's group is a
// subtraction and the table comes out in key order without a permutation. Keys too sparse for
// that take group ids in order of first appearance and a key -> id map.

#include "../common/moments.hpp"
#include "group_keys.hpp"
#include "huge_pages.hpp"

#include <shrink/fit.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <memory>
#include <new>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace shrink::io {

/// Raw observations folded into one summary per group; ids follow the sorted keys (numerically
/// for integer keys, bytewise for text).
struct group_table {
  group_keys keys;
  std::vector<std::int64_t> n;
  std::vector<double> mean;        ///< ybar_j relative to `offset`
  std::vector<double> m2;          ///< sum of squared deviations from ybar_j
  std::vector<double> exact_mean;  ///< ybar_j itself, to the last bit
  double offset = 0;
  std::uint64_t rows = 0;

  grouped_data_view view() const
  {
    return {n.data(), mean.data(), m2.data(), n.size(), offset, exact_mean.data()};
  }
};

/// std::allocator whose resize() leaves new numbers uninitialised: arrays that are about to be
/// overwritten row by row (block after block) are not zero-filled first.
template <class T>
struct uninitialized_allocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = uninitialized_allocator<U>;
  };
  uninitialized_allocator() = default;
  template <class U>
  uninitialized_allocator(const uninitialized_allocator<U>&) noexcept
  {
  }
  template <class U>
  void construct(U* p) noexcept
  {
    ::new (static_cast<void*>(p)) U;  // default-initialised: no zeros for a number
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args)
  {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
template <class T>
using uninitialized_vector = std::vector<T, uninitialized_allocator<T>>;

/// One group's rows so far: its first value as a shift (hi + lo, ~32 digits) and Welford's
/// moments of the differences from it. Two of one group (the same key in two parts) merge by
/// Chan's formula once both are taken relative to one shift (summaries.cpp).
struct group_accumulator {
  std::int64_t n = 0;
  double shift_hi = 0, shift_lo = 0;
  detail::moments d;  // of value - shift
};

/// The table of the groups `acc[order[j]]` (order null: `acc[j]`) named `keys[j]`: each mean as
/// shift + the mean of the differences, to the last bit, then all of them relative to one offset
/// among the bulk of the means. Throws shrink::error (naming `value_name`) on overflow.
group_table tabulate_groups(group_keys&& keys, const group_accumulator* acc, const std::int32_t* order,
                            std::uint64_t rows, const std::string& value_name, int threads);

/// Rows of one block of input, in input order: integer keys or text keys (views that stay valid
/// until the block is folded), and each value as hi + lo.
struct row_block {
  uninitialized_vector<std::int64_t> int_keys;
  std::vector<std::string_view> text_keys;
  uninitialized_vector<double> hi, lo;
};

class group_fold {
 public:
  explicit group_fold(int threads);

  bool text_keys() const { return text_; }
  /// From now on keys are text: the integer keys seen so far become their decimal text (as read).
  void switch_to_text_keys();

  /// Folds the rows of `parts` (in order: part 0's rows first). Integer parts while keys are
  /// integers, text parts after switch_to_text_keys().
  void fold(std::vector<row_block>& parts);

  /// The table, groups in key order; throws shrink::error when a mean or sum of squares
  /// overflows double.
  group_table finish(const std::string& value_name);

  std::size_t groups() const { return groups_; }

 private:
  using accumulator = group_accumulator;

  /// Slot mode: widens the slots to the keys of `parts` (`rows` rows); false where they would
  /// be too sparse (then the caller leaves slot mode).
  bool place_slots(const std::vector<row_block>& parts, std::size_t rows);
  /// From slot mode to ids and a key -> id map: the groups seen get ids in key order.
  void leave_slots();
  std::int32_t add_group();
  void map_keys(std::vector<row_block>& parts);
  /// One thread, rows grouped by key so far: each row's id and its fold in one pass (`rows` in all).
  void fold_one_pass(const std::vector<row_block>& parts, std::size_t rows);
  /// Folds the rows of `parts` (their ids in ids_) straight into the accumulators, threads taking
  /// stripes of groups: for few groups, or rows already grouped.
  void fold_in_place(const std::vector<row_block>& parts);
  /// fold_in_place's folds where the ids never decrease (rows in key order): each thread takes one
  /// contiguous range of rows, cut where the id changes; false (nothing folded) where an id decreases.
  bool fold_in_ranges(const std::vector<row_block>& parts);
  /// The same folds, the rows first moved into buckets of 2^`shift` consecutive ids; `counts`:
  /// each part's rows in each bucket (overwritten).
  void fold_in_buckets(const std::vector<row_block>& parts, unsigned shift, std::vector<std::vector<std::size_t>>& counts);

  int threads_;
  bool text_ = false;
  bool slots_ = true;     // integer keys in slot mode: the group of key k is acc_[k - low_]
  std::int64_t low_ = 0;  // slot mode: the key of slot 0 (taken modulo 2^64, as int_key_map's)
  std::int64_t min_ = 0, max_ = 0;  // slot mode, once a row is seen: the smallest and largest key
  std::size_t groups_ = 0;          // groups with a row folded
  bool grouped_ = false;  // the last block's rows were grouped by key, or the groups few: no buckets
  std::uint64_t rows_ = 0;
  /// The accumulators, grown by std::realloc (they are trivially copyable): a large block is
  /// moved by remapping its pages, where a vector would copy a million groups and fault fresh
  /// pages in at each doubling.
  class accumulators {
   public:
    accumulators() = default;
    accumulators(const accumulators&) = delete;
    accumulators& operator=(const accumulators&) = delete;
    ~accumulators() { std::free(data_); }
    std::size_t size() const { return size_; }
    const accumulator* data() const { return data_; }
    accumulator& operator[](std::size_t j) { return data_[j]; }
    const accumulator& operator[](std::size_t j) const { return data_[j]; }
    void emplace_back()
    {
      if (size_ == capacity_) {
        const std::size_t capacity = capacity_ == 0 ? 1024 : 2 * capacity_;
        void* grown = std::realloc(data_, capacity * sizeof(accumulator));
        if (grown == nullptr) throw std::bad_alloc();
        advise_huge_pages(grown, capacity * sizeof(accumulator));
        data_ = static_cast<accumulator*>(grown);
        capacity_ = capacity;
      }
      new (data_ + size_) accumulator();
      ++size_;
    }
    /// A zeroed array of `size` (an accumulator of zero bytes is an empty one) holding entries
    /// [from, from + count) of this one at `to`: the slots' new layout.
    void relayout(std::size_t size, std::size_t from, std::size_t count, std::size_t to)
    {
      // calloc: fresh pages come zeroed from the kernel, not written twice.
      auto* grown = static_cast<accumulator*>(std::calloc(size, sizeof(accumulator)));
      if (grown == nullptr) throw std::bad_alloc();
      advise_huge_pages(grown, size * sizeof(accumulator));
      if (count > 0) std::memcpy(static_cast<void*>(grown + to), data_ + from, count * sizeof(accumulator));
      std::free(data_);
      data_ = grown;
      size_ = capacity_ = size;
    }
    /// Keeps the first `size` entries.
    void truncate(std::size_t size) { size_ = size; }
    void release()
    {
      std::free(data_);
      data_ = nullptr;
      size_ = capacity_ = 0;
    }

   private:
    static_assert(std::is_trivially_copyable_v<accumulator>, "moved by realloc");
    accumulator* data_ = nullptr;
    std::size_t size_ = 0, capacity_ = 0;
  };
  accumulators acc_;
  /// Integer key -> group id: a direct table over the key range while the keys are dense (the
  /// usual 1..J, cache friendly for grouped input), else open addressing.
  class int_key_map {
   public:
    /// The id of `key`, or -1. Inline: the dense case (the usual one) is a bounds check and a load.
    std::int32_t find(std::int64_t key) const
    {
      if (dense_) {
        const std::uint64_t i = static_cast<std::uint64_t>(key) - static_cast<std::uint64_t>(low_);
        return i < id_.size() ? id_[static_cast<std::size_t>(i)] : -1;
      }
      return find_hashed(key);
    }
    void insert(std::int64_t key, std::int32_t id, std::size_t groups);
    /// Dense keys: `order` = the ids in key order (a walk of the table, no sort); else false.
    bool ids_in_key_order(std::vector<std::int32_t>& order) const;

   private:
    std::int32_t find_hashed(std::int64_t key) const;
    void rehash(std::size_t capacity);
    /// A direct table of `size` slots over [min_, max_], its spare slots split evenly on both sides.
    void make_dense(std::uint64_t size);
    /// The (key, id) pairs held, in slot order.
    void entries(std::vector<std::int64_t>& keys, std::vector<std::int32_t>& ids) const;
    bool dense_ = true;
    std::int64_t min_ = 0, max_ = 0;      // the smallest and largest key inserted
    std::int64_t low_ = 0;                // dense: key of slot 0
    std::vector<std::int32_t> id_;        // dense: id of key low_ + i; hashed: id of slot i (-1 empty)
    std::vector<std::int64_t> slot_key_;  // hashed: key of slot i
  };

  int_key_map int_id_;
  // Per part of the block being folded: each row's group id (kept for its capacity: not
  // zero-filled block after block) and how many of its keys were new to the maps.
  std::vector<uninitialized_vector<std::int32_t>> ids_;
  std::vector<std::size_t> misses_;
  // The block's rows moved into buckets of ids (kept for its capacity).
  struct bucketed_row {
    double hi, lo;
    std::int32_t id;
  };
  uninitialized_vector<bucketed_row> bucketed_;
  std::vector<std::int64_t> int_key_of_;  // key of each group id (integer mode)
  // Text keys: the map's views point into text_store_.
  std::deque<std::string> text_store_;
  std::unordered_map<std::string_view, std::int32_t> text_id_;
  std::vector<std::string_view> text_key_of_;
};

}  // namespace shrink::io
