"""Data for benchmarks/peer_predictors.sh (issue 12's speed section).

  raw J N OUT      rows: group,y,x1,x2,x3 (3 row-level covariates), n_j uniform on 2..2N/J-2,
                   y = 1 + 0.5 x1 - 0.3 x2 + 0.2 x3 + b_j + e, b_j ~ N(0, 0.25), e ~ N(0, 1)
  summary K OUT    one row per group: group,yi,vi,m1..m5 (5 moderators), theta = x'beta + u,
                   u ~ N(0, 0.1), vi uniform on [0.05, 0.5]
Seeded (numpy default_rng(20261202)), so every run writes the same file."""
import sys

import numpy as np

rng = np.random.default_rng(20261202)
kind, out = sys.argv[1], sys.argv[-1]
if kind == "raw":
    J, N = int(float(sys.argv[2])), int(float(sys.argv[3]))
    n = rng.integers(2, max(3, 2 * N // J - 1), size=J)
    g = np.repeat(np.arange(1, J + 1), n)
    rng.shuffle(g)
    x = rng.normal(size=(g.size, 3))
    b = rng.normal(scale=0.5, size=J + 1)
    y = 1 + x @ np.array([0.5, -0.3, 0.2]) + b[g] + rng.normal(size=g.size)
    with open(out, "w") as f:
        f.write("group,y,x1,x2,x3\n")
        np.savetxt(f, np.column_stack([g, y, x]), fmt=["%d", "%.10g", "%.10g", "%.10g", "%.10g"], delimiter=",")
else:
    K = int(float(sys.argv[2]))
    m = rng.normal(size=(K, 5))
    vi = rng.uniform(0.05, 0.5, size=K)
    yi = 0.2 + m @ np.array([0.3, -0.2, 0.1, 0.05, 0.0]) + rng.normal(scale=0.1 ** 0.5, size=K) + rng.normal(size=K) * np.sqrt(vi)
    with open(out, "w") as f:
        f.write("group,yi,vi,m1,m2,m3,m4,m5\n")
        np.savetxt(f, np.column_stack([np.arange(1, K + 1), yi, vi, m]), fmt=["%d"] + ["%.10g"] * 7, delimiter=",")
