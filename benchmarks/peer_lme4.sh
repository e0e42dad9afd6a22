#!/usr/bin/env bash
# shrink fit --tau-method reml against lme4::lmer(y ~ 1 + (1|group), REML = TRUE) on the same
# generated CSV, in one run: wall time of each (end to end: reading the CSV and fitting; R's
# package loading is excluded, its fread is included), the ratio, and the relative differences
# of tau2 and sigma2 (the goal: >= 300x, and agreement to 1e-6).
#
# Usage: benchmarks/peer_lme4.sh [SHRINK_BINARY] [J:N ...]
#   default sizes: 1e5 groups / 1e6 rows, then 1e6 groups / 1e7 rows (lme4 may need minutes);
#   rows per group are drawn uniformly from 2..18 (mean 10), so the n_j are unequal.
# Env: ORDERS (default "shuffled grouped"): the rows in random order (generate --shuffle), then
#   grouped by key, each a case of its own.
# Needs R with lme4 and data.table (Debian: r-cran-lme4 r-cran-data.table).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
shrink=${1:-"$here/../build/shrink"}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000:1000000 1000000:10000000)

command -v Rscript >/dev/null || { echo "peer_lme4: Rscript not found" >&2; exit 1; }
Rscript -e 'suppressMessages({library(lme4); library(data.table)})' >/dev/null 2>&1 ||
  { echo "peer_lme4: R packages lme4 and data.table are needed" >&2; exit 1; }
[ -x "$shrink" ] || { echo "peer_lme4: no shrink binary at $shrink (build first, or pass its path)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '%-9s %-9s %-9s %10s %10s %9s %12s %12s\n' rows_in groups rows shrink_s lme4_s ratio rel_d_tau2 rel_d_sigma2
for order in ${ORDERS:-shuffled grouped}; do
for size in "${sizes[@]}"; do
  J=${size%%:*}
  N=${size##*:}
  # Mean rows per group N / J: draw n_j uniformly from 2 .. 2 N / J - 2.
  hi=$(( 2 * N / J - 2 ))
  csv="$work/data_$J.csv"
  "$shrink" generate --groups "$J" --obs "2:$hi" --mu 1 --tau 0.5 --sigma 1 --seed 20240601 \
    $([[ $order == shuffled ]] && echo --shuffle) -o "$csv"
  rows=$(( $(wc -l < "$csv") - 1 ))

  t0=$(date +%s.%N)
  "$shrink" fit "$csv" --tau-method reml --backend cpu --summary "$work/s.json" -o /dev/null 2>/dev/null
  t1=$(date +%s.%N)
  shrink_s=$(echo "$t1 - $t0" | bc -l)
  read -r tau2_s sigma2_s < <(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(repr(d['tau2']), repr(d['sigma2']))" "$work/s.json")

  read -r lme4_s tau2_r sigma2_r < <(Rscript -e '
    suppressMessages({library(lme4); library(data.table)})
    args <- commandArgs(TRUE)
    t0 <- proc.time()[["elapsed"]]
    d <- fread(args[1])
    d[, group := factor(group)]
    m <- lmer(y ~ 1 + (1 | group), data = d, REML = TRUE)
    t1 <- proc.time()[["elapsed"]]
    vc <- as.data.frame(VarCorr(m))
    cat(sprintf("%.3f %.17g %.17g\n", t1 - t0, vc$vcov[vc$grp == "group"], vc$vcov[vc$grp == "Residual"]))
  ' "$csv")

  python3 - "$order" "$J" "$rows" "$shrink_s" "$lme4_s" "$tau2_s" "$tau2_r" "$sigma2_s" "$sigma2_r" <<'EOF'
import sys
order, J, rows = sys.argv[1], sys.argv[2], sys.argv[3]
ts, tr, a, b, c, d = map(float, sys.argv[4:])
print(f"{order:<9} {J:<9} {rows:<9} {ts:10.3f} {tr:10.3f} {tr / ts:8.1f}x {abs(a - b) / abs(b):12.2e} {abs(c - d) / abs(d):12.2e}")
EOF
done
done
echo "(shrink: tau2 and sigma2 jointly by REML from group summaries; lme4: its default optimiser."
echo " Differences of ~1e-7 are lme4's own convergence tolerance, not shrink's: shrink solves the"
echo " profiled REML equation to machine precision.)"
