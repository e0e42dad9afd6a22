// `shrink generate`: one data set from the two-level model, in long format (group,y), streamed:
// memory does not grow with the number of rows.

#include "arguments.hpp"
#include "commands.hpp"

#include "io/npy.hpp"
#include "io/output.hpp"

#include <shrink/error.hpp>
#include <shrink/simulate.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string_view>
#include <utility>
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
  bool shuffle = false;              ///< rows in a seeded random order instead of group by group
};

/// Standard normal draws by the Box-Muller transform on a fully specified engine (mt19937_64),
/// so a seed gives the same file on every platform and standard library. A pair's second normal
/// may be left as its two engine words (skip) and computed only when it is drawn, by the same
/// expression, so skipping costs engine words and no logarithms.
class normal_source {
 public:
  explicit normal_source(std::uint64_t seed) : engine_(seed) {}
  static double uniform(std::uint64_t bits) { return (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53; }
  static double radius(std::uint64_t u1) { return std::sqrt(-2.0 * std::log(uniform(u1))); }
  static double angle(std::uint64_t u2) { return 2.0 * M_PI * uniform(u2); }
  double operator()()
  {
    if (spare_ == spare::computed) {
      spare_ = spare::none;
      return spare_value_;
    }
    if (spare_ == spare::words) {
      spare_ = spare::none;
      return radius(u1_) * std::sin(angle(u2_));
    }
    u1_ = engine_();
    u2_ = engine_();
    const double r = radius(u1_), a = angle(u2_);
    spare_value_ = r * std::sin(a);
    spare_ = spare::computed;
    return r * std::cos(a);
  }
  std::uint64_t bits() { return engine_(); }
  /// Moves past `k` normal draws exactly as k calls would (two engine outputs per pair).
  void skip(std::uint64_t k)
  {
    if (k > 0 && spare_ != spare::none) {
      spare_ = spare::none;
      --k;
    }
    engine_.discard(k / 2 * 2);
    if (k % 2 != 0) {
      u1_ = engine_();
      u2_ = engine_();
      spare_ = spare::words;
    }
  }
  /// The next draw, taken now and computed later (value) only if it is needed.
  struct deferred {
    std::uint64_t u1, u2;
    bool second;
    double value() const { return second ? radius(u1) * std::sin(angle(u2)) : radius(u1) * std::cos(angle(u2)); }
  };
  deferred defer()
  {
    if (spare_ != spare::none) {
      spare_ = spare::none;
      return {u1_, u2_, true};
    }
    skip(1);
    return {u1_, u2_, false};
  }

 private:
  enum class spare { none, computed, words };
  std::mt19937_64 engine_;
  std::uint64_t u1_ = 0, u2_ = 0;  ///< the current pair's engine words
  double spare_value_ = 0;
  spare spare_ = spare::none;
};

/// One observation; the one expression both row orders use.
double observation(double theta, double sigma, double z) { return theta + sigma * z; }

/// A seeded bijection of [0, n): a balanced Feistel network on 2h bits (n <= 2^(2h) < 4n, so at
/// most 4 steps a row on average) applied until the value lands in [0, n): cycle walking keeps a
/// bijection of the larger range one of the smaller.
class row_permutation {
 public:
  row_permutation(std::uint64_t n, std::uint64_t seed) : n_(n)
  {
    while ((std::uint64_t{1} << (2 * half_)) < n) ++half_;
    mask_ = (std::uint64_t{1} << half_) - 1;
    for (std::size_t i = 0; i < keys_.size(); ++i) keys_[i] = mix(seed + 0x9E3779B97F4A7C15ULL * (i + 1));
  }
  std::uint64_t operator()(std::uint64_t x) const
  {
    do {
      std::uint64_t l = x >> half_, r = x & mask_;
      for (const std::uint64_t key : keys_) {
        const std::uint64_t t = l ^ (mix(r ^ key) & mask_);
        l = r;
        r = t;
      }
      x = l << half_ | r;
    } while (x >= n_);
    return x;
  }

 private:
  /// The 64-bit finaliser of MurmurHash3: every input bit moves every output bit.
  static std::uint64_t mix(std::uint64_t z)
  {
    z = (z ^ (z >> 33)) * 0xFF51AFD7ED558CCDULL;
    z = (z ^ (z >> 33)) * 0xC4CEB9FE1A85EC53ULL;
    return z ^ (z >> 33);
  }
  std::uint64_t n_, mask_ = 0;
  int half_ = 1;
  std::array<std::uint64_t, 6> keys_{};
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

/// The model and design of one data set, as parsed.
struct model {
  double mu, tau, sigma;
  long long groups, lo;
  std::uint64_t span, seed;
  std::uint64_t size(normal_source& rng) const { return static_cast<std::uint64_t>(lo) + rng.bits() % span; }
};

/// Sorts keys[0, count) by their bits [low, low + width) (least significant digit first, 16 bits
/// a pass; the bits above are zero).
void radix_sort(std::vector<std::uint64_t>& keys, std::vector<std::uint64_t>& scratch, std::size_t count, int low, int width)
{
  std::vector<std::size_t> start(std::size_t{1} << 16);
  for (int shift = low; shift < low + width; shift += 16) {
    std::fill(start.begin(), start.end(), 0);
    for (std::size_t i = 0; i < count; ++i) ++start[(keys[i] >> shift) & 0xFFFF];
    std::size_t sum = 0;
    for (std::size_t& s : start) sum += std::exchange(s, sum);
    for (std::size_t i = 0; i < count; ++i) scratch[start[(keys[i] >> shift) & 0xFFFF]++] = keys[i];
    keys.swap(scratch);
  }
}

/// --shuffle: the rows of the unshuffled file in a seeded random order, in memory that does not
/// grow with the rows or groups. Output row d is the file's row p(d) (p a row_permutation of the
/// row count). Output rows are made a chunk at a time: the file rows a chunk needs are sorted
/// into file order and drawn in one walk of the same stream, the others skipped (engine words
/// only), so the values are bitwise the unshuffled file's.
void write_shuffled(const model& m, std::uint64_t rows, io::atomic_output* out, column_writer<std::int32_t>& ids,
                    column_writer<double>& ys)
{
  constexpr int chunk_bits = 21;  // 2^21 rows a chunk: 56 MB of work arrays
  int row_bits = 1;
  while ((std::uint64_t{1} << row_bits) < rows) ++row_bits;
  if (row_bits + chunk_bits > 64) throw error("--shuffle: at most 2^43 rows");
  const row_permutation p(rows, m.seed);
  const auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(rows, std::uint64_t{1} << chunk_bits));
  const std::uint64_t in_chunk = (std::uint64_t{1} << chunk_bits) - 1;
  std::vector<std::uint64_t> wanted(chunk), scratch(chunk);  // file row << chunk_bits | output row in the chunk
  std::vector<std::int32_t> group(chunk);
  std::vector<double> value(chunk);
  std::string text;
  char digits[16];
  for (std::uint64_t first = 0; first < rows; first += chunk) {
    const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, rows - first));
    for (std::size_t i = 0; i < count; ++i) wanted[i] = p(first + i) << chunk_bits | i;
    radix_sort(wanted, scratch, count, chunk_bits, row_bits);

    normal_source rng(m.seed);
    std::size_t next = 0;
    std::uint64_t row = 0;  // the file row of the group's first
    for (long long j = 1; j <= m.groups && next < count; ++j) {
      const normal_source::deferred theta_draw = rng.defer();
      const std::uint64_t end = row + m.size(rng);
      if ((wanted[next] >> chunk_bits) >= end) {
        rng.skip(end - row);
        row = end;
        continue;
      }
      const double theta = observation(m.mu, m.tau, theta_draw.value());
      for (; next < count && (wanted[next] >> chunk_bits) < end; ++next) {
        const std::uint64_t r = wanted[next] >> chunk_bits;
        rng.skip(r - row);
        const double y = observation(theta, m.sigma, rng());
        if (!std::isfinite(y)) not_finite(j);
        group[wanted[next] & in_chunk] = static_cast<std::int32_t>(j);
        value[wanted[next] & in_chunk] = y;
        row = r + 1;
      }
      rng.skip(end - row);
      row = end;
    }

    for (std::size_t i = 0; i < count; ++i) {
      ids.push(group[i]);
      ys.push(value[i]);
      if (out == nullptr) continue;
      text.append(digits, std::to_chars(digits, digits + sizeof digits, group[i]).ptr);
      text += ',';
      io::append_number(text, value[i]);
      text += '\n';
      if (text.size() >= (std::size_t{1} << 20)) {
        out->write(text);
        text.clear();
      }
    }
  }
  if (out != nullptr) out->write(text);
}

void run_generate(const generate_args& a)
{
  if (a.groups < 1 || a.groups > 2147483647LL) throw error("--groups must be between 1 and 2^31-1");
  const double mu = parse_double(a.mu, "--mu"), tau = parse_double(a.tau, "--tau"), sigma = parse_double(a.sigma, "--sigma");
  if (!(std::isfinite(mu) && std::isfinite(tau) && tau >= 0 && std::isfinite(sigma) && sigma > 0))
    throw error("--mu must be finite, --tau >= 0 and --sigma > 0");
  const obs_range range = parse_obs_range(a.obs);  // "N" or "MIN:MAX", 1 <= MIN <= MAX
  const model m{mu, tau, sigma, a.groups, range.min, static_cast<std::uint64_t>(range.max - range.min + 1), parse_seed(a.seed)};

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
  if (truth != nullptr) truth->write("group,theta,n\n");
  if (out != nullptr) out->write("group,y\n");

  // A .npy header holds the row count, and a shuffle permutes the rows, so both first count the
  // rows: the same draws of theta_j and n_j, skipping the observations (O(1) memory, no file
  // buffered). A shuffle writes the true means then (they keep group order).
  std::uint64_t rows = 0;
  if (binary || a.shuffle) {
    normal_source count_rng(m.seed);
    for (long long j = 1; j <= m.groups; ++j) {
      const normal_source::deferred theta_draw = count_rng.defer();
      const std::uint64_t n = m.size(count_rng);
      if (a.shuffle && truth != nullptr) {
        const double theta = observation(m.mu, m.tau, theta_draw.value());
        if (!std::isfinite(theta)) not_finite(j);
        truth->write(std::to_string(j) + ',' + io::format_number(theta) + ',' + std::to_string(n) + '\n');
      }
      rows += n;
      count_rng.skip(n);
    }
  }
  if (binary) {
    outputs.get("--group-npy")->write(io::npy_header(io::npy_dtype::int32, rows));
    outputs.get("--value-npy")->write(io::npy_header(io::npy_dtype::float64, rows));
  }
  column_writer<std::int32_t> ids(outputs.get("--group-npy"));
  column_writer<double> ys(outputs.get("--value-npy"));

  if (a.shuffle) {
    write_shuffled(m, rows, out, ids, ys);
  } else {
    normal_source rng(m.seed);
    std::string line;
    for (long long j = 1; j <= m.groups; ++j) {
      const double theta = observation(m.mu, m.tau, rng());
      if (!std::isfinite(theta)) not_finite(j);
      const auto n = static_cast<long long>(m.size(rng));
      const std::string key = std::to_string(j) + ',';
      if (truth != nullptr) truth->write(key + io::format_number(theta) + ',' + std::to_string(n) + '\n');
      for (long long i = 0; i < n; ++i) {
        const double y = observation(theta, m.sigma, rng());
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
  sub->add_flag("--shuffle", a->shuffle, "rows in a random order (from --seed) instead of group by group: the same rows");
  sub->add_option("--group-npy", a->group_npy, "also write the rows as binary columns: int32 group keys (.npy) ...");
  sub->add_option("--value-npy", a->value_npy, "... and float64 values (.npy); the CSV then only with -o");
  return [a, sub] {
    a->csv_given = sub->count("--output") > 0;
    run_generate(*a);
  };
}

}  // namespace shrink::cli
