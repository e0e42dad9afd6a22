#pragma once
// Writers: the per-group CSV, the JSON summary, and files that appear whole or not at all.

#include <shrink/fit.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace shrink::io {

/// Writes to a temporary file beside `path` and renames it over `path` on commit(), so a failed
/// run never leaves a half-written file. "-" writes to stdout, and an existing device or pipe
/// (/dev/null, a FIFO) is written in place.
class atomic_output {
 public:
  explicit atomic_output(std::string path);
  ~atomic_output();
  atomic_output(const atomic_output&) = delete;
  atomic_output& operator=(const atomic_output&) = delete;

  void write(std::string_view bytes);
  /// Closes the temporary file (reporting write errors) without renaming it yet: close every
  /// output of a run first, then commit them, so a failure leaves none of them half-done.
  void close();
  /// Closes and renames into place; throws shrink::error on any failure.
  void commit();

 private:
  std::string path_, temp_;
  int fd_ = -1;
  bool direct_ = false;  // a device or pipe, written in place
};

/// Shortest decimal text that reads back to exactly `x` (round trip); nothing for NaN.
void append_number(std::string& out, double x);
std::string format_number(double x);

/// The per-group CSV: group,n,mean,se,shrinkage,estimate,sd,lower,upper,james_stein.
void write_groups_csv(atomic_output& out, const std::vector<std::string>& keys, const fit_result& r, int threads);

/// The JSON summary of a fit (hyperparameters, heterogeneity, ANOVA, backend, timings).
nlohmann::json summary_json(const fit_result& r);

/// Writes `text` to `path` atomically.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace shrink::io
