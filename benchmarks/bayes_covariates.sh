#!/usr/bin/env bash
# shrink fit --covariates x1,x2,x3 --tau-method bayes against --tau-method reml on the same summary
# rows (k groups, 3 moderators), best of 3 wall times each, interleaved. Usage:
#   benchmarks/bayes_covariates.sh [SHRINK] [PYTHON]   (defaults: build/shrink, benchmarks/.venv/bin/python)
set -euo pipefail
shrink=${1:-build/shrink}
python=${2:-benchmarks/.venv/bin/python}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$python" - "$dir" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(12)
for k in (1000, 100000):
    x = rng.normal(size=(k, 3))
    v = rng.uniform(0.05, 0.5, size=k)
    y = 0.3 + x @ np.array([0.5, -0.2, 0.1]) + rng.normal(scale=0.4, size=k) + rng.normal(size=k) * np.sqrt(v)
    with open(f"{sys.argv[1]}/meta_{k}.csv", "w") as f:
        f.write("y,v,x1,x2,x3\n")
        for i in range(k):
            f.write(f"{float(y[i])!r},{float(v[i])!r},{float(x[i, 0])!r},{float(x[i, 1])!r},{float(x[i, 2])!r}\n")
PY
for k in 1000 100000; do
  declare -A best=([reml]=999 [bayes]=999)
  for run in 1 2 3; do
    for m in reml bayes; do
      start=$(date +%s.%N)
      "$shrink" fit "$dir/meta_$k.csv" --estimate y --variance v --covariates x1,x2,x3 --tau-method "$m" \
        -o /dev/null --summary "$dir/$m.json" -q
      t=$(echo "$(date +%s.%N) - $start" | bc)
      best[$m]=$(echo "if ($t < ${best[$m]}) $t else ${best[$m]}" | bc)
    done
  done
  nodes=$("$python" -c "import json; print(json.load(open('$dir/bayes.json'))['tau_posterior']['nodes'])")
  echo "k = $k: reml ${best[reml]} s, bayes ${best[bayes]} s ($nodes nodes), bayes / reml = $(echo "scale=2; ${best[bayes]} / ${best[reml]}" | bc)"
done
