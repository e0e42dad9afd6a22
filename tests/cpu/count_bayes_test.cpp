// `--method bayes` for the count families (src/api/count_bayes.cpp, src/common/count_mixture.hpp):
// BDA3's rat tumours (all 71 experiments, as in section 5.3) and the pump failures against a
// brute-force grid integration in R (tests/data/count_bayes_reference.R, its output beside it), a
// closed form with one group, the mixture quantiles against R's uniroot on pbeta / pgamma, thread
// invariance, improper posteriors and bad hyperpriors; the CLI's --hyperprior end to end.

#include "common/count_mixture.hpp"
#include "common/families/beta_binomial.hpp"
#include "common/families/gamma_poisson.hpp"
#include "test_support.hpp"

#include <shrink/counts.hpp>
#include <shrink/error.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace shrink::test {
namespace {

/// tests/data/count_bayes_reference.txt, then count_bayes_tails.txt (its values replace the grid's
/// of the same name): "name value" per line (names may contain spaces).
const std::map<std::string, double>& reference()
{
  static const std::map<std::string, double> values = [] {
    std::map<std::string, double> out;
    for (const char* file : {"count_bayes_reference.txt", "count_bayes_tails.txt"}) {
      std::ifstream in(reference_data() / file);
      EXPECT_TRUE(in.good()) << "tests/data/" << file << " is missing";
      for (std::string line; std::getline(in, line);) {
        const std::size_t space = line.rfind(' ');
        if (space != std::string::npos) out[line.substr(0, space)] = std::stod(line.substr(space + 1));
      }
    }
    return out;
  }();
  return values;
}

double reference_value(const std::string& name)
{
  const auto it = reference().find(name);
  EXPECT_NE(it, reference().end()) << name;
  return it == reference().end() ? NAN : it->second;
}

struct count_input {
  std::vector<double> counts, sizes;
  count_data_view view(count_family f) const { return {f, counts.data(), sizes.data(), counts.size()}; }
};

count_input rats()
{
  count_input d;
  for (const auto& [y, n] : rat_tumours()) d.counts.push_back(y), d.sizes.push_back(n);
  return d;
}

count_input pumps()
{
  return {{5, 1, 5, 14, 3, 19, 1, 1, 4, 22}, {94.32, 15.72, 62.88, 125.76, 5.24, 31.44, 1.048, 1.048, 2.096, 10.48}};
}

count_fit_result bayes(const count_input& d, count_family f, const std::string& hyperprior = "", int threads = 1)
{
  count_options o;
  o.method = count_method::bayes;
  o.threads = threads;
  o.requested_backend = backend::cpu;
  if (!hyperprior.empty()) o.hyperprior = parse_count_hyperprior(hyperprior, f);
  return fit(d.view(f), o);
}

// Tolerances: the brute-force grid's means and sds are geometrically accurate but stop at its
// rectangle (BDA3's prior leaves ~5e-10 of mass beyond v = 16, where p(v | y) falls as e^(-v/2):
// 1e-7 of the sd of log(alpha + beta)); its quantiles to O(spacing^4); shrink's quadrature stops at
// 1e-8 (refinement) and 1e-10 (tails), its per-group intervals at ~3e-7 (count_bayes.hpp). A mean
// or sd must agree to 5e-7 relative, a quantile to 1e-6 relative.
constexpr double moment_tolerance = 5e-7, quantile_tolerance = 1e-6;

void expect_summary(const posterior_summary& s, const std::string& name, bool moments, double tolerance)
{
  if (moments) {
    EXPECT_NEAR(s.mean, reference_value(name + " mean"), tolerance * std::abs(reference_value(name + " mean"))) << name;
    EXPECT_NEAR(s.sd, reference_value(name + " sd"), tolerance * std::abs(reference_value(name + " sd"))) << name;
  } else {  // no mean under the hyperprior: the truncated grid's number is meaningless
    EXPECT_TRUE(std::isinf(s.mean) && std::isinf(s.sd)) << name;
  }
  EXPECT_NEAR(s.median, reference_value(name + " median"), quantile_tolerance * std::abs(reference_value(name + " median"))) << name;
  EXPECT_NEAR(s.lower, reference_value(name + " lower"), quantile_tolerance * std::abs(reference_value(name + " lower"))) << name;
  EXPECT_NEAR(s.upper, reference_value(name + " upper"), quantile_tolerance * std::abs(reference_value(name + " upper"))) << name;
}

/// `no_moments`: the quantities whose posterior mean does not exist under the hyperprior.
void expect_matches_grid(const count_fit_result& r, const std::string& label, std::size_t group, const std::string& group_label,
                         const std::vector<std::string>& no_moments = {}, double tolerance = moment_tolerance)
{
  ASSERT_TRUE(r.bayes.has_value());
  const count_bayes_summary& s = *r.bayes;
  for (const auto& [field, name] : {std::pair{&s.a, "a"}, {&s.b, "b"}, {&s.mean, "mean"}, {&s.concentration, "concentration"},
                                    {&s.link_mean, "link_mean"}, {&s.log_concentration, "log_concentration"}})
    expect_summary(*field, label + " " + name, std::find(no_moments.begin(), no_moments.end(), name) == no_moments.end(),
                   tolerance);
  EXPECT_LT(s.neglected_mass, 1e-9);
  // The group's theta: the mixture's moments and quantiles (R: the grid's mixture, uniroot on its CDF).
  const std::string g = label + " group " + group_label;
  EXPECT_NEAR(r.estimate[group], reference_value(g + " mean"), moment_tolerance * reference_value(g + " mean"));
  EXPECT_NEAR(r.sd[group], reference_value(g + " sd"), moment_tolerance * reference_value(g + " sd"));
  EXPECT_NEAR(r.lower[group], reference_value(g + " lower"), quantile_tolerance * reference_value(g + " lower"));
  EXPECT_NEAR(r.upper[group], reference_value(g + " upper"), quantile_tolerance * reference_value(g + " upper"));
}

TEST(CountBayes, RatTumoursBda3PriorMatchesABruteForceGrid)
{
  const count_fit_result r = bayes(rats(), count_family::binomial);
  // p(alpha, beta | y) falls as (alpha + beta)^(-5/2) where the likelihood levels off: alpha, beta
  // and alpha + beta have no posterior mean.
  expect_matches_grid(r, "rats_bda3", 70, "71", {"a", "b", "concentration"});
  EXPECT_FALSE(r.bayes->log_marginal_likelihood.has_value());  // (alpha + beta)^(-5/2) is improper
  EXPECT_NE(r.bayes->hyperprior.find("BDA3"), std::string::npos);
  // The reported alpha, beta, mean and concentration are the posterior medians.
  EXPECT_EQ(r.a, r.bayes->a.median);
  EXPECT_EQ(r.mean, r.bayes->mean.median);
  // BDA3 5.3 (its figure 5.4): the 71st experiment's posterior, pulled from 4/14 = 0.286 towards
  // the population's ~0.14, centred near 0.2.
  EXPECT_GT(r.estimate[70], 0.18);
  EXPECT_LT(r.estimate[70], 0.24);
}

TEST(CountBayes, RatTumoursUserHyperpriorMatchesABruteForceGrid)
{
  const count_fit_result r = bayes(rats(), count_family::binomial, "mean=beta:1.5,8.5;concentration=exp:10");
  expect_matches_grid(r, "rats_user", 70, "71");
  ASSERT_TRUE(r.bayes->log_marginal_likelihood.has_value());
  EXPECT_NEAR(*r.bayes->log_marginal_likelihood, reference_value("rats_user log_marginal_likelihood"), 1e-8);
}

TEST(CountBayes, PumpsDefaultPriorMatchesABruteForceGrid)
{
  const count_fit_result r = bayes(pumps(), count_family::poisson);
  // p(m) ~ 1/m: the likelihood falls only as m^(-J shape) where shape -> 0, so m has no mean;
  // p(shape) ~ shape^(-3/2) leaves shape and rate none either. log m has (10 groups with counts),
  // but its density falls only as (log m)^(-9.5): the grid's rectangle (log m <= 12) misses 6e-6 of
  // its sd, so log m's and log shape's moments come from the whole plane (count_bayes_tails.R).
  expect_matches_grid(r, "pumps_default", 9, "10", {"a", "b", "mean", "concentration"});
  EXPECT_FALSE(r.bayes->log_marginal_likelihood.has_value());
  // The lattice grows until the second moment beyond its edges is below 1e-10 (not only the mass):
  // log m's sd to 1e-9 of the nested quadrature's (before that: 1.7e-7, the tail cut too soon).
  const double tail_tolerance = 1e-8;
  for (const auto& [field, name] : {std::pair{&r.bayes->link_mean, "link_mean"}, {&r.bayes->log_concentration, "log_concentration"}}) {
    const double mean = reference_value(std::string("pumps_default ") + name + " mean");
    const double sd = reference_value(std::string("pumps_default ") + name + " sd");
    EXPECT_NEAR(field->mean, mean, tail_tolerance * std::abs(mean)) << name;
    EXPECT_NEAR(field->sd, sd, tail_tolerance * sd) << name;
  }
}

TEST(CountBayes, PumpsUserHyperpriorMatchesABruteForceGrid)
{
  const count_fit_result r = bayes(pumps(), count_family::poisson, "mean=gamma:2,2;concentration=exp:2");
  expect_matches_grid(r, "pumps_user", 9, "10");
  ASSERT_TRUE(r.bayes->log_marginal_likelihood.has_value());
  EXPECT_NEAR(*r.bayes->log_marginal_likelihood, reference_value("pumps_user log_marginal_likelihood"), 1e-8);
}

TEST(CountBayes, OneSuccessInOneTrialHasAClosedForm)
{
  // m ~ Beta(2, 3), nu ~ exponential(mean 4), one group with y = n = 1: p(y | m, nu) = m, so the
  // posterior is m ~ Beta(3, 3) with nu still exponential(mean 4), p(y) = E m = 2/5, and
  // E[theta | y] = E[theta^2] / E[theta] = 1/2 + c/2, c = E[1 / (nu + 1)] (R's integrate).
  const count_input one{{1}, {1}};
  const count_fit_result r = bayes(one, count_family::binomial, "mean=beta:2,3;concentration=exp:4");
  const count_bayes_summary& s = *r.bayes;
  const double tight = 1e-8;
  EXPECT_NEAR(s.mean.mean, 0.5, tight);
  EXPECT_NEAR(s.mean.median, 0.5, 1e-7);
  EXPECT_NEAR(s.mean.sd, std::sqrt(1.0 / 28), tight);
  EXPECT_NEAR(s.concentration.mean, 4, 4 * tight);
  EXPECT_NEAR(s.concentration.sd, 4, 4 * tight);
  EXPECT_NEAR(s.concentration.median, 4 * std::log(2.0), 1e-6);
  EXPECT_NEAR(s.concentration.lower, -4 * std::log(0.975), 1e-6 * 0.1);
  EXPECT_NEAR(s.concentration.upper, -4 * std::log(0.025), 1e-6 * 14.8);
  // log nu of an exponential(mean 4): mean log 4 - Euler's gamma, sd pi / sqrt(6).
  EXPECT_NEAR(s.log_concentration.mean, std::log(4.0) - 0.5772156649015329, tight);
  EXPECT_NEAR(s.log_concentration.sd, 3.141592653589793 / std::sqrt(6.0), tight);
  EXPECT_NEAR(s.a.mean, 2, 2 * tight);  // E[m nu] = E m E nu
  EXPECT_NEAR(s.b.mean, 2, 2 * tight);
  ASSERT_TRUE(s.log_marginal_likelihood.has_value());
  EXPECT_NEAR(*s.log_marginal_likelihood, std::log(0.4), tight);
  EXPECT_NEAR(r.estimate[0], 0.5 + 0.5 * reference_value("one_group c"), tight);
}

TEST(CountBayes, MixtureQuantilesSolveTheMixtureCdf)
{
  // R: uniroot(sum(w * pbeta(x, a + y, b + n - y)) - p) (and pgamma) to 1e-16.
  using detail::beta_binomial;
  using detail::gamma_poisson;
  const double w[3] = {0.5, 0.3, 0.2};
  const double beta_a[3] = {2, 3, 10}, beta_b[3] = {5, 4, 30};
  const double gamma_a[3] = {2, 5, 0.5}, gamma_b[3] = {1, 3, 0.2};
  const detail::count_mixture beta_mix{beta_a, beta_b, w, 3}, gamma_mix{gamma_a, gamma_b, w, 3};
  for (const double p : {0.025, 1e-6}) {
    char name[64];
    for (const bool upper : {false, true}) {
      std::snprintf(name, sizeof name, "mixture beta %s %g", upper ? "upper" : "lower", p);
      const double x = detail::count_mixture_quantile<beta_binomial>({3, 10}, beta_mix, p, upper, 0.3);
      EXPECT_NEAR(x, reference_value(name), 1e-10 * reference_value(name)) << name;
      std::snprintf(name, sizeof name, "mixture gamma %s %g", upper ? "upper" : "lower", p);
      const double y = detail::count_mixture_quantile<gamma_poisson>({4, 2.5}, gamma_mix, p, upper, 1.0);
      EXPECT_NEAR(y, reference_value(name), 1e-10 * reference_value(name)) << name;
    }
  }
}

TEST(CountBayes, ThreadCountDoesNotChangeABit)
{
  for (const count_family f : {count_family::binomial, count_family::poisson}) {
    const count_input d = f == count_family::binomial ? rats() : pumps();
    const count_fit_result one = bayes(d, f, "", 1), many = bayes(d, f, "", 7);
    EXPECT_EQ(one.bayes->a.mean, many.bayes->a.mean);
    EXPECT_EQ(one.bayes->b.median, many.bayes->b.median);
    EXPECT_EQ(one.bayes->concentration.upper, many.bayes->concentration.upper);
    EXPECT_EQ(one.bayes->grid_points, many.bayes->grid_points);
    EXPECT_EQ(one.estimate, many.estimate);
    EXPECT_EQ(one.sd, many.sd);
    EXPECT_EQ(one.lower, many.lower);
    EXPECT_EQ(one.upper, many.upper);
  }
}

void expect_refused(const count_input& d, count_family f, const std::string& hyperprior, const std::string& words)
{
  try {
    bayes(d, f, hyperprior);
    ADD_FAILURE() << "accepted: " << hyperprior;
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

TEST(CountBayes, ImproperPosteriorsAreRefused)
{
  // No group with 0 < y < n: the likelihood is flat as nu -> 0, where nu^(-3/2) is not integrable.
  const count_input none{{0, 0, 5}, {10, 20, 5}};
  expect_refused(none, count_family::binomial, "", "improper");
  // A proper hyperprior makes it proper.
  EXPECT_NO_THROW(bayes(none, count_family::binomial, "concentration=exp:50"));
  // Poisson: the default needs two groups with a count; one, with a proper prior on the mean.
  const count_input single{{0, 0, 3}, {1, 2, 1}};
  expect_refused(single, count_family::poisson, "", "at least 2 groups");
  EXPECT_NO_THROW(bayes(single, count_family::poisson, "mean=lognormal:0,1"));
}

TEST(CountBayes, TooDiffusePoissonPosteriorsAreRefusedAtOnce)
{
  // Under p(m) ~ 1/m, k groups with a count: log m's density falls as (log m)^-(k - 1/2) (where the
  // shape -> 0: the likelihood's shape^k times p(shape) ~ shape^(-3/2), integrated against
  // e^(-J shape log m)), or (log m)^-(k + 1) with an exponential prior on the shape. Proper from
  // k = 2, but the grid resolves it only from k = 9 (8): before, counts 1, 2, 3, 4 ran for minutes.
  const count_input four{{1, 2, 3, 4}, {1, 1, 1, 1}};
  expect_refused(four, count_family::poisson, "", "falls only as (log m)^-3.5 (4 groups with a count");
  count_input seven = pumps();
  seven.counts.resize(7);
  seven.sizes.resize(7);
  expect_refused(seven, count_family::poisson, "concentration=exp:1", "(log m)^-8 (7 groups");
  // A proper prior on the mean removes the tail; 8 groups reach it with an exponential shape prior.
  EXPECT_NO_THROW(bayes(four, count_family::poisson, "mean=gamma:1,1"));
  count_input eight = pumps();
  eight.counts.resize(8);
  eight.sizes.resize(8);
  EXPECT_NO_THROW(bayes(eight, count_family::poisson, "concentration=exp:1"));
}

TEST(CountBayes, BadHyperpriorsAreRefused)
{
  const count_input d = rats();
  for (const char* bad : {"mean=beta:1", "mean=gamma:1,1", "concentration=exp:-1", "concentration=exp:0",
                          "foo=beta:1,1", "mean=beta:1,1;mean=beta:2,2", "mean=beta:1,x", "mean=beta:1,nan", "mean",
                          "concentration=cauchy:1", "mean=beta:0,1"})
    expect_refused(d, count_family::binomial, bad, "--hyperprior");
  for (const char* bad : {"mean=beta:1,1", "mean=lognormal:0,0", "mean=gamma:-1,1"})
    expect_refused(pumps(), count_family::poisson, bad, "--hyperprior");
}

TEST(CountBayesCli, HyperpriorEndToEnd)
{
  temp_dir dir;
  std::string csv = "y,K\n";
  for (const auto& [y, n] : rat_tumours()) csv += std::to_string(static_cast<int>(y)) + "," + std::to_string(static_cast<int>(n)) + "\n";
  write_file(dir / "in.csv", csv);
  const std::string base = "fit --family binomial " + quoted(dir / "in.csv") + " --successes y --trials K -o " +
                           quoted(dir / "out.csv") + " --summary " + quoted(dir / "s.json") + " -q ";
  const run_result ok = run_shrink(base + "--method bayes --hyperprior 'mean=beta:1.5,8.5;concentration=exp:10'", dir);
  ASSERT_EQ(ok.status, 0) << ok.err;
  const nlohmann::json s = nlohmann::json::parse(read_file(dir / "s.json"));
  EXPECT_EQ(s["method"], "bayes");
  EXPECT_NEAR(s["bayes"]["alpha"]["median"].get<double>(), reference_value("rats_user a median"), 1e-6 * reference_value("rats_user a median"));
  EXPECT_NEAR(s["bayes"]["log_marginal_likelihood"].get<double>(), reference_value("rats_user log_marginal_likelihood"), 1e-8);
  EXPECT_NEAR(s["bayes"]["log_alpha_plus_beta"]["mean"].get<double>(), reference_value("rats_user log_concentration mean"), 1e-6);
  const auto rows = parse_csv(read_file(dir / "out.csv"));
  ASSERT_EQ(rows.size(), 72u);
  EXPECT_EQ(rows[0][0], "group");
  EXPECT_NEAR(std::stod(rows[71][5]), reference_value("rats_user group 71 mean"), 1e-7);

  expect_error(run_shrink(base + "--method ml --hyperprior 'mean=beta:1,1'", dir), "--hyperprior gives the hyperprior of --method bayes");
  expect_error(run_shrink(base + "--method bayes --hyperprior 'mean=beta:1'", dir), "--hyperprior 'mean=beta:1'");
  expect_error(run_shrink("fit " + quoted(dir / "in.csv") + " --value y --hyperprior 'mean=beta:1,1'", dir),
               "--hyperprior belongs to --family binomial or poisson");
}

}  // namespace
}  // namespace shrink::test
