#!/usr/bin/env bash
# shrink fit --family binomial (ml) against R maximising the same beta-binomial likelihood, on the same
# CSV of per-group counts, in one run: wall time of each end to end (reading the CSV included: R's
# data.table::fread; package loading excluded), the ratio, and the relative differences of alpha and
# beta (the issue's goals: >= 100x and agreement to 1e-6).
# R peers: VGAM's vglm(cbind(y, n - y) ~ 1, betabinomial) (Fisher scoring on logit mu, logit rho) and
# nlminb (PORT quasi-Newton; optim's BFGS leaps to alpha = e^220 from a poor start) on the vectorised
# log-likelihood with its analytic gradient in log(alpha, beta), started at the moment estimate.
#
# Usage: benchmarks/peer_betabinomial.sh [SHRINK_BINARY] [GROUPS ...]   (default 100000 1000000)
# VGAM runs only up to 1e5 groups (it takes about a minute there; "-" in its columns beyond).
# Needs R with data.table and VGAM (Debian: r-cran-data.table r-cran-vgam).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shrink=${1:-"$here/../build/shrink"}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '%-9s %9s %9s %9s %8s %8s %12s %12s\n' groups shrink_s nlminb_s vgam_s nlminb_x vgam_x rel_d_alpha rel_d_beta
for J in "${sizes[@]}"; do
  csv="$work/counts_$J.csv"
  # Trials uniform on 5..200, rates from Beta(2, 14): the rat-tumour scale, a million times over.
  Rscript -e "set.seed(1); J <- $J; n <- sample(5:200, J, TRUE); y <- rbinom(J, n, rbeta(J, 2, 14));
              data.table::fwrite(data.frame(group = 1:J, y = y, n = n), '$csv')"
  t0=$(date +%s.%N)
  "$shrink" fit "$csv" --family binomial --successes y --trials n --summary "$work/s.json" -o /dev/null -q
  t1=$(date +%s.%N)
  shrink_s=$(echo "$t1 - $t0" | bc -l)
  read -r optim_s vgam_s a_optim b_optim < <(Rscript -e "
    suppressMessages({library(data.table); library(VGAM)})
    t0 <- Sys.time(); d <- fread('$csv'); y <- d\$y; n <- d\$n
    nll <- function(p) { a <- exp(p[1]); b <- exp(p[2]); -sum(lbeta(y + a, n - y + b) - lbeta(a, b)) }
    gr <- function(p) { a <- exp(p[1]); b <- exp(p[2]); s <- digamma(n + a + b) - digamma(a + b)
      -c(a * sum(digamma(y + a) - digamma(a) - s), b * sum(digamma(n - y + b) - digamma(b) - s)) }
    r <- y / n; m <- mean(r); nu <- max(m * (1 - m) / var(r) - 1, 0.1)  # the moment estimate as the start
    o <- nlminb(log(c(m * nu, (1 - m) * nu)), nll, gr, control = list(rel.tol = 1e-14, iter.max = 1000, eval.max = 2000))
    t_optim <- as.numeric(Sys.time() - t0, units = 'secs')
    t_vgam <- NA
    if ($J <= 100000) {
      t0 <- Sys.time(); d <- fread('$csv')
      f <- vglm(cbind(y, n - y) ~ 1, betabinomial, data = d)
      t_vgam <- as.numeric(Sys.time() - t0, units = 'secs')
    }
    cat(t_optim, t_vgam, exp(o\$par), '\n')")
  python3 - "$work/s.json" "$J" "$shrink_s" "$optim_s" "$vgam_s" "$a_optim" "$b_optim" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
J, t_shrink, t_optim, t_vgam, a_optim, b_optim = sys.argv[2], *map(float, sys.argv[3:5]), sys.argv[5], *map(float, sys.argv[6:8])
vgam = "-" if t_vgam == "NA" else f"{float(t_vgam):.3f}"
vgam_x = "-" if t_vgam == "NA" else f"{float(t_vgam) / t_shrink:.1f}"
print(f"{J:<9} {t_shrink:9.3f} {t_optim:9.3f} {vgam:>9} {t_optim / t_shrink:8.1f} {vgam_x:>8} "
      f"{abs(s['alpha'] - a_optim) / a_optim:12.2e} {abs(s['beta'] - b_optim) / b_optim:12.2e}")
PY
done
