#pragma once
// Reading grouped data from CSV or TSV text (a file or stdin) into the columns the fit takes.

#include "group_fold.hpp"

#include <shrink/fit.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <string_view>
#include <optional>
#include <string>
#include <vector>

namespace shrink::io {

/// One row per group: estimates (relative to `offset`) and standard errors.
struct summary_table {
  std::vector<double> estimates;
  std::vector<double> exact_estimates;  ///< each estimate as read (nearest double)
  std::vector<double> standard_errors;
  double offset = 0;
  std::vector<std::string> keys;  ///< in file order; row numbers 1..J when there is no key column

  summary_data_view view() const
  {
    return {estimates.data(), standard_errors.data(), estimates.size(), offset, exact_estimates.data()};
  }
};

/// Per-group counts (the count families' summary input): successes y_j of trials n_j, or counts
/// y_j over exposures E_j.
struct count_table {
  std::vector<std::string> keys;  ///< in file order; row numbers 1..J when there is no key column
  std::vector<double> counts;     ///< whole numbers >= 0 (binomial: <= trials)
  std::vector<double> sizes;      ///< trials (whole numbers > 0) or exposures (> 0; 1 without a column)
};

struct count_columns {
  std::optional<std::string> group;  ///< absent: use "group" when the file has it, else row numbers
  std::string counts;                ///< successes or counts
  std::string sizes;                 ///< trials, or exposures (empty: 1 for every group)
  bool binomial = true;              ///< successes of trials (else counts over exposures)
};

/// What raw values may be: any number, or (the count families' raw rows) 0/1 per trial or counts.
enum class value_kind { any, binary, count };

struct raw_columns {
  std::string group = "group";
  std::string value = "y";
  value_kind kind = value_kind::any;  ///< binary / count: any other value is a one-line error naming its group
  bool allow_empty = false;           ///< a header alone gives an empty table (else an error)
};

struct summary_columns {
  std::optional<std::string> group;  ///< absent: use "group" when the file has it, else row numbers
  std::string estimate;
  std::string se;           ///< one of se / variance
  bool is_variance = false;
};

/// A group key that is an integer: canonical digits (an optional '-', no leading zero, no '+',
/// within int64), so that printing the integer gives back the same text. Every reader uses this
/// rule: "2" and "02" are two groups, and the groups sort numerically only when every key is one.
bool parse_int_key(std::string_view s, std::int64_t& out);

/// Text from the input as an error message may quote it: at most 40 characters, control
/// characters and other bytes that would garble a terminal escaped as \xNN.
std::string shown(std::string_view s);

/// Reads a CSV (comma) or TSV (tab; chosen when the header has a tab outside quotes) file with a
/// header line; "-" reads stdin. Accepts a UTF-8 BOM, CRLF line ends and quoted fields. Throws
/// shrink::error with a one-line message (naming the line) on malformed input.
///
/// Raw input streams: rows are folded into one summary per group as they are read, so memory is
/// O(groups + 32 MiB) whatever the size of the input; the same bits for any thread count.
group_table read_groups(const std::string& path, const raw_columns& columns, int threads);
/// Refuses a value the count families cannot read (kind binary: not 0 or 1; count: not a whole
/// number >= 0 below 2^53) with a one-line error naming its group and the column `value_name`.
void check_values(const std::vector<row_block>& parts, const std::string& value_name, value_kind kind, bool text_keys);
summary_table read_summary_table(const std::string& path, const summary_columns& columns);

/// A column read as text, one field per data row (--covariates, --offset).
struct text_column {
  std::string name;
  std::vector<std::string> fields;
};

/// read_summary_table, also returning the fields of each column named in `extra` (in row order).
summary_table read_summary_table(const std::string& path, const summary_columns& columns, std::vector<text_column>& extra);

/// Rows of one piece of the input: each row's key (a view into the input or `arena`) and numbers.
struct keyed_rows {
  std::vector<std::string_view> keys;
  uninitialized_vector<double> numbers;  ///< row-major: the numeric columns of each row, in order (the nearest doubles)
  uninitialized_vector<double> lows;     ///< the same layout: what each number's text holds beyond it (exact_number's lo)
  std::deque<std::string> arena;
  std::string failure;           // empty when the piece parsed
  std::size_t failure_line = 0;  // line within the piece, 0-based
  std::size_t lines = 0;         // line ends in the piece
};

/// What an on_block of visit_keyed_rows throws about row `row` of piece `piece`: reported as a
/// one-line error naming the row's line.
struct keyed_row_error {
  std::size_t piece = 0, row = 0;
  std::string message;
};

/// Streams the data rows of a CSV/TSV file (or stdin, "-") in blocks of whole rows (as
/// read_groups: O(32 MiB) of the input held at a time), each cut at line ends into pieces parsed
/// on `threads` threads; on_block(pieces) gets every block's pieces in input order: each row's key
/// (columns[0], not empty) and the numbers of the other columns. Unquoted rows take a fast path
/// (the SIMD structural scan and batched number conversion of the `key,value` reader) with the
/// general scanner's values and errors. The pieces depend on the input alone, never on
/// `threads`. A missing column, a ragged row, malformed quoting, an empty key or a field that is
/// not a number is a one-line error naming its line; so is a keyed_row_error from on_block.
void visit_keyed_rows(const std::string& path, const std::vector<std::string>& columns, int threads,
                      const std::function<void(const std::vector<keyed_rows>&)>& on_block);

/// Streams the data rows of a CSV/TSV file (or stdin, "-") one by one on this thread, calling
/// on_row(fields, line) with the fields of `columns` (in that order) of every non-blank row; `line`
/// is the 1-based line number, added to any error on_row throws. A missing column, a ragged row or
/// malformed quoting is a one-line error.
void visit_rows(const std::string& path, const std::vector<std::string>& columns,
                const std::function<void(const std::vector<std::string_view>&, std::size_t)>& on_row);

/// visit_rows over the first of `column_sets` whose columns the header holds all of (its index in
/// `chosen`, set before the first row); when none is complete, the missing-column error of the
/// set that misses the fewest.
void visit_rows(const std::string& path, const std::vector<std::vector<std::string>>& column_sets, std::size_t& chosen,
                const std::function<void(const std::vector<std::string_view>&, std::size_t)>& on_row);

/// The index of the first of `column_sets` whose columns `header` holds all of, or column_sets.size()
/// when none is complete (`fewest`: the set that misses the fewest).
std::size_t choose_column_set(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& column_sets,
                              std::size_t& fewest);

/// visit_rows with the columns chosen from the header's names: choose(header) returns them (a
/// missing or repeated one is the one-line error of visit_rows).
void visit_rows(const std::string& path, const std::function<std::vector<std::string>(const std::vector<std::string>&)>& choose,
                const std::function<void(const std::vector<std::string_view>&, std::size_t)>& on_row);

/// The fields of `columns` in the first data row of `path` ("-": stdin), read from the head of the
/// input alone; none where there is no data row, or the first is ragged or malformed (the readers
/// report those, with the line). A missing column is a one-line error. Reading stdin, the bytes
/// read stay for the next reader of it.
std::vector<std::string> first_row(const std::string& path, const std::vector<std::string>& columns);

/// A canonical integer key (an optional '-', no leading zeros, within int64), which prints back
/// as the same text: keys that are all canonical integers sort numerically, any other bytewise.
bool parse_int_key(std::string_view s, std::int64_t& out);

/// Per-group counts, read as read_summary_table reads summaries (one row per group, file order);
/// each count must be a whole number, trials whole and > 0 with successes <= trials, exposures > 0
/// (one-line errors naming the group).
count_table read_count_table(const std::string& path, const count_columns& columns);

}  // namespace shrink::io
