#pragma once
// Raw rows with covariates (shrink fit --value Y --covariates X1,X2 ...) folded into per-group
// cross products in one pass over the rows (src/common/cross_products.hpp).

#include <shrink/regression.hpp>

#include <string>
#include <vector>

namespace shrink::io {

struct cross_product_table {
  std::vector<std::string> keys;  ///< sorted: numerically when every key is an integer, else bytewise
  group_cross_products data;
};

/// Reads `path` ("-": stdin), one row per observation: the group key, the value and the numeric
/// covariates (an optional offset column is subtracted from the value). One-line errors name the
/// line of a missing, empty or non-numeric field. Rows are parsed in parallel pieces and each
/// group's rows folded in input order: the same bits for any `threads` (0: all).
cross_product_table read_cross_products(const std::string& path, const std::string& group, const std::string& value,
                                        const std::vector<std::string>& covariates, const std::string& offset,
                                        int threads);

}  // namespace shrink::io
