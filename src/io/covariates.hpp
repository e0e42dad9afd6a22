#pragma once
// Covariate columns from their text (--covariates, --offset): numbers, or a factor's labels.

#include "table_reader.hpp"

#include <shrink/regression.hpp>

#include <string>
#include <vector>

namespace shrink::io {

/// A numeric covariate when every field is a number, a factor when none is; one-line errors for
/// an empty field, NaN or an infinity, and a column that mixes numbers with text (naming the row).
covariate to_covariate(const text_column& column);

/// The --offset column: every field a finite number.
std::vector<double> to_numbers(const text_column& column);

}  // namespace shrink::io
