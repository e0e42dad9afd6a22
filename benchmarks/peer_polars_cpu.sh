#!/usr/bin/env bash
# shrink binaries (`fit DATA --summary`, all threads) and benchmarks/peer_polars.py on one CSV, runs
# interleaved, best of REPS: CPU seconds (user + sys) and wall seconds of each.
#   benchmarks/peer_polars_cpu.sh DATA.csv REPS BINARY...      (PY: a python with polars, default benchmarks/.venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
data=$1; reps=$2; shift 2
py=${PY:-benchmarks/.venv/bin/python}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cat "$data" >/dev/null  # every tool reads from the page cache
for _ in $(seq "$reps"); do
  for b in "$@"; do /usr/bin/time -f "$b %U %S %e" -a -o "$work/times" "$b" fit "$data" --backend cpu -o "$work/s.csv" --summary "$work/s.json" -q; done
  /usr/bin/time -f "polars %U %S %e" -a -o "$work/times" "$py" benchmarks/peer_polars.py "$data" "$work/p.csv" >"$work/polars.txt"
done
python3 - "$work/times" <<'PY'
import sys
d = {}
for line in open(sys.argv[1]):
    b, u, s, e = line.split()
    d.setdefault(b, []).append((float(u) + float(s), float(e)))
for b, v in d.items():
    print("%-24s best cpu %.3f s  best wall %.3f s  runs %d" % (b, min(x[0] for x in v), min(x[1] for x in v), len(v)))
PY
cat "$work/polars.txt"
