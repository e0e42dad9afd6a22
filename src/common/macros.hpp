#pragma once
// Error macros and the host/device qualifier shared by both backends.

#include <shrink/error.hpp>

#include <string>

#if defined(__CUDACC__)
#define SHRINK_HD __host__ __device__
#else
#define SHRINK_HD
#endif

#define SHRINK_STRINGIFY_DETAIL(x) #x
#define SHRINK_STRINGIFY(x) SHRINK_STRINGIFY_DETAIL(x)

/// Throws shrink::error with `msg` when `cond` is false: for invalid input.
/// Messages are meant for users, so they carry no file:line (the CLI prints them as they are).
#define SHRINK_EXPECTS(cond, msg)                      \
  do {                                                 \
    if (!(cond)) throw ::shrink::error(std::string(msg)); \
  } while (0)

/// Throws shrink::error carrying file:line: for broken internal invariants.
#define SHRINK_FAIL(msg)                                                                   \
  throw ::shrink::error(std::string(__FILE__ ":" SHRINK_STRINGIFY(__LINE__) ": ") + (msg))
