"""GPU memory without CuPy (the device machine has no PyPI): cudaMalloc, cudaMemcpy and cudaFree
through ctypes on libcudart, wrapped in a one-dimensional array with __cuda_array_interface__ (v3).
For the tests and benchmarks/device_arrays.py."""

import ctypes
import ctypes.util
import glob
import os

import numpy as np

_HOST_TO_DEVICE, _DEVICE_TO_HOST, _DEVICE_TO_DEVICE = 1, 2, 3


def _load_cudart():
    names = [ctypes.util.find_library("cudart"), "libcudart.so", "libcudart.so.13", "libcudart.so.12"]
    for root in (os.environ.get("CUDA_HOME"), "/usr/local/cuda", *sorted(glob.glob("/usr/local/cuda-*"))):
        if root:
            names += sorted(glob.glob(os.path.join(root, "lib64", "libcudart.so*")), reverse=True)
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
        lib.cudaMemcpy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        lib.cudaFree.argtypes = [ctypes.c_void_p]
        lib.cudaGetErrorString.restype = ctypes.c_char_p
        return lib
    return None


cudart = _load_cudart()


def device_count():
    """GPUs the CUDA runtime sees here (0 without libcudart, a driver or a device)."""
    if cudart is None:
        return 0
    count = ctypes.c_int(0)
    return count.value if cudart.cudaGetDeviceCount(ctypes.byref(count)) == 0 else 0


def check(status, what):
    if status != 0:
        raise RuntimeError(f"{what}: {cudart.cudaGetErrorString(status).decode()}")


def synchronize():
    check(cudart.cudaDeviceSynchronize(), "cudaDeviceSynchronize")


class DeviceArray:
    """A one-dimensional array in GPU memory: a copy of a NumPy array, or `length` uninitialised
    elements of `dtype`. `stream` is what its __cuda_array_interface__ reports (None: no
    synchronisation needed)."""

    def __init__(self, host=None, dtype=None, length=None, stream=None):
        if host is not None:
            host = np.ascontiguousarray(host)
            dtype, length = host.dtype, host.shape[0]
        self.dtype, self.length, self.stream = np.dtype(dtype), int(length), stream
        self.pointer = ctypes.c_void_p()
        check(cudart.cudaMalloc(ctypes.byref(self.pointer), max(self.nbytes, 1)), "cudaMalloc")
        if host is not None:
            self.write(host)

    @property
    def nbytes(self):
        return self.dtype.itemsize * self.length

    def write(self, host, first=0):
        """Copies the NumPy array `host` to elements [first, first + len(host))."""
        host = np.ascontiguousarray(host, dtype=self.dtype)
        if host.size:
            dst = ctypes.c_void_p(self.pointer.value + first * self.dtype.itemsize)
            check(cudart.cudaMemcpy(dst, host.ctypes.data, host.nbytes, _HOST_TO_DEVICE), "cudaMemcpy")

    def to_host(self):
        out = np.empty(self.length, self.dtype)
        if self.length:
            check(cudart.cudaMemcpy(out.ctypes.data, self.pointer, self.nbytes, _DEVICE_TO_HOST), "cudaMemcpy")
        return out

    def copy_from(self, other):
        """A device-to-device copy of `other` (the same size) into this array."""
        check(cudart.cudaMemcpy(self.pointer, other.pointer, self.nbytes, _DEVICE_TO_DEVICE), "cudaMemcpy")

    @property
    def __cuda_array_interface__(self):
        return {"shape": (self.length,), "typestr": self.dtype.str, "data": (self.pointer.value, False),
                "version": 3, "strides": None, "stream": self.stream}

    def __len__(self):
        return self.length

    def __del__(self):
        if cudart is not None and getattr(self, "pointer", None) is not None and self.pointer.value:
            cudart.cudaFree(self.pointer)
            self.pointer = None


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32), ("dtype", _DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_DL_CODES = {"i": 0, "u": 1, "f": 2}


class DLPackArray:
    """Only the DLPack protocol (an unversioned "dltensor" capsule, no deleter: this object owns
    the descriptor) over GPU memory at `pointer`: `length` elements of `dtype`, `stride` apart."""

    def __init__(self, pointer, dtype, length, stride=1, device=0):
        dtype = np.dtype(dtype)
        self._shape, self._strides = (ctypes.c_int64 * 1)(length), (ctypes.c_int64 * 1)(stride)
        self._tensor = _DLManagedTensor()
        t = self._tensor.dl_tensor
        t.data, t.device, t.ndim = pointer, _DLDevice(2, device), 1
        t.dtype = _DLDataType(_DL_CODES[dtype.kind], 8 * dtype.itemsize, 1)
        t.shape, t.strides = self._shape, self._strides
        self._device = device

    def __dlpack_device__(self):
        return (2, self._device)  # kDLCUDA

    def __dlpack__(self, stream=None, max_version=None, **kwargs):
        return _capsule_new(ctypes.addressof(self._tensor), b"dltensor", None)

    @classmethod
    def of(cls, array, **kwargs):
        """The DLPack view of a DeviceArray (which must outlive it)."""
        return cls(array.pointer.value, array.dtype, array.length, **kwargs)
