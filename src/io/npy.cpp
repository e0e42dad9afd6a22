#include "npy.hpp"

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

std::string header_for(std::string_view descr, std::size_t n)
{
  std::string dict = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': (" + std::to_string(n) +
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

void write_column(const std::string& path, std::string_view descr, const void* data, std::size_t bytes, std::size_t n)
{
  atomic_output out(path);
  out.write(header_for(descr, n));
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
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

npy_column::npy_column(npy_column&& o) noexcept { *this = std::move(o); }

npy_column& npy_column::operator=(npy_column&& o) noexcept
{
  if (this != &o) {
    if (map_ != nullptr) ::munmap(map_, map_bytes_);
    path_ = std::move(o.path_);
    map_ = std::exchange(o.map_, nullptr);
    map_bytes_ = std::exchange(o.map_bytes_, 0);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    dtype_ = o.dtype_;
  }
  return *this;
}

void write_npy(const std::string& path, const std::int32_t* data, std::size_t n)
{
  write_column(path, "<i4", data, n * sizeof(*data), n);
}

void write_npy(const std::string& path, const std::int64_t* data, std::size_t n)
{
  write_column(path, "<i8", data, n * sizeof(*data), n);
}

void write_npy(const std::string& path, const double* data, std::size_t n)
{
  write_column(path, "<f8", data, n * sizeof(*data), n);
}

namespace {

template <class Key>
struct key_range {
  Key min = std::numeric_limits<Key>::max();
  Key max = std::numeric_limits<Key>::min();
};

template <class Key>
key_range<Key> range_of(const Key* keys, std::size_t n, int threads)
{
  const std::size_t block = std::size_t{1} << 20;
  std::vector<key_range<Key>> parts((n + block - 1) / block);
  detail::for_each_block(n, block, detail::thread_count(threads), [&](std::size_t b0, std::size_t b1, std::size_t b) {
    key_range<Key> r;
    for (std::size_t i = b0; i < b1; ++i) {
      r.min = std::min(r.min, keys[i]);
      r.max = std::max(r.max, keys[i]);
    }
    parts[b] = r;
  });
  key_range<Key> r;
  for (const auto& p : parts) {
    r.min = std::min(r.min, p.min);
    r.max = std::max(r.max, p.max);
  }
  return r;
}

}  // namespace

npy_raw_data::npy_raw_data(const std::string& group_path, const std::string& value_path, int threads)
  : groups_file_(group_path), values_file_(value_path)
{
  const std::size_t n = groups_file_.size();
  if (values_file_.size() != n)
    throw error("the key column " + group_path + " has " + std::to_string(n) + " rows but the value column " +
                value_path + " has " + std::to_string(values_file_.size()));
  if (groups_file_.dtype() != npy_dtype::int32 && groups_file_.dtype() != npy_dtype::int64)
    throw error(group_path + ": group keys must be int32 or int64");
  if (values_file_.dtype() != npy_dtype::float64 && values_file_.dtype() != npy_dtype::float32)
    throw error(value_path + ": values must be float64 or float32");
  const int workers = detail::thread_count(threads);
  const std::size_t block = std::size_t{1} << 20;

  // Values are converted (float32) and checked for NaN and infinities in one pass: the CSV reader
  // rejects them, and a single one would turn its group and every pooled quantity into NaN.
  // The first bad row is the smallest over blocks, so the message does not depend on threads.
  const bool widen = values_file_.dtype() == npy_dtype::float32;
  if (widen) values_.resize(n);
  std::vector<std::size_t> first_bad((n + block - 1) / block, n);
  detail::for_each_block(n, block, workers, [&](std::size_t b0, std::size_t b1, std::size_t b) {
    if (widen) {
      const auto* src = static_cast<const float*>(values_file_.data());
      for (std::size_t i = b0; i < b1; ++i) values_[i] = src[i];
    }
    const double* v = widen ? values_.data() : static_cast<const double*>(values_file_.data());
    for (std::size_t i = b0; i < b1; ++i)
      if (!std::isfinite(v[i])) {
        first_bad[b] = i;
        break;
      }
  });
  const auto bad = std::find_if(first_bad.begin(), first_bad.end(), [n](std::size_t i) { return i != n; });
  if (bad != first_bad.end()) {
    const double x = widen ? values_[*bad] : static_cast<const double*>(values_file_.data())[*bad];
    throw error(value_path + ": row " + std::to_string(*bad) + " (0-based): " +
                (std::isnan(x) ? "NaN" : x > 0 ? "inf" : "-inf") + " is not a finite number");
  }
  if (n == 0) return;

  // Keys as int64 whatever their width: the range decides between use in place, a direct
  // lookup table and a sorted search.
  auto key_at = [&](std::size_t i) -> std::int64_t {
    return groups_file_.dtype() == npy_dtype::int32 ? static_cast<const std::int32_t*>(groups_file_.data())[i]
                                                    : static_cast<const std::int64_t*>(groups_file_.data())[i];
  };
  std::int64_t lo = 0, hi = 0;
  if (groups_file_.dtype() == npy_dtype::int32) {
    const auto r = range_of(static_cast<const std::int32_t*>(groups_file_.data()), n, threads);
    lo = r.min;
    hi = r.max;
  } else {
    const auto r = range_of(static_cast<const std::int64_t*>(groups_file_.data()), n, threads);
    lo = r.min;
    hi = r.max;
  }
  // Offsets from lo in unsigned arithmetic: hi - lo overflows int64 when the keys span more
  // than INT64_MAX (and width + 1 wraps to 0 when they span the whole type).
  auto offset_of = [lo](std::int64_t k) { return static_cast<std::uint64_t>(k) - static_cast<std::uint64_t>(lo); };
  const std::uint64_t width = offset_of(hi);  // the key range holds width + 1 values

  std::vector<std::int32_t> id_of;  // dense id of key lo + k, or -1
  if (width < std::max<std::uint64_t>(std::uint64_t{4} * n, std::uint64_t{1} << 24)) {
    const std::size_t span = static_cast<std::size_t>(width) + 1;
    std::vector<unsigned char> present(span, 0);
    for (std::size_t i = 0; i < n; ++i) present[static_cast<std::size_t>(offset_of(key_at(i)))] = 1;
    id_of.assign(span, -1);
    std::int64_t next = 0;
    for (std::size_t k = 0; k < span; ++k)
      if (present[k] != 0) {
        keys_.push_back(lo + static_cast<std::int64_t>(k));
        id_of[k] = static_cast<std::int32_t>(next++);
      }
  } else {
    keys_.resize(n);
    for (std::size_t i = 0; i < n; ++i) keys_[i] = key_at(i);
    std::sort(keys_.begin(), keys_.end());
    keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
  }
  groups_ = keys_.size();
  if (groups_ > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw error(group_path + ": more than 2^31-1 distinct group keys");

  // Keys that are already 0..J-1 with every id present need no mapping at all.
  if (groups_file_.dtype() == npy_dtype::int32 && lo == 0 && static_cast<std::uint64_t>(groups_) - 1 == width) {
    keys_.clear();
    return;
  }
  ids_.resize(n);
  detail::for_each_block(n, block, workers, [&](std::size_t b0, std::size_t b1, std::size_t) {
    for (std::size_t i = b0; i < b1; ++i) {
      const std::int64_t k = key_at(i);
      ids_[i] = !id_of.empty() ? id_of[static_cast<std::size_t>(offset_of(k))]
                               : static_cast<std::int32_t>(std::lower_bound(keys_.begin(), keys_.end(), k) - keys_.begin());
    }
  });
}

raw_data_view npy_raw_data::view() const
{
  raw_data_view v;
  v.group_ids = ids_.empty() ? static_cast<const std::int32_t*>(groups_file_.data()) : ids_.data();
  v.values = values_.empty() ? static_cast<const double*>(values_file_.data()) : values_.data();
  v.rows = groups_file_.size();
  v.groups = groups_;
  v.offset = 0;
  return v;
}

std::vector<std::string> npy_raw_data::key_strings() const
{
  std::vector<std::string> out(groups_);
  for (std::size_t j = 0; j < groups_; ++j) out[j] = std::to_string(keys_.empty() ? static_cast<std::int64_t>(j) : keys_[j]);
  return out;
}

}  // namespace shrink::io
