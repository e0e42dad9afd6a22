#include "text_source.hpp"

#include <shrink/error.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <iterator>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace shrink::io {
namespace {

std::string read_all(int fd)
{
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      throw error(std::string("cannot read input: ") + std::strerror(errno));
    }
    out.append(buf, static_cast<std::size_t>(got));
  }
  return out;
}

}  // namespace

text_source::text_source(const std::string& path)
{
  if (path == "-") {
    owned_ = read_all(STDIN_FILENO);
    data_ = owned_.data();
    size_ = owned_.size();
    return;
  }
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw error("cannot open '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw error(S_ISDIR(st.st_mode) ? "cannot read '" + path + "': it is a directory"
                                    : "cannot read '" + path + "': not a regular file");
  }
  if (S_ISREG(st.st_mode) && st.st_size > 0) {
    // MAP_POPULATE maps the whole file up front: one bulk operation instead of a page fault per 4 KiB.
    void* m = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (m != MAP_FAILED) {
      ::madvise(m, static_cast<std::size_t>(st.st_size), MADV_SEQUENTIAL);
      mapping_ = m;
      data_ = static_cast<const char*>(m);
      size_ = static_cast<std::size_t>(st.st_size);
      guard_ = mapped_input_guard(m, size_, path);
      ::close(fd);
      return;
    }
  }
  try {
    owned_ = read_all(fd);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  data_ = owned_.data();
  size_ = owned_.size();
}

text_source::~text_source()
{
  guard_ = mapped_input_guard();  // forgotten by the SIGBUS handler before it is unmapped
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
}

}  // namespace shrink::io
