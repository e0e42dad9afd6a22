#!/usr/bin/env bash
# A study run whole against the same study run as PARTS ranges of replicates (separate processes, one
# after another, as shrink.dask.simulate's workers would run them) and merged with --merge-partials:
# checks the merged CSV is the single run's byte for byte, and prints the best-of-RUNS wall clock of
# the single run, of the parts (summed), of the merge, and the partial files' size.
# Usage: benchmarks/simulate_blocks_bench.sh [SHRINK]   (env: GROUPS_ REPS PARTS THREADS RUNS)
set -euo pipefail
shrink=${1:-build/shrink}
J=${GROUPS_:-100} R=${REPS:-100000} P=${PARTS:-4} T=${THREADS:-1} runs=${RUNS:-3}
study="simulate --groups $J --obs 10 --tau 0,0.5 --replicates $R --seed 1 --backend cpu --threads $T -q"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Ranges of whole 64-replicate blocks, as even as possible (split_replicates' rule).
ranges=$(python3 -c "
b = ($R + 63) // 64; p = min($P, b)
for i in range(p):
    b0, b1 = i * b // p, (i + 1) * b // p
    print(f'{b0 * 64}:{min(b1 * 64, $R) - b0 * 64}')")
now() { date +%s.%N; }
best_single=1e300 best_parts=1e300 best_merge=1e300
for i in $(seq "$runs"); do
  t0=$(now); $shrink $study -o "$dir/single.csv"; t1=$(now)
  k=0; files=()
  for r in $ranges; do $shrink $study --replicate-range "$r" --partial-out "$dir/p$k.json"; files+=("$dir/p$k.json"); k=$((k + 1)); done
  t2=$(now); $shrink simulate -q --merge-partials "${files[@]}" -o "$dir/merged.csv"; t3=$(now)
  cmp -s "$dir/single.csv" "$dir/merged.csv" || { echo "merged CSV differs from the single run" >&2; exit 1; }
  read -r best_single best_parts best_merge < <(python3 -c "
print(min($best_single, $t1 - $t0), min($best_parts, $t2 - $t1), min($best_merge, $t3 - $t2))")
done
bytes=$(cat "${files[@]}" | wc -c)
python3 -c "
print(f'J = $J, R = $R, $P parts, threads = $T: single {$best_single:.3f} s, parts {$best_parts:.3f} s '
      f'(x{$best_parts / $best_single:.3f}), merge {$best_merge:.3f} s, partials {$bytes / $P / 1024:.0f} KiB each; '
      f'merged CSV = single CSV (best of $runs, wall clock)')"
