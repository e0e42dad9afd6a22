"""shrink.fit on a pandas DataFrame against pandas groupby + NumPy doing the same fit, and the
Python layer's overhead over the C++ call it makes.

    build/python-venv/bin/python benchmarks/python_fit.py [--rows 1e7] [--groups 1e6] [--repeat 5]

The pandas fit: n, mean and variance per group (groupby), the pooled sigma^2, the moment tau^2
(DESIGN.md 1.1), mu_hat, and every group's shrinkage, estimate, sd and 95% interval; checked
against shrink's numbers before it is timed. Times are the best of --repeat runs, in one process: wall seconds and this process's CPU seconds
(all threads; on a shared, oversubscribed machine the wall clock mostly measures waiting)."""

import argparse
import json
import os
import tempfile
import time

import numpy as np
import pandas as pd

import shrink
from shrink import _data
from shrink._shrink import run


def pandas_fit(df):
    s = df.groupby("group", sort=True)["y"].agg(["count", "mean", "var"])
    n, ybar, s2 = s["count"].to_numpy(), s["mean"].to_numpy(), s["var"].to_numpy()
    ok = n >= 2
    sigma2 = np.sum((n[ok] - 1) * s2[ok]) / np.sum(n[ok] - 1)
    v = sigma2 / n
    tau2 = max(0.0, np.var(ybar, ddof=1) - np.mean(v))
    w = 1 / (v + tau2)
    mu = np.sum(w * ybar) / np.sum(w)
    b = v / (v + tau2)
    est = ybar + b * (mu - ybar)
    sd = np.sqrt(v * (1 - b))
    # The interval's quantile: Student-t on the N - J within-group df of the estimated sigma^2 (as
    # shrink notes), by its Cornish-Fisher expansion about z (error O(df^-3): < 1e-12 here).
    z, df_ = 1.959963984540054, float(np.sum(n) - len(n))
    t = z + (z**3 + z) / (4 * df_) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df_**2)
    return pd.DataFrame({"group": s.index, "n": n, "mean": ybar, "shrinkage": b, "estimate": est, "sd": sd,
                         "lower": est - t * sd, "upper": est + t * sd}), tau2


def interleaved(functions, repeat):
    """[(best wall seconds, best CPU seconds of this process (all threads), the last result)] of each
    function, run in turn `repeat` times: one after the other they would not meet the same machine
    (the first runs pay the process's first page faults and thread starts)."""
    wall = [[] for _ in functions]
    cpu = [[] for _ in functions]
    out = [None] * len(functions)
    for _ in range(repeat):
        for i, f in enumerate(functions):
            t0, c0 = time.perf_counter(), time.process_time()
            out[i] = f()
            wall[i].append(time.perf_counter() - t0)
            cpu[i].append(time.process_time() - c0)
    return [(min(w), min(c), o) for w, c, o in zip(wall, cpu, out)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=float, default=1e7)
    p.add_argument("--groups", type=float, default=1e6)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--sorted", action="store_true", help="rows in key order (as files written group by group)")
    a = p.parse_args()
    rows, groups = int(a.rows), int(a.groups)
    rng = np.random.default_rng(1)
    g = rng.integers(0, groups, rows)
    if a.sorted:
        g.sort()
    y = rng.normal(0, 1, rows) + rng.normal(0, 0.5, groups)[g]
    df = pd.DataFrame({"group": g, "y": y})

    # The C++ call alone (fold, fit, structures, result arrays): what shrink.fit wraps.
    def cpp_only():
        with tempfile.TemporaryDirectory() as tmp:
            kinds = _data.KeyKind()
            batches = _data.raw_batches(df, "group", "y", kinds)
            return run(["fit", "--group", "group", "--value", "y", "--summary", os.path.join(tmp, "s.json")], batches, "y")

    (t_shrink, c_shrink, r), (t_cpp, c_cpp, _), (t_pandas, c_pandas, (want, tau2)) = interleaved(
        [lambda: shrink.fit(df), cpp_only, lambda: pandas_fit(df)], a.repeat)
    # The same fit: every number of the pandas version against shrink's.
    assert np.array_equal(r.groups["group"].to_numpy(), want["group"].to_numpy())
    assert abs(r.tau2 - tau2) <= 1e-9 * tau2
    for c in ("mean", "shrinkage", "estimate", "sd", "lower", "upper"):
        np.testing.assert_allclose(r.groups[c], want[c], rtol=1e-9, atol=1e-12, err_msg=c)

    print(json.dumps({"rows": rows, "groups": groups, "sorted": a.sorted, "threads": os.cpu_count(),
                      "load_average": os.getloadavg()[0],
                      "wall_s": {"shrink.fit": round(t_shrink, 3), "pandas": round(t_pandas, 3), "cpp_call": round(t_cpp, 3)},
                      "cpu_s": {"shrink.fit": round(c_shrink, 3), "pandas": round(c_pandas, 3), "cpp_call": round(c_cpp, 3)},
                      "speedup_wall": round(t_pandas / t_shrink, 2), "speedup_cpu": round(c_pandas / c_shrink, 2),
                      "python_overhead_pct_wall": round(100 * (t_shrink - t_cpp) / t_cpp, 1),
                      "python_overhead_pct_cpu": round(100 * (c_shrink - c_cpp) / c_cpp, 1)}))


if __name__ == "__main__":
    main()
