#include "output.hpp"

#include "../cpu/parallel.hpp"
#include "number_text.hpp"

#include <shrink/error.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace shrink::io {
namespace {

// ---------------------------------------------------------------------------------------------
// What the signal handlers see. A handler may only read memory and call async-signal-safe
// functions (write, unlink, rename, raise, _exit), so the temporary files and mapped inputs are
// kept in fixed arrays of plain characters. A slot is claimed (state 0 -> 2), filled, then
// published (state 1); the handlers look at published slots only.

static_assert(std::atomic<int>::is_always_lock_free, "the signal handlers need lock-free atomics");

struct temp_slot {
  std::atomic<int> state{0};
  char path[PATH_MAX];
};
constexpr int max_temporaries = 64;
temp_slot temporaries[max_temporaries];

struct mapping_slot {
  std::atomic<int> state{0};
  const char* begin = nullptr;
  const char* end = nullptr;
  char path[PATH_MAX];
};
constexpr int max_mappings = 16;
mapping_slot mappings[max_mappings];

template <class Slot, int N>
int claim_slot(Slot (&slots)[N])
{
  for (int i = 0; i < N; ++i) {
    int expected = 0;
    if (slots[i].state.compare_exchange_strong(expected, 2)) return i;
  }
  return -1;
}

void copy_path(char (&to)[PATH_MAX], const std::string& from)
{
  const std::size_t n = std::min<std::size_t>(from.size(), PATH_MAX - 1);
  std::memcpy(to, from.data(), n);
  to[n] = '\0';
}

/// Slot of a new temporary file, or -1 when the registry is full (the file is then still removed
/// on errors, only not on signals).
int register_temporary(const std::string& path)
{
  if (path.size() >= PATH_MAX) return -1;
  install_signal_handlers();
  const int i = claim_slot(temporaries);
  if (i < 0) return -1;
  copy_path(temporaries[i].path, path);
  temporaries[i].state.store(1);
  return i;
}

void release_temporary(int& slot)
{
  if (slot >= 0) temporaries[slot].state.store(0);
  slot = -1;
}

void remove_temporaries() noexcept  // async-signal-safe
{
  for (temp_slot& t : temporaries)
    if (t.state.load() == 1) ::unlink(t.path);
}

void write_stderr(const char* s) noexcept  // async-signal-safe
{
  std::size_t n = 0;
  while (s[n] != '\0') ++n;
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

// While output_set::commit renames its files, a terminating signal only sets pending_signal:
// the renames finish (or are undone) and the signal is raised again afterwards, so a signal
// never leaves some outputs new and others old.
volatile std::sig_atomic_t committing = 0;
volatile std::sig_atomic_t pending_signal = 0;

extern "C" void on_terminating_signal(int sig)
{
  if (committing != 0) {
    pending_signal = sig;
    return;
  }
  remove_temporaries();
  // End by the same signal, as without the handler (exit status 128 + sig in a shell).
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

extern "C" void on_bus_error(int sig, siginfo_t* info, void*)
{
  // Reading a mapped file past its end after another process truncated it raises SIGBUS.
  const char* at = static_cast<const char*>(info->si_addr);
  for (mapping_slot& m : mappings)
    if (m.state.load() == 1 && at >= m.begin && at < m.end) {
      write_stderr("shrink: error: input '");
      write_stderr(m.path);
      write_stderr("' was truncated while being read\n");
      remove_temporaries();
      ::_exit(1);
    }
  // Anything else keeps the default action: the faulting access repeats and ends shrink.
  remove_temporaries();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

/// Holds terminating signals back for its lifetime (see on_terminating_signal).
class signals_held {
 public:
  signals_held() { committing = 1; }
  ~signals_held()
  {
    committing = 0;
    if (const int sig = pending_signal) {
      pending_signal = 0;
      ::raise(sig);
    }
  }
  signals_held(const signals_held&) = delete;
  signals_held& operator=(const signals_held&) = delete;
};

// ---------------------------------------------------------------------------------------------
// Where an output path leads.

std::string parent_of(const std::string& path)
{
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// True for a symbolic link in /proc: /proc/PID/fd/N names an open file (a pipe, a socket, a
/// deleted file), not a path, so it is written through, never followed by its text.
bool is_proc_link(const std::string& link)
{
  struct statfs fs {};
  return ::statfs(parent_of(link).c_str(), &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
}

struct destination {
  std::string path;      ///< the path reached, symbolic links followed; need not exist
  bool fd_link = false;  ///< a /proc open-file link (/dev/stdout leads to one)
};

destination follow_links(const std::string& path)
{
  std::string p = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return {p, false};
    if (is_proc_link(p)) return {p, true};
    std::string text(PATH_MAX, '\0');
    const ssize_t n = ::readlink(p.c_str(), text.data(), text.size());
    if (n < 0) throw error("cannot write '" + path + "': " + std::strerror(errno));
    text.resize(static_cast<std::size_t>(n));
    p = !text.empty() && text.front() == '/' ? text : parent_of(p) + "/" + text;
  }
  throw error("cannot write '" + path + "': " + std::strerror(ELOOP));
}

/// N when `link` is /proc/<this process>/fd/N (or /proc/<this process>/task/TID/fd/N), else -1.
int own_descriptor(const std::string& link)
{
  char dir[PATH_MAX];
  if (::realpath(parent_of(link).c_str(), dir) == nullptr) return -1;
  const std::string d = dir;
  const std::string mine = "/proc/" + std::to_string(::getpid()) + "/";
  const bool ours = d == mine + "fd" || (d.compare(0, mine.size() + 5, mine + "task/") == 0 && d.size() > 3 &&
                                        d.compare(d.size() - 3, 3, "/fd") == 0);
  if (!ours) return -1;
  const std::string name = link.substr(link.rfind('/') + 1);
  int fd = -1;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), fd);
  return ec == std::errc() && end == name.data() + name.size() ? fd : -1;
}

std::string message_for(const std::string& path, int err)
{
  if (path == "-") return "cannot write to stdout: " + std::string(std::strerror(err));
  return "cannot write '" + path + "': " + std::strerror(err);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

void install_signal_handlers()
{
  static std::once_flag once;
  std::call_once(once, [] {
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) {
      struct sigaction old {};
      // A signal the parent ignores (nohup, a shell ignoring SIGPIPE) stays ignored.
      if (::sigaction(sig, nullptr, &old) != 0 || old.sa_handler == SIG_IGN) continue;
      struct sigaction sa {};
      sa.sa_handler = on_terminating_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      ::sigaction(sig, &sa, nullptr);
    }
    struct sigaction bus {};
    bus.sa_sigaction = on_bus_error;
    sigemptyset(&bus.sa_mask);
    bus.sa_flags = SA_SIGINFO;
    ::sigaction(SIGBUS, &bus, nullptr);
  });
}

mapped_input_guard::mapped_input_guard(const void* begin, std::size_t bytes, const std::string& path)
{
  install_signal_handlers();
  slot_ = claim_slot(mappings);
  if (slot_ < 0) return;  // no room: a truncation then ends shrink with SIGBUS, as without the guard
  mapping_slot& m = mappings[slot_];
  m.begin = static_cast<const char*>(begin);
  m.end = m.begin + bytes;
  copy_path(m.path, path);
  m.state.store(1);
}

mapped_input_guard::~mapped_input_guard()
{
  if (slot_ >= 0) mappings[slot_].state.store(0);
}

mapped_input_guard::mapped_input_guard(mapped_input_guard&& other) noexcept : slot_(std::exchange(other.slot_, -1)) {}

mapped_input_guard& mapped_input_guard::operator=(mapped_input_guard&& other) noexcept
{
  if (this != &other) {
    if (slot_ >= 0) mappings[slot_].state.store(0);
    slot_ = std::exchange(other.slot_, -1);
  }
  return *this;
}

atomic_output::atomic_output(std::string path) : path_(std::move(path))
{
  if (path_ == "-") {
    fd_ = STDOUT_FILENO;
    in_place_ = true;
    owns_fd_ = false;
    return;
  }
  if (path_.empty()) fail(ENOENT);
  const destination d = follow_links(path_);
  if (d.fd_link) {
    // /dev/stdout, /dev/fd/N, /proc/self/fd/N: the open file itself is meant, whatever it is (a
    // pipe, a terminal, a file the shell redirected): write through our own descriptor, so the
    // shell's `>` or `>>` applies; another process's descriptor is opened and truncated like `>`.
    const int own = own_descriptor(d.path);
    fd_ = own >= 0 ? ::fcntl(own, F_DUPFD_CLOEXEC, 0) : ::open(d.path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd_ < 0) fail(errno);
    in_place_ = true;
    return;
  }
  struct stat st {};
  const bool exists = ::stat(d.path.c_str(), &st) == 0;
  if (!exists && errno != ENOENT) fail(errno);
  if (exists && S_ISDIR(st.st_mode)) throw error("cannot write '" + path_ + "': it is a directory");
  if (exists && !S_ISREG(st.st_mode)) {
    // A device, FIFO or socket is written in place: renaming a file over it would replace it
    // (for /dev/null, for the whole machine).
    fd_ = ::open(d.path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) fail(errno);
    in_place_ = true;
    return;
  }
  // A unique name beside the target (same file system, so the final rename is atomic).
  target_ = d.path;
  temp_ = target_ + ".tmp-XXXXXX";
  fd_ = ::mkostemp(temp_.data(), O_CLOEXEC);
  if (fd_ < 0) {
    const int saved = errno;
    temp_.clear();
    fail(saved);
  }
  temp_slot_ = register_temporary(temp_);
  if (exists) {
    // The new file replaces the old one: keep its owner (where allowed) and permissions.
    if (st.st_uid != ::geteuid() || st.st_gid != ::getegid()) (void)::fchown(fd_, st.st_uid, st.st_gid);
    (void)::fchmod(fd_, st.st_mode & 07777);
  } else {
    // mkstemp creates 0600; give the file the permissions a plain open would (0666 less umask).
    const mode_t mask = ::umask(0);
    ::umask(mask);
    (void)::fchmod(fd_, 0666 & ~mask);
  }
}

atomic_output::~atomic_output()
{
  if (fd_ >= 0 && owns_fd_) ::close(fd_);
  if (!temp_.empty()) ::unlink(temp_.c_str());
  release_temporary(temp_slot_);
}

void atomic_output::fail(int err) const { throw error(message_for(path_, err)); }

void atomic_output::write(std::string_view bytes)
{
  // Small pieces are gathered into one write(2) per MiB.
  constexpr std::size_t capacity = std::size_t{1} << 20;
  if (buffer_.size() + bytes.size() <= capacity) {
    if (buffer_.capacity() < capacity) buffer_.reserve(capacity);
    buffer_.append(bytes);
    return;
  }
  flush();
  if (bytes.size() < capacity) {
    buffer_.append(bytes);
    return;
  }
  write_all(bytes);
}

void atomic_output::write_all(std::string_view bytes)
{
  if (!bytes.empty() && fd_ < 0) fail(EBADF);
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void atomic_output::flush()
{
  write_all(buffer_);
  buffer_.clear();
}

void atomic_output::close()
{
  if (fd_ < 0) return;
  flush();
  const int fd = std::exchange(fd_, -1);
  if (owns_fd_ && ::close(fd) != 0 && errno != EINTR) fail(errno);  // the destructor removes the temporary
}

namespace {

/// Closes every output, then renames the temporaries into place: all or none (see output_set).
void commit_all(const std::vector<atomic_output*>& files, const std::vector<std::string*>& temps,
                const std::vector<std::string*>& targets)
{
  struct step {
    std::size_t file;
    std::string backup;  // a hard link to the replaced file, until every rename is done
    bool renamed = false;
  };
  std::size_t renames = 0;
  for (const std::string* t : temps) renames += t->empty() ? 0 : 1;
  std::vector<step> done;
  const signals_held hold;
  auto undo = [&] {
    for (auto s = done.rbegin(); s != done.rend(); ++s) {
      const std::string& target = *targets[s->file];
      if (!s->backup.empty()) {
        // The old file goes back (same inode); a link that was never moved is just removed.
        (void)::rename(s->backup.c_str(), target.c_str());
        (void)::unlink(s->backup.c_str());
      } else if (s->renamed) {
        (void)::unlink(target.c_str());
      }
    }
  };
  for (std::size_t i = 0; i < files.size(); ++i) {
    std::string& temp = *temps[i];
    const std::string& target = *targets[i];
    if (temp.empty()) continue;  // written in place
    done.push_back({i, {}, false});
    step& s = done.back();
    struct stat st {};
    if (renames > 1 && ::lstat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      // temp + ".old" is unique because temp is; where hard links are not supported the old
      // file is moved aside instead (never over an existing name).
      s.backup = temp + ".old";
      if (::link(target.c_str(), s.backup.c_str()) != 0 &&
          (errno == EEXIST || ::rename(target.c_str(), s.backup.c_str()) != 0)) {
        const int saved = errno;
        s.backup.clear();
        undo();
        throw error(message_for(files[i]->path(), saved));
      }
    }
    if (::rename(temp.c_str(), target.c_str()) != 0) {
      const int saved = errno;
      undo();
      throw error(message_for(files[i]->path(), saved));
    }
    s.renamed = true;
  }
  for (const step& s : done) {
    if (!s.backup.empty()) (void)::unlink(s.backup.c_str());
    temps[s.file]->clear();
  }
}

}  // namespace

void atomic_output::commit()
{
  close();
  commit_all({this}, {&temp_}, {&target_});
  release_temporary(temp_slot_);
}

void check_distinct_files(const std::vector<named_path>& outputs, const std::vector<named_path>& inputs)
{
  struct identity {
    bool exists = false;
    dev_t dev = 0;
    ino_t ino = 0;
    mode_t mode = 0;
    std::string resolved;  // canonical path of a file not there yet
  };
  auto identify = [](const std::string& path, int std_fd) {
    identity id;
    struct stat st {};
    if (path == "-" ? ::fstat(std_fd, &st) == 0 : ::stat(path.c_str(), &st) == 0) {
      id.exists = true;
      id.dev = st.st_dev;
      id.ino = st.st_ino;
      id.mode = st.st_mode;
    } else if (path != "-") {
      try {
        // absolute() first: libstdc++ leaves a relative path with no existing prefix as it is.
        id.resolved = std::filesystem::weakly_canonical(std::filesystem::absolute(follow_links(path).path)).string();
      } catch (const std::exception&) {
        id.resolved = path;
      }
    }
    return id;
  };
  auto same = [](const identity& a, const identity& b) {
    if (a.exists != b.exists) return false;
    return a.exists ? a.dev == b.dev && a.ino == b.ino : !a.resolved.empty() && a.resolved == b.resolved;
  };
  auto fail = [](const named_path& a, const named_path& b) {
    throw error(a.option + " '" + a.path + "' and " + b.option + " '" + b.path + "' name the same file");
  };
  std::vector<identity> out;
  for (const named_path& o : outputs) out.push_back(o.path.empty() ? identity{} : identify(o.path, STDOUT_FILENO));
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].path.empty()) continue;
    for (std::size_t j = i + 1; j < outputs.size(); ++j) {
      if (outputs[j].path.empty()) continue;
      // Both stdout interleave; a shared terminal or /dev/null harms nothing.
      if ((outputs[i].path == "-" && outputs[j].path == "-") ||
          (same(out[i], out[j]) && !(out[i].exists && S_ISCHR(out[i].mode))))
        fail(outputs[i], outputs[j]);
    }
  }
  for (const named_path& in : inputs) {
    if (in.path.empty()) continue;
    const identity id = identify(in.path, STDIN_FILENO);
    if (!id.exists || !S_ISREG(id.mode)) continue;  // a missing input is the reader's error
    for (std::size_t i = 0; i < outputs.size(); ++i)
      if (!outputs[i].path.empty() && same(id, out[i])) fail(outputs[i], in);
  }
}

output_set::output_set(const std::vector<named_path>& outputs, const std::vector<named_path>& inputs)
{
  check_distinct_files(outputs, inputs);
  for (const named_path& o : outputs) {
    if (o.path.empty()) continue;
    options_.push_back(o.option);
    files_.push_back(std::make_unique<atomic_output>(o.path));
  }
}

atomic_output* output_set::get(std::string_view option)
{
  for (std::size_t i = 0; i < options_.size(); ++i)
    if (options_[i] == option) return files_[i].get();
  return nullptr;
}

void output_set::commit()
{
  // Every file is complete and closed (write errors reported) before any is renamed.
  for (auto& f : files_) f->close();
  std::vector<atomic_output*> files;
  std::vector<std::string*> temps, targets;
  for (auto& f : files_) {
    files.push_back(f.get());
    temps.push_back(&f->temp_);
    targets.push_back(&f->target_);
  }
  commit_all(files, temps, targets);
  for (auto& f : files_) release_temporary(f->temp_slot_);
}

void flush_stdout()
{
  errno = 0;
  const bool failed = std::fflush(stdout) != 0 || std::ferror(stdout) != 0;
  if (!failed) return;
  const int saved = errno != 0 ? errno : EIO;
  std::clearerr(stdout);
  throw error(message_for("-", saved));
}

void append_number(std::string& out, double x)
{
  char buf[shortest_room];
  out.append(buf, put_shortest(buf, x));
}

std::string format_number(double x)
{
  std::string s;
  append_number(s, x);
  return s;
}

namespace {

/// Writes `key` at `p` (quoted where it holds a delimiter, quote or line end, or starts or ends
/// with a space); returns the end. Room for 2 * size + 2 characters is needed.
char* put_key(char* p, const std::string& key)
{
  bool needs_quotes = !key.empty() && (key.front() == ' ' || key.back() == ' ');
  for (char c : key)
    needs_quotes |= c == ',' || c == '"' || c == '\n' || c == '\r' || c == '\t';
  if (!needs_quotes) {
    std::memcpy(p, key.data(), key.size());
    return p + key.size();
  }
  *p++ = '"';
  for (char c : key) {
    if (c == '"') *p++ = '"';
    *p++ = c;
  }
  *p++ = '"';
  return p;
}

/// A reusable text buffer that is never zero-filled.
struct text_buffer {
  std::unique_ptr<char[]> data;
  std::size_t capacity = 0, size = 0;
  void ensure(std::size_t n)
  {
    if (n <= capacity) return;
    data.reset(new char[n]);
    capacity = n;
  }
};

}  // namespace

namespace {

/// Writes a per-group CSV: `header`, then rows [0, J) formatted by format(buffer, begin, end) in
/// blocks of 8192 rows. Formatting dominates: worker threads format blocks into a ring of reused
/// buffers while this thread writes the finished ones in order (so writing overlaps formatting,
/// and the buffers stay mapped). Block boundaries depend on J alone, so the bytes do not depend on
/// the thread count.
template <class Format>
void write_row_blocks(atomic_output& file, const char* header, std::size_t J, int threads, Format&& format)
{
  constexpr std::size_t block = 1 << 13;
  const std::size_t blocks = (J + block - 1) / block;
  file.write(header);
  const int workers = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(detail::thread_count(threads)), blocks));
  if (workers <= 1) {
    text_buffer buf;
    for (std::size_t b = 0; b < blocks; ++b) {
      format(buf, b * block, std::min(J, (b + 1) * block));
      file.write({buf.data.get(), buf.size});
    }
    return;
  }
  const std::size_t ring = static_cast<std::size_t>(workers) * 3;
  std::vector<text_buffer> buffers(ring);
  std::vector<char> ready(blocks, 0);
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t next = 0;     // next block to format
  std::size_t written = 0;  // blocks written
  bool stop = false;
  std::exception_ptr failure;
  auto work = [&] {
    for (;;) {
      std::size_t b;
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return stop || next >= blocks || next < written + ring; });
        if (stop || next >= blocks) return;
        b = next++;
      }
      try {
        format(buffers[b % ring], b * block, std::min(J, (b + 1) * block));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
        stop = true;
        changed.notify_all();
        return;
      }
      std::lock_guard<std::mutex> lock(mutex);
      ready[b] = 1;
      changed.notify_all();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(workers));
  for (int t = 0; t < workers; ++t) pool.emplace_back(work);
  try {
    for (std::size_t b = 0; b < blocks; ++b) {
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return stop || ready[b] != 0; });
        if (stop) break;
      }
      const text_buffer& t = buffers[b % ring];
      file.write({t.data.get(), t.size});
      std::lock_guard<std::mutex> lock(mutex);
      written = b + 1;
      changed.notify_all();
    }
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!failure) failure = std::current_exception();
      stop = true;
    }
    changed.notify_all();
  }
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

namespace {

/// Row j's fields after its key (",x,y,..."); returns the end. Needs 25 bytes a column and
/// shortest_room. Each number is its shortest text when `digits` is 0, else `digits` significant
/// digits (%g style); NaN is an empty field.
template <bool Shortest>
char* put_fields(char* p, const std::vector<result_column>& columns, std::size_t j, int digits)
{
  for (const result_column& c : columns) {
    *p++ = ',';
    if (c.integers != nullptr) {
      p = std::to_chars(p, p + 21, c.integers[j]).ptr;
    } else {
      const double x = c.values != nullptr ? c.values[j] : c.fill;
      p = Shortest ? put_shortest(p, x) : put_digits(p, x, digits);
    }
  }
  return p;
}

char* put_fields(char* p, const std::vector<result_column>& columns, std::size_t j, int digits)
{
  return digits == 0 ? put_fields<true>(p, columns, j, 0) : put_fields<false>(p, columns, j, digits);
}

/// The text of each entry's fields (`entries` of them), from its first row: formatted once, not
/// once per row (groups that share their counts, as most do where sizes are small).
std::vector<std::string> entry_fields(const std::vector<result_column>& columns, const std::uint32_t* entry_of,
                                      std::size_t rows, std::size_t entries, int threads, int digits)
{
  std::vector<std::size_t> first(entries, rows);
  for (std::size_t j = rows; j-- > 0;) first[entry_of[j]] = j;
  std::vector<std::string> text(entries);
  detail::for_each_block(entries, 1 << 10, detail::thread_count(threads), [&](std::size_t begin, std::size_t end, std::size_t) {
    std::vector<char> buffer(columns.size() * 25 + shortest_room);
    for (std::size_t e = begin; e < end; ++e)
      if (first[e] < rows) text[e].assign(buffer.data(), put_fields(buffer.data(), columns, first[e], digits));
  });
  return text;
}

}  // namespace

void write_table_csv(atomic_output& file, key_view keys, const std::vector<result_column>& columns,
                     int threads, int digits, const std::uint32_t* entry_of)
{
  if (digits < 0 || digits > 17) throw error("--digits must be 0 (the shortest exact text) or 1 to 17");
  std::string header = "group";
  for (const result_column& c : columns) header += "," + c.name;
  header += "\n";
  const std::size_t J = keys.size();
  // Entries pay where rows share them; where nearly every row is its own, format rows directly.
  const std::size_t entries = entry_of != nullptr && J > 0 ? 1 + *std::max_element(entry_of, entry_of + J) : 0;
  const std::vector<std::string> shared =
    entries > 0 && entries <= J / 2 ? entry_fields(columns, entry_of, J, entries, threads, digits) : std::vector<std::string>{};
  write_row_blocks(file, header.c_str(), J, threads, [&](text_buffer& out, std::size_t begin, std::size_t end) {
    // Per row at most: the key (2 * size + 2 quoted), the numbers (24 each + a comma), 1 more.
    std::size_t bound = (end - begin) * (columns.size() * 25 + 1);
    for (std::size_t j = begin; j < end; ++j) bound += keys.integer() ? 20 : 2 * keys.text(j).size() + 2;
    out.ensure(bound + shortest_room);  // the last number's fixed-size copies reach past its text
    char* p = out.data.get();
    for (std::size_t j = begin; j < end; ++j) {
      p = keys.integer() ? std::to_chars(p, p + 20, keys.integer(j)).ptr : put_key(p, keys.text(j));
      if (shared.empty()) {
        p = put_fields(p, columns, j, digits);
      } else {
        const std::string& fields = shared[entry_of[j]];
        std::memcpy(p, fields.data(), fields.size());
        p += fields.size();
      }
      *p++ = '\n';
    }
    out.size = static_cast<std::size_t>(p - out.data.get());
  });
}

std::vector<result_column> groups_columns(const fit_result& r)
{
  return {{"n", nullptr, r.n.data()},  {"mean", r.mean.data()},   {"se", r.se.data()},
          {"shrinkage", r.shrinkage.data()}, {"estimate", r.estimate.data()}, {"sd", r.sd.data()},
          {"lower", r.lower.data()}, {"upper", r.upper.data()},
          {"james_stein", r.james_stein.empty() ? nullptr : r.james_stein.data()}};
}

std::vector<result_column> groups_columns(const count_fit_result& r)
{
  const bool binomial = r.family == count_family::binomial;
  std::vector<result_column> c{{binomial ? "trials" : "exposure", r.sizes.data()},
                               {binomial ? "successes" : "count", r.counts.data()},
                               {"rate", r.rate.data()},
                               {"shrinkage", r.shrinkage.data()},
                               {"estimate", r.estimate.data()},
                               {"sd", r.sd.data()},
                               {"lower", r.lower.data()},
                               {"upper", r.upper.data()}};
  // The normal prior adds lme4's conditional mode of b_j and its conditional sd.
  if (r.prior == count_prior::normal) c.insert(c.end(), {{"mode", r.mode.data()}, {"mode_sd", r.mode_sd.data()}});
  return c;
}

/// --tau-method bayes: the marginal posterior of tau (an infinite moment is null).
static nlohmann::json tau_posterior_json(const fit_result::tau_posterior& t)
{
  auto number = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
  return {{"mean", number(t.mean)}, {"sd", number(t.sd)},     {"median", t.median},
          {"lower", t.lower},       {"upper", t.upper},       {"mode", t.mode},
          {"tau2_mean", number(t.tau2_mean)}, {"nodes", t.nodes}};
}

/// The coefficient table shared by the meta-regression and the random-intercept model.
static nlohmann::json coefficients_json(const std::vector<coefficient>& list)
{
  nlohmann::json out = nlohmann::json::array();
  for (const coefficient& c : list)
    out.push_back({{"name", c.name}, {"estimate", c.estimate}, {"se", c.se}, {"z", c.z}, {"p", c.p},
                   {"ci", {c.lower, c.upper}}});
  return out;
}

std::vector<result_column> groups_columns(const std::vector<double>& y, const std::vector<double>& se,
                                          const meta_regression_result& r)
{
  return {{"n", nullptr, nullptr, 1.0},  {"mean", y.data()},         {"se", se.data()},
          {"shrinkage", r.shrinkage.data()}, {"fitted", r.fitted.data()}, {"estimate", r.estimate.data()},
          {"sd", r.sd.data()},          {"lower", r.lower.data()},   {"upper", r.upper.data()},
          {"mse", r.mse.empty() ? nullptr : r.mse.data()}};
}

nlohmann::json summary_json(const meta_regression_result& r, std::size_t groups)
{
  using nlohmann::json;
  auto optional = [](const std::optional<double>& x) { return x ? json(*x) : json(nullptr); };
  json j;
  j["groups"] = groups;
  j["model"] = "meta-regression";
  j["tau_method"] = to_string(r.method);
  j["level"] = r.level;
  j["coefficients"] = coefficients_json(r.coefficients);
  j["tau2"] = r.tau2;
  j["tau"] = std::sqrt(r.tau2);
  j["tau2_se"] = optional(r.tau2_se);
  j["tau2_ci"] = {optional(r.tau2_lower), optional(r.tau2_upper)};  // Q-profile
  // An applied fit has none of its data's statistics: null.
  auto number = [](double x) { return std::isfinite(x) ? json(x) : json(nullptr); };
  j["QE"] = number(r.QE);
  j["QE_df"] = r.applied ? json(nullptr) : json(r.QE_df);
  j["QE_p"] = number(r.QE_p);
  j["QM"] = number(r.QM);
  j["QM_df"] = r.applied ? json(nullptr) : json(r.QM_df);
  j["QM_p"] = number(r.QM_p);
  j["R2"] = optional(r.R2);
  j["I2"] = number(r.I2);
  j["H2"] = number(r.H2);
  j["log_likelihood"] = {{"ml", number(r.log_likelihood_ml)}, {"reml", number(r.log_likelihood_reml)}};
  if (r.tau_post) j["tau_posterior"] = tau_posterior_json(*r.tau_post);
  if (r.posterior) {
    const meta_regression_parameters& h = *r.posterior;
    json levels = json::object();
    for (std::size_t i = 0; i < h.covariates.size(); ++i)
      if (!h.levels[i].empty()) levels[h.covariates[i]] = h.levels[i];
    const std::size_t p = h.names.size();
    json covariance = json::array();
    for (std::size_t a = 0; a < p; ++a)
      covariance.push_back(std::vector<double>(h.beta_covariance.begin() + a * p, h.beta_covariance.begin() + (a + 1) * p));
    j["posterior_parameters"] = {{"covariates", h.covariates},
                                 {"factor_levels", levels},
                                 {"intercept", h.intercept},
                                 {"offset", h.offset.empty() ? json(nullptr) : json(h.offset)},
                                 {"coefficient_names", h.names},
                                 {"centres", h.centres},
                                 {"beta_at_centres", h.beta},
                                 {"beta_covariance", covariance},
                                 {"tau2", h.tau2},
                                 {"level", h.level},
                                 {"interval_quantile", h.interval_quantile},
                                 {"mse_terms", h.mse_variance ? json({{"variance", *h.mse_variance}, {"bias", *h.mse_bias}})
                                                              : json(nullptr)}};
  }
  j["iterations"] = r.iterations;
  j["backend"] = to_string(r.used);
  j["notes"] = r.notes;
  return j;
}

std::vector<result_column> groups_columns(const mixed_model_result& r)
{
  return {{"n", r.n.data()},           {"mean", r.mean.data()},         {"fitted", r.fitted.data()},
          {"effect", r.effect.data()}, {"effect_sd", r.effect_sd.data()}, {"estimate", r.estimate.data()},
          {"lower", r.lower.data()},   {"upper", r.upper.data()}};
}

nlohmann::json summary_json(const mixed_model_result& r)
{
  nlohmann::json j;
  j["groups"] = r.groups;
  j["observations"] = r.observations;
  j["model"] = "random intercept (lmer y ~ x + (1 | group))";
  j["tau_method"] = r.applied ? "fixed" : r.reml ? "reml" : "ml";
  j["level"] = r.level;
  j["coefficients"] = coefficients_json(r.coefficients);
  j["tau2"] = r.tau2;
  j["tau"] = std::sqrt(r.tau2);
  j["sigma2"] = r.sigma2;
  j["log_likelihood"] = std::isfinite(r.log_likelihood) ? nlohmann::json(r.log_likelihood) : nlohmann::json(nullptr);
  const random_intercept_parameters& h = r.posterior;
  j["posterior_parameters"] = {{"covariates", h.covariates},
                               {"value", h.value},
                               {"centres", h.centres},
                               {"beta_at_centres", h.beta},
                               {"tau2", h.tau2},
                               {"sigma2", h.sigma2},
                               {"level", h.level},
                               {"interval_quantile", h.interval_quantile}};
  j["backend"] = to_string(r.used);
  j["notes"] = r.notes;
  return j;
}

nlohmann::json structures_json(const structure_comparison& c)
{
  using nlohmann::json;
  json list = json::array();
  for (const structure_fit& s : c.structures)
    list.push_back({{"name", s.name},
                    {"log_likelihood", s.log_likelihood},
                    {"parameters", s.parameters},
                    {"AIC", s.aic},
                    {"BIC", s.bic},
                    {"logo_score", s.logo_score ? json(*s.logo_score) : json(nullptr)}});
  return {{"structures", list},
          {"tau2_ml", c.tau2_ml},
          {"lr_test", {{"statistic", c.lr_statistic}, {"p_value", c.lr_p_value}}},
          {"favoured", c.favoured},
          {"verdict", c.verdict}};
}

nlohmann::json summary_json(const fit_result& r)
{
  using nlohmann::json;
  // JSON has no infinity: an unbounded F (zero within-group variance with a given sigma) is null.
  auto number = [](double x) { return std::isfinite(x) ? json(x) : json(nullptr); };
  json j;
  j["groups"] = r.groups;
  j["observations"] = r.observations;
  j["mu"] = r.mu;
  j["complete_pooling"] = r.complete_pooling;
  j["tau2"] = r.tau2;
  j["tau"] = std::sqrt(r.tau2);
  j["sigma2"] = r.sigma2 ? json(*r.sigma2) : json(nullptr);
  j["tau_method"] = to_string(r.method);
  j["level"] = r.level;
  j["Q"] = r.Q;
  j["Q_df"] = r.groups > 0 ? r.groups - 1 : 0;
  j["I2"] = r.I2;
  j["H2"] = r.H2;
  j["james_stein_c"] = r.james_stein_c ? json(*r.james_stein_c) : json(nullptr);
  if (r.anova) {
    const anova_table& a = *r.anova;
    j["anova"] = {{"df_between", a.df_between}, {"df_within", a.df_within}, {"ss_between", a.ss_between},
                  {"ss_within", a.ss_within},   {"ms_between", a.ms_between}, {"ms_within", a.ms_within},
                  {"F", number(a.F)}};
  }
  auto optional = [&](const std::optional<double>& x) { return x ? number(*x) : json(nullptr); };
  j["mu_se"] = r.mu_se;
  j["mu_ci"] = {r.mu_lower, r.mu_upper};
  j["tau2_se"] = optional(r.tau2_se);
  j["tau2_ci"] = {optional(r.tau2_lower), optional(r.tau2_upper)};  // Q-profile
  j["prediction_interval"] = {r.pred_lower, r.pred_upper};
  j["iterations"] = r.iterations;
  j["log_likelihood"] = optional(r.log_likelihood);
  j["sigma2_pooled"] = optional(r.sigma2_pooled);
  if (r.posterior) j["posterior_parameters"] = posterior_parameters_json(*r.posterior);
  if (r.tau_post) j["tau_posterior"] = tau_posterior_json(*r.tau_post);
  if (r.t_df) j["t_prior"] = {{"df", *r.t_df}, {"scale", optional(r.t_scale)}};
  j["backend"] = to_string(r.used);
  j["seconds"] = r.seconds.total;
  j["stage_seconds"] = {{"summarize", r.seconds.summarize}, {"tau", r.seconds.tau}, {"posterior", r.seconds.posterior}};
  j["notes"] = r.notes;
  return j;
}

nlohmann::json posterior_parameters_json(const posterior_parameters& p)
{
  using nlohmann::json;
  auto optional = [](const std::optional<double>& x) { return x ? json(*x) : json(nullptr); };
  return {{"mu", p.mu},
          {"tau2", p.tau2},
          {"sigma2", optional(p.sigma2)},
          {"level", p.level},
          {"interval_quantile", p.interval_quantile},
          {"james_stein_center", optional(p.james_stein_center)},
          {"james_stein_c", optional(p.james_stein_c)}};
}

namespace {

/// The "posterior_parameters" object of a fit's JSON summary (`--apply FILE`), and a reader of its
/// finite numbers that names the entry it misses.
struct applied_summary {
  nlohmann::json p;
  std::string what;  ///< "--apply 'FILE': "
  double number(const char* name) const
  {
    SHRINK_EXPECTS(p.contains(name) && p[name].is_number() && std::isfinite(p[name].get<double>()),
                   what + "posterior_parameters." + name + " is missing or not a finite number");
    return p[name].get<double>();
  }
  std::vector<double> numbers(const char* name) const
  {
    SHRINK_EXPECTS(p.contains(name), what + "posterior_parameters." + name + " is missing or not a list");
    return numbers_in(p[name], name);
  }
  std::vector<double> numbers_in(const nlohmann::json& list, const std::string& name) const
  {
    SHRINK_EXPECTS(list.is_array(), what + "posterior_parameters." + name + " is missing or not a list");
    std::vector<double> out;
    for (const nlohmann::json& e : list) {
      SHRINK_EXPECTS(e.is_number() && std::isfinite(e.get<double>()), what + "posterior_parameters." + name + " holds a non-number");
      out.push_back(e.get<double>());
    }
    return out;
  }
  std::vector<std::string> names(const nlohmann::json& list, const std::string& name) const
  {
    SHRINK_EXPECTS(list.is_array(), what + "posterior_parameters." + name + " is missing or not a list");
    std::vector<std::string> out;
    for (const nlohmann::json& e : list) {
      SHRINK_EXPECTS(e.is_string(), what + "posterior_parameters." + name + " holds a non-name");
      out.push_back(e.get<std::string>());
    }
    return out;
  }
};

applied_summary read_applied_summary(const std::string& path, const std::string& family = "normal")
{
  using nlohmann::json;
  std::ifstream in(path, std::ios::binary);
  SHRINK_EXPECTS(in.good(), "--apply: cannot open '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  const std::string what = "--apply '" + path + "': ";
  json j;
  try {
    j = json::parse(text.str());
  } catch (const json::exception&) {
    throw error(what + "not a JSON file (give the --summary of a shrink fit)");
  }
  SHRINK_EXPECTS(j.is_object(), what + "not the --summary of a shrink fit");
  // Normal-family summaries name no family.
  const std::string fitted = j.contains("family") && j["family"].is_string() ? j["family"].get<std::string>() : "normal";
  SHRINK_EXPECTS(fitted == family, what + "the summary of a " + fitted + " fit: apply it with --family " + fitted);
  SHRINK_EXPECTS(j.contains("posterior_parameters") && j["posterior_parameters"].is_object(),
                 what + "no \"posterior_parameters\" (the --summary of a fit with point hyperparameters: not bayes, "
                        "--prior t, or a count prior on its boundary)");
  return {j["posterior_parameters"], what};
}

}  // namespace

applied_model applied_fit_model(const std::string& path)
{
  const nlohmann::json p = read_applied_summary(path).p;
  return p.contains("beta_covariance") ? applied_model::meta_regression
         : p.contains("covariates")    ? applied_model::random_intercept
                                       : applied_model::plain;
}

posterior_parameters read_posterior_parameters(const std::string& path)
{
  const applied_summary a = read_applied_summary(path);
  const nlohmann::json& p = a.p;
  auto optional = [&](const char* name) -> std::optional<double> {
    if (!p.contains(name) || p[name].is_null()) return std::nullopt;
    return a.number(name);
  };
  posterior_parameters h;
  h.mu = a.number("mu");
  h.tau2 = a.number("tau2");
  h.level = a.number("level");
  h.interval_quantile = a.number("interval_quantile");
  h.sigma2 = optional("sigma2");
  h.james_stein_center = optional("james_stein_center");
  h.james_stein_c = optional("james_stein_c");
  SHRINK_EXPECTS(h.tau2 >= 0 && h.level > 0 && h.level < 1 && h.interval_quantile > 0 && (!h.sigma2 || *h.sigma2 > 0),
                 a.what + "posterior_parameters: tau2 must be >= 0, sigma2 and interval_quantile > 0");
  return h;
}

count_prior_parameters read_count_prior_parameters(const std::string& path, count_family family)
{
  const applied_summary a = read_applied_summary(path, to_string(family));
  count_prior_parameters h;
  h.level = a.number("level");
  const bool binomial = family == count_family::binomial;
  if (a.p.contains("mu")) {  // the normal prior on the link scale
    h.prior = count_prior::normal;
    h.a = a.number("mu");
    h.b = a.number("tau");
    const double k = a.number("quadrature_points");
    SHRINK_EXPECTS(k >= 1 && k <= 100 && k == std::floor(k), a.what + "posterior_parameters.quadrature_points must be 1 to 100");
    h.quadrature_points = static_cast<int>(k);
    SHRINK_EXPECTS(h.b >= 0, a.what + "posterior_parameters.tau must be >= 0");
  } else {
    h.a = a.number(binomial ? "alpha" : "shape");
    h.b = a.number(binomial ? "beta" : "rate");
    SHRINK_EXPECTS(h.a > 0 && h.b > 0, a.what + "the prior's parameters must be positive");
  }
  SHRINK_EXPECTS(h.level > 0 && h.level < 1, a.what + "posterior_parameters.level must lie strictly between 0 and 1");
  return h;
}

random_intercept_parameters read_random_intercept_parameters(const std::string& path)
{
  const applied_summary a = read_applied_summary(path);
  const nlohmann::json& p = a.p;
  random_intercept_parameters h;
  SHRINK_EXPECTS(p.contains("covariates") && p["covariates"].is_array(),
                 a.what + "no covariates in its posterior_parameters (a fit without covariates: give no --covariates)");
  h.covariates = a.names(p["covariates"], "covariates");
  SHRINK_EXPECTS(p.contains("value") && p["value"].is_string(), a.what + "posterior_parameters.value is missing");
  h.value = p["value"].get<std::string>();
  h.centres = a.numbers("centres");
  h.beta = a.numbers("beta_at_centres");
  h.tau2 = a.number("tau2");
  h.sigma2 = a.number("sigma2");
  h.level = a.number("level");
  h.interval_quantile = a.number("interval_quantile");
  SHRINK_EXPECTS(!h.covariates.empty() && h.centres.size() == h.covariates.size() && h.beta.size() == h.covariates.size() + 1,
                 a.what + "posterior_parameters: one centre per covariate and one more coefficient are needed");
  SHRINK_EXPECTS(h.tau2 >= 0 && h.sigma2 > 0 && h.level > 0 && h.level < 1 && h.interval_quantile > 0,
                 a.what + "posterior_parameters: tau2 must be >= 0, sigma2 and interval_quantile > 0");
  return h;
}

meta_regression_parameters read_meta_regression_parameters(const std::string& path)
{
  const applied_summary a = read_applied_summary(path);
  const nlohmann::json& p = a.p;
  auto entry = [&](const char* name) -> const nlohmann::json& {
    SHRINK_EXPECTS(p.contains(name), a.what + "posterior_parameters." + name + " is missing");
    return p[name];
  };
  meta_regression_parameters h;
  h.covariates = a.names(entry("covariates"), "covariates");
  const nlohmann::json& levels = entry("factor_levels");
  SHRINK_EXPECTS(levels.is_object(), a.what + "posterior_parameters.factor_levels is not an object");
  for (const std::string& c : h.covariates) {
    h.levels.push_back(levels.contains(c) ? a.names(levels[c], "factor_levels." + c) : std::vector<std::string>{});
    SHRINK_EXPECTS(std::is_sorted(h.levels.back().begin(), h.levels.back().end()),
                   a.what + "posterior_parameters.factor_levels." + c + " is not sorted");
  }
  SHRINK_EXPECTS(entry("intercept").is_boolean(), a.what + "posterior_parameters.intercept is not true or false");
  h.intercept = p["intercept"].get<bool>();
  const nlohmann::json& offset = entry("offset");
  SHRINK_EXPECTS(offset.is_null() || offset.is_string(), a.what + "posterior_parameters.offset is not a name or null");
  if (offset.is_string()) h.offset = offset.get<std::string>();
  h.names = a.names(entry("coefficient_names"), "coefficient_names");
  h.centres = a.numbers("centres");
  h.beta = a.numbers("beta_at_centres");
  const std::size_t q = h.names.size();
  const nlohmann::json& covariance = entry("beta_covariance");
  SHRINK_EXPECTS(covariance.is_array() && covariance.size() == q, a.what + "posterior_parameters.beta_covariance is not a " +
                                                                     std::to_string(q) + " x " + std::to_string(q) + " matrix");
  for (const nlohmann::json& row : covariance) {
    const std::vector<double> r = a.numbers_in(row, "beta_covariance");
    SHRINK_EXPECTS(r.size() == q, a.what + "posterior_parameters.beta_covariance is not a " + std::to_string(q) + " x " +
                                    std::to_string(q) + " matrix");
    h.beta_covariance.insert(h.beta_covariance.end(), r.begin(), r.end());
  }
  // A covariance: symmetric (to the rounding of the inverse it was computed as), variances >= 0.
  for (std::size_t r = 0; r < q; ++r)
    SHRINK_EXPECTS(h.beta_covariance[r * q + r] >= 0, a.what + "posterior_parameters.beta_covariance has a negative variance");
  for (std::size_t r = 0; r < q; ++r)
    for (std::size_t c = 0; c < r; ++c) {
      const double rc = h.beta_covariance[r * q + c], cr = h.beta_covariance[c * q + r];
      SHRINK_EXPECTS(std::fabs(rc - cr) <= 1e-10 * std::sqrt(h.beta_covariance[r * q + r] * h.beta_covariance[c * q + c]),
                     a.what + "posterior_parameters.beta_covariance is not symmetric");
    }
  h.tau2 = a.number("tau2");
  h.level = a.number("level");
  h.interval_quantile = a.number("interval_quantile");
  const nlohmann::json& mse = entry("mse_terms");
  if (!mse.is_null()) {
    auto term = [&](const char* name) {
      SHRINK_EXPECTS(mse.is_object() && mse.contains(name) && mse[name].is_number() && std::isfinite(mse[name].get<double>()),
                     a.what + "posterior_parameters.mse_terms." + name + " is missing or not a finite number");
      return mse[name].get<double>();
    };
    h.mse_variance = term("variance");
    h.mse_bias = term("bias");
  }
  SHRINK_EXPECTS(!h.names.empty() && h.centres.size() == q && h.beta.size() == q,
                 a.what + "posterior_parameters: one centre and one coefficient per coefficient name are needed");
  SHRINK_EXPECTS(h.tau2 >= 0 && h.level > 0 && h.level < 1 && h.interval_quantile > 0,
                 a.what + "posterior_parameters: tau2 must be >= 0, level in (0, 1) and interval_quantile > 0");
  return h;
}

namespace {

/// The normal prior's summary: lme4's quantities (fixed effect mu, variance tau2, log-likelihood).
nlohmann::json glmm_summary_json(const count_fit_result& r)
{
  using nlohmann::json;
  auto number = [](double x) { return std::isfinite(x) ? json(x) : json(nullptr); };
  auto optional = [&](const std::optional<double>& x) { return x ? number(*x) : json(nullptr); };
  const bool binomial = r.family == count_family::binomial;
  json j;
  j["family"] = to_string(r.family);
  j["prior"] = to_string(r.family, r.prior);
  j["method"] = to_string(r.method);
  j["quadrature_points"] = r.quadrature_points;
  j["groups"] = r.groups;
  j[binomial ? "successes" : "counts"] = r.total_count;
  j[binomial ? "trials" : "exposure"] = r.total_size;
  j["complete_pooling"] = r.complete_pooling;
  j["mu"] = r.mu;
  j["mu_se"] = optional(r.mu_se);
  j["tau2"] = r.tau2;
  j["tau2_se"] = optional(r.tau2_se);
  j["tau"] = r.tau;
  j["tau_se"] = optional(r.tau_se);
  j["mean"] = r.mean;  // the rate at b = 0: expit(mu) or exp(mu)
  auto range = [&](const std::optional<interval>& i) {
    return i ? json::array({number(i->lower), number(i->upper)}) : json::array({nullptr, nullptr});
  };
  j["mu_ci"] = range(r.mu_ci);  // profile likelihood
  j["tau2_ci"] = range(r.tau2_ci);
  j["level"] = r.level;
  j["log_likelihood"] = number(r.log_likelihood);
  j["tau2_test"] = {{"statistic", number(r.overdispersion_statistic)},
                    {"p_value", number(r.overdispersion_p_value)},
                    {"null", "tau2 = 0; chi-bar-square(0, 1)"}};
  j["boundary"] = r.boundary;
  j["iterations"] = r.iterations;
  // What --apply reads: every group's posterior follows from (mu, tau) and the rule.
  j["posterior_parameters"] = {{"mu", r.mu}, {"tau", r.tau}, {"quadrature_points", r.quadrature_points}, {"level", r.level}};
  j["backend"] = to_string(r.used);
  j["seconds"] = r.seconds_total;
  j["stage_seconds"] = {{"estimate", r.seconds_estimate}, {"posterior", r.seconds_posterior}};
  j["notes"] = r.notes;
  return j;
}

}  // namespace

nlohmann::json summary_json(const count_fit_result& r)
{
  using nlohmann::json;
  // JSON has no infinity: an infinite concentration (the boundary) or interval end is null.
  auto number = [](double x) { return std::isfinite(x) ? json(x) : json(nullptr); };
  auto optional = [&](const std::optional<double>& x) { return x ? number(*x) : json(nullptr); };
  auto range = [&](const std::optional<interval>& i) {
    return i ? json::array({number(i->lower), number(i->upper)}) : json::array({nullptr, nullptr});
  };
  // Each family's own names: Beta(alpha, beta) with mean and concentration; Gamma(shape, rate) with
  // mean and shape.
  const bool binomial = r.family == count_family::binomial;
  if (r.prior == count_prior::normal) return glmm_summary_json(r);
  const std::string a = binomial ? "alpha" : "shape", b = binomial ? "beta" : "rate";
  const std::string spread = binomial ? "concentration" : "shape";
  json j;
  j["family"] = to_string(r.family);
  j["prior"] = binomial ? "beta" : "gamma";
  j["method"] = to_string(r.method);
  j["groups"] = r.groups;
  j[binomial ? "successes" : "counts"] = r.total_count;
  j[binomial ? "trials" : "exposure"] = r.total_size;
  j["complete_pooling"] = r.complete_pooling;
  j[a] = number(r.a);
  j[b] = number(r.b);
  j["mean"] = number(r.mean);
  j[spread] = number(r.concentration);
  j["mean_se"] = optional(r.mean_se);
  j[spread + "_se"] = optional(r.concentration_se);
  j["mean_ci"] = range(r.mean_ci);  // profile likelihood
  j[spread + "_ci"] = range(r.concentration_ci);
  j["level"] = r.level;
  j["log_likelihood"] = number(r.log_likelihood);
  j["overdispersion_test"] = {{"statistic", number(r.overdispersion_statistic)},
                              {"p_value", number(r.overdispersion_p_value)},
                              {"null", spread + " = infinity (" + to_string(r.family) + "); chi-bar-square(0, 1)"}};
  j["boundary"] = r.boundary;
  j["iterations"] = r.iterations;
  if (r.bayes) {
    const count_bayes_summary& s = *r.bayes;
    auto summary = [&](const posterior_summary& p) {
      return json{{"mean", number(p.mean)}, {"sd", number(p.sd)}, {"median", number(p.median)},
                  {"lower", number(p.lower)}, {"upper", number(p.upper)}};
    };
    j["bayes"] = {{"hyperprior", s.hyperprior},
                  {a, summary(s.a)},
                  {b, summary(s.b)},
                  {"mean", summary(s.mean)},
                  {spread, summary(s.concentration)},
                  {binomial ? "log_alpha_over_beta" : "log_mean", summary(s.link_mean)},
                  {binomial ? "log_alpha_plus_beta" : "log_shape", summary(s.log_concentration)},
                  {"grid_points", s.grid_points},
                  {"grid_spacing_sd", s.spacing},
                  {"neglected_mass", s.neglected_mass},
                  {"mixture_points", s.mixture_points},
                  {"log_marginal_likelihood", optional(s.log_marginal_likelihood)}};
  }
  // What --apply reads: a point prior gives every group's posterior (none under bayes, whose
  // posteriors mix over the hyperparameters, or on the boundary, where the prior is a point mass).
  j["posterior_parameters"] = nullptr;
  if (!r.bayes && std::isfinite(r.a) && std::isfinite(r.b)) j["posterior_parameters"] = {{a, r.a}, {b, r.b}, {"level", r.level}};
  j["backend"] = to_string(r.used);
  j["seconds"] = r.seconds_total;
  j["stage_seconds"] = {{"estimate", r.seconds_estimate}, {"posterior", r.seconds_posterior}};
  j["notes"] = r.notes;
  return j;
}

void write_text_file(const std::string& path, const std::string& text)
{
  atomic_output file(path);
  file.write(text);
  file.commit();
}

}  // namespace shrink::io
