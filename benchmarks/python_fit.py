"""shrink.fit on a pandas DataFrame against pandas groupby + NumPy doing the same fit, and the
Python layer's overhead over the C++ call it makes.

    build/python-venv/bin/python benchmarks/python_fit.py [--rows 1e7] [--groups 1e6] [--repeat 3]

The pandas fit: n, mean and variance per group (groupby), the pooled sigma^2, the moment tau^2
(DESIGN.md 1.1), mu_hat, and every group's shrinkage, estimate, sd and 95% interval; checked
against shrink's numbers before it is timed. Times are the best of --repeat runs, in one process."""

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
    return pd.DataFrame({"group": s.index, "n": n, "mean": ybar, "shrinkage": b, "estimate": est, "sd": sd,
                         "lower": est - 1.959963984540054 * sd, "upper": est + 1.959963984540054 * sd}), tau2


def best(f, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=float, default=1e7)
    p.add_argument("--groups", type=float, default=1e6)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    rows, groups = int(a.rows), int(a.groups)
    rng = np.random.default_rng(1)
    g = rng.integers(0, groups, rows)
    y = rng.normal(0, 1, rows) + rng.normal(0, 0.5, groups)[g]
    df = pd.DataFrame({"group": g, "y": y})

    t_shrink, r = best(lambda: shrink.fit(df), a.repeat)
    t_pandas, (want, tau2) = best(lambda: pandas_fit(df), a.repeat)
    # The same fit: every number of the pandas version against shrink's.
    assert np.array_equal(r.groups["group"].to_numpy(), want["group"].to_numpy())
    assert abs(r.tau2 - tau2) <= 1e-9 * tau2
    for c in ("mean", "shrinkage", "estimate", "sd", "lower", "upper"):
        np.testing.assert_allclose(r.groups[c], want[c], rtol=1e-9, atol=1e-12, err_msg=c)

    # The C++ call alone (fold, fit, structures, result arrays): what shrink.fit wraps.
    def cpp_only():
        with tempfile.TemporaryDirectory() as tmp:
            kinds = _data.KeyKind()
            batches = _data.raw_batches(df, "group", "y", kinds)
            return run(["fit", "--group", "group", "--value", "y", "--summary", os.path.join(tmp, "s.json")], batches, "y")

    t_cpp, _ = best(cpp_only, a.repeat)
    print(json.dumps({"rows": rows, "groups": groups, "threads": os.cpu_count(), "shrink_fit_s": round(t_shrink, 4),
                      "pandas_numpy_s": round(t_pandas, 4), "speedup": round(t_pandas / t_shrink, 2),
                      "cpp_call_s": round(t_cpp, 4), "python_overhead_pct": round(100 * (t_shrink - t_cpp) / t_cpp, 2)}))


if __name__ == "__main__":
    main()
