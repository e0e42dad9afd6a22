#!/usr/bin/env python3
"""The peer of `shrink fit` (moment tau^2) in DuckDB: the same job as peer_polars.py / peer_datatable.R.

Reads the raw CSV `group,y`, per-group n / mean / variance, pooled sigma^2, the moment tau^2 (metafor's
HE), the precision-weighted mu, the per-group posteriors (95% intervals on shrink's t quantile) and the
James-Stein column, written sorted by group with shrink's 10 columns by COPY. The timer covers the
read, the fit and the write (not the interpreter start, the import or the connection).

Usage: benchmarks/.venv/bin/python benchmarks/peer_duckdb.py DATA.csv OUT.csv [--summary shrink.json]
Prints `seconds=... tau2=... mu=... sigma2=... threads=...` and, with --summary, the relative
differences from shrink's JSON summary.
"""

import argparse
import json
import time

import duckdb

from numpy_simulate import Z95, t_quantile  # sibling file

# The 1e6-row group table is materialised once (a TEMP table in memory); the scalars are small queries
# over it and the per-group columns one COPY with the scalars bound as parameters.
GROUPS = """
CREATE OR REPLACE TEMP TABLE g AS
SELECT "group", count(*) AS n, avg(y) AS m, var_samp(y) AS v
FROM read_csv(?, header = true, columns = {'group': 'BIGINT', 'y': 'DOUBLE'})
GROUP BY "group"
"""
# Two passes over the group table, as the formulas need: tau2 and the James-Stein factor from the
# first pass's sums, then mu with the weights 1 / (v_j + tau2).
MOMENTS = """
SELECT sum((n - 1) * v) / sum(n - 1) AS sigma2, avg(m) AS center, count(*) AS J,
       var_samp(m) AS s2, avg(1 / n) AS inv_n, sum(n - 1) AS df FROM g
"""
MU = "SELECT sum(m / ($1 / n + $2)) / sum(1 / ($1 / n + $2)) FROM g"
# $1 sigma2, $2 tau2, $3 mu, $4 center, $5 James-Stein factor, $6 the t quantile of the intervals
# on the df of the pooled sigma2, as shrink's (1.96 at 9e6 df).
OUTPUT = """
COPY (
  SELECT "group", n, m AS mean, sqrt(vj) AS se, B AS shrinkage, est AS estimate, sd,
         est - $6 * sd AS lower, est + $6 * sd AS upper, $4 + $5 * (m - $4) AS james_stein
  FROM (SELECT *, m + B * ($3 - m) AS est, sqrt(vj * (1 - B)) AS sd
        FROM (SELECT *, vj / (vj + $2) AS B FROM (SELECT *, $1 / n AS vj FROM g)))
  ORDER BY "group"
) TO '{out}' (HEADER, DELIMITER ',')
"""


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--summary", help="shrink's --summary JSON to compare tau2, mu, sigma2 against")
    a = p.parse_args()
    con = duckdb.connect()  # in memory, all cores by default
    t0 = time.perf_counter()
    con.execute(GROUPS, [a.data])
    sigma2, center, J, s2, inv_n, df = con.execute(MOMENTS).fetchone()
    vbar = sigma2 * inv_n
    tau2 = max(0.0, s2 - vbar)
    js_c = max(0.0, 1 - (J - 3) * vbar / (s2 * (J - 1)))
    mu = con.execute(MU, [sigma2, tau2]).fetchone()[0]
    q = t_quantile(Z95, float(df))
    con.execute(OUTPUT.format(out=a.out.replace("'", "''")), [sigma2, tau2, mu, center, js_c, q])
    seconds = time.perf_counter() - t0
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    est = {"tau2": tau2, "mu": mu, "sigma2": sigma2}
    print("seconds=%.4f tau2=%.17g mu=%.17g sigma2=%.17g threads=%d" % (seconds, tau2, mu, sigma2, threads))
    if a.summary:
        with open(a.summary) as f:
            s = json.load(f)
        print("  vs shrink: " + "  ".join("%s rel diff %.1e" % (k, abs(est[k] - s[k]) / max(abs(s[k]), 1e-300))
                                           for k in ("tau2", "mu", "sigma2")))


if __name__ == "__main__":
    main()
