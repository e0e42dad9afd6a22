#!/usr/bin/env bash
# CPU seconds (user + sys) and wall seconds of shrink binaries on one command line, runs interleaved,
# best of REPS each: on a shared machine CPU time is steadier than wall time.
#   benchmarks/cpu_times.sh REPS BINARY... -- ARGS...   e.g. 3 old/shrink build/shrink -- fit data.csv -o /dev/null -q
set -euo pipefail
reps=$1; shift; bins=(); while [[ $1 != -- ]]; do bins+=("$1"); shift; done; shift
times=$(mktemp); trap 'rm -f "$times"' EXIT
for _ in $(seq "$reps"); do for b in "${bins[@]}"; do
  /usr/bin/time -f "$b %U %S %e" -a -o "$times" "$b" "$@" >/dev/null 2>&1
done; done
python3 - "$times" <<'PY'
import sys
d = {}
for line in open(sys.argv[1]):
    b, u, s, e = line.split()
    d.setdefault(b, []).append((float(u) + float(s), float(u), float(e)))
for b, v in d.items():
    print("%-24s best cpu %.3f s (user %.3f)  best wall %.3f s  runs %d"
          % (b, min(x[0] for x in v), min(x[1] for x in v), min(x[2] for x in v), len(v)))
PY
