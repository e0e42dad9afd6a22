#pragma once
// The whole text of an input: a memory-mapped file, or stdin read into memory.

#include <string>
#include <string_view>

namespace shrink::io {

class text_source {
 public:
  /// Maps `path` ("-" reads stdin); throws shrink::error when it cannot be read.
  explicit text_source(const std::string& path);
  ~text_source();
  text_source(const text_source&) = delete;
  text_source& operator=(const text_source&) = delete;

  std::string_view text() const { return {data_, size_}; }

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
  void* mapping_ = nullptr;  // from mmap, else null
  std::string owned_;        // stdin or a non-regular file
};

}  // namespace shrink::io
