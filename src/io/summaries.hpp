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
//   normal with covariates (shrink summarize --covariates X1,X2 [--offset O])
//             group,n, then for each column c of z = (X1, X2, ..., Y) (Y: the value, or VALUE-OFFSET)
//             mean:c,mean_lo:c (the group's mean of c as mean + mean_lo), then the lower triangle
//             of the centred co-moment matrix sum (z - mean)(z - mean)' row by row: comoment:a:b
//             for each b up to a (comoment:c:c: c's sum of squared deviations)
// Numbers are the shortest text that reads back to the same double. Keys are matched as text,
// exactly as the raw reader matches them: "2" and "02" are two groups; groups are in the raw
// reader's order (numerically when every key is a canonical integer, else bytewise).

#include "cross_product_fold.hpp"
#include "output.hpp"
#include "table_reader.hpp"

#include <shrink/counts.hpp>

#include <string>
#include <vector>

namespace shrink::io {

enum class summary_family { normal, binomial, poisson, covariates };

/// "normal", "binomial", "poisson" or "normal with covariates".
const char* to_string(summary_family f);

/// One summaries file (or a merge of several): the normal family's group table, or a count
/// family's per-group sums (counts: successes or counts; sizes: trials or exposures).
struct summary_part {
  summary_family family = summary_family::normal;
  group_table groups;  ///< normal
  count_table counts;  ///< binomial, poisson
  cross_product_table cross;  ///< covariates
};

/// Merges the groups of `parts` by key, parts in the order given, each key's summaries by Chan,
/// Golub and LeVeque's pairwise update (detail::moments) relative to one shift per group: the
/// table the raw reader gives for all the parts' rows, to rounding. Empty parts are allowed;
/// no groups at all is an error.
group_table merge_group_tables(std::vector<group_table>&& parts, int threads = 0);

/// Sums the count families' per-group counts and sizes by key, parts in the order given (keys
/// and order as merge_group_tables). A total count of 2^53 or more is an error.
count_table merge_count_tables(std::vector<count_table>&& parts);

/// Merges the cross products of covariate summaries by key, parts in the order given, each key's
/// by Chan's pairwise update (detail::cross_product_merge) relative to one shift per group (the
/// first part's means): the table read_cross_products gives for all the parts' rows, to rounding.
/// Parts of other columns (covariates, value or offset) are a one-line error; empty parts are
/// allowed, no groups at all is an error.
cross_product_table merge_cross_product_tables(std::vector<cross_product_table>&& parts);

/// The cross products of `covariates` (any of t's, in any order) and the value, as
/// read_cross_products gives them for that --covariates list; a name t lacks is a one-line error.
cross_product_table select_covariates(const cross_product_table& t, const std::vector<std::string>& covariates);

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
/// ... and of cross products, each column's numbers gathered into `storage`.
std::vector<result_column> summaries_columns(const cross_product_table& t, std::vector<std::vector<double>>& storage);

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
  std::vector<std::string> covariates;  ///< family covariates: numeric covariate columns (CSV only)
  std::string offset;                   ///< family covariates: a column subtracted from the value
};

/// Raw rows folded per group as `shrink fit` raw mode reads them: the normal family's group
/// table, or a count family's per-group sums (binomial: 0/1 rows, one per trial; poisson: a count
/// per row, with its exposure or 1), or, when `in` names covariates (family normal), the cross
/// products of read_cross_products (a header alone: an empty part; factors refused).
summary_part read_raw_summaries(const raw_input& in, summary_family family, int threads);

/// A count family's raw rows read by read_groups (value_kind binary or count) as per-group sums:
/// count = n_j times the group's exact mean (a whole number: rounded), size = n_j rows.
count_table count_table_of(const group_table& rows);

}  // namespace shrink::io
