#pragma once
// The whole text of an input: a memory-mapped file, or stdin read into memory.

#include "output.hpp"

#include <string>
#include <string_view>

namespace shrink::io {

class text_source {
 public:
  /// Maps `path` ("-" reads stdin); throws shrink::error when it cannot be read. While the
  /// mapping lives, a truncation of the file by another process is reported as an error (SIGBUS).
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
  mapped_input_guard guard_;  // names the file to the SIGBUS handler
};

}  // namespace shrink::io
