// The CPU cross_reducer (each pack of entries by the fixed reduction over the rows, parallel.hpp:
// the GPU's tree over the GPU's terms) and cross_folder (the threads split the groups, never a
// group's rows: each group's rows in input order, the same bits for any thread count).

#include "../api/cross_reduce.hpp"

#include "../common/cross_products.hpp"
#include "../common/macros.hpp"
#include "parallel.hpp"

#include <algorithm>
#include <type_traits>
#include <vector>

namespace shrink::detail {
namespace {

class cpu_cross_reducer final : public cross_reducer {
 public:
  cpu_cross_reducer(const double* x, std::size_t rows, std::size_t width, int threads)
    : x_(x, x + rows * width), rows_(rows), width_(width), threads_(thread_count(threads))
  {
  }

  void weighted_outer(const double* c, double* lower) override
  {
    const std::size_t entries = packed_entries(width_);
    for (std::size_t pack = 0; pack < cross_packs(entries); ++pack) {
      const cross_pack s = reduce<cross_pack>(rows_, threads_, [&](std::size_t j) {
        return weighted_outer_pack(c[j], x_.data() + j * width_, width_, pack);
      });
      copy_pack(s, pack, entries, lower);
    }
  }

  void weighted_rows(const double* c, double* out) override { sum_weighted_rows(c, x_.data(), rows_, width_, threads_, out); }

  /// sum_j c_j x_j (c: nullptr for unit weights) over rows at `x`.
  static void sum_weighted_rows(const double* c, const double* x, std::size_t rows, std::size_t width, int threads, double* out)
  {
    for (std::size_t pack = 0; pack < cross_packs(width); ++pack) {
      const cross_pack s = reduce<cross_pack>(rows, threads, [&](std::size_t j) {
        return weighted_row_pack(c != nullptr ? c[j] : 1.0, x + j * width, width, pack);
      });
      copy_pack(s, pack, width, out);
    }
  }

 private:
  static void copy_pack(const cross_pack& s, std::size_t pack, std::size_t entries, double* out)
  {
    const std::size_t first = pack * cross_pack_width;
    std::copy(s.v, s.v + std::min(cross_pack_width, entries - first), out + first);
  }

  std::vector<double> x_;  // a copy: the caller's rows may move
  std::size_t rows_, width_;
  int threads_;
};

/// The rows into each group's state (n, shift, mean, co-moments: 1 + 2 w + w^2 numbers a group), the groups j with
/// j % owners == owner only, in row order. W: the width w when known at compile time, else 0.
template <std::size_t W>
void fold_owned_rows(const std::uint32_t* group, const double* z_rows, std::size_t rows, std::size_t w,
                     std::size_t owners, std::size_t owner, std::vector<double>& state)
{
  const std::size_t width = W != 0 ? W : w, stride_g = 1 + 2 * width + width * width;
  std::vector<double> delta(width);
  // Groups come in random order: the state of a row some rows ahead is prefetched.
  constexpr std::size_t ahead = 16;
  for (std::size_t r = 0; r < rows; ++r) {
    if (r + ahead < rows && (owners == 1 || group[r + ahead] % owners == owner)) {
      const char* next = reinterpret_cast<const char*>(&state[group[r + ahead] * stride_g]);
      for (std::size_t b = 0; b < stride_g * sizeof(double); b += 64) __builtin_prefetch(next + b, 1);
    }
    const std::size_t j = group[r];
    if (owners != 1 && j % owners != owner) continue;
    double* g = &state[j * stride_g];
    cross_product_update(g[0], g + 1, g + 1 + width, g + 1 + 2 * width, z_rows + r * width, delta.data(), width);
  }
}

class cpu_cross_folder final : public cross_folder {
 public:
  cpu_cross_folder(std::size_t w, int threads) : w_(w), workers_(thread_count(threads)) {}

  void fold(const std::uint32_t* group, const double* z_rows, std::size_t rows, std::size_t groups) override
  {
    state_.resize(groups * (1 + 2 * w_ + w_ * w_), 0.0);
    // Few rows: one thread (a thread per call would cost more than the fold).
    const int workers = rows < 4096 ? 1 : workers_;
    const auto owners = static_cast<std::size_t>(workers);
    run_workers(workers, [&](int t) {
      const auto fold = [&](auto width) {
        fold_owned_rows<decltype(width)::value>(group, z_rows, rows, w_, owners, static_cast<std::size_t>(t), state_);
      };
      // Widths known at compile time unroll the update's loops (the same operations in the same order).
      switch (w_) {
        case 2: fold(std::integral_constant<std::size_t, 2>{}); break;
        case 3: fold(std::integral_constant<std::size_t, 3>{}); break;
        case 4: fold(std::integral_constant<std::size_t, 4>{}); break;
        case 5: fold(std::integral_constant<std::size_t, 5>{}); break;
        default: fold(std::integral_constant<std::size_t, 0>{}); break;
      }
    });
  }

  std::vector<double> state() override { return std::move(state_); }

 private:
  std::size_t w_;
  int workers_;
  std::vector<double> state_;
};

}  // namespace

std::unique_ptr<cross_folder> make_cross_folder(backend use, std::size_t w, int threads)
{
  SHRINK_EXPECTS(use != backend::automatic, "internal: resolve the backend before folding");
  if (use == backend::cuda) return make_cuda_cross_folder(w);
  return std::make_unique<cpu_cross_folder>(w, threads);
}

std::unique_ptr<cross_reducer> make_cross_reducer(backend use, const double* x, std::size_t rows, std::size_t width,
                                                  int threads)
{
  SHRINK_EXPECTS(use != backend::automatic, "internal: resolve the backend before making a reducer");
  if (use == backend::cuda) return make_cuda_cross_reducer(x, rows, width);
  return std::make_unique<cpu_cross_reducer>(x, rows, width, threads);
}

void sum_rows(backend use, const double* x, std::size_t rows, std::size_t width, int threads, double* out)
{
  SHRINK_EXPECTS(use != backend::automatic, "internal: resolve the backend before summing");
  if (use == backend::cuda) {
    const std::vector<double> ones(rows, 1.0);
    make_cuda_cross_reducer(x, rows, width)->weighted_rows(ones.data(), out);
    return;
  }
  cpu_cross_reducer::sum_weighted_rows(nullptr, x, rows, width, thread_count(threads), out);
}

}  // namespace shrink::detail
