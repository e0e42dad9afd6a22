#pragma once
// Writers: the per-group CSV, the JSON summary, and files that appear whole or not at all.
//
// Every output of a run goes through an output_set: it refuses two outputs, or an output and an
// input, that are the same file; writes each output to a temporary file beside its target (after
// symbolic links); and commits them all or none. Temporary files are removed when shrink is
// interrupted (SIGINT, SIGTERM, SIGHUP, SIGPIPE), and a memory-mapped input truncated under shrink
// (SIGBUS) becomes a one-line error. SIGKILL cannot be caught: it can leave `*.tmp-*` files.

#include "group_keys.hpp"

#include <shrink/counts.hpp>
#include <shrink/fit.hpp>
#include <shrink/regression.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace shrink::io {

/// One output, written to a temporary file beside its target and renamed over the target on
/// commit, so a failed run never leaves a half-written file; the replaced file's permissions are
/// kept. A symbolic link is followed (its target is replaced, never the link). Written in place
/// instead: "-" (stdout), an existing device, FIFO or socket (/dev/null), and the open-file links
/// of /proc (/dev/stdout, /dev/fd/N, /proc/self/fd/N: the file descriptor itself is written).
class atomic_output {
 public:
  explicit atomic_output(std::string path);
  ~atomic_output();
  atomic_output(const atomic_output&) = delete;
  atomic_output& operator=(const atomic_output&) = delete;

  /// Buffered; throws shrink::error on a failed write.
  void write(std::string_view bytes);
  /// Flushes and closes the temporary file (reporting write errors) without renaming it yet.
  void close();
  /// Closes and renames into place; throws shrink::error on any failure. For several outputs
  /// use output_set::commit, which commits all or none.
  void commit();
  const std::string& path() const { return path_; }

 private:
  friend class output_set;
  [[noreturn]] void fail(int err) const;
  void flush();
  /// write(2) until every byte is out (EINTR retried); throws on a failed write.
  void write_all(std::string_view bytes);

  std::string path_;    // as given, for messages
  std::string target_;  // the file the temporary is renamed over (links resolved)
  std::string temp_;    // empty when written in place or once committed
  int fd_ = -1;
  int temp_slot_ = -1;  // in the signal handler's registry of temporary files
  bool in_place_ = false;
  bool owns_fd_ = true;  // false for stdout ("-"), which is never closed
  std::string buffer_;
};

/// An option and the path given to it, for messages: {"--summary", "fit.json"}.
struct named_path {
  std::string option;
  std::string path;
};

/// Throws shrink::error (one line naming both) when two of `outputs`, or an output and one of
/// `inputs`, are the same file: the same device and inode after links, or for a file that does
/// not exist yet the same resolved path; "-" is stdout (output) or stdin (input). Two outputs may
/// share a character device (/dev/null, a terminal) unless both are "-"; an input and an output
/// conflict when they are the same regular file. Empty paths are skipped.
void check_distinct_files(const std::vector<named_path>& outputs, const std::vector<named_path>& inputs = {});

/// The outputs of one run, committed together: all of them appear, or none changes.
class output_set {
 public:
  /// check_distinct_files, then opens every output with a non-empty path (an unwritable one
  /// fails here, before any work).
  explicit output_set(const std::vector<named_path>& outputs, const std::vector<named_path>& inputs = {});
  /// The output of `option`, or null when it was not given.
  atomic_output* get(std::string_view option);
  /// Closes every output, then renames each temporary over its target, keeping a hard link to
  /// each replaced file until all are in place; on any failure, every target renamed so far is
  /// put back (the old file, same inode) or removed, and shrink::error is thrown. Signals that
  /// would end shrink wait until the renames are done or undone.
  void commit();

 private:
  std::vector<std::string> options_;
  std::vector<std::unique_ptr<atomic_output>> files_;
};

/// Flushes stdout (printf output) and throws "cannot write to stdout: REASON" on any error.
void flush_stdout();

/// Installs the signal handlers (once; signals ignored by the parent stay ignored): SIGINT,
/// SIGTERM, SIGHUP and SIGPIPE remove the temporary files, then end shrink by the same signal;
/// SIGBUS in a registered mapped input prints "input 'X' was truncated while being read",
/// removes the temporary files and exits 1.
void install_signal_handlers();

/// A read-only mapping of an input file, known to the SIGBUS handler while the object lives.
class mapped_input_guard {
 public:
  mapped_input_guard() = default;
  mapped_input_guard(const void* begin, std::size_t bytes, const std::string& path);
  ~mapped_input_guard();
  mapped_input_guard(mapped_input_guard&& other) noexcept;
  mapped_input_guard& operator=(mapped_input_guard&& other) noexcept;
  mapped_input_guard(const mapped_input_guard&) = delete;
  mapped_input_guard& operator=(const mapped_input_guard&) = delete;

 private:
  int slot_ = -1;
};

/// Shortest decimal text that reads back to exactly `x` (round trip); nothing for NaN.
void append_number(std::string& out, double x);
std::string format_number(double x);

/// One column of a per-group table after its `group` key: doubles, whole numbers (`integers`), or
/// `fill` in every row (NaN: an empty field). The CSV writers and the Python package's DataFrames
/// take their columns from the same lists (groups_columns), so the two cannot differ.
struct result_column {
  std::string name;
  const double* values = nullptr;
  const std::int64_t* integers = nullptr;
  double fill = std::numeric_limits<double>::quiet_NaN();
};

/// A per-group CSV: `group` then `columns`, one row per key. Numbers are the shortest text that
/// reads back to the same double, or `digits` (1 to 17) significant digits. `entry_of`, when given,
/// says which rows have equal fields (count_fit_result::entry_of): those are formatted once.
void write_table_csv(atomic_output& out, key_view keys, const std::vector<result_column>& columns,
                     int threads, int digits = 0, const std::uint32_t* entry_of = nullptr);

/// The columns of each per-group CSV, after `group`; they point into the result (write them with
/// write_table_csv). The normal fit: n,mean,se,shrinkage,estimate,sd,lower,upper,james_stein.
std::vector<result_column> groups_columns(const fit_result& r);
/// A count family: trials,successes,rate,shrinkage,estimate,sd,lower,upper (poisson: exposure,count,...).
std::vector<result_column> groups_columns(const count_fit_result& r);
/// A meta-regression: n,mean,se,shrinkage,fitted,estimate,sd,lower,upper,mse (`mean`/`se`: the input
/// y_j, se_j; mse empty where the method has none).
std::vector<result_column> groups_columns(const std::vector<double>& y, const std::vector<double>& se,
                                          const meta_regression_result& r);
/// The random-intercept model with covariates (raw mode): n,mean,fitted,effect,effect_sd,estimate,lower,upper.
std::vector<result_column> groups_columns(const mixed_model_result& r);

/// The JSON summary of a fit (hyperparameters, heterogeneity, ANOVA, backend, timings).
nlohmann::json summary_json(const fit_result& r);

/// The summary's "posterior_parameters" object, and its reading back from a fit's JSON summary file
/// (`shrink fit --apply FILE`): one-line errors when the file is not such a summary.
nlohmann::json posterior_parameters_json(const posterior_parameters& p);
posterior_parameters read_posterior_parameters(const std::string& path);
/// The same for a random-intercept fit with covariates, and for a meta-regression.
random_intercept_parameters read_random_intercept_parameters(const std::string& path);
meta_regression_parameters read_meta_regression_parameters(const std::string& path);
/// Which model a fit's JSON summary holds the parameters of (errors as read_posterior_parameters').
enum class applied_model { plain, random_intercept, meta_regression };
applied_model applied_fit_model(const std::string& path);
/// The same for a count fit of `family`: its prior as --method fixed takes it (count_options' a, b).
struct count_prior_parameters {
  count_prior prior = count_prior::conjugate;
  double a = 0, b = 0;  ///< alpha, beta (shape, rate), or the link-scale mu and tau
  int quadrature_points = 10;
  double level = 0.95;
};
count_prior_parameters read_count_prior_parameters(const std::string& path, count_family family);

/// The JSON summary of a count fit (both parameterisations, standard errors, profile intervals, the
/// over-dispersion test, backend, timings).
nlohmann::json summary_json(const count_fit_result& r);

/// The JSON summary of a meta-regression (coefficient table, tau2 with se and interval, QE, QM, R2, I2, H2).
nlohmann::json summary_json(const meta_regression_result& r, std::size_t groups);

/// The JSON summary of the random-intercept model (fixed effects, tau2, sigma2, log-likelihood).
nlohmann::json summary_json(const mixed_model_result& r);

/// The `structures` object: separate / pooled / hierarchical with log-likelihoods, AIC, BIC,
/// leave-one-group-out scores, the likelihood-ratio test of tau2 = 0 and the verdict.
nlohmann::json structures_json(const structure_comparison& c);

/// Writes `text` to `path` atomically.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace shrink::io
