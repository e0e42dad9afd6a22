// shrink._shrink: the subcommands of the shrink executable run in this process, with raw rows
// folded straight from NumPy / Arrow buffers and the per-group table handed back as arrays. The
// Python package (python/shrink) turns its keyword arguments into the command's options, so the
// options, checks, messages, fits, JSON and report are the command's own.

#include "cli/commands.hpp"
#include "io/array_fold.hpp"
#include "io/summaries.hpp"

#include <shrink/config.hpp>
#include <shrink/error.hpp>
#include <shrink/simulate.hpp>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <charconv>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

namespace nb = nanobind;
using namespace shrink;

namespace {

using array = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu, nb::ndim<1>>;

/// The element width of an integer array (any signed integer type), else an error naming `what`.
int int_bytes(const array& a, const char* what)
{
  if (a.dtype().code != static_cast<std::uint8_t>(nb::dlpack::dtype_code::Int))
    throw error(std::string(what) + " must be signed integers");
  return a.dtype().bits / 8;
}

/// A key description from Python: ("int", keys), ("text", offsets, bytes) or ("codes", codes,
/// dictionary) with the dictionary ("int", int64 keys) or ("text", offsets, bytes). The arrays
/// stay referenced by `spec` while the keys are used.
io::key_array key_array_of(const nb::tuple& spec, io::key_array* dictionary)
{
  const std::string kind = nb::cast<std::string>(spec[0]);
  io::key_array k;
  if (kind == "int" || kind == "codes") {
    const array ints = nb::cast<array>(spec[1]);
    k.ints = ints.data();
    k.int_bytes = int_bytes(ints, "group keys");
    if (kind == "codes") {
      const nb::tuple d = nb::cast<nb::tuple>(spec[2]);
      *dictionary = key_array_of(d, nullptr);
      k.dictionary = dictionary;
      k.dictionary_size = nb::cast<array>(d[1]).shape(0) - (nb::cast<std::string>(d[0]) == "text" ? 1 : 0);
    }
  } else {
    const array offsets = nb::cast<array>(spec[1]), bytes = nb::cast<array>(spec[2]);
    k.offsets = offsets.data();
    k.offset_bytes = int_bytes(offsets, "text offsets");
    k.text = static_cast<const char*>(bytes.data());
  }
  return k;
}

/// Folds the batches of `rows` (an iterable of (keys, values) pairs) into the group table.
io::group_table fold_batches(nb::handle rows, const std::string& value_name, int threads, io::value_kind kind)
{
  io::array_fold fold(threads, value_name, kind);
  for (nb::handle item : rows) {
    const nb::tuple batch = nb::cast<nb::tuple>(item);
    io::key_array dictionary;
    const io::key_array keys = key_array_of(nb::cast<nb::tuple>(batch[0]), &dictionary);
    const array values = nb::cast<array>(batch[1]);
    const auto dtype = values.dtype();
    if (dtype != nb::dtype<double>() && dtype != nb::dtype<float>())
      throw error(value_name + ": values must be float64 or float32");
    fold.add(keys, {values.data(), dtype == nb::dtype<float>()}, values.shape(0));
  }
  return fold.finish();
}

/// A capsule that keeps `owner` (not null) alive while an array viewing its memory lives.
nb::capsule owner_capsule(const std::shared_ptr<const void>& owner)
{
  return nb::capsule(new std::shared_ptr<const void>(owner),
                     [](void* p) noexcept { delete static_cast<std::shared_ptr<const void>*>(p); });
}

/// n numbers from `data` as a NumPy array: a view of them where `owner` holds them, else a copy.
template <class T>
nb::object array_object(const T* data, std::size_t n, const std::shared_ptr<const void>& owner)
{
  if (owner) return nb::cast(nb::ndarray<nb::numpy, T, nb::ndim<1>>(const_cast<T*>(data), {n}, owner_capsule(owner)));
  auto* v = new std::vector<T>(data, data + n);
  nb::capsule held(v, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::cast(nb::ndarray<nb::numpy, T, nb::ndim<1>>(v->data(), {n}, held));
}

/// Keys as an int64 array when they are integers, or text keys that are all whole numbers written
/// as int64 writes them (as the command's integer keys), else a list of str.
nb::object keys_object(io::key_view keys, const std::shared_ptr<const void>& owner)
{
  if (keys.integer()) return array_object(keys.integers(), keys.size(), owner);
  std::vector<std::int64_t> ints(keys.size());
  bool integers = true;
  for (std::size_t j = 0; j < keys.size() && integers; ++j) {
    const std::string& k = keys.text(j);
    const auto r = std::from_chars(k.data(), k.data() + k.size(), ints[j]);
    integers = r.ec == std::errc() && r.ptr == k.data() + k.size() && !k.empty() && k[0] != '+' &&
               (k.size() == 1 || (k[0] != '0' && !(k[0] == '-' && k[1] == '0')));
  }
  if (integers) return array_object(ints.data(), ints.size(), nullptr);
  nb::list out;
  for (std::size_t j = 0; j < keys.size(); ++j) out.append(nb::str(keys.text(j).data(), keys.text(j).size()));
  return out;
}

/// A column as a NumPy array (a view where `owner` holds the result it points into, else a copy:
/// the result ends with the command).
nb::object column_object(const io::result_column& c, std::size_t n, const std::shared_ptr<const void>& owner)
{
  if (c.integers != nullptr) return array_object(c.integers, n, owner);
  if (c.values != nullptr) return array_object(c.values, n, owner);
  auto* v = new std::vector<double>(n, c.fill);
  nb::capsule held(v, [](void* p) noexcept { delete static_cast<std::vector<double>*>(p); });
  return nb::cast(nb::ndarray<nb::numpy, double, nb::ndim<1>>(v->data(), {n}, held));
}

/// The columns of a table (keys, then {name: array}) as Python objects.
nb::tuple table_object(io::key_view keys, const std::vector<io::result_column>& columns,
                       const std::shared_ptr<const void>& owner = nullptr)
{
  nb::dict out;
  for (const io::result_column& c : columns) out[c.name.c_str()] = column_object(c, keys.size(), owner);
  return nb::make_tuple(keys_object(keys, owner), out);
}

/// std::cerr into a string while the command runs (its report becomes the result's repr).
class capture_stderr {
 public:
  capture_stderr() : old_(std::cerr.rdbuf(text_.rdbuf())) {}
  ~capture_stderr() { std::cerr.rdbuf(old_); }
  std::string text() const { return text_.str(); }

 private:
  std::ostringstream text_;
  std::streambuf* old_;
};

/// fit's raw rows in GPU memory: (keys pointer, key bytes, keys' stream, values pointer, value
/// bytes, values' stream, rows), as the Python layer read them from the array interfaces.
io::group_table fold_device_tuple(const nb::tuple& d, const std::string& value_name, int threads, io::value_kind kind)
{
  if (kind != io::value_kind::any)
    throw error("GPU arrays are folded for the normal family only: copy them to host memory for binomial or poisson");
  const auto column = [&](std::size_t at) {
    return detail::device_column{reinterpret_cast<const void*>(nb::cast<std::uintptr_t>(d[at])), nb::cast<int>(d[at + 1]),
                                 nb::cast<std::uintptr_t>(d[at + 2])};
  };
  return io::fold_device_rows(column(0), column(3), nb::cast<std::size_t>(d[6]), value_name, threads);
}

/// Runs subcommand `args[0]` with the rest of `args`; `rows` (or None) gives fit's raw rows from
/// memory, `device_rows` (or None) from GPU memory (fold_device_tuple). Returns (report, keys,
/// {column: array}) (keys and columns None unless fit ran).
nb::tuple run(const std::vector<std::string>& args, nb::object rows, const std::string& value_name, nb::object device_rows)
{
  CLI::App app{"shrink"};
  app.require_subcommand(1);
  std::string command = args.empty() ? "" : args[0];
  nb::object keys = nb::none();
  nb::dict columns;
  cli::command run_command;
  if (command == "fit") {
    cli::fit_hooks hooks;
    if (!rows.is_none())
      hooks.raw_rows = [&](int threads, io::value_kind kind) { return fold_batches(rows, value_name, threads, kind); };
    if (!device_rows.is_none()) {
      hooks.raw_rows = [&](int threads, io::value_kind kind) {
        return fold_device_tuple(nb::cast<nb::tuple>(device_rows), value_name, threads, kind);
      };
      hooks.device_resident = true;
    }
    hooks.groups = [&](io::key_view k, const std::vector<io::result_column>& c, std::shared_ptr<const void> owner) {
      const nb::tuple table = table_object(k, c, owner);
      keys = table[0];
      columns = nb::cast<nb::dict>(table[1]);
    };
    run_command = cli::add_fit_command(app, std::move(hooks));
  } else if (command == "generate") {
    run_command = cli::add_generate_command(app);
  } else if (command == "simulate") {
    run_command = cli::add_simulate_command(app);
  } else {
    throw error("unknown command '" + command + "'");
  }
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  capture_stderr report;
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    throw error(e.what());
  }
  run_command();
  return nb::make_tuple(report.text(), keys, columns);
}

/// A summaries part as (keys, {column: array}) with the summaries CSV's columns.
nb::tuple part_object(const io::summary_part& part)
{
  if (part.family == io::summary_family::normal) {
    std::vector<double> hi, lo;
    return table_object(part.groups.keys, io::summaries_columns(part.groups, hi, lo));
  }
  if (part.family == io::summary_family::covariates) {
    std::vector<std::vector<double>> storage;
    return table_object(part.cross.keys, io::summaries_columns(part.cross, storage));
  }
  return table_object(part.counts.keys, io::summaries_columns(part.counts, part.family == io::summary_family::binomial
                                                                               ? count_family::binomial
                                                                               : count_family::poisson));
}

/// `shrink summarize` of raw rows: from memory (`rows`, as run's), from GPU memory (`device_rows`,
/// as run's: folded where they lie) or, when both are None, from the file or .npy columns of
/// `input` (with `covariates`: the file, its cross products, the value less `offset` when given).
/// Returns (keys, {column: array}) of the summaries CSV.
nb::tuple summarize(nb::object rows, const std::string& family_name, const std::string& path, const std::string& group,
                    const std::string& value, const std::string& exposure, const std::string& group_npy,
                    const std::string& value_npy, int threads, const std::vector<std::string>& covariates,
                    const std::string& offset, nb::object device_rows)
{
  io::summary_family family = io::summary_family::normal;
  if (family_name == "binomial")
    family = io::summary_family::binomial;
  else if (family_name == "poisson")
    family = io::summary_family::poisson;
  else if (family_name != "normal")
    throw error("unknown --family '" + family_name + "' (choose normal, binomial or poisson)");
  io::summary_part part;
  if (!device_rows.is_none()) {
    part.family = family;
    part.groups = fold_device_tuple(nb::cast<nb::tuple>(device_rows), value, threads,
                                    family == io::summary_family::normal ? io::value_kind::any : io::value_kind::count);
  } else if (rows.is_none() || !covariates.empty() || !offset.empty()) {
    part = io::read_raw_summaries({path, group, value, exposure, group_npy, value_npy, false, covariates, offset}, family, threads);
  } else {
    const io::value_kind kind = family == io::summary_family::normal     ? io::value_kind::any
                                : family == io::summary_family::binomial ? io::value_kind::binary
                                                                         : io::value_kind::count;
    part.family = family;
    part.groups = fold_batches(rows, value, threads, kind);
    if (family != io::summary_family::normal) part.counts = io::count_table_of(part.groups);
  }
  return part_object(part);
}

/// The merge of summaries files (paths, in this order) as one part: (family, keys, {column: array}).
/// Each stage of the Dask layer's tree merge.
nb::tuple merge_summaries(const std::vector<std::string>& paths, int threads)
{
  std::vector<io::summary_part> parts;
  for (const std::string& p : paths) parts.push_back(io::read_summaries(p));
  const io::summary_part merged = io::merge_summaries(std::move(parts), threads);
  const nb::tuple table = part_object(merged);
  return nb::make_tuple(io::to_string(merged.family), table[0], table[1]);
}

/// What a DLPack exporter (an object with __dlpack__, or its capsule) describes: (holder, data
/// pointer, dtype code ('i' signed, 'u' unsigned, 'f' float, '?' other), bytes per element, shape,
/// strides in elements, DLPack device type, device id). The holder keeps the exported memory alive
/// while the pointer is used. No stream is passed to __dlpack__, so the producer makes the data
/// ready on the legacy default stream (the array API's rule), which the fold waits for.
nb::tuple dlpack_column(nb::handle o)
{
  nb::ndarray<nb::ro> a;
  if (!nb::try_cast(o, a)) throw error("cannot read the array through DLPack (__dlpack__ failed or gave no tensor)");
  const auto code = static_cast<nb::dlpack::dtype_code>(a.dtype().code);
  const char kind = code == nb::dlpack::dtype_code::Int    ? 'i'
                    : code == nb::dlpack::dtype_code::UInt  ? 'u'
                    : code == nb::dlpack::dtype_code::Float ? 'f'
                                                            : '?';
  nb::list shape, strides;
  for (std::size_t i = 0; i < a.ndim(); ++i) {
    shape.append(a.shape(i));
    strides.append(a.stride(i));
  }
  return nb::make_tuple(nb::cast(a), reinterpret_cast<std::uintptr_t>(a.data()), std::string(1, kind),
                        a.dtype().bits / 8, nb::tuple(shape), nb::tuple(strides), a.device_type(), a.device_id());
}

}  // namespace

NB_MODULE(_shrink, m)
{
  m.doc() = "shrink's C++ library: the subcommands run in-process on data in memory";
  static nb::object error_type = nb::steal(PyErr_NewException("shrink.Error", PyExc_ValueError, nullptr));
  m.attr("Error") = error_type;
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const shrink::error& e) {
      PyErr_SetString(error_type.ptr(), e.what());
    } catch (const CLI::Error& e) {
      PyErr_SetString(error_type.ptr(), e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "out of memory");
    }
  });
  m.def("run", &run, nb::arg("args"), nb::arg("rows").none() = nb::none(), nb::arg("value_name") = "y",
        nb::arg("device_rows").none() = nb::none());
  m.def("dlpack_column", &dlpack_column, nb::arg("array"));
  m.def("summarize", &summarize, nb::arg("rows").none(), nb::arg("family"), nb::arg("path"), nb::arg("group"),
        nb::arg("value"), nb::arg("exposure"), nb::arg("group_npy"), nb::arg("value_npy"), nb::arg("threads"),
        nb::arg("covariates") = std::vector<std::string>{}, nb::arg("offset") = "", nb::arg("device_rows").none() = nb::none());
  m.def("merge_summaries", &merge_summaries, nb::arg("paths"), nb::arg("threads") = 0);
  m.def("split_replicates", &shrink::split_replicates, nb::arg("replicates"), nb::arg("parts"));
  m.attr("has_cuda") = bool(SHRINK_HAS_CUDA);
}
