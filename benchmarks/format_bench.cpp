// Nanoseconds per formatted number, one thread, text into a reused buffer (no page faults, no
// write): shrink's per-group CSV formatter against its floors on the same doubles.
//
//   cmake --build build --target format_bench && build/format_bench [N] [FILE.csv]
//
// Rows: "digits" is {fmt}'s Dragonbox alone (the shortest digits, no text: the floor of any exact
// shortest formatter built on it; each number's digits move the write position, as a text's length
// does), "jkj" the same for the reference Dragonbox (Debian's libdragonbox-dev, where CMake found
// it: the fastest shortest-digits generator among Debian's packages), "fmt {}" {fmt}'s own shortest
// text (format_to, compiled format string), "shrink" the CSV's formatter (src/io/number_text.hpp),
// "to_chars" libstdc++'s shortest, and "--digits N" the fixed-precision text (%.Ng) by {fmt} and by
// the CSV writer's put_digits. Doubles: normal(0,1) and uniform(0,1) draws (17 significant digits,
// like the fit's columns), random bit patterns, or every number of FILE.csv (for instance a
// per-group CSV shrink wrote). Each row is the best of 7 passes.

#include "io/number_text.hpp"

#include <fmt/compile.h>
#include <fmt/format.h>
#if defined(SHRINK_HAVE_DRAGONBOX)
#include <dragonbox/dragonbox.h>
#endif

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

// Not inlined: each formatter's loop is a function of its own in a profile (callgrind, perf).
template <class Format>
[[gnu::noinline]] double best_ns(const std::vector<double>& xs, std::vector<char>& buf, Format&& format)
{
  double best = 1e300;
  for (int pass = 0; pass < 7; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    char* p = buf.data();
    for (double x : xs) {
      p = format(p, x);
      *p++ = ',';
    }
    const auto t1 = std::chrono::steady_clock::now();
    if (static_cast<std::size_t>(p - buf.data()) > buf.size()) std::abort();
    best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(xs.size()));
  }
  return best;
}

void report(const char* name, const std::vector<double>& xs)
{
  std::vector<char> buf(xs.size() * 32 + 64);
  std::printf("%-8s %9zu doubles:", name, xs.size());
  const double digits = best_ns(xs, buf, [](char* p, double x) {
    return x != 0 && std::isfinite(x) ? p + (fmt::detail::dragonbox::to_decimal(x).significand & 1) : p;
  });
#if defined(SHRINK_HAVE_DRAGONBOX)
  const double jkj = best_ns(xs, buf, [](char* p, double x) {
    namespace policy = jkj::dragonbox::policy;
    return x != 0 && std::isfinite(x) ? p + (jkj::dragonbox::to_decimal(x, policy::sign::ignore).significand & 1) : p;
  });
  std::printf("  digits %5.1f  jkj %5.1f", digits, jkj);
#else
  std::printf("  digits %5.1f", digits);
#endif
  const double fmt_ns = best_ns(xs, buf, [](char* p, double x) { return fmt::format_to(p, FMT_COMPILE("{}"), x); });
  const double ours = best_ns(xs, buf, [](char* p, double x) { return shrink::io::put_shortest(p, x); });
  const double to_chars = best_ns(xs, buf, [](char* p, double x) { return std::to_chars(p, p + 32, x).ptr; });
  std::printf("  fmt {} %5.1f  shrink %5.1f  to_chars %5.1f ns |", fmt_ns, ours, to_chars);
  for (int n : {3, 6, 17}) {
    const double with_fmt = best_ns(xs, buf, [n](char* p, double x) { return fmt::format_to(p, FMT_COMPILE("{:.{}g}"), x, n); });
    const double exact = best_ns(xs, buf, [n](char* p, double x) { return shrink::io::put_digits(p, x, n); });
    std::printf("  --digits %d: fmt %5.1f shrink %5.1f", n, with_fmt, exact);
  }
  std::printf(" ns\n");
}

}  // namespace

int main(int argc, char** argv)
{
  const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  if (argc > 2) {
    std::ifstream in(argv[2]);
    std::string line, field;
    std::vector<double> xs;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::stringstream fields(line);
      for (int column = 0; std::getline(fields, field, ','); ++column)
        if (column >= 2 && !field.empty()) xs.push_back(std::strtod(field.c_str(), nullptr));
    }
    if (xs.size() > n) xs.resize(n);
    report("file", xs);
    return 0;
  }
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> unit;
  std::vector<double> a(n), b(n), c;
  for (double& x : a) x = normal(rng);
  for (double& x : b) x = unit(rng);
  while (c.size() < n) {
    const std::uint64_t bits = rng();
    double x;
    std::memcpy(&x, &bits, sizeof x);
    if (std::isfinite(x)) c.push_back(x);
  }
  report("normal", a);
  report("uniform", b);
  report("bits", c);
}
