// `shrink generate`: one data set from the two-level model, in long format (group,y).

#include "commands.hpp"

#include "io/npy.hpp"
#include "io/output.hpp"

#include <shrink/error.hpp>
#include <shrink/simulate.hpp>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

namespace shrink::cli {
namespace {

struct generate_args {
  long long groups = 1000;
  std::string obs = "10";
  double mu = 0, tau = 1, sigma = 1;
  unsigned long long seed = 1;
  std::string output = "-";
  std::string truth;  ///< optional file of the true group means
  std::string group_npy, value_npy;  ///< binary columns (.npy) of the same rows
  bool csv_given = false;            ///< -o given: with binary output, the CSV is written only then
};

/// Standard normal draws by the Box-Muller transform on a fully specified engine (mt19937_64),
/// so a seed gives the same file on every platform and standard library.
class normal_source {
 public:
  explicit normal_source(unsigned long long seed) : engine_(seed) {}
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

 private:
  std::mt19937_64 engine_;
  double spare_ = 0;
  bool has_spare_ = false;
};

void run_generate(const generate_args& a)
{
  if (a.groups < 1 || a.groups > 2147483647LL) throw error("--groups must be between 1 and 2^31-1");
  if (!(std::isfinite(a.mu) && std::isfinite(a.tau) && a.tau >= 0 && std::isfinite(a.sigma) && a.sigma > 0))
    throw error("--mu must be finite, --tau >= 0 and --sigma > 0");
  const obs_range range = parse_obs_range(a.obs);  // "N" or "MIN:MAX", 1 <= MIN <= MAX
  const long long lo = range.min, hi = range.max;

  if (a.group_npy.empty() != a.value_npy.empty()) throw error("binary output needs both --group-npy and --value-npy");
  const bool binary = !a.group_npy.empty();
  const bool csv = !binary || a.csv_given;
  std::vector<std::int32_t> ids;
  std::vector<double> ys;

  normal_source rng(a.seed);
  std::unique_ptr<io::atomic_output> out;
  if (csv) out = std::make_unique<io::atomic_output>(a.output);
  std::unique_ptr<io::atomic_output> truth;
  if (!a.truth.empty()) {
    truth = std::make_unique<io::atomic_output>(a.truth);
    truth->write("group,theta,n\n");
  }
  if (out) out->write("group,y\n");
  std::string buf;
  buf.reserve(1 << 20);
  const auto span = static_cast<std::uint64_t>(hi - lo + 1);
  for (long long j = 1; j <= a.groups; ++j) {
    const double theta = a.mu + a.tau * rng();
    const long long n = lo + static_cast<long long>(rng.bits() % span);
    const std::string key = std::to_string(j) + ',';
    if (truth) truth->write(key + io::format_number(theta) + ',' + std::to_string(n) + '\n');
    for (long long i = 0; i < n; ++i) {
      const double y = theta + a.sigma * rng();
      if (binary) {
        ids.push_back(static_cast<std::int32_t>(j));
        ys.push_back(y);
      }
      if (!csv) continue;
      buf += key;
      buf += io::format_number(y);
      buf += '\n';
    }
    if (out && buf.size() > (1 << 20) - 64) {
      out->write(buf);
      buf.clear();
    }
  }
  if (binary) {
    io::write_npy(a.group_npy, ids.data(), ids.size());
    io::write_npy(a.value_npy, ys.data(), ys.size());
  }
  if (out) {
    out->write(buf);
    out->commit();
  }
  if (truth) truth->commit();
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
  sub->add_option("--seed", a->seed, "random seed")->capture_default_str();
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
