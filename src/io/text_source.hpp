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

/// Stdin, which the process can read only once. Bytes read ahead (peek) are handed to the next
/// reader of "-" (text_source, or the streaming readers through take_peeked); once spooled, every
/// reader of "-" reads the whole input again from an unlinked temporary file.
namespace stdin_input {
/// At least the first `size` bytes of stdin (all of it where it is shorter: `complete` is then
/// true), read and kept for the next reader.
std::string_view peek(std::size_t size, bool& complete);
/// The bytes peeked and not yet handed over (none after this call).
std::string take_peeked();
/// Copies stdin (the peeked bytes, then the rest) to an unlinked temporary file in $TMPDIR (else
/// /tmp); a one-line error where it cannot be written (a full disk). The file goes with the process.
void spool();
/// The spool's descriptor, -1 before spool().
int spooled();
/// `path` itself, or "-" where it names a stream (a pipe such as bash's `<(...)`, a FIFO, a
/// terminal): that is then made stdin, as it too can be read only once, and the readers that look
/// at an input's head before reading it (covariates, count tables) see it whole. Messages name it
/// as given (name()).
std::string adopt(const std::string& path);
/// How messages name stdin: "stdin", or 'PATH' of the stream adopted as stdin.
std::string name();
}  // namespace stdin_input

}  // namespace shrink::io
