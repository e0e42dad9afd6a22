#pragma once
/// @file
/// Backend selection, shared by every operation.

#include <string>

namespace shrink {

/// Which implementation runs an operation. `automatic` picks CUDA when this build has it and a
/// usable GPU is present, the CPU otherwise; every result says which one ran.
enum class backend { automatic, cpu, cuda };

/// "auto", "cpu" or "cuda".
std::string to_string(backend b);

/// Parses "auto", "cpu" or "cuda"; throws shrink::error otherwise.
backend parse_backend(const std::string& name);

/// True when this build contains the CUDA backend and a GPU is usable now.
bool cuda_available();

/// Resolves `automatic` to the backend that will run; throws shrink::error when `cuda` is asked
/// for and cannot run here.
backend resolve_backend(backend requested);

}  // namespace shrink
