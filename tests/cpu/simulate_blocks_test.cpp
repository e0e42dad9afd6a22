// Studies in blocks of replicates (simulate_range, merge_partials, finish_partial): ranges of
// replicates run apart, each shipped through its JSON form, merged in any order, give the CSV of
// the single run byte for byte (the truth the scale-out promises), for the normal model (sufficient
// and raw modes, unequal and redrawn designs, the t prior) and both count families, with 1 and 2
// threads and sizes that put the ranges inside and across the reduction tree's tiles; and every
// misuse is one line of shrink::error.

#include <shrink/error.hpp>
#include <shrink/simulate.hpp>

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace shrink;
using ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

/// Cuttings of R replicates: one block; the first block alone and the rest; the rest ending on an
/// uneven block; and blocks of 64 (many small ones).
std::vector<ranges> shapes(std::uint64_t R)
{
  const std::uint64_t B = simulate_replicate_block;
  std::vector<ranges> out{{{0, R}}, {{0, B}, {B, R - B}}};
  const std::uint64_t cut = (R - 1) / B * B;  // the last block: R - cut < 64 replicates when R % 64 != 0
  out.push_back({{0, cut / 2 / B * B}, {cut / 2 / B * B, cut - cut / 2 / B * B}, {cut, R - cut}});
  ranges small;
  for (std::uint64_t f = 0; f < R; f += B) small.push_back({f, std::min(B, R - f)});
  out.push_back(small);
  return out;
}

/// The study of `o` run in `parts` (on `threads`), each part through its JSON, merged shuffled.
std::string csv_in_parts(simulate_options o, const ranges& parts, int threads, std::mt19937_64& rng)
{
  o.threads = threads;
  std::vector<simulate_partial> done;
  for (const auto& [first, count] : parts) done.push_back(simulate_partial_from_json(to_json(simulate_range(o, first, count))));
  std::shuffle(done.begin(), done.end(), rng);
  return test::simulate_csv(finish_partial(merge_partials(done)));
}

void expect_parts_give_single_run(simulate_options o, const std::string& what)
{
  std::mt19937_64 rng(3);
  for (int single_threads : {1, 2}) {
    o.threads = single_threads;
    const std::string single = test::simulate_csv(simulate(o));
    for (const ranges& parts : shapes(o.replicates))
      EXPECT_EQ(csv_in_parts(o, parts, 3 - single_threads, rng), single)
        << what << ": " << parts.size() << " parts, single run on " << single_threads << " thread(s)";
  }
}

simulate_options normal_study()
{
  simulate_options o;
  o.groups = {3, 20};
  o.obs = {obs_range{5, 5}, obs_range{1, 9}};
  o.sigma = {1.0};
  o.tau = {0.0, 0.7};
  o.mu = 2;
  o.replicates = 200;
  o.seed = 17;
  o.requested_backend = backend::cpu;
  return o;
}

TEST(SimulateBlocks, NormalSufficientMergesToTheSingleRun) { expect_parts_give_single_run(normal_study(), "sufficient"); }

TEST(SimulateBlocks, NormalRawMergesToTheSingleRun)
{
  simulate_options o = normal_study();
  o.mode = simulation_mode::raw;
  o.replicates = 130;
  expect_parts_give_single_run(o, "raw");
}

TEST(SimulateBlocks, TPriorAndRedrawMergeToTheSingleRun)
{
  simulate_options o = normal_study();
  o.prior = prior_family::student_t;
  o.prior_df = 5;
  expect_parts_give_single_run(o, "t:5");
  o.prior_df = 1.5;  // no oracle
  o.redraw_obs = true;
  expect_parts_give_single_run(o, "t:1.5, redraw");
}

TEST(SimulateBlocks, RangesAcrossTheTreesTilesMergeToTheSingleRun)
{
  // 258 blocks: the reduction tree has two levels, and ranges end inside and across its tiles.
  simulate_options o = normal_study();
  o.groups = {4};
  o.obs = {obs_range{3, 3}};
  o.tau = {0.5};
  o.replicates = 257 * 64 + 5;
  o.threads = 1;
  const std::string single = test::simulate_csv(simulate(o));
  std::mt19937_64 rng(9);
  for (const ranges& parts : shapes(o.replicates)) EXPECT_EQ(csv_in_parts(o, parts, 2, rng), single) << parts.size();
  EXPECT_EQ(csv_in_parts(o, {{0, 200 * 64}, {200 * 64, o.replicates - 200 * 64}}, 1, rng), single);
}

TEST(SimulateBlocks, CountFamiliesMergeToTheSingleRun)
{
  simulate_options o;
  o.groups = {12};
  o.obs = {obs_range{8, 8}, obs_range{2, 30}};
  o.family = count_family::binomial;
  o.prior_mean = 0.3;
  o.concentration = {4.0, 40.0};
  o.replicates = 150;
  o.seed = 23;
  o.requested_backend = backend::cpu;
  expect_parts_give_single_run(o, "binomial");
  o.family = count_family::poisson;
  o.obs = {obs_range{1, 6}};
  o.prior_mean = 2.5;
  o.concentration = {0.5, 6.0};
  expect_parts_give_single_run(o, "poisson");
}

TEST(SimulateBlocks, JsonIsLossless)
{
  simulate_options o = normal_study();
  o.mu = 0.1;  // a double with no short binary form
  o.tau = {1.0 / 3.0};
  const std::string text = to_json(simulate_range(o, 64, 136));
  const simulate_partial back = simulate_partial_from_json(text);
  EXPECT_EQ(to_json(back), text);
  EXPECT_EQ(back.first(), 64u);
  EXPECT_EQ(back.count(), 136u);
  EXPECT_EQ(back.options().mu, 0.1);
  EXPECT_EQ(back.options().tau.front(), 1.0 / 3.0);
  EXPECT_FALSE(back.complete());
}

TEST(SimulateBlocks, SplitReplicatesGivesAlignedEvenRanges)
{
  // Hand-computed: 300 replicates are 5 blocks (the last of 44); 3 parts take 1, 2 and 2 blocks.
  using r = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
  EXPECT_EQ(split_replicates(300, 3), (r{{0, 64}, {64, 128}, {192, 108}}));
  EXPECT_EQ(split_replicates(300, 1), (r{{0, 300}}));
  EXPECT_EQ(split_replicates(300, 50), (r{{0, 64}, {64, 64}, {128, 64}, {192, 64}, {256, 44}}));
  EXPECT_EQ(split_replicates(2, 4), (r{{0, 2}}));
  EXPECT_EQ(split_replicates(std::uint64_t{1} << 32, 3),
            (r{{0, 1431655744}, {1431655744, 1431655744}, {2863311488, 1431655808}}));
  EXPECT_THROW(split_replicates(0, 1), error);
  EXPECT_THROW(split_replicates(10, 0), error);
}

/// The message of the shrink::error that `f` throws ("" when none), checked to be one line.
template <class F>
std::string error_of(F&& f)
{
  try {
    f();
  } catch (const error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    return m;
  }
  return "";
}

bool has(const std::string& message, const std::string& part)
{
  const bool found = message.find(part) != std::string::npos;
  if (!found) ADD_FAILURE() << "'" << part << "' not in: " << message;
  return found;
}

TEST(SimulateBlocks, MisalignedRangesAreRefused)
{
  const simulate_options o = normal_study();
  has(error_of([&] { simulate_range(o, 10, 64); }), "FIRST must be a multiple of 64");
  has(error_of([&] { simulate_range(o, 0, 100); }), "COUNT must be a multiple of 64 unless");
  has(error_of([&] { simulate_range(o, 128, 100); }), "FIRST + COUNT <= the study's 200 replicates");
  has(error_of([&] { simulate_range(o, 0, 0); }), "COUNT >= 1");
  has(error_of([&] { simulate_range(o, 256, 1); }), "FIRST + COUNT");
  EXPECT_EQ(error_of([&] { simulate_range(o, 192, 8); }), "");  // the uneven last block
}

TEST(SimulateBlocks, GapsOverlapsAndOtherStudiesAreRefused)
{
  simulate_options o = normal_study();
  const simulate_partial a = simulate_range(o, 0, 64), b = simulate_range(o, 64, 64), c = simulate_range(o, 128, 72);
  const simulate_partial ab = simulate_range(o, 0, 128);
  has(error_of([&] { merge_partials({a, c}); }), "leave a gap: replicates 64 to 127 are missing");
  has(error_of([&] { merge_partials({ab, b}); }), "overlap");
  has(error_of([&] { merge_partials({a, a}); }), "overlap");
  has(error_of([&] { finish_partial(merge_partials({a, b})); }), "covers replicates 0:128 of 200");
  has(error_of([&] { finish_partial(merge_partials({b, c})); }), "covers replicates 64:136 of 200");
  has(error_of([&] { merge_partials({}); }), "no partial studies");
  simulate_options other = o;
  other.seed = 18;
  has(error_of([&] { merge_partials({a, simulate_range(other, 64, 136)}); }), "'seed' differs (17 and 18)");
  other = o;
  other.tau = {0.0, 0.8};
  has(error_of([&] { merge_partials({a, simulate_range(other, 64, 136)}); }), "'tau' differs");
  other = o;
  other.replicates = 256;
  has(error_of([&] { merge_partials({a, simulate_range(other, 64, 192)}); }), "'replicates' differs");
  // The normal model's CPU and GPU parts are not the same bits: refused (a GPU part made by hand).
  std::string gpu = to_json(simulate_range(o, 64, 136));
  gpu.replace(gpu.find("\"backend\":\"cpu\""), 15, "\"backend\":\"cuda\"");
  has(error_of([&] { merge_partials({a, simulate_partial_from_json(gpu)}); }), "ran on different backends (cpu and cuda)");
  // Threads and batch do not change the results: parts may differ in them.
  other = o;
  other.threads = 2;
  other.batch_replicates = 128;
  EXPECT_EQ(test::simulate_csv(finish_partial(merge_partials({a, simulate_range(other, 64, 136)}))),
            test::simulate_csv(simulate(o)));
}

TEST(SimulateBlocks, CorruptPartialsAreRefused)
{
  const std::string good = to_json(simulate_range(normal_study(), 64, 136));
  const auto message = [](const std::string& text) { return error_of([&] { simulate_partial_from_json(text); }); };
  has(message(good.substr(0, good.size() / 2)), "not a partial study of shrink simulate");
  has(message("[1, 2]"), "not a partial study of shrink simulate");
  has(message("{}"), "not a partial study of shrink simulate");
  std::string text = good;
  text.replace(text.find("\"version\":1"), 11, "\"version\":2");
  has(message(text), "format version 2 is not 1");
  // A number that is not one.
  text = good;
  const auto number = text.find("\"", text.find("[0,")) + 1;  // inside the first node's numbers
  text.insert(number, "x");
  has(message(text), "is not a number");
  // A node dropped: its blocks are missing from the range.
  text = good;
  const auto node = text.find("[0,");
  text.erase(node, text.find("]]", node) + 3 - node);
  has(message(text), "do not cover its replicate range");
  // A scenario dropped.
  text = good;
  text.replace(text.find("\"tau\":[\"0\",\"0.7\"]"), 17, "\"tau\":[\"0\"]");
  has(message(text), "scenarios where its options give");
  // Its options must be a valid study and its range a valid range.
  text = good;
  text.replace(text.find("\"first\":64"), 10, "\"first\":65");
  text.replace(text.find("\"count\":136"), 11, "\"count\":135");
  has(message(text), "FIRST must be a multiple of 64");
  text = good;
  text.replace(text.find("\"level\":\"0.95\""), 14, "\"level\":\"1.5\"");
  has(message(text), "level must lie strictly between 0 and 1");
  has(error_of([] { simulate_partial().first(); }), "an empty partial study");
}

}  // namespace
