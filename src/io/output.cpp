#include "output.hpp"

#include "../cpu/parallel.hpp"

#include <shrink/error.hpp>

#include <cerrno>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace shrink::io {

atomic_output::atomic_output(std::string path) : path_(std::move(path))
{
  if (path_ == "-") {
    fd_ = STDOUT_FILENO;
    return;
  }
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    // A device or pipe (/dev/null, /dev/stdout, a FIFO) is written in place: renaming a file over
    // it would replace the device.
    fd_ = ::open(path_.c_str(), O_WRONLY);
    if (fd_ < 0) throw error("cannot write '" + path_ + "': " + std::strerror(errno));
    direct_ = true;
    return;
  }
  // A unique name beside the target (same file system, so the final rename is atomic).
  temp_ = path_ + ".tmp-XXXXXX";
  fd_ = ::mkstemp(temp_.data());
  if (fd_ < 0) {
    const int saved = errno;
    temp_.clear();
    throw error("cannot write '" + path_ + "': " + std::strerror(saved));
  }
  // mkstemp creates 0600; give the file the permissions a plain open would (0666 less umask).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd_, 0666 & ~mask);
}

atomic_output::~atomic_output()
{
  if (direct_ && fd_ >= 0) ::close(fd_);
  if (temp_.empty()) return;
  if (fd_ >= 0) ::close(fd_);
  ::unlink(temp_.c_str());
}

void atomic_output::write(std::string_view bytes)
{
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw error("cannot write '" + path_ + "': " + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void atomic_output::close()
{
  if (temp_.empty() || fd_ < 0) return;
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int saved = errno;
    ::unlink(temp_.c_str());
    temp_.clear();
    throw error("cannot write '" + path_ + "': " + std::strerror(saved));
  }
}

void atomic_output::commit()
{
  if (direct_) {
    const int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) throw error("cannot write '" + path_ + "': " + std::strerror(errno));
    return;
  }
  if (temp_.empty()) return;
  close();
  if (temp_.empty()) return;
  if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp_.c_str());
    throw error("cannot write '" + path_ + "': " + std::strerror(saved));
  }
  temp_.clear();
}

void append_number(std::string& out, double x)
{
  if (std::isnan(x)) return;
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, x);
  out.append(buf, res.ptr);
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

/// Shortest round-trip text of `x` at `p` (nothing for NaN); returns the end. Needs 24 characters.
inline char* put_number(char* p, double x)
{
  if (std::isnan(x)) return p;
  return std::to_chars(p, p + 32, x).ptr;
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

/// Formats rows [begin, end) of the per-group CSV into `out`.
void format_rows(text_buffer& out, const std::vector<std::string>& keys, const fit_result& r, std::size_t begin,
                 std::size_t end)
{
  // Per row at most: the key (2 * size + 2 quoted), n (20), 8 numbers (24 each + a comma), 2 more.
  std::size_t bound = 0;
  for (std::size_t j = begin; j < end; ++j) bound += 2 * keys[j].size() + 2 + 21 + 8 * 25 + 2;
  out.ensure(bound);
  char* p = out.data.get();
  const bool js = !r.james_stein.empty();
  for (std::size_t j = begin; j < end; ++j) {
    p = put_key(p, keys[j]);
    *p++ = ',';
    p = std::to_chars(p, p + 21, r.n[j]).ptr;
    *p++ = ',';
    p = put_number(p, r.mean[j]);
    *p++ = ',';
    p = put_number(p, r.se[j]);
    *p++ = ',';
    p = put_number(p, r.shrinkage[j]);
    *p++ = ',';
    p = put_number(p, r.estimate[j]);
    *p++ = ',';
    p = put_number(p, r.sd[j]);
    *p++ = ',';
    p = put_number(p, r.lower[j]);
    *p++ = ',';
    p = put_number(p, r.upper[j]);
    *p++ = ',';
    if (js) p = put_number(p, r.james_stein[j]);
    *p++ = '\n';
  }
  out.size = static_cast<std::size_t>(p - out.data.get());
}

}  // namespace

void write_groups_csv(atomic_output& file, const std::vector<std::string>& keys, const fit_result& r, int threads)
{
  const std::size_t J = r.groups;
  if (keys.size() != J) throw error("internal: group keys and results differ in length");
  constexpr std::size_t block = 1 << 13;
  const std::size_t blocks = (J + block - 1) / block;
  file.write("group,n,mean,se,shrinkage,estimate,sd,lower,upper,james_stein\n");
  const int workers = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(detail::thread_count(threads)), blocks));
  if (workers <= 1) {
    text_buffer buf;
    for (std::size_t b = 0; b < blocks; ++b) {
      format_rows(buf, keys, r, b * block, std::min(J, (b + 1) * block));
      file.write({buf.data.get(), buf.size});
    }
    return;
  }
  // Formatting dominates: worker threads format blocks of rows into a ring of reused buffers
  // while this thread writes the finished ones in order (so writing overlaps formatting, and the
  // buffers stay mapped). Block boundaries depend on J alone, so the bytes do not depend on the
  // thread count.
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
        format_rows(buffers[b % ring], keys, r, b * block, std::min(J, (b + 1) * block));
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
  if (r.tau_post) {
    const auto& t = *r.tau_post;
    j["tau_posterior"] = {{"mean", number(t.mean)}, {"sd", number(t.sd)},     {"median", t.median},
                          {"lower", t.lower},       {"upper", t.upper},       {"mode", t.mode},
                          {"tau2_mean", number(t.tau2_mean)}, {"nodes", t.nodes}};
  }
  if (r.t_df) j["t_prior"] = {{"df", *r.t_df}, {"scale", optional(r.t_scale)}};
  j["backend"] = to_string(r.used);
  j["seconds"] = r.seconds.total;
  j["stage_seconds"] = {{"summarize", r.seconds.summarize}, {"tau", r.seconds.tau}, {"posterior", r.seconds.posterior}};
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
