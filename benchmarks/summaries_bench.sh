#!/usr/bin/env bash
# Mergeable summaries: the fit of a whole file against summarizing its PARTS parts and fitting
# their merge (shrink summarize, shrink fit --from-summaries), in one run, best of 3 each; and how
# far the merged fit lies from the whole one.
#   benchmarks/summaries_bench.sh [GROUPS] [OBS] [PARTS]   (default 1e6 groups of 1..19 rows, 4 parts)
set -euo pipefail
cd "$(dirname "$0")/.."
groups=${1:-1000000}
obs=${2:-1:19}
parts=${3:-4}
shrink=${SHRINK:-build/shrink}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$shrink" generate --groups "$groups" --obs "$obs" --mu 0 --tau 1 --sigma 2 --seed 1 -o "$work/whole.csv"
rows=$(($(wc -l <"$work/whole.csv") - 1))
# Rows dealt to the parts in turn: every group with more than one row lies in several parts.
awk -v parts="$parts" -v dir="$work" 'NR == 1 { for (p = 0; p < parts; ++p) print > (dir "/part" p ".csv"); next }
  { print > (dir "/part" ((NR - 2) % parts) ".csv") }' "$work/whole.csv"
cat "$work"/*.csv >/dev/null  # everything read from the page cache

now() { date +%s.%N; }
best() { python3 -c 'import sys; print(min(map(float, sys.argv[1:])))' "$@"; }
whole=() summarize=() merged=()
for run in 1 2 3; do
  t0=$(now)
  "$shrink" fit "$work/whole.csv" --backend cpu -o "$work/whole_groups.csv" --summary "$work/whole.json" -q
  t1=$(now)
  for ((p = 0; p < parts; ++p)); do "$shrink" summarize "$work/part$p.csv" -o "$work/part$p.summary.csv" -q; done
  t2=$(now)
  "$shrink" fit --from-summaries "$work"/part*.summary.csv --backend cpu -o "$work/merged_groups.csv" \
    --summary "$work/merged.json" -q
  t3=$(now)
  whole+=("$(echo "$t1 - $t0" | bc)") summarize+=("$(echo "$t2 - $t1" | bc)") merged+=("$(echo "$t3 - $t2" | bc)")
done
summary_bytes=$(cat "$work"/part*.summary.csv | wc -c)
python3 - "$work/whole.json" "$work/merged.json" "$rows" "$groups" "$parts" "$summary_bytes" \
  "$(best "${whole[@]}")" "$(best "${summarize[@]}")" "$(best "${merged[@]}")" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
rows, groups, parts, size = map(int, sys.argv[3:7])
whole, summarize, merged = map(float, sys.argv[7:10])
print(f"data: {rows} rows, {groups} groups, {parts} parts (rows dealt in turn); summaries {size / 1e6:.0f} MB")
print(f"fit of the whole file: {whole:.3f} s")
print(f"summarize the {parts} parts (one after another): {summarize:.3f} s ({summarize / whole:.2f}x the whole fit)")
print(f"fit --from-summaries (read, merge, fit, write): {merged:.3f} s ({merged / whole:.2f}x the whole fit)")
for k in ("tau2", "mu", "sigma2", "Q"):
    print(f"{k}: whole {a[k]!r}, merged {b[k]!r}, relative difference {abs(a[k] - b[k]) / abs(a[k]):.1e}")
PY
