"""GPU arrays into shrink.fit without a copy: the CUDA array interface (v2, v3) and DLPack. The
group and value columns are described to the C++ fold (data pointer, element width, the producer's
stream), which reads them where they lie (src/cuda/device_columns.hpp).

https://numba.readthedocs.io/en/stable/cuda/cuda_array_interface.html
https://data-apis.org/array-api/latest/API_specification/generated/array_api.array.__dlpack__.html"""

import numpy as np

from ._shrink import Error, dlpack_column

_DL_CUDA = 2  # DLPack's kDLCUDA device type
_LEGACY_DEFAULT_STREAM = 1  # the stream a DLPack producer makes the data ready on when given none


def is_device_array(obj):
    """Whether `obj` is an array in GPU memory (it has __cuda_array_interface__, or DLPack says CUDA)."""
    if hasattr(obj, "__cuda_array_interface__"):
        return True
    device = getattr(obj, "__dlpack_device__", None)
    try:
        return device is not None and int(device()[0]) == _DL_CUDA
    except Exception:
        return False


def not_here():
    """The error for GPU arrays where only the raw rows of shrink.fit and shrink.summarize read them."""
    return Error("GPU arrays are read in place as raw rows only (shrink.fit and shrink.summarize of group and value "
                 "columns, normal family): copy them to host memory here (cupy.asnumpy, tensor.cpu().numpy())")


class DeviceColumn:
    """A column in GPU memory: data pointer, dtype kind ('i', 'u', 'f', ...) and width in bytes,
    shape, whether it is contiguous, the producer's stream (0 none, 1 the legacy default stream, 2
    the per-thread one, else a cudaStream_t), its GPU where the interface says, and what keeps the
    memory alive while it is read."""

    def __init__(self, pointer, kind, itemsize, shape, contiguous, stream, device=None, holder=None):
        self.pointer, self.kind, self.itemsize, self.shape = pointer, kind, itemsize, shape
        self.contiguous, self.stream, self.device, self.holder = contiguous, stream, device, holder

    def dtype_name(self):
        names = {"i": "int", "u": "uint", "f": "float", "c": "complex", "b": "bool"}
        return f"{names.get(self.kind, self.kind)}{8 * self.itemsize}" if self.kind != "b" else "bool"


def _cuda_array_column(obj, where):
    try:
        cai = obj.__cuda_array_interface__
        shape = tuple(int(s) for s in cai["shape"])
        typestr = str(cai["typestr"])
        pointer = int(cai["data"][0])
        int(cai["version"])
        strides = cai.get("strides")
        strides = None if strides is None else tuple(int(s) for s in strides)
        stream = cai.get("stream")
        mask = cai.get("mask")
        if len(typestr) < 3 or typestr[0] not in "<>|=":
            raise ValueError(typestr)
        itemsize = int(typestr[2:])
    except Exception:
        raise Error(f"{where}: its __cuda_array_interface__ is malformed (it needs shape, typestr such as '<f8', "
                    "data (pointer, read-only) and version)") from None
    if mask is not None:
        raise Error(f"{where}: a masked GPU array (fill or drop the masked values first)")
    if typestr[0] == ">" and itemsize > 1:
        raise Error(f"{where}: big-endian GPU arrays are not read")
    if stream is not None and int(stream) == 0:
        raise Error(f"{where}: its __cuda_array_interface__ gives stream 0, which the interface forbids (ambiguous)")
    contiguous = strides is None or len(shape) != 1 or shape[0] <= 1 or strides[0] == itemsize
    if pointer == 0 and shape and shape[0] > 0:
        raise Error(f"{where}: its __cuda_array_interface__ gives a null data pointer")
    return DeviceColumn(pointer, typestr[1], itemsize, shape, contiguous, 0 if stream is None else int(stream))


def _dlpack_array_column(obj, where):
    try:
        holder, pointer, kind, itemsize, shape, strides, device_type, device = dlpack_column(obj)
    except Error as e:
        raise Error(f"{where}: {e}") from None
    if device_type != _DL_CUDA:
        raise Error(f"{where}: __dlpack_device__ says CUDA but __dlpack__ exports device type {device_type}")
    contiguous = len(shape) != 1 or shape[0] <= 1 or strides[0] == 1
    return DeviceColumn(pointer, kind, itemsize, shape, contiguous, _LEGACY_DEFAULT_STREAM, device, holder)


def _device_column(obj, role, name):
    where = f"the {role} column '{name}'"
    if hasattr(obj, "__cuda_array_interface__"):
        c = _cuda_array_column(obj, where)
    else:
        c = _dlpack_array_column(obj, where)
    if len(c.shape) != 1:
        raise Error(f"{where} must be one-dimensional")
    if not c.contiguous:
        raise Error(f"{where} is a strided view of GPU memory: make it contiguous on the device first "
                    "(cupy.ascontiguousarray, tensor.contiguous())")
    return c


class DeviceRows:
    """fit's raw rows in GPU memory: `spec` is what the C++ fold takes; the columns keep their
    memory alive while it runs."""

    def __init__(self, keys, values):
        self.columns = (keys, values)
        self.spec = (keys.pointer, keys.itemsize, keys.stream, values.pointer, values.itemsize, values.stream,
                     keys.shape[0])


def _is_cudf_frame(data):
    """A cuDF DataFrame (a dask-cudf partition): its numeric columns without nulls expose
    __cuda_array_interface__, so they are read where they lie."""
    return type(data).__module__.split(".")[0] == "cudf" and hasattr(data, "columns")


def device_rows(data, group, value, kinds):
    """DeviceRows when `data` is a dict or a cuDF DataFrame whose group and value columns are GPU
    arrays, else None. A GPU column next to a host one, a malformed interface, a strided view,
    unsupported dtypes, columns of different lengths or on different GPUs are each one-line errors."""
    if _is_cudf_frame(data):
        if group not in data.columns or value not in data.columns:
            raise Error(f"the cuDF DataFrame has no column '{group if group not in data.columns else value}'")
        data = {group: data[group], value: data[value]}
    if not isinstance(data, dict) or group not in data or value not in data:
        return None  # (a missing column: the host reader's message)
    on_device = [is_device_array(data[group]), is_device_array(data[value])]
    if not any(on_device):
        return None
    if not all(on_device):
        where = ("group", group, "value", value) if on_device[0] else ("value", value, "group", group)
        raise Error(f"the {where[0]} column '{where[1]}' is in GPU memory but the {where[2]} column '{where[3]}' is "
                    "not: give both on the GPU or both in host memory")
    keys = _device_column(data[group], "group", group)
    values = _device_column(data[value], "value", value)
    if keys.kind != "i" or keys.itemsize not in (1, 2, 4, 8):
        raise Error(f"group keys in GPU memory must be int8, int16, int32 or int64 (the group column '{group}' is "
                    f"{keys.dtype_name()}): convert them on the device (astype)")
    if values.kind != "f" or values.itemsize not in (4, 8):
        raise Error(f"values in GPU memory must be float32 or float64 (the value column '{value}' is "
                    f"{values.dtype_name()}): convert them on the device (astype)")
    if keys.shape[0] != values.shape[0]:
        raise Error(f"the group column '{group}' has {keys.shape[0]} rows but the value column '{value}' has "
                    f"{values.shape[0]}")
    if keys.device is not None and values.device is not None and keys.device != values.device:
        raise Error(f"the group column '{group}' is on GPU {keys.device} but the value column '{value}' is on GPU "
                    f"{values.device}: give both on one GPU")
    kinds.note("int", dtype=np.dtype(f"int{8 * keys.itemsize}"))
    return DeviceRows(keys, values)
