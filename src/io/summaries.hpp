#pragma once
// Mergeable group summaries: the per-group sufficient statistics of raw rows, written to CSV by
// `shrink summarize`, read back and merged by `shrink fit --from-summaries` (and by any engine
// that splits the rows: Dask, Spark, the Python package). A fit from merged parts equals the fit
// of the whole rows to rounding (1e-12 relative), and the same parts merged in the same order give
// the same bits.
//
// Columns (family told by them):
//   normal    group,n,mean,mean_lo,m2  n_j, the group's mean as mean + mean_lo (about 32 digits:
//                                      mean is the nearest double, mean_lo the rest, usually 0 or
//                                      tiny; optional on input), and the sum of squared
//                                      deviations from the mean
//   binomial  group,trials,successes   per-group sums (the count families' summary-mode columns)
//   poisson   group,exposure,count
// Numbers are the shortest text that reads back to the same double. Keys are matched as text,
// exactly as the raw reader matches them: "2" and "02" are two groups; groups are in the raw
// reader's order (numerically when every key is a canonical integer, else bytewise).

#include "output.hpp"
#include "table_reader.hpp"

#include <shrink/counts.hpp>

#include <string>
#include <vector>

namespace shrink::io {

enum class summary_family { normal, binomial, poisson };

/// "normal", "binomial" or "poisson".
const char* to_string(summary_family f);

/// One summaries file (or a merge of several): the normal family's group table, or a count
/// family's per-group sums (counts: successes or counts; sizes: trials or exposures).
struct summary_part {
  summary_family family = summary_family::normal;
  group_table groups;  ///< normal
  count_table counts;  ///< binomial, poisson
};

/// Merges the groups of `parts` by key, parts in the order given, each key's summaries by Chan,
/// Golub and LeVeque's pairwise update (detail::moments) relative to one shift per group: the
/// table the raw reader gives for all the parts' rows, to rounding. Empty parts are allowed;
/// no groups at all is an error.
group_table merge_group_tables(std::vector<group_table>&& parts, int threads = 0);

/// Sums the count families' per-group counts and sizes by key, parts in the order given (keys
/// and order as merge_group_tables). A total count of 2^53 or more is an error.
count_table merge_count_tables(std::vector<count_table>&& parts);

/// Merges parts of one family; no parts, or parts of two families, is a one-line error.
summary_part merge_summaries(std::vector<summary_part>&& parts, int threads = 0);

/// Reads a summaries file ("-": stdin); the family is told by the columns. One-line errors: a
/// missing column, a key on two rows, n < 1 or not whole, m2 < 0 (or m2 > 0 with n = 1), a number
/// that is not finite, successes above trials or not whole, an exposure <= 0. A header alone
/// is an empty part.
summary_part read_summaries(const std::string& path);

/// The summaries CSV's columns after `group` (one list for the CSV and the Python package's
/// DataFrames), pointing into the table and, for the normal family, into `mean_hi` and `mean_lo`
/// (each group's mean as hi + lo, filled here).
std::vector<result_column> summaries_columns(const group_table& t, std::vector<double>& mean_hi, std::vector<double>& mean_lo);
std::vector<result_column> summaries_columns(const count_table& t, count_family family);

/// Writes the summaries CSV of a group table (normal) or a count table.
void write_summaries(atomic_output& out, const group_table& t, int threads = 0);
void write_summaries(atomic_output& out, const count_table& t, count_family family, int threads = 0);
void write_summaries(atomic_output& out, const summary_part& s, int threads = 0);

/// Where raw rows come from: a CSV/TSV file ("-": stdin) and its columns, or .npy key and value
/// columns (group_npy and value_npy, both).
struct raw_input {
  std::string path = "-";
  std::string group = "group";
  std::string value = "y";
  std::string exposure;  ///< poisson: a per-row exposure column (CSV only; empty: 1 per row)
  std::string group_npy, value_npy;
  bool allow_empty = false;  ///< CSV input: a header alone is an empty part (else an error)
};

/// Raw rows folded per group as `shrink fit` raw mode reads them: the normal family's group
/// table, or a count family's per-group sums (binomial: 0/1 rows, one per trial; poisson: a count
/// per row, with its exposure or 1).
summary_part read_raw_summaries(const raw_input& in, summary_family family, int threads);

/// A count family's raw rows read by read_groups (value_kind binary or count) as per-group sums:
/// count = n_j times the group's exact mean (a whole number: rounded), size = n_j rows.
count_table count_table_of(const group_table& rows);

}  // namespace shrink::io
