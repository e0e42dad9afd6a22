#!/usr/bin/env bash
# `shrink simulate --family binomial --backend cpu` against the NumPy/SciPy study doing the same
# (numpy_simulate_binomial.py), alternated, best of RUNS each, both on THREADS threads; prints the
# group-replicates per second of each and their ratio (a ratio measured in one run).
# Usage: benchmarks/simulate_family_bench.sh [SHRINK] [PYTHON]   (env: GROUPS_ REPS TRIALS THREADS RUNS)
set -euo pipefail
shrink=${1:-build/shrink}
python=${2:-python3}
J=${GROUPS_:-200} R=${REPS:-1000} N=${TRIALS:-20} T=${THREADS:-1} runs=${RUNS:-3}
here=$(dirname "$0")
best_s=1e300 best_p=1e300
for i in $(seq "$runs"); do
  t=$(mktemp)
  /usr/bin/time -o "$t" -f %e "$shrink" simulate --family binomial --groups "$J" --trials "$N" --mean 0.3 \
    --concentration 10 --replicates "$R" --seed "$i" --backend cpu --threads "$T" -q >/dev/null
  s=$(tail -1 "$t")
  /usr/bin/time -o "$t" -f %e "$python" "$here/numpy_simulate_binomial.py" --groups "$J" --trials "$N" --mean 0.3 \
    --concentration 10 --replicates "$R" --seed "$i" --threads "$T" >/dev/null 2>&1
  p=$(tail -1 "$t")
  rm -f "$t"
  best_s=$(python3 -c "print(min($best_s, $s))")
  best_p=$(python3 -c "print(min($best_p, $p))")
  echo "run $i: shrink $s s, numpy $p s"
done
python3 -c "
gr = $J * $R
print(f'J = $J, trials = $N, R = $R, threads = $T: shrink {gr / $best_s:.3g} group-replicates/s ({$best_s} s), '
      f'numpy {gr / $best_p:.3g} ({$best_p} s): shrink / numpy = {$best_p / $best_s:.1f}x (best of $runs, wall clock)')"
