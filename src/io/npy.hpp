#pragma once
// NumPy .npy columns: the binary input of `shrink fit` for data too large for a text parser, and
// an output of `shrink generate`. A column is a one-dimensional, C-order, little-endian array
// (format versions 1.0, 2.0 and 3.0), read by memory mapping: nothing is parsed or copied unless a
// conversion is needed (float32 values, or integer keys that are not already dense ids).

#include "group_fold.hpp"
#include "table_reader.hpp"
#include "output.hpp"

#include <shrink/fit.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace shrink::io {

enum class npy_dtype { int32, int64, float32, float64 };

/// One .npy column mapped read-only into memory. Throws shrink::error naming the file when it is
/// missing, not a .npy file, not one-dimensional, Fortran-ordered, big-endian or of another dtype.
class npy_column {
 public:
  explicit npy_column(const std::string& path);
  ~npy_column();
  npy_column(npy_column&& other) noexcept;
  npy_column& operator=(npy_column&& other) noexcept;
  npy_column(const npy_column&) = delete;
  npy_column& operator=(const npy_column&) = delete;

  npy_dtype dtype() const { return dtype_; }
  std::size_t size() const { return size_; }
  const void* data() const { return data_; }
  const std::string& path() const { return path_; }
  /// Drops the mapped pages of the values before `rows` from this process (they stay in the page
  /// cache): a column read front to back then holds a window, not the file.
  void release_before(std::size_t rows);

 private:
  std::string path_;
  void* map_ = nullptr;
  std::size_t map_bytes_ = 0;
  std::size_t released_ = 0;  // bytes at the front of the mapping given back
  const void* data_ = nullptr;
  std::size_t size_ = 0;
  npy_dtype dtype_ = npy_dtype::float64;
  mapped_input_guard guard_;  // names the file to the SIGBUS handler
};

/// The header of a one-dimensional .npy file (format 1.0) of `n` values, for writing one in
/// pieces; the values follow it in little-endian order.
std::string npy_header(npy_dtype dtype, std::size_t n);

/// Writes a one-dimensional .npy file (format 1.0) atomically.
void write_npy(const std::string& path, const std::int32_t* data, std::size_t n);
void write_npy(const std::string& path, const std::int64_t* data, std::size_t n);
void write_npy(const std::string& path, const double* data, std::size_t n);

/// Raw observations from a key column (int32 or int64) and a value column (float64 or float32)
/// of equal length, folded into one summary per group as they are read (as read_groups does for
/// CSV): memory O(groups) whatever the length of the files. Groups follow increasing key order.
/// `kind` as for read_groups: the count families' raw rows are checked as they are read.
group_table read_groups_npy(const std::string& group_path, const std::string& value_path, int threads,
                            value_kind kind = value_kind::any);

}  // namespace shrink::io
