// `shrink generate`: one data set from the two-level model, in long format (group,y), streamed:
// memory does not grow with the number of rows.

#include "arguments.hpp"
#include "commands.hpp"

#include "io/npy.hpp"
#include "io/output.hpp"

#include <shrink/error.hpp>
#include <shrink/simulate.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string_view>
#include <vector>

namespace shrink::cli {
namespace {

struct generate_args {
  long long groups = 1000;
  std::string obs = "10";
  std::string mu = "0", tau = "1", sigma = "1";
  std::string seed = "1";
  std::string output = "-";
  std::string truth;  ///< optional file of the true group means
  std::string group_npy, value_npy;  ///< binary columns (.npy) of the same rows
  bool csv_given = false;            ///< -o given: with binary output, the CSV is written only then
};

/// Standard normal draws by the Box-Muller transform on a fully specified engine (mt19937_64),
/// so a seed gives the same file on every platform and standard library.
class normal_source {
 public:
  explicit normal_source(std::uint64_t seed) : engine_(seed) {}
  double uniform() { return (static_cast<double>(engine_() >> 11) + 0.5) * 0x1.0p-53; }
  double operator()()
  {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(uniform()));
    const double a = 2.0 * M_PI * uniform();
    spare_ = r * std::sin(a);
    has_spare_ = true;
    return r * std::cos(a);
  }
  std::uint64_t bits() { return engine_(); }
  /// Moves past `k` normal draws exactly as k calls would (two engine outputs per pair), without
  /// computing them, except the last pair's when it leaves a spare.
  void skip(std::uint64_t k)
  {
    if (k > 0 && has_spare_) {
      has_spare_ = false;
      --k;
    }
    engine_.discard(k / 2 * 2);
    if (k % 2 != 0) (void)(*this)();
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0;
  bool has_spare_ = false;
};

/// Values of one .npy column gathered and written in blocks.
template <class T>
class column_writer {
 public:
  explicit column_writer(io::atomic_output* out) : out_(out)
  {
    if (out_ != nullptr) buffer_.reserve(block);
  }
  void push(T x)
  {
    if (out_ == nullptr) return;
    buffer_.push_back(x);
    if (buffer_.size() == block) flush();
  }
  void flush()
  {
    if (out_ == nullptr) return;
    // .npy columns are little-endian, as is every host shrink builds for.
    out_->write({reinterpret_cast<const char*>(buffer_.data()), buffer_.size() * sizeof(T)});
    buffer_.clear();
  }

 private:
  static constexpr std::size_t block = std::size_t{1} << 16;
  io::atomic_output* out_;
  std::vector<T> buffer_;
};

[[noreturn]] void not_finite(long long group)
{
  throw error("a drawn value of group " + std::to_string(group) +
              " is not a finite number: --mu, --tau and --sigma are too large (values overflow a double)");
}

void run_generate(const generate_args& a)
{
  if (a.groups < 1 || a.groups > 2147483647LL) throw error("--groups must be between 1 and 2^31-1");
  const double mu = parse_double(a.mu, "--mu"), tau = parse_double(a.tau, "--tau"), sigma = parse_double(a.sigma, "--sigma");
  if (!(std::isfinite(mu) && std::isfinite(tau) && tau >= 0 && std::isfinite(sigma) && sigma > 0))
    throw error("--mu must be finite, --tau >= 0 and --sigma > 0");
  const std::uint64_t seed = parse_seed(a.seed);
  const obs_range range = parse_obs_range(a.obs);  // "N" or "MIN:MAX", 1 <= MIN <= MAX
  const long long lo = range.min, hi = range.max;

  if (a.group_npy.empty() != a.value_npy.empty()) throw error("binary output needs both --group-npy and --value-npy");
  const bool binary = !a.group_npy.empty();
  const bool csv = !binary || a.csv_given;
  if (csv && a.output.empty()) throw error("-o: give a file name, or - for stdout");

  // Every output is opened before any work and committed together: all appear, or none changes.
  io::output_set outputs({{"-o", csv ? a.output : std::string()},
                          {"--truth", a.truth},
                          {"--group-npy", a.group_npy},
                          {"--value-npy", a.value_npy}});
  io::atomic_output* const out = outputs.get("-o");
  io::atomic_output* const truth = outputs.get("--truth");
  const auto span = static_cast<std::uint64_t>(hi - lo + 1);

  // A .npy header holds the row count, so binary output first counts the rows: the same draws
  // of theta_j and n_j, skipping the observations (O(1) memory, no file buffered).
  if (binary) {
    normal_source count_rng(seed);
    std::uint64_t rows = 0;
    for (long long j = 1; j <= a.groups; ++j) {
      (void)count_rng();
      const auto n = static_cast<std::uint64_t>(lo) + count_rng.bits() % span;
      rows += n;
      count_rng.skip(n);
    }
    outputs.get("--group-npy")->write(io::npy_header(io::npy_dtype::int32, rows));
    outputs.get("--value-npy")->write(io::npy_header(io::npy_dtype::float64, rows));
  }
  column_writer<std::int32_t> ids(outputs.get("--group-npy"));
  column_writer<double> ys(outputs.get("--value-npy"));

  normal_source rng(seed);
  if (truth != nullptr) truth->write("group,theta,n\n");
  if (out != nullptr) out->write("group,y\n");
  std::string line;
  for (long long j = 1; j <= a.groups; ++j) {
    const double theta = mu + tau * rng();
    if (!std::isfinite(theta)) not_finite(j);
    const long long n = lo + static_cast<long long>(rng.bits() % span);
    const std::string key = std::to_string(j) + ',';
    if (truth != nullptr) truth->write(key + io::format_number(theta) + ',' + std::to_string(n) + '\n');
    for (long long i = 0; i < n; ++i) {
      const double y = theta + sigma * rng();
      if (!std::isfinite(y)) not_finite(j);
      ids.push(static_cast<std::int32_t>(j));
      ys.push(y);
      if (out == nullptr) continue;
      line = key;
      io::append_number(line, y);
      line += '\n';
      out->write(line);
    }
  }
  ids.flush();
  ys.flush();
  outputs.commit();
}

}  // namespace

command add_generate_command(CLI::App& app)
{
  auto a = std::make_shared<generate_args>();
  CLI::App* sub = app.add_subcommand("generate", "Write one data set drawn from the two-level model (CSV: group,y)");
  sub->add_option("--groups", a->groups, "number of groups J")->capture_default_str();
  sub->add_option("--obs", a->obs, "observations per group: N, or MIN:MAX drawn uniformly")->capture_default_str();
  sub->add_option("--mu", a->mu, "grand mean")->capture_default_str();
  sub->add_option("--tau", a->tau, "sd of the group means")->capture_default_str();
  sub->add_option("--sigma", a->sigma, "within-group sd")->capture_default_str();
  sub->add_option("--seed", a->seed, "random seed: an integer from 0 to 2^64-1")->capture_default_str();
  sub->add_option("-o,--output", a->output, "output file (- for stdout)")->capture_default_str();
  sub->add_option("--truth", a->truth, "also write the true group means (group,theta,n) here");
  sub->add_option("--group-npy", a->group_npy, "also write the rows as binary columns: int32 group keys (.npy) ...");
  sub->add_option("--value-npy", a->value_npy, "... and float64 values (.npy); the CSV then only with -o");
  return [a, sub] {
    a->csv_given = sub->count("--output") > 0;
    run_generate(*a);
  };
}

}  // namespace shrink::cli
