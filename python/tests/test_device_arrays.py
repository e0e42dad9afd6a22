"""GPU arrays into shrink.fit without a host copy (issue 14). On a GPU: columns in device memory
(cuda_memory.DeviceArray, __cuda_array_interface__ v3 over cudaMalloc) fit exactly as shrink.fit
fits the same NumPy arrays (the host fold, itself checked against the command in test_fit.py), on
the CUDA backend, with the note that says so. Everywhere: malformed interfaces, unsupported dtypes,
strided views, mixed columns and a build or machine without a GPU are one-line shrink.Errors."""

import numpy as np
import pytest

import shrink
from conftest import TIMINGS, assert_same_groups
from cuda_memory import DeviceArray, DLPackArray, device_count

gpu = pytest.mark.skipif(not (shrink.has_cuda and device_count() > 0), reason="no usable CUDA GPU here")

DEVICE_NOTE = ("device-resident input: the rows were folded on the GPU where they lie; only the per-group table came "
               "to the host")


class FakeDeviceArray:
    """Only a __cuda_array_interface__ (no memory behind it unless the pointer is real)."""

    def __init__(self, length=4, typestr="<f8", pointer=0x1000, **entries):
        self.__cuda_array_interface__ = {"shape": (length,), "typestr": typestr, "data": (pointer, False),
                                         "version": 3, **entries}


def fit_error(keys, values, **options):
    with pytest.raises(shrink.Error) as e:
        shrink.fit({"g": keys, "y": values}, group="g", value="y", **options)
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("cai, want", [
    ({"shape": (4,), "typestr": "<f8", "version": 3}, "its __cuda_array_interface__ is malformed"),
    ({"shape": (4,), "typestr": "f8", "data": (0x1000, False), "version": 3}, "its __cuda_array_interface__ is malformed"),
    ({"shape": (4,), "typestr": "<f8", "data": (0x1000, False)}, "its __cuda_array_interface__ is malformed"),
    ({"shape": "four", "typestr": "<f8", "data": (0x1000, False), "version": 3}, "its __cuda_array_interface__ is malformed"),
    ({"shape": (2, 2), "typestr": "<f8", "data": (0x1000, False), "version": 3}, "must be one-dimensional"),
    ({"shape": (4,), "typestr": "<f8", "data": (0x1000, False), "version": 3, "strides": (16,)}, "is a strided view"),
    ({"shape": (4,), "typestr": "<f8", "data": (0x1000, False), "version": 3, "mask": FakeDeviceArray(typestr="|b1")},
     "a masked GPU array"),
    ({"shape": (4,), "typestr": "<f8", "data": (0x1000, False), "version": 3, "stream": 0}, "gives stream 0"),
    ({"shape": (4,), "typestr": "<f8", "data": (0, False), "version": 3}, "gives a null data pointer"),
    ({"shape": (4,), "typestr": ">f8", "data": (0x1000, False), "version": 3}, "big-endian GPU arrays"),
])
def test_malformed_interfaces_are_one_line_errors(cai, want):
    bad = FakeDeviceArray()
    bad.__cuda_array_interface__ = cai
    msg = fit_error(FakeDeviceArray(typestr="<i4"), bad)
    assert msg.startswith("the value column 'y'") and want in msg, msg


@pytest.mark.parametrize("keys, values, want", [
    ("<u4", "<f8", "group keys in GPU memory must be int8, int16, int32 or int64 (the group column 'g' is uint32)"),
    ("<f8", "<f8", "group keys in GPU memory must be int8, int16, int32 or int64 (the group column 'g' is float64)"),
    ("<i8", "<i8", "values in GPU memory must be float32 or float64 (the value column 'y' is int64)"),
    ("<i8", "<f2", "values in GPU memory must be float32 or float64 (the value column 'y' is float16)"),
])
def test_unsupported_dtypes_are_one_line_errors(keys, values, want):
    msg = fit_error(FakeDeviceArray(typestr=keys), FakeDeviceArray(typestr=values))
    assert msg.startswith(want) and msg.endswith("convert them on the device (astype)"), msg


def test_mixed_and_mismatched_columns_are_one_line_errors():
    assert fit_error(FakeDeviceArray(typestr="<i4"), np.zeros(4)) == (
        "the group column 'g' is in GPU memory but the value column 'y' is not: give both on the GPU or both in host "
        "memory")
    assert fit_error(np.zeros(4, np.int32), FakeDeviceArray()).startswith("the value column 'y' is in GPU memory")
    assert fit_error(FakeDeviceArray(typestr="<i4", length=5), FakeDeviceArray()) == (
        "the group column 'g' has 5 rows but the value column 'y' has 4")


def test_only_the_normal_fit_of_raw_rows_reads_gpu_arrays():
    rows = {"g": FakeDeviceArray(typestr="<i4"), "y": FakeDeviceArray(), "x": FakeDeviceArray()}
    with pytest.raises(shrink.Error, match="^GPU arrays are read in place as raw rows only"):
        shrink.summarize(rows, group="g", value="y", covariates=["x"])
    with pytest.raises(shrink.Error, match="^GPU arrays are read in place as raw rows only"):
        shrink.fit(rows, group="g", estimate="y", variance="x")
    with pytest.raises(shrink.Error, match="^GPU arrays are folded for the normal family only"):
        shrink.fit(rows, group="g", value="y", family="binomial")
    with pytest.raises(shrink.Error, match="^--backend cpu: the rows are in GPU memory"):
        shrink.fit(rows, group="g", value="y", backend="cpu")


def test_dlpack_exports_that_fail_are_one_line_errors():
    class Refuses:
        def __dlpack_device__(self):
            return (2, 0)

        def __dlpack__(self, **kwargs):
            raise BufferError("no")

    class SaysCudaGivesHost:
        def __dlpack_device__(self):
            return (2, 0)

        def __dlpack__(self, **kwargs):
            return np.arange(4.0).__dlpack__(**kwargs)

    assert fit_error(FakeDeviceArray(typestr="<i4"), Refuses()) == (
        "the value column 'y': cannot read the array through DLPack (__dlpack__ failed or gave no tensor)")
    assert fit_error(FakeDeviceArray(typestr="<i4"), SaysCudaGivesHost()) == (
        "the value column 'y': __dlpack_device__ says CUDA but __dlpack__ exports device type 1")


def expect_no_gpu_or_not_device_memory(msg):
    """A made-up pointer: without CUDA in the build, or without a GPU, the fit says so; with one,
    the pointer is found not to be device memory before any kernel reads it."""
    if not shrink.has_cuda:
        assert msg.startswith("this build of shrink has no CUDA backend: GPU arrays need it"), msg
    elif device_count() == 0:
        assert msg.startswith("GPU arrays need a usable CUDA GPU and there is none here"), msg
    else:
        assert msg == "the group keys are not in GPU memory (the array interface's data pointer is not a device pointer)"


def test_well_formed_arrays_without_a_gpu_or_in_host_memory_are_one_line_errors():
    expect_no_gpu_or_not_device_memory(fit_error(FakeDeviceArray(typestr="<i4"), FakeDeviceArray()))
    # The same through DLPack capsules (read by the extension module).
    expect_no_gpu_or_not_device_memory(fit_error(DLPackArray(0x1000, np.int16, 4), DLPackArray(0x2000, np.float32, 4)))


class FakeCudfFrame:
    """What shrink reads of a cuDF DataFrame (a dask-cudf partition): its columns, each with a
    __cuda_array_interface__."""

    __module__ = "cudf.core.dataframe"

    def __init__(self, **columns):
        self._columns = columns
        self.columns = list(columns)

    def __getitem__(self, name):
        return self._columns[name]


def test_summarize_and_cudf_frames_read_gpu_arrays_as_fit_does():
    """shrink.summarize folds GPU columns where they lie, as shrink.fit does, and both take a cuDF
    DataFrame's columns (dask-cudf partitions): the same messages here as for a dict of the arrays."""
    def error(call, data):
        with pytest.raises(shrink.Error) as e:
            call(data, group="g", value="y")
        return str(e.value)

    rows = {"g": FakeDeviceArray(typestr="<i4"), "y": FakeDeviceArray()}
    expect_no_gpu_or_not_device_memory(error(shrink.summarize, rows))
    for call in (shrink.fit, shrink.summarize):
        assert error(call, FakeCudfFrame(**rows)) == error(call, rows)
    assert error(shrink.summarize, FakeCudfFrame(g=FakeDeviceArray(typestr="<f8"), y=FakeDeviceArray())).startswith(
        "group keys in GPU memory must be int8, int16, int32 or int64")
    assert error(shrink.fit, FakeCudfFrame(g=FakeDeviceArray(typestr="<i4"))) == "the cuDF DataFrame has no column 'y'"


def test_dlpack_layouts_dtypes_and_devices_are_one_line_errors():
    keys = DLPackArray(0x1000, np.int32, 4)
    assert fit_error(keys, DLPackArray(0x2000, np.float64, 4, stride=2)).startswith(
        "the value column 'y' is a strided view of GPU memory")
    assert fit_error(DLPackArray(0x1000, np.uint64, 4), DLPackArray(0x2000, np.float64, 4)).startswith(
        "group keys in GPU memory must be int8, int16, int32 or int64 (the group column 'g' is uint64)")
    assert fit_error(keys, DLPackArray(0x2000, np.float64, 4, device=1)) == (
        "the group column 'g' is on GPU 0 but the value column 'y' is on GPU 1: give both on one GPU")


def rows_of(key_dtype, value_dtype, rows=4000, groups=150, seed=5):
    """Rows in random order, keys negative and positive, values with a large common part."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(key_dtype)
    low = max(info.min, -10**6)
    pool = rng.choice(np.arange(low, min(low + 4 * groups, info.max + 1)), groups, replace=False).astype(key_dtype)
    g = pool[rng.integers(0, groups, rows)]
    y = (1000 + (g.astype(np.int64) % 5) + rng.normal(0, 1, rows)).astype(value_dtype)
    return g, y


def assert_fit_equals_host(g, y, **options):
    got = shrink.fit({"g": DeviceArray(g), "y": DeviceArray(y)}, group="g", value="y", **options)
    want = shrink.fit({"g": g, "y": y}, group="g", value="y", backend="cuda", **options)
    assert_same_groups(got.groups, want.groups)
    assert got.groups["group"].dtype == g.dtype
    strip = lambda s: {k: v for k, v in s.items() if k not in TIMINGS and k != "notes"}
    assert strip(got.summary) == strip(want.summary)
    assert got.summary["backend"] == "cuda"
    assert got.summary["notes"] == want.summary["notes"] + [DEVICE_NOTE]
    assert DEVICE_NOTE in repr(got)
    return got


@gpu
@pytest.mark.parametrize("key_dtype", [np.int8, np.int16, np.int32, np.int64])
@pytest.mark.parametrize("value_dtype", [np.float32, np.float64])
def test_device_rows_fit_as_the_same_numpy_arrays(key_dtype, value_dtype):
    g, y = rows_of(key_dtype, value_dtype)
    assert_fit_equals_host(g, y, tau_method="reml")


@gpu
def test_device_rows_with_a_stream_and_sizes_around_warps():
    for rows in (31, 32, 33, 1025):
        g, y = rows_of(np.int32, np.float64, rows=rows, groups=min(rows // 3, 40), seed=rows)
        assert_fit_equals_host(g, y, tau_method="mom")
    g, y = rows_of(np.int64, np.float64)
    for stream in (1, 2):  # the legacy and the per-thread default streams: waited for, same result
        got = shrink.fit({"g": DeviceArray(g, stream=stream), "y": DeviceArray(y, stream=stream)}, group="g", value="y")
        want = shrink.fit({"g": g, "y": y}, group="g", value="y", backend="cuda")
        assert_same_groups(got.groups, want.groups)


@gpu
def test_dlpack_rows_fit_as_the_same_numpy_arrays():
    g, y = rows_of(np.int16, np.float32)
    dg, dy = DeviceArray(g), DeviceArray(y)
    got = shrink.fit({"g": DLPackArray.of(dg), "y": DLPackArray.of(dy)}, group="g", value="y")
    want = shrink.fit({"g": g, "y": y}, group="g", value="y", backend="cuda")
    assert_same_groups(got.groups, want.groups)
    assert got.summary["notes"] == want.summary["notes"] + [DEVICE_NOTE]


@gpu
def test_device_rows_summarize_as_the_same_numpy_arrays():
    g, y = rows_of(np.int32, np.float64)
    want = shrink.summarize({"g": g, "y": y}, group="g", value="y")
    for data in ({"g": DeviceArray(g), "y": DeviceArray(y)}, FakeCudfFrame(g=DeviceArray(g), y=DeviceArray(y))):
        got = shrink.summarize(data, group="g", value="y")
        assert_same_groups(got, want)  # bit for bit, as the device fit's group table is the host's
        assert got["group"].dtype == g.dtype


@gpu
def test_device_rows_give_the_host_messages():
    g, y = rows_of(np.int32, np.float64, rows=100, groups=10)
    y[17] = np.nan
    with pytest.raises(shrink.Error) as host:
        shrink.fit({"g": g, "y": y}, group="g", value="y")
    assert fit_error(DeviceArray(g), DeviceArray(y)) == str(host.value)
    empty = np.zeros(0, np.int32), np.zeros(0, np.float64)
    with pytest.raises(shrink.Error) as host:
        shrink.fit({"g": empty[0], "y": empty[1]}, group="g", value="y")
    assert fit_error(DeviceArray(empty[0]), DeviceArray(empty[1])) == str(host.value)
