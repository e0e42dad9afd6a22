#include "text_source.hpp"

#include "table_reader.hpp"

#include <shrink/error.hpp>

#include <cerrno>
#include <cstdlib>
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

std::string peeked;  // stdin's bytes read ahead, for the next reader
int spool_fd = -1;
std::string adopted_name;  // the stream made stdin by adopt(), for messages

/// Appends stdin's next bytes to `to` (at most `most`); false at its end.
bool read_stdin(std::string& to, std::size_t most)
{
  const std::size_t had = to.size();
  to.resize(had + most);
  for (;;) {
    const ssize_t got = ::read(STDIN_FILENO, &to[had], most);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw error("cannot read " + stdin_input::name() + ": " + std::strerror(errno));
    to.resize(had + static_cast<std::size_t>(got));
    return got > 0;
  }
}

}  // namespace

namespace stdin_input {

std::string_view peek(std::size_t size, bool& complete)
{
  complete = false;
  while (peeked.size() < size && !complete) complete = !read_stdin(peeked, size - peeked.size());
  return peeked;
}

std::string take_peeked()
{
  std::string out;
  out.swap(peeked);
  return out;
}

void spool()
{
  if (spool_fd >= 0) return;
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  std::string name = dir + "/shrink-stdin-XXXXXX";
  const int fd = ::mkstemp(name.data());
  const auto fail = [&] {
    const std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    throw error("cannot copy " + stdin_input::name() + " to a temporary file in '" + dir + "' (set TMPDIR to a directory with room): " + why);
  };
  if (fd < 0) fail();
  ::unlink(name.c_str());  // gone with the process, whatever ends it
  std::string block = take_peeked();
  do {
    for (std::size_t done = 0; done < block.size();) {
      const ssize_t put = ::write(fd, block.data() + done, block.size() - done);
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) fail();
      done += static_cast<std::size_t>(put);
    }
    block.clear();
  } while (read_stdin(block, std::size_t{1} << 20));
  spool_fd = fd;
}

int spooled() { return spool_fd; }

std::string adopt(const std::string& path)
{
  struct stat st {};
  if (path == "-" || ::stat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
    return path;  // files are mapped; a missing one is the reader's error
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw error("cannot open '" + shown(path) + "': " + std::strerror(errno));
  if (fd != STDIN_FILENO) {
    const bool moved = ::dup2(fd, STDIN_FILENO) == STDIN_FILENO;
    const int err = errno;
    ::close(fd);
    if (!moved) throw error("cannot read '" + shown(path) + "': " + std::strerror(err));
  }
  adopted_name = "'" + shown(path) + "'";
  return "-";
}

std::string name() { return adopted_name.empty() ? "stdin" : adopted_name; }

}  // namespace stdin_input

text_source::text_source(const std::string& path)
{
  if (path == "-" && stdin_input::spooled() >= 0) {
    struct stat st {};
    if (::fstat(stdin_input::spooled(), &st) == 0 && st.st_size > 0) {
      void* m = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE | MAP_POPULATE,
                       stdin_input::spooled(), 0);
      if (m == MAP_FAILED) throw error("cannot read the copy of " + stdin_input::name() + ": " + std::strerror(errno));
      mapping_ = m;
      data_ = static_cast<const char*>(m);
      size_ = static_cast<std::size_t>(st.st_size);
    }
    return;
  }
  if (path == "-") {
    owned_ = stdin_input::take_peeked() + read_all(STDIN_FILENO);
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
