"""shrink.fit on a Parquet file larger than the rows' memory budget: peak RSS stays O(groups + one
batch) whatever the number of rows. Writes the files (NumPy draws, written batch by batch with
pyarrow), then fits each in a fresh process and reports wall time, rows/s and peak RSS.

    build/python-venv/bin/python benchmarks/parquet_bounded.py --rows 1e7 1e8 --groups 1e6 --dir /tmp/pq

Rows: int64 keys uniform on [0, groups) (random key order), values N(group effect, 1) with the
group effects N(0, 0.5^2): 16 bytes a row in memory (8 key + 8 value), so 1e8 rows are 1.6 GB held whole.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK = 10_000_000

FIT = """
import json, resource, sys, time
import shrink
t = time.perf_counter()
r = shrink.fit(sys.argv[1], group="group", value="y", threads=int(sys.argv[2]))
wall = time.perf_counter() - t
print(json.dumps({"wall": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "groups": r.summary["groups"], "rows": r.summary["observations"], "tau2": r.tau2}))
"""


def write(path, rows, groups, seed=1):
    rng = np.random.default_rng(seed)
    effect = rng.normal(0, 0.5, groups)
    schema = pa.schema([("group", pa.int64()), ("y", pa.float64())])
    with pq.ParquetWriter(path, schema) as w:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            g = rng.integers(0, groups, n)
            y = effect[g] + rng.standard_normal(n)
            w.write_table(pa.table({"group": g, "y": y}, schema=schema), row_group_size=1 << 20)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=float, nargs="+", default=[1e7, 1e8])
    p.add_argument("--groups", type=float, default=1e6)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--dir", default="/tmp/shrink-parquet")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    groups = int(a.groups)
    print("| rows | file (MB) | rows in memory (MB) | wall (s) | rows/s | peak RSS (MB) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for rows in map(int, a.rows):
        path = os.path.join(a.dir, f"rows_{rows}_{groups}.parquet")
        if not os.path.exists(path):
            write(path, rows, groups)
        out = subprocess.run([sys.executable, "-c", FIT, path, str(a.threads)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        assert r["rows"] == rows and r["groups"] <= groups, r
        print(f"| {rows:.0e} | {os.path.getsize(path) / 1e6:,.0f} | {16 * rows / 1e6:,.0f} | {r['wall']:.2f} | "
              f"{rows / r['wall']:.3g} | {r['peak_rss_mb']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
