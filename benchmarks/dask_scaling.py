"""shrink.dask.fit on a LocalCluster of 1 and of 2 worker processes (one thread each), against
shrink.fit in this process, on a Parquet dataset of ROWS rows written here from shrink.generate.

    build/python-venv/bin/python benchmarks/dask_scaling.py [ROWS] [GROUPS] [FILES]

Prints wall seconds, best of 3, and checks the fits agree (1e-12 relative in tau2)."""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from dask.distributed import Client, LocalCluster

import shrink


def best(f, runs=3):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    rows = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10_000_000
    groups = int(float(sys.argv[2])) if len(sys.argv) > 2 else 1_000_000
    files = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shrink.generate(groups=groups, obs=rows // groups, seed=1, group_npy=tmp / "g.npy", value_npy=tmp / "y.npy")
        g, y = np.load(tmp / "g.npy"), np.load(tmp / "y.npy")
        order = np.random.default_rng(5).permutation(len(g))
        g, y = g[order], y[order]
        (tmp / "rows").mkdir()
        for i, part in enumerate(np.array_split(np.arange(len(g)), files)):
            pq.write_table(pa.table({"group": g[part], "y": y[part]}), tmp / "rows" / f"part{i}.parquet")
        folder = str(tmp / "rows")
        one, whole = best(lambda: shrink.fit(folder, tau_method="reml"))
        print(f"rows {len(g):.3g}, groups {groups:.3g}, files {files}")
        print(f"shrink.fit (this process, all threads)  {one:7.2f} s")
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as c, Client(c):
                t, r = best(lambda: shrink.dask.fit(folder, tau_method="reml"))
                assert abs(r.tau2 - whole.tau2) <= 1e-12 * abs(whole.tau2), (r.tau2, whole.tau2)
                print(f"shrink.dask.fit, {workers} worker(s)        {t:7.2f} s")


if __name__ == "__main__":
    main()
