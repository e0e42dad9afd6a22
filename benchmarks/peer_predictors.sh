#!/usr/bin/env bash
# Issue 12's speed section, each ratio measured in one run (end to end: reading the CSV and fitting;
# R's package loading excluded, data.table's fread included):
#  1. raw mode, 3 row-level covariates: shrink fit --covariates x1,x2,x3 (REML) against
#     lme4::lmer(y ~ x1 + x2 + x3 + (1 | group), REML = TRUE), and the largest relative difference
#     of the fixed effects, tau2 and sigma2;
#  2. summary mode, 5 moderators: shrink fit --covariates m1..m5 --tau-method reml against
#     metafor::rma(yi, vi, mods = ~ m1 + ... + m5, method = "REML"), and the largest relative
#     difference of tau2 and the coefficients.
# Usage: benchmarks/peer_predictors.sh [SHRINK_BINARY] [raw J:N ...] [summary K ...]
#   default: raw 10000:100000 100000:1000000, summary 1000 and 100000 (metafor only up to 1e4).
# Needs R with lme4, metafor and data.table, and Python with numpy (benchmarks/.venv or python3).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
shrink=${1:-"$here/../build/shrink"}
python=${PYTHON:-"$here/.venv/bin/python"}
[ -x "$python" ] || python=python3
raw_sizes=(${RAW_SIZES:-10000:100000 100000:1000000})
summary_sizes=(${SUMMARY_SIZES:-1000 100000})
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }

printf 'raw mode, 3 covariates (REML)\n%-8s %-9s %10s %10s %9s %12s\n' groups rows shrink_s lme4_s ratio max_rel_diff
for size in "${raw_sizes[@]}"; do
  J=${size%%:*}; N=${size##*:}
  csv="$work/raw_$J.csv"
  "$python" "$here/predictors_data.py" raw "$J" "$N" "$csv"
  t0=$(now)
  "$shrink" fit "$csv" --covariates x1,x2,x3 --summary "$work/s.json" -o /dev/null -q
  t1=$(now)
  Rscript -e '
    suppressMessages({library(lme4); library(data.table); library(jsonlite)})
    a <- commandArgs(TRUE); t0 <- Sys.time()
    d <- fread(a[1]); f <- lmer(y ~ x1 + x2 + x3 + (1 | group), data = d, REML = TRUE)
    el <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
    s <- fromJSON(a[2]); vc <- as.data.frame(VarCorr(f))
    ours <- c(s$coefficients$estimate, s$tau2, s$sigma2); theirs <- c(fixef(f), vc$vcov)
    cat(el, max(abs(ours - theirs) / abs(theirs)), "\n")' "$csv" "$work/s.json" > "$work/r.txt"
  read -r lme4_s diff < "$work/r.txt"
  shrink_s=$(echo "$t1 - $t0" | bc -l)
  printf '%-8s %-9s %10.3f %10.3f %9.1f %12.2e\n' "$J" "$(( $(wc -l < "$csv") - 1 ))" "$shrink_s" "$lme4_s" \
    "$(echo "$lme4_s / $shrink_s" | bc -l)" "$diff"
done

printf '\nsummary mode, 5 moderators (REML)\n%-8s %10s %10s %9s %12s\n' groups shrink_s metafor_s ratio max_rel_diff
for K in "${summary_sizes[@]}"; do
  csv="$work/summary_$K.csv"
  "$python" "$here/predictors_data.py" summary "$K" "$csv"
  t0=$(now)
  "$shrink" fit "$csv" --estimate yi --variance vi --covariates m1,m2,m3,m4,m5 --tau-method reml \
    --summary "$work/m.json" -o /dev/null -q
  t1=$(now)
  shrink_s=$(echo "$t1 - $t0" | bc -l)
  if [ "$K" -le 10000 ]; then
    Rscript -e '
      suppressMessages({library(metafor); library(data.table); library(jsonlite)})
      a <- commandArgs(TRUE); t0 <- Sys.time()
      d <- fread(a[1]); f <- rma(yi, vi, mods = ~ m1 + m2 + m3 + m4 + m5, data = d, method = "REML")
      el <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
      s <- fromJSON(a[2]); ours <- c(s$coefficients$estimate, s$tau2); theirs <- c(coef(f), f$tau2)
      cat(el, max(abs(ours - theirs) / abs(theirs)), "\n")' "$csv" "$work/m.json" > "$work/r.txt"
    read -r metafor_s diff < "$work/r.txt"
    printf '%-8s %10.3f %10.3f %9.1f %12.2e\n' "$K" "$shrink_s" "$metafor_s" "$(echo "$metafor_s / $shrink_s" | bc -l)" "$diff"
  else
    printf '%-8s %10.3f %10s %9s %12s\n' "$K" "$shrink_s" "-" "-" "(metafor needs k x k matrices)"
  fi
done
