"""shrink.fit on rows resident in GPU memory (issue 14): 1e9 rows fitted without a host copy.

    build/python-venv/bin/python benchmarks/device_arrays.py [--rows 1e9] [--groups 1e6] [--repeat 3]

The rows live in GPU memory throughout (cudaMalloc through ctypes: python/tests/cuda_memory.py, so
no CuPy is needed), filled once from the host in slices before anything is timed: int32 keys drawn
uniformly from `groups` ids (random order), float64 values. Before timing, the first 1e7 rows are
fitted from the GPU and from the same NumPy arrays and every per-group column compared to the bit.
Timed, best of --repeat: the whole shrink.fit call on the device arrays, and its fold (the report's
"read": numbering the keys on the GPU, the shifts, the summary stage, the O(groups) table back to the
host). Reported: rows/s, and the input bytes (12 a row, read at least once) over the fold's time as a
fraction of the device-to-device copy bandwidth measured here (DESIGN.md 3) and of the nominal HBM
bandwidth (--hbm, 4.8e12 B/s: an H200)."""

import argparse
import os
import re
import sys
import time

import numpy as np

import shrink

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "tests"))
from cuda_memory import DeviceArray, device_count, synchronize  # noqa: E402


def fill(rows, groups, seed, slice_rows=10**8):
    """Device keys and values, written slice by slice from the host; the first slice's host copy."""
    rng = np.random.default_rng(seed)
    keys, values = DeviceArray(dtype=np.int32, length=rows), DeviceArray(dtype=np.float64, length=rows)
    first = None
    for start in range(0, rows, slice_rows):
        m = min(slice_rows, rows - start)
        g = rng.integers(0, groups, m, dtype=np.int32)
        y = 10.0 + 0.01 * (g % 100) + rng.standard_normal(m)
        keys.write(g, start)
        values.write(y, start)
        if first is None:
            first = (g, y)
    return keys, values, first


def validate(g, y):
    """The device fit of these rows equals the fit of the same NumPy arrays, column by column, bit for bit."""
    got = shrink.fit({"g": DeviceArray(g), "y": DeviceArray(y)}, group="g", value="y")
    want = shrink.fit({"g": g, "y": y}, group="g", value="y", backend="cuda")
    for c in want.groups.columns:
        if not np.array_equal(got.groups[c].to_numpy(), want.groups[c].to_numpy(), equal_nan=True):
            raise SystemExit(f"device fit differs from the host fit in column {c}: not timed")
    return len(g)


def copy_bandwidth(nbytes=4 << 30, repeat=3):
    """Device-to-device copy, bytes read plus bytes written per second (best of `repeat`)."""
    a, b = DeviceArray(dtype=np.uint8, length=nbytes), DeviceArray(dtype=np.uint8, length=nbytes)
    b.copy_from(a)  # warm-up
    synchronize()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        b.copy_from(a)
        synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * nbytes / best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=float, default=1e9)
    p.add_argument("--groups", type=float, default=1e6)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--hbm", type=float, default=4.8e12, help="nominal HBM bandwidth, bytes/s (H200: 4.8e12)")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rows, groups = int(a.rows), int(a.groups)
    if not (shrink.has_cuda and device_count() > 0):
        raise SystemExit("no usable CUDA GPU here (or shrink was built without CUDA): nothing measured")

    t0 = time.perf_counter()
    keys, values, (g, y) = fill(rows, groups, a.seed)
    print(f"filled {rows:.3g} rows / {groups:.3g} groups in GPU memory in {time.perf_counter() - t0:.1f} s", flush=True)
    checked = validate(g[: 10**7], y[: 10**7])
    print(f"validated: {checked:.3g} rows, device fit == host fit bit for bit", flush=True)
    copy = copy_bandwidth()
    print(f"device-to-device copy: {copy / 1e12:.2f} TB/s (read + write)", flush=True)

    best_call = best_fold = float("inf")
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        r = shrink.fit({"g": keys, "y": values}, group="g", value="y")
        best_call = min(best_call, time.perf_counter() - t0)
        fold = float(re.search(r"read ([0-9.eE+-]+) s", r.report).group(1))
        best_fold = min(best_fold, fold)
    assert r.summary["backend"] == "cuda" and r.summary["observations"] == rows
    bytes_read = rows * (4 + 8)
    print(f"shrink.fit, device-resident, best of {a.repeat}: call {best_call:.3f} s ({rows / best_call:.3g} rows/s), "
          f"fold {best_fold:.3g} s ({rows / best_fold:.3g} rows/s)")
    print(f"fold: {bytes_read / best_fold / 1e9:.0f} GB/s of input = {bytes_read / best_fold / copy:.1%} of the measured "
          f"copy bandwidth, {bytes_read / best_fold / a.hbm:.1%} of nominal HBM ({a.hbm / 1e12:.1f} TB/s)")
    print(f"tau2 {r.tau2:.6g}, mu {r.mu:.6g}, groups {r.summary['groups']}")


if __name__ == "__main__":
    main()
