#!/usr/bin/env bash
# shrink fit vs R data.table on the same generated CSV, in one run.
#   benchmarks/peer_datatable.sh [GROUPS] [OBS]     (default 1e6 groups of 1..19 rows: ~1e7 rows)
# Needs Rscript with data.table (Debian: r-base-core r-cran-data.table).
set -euo pipefail
cd "$(dirname "$0")/.."
groups=${1:-1000000}
obs=${2:-1:19}
shrink=${SHRINK:-build/shrink}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$shrink" generate --groups "$groups" --obs "$obs" --mu 0 --tau 1 --sigma 2 --seed 1 -o "$work/data.csv"
rows=$(($(wc -l <"$work/data.csv") - 1))
bytes=$(stat -c %s "$work/data.csv")
cat "$work/data.csv" >/dev/null  # both read from the page cache

now() { date +%s.%N; }
t0=$(now)
"$shrink" fit "$work/data.csv" --backend cpu -o "$work/groups.csv" --summary "$work/s.json" -q
t1=$(now)
peer=$(Rscript benchmarks/peer_datatable.R "$work/data.csv" "$work/peer_groups.csv")
t2=$(now)

python3 - "$work/s.json" "$t0" "$t1" "$t2" "$rows" "$groups" "$bytes" "$peer" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t0, t1, t2 = map(float, sys.argv[2:5])
rows, groups, size = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
peer = dict(kv.split("=") for kv in sys.argv[8].split())
ours, theirs = t1 - t0, t2 - t1
print(f"data: {rows} rows, {groups} groups, {size / 1e6:.0f} MB CSV")
print(f"shrink fit (cpu, end to end, writes the per-group CSV): {ours:.3f} s "
      f"(fit after parsing {s['seconds']:.3f} s: summaries {s['stage_seconds']['summarize']:.3f}, "
      f"tau {s['stage_seconds']['tau']:.3f}, posteriors {s['stage_seconds']['posterior']:.3f})")
print(f"R data.table ({peer['threads']} threads, fread + by-group + fwrite; wall incl. R start): {theirs:.3f} s "
      f"(inside R: {float(peer['seconds']):.3f} s)")
print(f"ratio data.table / shrink: {theirs / ours:.2f}x end to end, {float(peer['seconds']) / ours:.2f}x vs R's own timer")
for k in ("tau2", "mu", "sigma2"):
    a, b = s[k], float(peer[k])
    print(f"  {k}: shrink {a:.12g}  data.table {b:.12g}  rel diff {abs(a - b) / max(abs(b), 1e-300):.1e}")
PY
