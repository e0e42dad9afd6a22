// CSV/TSV parsing. Files without quote characters are cut into chunks at line ends and parsed
// in parallel; files with quotes take the same row scanner sequentially (a quoted field may hold
// a line end, so chunk boundaries could not be found without scanning).

#include "table_reader.hpp"

#include "../cpu/parallel.hpp"
#include "decimal.hpp"
#include "text_source.hpp"

#include <shrink/error.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <string_view>
#include <unordered_map>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace shrink::io {
namespace {

/// Splits rows into fields, honouring quotes ("a,b" and "say ""hi""").
class row_scanner {
 public:
  row_scanner(const char* begin, const char* end, char delimiter)
    : p_(begin), end_(end), delimiter_(delimiter)
  {
  }

  bool done() const { return p_ >= end_; }

  /// Reads one row into `fields`; returns the number of line ends consumed. Unescaped quoted
  /// fields are stored in `arena` so that the views stay valid.
  std::size_t next(std::vector<std::string_view>& fields, std::deque<std::string>& arena)
  {
    fields.clear();
    std::size_t lines = 0;
    for (;;) {
      const char* field_begin = p_;
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
        while (p_ < end_ && (*p_ == ' ' || *p_ == '\r')) ++p_;
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
        fields.push_back(inner);
      } else {
        while (p_ < end_ && *p_ != delimiter_ && *p_ != '\n') ++p_;
        fields.push_back(trim({field_begin, static_cast<std::size_t>(p_ - field_begin)}));
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

  /// next() for text known to hold no quote character: one pass that splits at delimiters and
  /// stops at the line end (rows are short, so a memchr call per line costs more than it saves).
  std::size_t next_unquoted(std::vector<std::string_view>& fields)
  {
    fields.clear();
    const char* field_begin = p_;
    const char* q = p_;
    for (; q < end_; ++q) {
      const char c = *q;
      if (c == delimiter_) {
        fields.push_back(trim({field_begin, static_cast<std::size_t>(q - field_begin)}));
        field_begin = q + 1;
      } else if (c == '\n') {
        break;
      }
    }
    fields.push_back(trim({field_begin, static_cast<std::size_t>(q - field_begin)}));
    const bool newline = q < end_;
    p_ = newline ? q + 1 : end_;
    return newline ? 1 : 0;
  }

  static std::string_view trim(std::string_view s)
  {
    while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    return s;
  }

  const char* position() const { return p_; }

 private:
  const char* p_;
  const char* end_;
  char delimiter_;
};

bool blank_row(const std::vector<std::string_view>& fields)
{
  return fields.size() == 1 && fields[0].empty();
}

std::string shown(std::string_view s)
{
  return s.size() <= 40 ? std::string(s) : std::string(s.substr(0, 37)) + "...";
}

/// Canonical integer keys (no sign other than '-', no leading zeros) so that printing the
/// integer gives back the same text.
bool parse_int_key(std::string_view s, std::int64_t& out)
{
  std::size_t i = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) i = 1;
  const std::size_t digits = s.size() - i;
  if (digits == 0 || digits > 18) return false;
  if (s[i] == '0' && (digits > 1 || negative)) return false;
  std::int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = negative ? -v : v;
  return true;
}

/// The header and where the data start.
struct layout {
  std::vector<std::string> names;
  char delimiter = ',';
  const char* data_begin = nullptr;
  const char* data_end = nullptr;
  std::size_t header_lines = 1;
  bool quoted = false;  // data contain a quote character
};

layout read_layout(std::string_view text, const std::string& path)
{
  const std::string source = path == "-" ? "stdin" : "'" + path + "'";
  if (text.size() >= 3 && std::memcmp(text.data(), "\xEF\xBB\xBF", 3) == 0) text.remove_prefix(3);
  layout l;
  const std::size_t eol = text.find('\n');
  const std::string_view first_line = text.substr(0, eol);
  if (row_scanner::trim(first_line).empty()) throw error("empty input: " + source + " has no header line");
  l.delimiter = first_line.find('\t') != std::string_view::npos ? '\t' : ',';
  row_scanner scan(text.data(), text.data() + text.size(), l.delimiter);
  std::vector<std::string_view> fields;
  std::deque<std::string> arena;
  l.header_lines = std::max<std::size_t>(1, scan.next(fields, arena));
  for (auto f : fields) l.names.emplace_back(f);
  l.data_begin = scan.position();
  l.data_end = text.data() + text.size();
  l.quoted = std::memchr(l.data_begin, '"', static_cast<std::size_t>(l.data_end - l.data_begin)) != nullptr;
  return l;
}

std::size_t column_index(const layout& l, const std::string& name, const char* role)
{
  const auto it = std::find(l.names.begin(), l.names.end(), name);
  if (it != l.names.end()) return static_cast<std::size_t>(it - l.names.begin());
  std::string have;
  for (const auto& n : l.names) have += (have.empty() ? "" : ", ") + n;
  throw error(std::string("no ") + role + " column '" + name + "'; the columns are: " + have);
}

/// What to take from each row: an optional key column and up to two numeric columns.
struct row_spec {
  std::optional<std::size_t> key;
  std::vector<std::size_t> numbers;
  std::vector<std::string> number_names;
  std::vector<relative_parser> parsers;
  std::size_t fields = 0;
};

/// Rows parsed from one chunk of the input.
struct chunk_rows {
  std::vector<std::int64_t> int_keys;
  std::vector<std::string_view> text_keys;
  std::deque<std::string> arena;
  std::vector<double> numbers[2];
  bool keys_not_integer = false;
  std::string failure;         // empty when the chunk parsed
  std::size_t failure_line = 0;  // line within the chunk, 0-based
};

void parse_chunk(const char* begin, const char* end, const layout& l, const row_spec& spec, bool integer_keys,
                 chunk_rows& out)
{
  row_scanner scan(begin, end, l.delimiter);
  std::vector<std::string_view> fields;
  std::size_t line = 0;
  // Reserve from the line density of the first 64 KiB, so that vectors do not regrow.
  const std::size_t sample = std::min<std::size_t>(static_cast<std::size_t>(end - begin), 1 << 16);
  const auto sample_lines = static_cast<std::size_t>(std::count(begin, begin + sample, '\n')) + 1;
  const std::size_t expected = sample == 0 ? 0 : static_cast<std::size_t>(end - begin) / sample * sample_lines * 11 / 10 + 16;
  for (std::size_t c = 0; c < spec.numbers.size(); ++c) out.numbers[c].reserve(expected);
  if (spec.key) integer_keys ? out.int_keys.reserve(expected) : out.text_keys.reserve(expected);
  try {
    while (!scan.done()) {
      const std::size_t consumed = l.quoted ? scan.next(fields, out.arena) : scan.next_unquoted(fields);
      if (blank_row(fields)) {
        line += consumed;
        continue;
      }
      if (fields.size() != spec.fields) {
        out.failure = "row has " + std::to_string(fields.size()) + " fields but the header has " +
                      std::to_string(spec.fields);
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
          out.int_keys.push_back(v);
        } else {
          out.text_keys.push_back(k);
        }
      }
      for (std::size_t c = 0; c < spec.numbers.size(); ++c) {
        double v;
        const std::string_view text = fields[spec.numbers[c]];
        if (!spec.parsers[c].parse(text, v)) {
          const bool is_number = relative_parser().parse(text, v);
          out.failure = "column '" + spec.number_names[c] + "': '" + shown(text) +
                        (is_number ? "' is too large: differences between values overflow double"
                                   : "' is not a finite number");
          out.failure_line = line;
          return;
        }
        out.numbers[c].push_back(v);
      }
      line += consumed;
    }
  } catch (const error& e) {
    out.failure = e.what();
    out.failure_line = line;
  }
}

/// Chunk boundaries at line starts: [cuts[b], cuts[b+1]) for each chunk; one chunk for small or
/// quoted text (a quoted field may hold a line end).
std::vector<const char*> line_chunks(const layout& l, int workers)
{
  const std::size_t bytes = static_cast<std::size_t>(l.data_end - l.data_begin);
  const std::size_t pieces = (l.quoted || bytes < (1u << 20)) ? 1 : static_cast<std::size_t>(workers) * 4;
  std::vector<const char*> cuts{l.data_begin};
  for (std::size_t i = 1; i < pieces; ++i) {
    const char* target = l.data_begin + bytes * i / pieces;
    if (target <= cuts.back()) continue;
    const void* nl = std::memchr(target, '\n', static_cast<std::size_t>(l.data_end - target));
    if (nl == nullptr) break;
    cuts.push_back(static_cast<const char*>(nl) + 1);
  }
  cuts.push_back(l.data_end);
  return cuts;
}

/// Replaces each integer key by its dense id, ids following increasing key order, and appends the
/// keys' text to `names`. `ids` may alias `keys` (an in-place mapping).
template <class Key>
void map_integer_keys(const Key* keys, std::size_t rows, int threads, std::int32_t* ids, std::vector<std::string>& names)
{
  Key lo = std::numeric_limits<Key>::max(), hi = std::numeric_limits<Key>::min();
  for (std::size_t i = 0; i < rows; ++i) lo = std::min(lo, keys[i]), hi = std::max(hi, keys[i]);
  constexpr std::size_t block = 1 << 16;
  const auto range = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
  if (range < 4ull * rows + (1ull << 20)) {
    // Dense enough: a direct table from key to id.
    std::vector<std::int32_t> id(range + 1, -1);
    for (std::size_t i = 0; i < rows; ++i) id[static_cast<std::uint64_t>(keys[i]) - static_cast<std::uint64_t>(lo)] = 0;
    std::int64_t next = 0;
    for (std::size_t i = 0; i < id.size(); ++i) {
      if (id[i] < 0) continue;
      if (next == INT32_MAX) throw error("more than 2^31-1 groups");
      id[i] = static_cast<std::int32_t>(next++);
      names.push_back(std::to_string(static_cast<std::int64_t>(lo) + static_cast<std::int64_t>(i)));
    }
    detail::for_each_block(rows, block, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
      for (std::size_t i = begin; i < end; ++i)
        ids[i] = id[static_cast<std::uint64_t>(keys[i]) - static_cast<std::uint64_t>(lo)];
    });
  } else {
    std::vector<Key> unique(keys, keys + rows);
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    if (unique.size() > static_cast<std::size_t>(INT32_MAX)) throw error("more than 2^31-1 groups");
    for (Key k : unique) names.push_back(std::to_string(k));
    detail::for_each_block(rows, block, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
      for (std::size_t i = begin; i < end; ++i)
        ids[i] = static_cast<std::int32_t>(std::lower_bound(unique.begin(), unique.end(), keys[i]) - unique.begin());
    });
  }
}

/// Parses all rows, in parallel chunks where the text has no quotes.
std::vector<chunk_rows> parse_rows(const layout& l, const row_spec& spec, int threads, const std::string& path)
{
  const int workers = detail::thread_count(threads);
  const std::vector<const char*> cuts = line_chunks(l, workers);

  for (bool integer_keys : {true, false}) {
    if (!integer_keys && !spec.key) break;
    std::vector<chunk_rows> chunks(cuts.size() - 1);
    detail::for_each_block(chunks.size(), 1, workers, [&](std::size_t b, std::size_t, std::size_t) {
      parse_chunk(cuts[b], cuts[b + 1], l, spec, integer_keys, chunks[b]);
    });
    bool retry = false;
    for (std::size_t b = 0; b < chunks.size(); ++b) {
      if (!chunks[b].failure.empty()) {
        std::size_t line = 1 + l.header_lines + chunks[b].failure_line;
        for (std::size_t a = 0; a < b; ++a)
          line += static_cast<std::size_t>(std::count(cuts[a], cuts[a + 1], '\n'));
        throw error((path == "-" ? std::string("stdin") : path) + " line " + std::to_string(line) + ": " +
                    chunks[b].failure);
      }
      retry = retry || chunks[b].keys_not_integer;
    }
    if (!retry) return chunks;
  }
  return {};  // unreachable: the text-key pass cannot ask for a retry
}

/// The common raw input, parsed straight into the final arrays: unquoted text whose rows are
/// `key,value` (an integer key that fits 32 bits, then a number). Anything else on any row (a
/// space, a third field, a text key, a bad number...) makes it give up, and read_raw_table reads
/// the whole input again with the general scanner, which gives the same values and the errors.
struct fast_chunk {
  std::size_t capacity = 0;  // line ends in the chunk + 1: an upper bound on its rows
  std::size_t rows = 0;
  bool ok = true;
};

/// Number of '\n' in [p, end): 16 bytes a step, byte counters summed every 255 steps.
std::size_t count_newlines(const char* p, const char* const end)
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

/// Parses the rows of [begin, end) into keys / values; false on anything unusual.
bool parse_fast_chunk(const char* p, const char* const end, const char* const limit, char delimiter, const relative_parser& parser,
                      std::int32_t* keys, double* values, fast_chunk& out, const std::atomic<bool>& abort)
{
  std::size_t r = 0;
  while (p < end) {
    if ((r & 4095) == 0 && abort.load(std::memory_order_relaxed)) return false;
    // Blank line (spaces and carriage returns only): skipped, as by the general scanner.
    if (*p == '\n' || *p == '\r' || *p == ' ') {
      const char* q = p;
      while (q < end && (*q == ' ' || *q == '\r')) ++q;
      if (q == end) break;
      if (*q != '\n') return false;
      p = q + 1;
      continue;
    }
    // Key: canonical integer (as parse_int_key), then the delimiter right after it.
    const bool negative_key = *p == '-';
    if (negative_key) ++p;
    const char* const key_digits = p;
    std::int64_t k = 0;
    while (p < end && static_cast<unsigned>(*p - '0') < 10) k = k * 10 + (*p++ - '0');
    const std::size_t key_len = static_cast<std::size_t>(p - key_digits);
    if (key_len == 0 || key_len > 9 || p == end || *p != delimiter) return false;
    if (*key_digits == '0' && (key_len > 1 || negative_key)) return false;
    if (negative_key) k = -k;
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
    double v;
    const bool simple = digits > 0 && digits <= 19 && (p == end || *p == '\n' || *p == '\r');
    if (!(simple && parser.from_decimal(m, -fraction, negative, v))) {
      const char* q = p;
      while (q < end && *q != '\n' && *q != delimiter) ++q;
      if (q < end && *q == delimiter) return false;
      const std::string_view text = row_scanner::trim({field, static_cast<std::size_t>(q - field)});
      if (text.empty() || text.front() == ' ' || !parser.parse(text, v)) return false;
      p = q;
    }
    // Line end: CR (any number, with spaces, as the general scanner trims them), then LF or the end.
    while (p < end && (*p == '\r' || *p == ' ')) ++p;
    if (p < end) {
      if (*p != '\n') return false;
      ++p;
    }
    if (r == out.capacity) return false;  // cannot happen: rows <= line ends + 1
    keys[r] = static_cast<std::int32_t>(k);
    values[r] = v;
    ++r;
  }
  out.rows = r;
  return true;
}

/// read_raw_table's fast path; false (with `out` untouched) where the input needs the general one.
bool read_raw_fast(const layout& l, const row_spec& spec, int threads, raw_table& out)
{
  if (l.quoted || !spec.key || *spec.key != 0 || spec.fields != 2 || spec.numbers.size() != 1 || spec.numbers[0] != 1)
    return false;
  const int workers = detail::thread_count(threads);
  const std::vector<const char*> cuts = line_chunks(l, workers);
  const std::size_t n_chunks = cuts.size() - 1;
  std::vector<fast_chunk> chunks(n_chunks);
  detail::for_each_block(n_chunks, 1, workers, [&](std::size_t b, std::size_t, std::size_t) {
    chunks[b].capacity = count_newlines(cuts[b], cuts[b + 1]) + 1;
  });
  std::vector<std::size_t> starts{0};
  for (const auto& c : chunks) starts.push_back(starts.back() + c.capacity);
  const std::size_t capacity = starts.back();
  if (capacity > static_cast<std::size_t>(INT32_MAX)) return false;

  std::vector<std::int32_t> ids(capacity);
  std::vector<double> values(capacity);
  std::atomic<bool> abort{false};
  detail::for_each_block(n_chunks, 1, workers, [&](std::size_t b, std::size_t, std::size_t) {
    if (abort.load()) return;
    if (!parse_fast_chunk(cuts[b], cuts[b + 1], l.data_end, l.delimiter, spec.parsers[0], ids.data() + starts[b],
                          values.data() + starts[b], chunks[b], abort)) {
      chunks[b].ok = false;
      abort.store(true);
    }
  });
  if (abort.load()) return false;
  // Close the gaps left by blank lines (rows < capacity), in order.
  std::size_t rows = 0;
  for (std::size_t b = 0; b < n_chunks; ++b) {
    if (rows != starts[b] && chunks[b].rows > 0) {
      std::memmove(ids.data() + rows, ids.data() + starts[b], chunks[b].rows * sizeof(std::int32_t));
      std::memmove(values.data() + rows, values.data() + starts[b], chunks[b].rows * sizeof(double));
    }
    rows += chunks[b].rows;
  }
  if (rows == 0) return false;  // the general path reports it
  ids.resize(rows);
  values.resize(rows);

  map_integer_keys(ids.data(), rows, workers, ids.data(), out.keys);
  out.offset = spec.parsers[0].offset();
  out.group_ids = std::move(ids);
  out.values = std::move(values);
  return true;
}

/// Text of the first data row's field `column`: the reference of a location column.
std::string first_value(const layout& l, std::size_t column)
{
  row_scanner scan(l.data_begin, l.data_end, l.delimiter);
  std::vector<std::string_view> fields;
  std::deque<std::string> arena;
  while (!scan.done()) {
    try {
      scan.next(fields, arena);
    } catch (const error&) {
      return {};
    }
    if (blank_row(fields)) continue;
    if (column < fields.size()) {
      double unused;
      if (relative_parser().parse(fields[column], unused)) return std::string(fields[column]);
    }
    return {};
  }
  return {};
}

std::size_t count_rows(const std::vector<chunk_rows>& chunks)
{
  std::size_t n = 0;
  for (const auto& c : chunks) n += c.numbers[0].size();
  return n;
}

/// Dense ids for text keys, in bytewise key order.
void map_text_keys(const std::vector<chunk_rows>& chunks, std::size_t rows, raw_table& out)
{
  std::unordered_map<std::string_view, std::int32_t> first_seen;
  std::vector<std::string_view> names;
  out.group_ids.resize(rows);
  std::size_t r = 0;
  for (const auto& c : chunks)
    for (std::string_view k : c.text_keys) {
      auto [it, inserted] = first_seen.try_emplace(k, static_cast<std::int32_t>(names.size()));
      if (inserted) {
        if (names.size() == static_cast<std::size_t>(INT32_MAX)) throw error("more than 2^31-1 groups");
        names.push_back(k);
      }
      out.group_ids[r++] = it->second;
    }
  std::vector<std::int32_t> order(names.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int32_t>(i);
  std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) { return names[a] < names[b]; });
  std::vector<std::int32_t> rank(names.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    rank[static_cast<std::size_t>(order[i])] = static_cast<std::int32_t>(i);
    out.keys.emplace_back(names[static_cast<std::size_t>(order[i])]);
  }
  for (auto& g : out.group_ids) g = rank[static_cast<std::size_t>(g)];
}

}  // namespace

raw_table read_raw_table(const std::string& path, const raw_columns& columns, int threads)
{
  const text_source source(path);
  const layout l = read_layout(source.text(), path);
  row_spec spec;
  spec.fields = l.names.size();
  spec.key = column_index(l, columns.group, "group");
  spec.numbers = {column_index(l, columns.value, "value")};
  spec.number_names = {columns.value};
  spec.parsers.emplace_back(first_value(l, spec.numbers[0]));

  {
    raw_table fast;
    if (read_raw_fast(l, spec, threads, fast)) return fast;
  }
  std::vector<chunk_rows> chunks = parse_rows(l, spec, threads, path);
  const std::size_t rows = count_rows(chunks);
  if (rows == 0) throw error("no data rows: " + (path == "-" ? std::string("stdin") : path) + " has only a header");

  raw_table out;
  out.offset = spec.parsers[0].offset();
  out.values.resize(rows);
  std::vector<std::size_t> starts{0};
  for (const auto& c : chunks) starts.push_back(starts.back() + c.numbers[0].size());
  detail::for_each_block(chunks.size(), 1, threads, [&](std::size_t b, std::size_t, std::size_t) {
    std::copy(chunks[b].numbers[0].begin(), chunks[b].numbers[0].end(), out.values.begin() + static_cast<std::ptrdiff_t>(starts[b]));
  });
  const bool text_keys = std::any_of(chunks.begin(), chunks.end(), [](const chunk_rows& c) { return !c.text_keys.empty(); });
  if (!text_keys) {
    std::vector<std::int64_t> keys;
    keys.reserve(rows);
    for (const auto& c : chunks) keys.insert(keys.end(), c.int_keys.begin(), c.int_keys.end());
    out.group_ids.resize(rows);
    map_integer_keys(keys.data(), rows, threads, out.group_ids.data(), out.keys);
  } else
    map_text_keys(chunks, rows, out);
  return out;
}

summary_table read_summary_table(const std::string& path, const summary_columns& columns)
{
  const text_source source(path);
  const layout l = read_layout(source.text(), path);
  row_spec spec;
  spec.fields = l.names.size();
  if (columns.group)
    spec.key = column_index(l, *columns.group, "group");
  else if (std::find(l.names.begin(), l.names.end(), "group") != l.names.end())
    spec.key = column_index(l, "group", "group");
  spec.numbers = {column_index(l, columns.estimate, "estimate"),
                  column_index(l, columns.se, columns.is_variance ? "variance" : "se")};
  spec.number_names = {columns.estimate, columns.se};
  spec.parsers.emplace_back(first_value(l, spec.numbers[0]));
  spec.parsers.emplace_back();

  // Keys stay text here: summary rows are reported in file order under their own names.
  std::vector<chunk_rows> chunks = parse_rows(l, spec, 1, path);
  const std::size_t rows = count_rows(chunks);
  if (rows == 0) throw error("no data rows: " + (path == "-" ? std::string("stdin") : path) + " has only a header");

  summary_table out;
  out.offset = spec.parsers[0].offset();
  for (auto& c : chunks) {
    out.estimates.insert(out.estimates.end(), c.numbers[0].begin(), c.numbers[0].end());
    for (double s : c.numbers[1]) {
      if (columns.is_variance) {
        if (!(s > 0)) throw error("column '" + columns.se + "': variances must be positive (found " + std::to_string(s) + ")");
        s = std::sqrt(s);
      } else if (!(s > 0)) {
        throw error("column '" + columns.se + "': standard errors must be positive (found " + std::to_string(s) + ")");
      }
      out.standard_errors.push_back(s);
    }
    for (std::int64_t k : c.int_keys) out.keys.push_back(std::to_string(k));
    for (std::string_view k : c.text_keys) out.keys.emplace_back(k);
  }
  if (out.keys.empty())
    for (std::size_t j = 1; j <= rows; ++j) out.keys.push_back(std::to_string(j));
  std::vector<std::string_view> sorted(out.keys.begin(), out.keys.end());
  std::sort(sorted.begin(), sorted.end());
  const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
  if (dup != sorted.end()) throw error("group '" + std::string(*dup) + "' appears on more than one row of summary input");
  return out;
}

}  // namespace shrink::io
