#include "covariates.hpp"

#include "decimal.hpp"

#include <shrink/error.hpp>

#include <cstring>

namespace shrink::io {
namespace {

std::string where(const text_column& c, std::size_t row)
{
  return "column '" + c.name + "', data row " + std::to_string(row + 1) + ": ";
}

}  // namespace

covariate to_covariate(const text_column& column)
{
  covariate out;
  out.name = column.name;
  std::size_t numbers = 0, texts = 0, first_text = 0, first_number = 0;
  for (std::size_t j = 0; j < column.fields.size(); ++j) {
    const std::string& f = column.fields[j];
    if (f.empty()) throw error(where(column, j) + "the covariate is empty");
    exact_number v;
    if (parse_number(f, v)) {
      if (numbers++ == 0) first_number = j;
      out.numbers.push_back(v.hi);
    } else if (std::strcmp(number_problem(f), "is not a number") != 0) {
      throw error(where(column, j) + "'" + f.substr(0, 40) + "' " + number_problem(f));
    } else if (texts++ == 0) {
      first_text = j;
    }
  }
  if (numbers == column.fields.size()) return out;
  if (numbers > 0)
    throw error("covariate '" + column.name + "' mixes numbers (data row " + std::to_string(first_number + 1) +
                ") and text (data row " + std::to_string(first_text + 1) +
                "): a numeric covariate needs a number in every row, a factor text");
  out.numbers.clear();
  out.labels = column.fields;
  return out;
}

std::vector<double> to_numbers(const text_column& column)
{
  std::vector<double> out;
  for (std::size_t j = 0; j < column.fields.size(); ++j) {
    exact_number v;
    const std::string& f = column.fields[j];
    if (!parse_number(f, v))
      throw error(where(column, j) + "'" + f.substr(0, 40) + "' " + (f.empty() ? "is empty" : number_problem(f)) +
                  " (the offset must be a number)");
    out.push_back(v.hi);
  }
  return out;
}

}  // namespace shrink::io
