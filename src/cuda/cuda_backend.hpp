#pragma once
// Entry points of the CUDA backend beyond group_engine.hpp, in plain C++ so that tests and the
// CLI can include them in any build. They are defined only when CUDA is built: callers guard
// their use with SHRINK_HAS_CUDA (from <shrink/config.hpp>).

#include "../api/group_engine.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace shrink::detail {

struct cuda_engine_options {
  std::size_t chunk_rows = 0;  ///< rows per chunk of the summary stage; 0 = default_chunk_rows
};

/// make_cuda_engine with a chosen chunk size (tests use small chunks to exercise the merges).
std::unique_ptr<group_engine> make_cuda_engine(const raw_data_view& data, const cuda_engine_options& options);

/// Raw mode from rows already in device memory, owned by the caller and left unmodified; they may
/// be freed once this returns.
std::unique_ptr<group_engine> make_cuda_engine(const std::int32_t* d_keys, const double* d_values, std::size_t rows,
                                               std::size_t groups, const cuda_engine_options& options);

/// True when a GPU is present that this build's kernels can run on (never throws).
bool cuda_device_usable();

/// Name of the GPU the backend runs on ("" when none is usable).
std::string cuda_device_name();

}  // namespace shrink::detail
