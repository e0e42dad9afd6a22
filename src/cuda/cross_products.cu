// The covariate models' CUDA backend (see kernels/cross_products.cuh): the fold of raw rows into
// per-group cross products, and the fixed-tree sums over groups. Every CUB instantiation and
// reduction of these models lives in this one translation unit.

#include "../api/cross_reduce.hpp"

#include "../../kernels/cross_products.cuh"
#include "../../kernels/group_summaries.cuh"
#include "device_buffer.hpp"
#include "device_reduce.cuh"
#include "reduce_scratch.hpp"
#include "stream.hpp"
#include "summarize.hpp"

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_select.cuh>
#include <thrust/iterator/counting_iterator.h>

#include <algorithm>
#include <string>

namespace shrink::detail {
namespace {

constexpr unsigned block_threads = 256;

unsigned blocks_for(std::size_t n) { return static_cast<unsigned>((n + block_threads - 1) / block_threads); }

class cuda_cross_reducer final : public cross_reducer {
 public:
  cuda_cross_reducer(const double* x, std::size_t rows, std::size_t width)
    : rows_(rows), width_(width), x_(rows * width, stream_.get()), c_(rows, stream_.get()),
      scratch_(rows, sizeof(cross_pack), stream_.get())
  {
    SHRINK_CUDA_TRY(cudaMemcpyAsync(x_.data(), x, x_.bytes(), cudaMemcpyHostToDevice, stream_.get()));
    stream_.synchronize();  // the host rows may change once this returns
  }

  void weighted_outer(const double* c, double* lower) override
  {
    upload(c);
    const std::size_t entries = packed_entries(width_);
    for (std::size_t pack = 0; pack < cross_packs(entries); ++pack)
      copy_pack(reduce<cross_pack>(scratch_, weighted_outer_term{x_.data(), c_.data(), width_, pack}, rows_, stream_.get()),
                pack, entries, lower);
  }

  void weighted_rows(const double* c, double* out) override
  {
    upload(c);
    for (std::size_t pack = 0; pack < cross_packs(width_); ++pack)
      copy_pack(reduce<cross_pack>(scratch_, weighted_row_term{x_.data(), c_.data(), width_, pack}, rows_, stream_.get()),
                pack, width_, out);
  }

 private:
  void upload(const double* c)
  {
    SHRINK_CUDA_TRY(cudaMemcpyAsync(c_.data(), c, c_.bytes(), cudaMemcpyHostToDevice, stream_.get()));
  }

  static void copy_pack(const cross_pack& s, std::size_t pack, std::size_t entries, double* out)
  {
    const std::size_t first = pack * cross_pack_width;
    std::copy(s.v, s.v + std::min(cross_pack_width, entries - first), out + first);
  }

  std::size_t rows_, width_;
  cuda_stream stream_;  // before the buffers: they free on it
  device_buffer<double> x_, c_;
  reduce_scratch scratch_;
};

/// Rows per chunk of the fold by default: 16 Mi rows of width 4 hold about 0.8 GiB of device buffers.
constexpr std::size_t default_fold_rows = std::size_t{1} << 24;

class cuda_cross_folder final : public cross_folder {
 public:
  cuda_cross_folder(std::size_t w, std::size_t chunk_rows)
    : w_(w), stride_g_(1 + 2 * w + w * w), chunk_(chunk_rows != 0 ? chunk_rows : default_fold_rows),
      scratch_(stream_.get()), state_(0, stream_.get()), num_runs_(1, stream_.get())
  {
    SHRINK_EXPECTS(w >= 1 && w <= max_device_width, "--backend cuda: at most " + std::to_string(max_device_width - 1) +
                                                      " covariate columns (use --backend cpu)");
  }

  void fold(const std::uint32_t* group, const double* z_rows, std::size_t rows, std::size_t groups) override
  {
    SHRINK_EXPECTS(groups >= groups_ && groups < (std::size_t{1} << 31), "internal: the number of groups fell");
    for (std::size_t i = 0; i < rows; ++i) SHRINK_EXPECTS(group[i] < groups, "internal: a group id out of range");
    grow(groups);
    for (std::size_t begin = 0; begin < rows; begin += chunk_)
      fold_chunk(group + begin, z_rows + begin * w_, std::min(chunk_, rows - begin));
    stream_.synchronize();  // the host rows may change once this returns
  }

  std::vector<double> state() override
  {
    std::vector<double> h(groups_ * stride_g_);
    if (!h.empty())
      SHRINK_CUDA_TRY(cudaMemcpyAsync(h.data(), state_.data(), h.size() * sizeof(double), cudaMemcpyDeviceToHost, stream_.get()));
    stream_.synchronize();
    return h;
  }

 private:
  /// Room for `groups` groups, the new ones empty (all zero: cross_product_update's start).
  void grow(std::size_t groups)
  {
    if (groups * stride_g_ > state_.size()) {
      device_buffer<double> bigger(std::max(groups, 2 * groups_) * stride_g_, stream_.get());
      if (groups_ > 0)
        SHRINK_CUDA_TRY(cudaMemcpyAsync(bigger.data(), state_.data(), groups_ * stride_g_ * sizeof(double),
                                        cudaMemcpyDeviceToDevice, stream_.get()));
      SHRINK_CUDA_TRY(cudaMemsetAsync(bigger.data() + groups_ * stride_g_, 0,
                                      (bigger.size() - groups_ * stride_g_) * sizeof(double), stream_.get()));
      state_ = std::move(bigger);
    }
    groups_ = groups;
  }

  /// Sorts a chunk's ids (with each row's index), finds the runs and folds them.
  void fold_chunk(const std::uint32_t* group, const double* z_rows, std::size_t n)
  {
    cudaStream_t s = stream_.get();
    if (keys_.size() < n) {
      keys_ = device_buffer<std::uint32_t>(n, s);
      sorted_keys_ = device_buffer<std::uint32_t>(n, s);
      rows_ = device_buffer<std::uint32_t>(n, s);
      row_of_ = device_buffer<std::uint32_t>(n, s);
      starts_ = device_buffer<std::int64_t>(n, s);
      z_ = device_buffer<double>(n * w_, s);
    }
    SHRINK_CUDA_TRY(cudaMemcpyAsync(keys_.data(), group, n * sizeof(std::uint32_t), cudaMemcpyHostToDevice, s));
    SHRINK_CUDA_TRY(cudaMemcpyAsync(z_.data(), z_rows, n * w_ * sizeof(double), cudaMemcpyHostToDevice, s));
    iota_kernel<<<blocks_for(n), block_threads, 0, s>>>(rows_.data(), n);
    SHRINK_CUDA_CHECK_LAUNCH();
    // LSD radix sort is stable: each group's rows keep their input order, which the fold relies on.
    std::size_t bytes = 0;
    const int end_bit = key_bits(groups_);
    SHRINK_CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys_.data(), sorted_keys_.data(), rows_.data(),
                                                    row_of_.data(), n, 0, end_bit, s));
    SHRINK_CUDA_TRY(cub::DeviceRadixSort::SortPairs(scratch_.get(bytes), bytes, keys_.data(), sorted_keys_.data(),
                                                    rows_.data(), row_of_.data(), n, 0, end_bit, s));
    const auto* keys = reinterpret_cast<const std::int32_t*>(sorted_keys_.data());  // ids < 2^31
    const auto count = static_cast<std::int64_t>(n);
    bytes = 0;
    const auto index = thrust::counting_iterator<std::int64_t>(0);
    SHRINK_CUDA_TRY(cub::DeviceSelect::If(nullptr, bytes, index, starts_.data(), num_runs_.data(), count, run_head{keys}, s));
    SHRINK_CUDA_TRY(cub::DeviceSelect::If(scratch_.get(bytes), bytes, index, starts_.data(), num_runs_.data(), count,
                                          run_head{keys}, s));
    const cross_runs_ref runs{keys, row_of_.data(), starts_.data(), num_runs_.data(), count};
    const auto max_runs = static_cast<std::int64_t>(std::min(n, groups_));
    const unsigned grid = blocks_for(static_cast<std::size_t>(max_runs));
    // Widths known at compile time fold in registers (the same operations in the same order).
    switch (w_) {
      case 2: fold_cross_runs_kernel<2><<<grid, block_threads, 0, s>>>(state_.data(), z_.data(), runs, w_, max_runs); break;
      case 3: fold_cross_runs_kernel<3><<<grid, block_threads, 0, s>>>(state_.data(), z_.data(), runs, w_, max_runs); break;
      case 4: fold_cross_runs_kernel<4><<<grid, block_threads, 0, s>>>(state_.data(), z_.data(), runs, w_, max_runs); break;
      case 5: fold_cross_runs_kernel<5><<<grid, block_threads, 0, s>>>(state_.data(), z_.data(), runs, w_, max_runs); break;
      default: fold_cross_runs_kernel<0><<<grid, block_threads, 0, s>>>(state_.data(), z_.data(), runs, w_, max_runs); break;
    }
    SHRINK_CUDA_CHECK_LAUNCH();
  }

  std::size_t w_, stride_g_, chunk_;
  std::size_t groups_ = 0;
  cuda_stream stream_;  // before the buffers: they free on it
  device_scratch scratch_;
  device_buffer<double> state_;
  device_buffer<std::int64_t> num_runs_;
  device_buffer<std::uint32_t> keys_, sorted_keys_, rows_, row_of_;
  device_buffer<std::int64_t> starts_;
  device_buffer<double> z_;
};

}  // namespace

std::unique_ptr<cross_reducer> make_cuda_cross_reducer(const double* x, std::size_t rows, std::size_t width)
{
  return std::make_unique<cuda_cross_reducer>(x, rows, width);
}

std::unique_ptr<cross_folder> make_cuda_cross_folder(std::size_t w, std::size_t chunk_rows)
{
  return std::make_unique<cuda_cross_folder>(w, chunk_rows);
}

}  // namespace shrink::detail
