#pragma once
/// @file
/// The one exception type shrink throws for bad input and for backend failures.

#include <stdexcept>
#include <string>

namespace shrink {

/// Thrown for invalid input (bad options, malformed data) and for failures of a backend
/// (for example a CUDA error). The message is one line and says what to change.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace shrink
