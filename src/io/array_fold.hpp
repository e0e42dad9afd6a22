#pragma once
// Raw rows from columns already in memory (a memory-mapped .npy file, NumPy arrays, Arrow
// buffers), folded into one summary per group by group_fold in pieces of 2^18 rows: memory
// O(groups + 2^22 rows) whatever the number of rows, the same bits as the CSV path for the same
// doubles, for any thread count. Shared by the .npy reader and the Python package.

#include "../cuda/device_columns.hpp"
#include "group_fold.hpp"
#include "table_reader.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace shrink::io {

/// A column of group keys in memory, one of: integers (`ints`, 1, 2, 4 or 8 bytes each; with
/// `dictionary`, codes into it), or Arrow text (`offsets`, 4 or 8 bytes each, n + 1 of them, into
/// the bytes `text`). Nothing is copied: the memory must stay valid until the rows are folded.
struct key_array {
  const void* ints = nullptr;
  int int_bytes = 8;
  const void* offsets = nullptr;
  int offset_bytes = 4;
  const char* text = nullptr;
  const key_array* dictionary = nullptr;  ///< `ints` are codes into this column (a categorical; integer
                                          ///< dictionaries hold int64)
  std::size_t dictionary_size = 0;
};

/// A column of values in memory: float64, or float32 when `float32`.
struct value_array {
  const void* data = nullptr;
  bool float32 = false;
};

class array_fold {
 public:
  /// `value_name` names the values in messages; `kind` as for read_groups (the count families'
  /// raw rows are checked as they are read).
  array_fold(int threads, std::string value_name, value_kind kind = value_kind::any);

  /// Folds `rows` rows (after every row added before). Keys are integers or text in every call,
  /// not both. Throws shrink::error naming the row (0-based over every call) for a NaN or
  /// infinite value or a code outside the dictionary (a missing key).
  void add(const key_array& keys, const value_array& values, std::size_t rows);

  /// The table, groups in key order; "no data rows" when nothing was added.
  group_table finish();

 private:
  int workers_;
  std::string value_name_;
  value_kind kind_;
  group_fold fold_;
  std::vector<row_block> parts_;
  std::uint64_t rows_ = 0;
  int key_text_ = -1;  // -1 until the first rows: 0 integer keys, 1 text keys
};

/// Raw rows in GPU memory (integer keys), folded there by detail::fold_device_columns and
/// tabulated as array_fold tabulates its groups: the same table, to the bit where the GPU's summary
/// stage gives the host fold's moments (device_columns.hpp), and the same messages for a NaN or
/// infinite value and for no rows. `chunk_rows` as for fold_device_columns (tests use small ones).
group_table fold_device_rows(const detail::device_column& keys, const detail::device_column& values, std::size_t rows,
                             const std::string& value_name, int threads, std::size_t chunk_rows = 0);

}  // namespace shrink::io
