#!/usr/bin/env bash
# shrink fit vs Polars, DuckDB and R data.table on one generated CSV, in one run, best of REPS each.
#   benchmarks/peer_fit.sh [DATA.csv]      (default: two files in /tmp/shrink-peer, generated when absent:
#                                           1e6 groups of 1..19 rows, ~1e7 rows, 264 MB, first with the
#                                           rows in random order (shuffled.csv), then grouped by key (grouped.csv))
# Env: SHRINK (default build/shrink), REPS (default 3), PY (default benchmarks/.venv/bin/python).
# The Python peers need polars, duckdb and numpy in PY; when benchmarks/.venv is missing it is made with
# pip. R data.table is optional (Debian: r-cran-data.table) and is skipped with a note when absent.
# All four run interleaved, repetition by repetition, so that a burst of load on a shared machine
# hits every tool alike rather than one tool's three runs.
set -euo pipefail
cd "$(dirname "$0")/.."
shrink=${SHRINK:-build/shrink}
reps=${REPS:-3}
py=${PY:-benchmarks/.venv/bin/python}

if [[ $# -eq 0 ]]; then
  mkdir -p /tmp/shrink-peer
  for order in shuffled grouped; do
    data=/tmp/shrink-peer/$order.csv
    [[ -s $data ]] || "$shrink" generate --groups 1000000 --obs 1:19 --mu 0 --tau 1 --sigma 1 --seed 1 \
      $([[ $order == shuffled ]] && echo --shuffle) -o "$data"
    echo "== rows $order"
    "$0" "$data"
  done
  exit
fi
data=$1
if [[ $py == benchmarks/.venv/bin/python && ! -x $py ]]; then
  python3 -m venv benchmarks/.venv && printf '*\n' >benchmarks/.venv/.gitignore  # keep it out of git
  benchmarks/.venv/bin/pip install -q polars duckdb numpy
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat "$data" >/dev/null  # every tool reads from the page cache

tools="shrink polars duckdb"
if command -v Rscript >/dev/null && Rscript -e 'suppressMessages(library(data.table))' 2>/dev/null; then
  tools="$tools datatable"
else
  echo "note: R data.table not installed (apt-get install r-cran-data.table): skipped"
fi

# One line per run: tool rep wall_s inner_s tau2 mu sigma2 (inner: the tool's own timer, read to write,
# without interpreter start-up and imports; shrink: its process wall time).
results=$work/results.txt
for rep in $(seq "$reps"); do
  for tool in $tools; do
    t0=$EPOCHREALTIME
    case $tool in
      shrink) "$shrink" fit "$data" --backend cpu -o "$work/shrink.csv" --summary "$work/s.json" -q
              out="seconds=0 $(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))
print(" ".join("%s=%.17g" % (k, s[k]) for k in ("tau2", "mu", "sigma2")))' "$work/s.json")" ;;
      polars) out=$("$py" benchmarks/peer_polars.py "$data" "$work/polars.csv") ;;
      duckdb) out=$("$py" benchmarks/peer_duckdb.py "$data" "$work/duckdb.csv") ;;
      datatable) out=$(Rscript benchmarks/peer_datatable.R "$data" "$work/datatable.csv") ;;
    esac
    t1=$EPOCHREALTIME
    echo "$tool $rep $t0 $t1 $out" >>"$results"
  done
done

python3 - "$results" "$work/s.json" "$data" <<'PY'
import json, os, sys
runs = {}
for line in open(sys.argv[1]):
    tool, rep, t0, t1, *kv = line.split()
    d = dict(x.split("=") for x in kv)
    wall = float(t1) - float(t0)
    inner = float(d["seconds"]) or wall
    runs.setdefault(tool, []).append((wall, inner, d))
s = json.load(open(sys.argv[2]))
print("data: %s, %d rows, %d groups, %.0f MB; best of %d, runs interleaved; %d cores"
      % (sys.argv[3], s["observations"], s["groups"], os.path.getsize(sys.argv[3]) / 1e6,
         len(runs["shrink"]), os.cpu_count()))
base = min(r[0] for r in runs["shrink"])
print("%-10s %9s %17s %11s %11s %12s  %s" % ("tool", "best wall", "wall min..max", "best inner",
                                           "wall/shrink", "inner/shrink", "rel diff from shrink: tau2 mu sigma2"))
for tool, rs in runs.items():
    walls, inners = [r[0] for r in rs], [r[1] for r in rs]
    d = rs[-1][2]
    diffs = " ".join("%.1e" % (abs(float(d[k]) - s[k]) / abs(s[k])) for k in ("tau2", "mu", "sigma2"))
    print("%-10s %8.3fs %7.3f..%7.3fs %10.3fs %10.2fx %11.2fx  %s" % (
        tool, min(walls), min(walls), max(walls), min(inners), min(walls) / base, min(inners) / base,
        "-" if tool == "shrink" else diffs))
st = s["stage_seconds"]
print("shrink's own timer (last run): fit after parsing %.3f s (summaries %.3f, tau %.3f, posteriors %.3f); "
      "the rest of its wall time is reading and parsing the CSV and writing the output"
      % (s["seconds"], st["summarize"], st["tau"], st["posterior"]))
print("wall: the whole process (Python / R start-up and imports included); inner: the tool's own timer "
      "from the read to the written CSV; ratios: the peer's best over shrink's best wall time (> 1: shrink faster)")
PY
