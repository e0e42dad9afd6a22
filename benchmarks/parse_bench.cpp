// The parse stage against its floors (issue 9), one thread, on every number of a CSV file (all
// fields but the first, the key):
//
//   cmake --build build --target parse_bench && build/parse_bench FILE.csv [COLUMNS...]
//
// Rows: "memchr lines" counts the file's line ends with memchr (the least any parser does: touch
// every byte); "from_chars" is libstdc++'s std::from_chars (the fast_float algorithm: the nearest
// double only) on each number field, its boundaries found beforehand and not timed;
// "parse_number" is shrink's general parser (hi + lo, about 32 digits) on the same fields;
// "shrink reader" is the reader the fit uses (visit_keyed_rows: the file mapped, the SIMD
// structural scan, the key, the numbers to hi + lo), whole, per number of the file. The text is
// in memory (the file read first) but for the reader, which maps the file from the page cache.
// Each row is the best of 7 passes.

#include "io/decimal.hpp"
#include "io/table_reader.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace {

template <class Pass>
[[gnu::noinline]] double best_seconds(Pass&& pass)
{
  double best = 1e300;
  for (int i = 0; i < 7; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    pass();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

void row(const char* name, double seconds, double bytes, double numbers)
{
  std::printf("%-22s %8.2f ms  %6.2f GB/s  %6.2f ns a number\n", name, 1e3 * seconds, bytes / seconds / 1e9,
              1e9 * seconds / numbers);
}

}  // namespace

int main(int argc, char** argv)
{
  if (argc < 2) {
    std::fprintf(stderr, "usage: parse_bench FILE.csv [COLUMNS...] (default: the header's columns)\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "parse_bench: cannot read %s\n", argv[1]);
    return 2;
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The number fields (every field after the first, header skipped).
  std::vector<std::string_view> fields;
  std::vector<std::string> header;
  std::size_t number_bytes = 0;
  for (std::size_t p = 0, line = 0; p < text.size(); ++line) {
    std::size_t e = text.find('\n', p);
    if (e == std::string::npos) e = text.size();
    std::string_view l(text.data() + p, e - p);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    for (std::size_t column = 0; !l.empty() || column == 0; ++column) {
      const std::size_t c = std::min(l.find(','), l.size());
      if (line == 0)
        header.emplace_back(l.substr(0, c));
      else if (column > 0) {
        fields.push_back(l.substr(0, c));
        number_bytes += c;
      }
      if (c == l.size()) break;
      l.remove_prefix(c + 1);
    }
    p = e + 1;
  }
  const double numbers = static_cast<double>(fields.size());
  std::printf("%s: %zu bytes, %zu numbers (%zu bytes of number text)\n", argv[1], text.size(), fields.size(), number_bytes);

  volatile std::size_t sink = 0;
  row("memchr lines", best_seconds([&] {
        std::size_t lines = 0;
        for (const char* p = text.data(); (p = static_cast<const char*>(std::memchr(p, '\n', text.data() + text.size() - p)));
             ++p)
          ++lines;
        sink = sink + lines;
      }),
      static_cast<double>(text.size()), numbers);
  std::vector<double> out(fields.size()), low(fields.size());
  row("from_chars", best_seconds([&] {
        for (std::size_t i = 0; i < fields.size(); ++i)
          std::from_chars(fields[i].data(), fields[i].data() + fields[i].size(), out[i]);
      }),
      static_cast<double>(number_bytes), numbers);
  std::size_t bad = 0;
  row("parse_number (hi+lo)", best_seconds([&] {
        for (std::size_t i = 0; i < fields.size(); ++i) {
          shrink::io::exact_number v;
          bad += shrink::io::parse_number(fields[i], v) ? 0 : 1;
          out[i] = v.hi;
          low[i] = v.lo;
        }
      }),
      static_cast<double>(number_bytes), numbers);
  std::vector<std::string> columns(header);
  if (argc > 2) columns.assign(argv + 2, argv + argc);
  row("shrink reader (whole)", best_seconds([&] {
        std::size_t rows = 0;
        shrink::io::visit_keyed_rows(argv[1], columns, 1, [&](const std::vector<shrink::io::keyed_rows>& pieces) {
          for (const auto& piece : pieces) rows += piece.keys.size();
        });
        sink = sink + rows;
      }),
      static_cast<double>(text.size()), numbers);
  if (bad != 0) std::printf("(%zu fields were not numbers)\n", bad);
  return 0;
}
