// Studies in blocks of replicates: a range runs on its own, ranges merge (the nodes of the
// fixed-shape tree over the study's replicate blocks), and a complete partial finishes into the
// study by the single run's own code (simulate is finish_partial(simulate_range(0, R))). The JSON
// form carries every double as its shortest round-trip text, so a partial crosses processes bit
// for bit.

#include "simulate_partial.hpp"

#include "../common/macros.hpp"
#include "simulate_counts.hpp"

#include <shrink/counts.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace shrink {

static_assert(simulate_replicate_block == detail::sim::replicate_block, "the public block is the engine's");

namespace detail {

simulate_options result_options(const simulate_options& o)
{
  simulate_options r = o;
  const simulate_options defaults;
  r.requested_backend = defaults.requested_backend;
  r.threads = defaults.threads;
  r.batch_replicates = defaults.batch_replicates;
  r.progress = nullptr;
  return r;
}

void check_range(std::uint64_t replicates, std::uint64_t first, std::uint64_t count)
{
  const std::string range = std::to_string(first) + ":" + std::to_string(count);
  const std::string block = std::to_string(simulate_replicate_block);
  SHRINK_EXPECTS(count >= 1 && first < replicates && count <= replicates - first,
                 "replicate range " + range + ": need COUNT >= 1 and FIRST + COUNT <= the study's " +
                   std::to_string(replicates) + " replicates");
  SHRINK_EXPECTS(first % simulate_replicate_block == 0,
                 "replicate range " + range + ": FIRST must be a multiple of " + block +
                   " (replicates merge in fixed blocks of " + block + ")");
  SHRINK_EXPECTS(count % simulate_replicate_block == 0 || first + count == replicates,
                 "replicate range " + range + ": COUNT must be a multiple of " + block +
                   " unless the range ends at the study's last replicate (" + std::to_string(replicates) + ")");
}

}  // namespace detail

simulate_partial::simulate_partial(std::shared_ptr<const detail::simulate_partial_state> state) : state_(std::move(state))
{
}

const detail::simulate_partial_state& simulate_partial::state() const
{
  SHRINK_EXPECTS(state_ != nullptr, "an empty partial study (default-constructed)");
  return *state_;
}

const simulate_options& simulate_partial::options() const { return state().options; }
std::uint64_t simulate_partial::first() const { return state().first; }
std::uint64_t simulate_partial::count() const { return state().count; }
bool simulate_partial::complete() const { return first() == 0 && count() == options().replicates; }
backend simulate_partial::used() const { return state().used; }
double simulate_partial::seconds() const { return state().seconds; }
double simulate_partial::backend_seconds() const { return state().backend_seconds; }

simulate_partial simulate_range(const simulate_options& options, std::uint64_t first, std::uint64_t count)
{
  return simulate_partial(std::make_shared<const detail::simulate_partial_state>(
    options.family ? detail::simulate_counts_range(options, first, count)
                   : detail::simulate_normal_range(options, first, count)));
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> split_replicates(std::uint64_t replicates, std::uint64_t parts)
{
  SHRINK_EXPECTS(replicates >= 1 && parts >= 1, "split_replicates needs replicates >= 1 and parts >= 1");
  const std::uint64_t block = simulate_replicate_block;
  const std::uint64_t blocks = (replicates + block - 1) / block;
  parts = std::min(parts, blocks);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (std::uint64_t i = 0; i < parts; ++i) {
    // Blocks [i blocks / parts, (i + 1) blocks / parts): no product overflows, blocks < 2^58.
    const std::uint64_t b0 = i * (blocks / parts) + i * (blocks % parts) / parts;
    const std::uint64_t b1 = (i + 1) * (blocks / parts) + (i + 1) * (blocks % parts) / parts;
    out.emplace_back(b0 * block, std::min(b1 * block, replicates) - b0 * block);
  }
  return out;
}

simulate_result finish_partial(const simulate_partial& whole)
{
  const detail::simulate_partial_state& s = whole.state();
  SHRINK_EXPECTS(whole.complete(), "the partial study covers replicates " + std::to_string(s.first) + ":" +
                                     std::to_string(s.count) + " of " + std::to_string(s.options.replicates) +
                                     ": merge the other ranges first");
  simulate_result r = s.options.family ? detail::finish_counts(s) : detail::finish_normal(s);
  r.used = s.used;
  r.seconds = s.seconds;
  r.backend_seconds = s.backend_seconds;
  return r;
}

namespace {

using nlohmann::json;

constexpr const char* partial_format = "shrink simulate partial";
constexpr int partial_version = 1;

/// A double as its shortest round-trip text (nan and inf included).
std::string text_of(double x)
{
  char buf[64];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, x).ptr);
}

double double_of(const json& j)
{
  const std::string& t = j.get_ref<const std::string&>();
  double x = 0;
  const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), x);
  SHRINK_EXPECTS(ec == std::errc() && ptr == t.data() + t.size() && !t.empty(), "'" + t + "' is not a number");
  return x;
}

json texts_of(const std::vector<double>& xs)
{
  json a = json::array();
  for (double x : xs) a.push_back(text_of(x));
  return a;
}

std::vector<double> doubles_of(const json& a)
{
  std::vector<double> xs;
  for (const json& x : a) xs.push_back(double_of(x));
  return xs;
}

/// The options that fix a study's results (result_options), every double as exact text.
json options_json(const simulate_options& o)
{
  json j;
  j["groups"] = o.groups;
  json obs = json::array();
  for (const obs_range& r : o.obs) obs.push_back(to_string(r));
  j["obs"] = obs;
  j["sigma"] = texts_of(o.sigma);
  j["tau"] = texts_of(o.tau);
  j["mu"] = text_of(o.mu);
  j["replicates"] = o.replicates;
  j["seed"] = o.seed;
  j["prior"] = o.prior == prior_family::normal ? "normal" : "t";
  j["prior_df"] = text_of(o.prior_df);
  j["mode"] = o.mode == simulation_mode::raw ? "raw" : "sufficient";
  j["level"] = text_of(o.level);
  j["redraw_obs"] = o.redraw_obs;
  j["family"] = o.family ? json(to_string(*o.family)) : json(nullptr);
  j["prior_mean"] = text_of(o.prior_mean);
  j["concentration"] = texts_of(o.concentration);
  return j;
}

template <class T>
T one_of(const std::string& text, const char* what, std::initializer_list<std::pair<const char*, T>> choices)
{
  for (const auto& [name, value] : choices)
    if (text == name) return value;
  throw error(std::string(what) + " '" + text + "' is unknown");
}

simulate_options options_of(const json& j)
{
  simulate_options o;
  o.groups = j.at("groups").get<std::vector<std::int64_t>>();
  o.obs.clear();
  for (const json& r : j.at("obs")) o.obs.push_back(parse_obs_range(r.get<std::string>()));
  o.sigma = doubles_of(j.at("sigma"));
  o.tau = doubles_of(j.at("tau"));
  o.mu = double_of(j.at("mu"));
  o.replicates = j.at("replicates").get<std::uint64_t>();
  o.seed = j.at("seed").get<std::uint64_t>();
  o.prior = one_of<prior_family>(j.at("prior").get<std::string>(), "prior",
                                 {{"normal", prior_family::normal}, {"t", prior_family::student_t}});
  o.prior_df = double_of(j.at("prior_df"));
  o.mode = one_of<simulation_mode>(j.at("mode").get<std::string>(), "mode",
                                   {{"sufficient", simulation_mode::sufficient}, {"raw", simulation_mode::raw}});
  o.level = double_of(j.at("level"));
  o.redraw_obs = j.at("redraw_obs").get<bool>();
  if (!j.at("family").is_null())
    o.family = one_of<count_family>(j.at("family").get<std::string>(), "family",
                                    {{"binomial", count_family::binomial}, {"poisson", count_family::poisson}});
  o.prior_mean = double_of(j.at("prior_mean"));
  o.concentration = doubles_of(j.at("concentration"));
  return o;
}

/// The 56 doubles of a node (every moment's fields in order).
std::vector<double> values_of(const detail::sim::metric_moments& m)
{
  std::vector<double> v;
  for (const detail::moments& x : m.m) v.insert(v.end(), {x.weight, x.mean, x.m2});
  const detail::moments4& t = m.tau_hat;
  v.insert(v.end(), {t.n, t.mean, t.m2, t.m3, t.m4});
  return v;
}

constexpr std::size_t node_values = 3 * detail::sim::metric_count + 5;

detail::sim::metric_moments moments_of(const std::vector<double>& v)
{
  SHRINK_EXPECTS(v.size() == node_values, "a node needs " + std::to_string(node_values) + " numbers");
  detail::sim::metric_moments m;
  std::size_t i = 0;
  for (detail::moments& x : m.m) x = {v[i], v[i + 1], v[i + 2]}, i += 3;
  m.tau_hat = {v[i], v[i + 1], v[i + 2], v[i + 3], v[i + 4]};
  return m;
}

/// Checks that the nodes of `fold` cover exactly the blocks of replicates [first, first + count).
void check_coverage(const detail::sim::replicate_fold& fold, std::uint64_t first, std::uint64_t count)
{
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  for (std::size_t level = 0; level < fold.levels(); ++level)
    for (const auto& node : fold.nodes(level)) spans.push_back(fold.leaves_of(level, node.first));
  std::sort(spans.begin(), spans.end());
  const std::uint64_t block = simulate_replicate_block;
  std::size_t next = static_cast<std::size_t>(first / block);
  for (const auto& [begin, end] : spans) {
    SHRINK_EXPECTS(begin == next, "its blocks do not cover its replicate range");
    next = end;
  }
  SHRINK_EXPECTS(next == static_cast<std::size_t>((first + count + block - 1) / block),
                 "its blocks do not cover its replicate range");
}

std::string range_of(const simulate_partial& p) { return std::to_string(p.first()) + ":" + std::to_string(p.count()); }

}  // namespace

simulate_partial merge_partials(const std::vector<simulate_partial>& parts)
{
  SHRINK_EXPECTS(!parts.empty(), "no partial studies to merge");
  std::vector<simulate_partial> sorted = parts;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const simulate_partial& a, const simulate_partial& b) { return a.first() < b.first(); });
  const json options = options_json(sorted.front().options());
  auto merged = std::make_shared<detail::simulate_partial_state>(sorted.front().state());
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    const simulate_partial& p = sorted[i];
    const json other = options_json(p.options());
    for (const auto& [key, value] : options.items())
      SHRINK_EXPECTS(other.at(key) == value, "the partial studies come from different studies: their '" + key +
                                               "' differs (" + value.dump() + " and " + other.at(key).dump() + ")");
    // The normal model's CPU and GPU studies agree to 1e-9, not bit for bit (the count families'
    // draws and evaluation are the same bits on both): one backend, or no single run to equal.
    SHRINK_EXPECTS(merged->options.family || p.used() == merged->used,
                   "the partial studies ran on different backends (" + to_string(merged->used) + " and " +
                     to_string(p.used()) + "): the normal model's CPU and GPU studies are not the same bits; "
                     "run every range on one backend");
    const std::uint64_t end = merged->first + merged->count;
    SHRINK_EXPECTS(p.first() <= end, "the partial studies leave a gap: replicates " + std::to_string(end) + " to " +
                                        std::to_string(p.first() - 1) + " are missing (before range " + range_of(p) + ")");
    SHRINK_EXPECTS(p.first() >= end, "the partial studies overlap: range " + range_of(p) + " starts before replicate " +
                                        std::to_string(end) + ", where the ranges before it end");
    for (std::size_t s = 0; s < merged->folds.size(); ++s) merged->folds[s].merge(p.state().folds[s]);
    merged->count += p.count();
    merged->seconds += p.seconds();
    merged->backend_seconds += p.backend_seconds();
  }
  return simulate_partial(std::move(merged));
}

std::string to_json(const simulate_partial& partial)
{
  const detail::simulate_partial_state& s = partial.state();
  json j;
  j["format"] = partial_format;
  j["version"] = partial_version;
  j["options"] = options_json(s.options);
  j["first"] = s.first;
  j["count"] = s.count;
  j["backend"] = to_string(s.used);
  j["seconds"] = text_of(s.seconds);
  j["backend_seconds"] = text_of(s.backend_seconds);
  json scenarios = json::array();
  for (const detail::sim::replicate_fold& fold : s.folds) {
    json nodes = json::array();
    for (std::size_t level = 0; level < fold.levels(); ++level)
      for (const auto& [index, node] : fold.nodes(level)) nodes.push_back(json::array({level, index, texts_of(values_of(node))}));
    scenarios.push_back(nodes);
  }
  j["scenarios"] = scenarios;
  return j.dump() + "\n";
}

simulate_partial simulate_partial_from_json(const std::string& text)
{
  try {
    const json j = json::parse(text);
    SHRINK_EXPECTS(j.is_object() && j.value("format", "") == partial_format,
                   "not a partial study of shrink simulate (no \"format\": \"" + std::string(partial_format) + "\")");
    SHRINK_EXPECTS(j.at("version") == partial_version, "format version " + j.at("version").dump() + " is not 1");
    auto s = std::make_shared<detail::simulate_partial_state>();
    s->options = options_of(j.at("options"));
    if (s->options.family) detail::check_count_options(s->options);
    else detail::check_normal_options(s->options);
    s->first = j.at("first").get<std::uint64_t>();
    s->count = j.at("count").get<std::uint64_t>();
    detail::check_range(s->options.replicates, s->first, s->count);
    const std::string used = j.at("backend").get<std::string>();
    s->used = one_of<backend>(used, "backend", {{"cpu", backend::cpu}, {"cuda", backend::cuda}});
    s->seconds = double_of(j.at("seconds"));
    s->backend_seconds = double_of(j.at("backend_seconds"));
    // The grid's size follows from the options (groups x obs x (sigma x tau, or concentration)).
    const simulate_options& o = s->options;
    const std::size_t scenarios =
      o.groups.size() * o.obs.size() * (o.family ? o.concentration.size() : o.sigma.size() * o.tau.size());
    const json& nodes = j.at("scenarios");
    SHRINK_EXPECTS(nodes.is_array() && nodes.size() == scenarios,
                   "it has " + std::to_string(nodes.size()) + " scenarios where its options give " + std::to_string(scenarios));
    for (const json& scenario : nodes) {
      detail::sim::replicate_fold fold = detail::sim::empty_fold(o.replicates);
      for (const json& node : scenario) {
        SHRINK_EXPECTS(node.is_array() && node.size() == 3, "a node is not [level, index, numbers]");
        fold.add(node.at(0).get<std::size_t>(), node.at(1).get<std::size_t>(), moments_of(doubles_of(node.at(2))));
      }
      check_coverage(fold, s->first, s->count);
      s->folds.push_back(std::move(fold));
    }
    return simulate_partial(std::move(s));
  } catch (const json::exception& e) {
    throw error(std::string("not a partial study of shrink simulate: ") + e.what());
  } catch (const error& e) {
    throw error(std::string("not a partial study of shrink simulate: ") + e.what());
  }
}

}  // namespace shrink
