#pragma once
// Raw rows with more than a key and a value, folded per group in one pass over the rows: with
// covariates (shrink fit --value Y --covariates X1,X2 ...) into cross products
// (src/common/cross_products.hpp); poisson counts with per-row exposures into their sums.

#include "table_reader.hpp"

#include <shrink/backend.hpp>
#include <shrink/regression.hpp>

#include <string>
#include <vector>

namespace shrink::io {

struct cross_product_table {
  std::vector<std::string> keys;  ///< sorted: numerically when every key is an integer, else bytewise
  /// data.mean + data.mean_lo: each group's means to ~32 digits (the fold keeps each mean as the
  /// group's first row plus the mean of the differences from it).
  group_cross_products data;
  std::string value;  ///< what y is: the value column's name, or "VALUE-OFFSET" with an offset
};

/// Reads `path` ("-": stdin), one row per observation: the group key, the value and the numeric
/// covariates (an optional offset column is subtracted from the value). One-line errors name the
/// line of a missing, empty or non-numeric field. Rows are parsed in parallel pieces and each
/// group's rows folded in input order: the same bits for any `threads` (0: all), and on `use`
/// = cuda (the rows parsed here, folded on the GPU) bitwise the same again. `part`: the rows are a
/// part of the data (shrink summarize): a header alone is an empty table, and a factor (text)
/// covariate is a one-line error, as its levels in other parts are unknown here.
cross_product_table read_cross_products(const std::string& path, const std::string& group, const std::string& value,
                                        const std::vector<std::string>& covariates, const std::string& offset,
                                        int threads, bool part = false, backend use = backend::cpu);

/// Reads `path` ("-": stdin), one poisson count per row with its exposure (shrink fit --family
/// poisson --group G --value Y --exposure E): per group the sums of the counts and of the
/// exposures, in row order, O(groups) memory; groups sorted as read_cross_products sorts them.
/// A count that is not a whole number >= 0, an exposure <= 0 or a missing column is a one-line error;
/// so is a header alone, unless `allow_empty` (then an empty table).
count_table read_count_rows(const std::string& path, const std::string& group, const std::string& value,
                            const std::string& exposure, bool allow_empty = false);

}  // namespace shrink::io
