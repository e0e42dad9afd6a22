// CSV/TSV parsing. Raw input streams: it is read in blocks of whole rows, each block cut into
// pieces at line ends and parsed in parallel (pieces with quote characters by one row scanner,
// since a quoted field may hold a line end), and its rows folded into the group table
// (group_fold.hpp) before the next block is read. Summary input (one row per group) is read whole.
//
// The common `key,value` input takes a fast path (parse_fast_chunk): a SIMD scan (csv_scan.hpp)
// finds each row's delimiter and line end, the digits are read from the known field boundaries
// without a branch per byte, and the numbers are made in a batch; any row it does not take whole
// sends the piece to the general scanner, so values and errors are those of the general path.

#include "table_reader.hpp"

#include "../cpu/parallel.hpp"
#include "csv_scan.hpp"
#include "decimal.hpp"
#include "group_fold.hpp"
#include "output.hpp"
#include "text_source.hpp"

#include <shrink/error.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <deque>
#include <limits>
#include <memory>
#include <string_view>
#include <unordered_map>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace shrink::io {
namespace {

/// Spaces, tabs and carriage returns around a field are not part of it.
inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }
std::string_view trim(std::string_view s)
{
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return s;
}

/// Splits rows into fields, honouring quotes ("a,b" and "say ""hi""").
class row_scanner {
 public:
  row_scanner(const char* begin, const char* end, char delimiter)
    : p_(begin), end_(end), delimiter_(delimiter)
  {
  }

  bool done() const { return p_ >= end_; }

  /// Reads one row, calling on_field(view) for each field; returns the number of line ends
  /// consumed. Unescaped quoted fields are stored in `arena` so that the views stay valid.
  template <class OnField>
  std::size_t visit(OnField&& on_field, std::deque<std::string>& arena)
  {
    std::size_t lines = 0;
    for (;;) {
      const char* field_begin = p_;
      while (p_ < end_ && (*p_ == ' ' || (*p_ == '\t' && delimiter_ != '\t'))) ++p_;
      if (p_ < end_ && *p_ == '"') {
        ++p_;
        const char* content = p_;
        bool escaped = false;
        for (;;) {
          if (p_ >= end_) throw error("unterminated quoted field at the end of the input");
          if (*p_ == '"') {
            if (p_ + 1 < end_ && p_[1] == '"') {
              escaped = true;
              p_ += 2;
              continue;
            }
            break;
          }
          if (*p_ == '\n') ++lines;
          ++p_;
        }
        std::string_view inner(content, static_cast<std::size_t>(p_ - content));
        ++p_;  // closing quote
        while (p_ < end_ && (*p_ == ' ' || *p_ == '\r' || (*p_ == '\t' && delimiter_ != '\t'))) ++p_;
        if (escaped) {
          std::string s;
          s.reserve(inner.size());
          for (std::size_t i = 0; i < inner.size(); ++i) {
            s.push_back(inner[i]);
            if (inner[i] == '"') ++i;
          }
          arena.push_back(std::move(s));
          inner = arena.back();
        }
        on_field(inner);
      } else {
        p_ = field_begin;
        while (p_ < end_ && *p_ != delimiter_ && *p_ != '\n') ++p_;
        on_field(trim({field_begin, static_cast<std::size_t>(p_ - field_begin)}));
      }
      if (p_ >= end_) return lines;
      if (*p_ == '\n') {
        ++p_;
        return lines + 1;
      }
      if (*p_ != delimiter_) throw error("unexpected text after a closing quote");
      ++p_;
    }
  }

  /// visit() into `fields`, keeping at most `max_fields` of them (a ragged row is an error
  /// anyway; the count is what reports it): memory follows the fields used, not the text.
  std::size_t next(std::vector<std::string_view>& fields, std::size_t& count, std::size_t max_fields,
                   std::deque<std::string>& arena)
  {
    fields.clear();
    count = 0;
    return visit(
      [&](std::string_view f) {
        if (count++ < max_fields) fields.push_back(f);
      },
      arena);
  }

  /// next() for text known to hold no quote character: one pass that splits at delimiters and
  /// stops at the line end (rows are short, so a memchr call per line costs more than it saves).
  std::size_t next_unquoted(std::vector<std::string_view>& fields, std::size_t& count, std::size_t max_fields)
  {
    fields.clear();
    count = 0;
    const char* field_begin = p_;
    const char* q = p_;
    for (; q < end_; ++q) {
      const char c = *q;
      if (c == delimiter_) {
        if (count++ < max_fields) fields.push_back(trim({field_begin, static_cast<std::size_t>(q - field_begin)}));
        field_begin = q + 1;
      } else if (c == '\n') {
        break;
      }
    }
    if (count++ < max_fields) fields.push_back(trim({field_begin, static_cast<std::size_t>(q - field_begin)}));
    const bool newline = q < end_;
    p_ = newline ? q + 1 : end_;
    return newline ? 1 : 0;
  }

  const char* position() const { return p_; }

 private:
  const char* p_;
  const char* end_;
  char delimiter_;
};

bool blank_row(const std::vector<std::string_view>& fields, std::size_t count)
{
  return count == 1 && fields[0].empty();
}

}  // namespace

std::string shown(std::string_view s)
{
  std::string out;
  const std::size_t limit = 40;
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > limit) out += "...";
  return out;
}

bool parse_int_key(std::string_view s, std::int64_t& out)
{
  std::size_t i = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) i = 1;
  const std::size_t digits = s.size() - i;
  if (digits == 0 || digits > 19) return false;
  if (s[i] == '0' && (digits > 1 || negative)) return false;
  std::uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<unsigned>(s[i] - '0');  // 19 digits fit in 64 bits unsigned
  }
  const std::uint64_t limit = negative ? (std::uint64_t{1} << 63) : (std::uint64_t{1} << 63) - 1;
  if (v > limit) return false;
  out = negative ? static_cast<std::int64_t>(0 - v) : static_cast<std::int64_t>(v);
  return true;
}

namespace {

/// The header and where the data start. Only the columns asked for are kept, so a header of a
/// million columns costs what its text costs.
struct layout {
  std::string source;  // "stdin" or 'path', for messages
  std::size_t columns = 0;
  std::vector<std::string> first_names;  // the first few, for messages
  std::unordered_map<std::string, std::vector<std::size_t>> wanted;  // name -> positions
  char delimiter = ',';
  const char* data_begin = nullptr;
  const char* data_end = nullptr;
  std::size_t header_lines = 1;  // line ends consumed by blank lines and the header
  bool quoted = false;  // data contain a quote character
};

/// 1-based line of `at` in `text`.
std::size_t line_of(std::string_view text, const char* at)
{
  return 1 + static_cast<std::size_t>(std::count(text.data(), at, '\n'));
}

/// The first NUL byte or UTF-8 byte-order mark in [begin, end), or end: neither belongs inside the
/// text (a binary file; files joined together).
const char* first_foreign_bytes(const char* begin, const char* end)
{
  const auto* nul = static_cast<const char*>(std::memchr(begin, '\0', static_cast<std::size_t>(end - begin)));
  const char* stop = nul != nullptr ? nul : end;
  const std::size_t bom = std::string_view(begin, static_cast<std::size_t>(stop - begin)).find("\xEF\xBB\xBF");
  return bom == std::string_view::npos ? stop : begin + bom;
}

/// What first_foreign_bytes found at `at`.
const char* foreign_bytes_problem(const char* at)
{
  return *at == '\0' ? "a NUL byte: this is not a text file"
                      : "a byte-order mark inside the text (were files joined together?)";
}

/// Refuses what is not UTF-8 (or ASCII) text: UTF-16/32 (by their byte-order marks), NUL bytes,
/// a byte-order mark inside the data (files joined together) and CR-only line ends.
void check_text(std::string_view text, const std::string& source)
{
  auto starts = [&](const char* mark, std::size_t n) { return text.size() >= n && std::memcmp(text.data(), mark, n) == 0; };
  if (starts("\x00\x00\xFE\xFF", 4) || starts("\xFF\xFE\x00\x00", 4))
    throw error(source + " is UTF-32 text: convert it to UTF-8 (for example iconv -f UTF-32 -t UTF-8)");
  if (starts("\xFE\xFF", 2) || starts("\xFF\xFE", 2))
    throw error(source + " is UTF-16 text: convert it to UTF-8 (for example iconv -f UTF-16 -t UTF-8)");
  const char* const end = text.data() + text.size();
  const char* const foreign = first_foreign_bytes(text.data() + (starts("\xEF\xBB\xBF", 3) ? 3 : 0), end);
  if (foreign != end)
    throw error(source + " line " + std::to_string(line_of(text, foreign)) + ": " + foreign_bytes_problem(foreign));
  const std::size_t first_lf = text.find('\n');
  const std::string_view first_line = text.substr(0, first_lf);
  const std::size_t cr = first_line.find('\r');
  if (cr != std::string_view::npos && trim(first_line.substr(cr)).size() > 0)
    throw error(source + " has carriage returns (CR) alone as line ends: convert them to LF or CRLF");
}

layout read_layout(std::string_view text, const std::string& path, const std::vector<std::string>& names,
                   std::vector<std::string>* header = nullptr)
{
  layout l;
  l.source = path == "-" ? stdin_input::name() : "'" + shown(path) + "'";
  check_text(text, l.source);
  if (text.size() >= 3 && std::memcmp(text.data(), "\xEF\xBB\xBF", 3) == 0) text.remove_prefix(3);
  // Blank lines before the header are skipped, as blank lines are everywhere else.
  std::size_t skipped = 0;
  for (;;) {
    const std::size_t eol = text.find('\n');
    if (!trim(text.substr(0, eol)).empty()) break;
    if (eol == std::string_view::npos) throw error("empty input: " + l.source + " has no header line");
    text.remove_prefix(eol + 1);
    ++skipped;
  }
  // The delimiter is a tab when the header has one outside quotes.
  {
    bool in_quotes = false;
    for (const char c : text) {
      if (c == '"')
        in_quotes = !in_quotes;
      else if (!in_quotes && c == '\n')
        break;
      else if (!in_quotes && c == '\t') {
        l.delimiter = '\t';
        break;
      }
    }
  }
  for (const auto& n : names) l.wanted.emplace(n, std::vector<std::size_t>{});
  row_scanner scan(text.data(), text.data() + text.size(), l.delimiter);
  std::deque<std::string> arena;
  l.header_lines = skipped + std::max<std::size_t>(
                                1, scan.visit(
                                     [&](std::string_view f) {
                                       if (l.first_names.size() < 10) l.first_names.emplace_back(f);
                                       if (header != nullptr) header->emplace_back(f);
                                       if (!l.wanted.empty()) {
                                         const auto it = l.wanted.find(std::string(f));
                                         if (it != l.wanted.end()) it->second.push_back(l.columns);
                                       }
                                       ++l.columns;
                                     },
                                     arena));
  l.data_begin = scan.position();
  l.data_end = text.data() + text.size();
  l.quoted = std::memchr(l.data_begin, '"', static_cast<std::size_t>(l.data_end - l.data_begin)) != nullptr;
  return l;
}

bool has_column(const layout& l, const std::string& name)
{
  const auto it = l.wanted.find(name);
  return it != l.wanted.end() && !it->second.empty();
}

std::size_t column_index(const layout& l, const std::string& name, const char* role)
{
  const auto it = l.wanted.find(name);
  if (it != l.wanted.end() && it->second.size() == 1) return it->second[0];
  if (it != l.wanted.end() && it->second.size() > 1)
    throw error(l.source + ": the header names column '" + shown(name) + "' " + std::to_string(it->second.size()) +
                " times (columns " + std::to_string(it->second[0] + 1) + " and " + std::to_string(it->second[1] + 1) +
                "): rename them so that each name is unique");
  std::string have;
  for (const auto& n : l.first_names) have += (have.empty() ? "'" : ", '") + shown(n) + "'";
  if (l.columns > l.first_names.size()) have += " and " + std::to_string(l.columns - l.first_names.size()) + " more";
  throw error(std::string("no ") + role + " column '" + shown(name) + "'; the columns are: " + have);
}

/// What to take from each row: an optional key column and up to two numeric columns. The first
/// numeric column is a location, kept to about 32 digits (hi + lo) until the column's offset is
/// known; the second a scale (a positive standard error or variance).
struct row_spec {
  std::optional<std::size_t> key;
  std::vector<std::size_t> numbers;
  std::vector<std::string> number_names;
  const char* second_positive = nullptr;  // the second number must be > 0: what it is, for messages
  std::size_t fields = 0;
};

/// The fast path's working memory, kept from block to block for its capacity.
struct fast_scratch {
  scan_bitmaps scan;                             // of the batch being parsed
  uninitialized_vector<std::uint64_t> mantissa;  // each row's value as digits ...
  uninitialized_vector<std::uint8_t> scale;      // ... its fraction digits, + 32 if negative;
                                                 // read_by_bytes: the row's number is made already
};
constexpr std::uint8_t read_by_bytes = 0xFF;

/// Rows parsed from one chunk of the input: keys and the location (hi + lo) in `rows`, the scale
/// column (summary mode) in `second`.
struct chunk_rows {
  row_block rows;
  std::vector<double> second;
  std::deque<std::string> arena;
  bool keys_not_integer = false;
  std::string failure;           // empty when the chunk parsed
  std::size_t failure_line = 0;  // line within the chunk, 0-based
  std::size_t lines = 0;         // line ends in the chunk
  const char* foreign = nullptr; // first NUL or byte-order mark in the chunk (its end: none)
  bool quote = false;            // parsed as unquoted text, it holds a quote: not parsed
  fast_scratch fast;             // the fast path's working memory

  /// Empty again, keeping the capacity of the row arrays (the next block reuses them).
  void clear()
  {
    rows.int_keys.clear();
    rows.text_keys.clear();
    rows.hi.clear();
    rows.lo.clear();
    second.clear();
    arena.clear();
    keys_not_integer = false;
    failure.clear();
    failure_line = 0;
    lines = 0;
  }
};

/// Upper bound on the rows in [begin, end): no more than its non-blank line ends plus one, and
/// no more than a row of `fields` one-byte fields per (fields + 1) bytes. Memory reserved from it
/// follows the rows, not the bytes (a file of blank lines reserves nothing).
std::size_t row_bound(const char* begin, const char* end, std::size_t fields);

std::string number_error(const std::string& column, std::string_view text, const char* problem)
{
  return "column '" + shown(column) + "': '" + shown(text) + "' " + problem;
}

void parse_chunk(const char* begin, const char* end, const layout& l, bool quoted, const row_spec& spec,
                 bool integer_keys, chunk_rows& out)
{
  row_scanner scan(begin, end, l.delimiter);
  std::vector<std::string_view> fields;
  std::size_t count = 0, line = 0;
  const std::size_t expected = row_bound(begin, end, spec.fields);
  out.rows.hi.reserve(expected);
  out.rows.lo.reserve(expected);
  if (spec.numbers.size() > 1) out.second.reserve(expected);
  if (spec.key) integer_keys ? out.rows.int_keys.reserve(expected) : out.rows.text_keys.reserve(expected);
  try {
    while (!scan.done()) {
      const std::size_t consumed =
        quoted ? scan.next(fields, count, spec.fields, out.arena) : scan.next_unquoted(fields, count, spec.fields);
      if (blank_row(fields, count)) {
        line += consumed;
        continue;
      }
      if (count != spec.fields) {
        out.failure = "row has " + std::to_string(count) + " fields but the header has " + std::to_string(spec.fields);
        out.failure_line = line;
        return;
      }
      if (spec.key) {
        const std::string_view k = fields[*spec.key];
        if (k.empty()) {
          out.failure = "has an empty group key";
          out.failure_line = line;
          return;
        }
        if (integer_keys) {
          std::int64_t v;
          if (!parse_int_key(k, v)) {
            out.keys_not_integer = true;
            return;
          }
          out.rows.int_keys.push_back(v);
        } else {
          out.rows.text_keys.push_back(k);
        }
      }
      for (std::size_t c = 0; c < spec.numbers.size(); ++c) {
        const std::string_view text = fields[spec.numbers[c]];
        exact_number v;
        if (!parse_number(text, v)) {
          out.failure = number_error(spec.number_names[c], text, number_problem(text));
          out.failure_line = line;
          return;
        }
        if (c == 1 && spec.second_positive && !(v.hi > 0)) {
          out.failure = number_error(spec.number_names[c], text, "is not positive") + " (" + spec.second_positive + " must be > 0)";
          out.failure_line = line;
          return;
        }
        if (c == 0) {
          out.rows.hi.push_back(v.hi);
          out.rows.lo.push_back(v.lo);
        } else {
          out.second.push_back(v.hi);
        }
      }
      line += consumed;
    }
  } catch (const error& e) {
    out.failure = e.what();
    out.failure_line = line;
  }
}

/// '\n' in [p, end): 16 bytes a step, byte counters summed every 255 steps.
std::size_t count_lines(const char* p, const char* const end)
{
  std::size_t n = 0;
#ifdef __SSE2__
  const __m128i nl = _mm_set1_epi8('\n');
  while (end - p >= 16) {
    const std::size_t steps = std::min<std::size_t>(255, static_cast<std::size_t>(end - p) / 16);
    __m128i acc = _mm_setzero_si128();
    for (std::size_t i = 0; i < steps; ++i, p += 16)
      acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), nl));
    const __m128i sums = _mm_sad_epu8(acc, _mm_setzero_si128());
    n += static_cast<std::size_t>(_mm_cvtsi128_si64(sums)) +
         static_cast<std::size_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
  }
#endif
  return n + static_cast<std::size_t>(std::count(p, end, '\n'));
}

/// Line ends in [begin, end) that end a non-empty line ('\n' not right after another '\n'):
/// 16 bytes a step, byte counters summed every 255 steps. A '\n' at `begin` counts (its line may
/// have started in the previous chunk).
std::size_t count_row_ends(const char* begin, const char* const end)
{
  if (begin >= end) return 0;
  std::size_t n = *begin == '\n' ? 1 : 0;
  const char* p = begin + 1;
#ifdef __SSE2__
  const __m128i nl = _mm_set1_epi8('\n');
  while (end - p >= 16) {
    const std::size_t steps = std::min<std::size_t>(255, static_cast<std::size_t>(end - p) / 16);
    __m128i acc = _mm_setzero_si128();
    for (std::size_t i = 0; i < steps; ++i, p += 16) {
      const __m128i here = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), nl);
      const __m128i before = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p - 1)), nl);
      acc = _mm_sub_epi8(acc, _mm_andnot_si128(before, here));
    }
    const __m128i sums = _mm_sad_epu8(acc, _mm_setzero_si128());
    n += static_cast<std::size_t>(_mm_cvtsi128_si64(sums)) +
         static_cast<std::size_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
  }
#endif
  for (; p < end; ++p) n += (*p == '\n' && p[-1] != '\n') ? 1 : 0;
  return n;
}

std::size_t row_bound(const char* begin, const char* end, std::size_t fields)
{
  const auto bytes = static_cast<std::size_t>(end - begin);
  return std::min(count_row_ends(begin, end) + 1, bytes / (fields + 1) + 1);
}

/// Appends the decimal digits at `p` (up to `end`) to m = m * 10^count + digits, 8 at a time
/// where 8 bytes can be read (before `limit`); returns the first non-digit. m wraps when there are
/// more than 19 digits in all, which the caller rejects.
inline const char* read_digits(const char* p, const char* const end, const char* const limit, std::uint64_t& m)
{
  while (limit - p >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);  // little-endian: p[0] in the low byte
    const std::uint64_t t = w - 0x3030303030303030ull;
    // Every byte a digit: no borrow out of any byte (so the byte was >= '0') and byte + 6 < 16.
    if (((w & 0xF0F0F0F0F0F0F0F0ull) != 0x3030303030303030ull) ||
        (((t + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) != 0))
      break;
    if (p + 8 > end) break;
    std::uint64_t v = (t * 10) + (t >> 8);  // pairs
    v = (((v & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
         (((v >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >> 32;
    m = m * 100000000ull + v;
    p += 8;
  }
  while (p < end && static_cast<unsigned>(*p - '0') < 10) m = m * 10 + static_cast<unsigned>(*p++ - '0');
  return p;
}

/// The value of the `n` decimal digits at p, 1 <= n <= 8, 8 bytes readable at p: SWAR, one
/// 8-byte load and three multiplications, no branch per digit.
inline std::uint64_t eight_digits(const char* p, std::size_t n)
{
  std::uint64_t w;
  std::memcpy(&w, p, 8);  // little-endian: p[0] in the low byte
  // Digits to 0..9 (no borrow: each of the n bytes is a digit), then the bytes past the n digits
  // shifted out at the top and zeros (leading zeros of the number) shifted in at the bottom.
  const std::uint64_t t = (w - 0x3030303030303030ull) << (8 * (8 - n));
  const std::uint64_t v = (t * 10) + (t >> 8);  // pairs
  return (((v & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
          (((v >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >> 32;
}

/// The value of the `n` decimal digits at p, 0 <= n <= 19 (less than 2^64); 8 bytes readable at
/// p (reads stay within p + max(n, 8)).
inline std::uint64_t digits_value(const char* p, std::size_t n)
{
  if (n <= 8) return n == 0 ? 0 : eight_digits(p, n);
  if (n <= 16) return eight_digits(p, n - 8) * 100000000ull + eight_digits(p + n - 8, 8);
  return (eight_digits(p, n - 16) * 100000000ull + eight_digits(p + n - 16, 8)) * 100000000ull +
         eight_digits(p + n - 8, 8);
}

/// Masks of the top v bytes of a word, v = 0..8.
constexpr std::uint64_t top_bytes[] = {0,
                                       0xFF00000000000000ull,
                                       0xFFFF000000000000ull,
                                       0xFFFFFF0000000000ull,
                                       0xFFFFFFFF00000000ull,
                                       0xFFFFFFFFFF000000ull,
                                       0xFFFFFFFFFFFF0000ull,
                                       0xFFFFFFFFFFFFFF00ull,
                                       0xFFFFFFFFFFFFFFFFull};

/// The value of the `n` (0..8) decimal digits right before `q`: the 8 bytes before q read, those
/// before the digits masked to zero (leading zeros). No branch.
inline std::uint64_t digits_before(const char* q, std::size_t n)
{
  std::uint64_t w;
  std::memcpy(&w, q - 8, 8);
  const std::uint64_t keep = top_bytes[n];
  const std::uint64_t t = (w & keep) - (0x3030303030303030ull & keep);  // no borrow: kept bytes are digits
  const std::uint64_t v = (t * 10) + (t >> 8);
  return (((v & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
          (((v >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >> 32;
}

/// The value of the `n` (0..19) decimal digits right before `q`, 24 bytes before q readable: three
/// 8-digit pieces, no branch.
inline std::uint64_t digits_before_24(const char* q, std::size_t n)
{
  const std::size_t n1 = n > 8 ? n - 8 : 0, n2 = n > 16 ? n - 16 : 0;
  return (digits_before(q - 16, n2) * 100000000ull + digits_before(q - 8, n1 < 8 ? n1 : 8)) * 100000000ull +
         digits_before(q, n < 8 ? n : 8);
}

#ifdef __SSE2__
/// The mantissa of a value whose text ends at `stop` (32 bytes before it readable): `int_len`
/// digits, a point if `fraction` > 0 or `point`, then `fraction` digits; at most 19 digits in all.
/// SSE2 (every x86-64): the integer digits shifted one byte up over the point, the bytes before
/// the digits zeroed, then the 32 digit bytes to four 8-digit numbers by multiply-adds.
inline std::uint64_t value_digits_sse2(const char* stop, std::size_t int_len, std::size_t fraction, bool point)
{
  // Bytes [32 - c, 64 - c) of this table: c bytes of 0xFF, then zeros.
  alignas(16) static constexpr unsigned char first_bytes[64] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255};
  auto first = [](std::size_t c, int half) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(first_bytes + 32 - c + 16 * half));
  };
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(stop - 32));
  const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(stop - 16));
  // Bytes up to the point take their left neighbour: the digits close up over it.
  const std::size_t shifted = point ? 32 - fraction : 0;
  const __m128i lo_up = _mm_slli_si128(lo, 1), hi_up = _mm_or_si128(_mm_slli_si128(hi, 1), _mm_srli_si128(lo, 15));
  const __m128i take_lo = first(shifted, 0), take_hi = first(shifted, 1);
  __m128i d_lo = _mm_or_si128(_mm_and_si128(take_lo, lo_up), _mm_andnot_si128(take_lo, lo));
  __m128i d_hi = _mm_or_si128(_mm_and_si128(take_hi, hi_up), _mm_andnot_si128(take_hi, hi));
  // Digits to 0..9, the bytes before the n = int_len + fraction digits to 0.
  const std::size_t before = 32 - int_len - fraction;
  const __m128i zero_char = _mm_set1_epi8('0');
  d_lo = _mm_andnot_si128(first(before, 0), _mm_sub_epi8(d_lo, zero_char));
  d_hi = _mm_andnot_si128(first(before, 1), _mm_sub_epi8(d_hi, zero_char));
  // Pairs, fours, eights: each step a multiply-add of neighbours (the first the more significant).
  const __m128i zero = _mm_setzero_si128();
  const __m128i ten = _mm_set1_epi32(0x0001000A), hundred = _mm_set1_epi32(0x00010064);
  const __m128i ten_thousand = _mm_set1_epi32(0x00012710);
  auto fours = [&](__m128i d) {
    const __m128i pairs = _mm_packs_epi32(_mm_madd_epi16(_mm_unpacklo_epi8(d, zero), ten),
                                          _mm_madd_epi16(_mm_unpackhi_epi8(d, zero), ten));
    return _mm_madd_epi16(pairs, hundred);
  };
  const __m128i eights = _mm_madd_epi16(_mm_packs_epi32(fours(d_lo), fours(d_hi)), ten_thousand);
  // Four 8-digit groups a b c d; a is 0 (at most 19 digits).
  const auto ab = static_cast<std::uint64_t>(_mm_cvtsi128_si64(eights));
  const auto cd = static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(eights, eights)));
  return ((ab >> 32) * 100000000ull + (cd & 0xFFFFFFFFull)) * 100000000ull + (cd >> 32);
}

/// value_digits_sse2 for a value of at most 16 digits and point (int_len + fraction + point <= 16;
/// 16 bytes before `stop` readable): the same steps on the one vector that holds it, half the work.
inline std::uint64_t value_digits_sse2_16(const char* stop, std::size_t int_len, std::size_t fraction, bool point)
{
  // Bytes [16 - c, 32 - c) of this table: c bytes of 0xFF, then zeros.
  alignas(16) static constexpr unsigned char first_bytes[32] = {255, 255, 255, 255, 255, 255, 255, 255,
                                                                255, 255, 255, 255, 255, 255, 255, 255};
  auto first = [](std::size_t c) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(first_bytes + 16 - c)); };
  const __m128i text = _mm_loadu_si128(reinterpret_cast<const __m128i*>(stop - 16));
  const __m128i take = first(point ? 16 - fraction : 0);
  __m128i d = _mm_or_si128(_mm_and_si128(take, _mm_slli_si128(text, 1)), _mm_andnot_si128(take, text));
  d = _mm_andnot_si128(first(16 - int_len - fraction), _mm_sub_epi8(d, _mm_set1_epi8('0')));
  const __m128i zero = _mm_setzero_si128();
  const __m128i pairs = _mm_packs_epi32(_mm_madd_epi16(_mm_unpacklo_epi8(d, zero), _mm_set1_epi32(0x0001000A)),
                                        _mm_madd_epi16(_mm_unpackhi_epi8(d, zero), _mm_set1_epi32(0x0001000A)));
  const __m128i fours = _mm_madd_epi16(pairs, _mm_set1_epi32(0x00010064));
  const __m128i eights = _mm_madd_epi16(_mm_packs_epi32(fours, fours), _mm_set1_epi32(0x00012710));
  const auto ab = static_cast<std::uint64_t>(_mm_cvtsi128_si64(eights));  // two 8-digit groups a b
  return (ab & 0xFFFFFFFFull) * 100000000ull + (ab >> 32);
}
#endif

constexpr std::uint64_t pow10_u64[] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull,
                                       10000000000000000000ull};

/// Bits [from, from + n) of a bitmap (1 <= n <= 64) as bits 0..n-1.
inline std::uint64_t bits_at(const std::uint64_t* bitmap, std::size_t from, std::size_t n)
{
  const std::size_t w = from >> 6, s = from & 63;
  std::uint64_t v = bitmap[w] >> s;
  if (s != 0) v |= bitmap[w + 1] << (64 - s);  // the bitmap has a zero word past its last
  return n < 64 ? v & ((std::uint64_t{1} << n) - 1) : v;
}

/// What parse_row_scalar did with the text at p.
enum class row_outcome { row, skipped, done, give_up };

/// One row of the fast path read byte by byte: the rows the structural parser leaves (a CR, a
/// '+', an exponent, spaces, more than 19 digits, a row longer than 64 bytes, the last row of
/// the input...). `row`: key and value set, p past the line end; `skipped`: a blank line; `done`:
/// only spaces and CRs to the end; `give_up`: the general scanner must parse the piece (a third
/// field, a text key, a bad number...).
row_outcome parse_row_scalar(const char*& p, const char* const end, const char* const limit, char delimiter,
                             std::int64_t& key, exact_number& v)
{
  // Blank line (spaces and carriage returns only): skipped, as by the general scanner.
  if (*p == '\n' || *p == '\r' || *p == ' ') {
    const char* q = p;
    while (q < end && (*q == ' ' || *q == '\r')) ++q;
    if (q == end) return row_outcome::done;
    if (*q != '\n') return row_outcome::give_up;
    p = q + 1;
    return row_outcome::skipped;
  }
  // Key: canonical integer (as parse_int_key), then the delimiter right after it.
  const bool negative_key = *p == '-';
  if (negative_key) ++p;
  const char* const key_digits = p;
  std::int64_t k = 0;
  while (p < end && static_cast<unsigned>(*p - '0') < 10) k = k * 10 + (*p++ - '0');
  const std::size_t key_len = static_cast<std::size_t>(p - key_digits);
  if (key_len == 0 || key_len > 18 || p == end || *p != delimiter) return row_outcome::give_up;
  if (*key_digits == '0' && (key_len > 1 || negative_key)) return row_outcome::give_up;
  key = negative_key ? -k : k;
  ++p;
  // Value: [+-]digits[.digits] read on the fly; anything else is handed to the full parser.
  const char* const field = p;
  bool negative = false;
  if (p < end && (*p == '-' || *p == '+')) negative = *p++ == '-';
  std::uint64_t m = 0;
  int digits = 0, fraction = 0;
  {
    const char* const d = p;
    p = read_digits(p, end, limit, m);
    digits = static_cast<int>(p - d);
  }
  if (p < end && *p == '.') {
    const char* const f = ++p;
    p = read_digits(p, end, limit, m);
    fraction = static_cast<int>(p - f);
    digits += fraction;
  }
  const bool simple = digits > 0 && digits <= 19 && (p == end || *p == '\n' || *p == '\r');
  if (!(simple && number_from_decimal(m, -fraction, negative, v))) {
    const char* q = p;
    while (q < end && *q != '\n' && *q != delimiter) ++q;
    if (q < end && *q == delimiter) return row_outcome::give_up;
    const std::string_view text = trim({field, static_cast<std::size_t>(q - field)});
    if (text.empty() || !parse_number(text, v)) return row_outcome::give_up;
    p = q;
  }
  // Line end: CR (any number, with spaces, as the general scanner trims them), then LF or the end.
  while (p < end && (*p == '\r' || *p == ' ')) ++p;
  if (p < end) {
    if (*p != '\n') return row_outcome::give_up;
    ++p;
  }
  return row_outcome::row;
}

/// The numbers whose digits the fast paths stored in `scratch` (mantissa and scale; the entries
/// marked read_by_bytes are made already), n of them, into hi and lo. In a loop of their own (with
/// AVX2 or AVX-512, 4 or 8 at a time): each one's chain of dependent floating-point operations (a
/// division, Dekker's product) is long, and here the processor overlaps many numbers' chains.
void make_numbers(const fast_scratch& scratch, std::size_t n, double* hi, double* lo)
{
  const std::uint8_t* const scales = scratch.scale.data();
  for (std::size_t first = 0; first < n;) {
    const void* mark = std::memchr(scales + first, read_by_bytes, n - first);
    const std::size_t last = mark == nullptr ? n : static_cast<std::size_t>(static_cast<const std::uint8_t*>(mark) - scales);
    numbers_from_small_decimals(scratch.mantissa.data() + first, scales + first, last - first, hi + first, lo + first);
    first = last + 1;
  }
}

/// The common raw input parsed on a fast path: unquoted `key,value` rows (an integer key of up to
/// 18 digits, then a number). The text is scanned in batches of scan_batch bytes (csv_scan.hpp:
/// where the delimiters and line ends are, which bytes are not digits); a row of
/// `[-]digits,[-]digits[.digits]` (at most 19 digits, an optional CR) within 64 bytes is then read
/// from its known field boundaries, any other row by parse_row_scalar. Anything the fast path does
/// not take on any row (a third field, a text key, a bad number, a quote, a NUL byte...) makes it
/// give up; the general scanner then parses the chunk again, with the same values and the errors.
/// Both routes give a number the digits and exponent that parse_number would, so the same bits.
/// `lines`: the line ends in [begin, end) (each row and blank line consumes one, but the last).
bool parse_fast_chunk(const char* const begin, const char* const end, const char* const limit, char delimiter,
                      fast_scratch& scratch, row_block& out, std::size_t& lines)
{
  constexpr std::size_t scan_batch = std::size_t{64} << 10;  // the scan's arrays stay in L1/L2
  const auto size = static_cast<std::size_t>(end - begin);
  out.text_keys.clear();
  // Rows that end (with 8 bytes after, the width of a digit load) before this offset may take
  // the structural route.
  const std::size_t loadable = static_cast<std::size_t>(limit - begin) >= 8 ? static_cast<std::size_t>(limit - begin) - 8 : 0;
  std::size_t r = 0, pos = 0;
  lines = 0;
  while (pos < size) {
    // A batch from the current row: [base, scanned).
    const std::size_t base = pos, scanned = std::min(size, base + scan_batch);
    scan_bitmaps& scan = scratch.scan;
    scan_structure(begin + base, scanned - base, delimiter, scan);
    // Every row that starts in the batch takes 4 bytes or more ("1,2\n") but the input's last.
    // The arrays are not zero-filled (row_block's vectors): every row is written.
    const std::size_t capacity = r + (scanned - base) / 4 + 1;
    if (base != 0 && out.int_keys.capacity() < capacity) {
      // Room for the rest of the piece at the rows per byte seen so far (and 5% more), so that
      // the arrays are allocated once rather than doubled, copied and faulted in again.
      const auto expected = capacity + static_cast<std::size_t>(1.05 * static_cast<double>(r) *
                                                                static_cast<double>(size - base) / static_cast<double>(base));
      out.int_keys.reserve(expected);
      out.hi.reserve(expected);
      out.lo.reserve(expected);
      scratch.mantissa.reserve(expected);
      scratch.scale.reserve(expected);
    }
    out.int_keys.resize(capacity);
    out.hi.resize(capacity);
    out.lo.resize(capacity);
    scratch.mantissa.resize(capacity);  // numbers are made from their digits after the loop
    scratch.scale.resize(capacity);
    std::int64_t* const keys = out.int_keys.data();
    double* const values = out.hi.data();
    double* const lows = out.lo.data();
    std::uint64_t* const mantissas = scratch.mantissa.data();
    std::uint8_t* const scales = scratch.scale.data();
    const std::uint32_t* const structural = scan.structural.data();
    const std::uint64_t* const non_digit = scan.non_digit.data();
    // base + structural[next]: the first delimiter or line end at or after pos (the row's
    // delimiter, when it is a row of the fast path); base + structural[next + 1]: the next one.
    // Past the last, both are `scanned`.
    std::size_t next = 0;
    while (pos < scanned) {
      const std::size_t comma = base + structural[next], newline = base + structural[next + 1];
      // The row's line end lies in the batch (or the text ends there); else the next batch
      // starts at this row, unless the row is longer than a batch (then it is read by bytes).
      const bool complete = newline < scanned || scanned == size;
      if (!complete && pos > base) break;
      if (complete && comma < size && begin[comma] == delimiter) {
        std::size_t stop = newline;  // the value ends here: at the line end, or before one CR
        if (stop > comma + 1 && begin[stop - 1] == '\r') --stop;
        if (newline < loadable && (newline == size || begin[newline] == '\n') && stop - pos <= 64 && stop > comma + 1) {
          // Non-digits other than the delimiter, a leading '-' of either field and one '.' in
          // the value send the row to parse_row_scalar.
          const bool negative_key = begin[pos] == '-', negative = begin[comma + 1] == '-';
          std::uint64_t odd = bits_at(non_digit, pos - base, stop - pos);
          odd &= ~(static_cast<std::uint64_t>(negative_key) | (std::uint64_t{1} << (comma - pos)) |
                   (static_cast<std::uint64_t>(negative) << (comma + 1 - pos)));
          std::size_t dot = stop;
          bool plain = true;
          if (odd != 0) {
            dot = pos + static_cast<std::size_t>(__builtin_ctzll(odd));
            plain = (odd & (odd - 1)) == 0 && dot > comma && begin[dot] == '.';
          }
          const std::size_t key_begin = pos + negative_key, key_len = comma - key_begin;
          const std::size_t int_begin = comma + 1 + negative, int_len = dot - int_begin;
          const std::size_t fraction = dot < stop ? stop - dot - 1 : 0;
          plain = plain && key_len >= 1 && key_len <= 18 &&
                  (begin[key_begin] != '0' || (key_len == 1 && !negative_key)) && int_len + fraction >= 1 &&
                  int_len + fraction <= 19;
          if (plain) {
            const auto k = static_cast<std::int64_t>(key_len <= 8 ? eight_digits(begin + key_begin, key_len)
                                                                  : digits_value(begin + key_begin, key_len));
            // The fraction and a short integer part without a branch (24 bytes before the
            // value's end readable: all rows but a piece's first); a long integer part rarely.
            std::uint64_t m;
#ifdef __SSE2__
            if (stop >= 32)
              m = value_digits_sse2(begin + stop, int_len, fraction, dot < stop);
            else
#endif
            if (stop >= 24 && int_len <= 8)
              m = digits_before(begin + dot, int_len) * pow10_u64[fraction] + digits_before_24(begin + stop, fraction);
            else
              m = digits_value(begin + int_begin, int_len) * pow10_u64[fraction] + digits_value(begin + dot + 1, fraction);
            keys[r] = negative_key ? -k : k;
            mantissas[r] = m;
            scales[r] = static_cast<std::uint8_t>(fraction + (negative ? 32 : 0));
            ++r;
            lines += newline < size;
            pos = newline + 1;
            next += 2;
            continue;
          }
        }
      }
      const char* p = begin + pos;
      std::int64_t k = 0;
      exact_number v;
      const row_outcome o = parse_row_scalar(p, end, limit, delimiter, k, v);
      if (o == row_outcome::give_up) return false;
      if (o == row_outcome::done) {
        pos = size;
        break;
      }
      if (o == row_outcome::row) {
        keys[r] = k;
        values[r] = v.hi;
        lows[r] = v.lo;
        scales[r] = read_by_bytes;
        ++r;
      }
      lines += p[-1] == '\n';
      pos = static_cast<std::size_t>(p - begin);
      while (next < scan.structurals && base + structural[next] < pos) ++next;
    }
  }
  out.int_keys.resize(r);
  out.hi.resize(r);
  out.lo.resize(r);
  make_numbers(scratch, r, out.hi.data(), out.lo.data());
  return true;
}

#ifdef __SSE2__
/// Bits i of the 16 bytes of v that are digits, and that are '.'.
inline std::uint32_t digit_bits(__m128i v)
{
  return static_cast<std::uint32_t>(
    _mm_movemask_epi8(_mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)), _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)))));
}
inline std::uint32_t point_bits(__m128i v)
{
  return static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('.'))));
}
#endif

/// The digits of a plain number `[-]digits[.digits]` (at most 19 digits, an integer part, not a
/// point last; 32 bytes or fewer) in [b, e) of `text` as mantissa and scale (make_numbers); false
/// for any other text, and where fewer than 32 bytes (16 for a field of 16 or fewer) of `text`
/// lie before e (and without SSE2, where parse_number reads every field). Which bytes are digits,
/// the sign and the point are told from the one or two vectors of text that end at e, loaded for
/// the digits anyway: no bitmap, no branch per byte.
inline bool plain_number(const char* text, std::size_t b, std::size_t e, std::uint64_t& mantissa, std::uint8_t& scale)
{
#ifdef __SSE2__
  const std::size_t n = e - b;
  if (n - 1 >= 32 || e < (n <= 16 ? 16 : 32)) return false;
  const bool negative = text[b] == '-';
  const __m128i last = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text + e - 16));
  // Bit i of these masks: byte i of the 32 before e (bit 31: the field's last byte).
  std::uint32_t digit = digit_bits(last) << 16, point = point_bits(last) << 16;
  if (n > 16) {
    const __m128i first = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text + e - 32));
    digit |= digit_bits(first);
    point |= point_bits(first);
  }
  const std::uint32_t sign = static_cast<std::uint32_t>(negative) << (32 - n);
  const std::uint32_t odd = ~digit & (~std::uint32_t{0} << (32 - n)) & ~sign;  // the field's other bytes
  // None, or one point that is not the last byte.
  if ((odd & (odd - 1)) != 0 || (odd & ~point) != 0 || (odd >> 31) != 0) return false;
  const std::size_t dot = odd != 0 ? static_cast<std::size_t>(__builtin_ctz(odd)) : 32;  // of the 32
  const std::size_t fraction = odd != 0 ? 31 - dot : 0, int_len = dot - (32 - n) - negative;
  if (int_len == 0 || int_len + fraction > 19) return false;
  mantissa = n - negative <= 16 ? value_digits_sse2_16(text + e, int_len, fraction, odd != 0)
                                : value_digits_sse2(text + e, int_len, fraction, odd != 0);
  scale = static_cast<std::uint8_t>(fraction + (negative ? 32 : 0));
  return true;
#else
  (void)text, (void)b, (void)e, (void)mantissa, (void)scale;
  return false;  // digits_value would read up to 8 bytes past a field, maybe past the input's end
#endif
}

/// Rows of keyed pieces (visit_keyed_rows) on a fast path: unquoted rows of exactly the header's
/// fields, found by the SIMD structural scan (csv_scan.hpp) 64 KiB at a time; each wanted field
/// cut at its known boundaries, the key trimmed, each plain number's digits read without a branch
/// per byte and the numbers made in a batch (make_numbers), any other number by parse_number. A
/// row it does not take (another field count, a blank line with spaces, a bad number, an empty
/// key, a row longer than a batch) makes it give up: the general scanner then parses the piece,
/// with the same values and its errors. The piece holds no quote character.
bool parse_keyed_fast(const char* const begin, const char* const end, const layout& l,
                      const std::vector<std::size_t>& at, fast_scratch& scratch, keyed_rows& out)
{
  constexpr std::size_t scan_batch = std::size_t{64} << 10;
  const auto size = static_cast<std::size_t>(end - begin);
  const std::size_t fields = l.columns, numbers = at.size() - 1;
  out.keys.clear();
  out.arena.clear();
  out.failure.clear();
  out.lines = 0;
  // Room for the most rows the piece can hold, counted (its line ends), not guessed from its bytes:
  // the arrays' pages follow the rows (a bound several times too large would have the kernel
  // clear a 2 MiB page where a few hundred KiB are written). Kept from block to block, not
  // filled: every entry up to the last row is written.
  const std::size_t most_rows = row_bound(begin, end, fields);
  out.keys.reserve(most_rows);
  out.numbers.resize(most_rows * numbers);
  out.lows.resize(most_rows * numbers);
  std::size_t pos = 0, rows = 0;
  while (pos < size) {
    const std::size_t base = pos, scanned = std::min(size, base + scan_batch), first_row = rows;
    // The batch's numbers are made at its end: the digits' scratch follows the batch, not the piece.
    scratch.mantissa.resize(((scanned - base) / fields + 1) * numbers);
    scratch.scale.resize(scratch.mantissa.size());
    scan_bitmaps& scan = scratch.scan;
    scan_structure(begin + base, scanned - base, l.delimiter, scan);
    const std::uint32_t* const structural = scan.structural.data();
    // Everything the row loop writes goes through these local pointers (the scale bytes, as
    // chars, could alias any member read through `out` or `scratch`: none is read in the loop).
    std::uint64_t* const mantissas = scratch.mantissa.data();
    std::uint8_t* const scales = scratch.scale.data();
    double* const hi_all = out.numbers.data();
    double* const lo_all = out.lows.data();
    const char delimiter = l.delimiter;
    const std::size_t* const field_of = at.data();  // column of the key, then of each number
    std::size_t next = 0;  // base + structural[next]: the first delimiter or line end at or after pos
    while (pos < scanned) {
      if (begin[pos] == '\n') {  // a blank line
        ++out.lines;
        ++pos;
        ++next;
        continue;
      }
      // The row's fields end at the next `fields` structural bytes: delimiters, then its line end
      // (or the end of the input, the entry past the last).
      const std::size_t last = next + fields - 1;
      if (last > scan.structurals || (last == scan.structurals && scanned < size)) {
        if (pos > base && scanned < size) break;  // the row continues past the batch: scan from it
        return false;
      }
      const std::uint32_t* const ends = structural + next;  // base + ends[f]: field f's end
      const std::size_t row_end = base + ends[fields - 1];
      if (row_end < size && begin[row_end] != '\n') return false;
      for (std::size_t f = 0; f + 1 < fields; ++f)
        if (begin[base + ends[f]] != delimiter) return false;
      // Field f is [start(f), base + ends[f]); the last field's end steps back over one CR.
      const auto start = [&](std::size_t f) { return f == 0 ? pos : base + ends[f - 1] + 1; };
      const auto stop = [&](std::size_t f) {
        const std::size_t e = base + ends[f];
        return e - (f + 1 == fields && e > start(f) && begin[e - 1] == '\r' ? 1 : 0);
      };
      std::string_view key(begin + start(field_of[0]), stop(field_of[0]) - start(field_of[0]));
      if (key.empty() || is_space(key.front()) || is_space(key.back())) {
        key = trim(key);
        if (key.empty()) return false;
      }
      out.keys.push_back(key);
      const std::size_t at_row = rows * numbers, digits_at = (rows - first_row) * numbers;
      for (std::size_t c = 0; c < numbers; ++c) {
        const std::size_t f = field_of[c + 1], b = start(f), e = stop(f);
        std::uint64_t m = 0;
        std::uint8_t sc;
        if (!plain_number(begin, b, e, m, sc)) {
          exact_number v;
          if (!parse_number(trim({begin + b, e - b}), v)) return false;
          hi_all[at_row + c] = v.hi;
          lo_all[at_row + c] = v.lo;
          sc = read_by_bytes;
        }
        mantissas[digits_at + c] = m;
        scales[digits_at + c] = sc;
      }
      ++rows;
      out.lines += row_end < size;
      pos = row_end + 1;
      next = last + 1;
    }
    make_numbers(scratch, (rows - first_row) * numbers, out.numbers.data() + first_row * numbers,
                 out.lows.data() + first_row * numbers);
  }
  out.numbers.resize(rows * numbers);
  out.lows.resize(rows * numbers);
  return true;
}

/// Stores a location column relative to its offset (see decimal.hpp) and returns the offset.
double rebase_column(std::vector<double>& hi, const double* lo, int threads, const std::string& name)
{
  const double offset = rebase_offset(hi.data(), hi.size(), threads);
  if (!rebase(hi.data(), lo, hi.size(), offset, threads))
    throw error("column '" + shown(name) + "': the values are too far apart: their differences overflow double");
  return offset;
}

/// The input as successive windows of bytes. A regular file is mapped, not copied: pages behind
/// the window are released as it moves on (memory stays at about a window whatever the file's
/// size), and a file truncated under shrink ends in a one-line error (the SIGBUS guard). Stdin,
/// pipes and other streams are read into a buffer through read(2).
class byte_stream {
 public:
  explicit byte_stream(const std::string& path) : path_(path)
  {
    if (path == "-" && stdin_input::spooled() < 0) {
      fd_ = STDIN_FILENO;
      buf_ = stdin_input::take_peeked();  // read ahead by first_row
      filled_ = buf_.size();
      // A pipe hands out at most its buffer (64 KiB by default) a read: a 1 MiB buffer (the
      // unprivileged maximum) means 16x fewer reads and wake-ups of the writer. Only a hint.
      struct stat st {};
      if (::fstat(fd_, &st) == 0 && S_ISFIFO(st.st_mode)) (void)::fcntl(fd_, F_SETPIPE_SZ, 1 << 20);
      return;
    }
    fd_ = path == "-" ? ::dup(stdin_input::spooled()) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw error("cannot open '" + shown(path) + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && S_ISDIR(st.st_mode)) {
      ::close(fd_);
      throw error("cannot read '" + shown(path) + "': it is a directory");
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
      void* m = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd_, 0);
      if (m != MAP_FAILED) {
        map_ = static_cast<const char*>(m);
        map_size_ = static_cast<std::size_t>(st.st_size);
        ::madvise(m, map_size_, MADV_SEQUENTIAL);
        guard_ = mapped_input_guard(map_, map_size_, path);
      }
    }
    if (map_ == nullptr) ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  ~byte_stream()
  {
    guard_ = mapped_input_guard();  // forgotten by the SIGBUS handler before it is unmapped
    if (map_ != nullptr) ::munmap(const_cast<char*>(map_), map_size_);
    if (fd_ > STDIN_FILENO) ::close(fd_);
  }
  byte_stream(const byte_stream&) = delete;
  byte_stream& operator=(const byte_stream&) = delete;

  /// The next `size` unconsumed bytes, or all that are left; `complete` says whether the view
  /// reaches the end of the input.
  std::string_view peek(std::size_t size, bool& complete)
  {
    if (map_ != nullptr) {
      const std::size_t n = std::min(size, map_size_ - position_);
      complete = position_ + n == map_size_;
      return {map_ + position_, n};
    }
    // buf_ holds filled_ bytes; it is grown (zero-filled) only when a larger window is asked for,
    // never per read: a pipe hands out 64 KiB a call.
    if (buf_.size() < size) buf_.resize(size);
    while (!eof_ && filled_ < size) {
      const ssize_t got = ::read(fd_, buf_.data() + filled_, size - filled_);
      if (got == 0) eof_ = true;
      if (got < 0 && errno != EINTR)
        throw error("cannot read " + (path_ == "-" ? stdin_input::name() : "'" + shown(path_) + "'") + ": " +
                    std::strerror(errno));
      if (got > 0) filled_ += static_cast<std::size_t>(got);
    }
    const std::size_t n = std::min(size, filled_);
    complete = eof_ && n == filled_;
    return {buf_.data(), n};
  }

  /// Moves past the first `n` bytes of the last peek.
  void consume(std::size_t n)
  {
    if (map_ == nullptr) {
      std::memmove(buf_.data(), buf_.data() + n, filled_ - n);  // the partial row left over
      filled_ -= n;
      return;
    }
    position_ += n;
    // Release the pages read so far (they stay in the page cache; this mapping drops them).
    const std::size_t page = 1 << 12, done = position_ / page * page;
    if (done > released_) {
      ::madvise(const_cast<char*>(map_) + released_, done - released_, MADV_DONTNEED);
      released_ = done;
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  const char* map_ = nullptr;
  std::size_t map_size_ = 0, position_ = 0, released_ = 0;
  mapped_input_guard guard_;
  std::string buf_;
  std::size_t filled_ = 0;
  bool eof_ = false;
};

/// Bytes read at a time; a row longer than this doubles the buffer. The block boundaries depend
/// on the input alone, so the parse (and the fold's order) is the same for any thread count.
constexpr std::size_t block_bytes = std::size_t{32} << 20;
/// Pieces of a block parsed in parallel.
constexpr std::size_t piece_bytes = std::size_t{1} << 20;

/// End of the last complete row in [0, size): after its line end ('\n' outside quotes); 0 when
/// there is none.
std::size_t last_row_end(std::string_view buf, bool quoted)
{
  if (!quoted) {
    const void* nl = ::memrchr(buf.data(), '\n', buf.size());
    return nl == nullptr ? 0 : static_cast<std::size_t>(static_cast<const char*>(nl) - buf.data()) + 1;
  }
  bool in_quotes = false;
  std::size_t end = 0;
  for (std::size_t i = 0; i < buf.size(); ++i) {
    if (buf[i] == '"') in_quotes = !in_quotes;
    else if (buf[i] == '\n' && !in_quotes) end = i + 1;
  }
  return end;
}

/// Pieces of [begin, end) cut at line ends about every piece_bytes (one piece for quoted text,
/// where a quoted field may hold a line end).
std::vector<const char*> cut_pieces(const char* begin, const char* end, bool quoted)
{
  std::vector<const char*> cuts{begin};
  if (!quoted)
    for (const char* target = begin + piece_bytes; target < end; target = cuts.back() + piece_bytes) {
      const void* nl = std::memchr(target, '\n', static_cast<std::size_t>(end - target));
      if (nl == nullptr) break;
      cuts.push_back(static_cast<const char*>(nl) + 1);
      if (cuts.back() >= end) {
        cuts.pop_back();
        break;
      }
    }
  cuts.push_back(end);
  return cuts;
}

/// The header of `in`, read until it is complete (it may be longer than a piece, or quoted over
/// lines), and consumed: the data start at the stream's next byte (data_begin and data_end of the
/// result point into a window that is gone).
layout read_stream_header(byte_stream& in, const std::string& path, const std::vector<std::string>& names)
{
  for (std::size_t size = piece_bytes;; size *= 2) {
    bool complete = false;
    const std::string_view head = in.peek(size, complete);
    const std::size_t nl = head.find('\n', 0);
    if (!complete && (nl == std::string_view::npos || head.find_first_not_of(" \t\r\n\xEF\xBB\xBF") > nl)) continue;
    layout l;
    try {
      l = read_layout(head, path, names);
    } catch (const error&) {
      if (complete) throw;
      continue;
    }
    in.consume(static_cast<std::size_t>(l.data_begin - head.data()));
    l.data_begin = l.data_end = nullptr;
    return l;
  }
}

/// Refuses a parsed piece [begin, end) that starts on `line` and holds a foreign byte (before
/// `end`) or failed to parse, naming the line.
void check_piece(const layout& l, const char* begin, const char* end, const char* foreign, const std::string& failure,
                 std::size_t failure_line, std::size_t line)
{
  if (foreign != end)
    throw error(l.source + " line " + std::to_string(line + static_cast<std::size_t>(std::count(begin, foreign, '\n'))) +
                ": " + foreign_bytes_problem(foreign));
  if (!failure.empty()) throw error(l.source + " line " + std::to_string(line + failure_line) + ": " + failure);
}

}  // namespace

void check_values(const std::vector<row_block>& parts, const std::string& value_name, value_kind kind, bool text_keys)
{
  if (kind == value_kind::any) return;
  const bool binary = kind == value_kind::binary;
  for (const row_block& part : parts)
    for (std::size_t i = 0; i < part.hi.size(); ++i) {
      const double v = part.hi[i];
      const bool ok = part.lo[i] == 0 && (binary ? (v == 0 || v == 1)
                                                  : (v >= 0 && v < 9007199254740992.0 && v == std::floor(v)));
      if (ok) continue;
      const std::string text = format_number(v + part.lo[i]);
      const std::string key = text_keys ? std::string(part.text_keys[i]) : std::to_string(part.int_keys[i]);
      throw error("group '" + shown(key) + "' has the " + value_name + " value " + text +
                  (binary ? ": raw rows of --family binomial are trials, 0 or 1"
                          : ": raw rows of --family poisson are counts, whole numbers >= 0 (below 2^53)"));
    }
}

group_table read_groups(const std::string& path, const raw_columns& columns, int threads)
{
  const int workers = detail::thread_count(threads);
  byte_stream in(path);
  const layout l = read_stream_header(in, path, {columns.group, columns.value});
  row_spec spec;
  spec.fields = l.columns;
  spec.key = column_index(l, columns.group, "group");
  spec.numbers = {column_index(l, columns.value, "value")};
  spec.number_names = {columns.value};
  const bool fast_layout = *spec.key == 0 && spec.numbers[0] == 1 && spec.fields == 2;

  std::size_t line = 1 + l.header_lines;  // the line the next block starts on
  group_fold fold(workers);
  std::size_t block = block_bytes;
  std::vector<chunk_rows> pieces;
  std::vector<row_block> parts;
  for (;;) {
    bool complete = false;
    const std::string_view window = in.peek(block, complete);
    if (window.empty()) break;
    // Quotes are looked for in the parallel pass: the block is parsed as unquoted text first (a
    // piece the fast path takes holds no quote; any other is searched), and parsed again as
    // quoted text, in one piece, where a piece or the partial row after the cut holds a quote.
    bool quoted = false;
    std::size_t cut = complete ? window.size() : last_row_end(window, false);
    if (cut == 0) {  // a row longer than the block (no line end at all, quoted or not)
      block *= 2;
      continue;
    }
    std::vector<const char*> cuts = cut_pieces(window.data(), window.data() + cut, false);
    for (;;) {
      pieces.resize(cuts.size() - 1);
      const bool integer_keys = !fold.text_keys();
      detail::for_each_block(pieces.size(), 1, workers, [&](std::size_t b, std::size_t, std::size_t) {
        chunk_rows& c = pieces[b];
        c.quote = false;
        // The fast path sizes the row arrays itself (from what the previous block left: no
        // clearing, so no zero-filling of memory it is about to overwrite). Where it takes the
        // piece, the piece holds no quote, NUL byte or byte-order mark (no row of it could).
        std::size_t lines = 0;
        if (integer_keys && fast_layout && !quoted &&
            parse_fast_chunk(cuts[b], cuts[b + 1], window.data() + window.size(), l.delimiter, c.fast, c.rows, lines)) {
          c.foreign = cuts[b + 1];
          c.failure.clear();
          c.keys_not_integer = false;
          c.lines = lines;
          return;
        }
        if (!quoted && std::memchr(cuts[b], '"', static_cast<std::size_t>(cuts[b + 1] - cuts[b])) != nullptr) {
          c.quote = true;  // the block is parsed again as quoted text
          return;
        }
        // Line ends and foreign bytes are counted in the parallel pass, not a serial one.
        lines = count_lines(cuts[b], cuts[b + 1]);
        c.foreign = first_foreign_bytes(cuts[b], cuts[b + 1]);
        c.clear();
        c.lines = lines;
        parse_chunk(cuts[b], cuts[b + 1], l, quoted, spec, integer_keys, c);
      });
      if (!quoted && (std::any_of(pieces.begin(), pieces.end(), [](const chunk_rows& c) { return c.quote; }) ||
                      std::memchr(window.data() + cut, '"', window.size() - cut) != nullptr)) {
        // A quoted field may hold line ends: one piece, cut at the last line end outside quotes.
        quoted = true;
        cut = complete ? window.size() : last_row_end(window, true);
        if (cut == 0) break;
        cuts = cut_pieces(window.data(), window.data() + cut, true);
        continue;
      }
      std::size_t piece_line = line;
      bool retry = false;
      for (std::size_t b = 0; b < pieces.size(); ++b) {
        check_piece(l, cuts[b], cuts[b + 1], pieces[b].foreign, pieces[b].failure, pieces[b].failure_line, piece_line);
        retry = retry || pieces[b].keys_not_integer;
        piece_line += pieces[b].lines;
      }
      if (!retry) {
        line = piece_line;
        break;
      }
      fold.switch_to_text_keys();  // a key that is not an integer: every key is text from now on
    }
    if (cut == 0) {  // quoted text with no line end outside quotes: a row longer than the block
      block *= 2;
      continue;
    }
    parts.resize(pieces.size());
    for (std::size_t b = 0; b < pieces.size(); ++b) std::swap(parts[b], pieces[b].rows);
    check_values(parts, columns.value, columns.kind, fold.text_keys());
    fold.fold(parts);
    for (std::size_t b = 0; b < pieces.size(); ++b) std::swap(parts[b], pieces[b].rows);  // keep the capacity
    in.consume(cut);
  }
  if (fold.groups() == 0 && !columns.allow_empty) throw error("no data rows: " + l.source + " has only a header");
  return fold.finish(columns.value);
}

namespace {

/// Summary input is one row per group, so it is read whole: O(groups) memory either way.
std::vector<chunk_rows> parse_summary_rows(const layout& l, const row_spec& spec)
{
  std::vector<chunk_rows> chunks(1);
  for (bool integer_keys : {true, false}) {
    if (!integer_keys && !spec.key) break;
    chunks[0] = chunk_rows{};
    parse_chunk(l.data_begin, l.data_end, l, l.quoted, spec, integer_keys, chunks[0]);
    if (!chunks[0].failure.empty())
      throw error(l.source + " line " + std::to_string(1 + l.header_lines + chunks[0].failure_line) + ": " +
                  chunks[0].failure);
    if (!chunks[0].keys_not_integer) break;
  }
  return chunks;
}

}  // namespace

namespace {

/// The fields of `columns` as text, row by row (blank rows skipped, as the numeric pass skips
/// them; that pass has already refused ragged rows).
void read_text_columns(const layout& l, std::vector<text_column>& columns)
{
  std::vector<std::size_t> at;
  for (text_column& c : columns) {
    at.push_back(column_index(l, c.name, "covariate"));
    c.fields.clear();
  }
  row_scanner scan(l.data_begin, l.data_end, l.delimiter);
  std::vector<std::string_view> fields;
  std::deque<std::string> arena;
  std::size_t count = 0;
  while (!scan.done()) {
    scan.next(fields, count, l.columns, arena);
    if (blank_row(fields, count)) continue;
    for (std::size_t c = 0; c < columns.size(); ++c) columns[c].fields.emplace_back(fields[at[c]]);
  }
}

/// Per-group rows whose every field is a plain whole number (digits only, no leading zero, up to
/// 15 of them: exact in a double), `\n`-ended: count tables as `group,y,n`. Read here without the
/// general scanner, into the same int keys and doubles (lo = 0) as parse_chunk gives them. Any
/// other byte, a blank or short row, or a second number that must be positive and is 0: false,
/// with `out` to be thrown away, and parse_chunk reads the input as before (and says what is wrong).
bool parse_whole_number_rows(const layout& l, const row_spec& spec, chunk_rows& out)
{
  constexpr std::size_t max_fields = 8;
  if (l.quoted || spec.fields > max_fields) return false;
  const char* p = l.data_begin;
  const char* const end = l.data_end;
  // Locals: the stores below could alias `spec` and `l` for all the compiler knows.
  const std::size_t fields = spec.fields, first = spec.numbers[0];
  const bool two = spec.numbers.size() > 1, keyed = spec.key.has_value(), positive = spec.second_positive != nullptr;
  const std::size_t second = two ? spec.numbers[1] : 0, key = keyed ? *spec.key : 0;
  const char delimiter = l.delimiter;
  // Sized once for the most rows there can be (written by index, cut to the rows read at the end).
  const std::size_t bound = row_bound(p, end, fields);
  out.rows.hi.resize(bound);
  out.rows.lo.resize(bound);
  if (two) out.second.resize(bound);
  if (keyed) out.rows.int_keys.resize(bound);
  double* const hi = out.rows.hi.data();
  double* const lo = out.rows.lo.data();
  double* const seconds = out.second.data();
  std::int64_t* const keys = out.rows.int_keys.data();
  std::uint64_t field[max_fields];
  std::size_t rows = 0;
  for (; p < end; ++rows) {
    for (std::size_t f = 0; f < fields; ++f) {
      const char* const start = p;
      std::uint64_t v = 0;
      while (p < end && static_cast<unsigned char>(*p - '0') < 10) v = v * 10 + static_cast<unsigned>(*p++ - '0');
      const auto digits = static_cast<std::size_t>(p - start);
      if (digits == 0 || digits > 15 || (digits > 1 && *start == '0')) return false;
      field[f] = v;
      if (p < end) {
        if (*p++ != (f + 1 < fields ? delimiter : '\n')) return false;
      } else if (f + 1 < fields) {
        return false;
      }
    }
    if (rows == bound) return false;  // not reached: row_bound bounds the rows
    if (keyed) keys[rows] = static_cast<std::int64_t>(field[key]);
    hi[rows] = static_cast<double>(field[first]);
    lo[rows] = 0.0;
    if (two) {
      if (positive && field[second] == 0) return false;
      seconds[rows] = static_cast<double>(field[second]);
    }
  }
  out.rows.hi.resize(rows);
  out.rows.lo.resize(rows);
  if (two) out.second.resize(rows);
  if (keyed) out.rows.int_keys.resize(rows);
  return true;
}

/// One row per group, one or two numeric columns (`second` empty: one): what summary and count
/// input share.
struct per_group_rows {
  std::vector<std::string> keys;  ///< in file order; row numbers 1..J when there is no key column
  std::vector<double> first, first_low, second;
  std::string source;
};

/// `extra`, when given, names more columns whose fields are returned as text in row order.
per_group_rows read_per_group_rows(const std::string& path, const std::optional<std::string>& group_column,
                                   const std::string& first, const char* first_role, const std::string& second,
                                   const char* second_role, const char* second_positive,
                                   std::vector<text_column>* extra = nullptr)
{
  const text_source source(path);
  const std::string group = group_column.value_or("group");
  std::vector<std::string> wanted{group, first};
  if (!second.empty()) wanted.push_back(second);
  if (extra)
    for (const text_column& c : *extra) wanted.push_back(c.name);
  const layout l = read_layout(source.text(), path, wanted);
  row_spec spec;
  spec.fields = l.columns;
  if (group_column || has_column(l, group)) spec.key = column_index(l, group, "group");
  spec.numbers = {column_index(l, first, first_role)};
  spec.number_names = {first};
  if (!second.empty()) {
    spec.numbers.push_back(column_index(l, second, second_role));
    spec.number_names.push_back(second);
    spec.second_positive = second_positive;
  }

  // Keys stay text here: per-group rows are reported in file order under their own names.
  std::vector<chunk_rows> chunks(1);
  if (!parse_whole_number_rows(l, spec, chunks[0])) chunks = parse_summary_rows(l, spec);
  const std::size_t rows = chunks[0].rows.hi.size();
  if (rows == 0) throw error("no data rows: " + l.source + " has only a header");

  per_group_rows out;
  chunk_rows& c = chunks[0];
  out.first.assign(c.rows.hi.begin(), c.rows.hi.end());
  out.first_low.assign(c.rows.lo.begin(), c.rows.lo.end());
  out.second.assign(c.second.begin(), c.second.end());
  out.source = l.source;
  out.keys.reserve(rows);
  for (std::int64_t k : c.rows.int_keys) out.keys.push_back(std::to_string(k));
  for (std::string_view k : c.rows.text_keys) out.keys.emplace_back(k);
  if (out.keys.empty())
    for (std::size_t j = 1; j <= rows; ++j) out.keys.push_back(std::to_string(j));
  // A key on two rows is an error (row numbers are distinct). Whole-number keys are compared as
  // numbers: sorting them costs a fraction of sorting their text, and keys in order need no sort.
  if (!c.rows.int_keys.empty()) {
    std::vector<std::int64_t> sorted(c.rows.int_keys.begin(), c.rows.int_keys.end());
    if (!std::is_sorted(sorted.begin(), sorted.end())) std::sort(sorted.begin(), sorted.end());
    const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
    if (dup != sorted.end())
      throw error("group '" + std::to_string(*dup) + "' appears on more than one row of " + l.source);
  } else if (!c.rows.text_keys.empty()) {
    std::vector<std::string_view> sorted(out.keys.begin(), out.keys.end());
    std::sort(sorted.begin(), sorted.end());
    const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
    if (dup != sorted.end()) throw error("group '" + shown(*dup) + "' appears on more than one row of " + l.source);
  }
  if (extra && !extra->empty()) read_text_columns(l, *extra);
  return out;
}

/// A count: a whole number >= 0 (and below 2^53, where doubles stop holding every integer).
bool is_count(double x) { return x >= 0 && x < 9007199254740992.0 && x == std::floor(x); }


}  // namespace

summary_table read_summary_table(const std::string& path, const summary_columns& columns)
{
  std::vector<text_column> none;
  return read_summary_table(path, columns, none);
}

summary_table read_summary_table(const std::string& path, const summary_columns& columns, std::vector<text_column>& extra)
{
  per_group_rows rows = read_per_group_rows(path, columns.group, columns.estimate, "estimate", columns.se,
                                            columns.is_variance ? "variance" : "se",
                                            columns.is_variance ? "variances" : "standard errors", &extra);
  summary_table out;
  out.estimates = std::move(rows.first);
  for (double s : rows.second) out.standard_errors.push_back(columns.is_variance ? std::sqrt(s) : s);
  out.exact_estimates = out.estimates;
  out.offset = rebase_column(out.estimates, rows.first_low.data(), 1, columns.estimate);
  out.keys = std::move(rows.keys);
  return out;
}

namespace {

/// The rows of [begin, end) into `out` by the general row scanner: the key column at[0], the
/// numbers of the others.
void parse_keyed_piece(const char* begin, const char* end, const layout& l, bool quoted,
                       const std::vector<std::size_t>& at, const std::vector<std::string>& names, keyed_rows& out)
{
  out.keys.clear();
  out.numbers.clear();
  out.lows.clear();
  out.arena.clear();
  out.failure.clear();
  out.lines = 0;
  row_scanner scan(begin, end, l.delimiter);
  std::vector<std::string_view> fields;
  std::size_t count = 0;
  try {
    while (!scan.done()) {
      const std::size_t consumed =
        quoted ? scan.next(fields, count, l.columns, out.arena) : scan.next_unquoted(fields, count, l.columns);
      if (!blank_row(fields, count)) {
        if (count != l.columns)
          throw error("row has " + std::to_string(count) + " fields but the header has " + std::to_string(l.columns));
        if (fields[at[0]].empty()) throw error("has an empty group key");
        out.keys.push_back(fields[at[0]]);
        for (std::size_t c = 1; c < at.size(); ++c) {
          const std::string_view text = fields[at[c]];
          exact_number v;
          if (!parse_number(text, v)) throw error(number_error(names[c], text, text.empty() ? "is empty" : number_problem(text)));
          out.numbers.push_back(v.hi);
          out.lows.push_back(v.lo);
        }
      }
      out.lines += consumed;
    }
  } catch (const error& e) {
    out.failure = e.what();
    out.failure_line = out.lines;
  }
}

/// The line, counted from the piece's first (0), of data row `row` of [begin, end).
std::size_t line_in_piece(const char* begin, const char* end, const layout& l, bool quoted, std::size_t row)
{
  row_scanner scan(begin, end, l.delimiter);
  std::vector<std::string_view> fields;
  std::deque<std::string> arena;
  std::size_t count = 0, line = 0, rows = 0;
  while (!scan.done()) {
    const std::size_t consumed =
      quoted ? scan.next(fields, count, l.columns, arena) : scan.next_unquoted(fields, count, l.columns);
    if (!blank_row(fields, count) && rows++ == row) break;
    line += consumed;
  }
  return line;
}

/// A piece of a block of keyed rows, with what its parse found out beside the rows.
struct keyed_piece {
  keyed_rows rows;
  fast_scratch fast;
  const char* foreign = nullptr;  // first NUL or byte-order mark (the piece's end: none)
  bool quote = false;             // parsed as unquoted text, it holds a quote: not parsed
};

}  // namespace

void visit_keyed_rows(const std::string& path, const std::vector<std::string>& columns, int threads,
                      const std::function<void(const std::vector<keyed_rows>&)>& on_block)
{
  const int workers = detail::thread_count(threads);
  byte_stream in(path);
  const layout l = read_stream_header(in, path, columns);
  std::vector<std::size_t> at;
  for (const std::string& c : columns) at.push_back(column_index(l, c, "data"));
  std::vector<keyed_piece> pieces;
  std::vector<keyed_rows> rows;
  std::size_t line = l.header_lines + 1;  // the line the next block starts on
  std::size_t block = block_bytes;
  for (;;) {
    bool complete = false;
    const std::string_view window = in.peek(block, complete);
    if (window.empty()) break;
    // As read_groups: parsed as unquoted pieces first, again in one quoted piece where a piece or
    // the partial row after the cut holds a quote.
    bool quoted = false;
    std::size_t cut = complete ? window.size() : last_row_end(window, false);
    std::vector<const char*> cuts;
    while (cut != 0) {
      cuts = cut_pieces(window.data(), window.data() + cut, quoted);
      pieces.resize(cuts.size() - 1);
      detail::for_each_block(pieces.size(), 1, workers, [&](std::size_t b, std::size_t, std::size_t) {
        keyed_piece& p = pieces[b];
        const auto bytes = static_cast<std::size_t>(cuts[b + 1] - cuts[b]);
        p.quote = !quoted && std::memchr(cuts[b], '"', bytes) != nullptr;
        if (p.quote) return;
        p.foreign = first_foreign_bytes(cuts[b], cuts[b + 1]);
        if (quoted || !parse_keyed_fast(cuts[b], cuts[b + 1], l, at, p.fast, p.rows))
          parse_keyed_piece(cuts[b], cuts[b + 1], l, quoted, at, columns, p.rows);
      });
      if (quoted || (std::none_of(pieces.begin(), pieces.end(), [](const keyed_piece& p) { return p.quote; }) &&
                     std::memchr(window.data() + cut, '"', window.size() - cut) == nullptr))
        break;
      quoted = true;
      cut = complete ? window.size() : last_row_end(window, true);
    }
    if (cut == 0) {  // a row longer than the block
      block *= 2;
      continue;
    }
    std::size_t piece_line = line;
    rows.resize(pieces.size());
    for (std::size_t b = 0; b < pieces.size(); ++b) {
      const keyed_rows& r = pieces[b].rows;
      check_piece(l, cuts[b], cuts[b + 1], pieces[b].foreign, r.failure, r.failure_line, piece_line);
      piece_line += r.lines;
      std::swap(rows[b], pieces[b].rows);
    }
    try {
      on_block(rows);
    } catch (const keyed_row_error& e) {
      std::size_t row_line = line;
      for (std::size_t b = 0; b < e.piece; ++b) row_line += rows[b].lines;
      row_line += line_in_piece(cuts[e.piece], cuts[e.piece + 1], l, quoted, e.row);
      throw error(l.source + " line " + std::to_string(row_line) + ": " + e.message);
    }
    for (std::size_t b = 0; b < pieces.size(); ++b) std::swap(rows[b], pieces[b].rows);  // keep the capacity
    line = piece_line;
    in.consume(cut);
  }
}

std::size_t choose_column_set(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& column_sets,
                              std::size_t& fewest)
{
  std::size_t fewest_missing = std::numeric_limits<std::size_t>::max();
  fewest = 0;
  for (std::size_t s = 0; s < column_sets.size(); ++s) {
    const auto missing = static_cast<std::size_t>(std::count_if(column_sets[s].begin(), column_sets[s].end(), [&](const std::string& c) {
      return std::find(header.begin(), header.end(), c) == header.end();
    }));
    if (missing == 0) return fewest = s;
    if (missing < fewest_missing) fewest = s, fewest_missing = missing;
  }
  return column_sets.size();
}

void visit_rows(const std::string& path, const std::function<std::vector<std::string>(const std::vector<std::string>&)>& choose,
                const std::function<void(const std::vector<std::string_view>&, std::size_t)>& on_row)
{
  const text_source source(path);
  std::vector<std::string> header;
  read_layout(source.text(), path, {}, &header);
  const std::vector<std::string> columns = choose(header);
  const layout l = read_layout(source.text(), path, columns);
  std::vector<std::size_t> at;
  for (const std::string& c : columns) at.push_back(column_index(l, c, "data"));
  row_scanner scan(l.data_begin, l.data_end, l.delimiter);
  std::vector<std::string_view> fields, wanted(columns.size());
  std::deque<std::string> arena;
  std::size_t count = 0, line = l.header_lines + 1;
  try {
    while (!scan.done()) {
      arena.clear();
      const std::size_t consumed =
        l.quoted ? scan.next(fields, count, l.columns, arena) : scan.next_unquoted(fields, count, l.columns);
      if (!blank_row(fields, count)) {
        if (count != l.columns)
          throw error("row has " + std::to_string(count) + " fields but the header has " + std::to_string(l.columns));
        for (std::size_t c = 0; c < at.size(); ++c) wanted[c] = fields[at[c]];
        on_row(wanted, line);
      }
      line += consumed;
    }
  } catch (const error& e) {
    const std::string what = e.what();
    if (what.rfind(l.source, 0) == 0) throw;
    throw error(l.source + " line " + std::to_string(line) + ": " + what);
  }
}

void visit_rows(const std::string& path, const std::vector<std::vector<std::string>>& column_sets, std::size_t& chosen,
                const std::function<void(const std::vector<std::string_view>&, std::size_t)>& on_row)
{
  // The first complete set; failing that, the error of the set that misses the fewest columns.
  visit_rows(path, [&](const std::vector<std::string>& header) {
    std::size_t fewest = 0;
    chosen = choose_column_set(header, column_sets, fewest);
    return column_sets[chosen == column_sets.size() ? fewest : chosen];
  }, on_row);
}

void visit_rows(const std::string& path, const std::vector<std::string>& columns,
                const std::function<void(const std::vector<std::string_view>&, std::size_t)>& on_row)
{
  std::size_t chosen = 0;
  visit_rows(path, std::vector<std::vector<std::string>>{columns}, chosen, on_row);
}

std::vector<std::string> first_row(const std::string& path, const std::vector<std::string>& columns)
{
  // More of the head until it holds the header and the first row whole (a line end after it, or
  // the end of the input); a problem in a part that may go on is no problem yet.
  std::unique_ptr<byte_stream> file;
  for (std::size_t want = std::size_t{1} << 16;; want *= 4) {
    bool complete = false;
    std::string_view head;
    if (path == "-") {
      head = stdin_input::peek(want, complete);
    } else {
      if (!file) file = std::make_unique<byte_stream>(path);
      head = file->peek(want, complete);
    }
    const char* const end = head.data() + head.size();
    layout l;
    try {
      l = read_layout(head, path, columns);
    } catch (const error&) {
      if (complete) throw;
      continue;
    }
    if (!complete && l.data_begin == end) continue;
    std::vector<std::size_t> at;
    for (const std::string& c : columns) at.push_back(column_index(l, c, "data"));
    row_scanner scan(l.data_begin, end, l.delimiter);
    std::vector<std::string_view> fields;
    std::deque<std::string> arena;
    std::size_t count = 0;
    bool more = false;
    while (!scan.done() && !more) {
      try {
        scan.next(fields, count, l.columns, arena);
      } catch (const error&) {
        if (complete) return {};  // the readers report it, with its line
        more = true;
        break;
      }
      if (!complete && scan.position() == end) more = true;
      else if (!blank_row(fields, count)) {
        if (count != l.columns) return {};  // a ragged row: the readers report it
        std::vector<std::string> out;
        for (std::size_t c : at) out.emplace_back(fields[c]);
        return out;
      }
    }
    if (!more) return {};
  }
}

count_table read_count_table(const std::string& path, const count_columns& columns)
{
  const char* size_role = columns.binomial ? "trials" : "exposure";
  per_group_rows rows = read_per_group_rows(path, columns.group, columns.counts, columns.binomial ? "successes" : "counts",
                                            columns.sizes, size_role, columns.binomial ? "trials" : "exposures");
  if (rows.second.empty()) rows.second.assign(rows.first.size(), 1.0);  // poisson: exposure 1
  for (std::size_t j = 0; j < rows.keys.size(); ++j) {
    const auto where = [&] { return rows.source + ", group '" + shown(rows.keys[j]) + "': "; };
    if (!is_count(rows.first[j]))
      throw error(where() + shown(columns.counts) + " = " + format_number(rows.first[j]) + " is not a count (a whole number >= 0, below 2^53)");
    if (columns.binomial && !is_count(rows.second[j]))
      throw error(where() + shown(columns.sizes) + " = " + format_number(rows.second[j]) + " is not a count (a whole number > 0, below 2^53)");
    if (columns.binomial && rows.first[j] > rows.second[j])
      throw error(where() + "more successes than trials (" + format_number(rows.first[j]) + " > " +
                  format_number(rows.second[j]) + ")");
  }
  return {std::move(rows.keys), std::move(rows.first), std::move(rows.second)};
}

}  // namespace shrink::io
