#include "npy.hpp"

#include "array_fold.hpp"

#include "group_fold.hpp"

#include "../common/macros.hpp"
#include "../cpu/parallel.hpp"
#include "output.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>

namespace shrink::io {
namespace {

constexpr char magic[] = "\x93NUMPY";
constexpr std::size_t magic_size = 6;

[[noreturn]] void fail(const std::string& path, const std::string& what)
{
  throw error(path + ": " + what);
}

/// The value of `key` in the header dict, e.g. "'<f8'" for 'descr'; empty when absent.
std::string_view dict_value(std::string_view header, std::string_view key)
{
  const std::string quoted = "'" + std::string(key) + "'";
  std::size_t at = header.find(quoted);
  if (at == std::string_view::npos) return {};
  at = header.find(':', at + quoted.size());
  if (at == std::string_view::npos) return {};
  ++at;
  while (at < header.size() && header[at] == ' ') ++at;
  std::size_t end = at;
  if (at < header.size() && header[at] == '(') {
    end = header.find(')', at);
    if (end == std::string_view::npos) return {};
    ++end;
  } else if (at < header.size() && header[at] == '\'') {
    end = header.find('\'', at + 1);
    if (end == std::string_view::npos) return {};
    ++end;
  } else {
    while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  }
  return header.substr(at, end - at);
}

npy_dtype parse_dtype(const std::string& path, std::string_view descr)
{
  if (descr == "'<i4'") return npy_dtype::int32;
  if (descr == "'<i8'") return npy_dtype::int64;
  if (descr == "'<f4'") return npy_dtype::float32;
  if (descr == "'<f8'") return npy_dtype::float64;
  fail(path, "unsupported .npy dtype " + std::string(descr) +
               " (shrink reads little-endian int32/int64 keys and float64/float32 values)");
}

std::size_t dtype_size(npy_dtype t)
{
  return (t == npy_dtype::int32 || t == npy_dtype::float32) ? 4 : 8;
}

/// "(123,)" -> 123; a shape of any other rank is an error.
std::size_t parse_shape(const std::string& path, std::string_view shape)
{
  std::string digits;
  int commas = 0;
  for (char c : shape) {
    if (c >= '0' && c <= '9') digits += c;
    else if (c == ',') ++commas;
    else if (c != '(' && c != ')' && c != ' ' && c != 'L') fail(path, "malformed .npy shape " + std::string(shape));
  }
  const bool one_dimensional = !digits.empty() && commas == 1 && shape.back() == ')' &&
                               shape.find(',') + 1 >= shape.find_last_not_of(" )") ;
  if (!one_dimensional) fail(path, "a .npy column must be one-dimensional, found shape " + std::string(shape));
  errno = 0;
  const unsigned long long n = std::strtoull(digits.c_str(), nullptr, 10);
  if (errno != 0) fail(path, "malformed .npy shape " + std::string(shape));
  return static_cast<std::size_t>(n);
}

}  // namespace

std::string npy_header(npy_dtype dtype, std::size_t n)
{
  const char* const descr = dtype == npy_dtype::int32   ? "<i4"
                            : dtype == npy_dtype::int64 ? "<i8"
                            : dtype == npy_dtype::float32 ? "<f4"
                                                          : "<f8";
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" + std::to_string(n) +
                     ",), }";
  // Magic (6) + version (2) + length (2) + dict + padding + '\n' is a multiple of 64.
  const std::size_t unpadded = magic_size + 2 + 2 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  std::string out(magic, magic_size);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>((dict.size() >> 8) & 0xff);
  return out + dict;
}

namespace {

void write_column(const std::string& path, npy_dtype dtype, const void* data, std::size_t bytes, std::size_t n)
{
  atomic_output out(path);
  out.write(npy_header(dtype, n));
  constexpr std::size_t block = std::size_t{64} << 20;
  const char* p = static_cast<const char*>(data);
  for (std::size_t at = 0; at < bytes; at += block) out.write(std::string_view(p + at, std::min(block, bytes - at)));
  out.commit();
}

}  // namespace

npy_column::npy_column(const std::string& path) : path_(path)
{
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail(path, std::string("cannot stat: ") + std::strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw error("'" + path + "' is a directory, not a .npy file");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file (a .npy input is memory-mapped)");
  }
  map_bytes_ = static_cast<std::size_t>(st.st_size);
  if (map_bytes_ < magic_size + 4) {
    ::close(fd);
    fail(path, "not a .npy file (too short)");
  }
  map_ = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    fail(path, std::string("cannot map: ") + std::strerror(errno));
  }
  try {
    const auto* bytes = static_cast<const unsigned char*>(map_);
    if (std::memcmp(bytes, magic, magic_size) != 0) fail(path, "not a .npy file (bad magic)");
    const int major = bytes[6];
    std::size_t header_len = 0, header_at = 0;
    if (major == 1) {
      header_len = bytes[8] | (std::size_t{bytes[9]} << 8);
      header_at = 10;
    } else if (major == 2 || major == 3) {
      if (map_bytes_ < 12) fail(path, "not a .npy file (too short)");
      header_len = bytes[8] | (std::size_t{bytes[9]} << 8) | (std::size_t{bytes[10]} << 16) |
                   (std::size_t{bytes[11]} << 24);
      header_at = 12;
    } else {
      fail(path, "unsupported .npy format version " + std::to_string(major));
    }
    if (header_at + header_len > map_bytes_) fail(path, "truncated .npy header");
    const std::string_view header(reinterpret_cast<const char*>(bytes + header_at), header_len);
    const std::string_view descr = dict_value(header, "descr");
    const std::string_view order = dict_value(header, "fortran_order");
    const std::string_view shape = dict_value(header, "shape");
    if (descr.empty() || order.empty() || shape.empty()) fail(path, "malformed .npy header");
    dtype_ = parse_dtype(path, descr);
    size_ = parse_shape(path, shape);
    if (order != "False" && size_ > 1) fail(path, "Fortran-ordered .npy arrays are not supported");
    const std::size_t data_at = header_at + header_len;
    if (size_ > (map_bytes_ - data_at) / dtype_size(dtype_))
      fail(path, "truncated .npy file: the header promises " + std::to_string(size_) + " values");
    data_ = bytes + data_at;
    guard_ = mapped_input_guard(map_, map_bytes_, path);
    // The rows are read once, front to back.
    (void)::madvise(map_, map_bytes_, MADV_SEQUENTIAL);
  } catch (...) {
    ::munmap(map_, map_bytes_);
    map_ = nullptr;
    throw;
  }
}

npy_column::~npy_column()
{
  guard_ = mapped_input_guard();  // forgotten by the SIGBUS handler before it is unmapped
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

npy_column::npy_column(npy_column&& o) noexcept { *this = std::move(o); }

npy_column& npy_column::operator=(npy_column&& o) noexcept
{
  if (this != &o) {
    guard_ = std::move(o.guard_);
    if (map_ != nullptr) ::munmap(map_, map_bytes_);
    path_ = std::move(o.path_);
    map_ = std::exchange(o.map_, nullptr);
    map_bytes_ = std::exchange(o.map_bytes_, 0);
    released_ = std::exchange(o.released_, 0);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    dtype_ = o.dtype_;
  }
  return *this;
}

void write_npy(const std::string& path, const std::int32_t* data, std::size_t n)
{
  write_column(path, npy_dtype::int32, data, n * sizeof(*data), n);
}

void write_npy(const std::string& path, const std::int64_t* data, std::size_t n)
{
  write_column(path, npy_dtype::int64, data, n * sizeof(*data), n);
}

void write_npy(const std::string& path, const double* data, std::size_t n)
{
  write_column(path, npy_dtype::float64, data, n * sizeof(*data), n);
}

void npy_column::release_before(std::size_t rows)
{
  if (map_ == nullptr) return;
  const auto* begin = static_cast<const char*>(map_);
  const auto* end = static_cast<const char*>(data_) + std::min(rows, size_) * dtype_size(dtype_);
  const std::size_t page = 1 << 12, bytes = static_cast<std::size_t>(end - begin) / page * page;
  if (bytes > released_) {
    (void)::madvise(const_cast<char*>(begin) + released_, bytes - released_, MADV_DONTNEED);
    released_ = bytes;
  }
}

group_table read_groups_npy(const std::string& group_path, const std::string& value_path, int threads,
                            value_kind kind)
{
  npy_column keys(group_path), values(value_path);
  const std::size_t n = keys.size();
  if (values.size() != n)
    throw error("the key column " + group_path + " has " + std::to_string(n) + " rows but the value column " +
                value_path + " has " + std::to_string(values.size()));
  if (keys.dtype() != npy_dtype::int32 && keys.dtype() != npy_dtype::int64)
    throw error(group_path + ": group keys must be int32 or int64");
  if (values.dtype() != npy_dtype::float64 && values.dtype() != npy_dtype::float32)
    throw error(value_path + ": values must be float64 or float32");
  if (n == 0) throw error("no data rows: " + value_path + " is empty");

  // Streamed in steps of 2^22 rows: memory O(groups + 2^22 rows) whatever the size of the files
  // (the mapped pages behind are released), the rows folded in file order within each group.
  constexpr std::size_t step = std::size_t{1} << 22;
  array_fold fold(threads, value_path, kind);
  const int key_bytes = keys.dtype() == npy_dtype::int32 ? 4 : 8;
  const bool float32 = values.dtype() == npy_dtype::float32;
  for (std::size_t start = 0; start < n; start += step) {
    key_array k;
    k.ints = static_cast<const char*>(keys.data()) + start * key_bytes;
    k.int_bytes = key_bytes;
    const value_array v{static_cast<const char*>(values.data()) + start * (float32 ? 4 : 8), float32};
    fold.add(k, v, std::min(step, n - start));
    keys.release_before(start + step);
    values.release_before(start + step);
  }
  return fold.finish();
}

}  // namespace shrink::io
