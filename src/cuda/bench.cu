// `shrink bench`, GPU half: stage times with device events on device-resident rows, and end to
// end from host memory, plus the copy bandwidths the stage bandwidths are compared with.

#include "bench.hpp"

#include "cuda_engine.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

namespace shrink::detail {
namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0)
{
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

/// Best-of-`repeats` device time of `work(stream)` between two events.
template <class Work>
double event_ms(cudaStream_t stream, int repeats, Work&& work)
{
  cuda_event start(true), stop(true);
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < repeats; ++r) {
    start.record(stream);
    work();
    stop.record(stream);
    best = std::min(best, static_cast<double>(cuda_event::elapsed_ms(start, stop)));
  }
  return best;
}

template <class Work>
double wall_ms(int repeats, Work&& work)
{
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = clock_type::now();
    work();
    best = std::min(best, ms_since(t0));
  }
  return best;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof(double)) == 0; }

/// Groups whose row of the per-group columns differs, bit for bit, between a and b (every group
/// when the columns differ in size).
std::size_t rows_that_differ(const fit_result& a, const fit_result& b)
{
  const std::size_t J = a.n.size();
  const std::vector<double> fit_result::*columns[] = {&fit_result::mean,     &fit_result::se, &fit_result::shrinkage,
                                                      &fit_result::estimate, &fit_result::sd, &fit_result::lower,
                                                      &fit_result::upper,    &fit_result::james_stein};
  bool sizes_match = b.n.size() == J;
  for (auto c : columns) sizes_match = sizes_match && (a.*c).size() == (b.*c).size();
  if (!sizes_match) return std::max(J, b.n.size());
  std::size_t differ = 0;
  for (std::size_t j = 0; j < J; ++j) {
    bool same = a.n[j] == b.n[j];
    for (auto c : columns)
      if (!(a.*c).empty()) same = same && same_bits((a.*c)[j], (b.*c)[j]);
    differ += same ? 0 : 1;
  }
  return differ;
}

}  // namespace

gpu_bench_result bench_cuda(const raw_data_view& data, int repeats)
{
  SHRINK_EXPECTS(cuda_device_usable(), "no usable CUDA GPU on this machine");
  SHRINK_EXPECTS(data.groups >= 2, "the benchmark needs at least 2 groups");
  repeats = std::max(repeats, 1);
  gpu_bench_result r;
  r.device = cuda_device_name();
  cuda_stream stream;
  const cudaStream_t s = stream.get();

  {  // The yardsticks: a large device-to-device copy, and pinned host-to-device.
    const std::size_t bytes = std::size_t{1} << 30;
    device_buffer<unsigned char> a(bytes, s), b(bytes, s);
    SHRINK_CUDA_TRY(cudaMemsetAsync(a.data(), 1, bytes, s));
    const double d2d = event_ms(s, repeats + 2, [&] {
      SHRINK_CUDA_TRY(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, s));
    });
    r.copy_gbs = 2.0 * static_cast<double>(bytes) / (d2d * 1e6);
    pinned_buffer<unsigned char> h(std::size_t{256} << 20);
    std::fill(h.data(), h.data() + h.size(), 1);
    const double h2d = event_ms(s, repeats + 2, [&] {
      SHRINK_CUDA_TRY(cudaMemcpyAsync(a.data(), h.data(), h.size(), cudaMemcpyHostToDevice, s));
    });
    r.h2d_gbs = static_cast<double>(h.size()) / (h2d * 1e6);
    stream.synchronize();
  }

  std::unique_ptr<cuda_engine> from_device_rows;  // checked against the host-rows engine below
  {  // Summaries of device-resident rows: the stage alone. Its device memory (CUB's scratch
     // included) is allocated and checked against free memory at construction, before timing, and
     // one untimed run loads the kernels, so the events bracket the stage's work: zeroing the
     // table, the key checks and their one read-back, the sorts, the run boundaries and the folds.
    device_buffer<std::int32_t> d_keys(data.rows, s);
    device_buffer<double> d_values(data.rows, s);
    SHRINK_CUDA_TRY(cudaMemcpyAsync(d_keys.data(), data.group_ids, data.rows * sizeof(std::int32_t),
                                    cudaMemcpyHostToDevice, s));
    SHRINK_CUDA_TRY(cudaMemcpyAsync(d_values.data(), data.values, data.rows * sizeof(double), cudaMemcpyHostToDevice, s));
    {
      device_rows_summarizer summarizer(data.rows, data.groups, s);
      summarize_report report;
      summarizer.run(d_keys.data(), d_values.data(), &report);
      r.summarize.kernel_ms = event_ms(s, repeats, [&] { summarizer.run(d_keys.data(), d_values.data(), &report); });
      r.chunk_rows = report.chunk_rows;
      r.chunks = report.chunks;
      r.sorted_chunks = report.sorted_chunks;
      stream.synchronize();
    }  // its chunk buffers go back to the pool before the second engine takes its own
    from_device_rows = std::make_unique<cuda_engine>(d_keys.data(), d_values.data(), data.rows, data.groups,
                                                     cuda_engine_options{});
  }  // the device rows are freed here: the engine no longer needs them

  // End to end from host memory: staging, transfers and the stage.
  std::unique_ptr<cuda_engine> engine;
  r.summarize.end_to_end_ms = wall_ms(repeats, [&] {
    engine.reset();
    engine = std::make_unique<cuda_engine>(data, cuda_engine_options{});
  });

  // The tau stage returns only O(1) sums to the host: its device and wall times differ by the
  // read-backs between its reductions. One untimed run of each stage first: it loads the
  // kernels, and the memory its buffers take stays in the device pool (its release threshold is
  // set once, device_buffer.hpp), so timed runs reuse it instead of mapping new memory.
  posterior_params p = tau_stage(*engine);
  engine->posteriors_on_device_async(p);
  SHRINK_CUDA_TRY(cudaStreamSynchronize(engine->stream()));
  r.tau.kernel_ms = event_ms(engine->stream(), repeats, [&] { p = tau_stage(*engine); });
  r.tau.end_to_end_ms = wall_ms(repeats, [&] { p = tau_stage(*engine); });

  r.posterior.kernel_ms = event_ms(engine->stream(), repeats, [&] { engine->posteriors_on_device_async(p); });
  r.posterior.end_to_end_ms = wall_ms(repeats, [&] { engine->posteriors(p, r.columns); });
  r.params = p;

  const posterior_params pd = tau_stage(*from_device_rows);
  r.device_rows_params_equal = same_bits(pd.tau2, p.tau2) && same_bits(pd.mu, p.mu);
  fit_result d;
  from_device_rows->posteriors(pd, d);
  r.device_rows_mismatches = rows_that_differ(r.columns, d);
  return r;
}

}  // namespace shrink::detail
