#!/usr/bin/env bash
# shrink fit --family binomial --prior logit-normal (ml, Laplace: --quadrature-points 1) against lme4's
# glmer(cbind(y, n - y) ~ 1 + (1 | group), binomial, nAGQ = 1) on the same CSV of per-group counts, in
# one run: wall time of each end to end (reading the CSV included: R's data.table::fread; package
# loading excluded), the ratio, and the differences of mu and tau2 (the issue's goals: >= 100x and
# agreement to 1e-5). glmer's default optimizer settings; its estimates stop at its tolerance.
#
# Usage: benchmarks/peer_glmer.sh [SHRINK_BINARY] [GROUPS ...]   (default 100000)
# Needs R with lme4 and data.table (Debian: r-cran-lme4 r-cran-data.table).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shrink=${1:-"$here/../build/shrink"}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '%-9s %9s %9s %8s %12s %12s\n' groups shrink_s glmer_s ratio abs_d_mu rel_d_tau2
for J in "${sizes[@]}"; do
  csv="$work/counts_$J.csv"
  # Trials uniform on 5..200, b_j ~ N(0, 0.5^2) around logit 0.12: click-through-like rates.
  Rscript -e "set.seed(1); J <- $J; n <- sample(5:200, J, TRUE); y <- rbinom(J, n, plogis(qlogis(0.12) + rnorm(J, 0, 0.5)));
              data.table::fwrite(data.frame(group = 1:J, y = y, n = n), '$csv')"
  t0=$(date +%s.%N)
  "$shrink" fit "$csv" --family binomial --successes y --trials n --prior logit-normal --quadrature-points 1 \
    --summary "$work/s.json" -o /dev/null -q
  t1=$(date +%s.%N)
  shrink_s=$(echo "$t1 - $t0" | bc -l)
  read -r glmer_s mu tau2 < <(Rscript -e "
    suppressMessages({library(data.table); library(lme4)})
    t0 <- Sys.time(); d <- fread('$csv'); d\$group <- factor(d\$group)
    g <- glmer(cbind(y, n - y) ~ 1 + (1 | group), data = d, family = binomial, nAGQ = 1)
    cat(as.numeric(Sys.time() - t0, units = 'secs'), sprintf('%.17g', fixef(g)[[1]]), sprintf('%.17g', getME(g, 'theta')[[1]]^2), '\n')")
  python3 - "$work/s.json" "$J" "$shrink_s" "$glmer_s" "$mu" "$tau2" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
J, t_shrink, t_glmer, mu, tau2 = sys.argv[2], *map(float, sys.argv[3:7])
print(f"{J:<9} {t_shrink:9.3f} {t_glmer:9.3f} {t_glmer / t_shrink:8.1f} {abs(s['mu'] - mu):12.2e} {abs(s['tau2'] - tau2) / tau2:12.2e}")
PY
done
