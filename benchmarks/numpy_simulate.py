#!/usr/bin/env python3
"""The simulation study of `shrink simulate` (sufficient mode, equal n, normal prior), vectorised in
NumPy as well as we can fairly write it: the same draws' laws and the same per-group work as shrink.

- Blocks of about 65,536 group-replicates (B = block / J replicates x J groups, or one replicate when
  J is larger), so the working arrays stay in cache; buffers are allocated once and every step writes
  into them (`out=`), so no temporaries are made per block.
- numpy.random.Generator(SFC64): NumPy's fastest bit generator, ziggurat normals.
- Sufficient statistics drawn directly, as shrink's --mode sufficient: ybar_j ~ N(theta_j, sigma^2/n)
  and the pooled within-group sum of squares as one sigma^2 chi2(J (n - 1)) per replicate (the law of
  the sum of the J per-group ones).
- Everything relative to the true mu, as shrink: t = theta - mu, d = ybar - mu.
- --threads T: replicates split into T contiguous ranges, each with its own generator (SeedSequence
  spawn) and buffers, on Python threads: NumPy's generators and ufuncs release the GIL, so the block
  loops run in parallel. The draws depend on the seed, T and the block size (the order in which a
  block consumes its stream): any of them gives another, equally valid, study.

Estimators and measures as shrink: no_pool, complete_pool, partial_pool (moment tau2, pooled sigma2,
mu_hat = mean ybar), oracle (true mu, sigma, tau), james_stein (positive part); per replicate the mean
over groups of the squared error, the error, and the coverage of the central 95% intervals (no_pool
and partial_pool on sigma2_hat with the t quantile on J (n - 1) df, as shrink; oracle with z). Prints
shrink's CSV columns (draws differ: numbers agree in distribution only) and the time on stderr.

Usage: numpy_simulate.py --groups J --obs N --sigma S --tau T --replicates R [--mu M] [--seed K]
                         [--block E] [--threads T] [--csv FILE]
"""

import argparse
import sys
import threading
import time

import numpy as np

Z95 = 1.959963984540054


def t_quantile(z, df):
    """Student t quantile at the normal quantile z by Abramowitz & Stegun 26.7.5 (an expansion in
    1/df; no SciPy needed). At z = 1.96 against R's qt: error 2.5e-5 at df = 8, 2.4e-7 at 20, 3e-8 at
    30, below 1e-10 from 100 (the benchmark's df are 9,000 and more)."""
    g1 = (z ** 3 + z) / 4
    g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96
    g3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384
    g4 = (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160
    return z + g1 / df + g2 / df ** 2 + g3 / df ** 3 + g4 / df ** 4


def _run_range(rng, out, J, n, sigma, tau, block):
    """Fills out[r] (17 metrics, shrink's order) for the replicates of this range."""
    R = out.shape[0]
    B = max(1, min(R, block // J))
    s = sigma / np.sqrt(n)                      # true sd of ybar_j
    df = J * (n - 1)
    q = t_quantile(Z95, df) if n >= 2 else Z95  # shrink's quantile on sigma2_hat
    b_or = s * s / (s * s + tau * tau)          # oracle: shrink toward the true mu with the true B
    half_or = Z95 * np.sqrt(s * s * tau * tau / (s * s + tau * tau))
    t, d, err, tmp = (np.empty((B, J)) for _ in range(4))
    inv_J = 1.0 / J

    cov = np.empty((B, J), dtype=bool)

    def measure(m, k, e, half=None):
        """Estimator k's mse, bias (and coverage within +-half) into m from its errors e (b x J);
        e is overwritten by |e| when half is given."""
        m[:, 3 * k + 1] = np.add.reduce(e, axis=1) * inv_J
        m[:, 3 * k] = np.einsum("ij,ij->i", e, e) * inv_J
        if half is not None:
            np.abs(e, out=e)
            m[:, 3 * k + 2] = np.count_nonzero(np.less_equal(e, half, out=cov[:len(e)]), axis=1) * inv_J

    for r0 in range(0, R, B):
        b = min(B, R - r0)
        m = out[r0:r0 + b]
        tb, db, eb, xb = t[:b], d[:b], err[:b], tmp[:b]
        rng.standard_normal(out=tb)
        tb *= tau                                # theta_j - mu
        rng.standard_normal(out=eb)
        eb *= s                                  # ybar_j - theta_j
        np.add(tb, eb, out=db)                   # ybar_j - mu
        sum_d = np.add.reduce(db, axis=1)
        center = sum_d * inv_J                   # mean ybar: mu_hat (equal n) and James-Stein's centre
        spread = np.maximum(np.einsum("ij,ij->i", db, db) - sum_d * center, 0.0)
        sigma2 = sigma * sigma * rng.chisquare(df, b) / df if n >= 2 else np.full(b, sigma * sigma)
        v = sigma2 / n
        tau2 = np.maximum(0.0, spread / (J - 1) - v)
        bhat = v / (v + tau2)
        js_c = np.maximum(0.0, 1.0 - (J - 3) * v / np.where(spread > 0, spread, np.inf)) if J >= 4 \
            else np.zeros(b)
        col = lambda x: x[:, None]               # per-replicate scalars broadcast over groups

        measure(m, 0, eb, col(q * np.sqrt(v)))   # no_pool: ybar - theta (eb is then |error|)
        np.subtract(col(center), tb, out=xb)     # complete_pool: mu_hat(0) - theta
        measure(m, 1, xb)
        np.multiply(db, col(1.0 - bhat), out=xb)  # partial_pool: (1 - B) d + B mu_hat - t
        xb += col(bhat * center)
        xb -= tb
        measure(m, 2, xb, col(q * np.sqrt(v * tau2 / (v + tau2))))
        np.multiply(db, 1.0 - b_or, out=xb)      # oracle: (1 - B_true) d - t
        xb -= tb
        measure(m, 3, xb, half_or)
        np.multiply(db, col(js_c), out=xb)       # james_stein: centre + c (d - centre) - t
        xb += col((1.0 - js_c) * center)
        xb -= tb
        measure(m, 4, xb)
        m[:, 15] = np.sqrt(tau2)
        m[:, 16] = tau2 == 0


def study(J, n, mu, sigma, tau, R, seed, block=1 << 16, threads=1):
    """R x 17 per-replicate metrics (shrink's order: mse, bias, coverage for each of the five
    estimators, then tau_hat and tau2_hat == 0). mu only shifts everything: the errors do not
    depend on it."""
    del mu
    metrics = np.zeros((R, 17))
    T = max(1, min(threads, R))
    rngs = [np.random.Generator(np.random.SFC64(s)) for s in np.random.SeedSequence(seed).spawn(T)]
    bounds = [R * i // T for i in range(T + 1)]
    work = [threading.Thread(target=_run_range, args=(rngs[i], metrics[bounds[i]:bounds[i + 1]], J, n, sigma,
                                                      tau, block)) for i in range(T)]
    for w in work:
        w.start()
    for w in work:
        w.join()
    return metrics


def rows(J, n, mu, sigma, tau, R, metrics):
    """shrink's CSV rows, with its Monte Carlo standard errors."""
    mean = metrics.mean(axis=0)
    sd = metrics.std(axis=0, ddof=1)
    mcse = sd / np.sqrt(R)
    th = metrics[:, 15] - mean[15]
    m2, m4 = (th ** 2).mean(), (th ** 4).mean()
    sd_mcse = np.sqrt(max(0.0, m4 - m2 * m2) / R) / (2 * sd[15]) if sd[15] > 0 else 0.0  # delta method
    zeros = round(mean[16] * R)
    names = ("no_pool", "complete_pool", "partial_pool", "oracle", "james_stein")
    lines = []
    for k, name in enumerate(names):
        f = [J, n, mu, sigma, tau, name, R, mean[3 * k], mcse[3 * k], mean[3 * k + 1], mcse[3 * k + 1]]
        # Coverage is a count over R x J cases: its exact ratio, as shrink prints it.
        f += [round(mean[3 * k + 2] * R * J) / (R * J), mcse[3 * k + 2]] if k in (0, 2, 3) else ["", ""]
        f += [mean[15], sd[15], zeros / R, mcse[15], sd_mcse, np.sqrt(zeros * (R - zeros) / R) / R] if k == 2 \
            else [""] * 6
        lines.append(",".join(repr(float(x)) if isinstance(x, (float, np.floating)) else str(x) for x in f))
    return lines


HEADER = ("groups,obs,mu,sigma,tau,estimator,replicates,mse,mse_mcse,bias,bias_mcse,coverage,coverage_mcse,"
          "tau_hat_mean,tau_hat_sd,p_tau_zero,tau_hat_mean_mcse,tau_hat_sd_mcse,p_tau_zero_mcse")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--groups", type=int, required=True)
    p.add_argument("--obs", type=int, default=10)
    p.add_argument("--mu", type=float, default=0.0)
    p.add_argument("--sigma", type=float, default=1.0)
    p.add_argument("--tau", type=float, default=1.0)
    p.add_argument("--replicates", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--block", type=int, default=1 << 16, help="group-replicates per block (default 65536)")
    p.add_argument("--threads", type=int, default=1, help="Python threads over replicate ranges")
    p.add_argument("--csv", default="-")
    a = p.parse_args()
    t0 = time.perf_counter()
    m = study(a.groups, a.obs, a.mu, a.sigma, a.tau, a.replicates, a.seed, a.block, a.threads)
    seconds = time.perf_counter() - t0
    text = HEADER + "\n" + "\n".join(rows(a.groups, a.obs, a.mu, a.sigma, a.tau, a.replicates, m)) + "\n"
    if a.csv == "-":
        sys.stdout.write(text)
    else:
        with open(a.csv, "w") as f:
            f.write(text)
    gr = a.groups * a.replicates
    print("numpy: %d group-replicates in %.3f s (%.3g group-replicates/s, %d thread(s))"
          % (gr, seconds, gr / seconds, a.threads), file=sys.stderr)


if __name__ == "__main__":
    main()
