#!/usr/bin/env python3
"""The simulation study of `shrink simulate` (sufficient mode, equal n, normal prior), vectorised
in NumPy as a competent user would write it: replicates in batches, every array B x J, NumPy's
default generator (PCG64, ziggurat normals). The same estimators and measures as the C++ code:
no_pool, complete_pool, partial_pool (moment tau2, pooled sigma2), oracle, james_stein; MSE, bias
and coverage with Monte Carlo standard errors. Prints the same CSV rows (draws differ, so numbers
agree in distribution only) and the time it took.

Usage: numpy_simulate.py --groups J --obs N --sigma S --tau T --replicates R [--mu M] [--seed K]
                         [--batch-elements E] [--csv FILE]
"""

import argparse
import sys
import time

import numpy as np

Z95 = 1.959963984540054


def study(J, n, mu, sigma, tau, R, seed, batch_elements=1 << 22):
    rng = np.random.default_rng(seed)
    B = max(1, min(R, batch_elements // J))
    metrics = np.empty((R, 17))
    v_true = sigma * sigma / n
    b_or = v_true / (v_true + tau * tau)
    half_or = Z95 * np.sqrt(v_true * tau * tau / (v_true + tau * tau))
    done = 0
    while done < R:
        b = min(B, R - done)
        theta = mu + tau * rng.standard_normal((b, J))
        ybar = theta + np.sqrt(v_true) * rng.standard_normal((b, J))
        if n >= 2:
            # The pooled within-group sum of squares: one chi-square with J (n-1) df per replicate,
            # the same law as the sum of J per-group draws (and what shrink draws).
            sigma2 = sigma * sigma * rng.chisquare(J * (n - 1), b) / (J * (n - 1))
        else:
            sigma2 = np.full(b, sigma * sigma)
        v = (sigma2 / n)[:, None]
        center = ybar.mean(axis=1, keepdims=True)
        dev = ybar - center
        spread = (dev * dev).sum(axis=1, keepdims=True)
        tau2 = np.maximum(0.0, spread / (J - 1) - v)
        shrink = v / (v + tau2)
        pp = ybar + shrink * (center - ybar)
        half_pp = Z95 * np.sqrt(v * tau2 / (v + tau2))
        c = np.maximum(0.0, 1.0 - (J - 3) * v / np.where(spread > 0, spread, np.inf)) if J >= 4 else np.zeros_like(v)
        js = center + c * dev
        orc = ybar - b_or * (ybar - mu)
        out = metrics[done:done + b]
        for k, est in enumerate((ybar, np.broadcast_to(center, ybar.shape), pp, orc, js)):
            err = est - theta
            out[:, 3 * k] = (err * err).mean(axis=1)
            out[:, 3 * k + 1] = err.mean(axis=1)
            out[:, 3 * k + 2] = 0.0
        out[:, 2] = (np.abs(ybar - theta) <= Z95 * np.sqrt(v)).mean(axis=1)
        out[:, 8] = (np.abs(pp - theta) <= half_pp).mean(axis=1)
        out[:, 11] = (np.abs(orc - theta) <= half_or).mean(axis=1)
        out[:, 15] = np.sqrt(tau2[:, 0])
        out[:, 16] = tau2[:, 0] == 0
        done += b
    return metrics


def rows(J, n, mu, sigma, tau, R, metrics):
    mean = metrics.mean(axis=0)
    sd = metrics.std(axis=0, ddof=1)
    mcse = sd / np.sqrt(R)
    names = ("no_pool", "complete_pool", "partial_pool", "oracle", "james_stein")
    lines = []
    for k, name in enumerate(names):
        f = [J, n, mu, sigma, tau, name, R, mean[3 * k], mcse[3 * k], mean[3 * k + 1], mcse[3 * k + 1]]
        f += [mean[3 * k + 2], mcse[3 * k + 2]] if k in (0, 2, 3) else ["", ""]
        f += [mean[15], sd[15], mean[16]] if k == 2 else ["", "", ""]
        lines.append(",".join(repr(x) if isinstance(x, float) else str(x) for x in f))
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--groups", type=int, required=True)
    p.add_argument("--obs", type=int, default=10)
    p.add_argument("--mu", type=float, default=0.0)
    p.add_argument("--sigma", type=float, default=1.0)
    p.add_argument("--tau", type=float, default=1.0)
    p.add_argument("--replicates", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch-elements", type=int, default=1 << 22, help="B x J elements per batch array")
    p.add_argument("--csv", default="-")
    a = p.parse_args()
    t0 = time.perf_counter()
    m = study(a.groups, a.obs, a.mu, a.sigma, a.tau, a.replicates, a.seed, a.batch_elements)
    seconds = time.perf_counter() - t0
    text = "groups,obs,mu,sigma,tau,estimator,replicates,mse,mse_mcse,bias,bias_mcse,coverage,coverage_mcse," \
           "tau_hat_mean,tau_hat_sd,p_tau_zero\n" + "\n".join(rows(a.groups, a.obs, a.mu, a.sigma, a.tau,
                                                                   a.replicates, m)) + "\n"
    if a.csv == "-":
        sys.stdout.write(text)
    else:
        with open(a.csv, "w") as f:
            f.write(text)
    gr = a.groups * a.replicates
    print("numpy: %d group-replicates in %.3f s (%.3g group-replicates/s)" % (gr, seconds, gr / seconds),
          file=sys.stderr)


if __name__ == "__main__":
    main()
