#!/usr/bin/env python3
"""The study of `shrink simulate --family binomial` (equal trials), vectorised in NumPy and SciPy as
well as we can fairly write it: the same laws, estimators and measures as shrink.

- Blocks of about 65,536 group-replicates (B = block / J replicates x J groups), so the working
  arrays stay in cache; numpy.random.Generator(SFC64), NumPy's fastest bit generator (its beta and
  binomial samplers are exact: gammas, BTPE / inversion).
- Per replicate the counts y_j take n + 1 values: the fits work on the histogram of the y_j
  (B x (n + 1)), and every posterior (mean and central interval of Beta(a + k, b + n - k)) is taken
  once per value k, not per group, then looked up by y_j: the same gathering shrink does.
- Estimators as shrink: no_pool y/n; complete_pool sum y / sum n; partial_pool at the ml fit
  (Newton on (logit m, log nu) from the moment fit, analytic derivatives from digamma/trigamma,
  step halving, a Levenberg shift where the Hessian is not negative definite, converged when the
  Newton decrement is below 1e-12, the boundary nu = infinity where the likelihood climbs to it);
  partial_pool_mom at the moment fit (nu = m (1 - m) / v - 1 on the rates); oracle at the true
  prior. Intervals: the exact central posterior interval at --level (scipy.special.betaincinv), a
  point at the pooled rate on the boundary. Per replicate the mean over groups of the squared error,
  the error and the coverage; the ml fit's 1 / (1 + nu) (0 on the boundary).
- --threads T: replicates split into T contiguous ranges, each with its own generator (SeedSequence
  spawn), on Python threads (NumPy's generators and ufuncs release the GIL).

Prints shrink's CSV rows (draws differ: numbers agree in distribution only) and the time on stderr.

Usage: numpy_simulate_binomial.py --groups J --trials N --mean M --concentration NU --replicates R
                                  [--seed K] [--level 0.95] [--block E] [--threads T]
"""

import argparse
import sys
import threading
import time

import numpy as np
from scipy import special

BOUNDARY = 1e12  # shrink's boundary concentration
ESTIMATORS = ["no_pool", "complete_pool", "partial_pool", "oracle", "partial_pool_mom"]


def loglik(cnt, n, a, b):
    """Beta-binomial log-likelihood without constants, per replicate, and its (a, b) derivatives."""
    k = np.arange(n + 1.0)
    ak, bk = a[:, None] + k, b[:, None] + (n - k)
    nu = a + b
    value = (cnt * (special.gammaln(ak) + special.gammaln(bk))).sum(1) - cnt.sum(1) * (
        special.gammaln(a) + special.gammaln(b) + special.gammaln(nu + n) - special.gammaln(nu))
    return value, k, ak, bk


def derivatives(cnt, n, a, b, k, ak, bk):
    J = cnt.sum(1)
    nu = a + b
    psi_nu = special.digamma(nu + n) - special.digamma(nu)
    tri_nu = special.polygamma(1, nu + n) - special.polygamma(1, nu)
    da = (cnt * special.digamma(ak)).sum(1) - J * (special.digamma(a) + psi_nu)
    db = (cnt * special.digamma(bk)).sum(1) - J * (special.digamma(b) + psi_nu)
    daa = (cnt * special.polygamma(1, ak)).sum(1) - J * (special.polygamma(1, a) + tri_nu)
    dbb = (cnt * special.polygamma(1, bk)).sum(1) - J * (special.polygamma(1, b) + tri_nu)
    dab = -J * tri_nu
    return da, db, daa, dab, dbb


def ml_fit(cnt, n, m0, nu0):
    """Newton on (u, v) = (logit m, log nu) for every replicate of the block at once."""
    u, v = np.log(m0 / (1 - m0)), np.log(nu0)
    done = np.zeros(len(u), bool)
    boundary = np.zeros(len(u), bool)
    for _ in range(200):
        m, nu = 1 / (1 + np.exp(-u)), np.exp(v)
        a, b = nu * m, nu * (1 - m)
        value, k, ak, bk = loglik(cnt, n, a, b)
        da, db, daa, dab, dbb = derivatives(cnt, n, a, b, k, ak, bk)
        mu_ = m * (1 - m)
        au, bu, av, bv = nu * mu_, -nu * mu_, a, b
        auu = nu * mu_ * (1 - 2 * m)
        gu, gv = da * au + db * bu, da * av + db * bv
        huu = daa * au * au + 2 * dab * au * bu + dbb * bu * bu + (da - db) * auu
        huv = daa * au * av + dab * (au * bv + av * bu) + dbb * bu * bv + da * au + db * bu
        hvv = daa * av * av + 2 * dab * av * bv + dbb * bv * bv + da * a + db * b
        A, Bm, C = -huu, -huv, -hvv
        shift = np.zeros_like(A)
        bad = ~((A > 0) & (A * C - Bm * Bm > 0))
        while bad.any():
            shift[bad] = np.where(shift[bad] == 0, 1e-8 * (np.abs(A[bad]) + np.abs(C[bad]) + 1), shift[bad] * 10)
            bad = ~((A + shift > 0) & ((A + shift) * (C + shift) - Bm * Bm > 0))
        det = (A + shift) * (C + shift) - Bm * Bm
        du, dv = ((C + shift) * gu - Bm * gv) / det, ((A + shift) * gv - Bm * gu) / det
        dec = du * gu + dv * gv
        converged = (shift == 0) & (dec < 1e-12)
        boundary |= ~done & (v > np.log(BOUNDARY)) & (gv > 0)
        active = ~done & ~boundary & ~converged
        fin = ~done & converged
        u[fin] += du[fin]
        v[fin] += dv[fin]
        done |= fin | boundary
        if not active.any():
            break
        step = np.ones_like(u)
        trying = active.copy()
        for _ in range(60):  # step halving where the likelihood would fall
            m2 = 1 / (1 + np.exp(-(u + step * du)))
            nu2 = np.exp(v + step * dv)
            new, *_ = loglik(cnt[trying], n, (nu2 * m2)[trying], (nu2 * (1 - m2))[trying])
            ok = np.isfinite(new) & (new >= value[trying])
            idx = np.flatnonzero(trying)
            trying[idx[ok]] = False
            if not trying.any():
                break
            step[trying] *= 0.5
        u[active] += step[active] * du[active]
        v[active] += step[active] * dv[active]
    m, nu = 1 / (1 + np.exp(-u)), np.exp(v)
    # The boundary where the likelihood without over-dispersion (at the pooled rate) is as high.
    total = cnt.sum(1) * n
    y_sum = (cnt * np.arange(n + 1.0)).sum(1)
    pooled = y_sum / total
    with np.errstate(divide="ignore", invalid="ignore"):
        l_inf = np.where(y_sum > 0, y_sum * np.log(pooled), 0) + np.where(total > y_sum, (total - y_sum) * np.log1p(-pooled), 0)
    value, *_ = loglik(cnt, n, nu * m, nu * (1 - m))
    boundary |= (nu > BOUNDARY) | (value <= l_inf + 1e-13 * np.abs(l_inf))
    return m, nu, boundary


def posterior_tables(a, b, boundary, mean, n, tail):
    """Mean, lower and upper of Beta(a + k, b + n - k) for k = 0..n (B x (n + 1)); a point on the boundary."""
    k = np.arange(n + 1.0)
    with np.errstate(invalid="ignore"):
        pa, pb = a[:, None] + k, b[:, None] + (n - k)
        post_mean = pa / (pa + pb)
        lo = special.betaincinv(pa, pb, tail)
        hi = special.betaincinv(pa, pb, 1 - tail)
    at = boundary[:, None] & np.ones_like(post_mean, bool)
    point = np.broadcast_to(mean[:, None], post_mean.shape)
    return np.where(at, point, post_mean), np.where(at, point, lo), np.where(at, point, hi)


def run_range(rng, out, J, n, m_true, nu_true, level, block):
    R = out.shape[0]
    B = max(1, min(R, block // J))
    a0, b0 = m_true * nu_true, (1 - m_true) * nu_true
    tail = 0.5 * (1 - level)
    k = np.arange(n + 1)
    oracle = posterior_tables(np.array([a0]), np.array([b0]), np.array([False]), np.array([m_true]), n, tail)
    for r0 in range(0, R, B):
        b_ = min(B, R - r0)
        theta = rng.beta(a0, b0, size=(b_, J))
        y = rng.binomial(n, theta)
        cnt = (y[:, :, None] == k).sum(1).astype(float)  # histogram of the counts, per replicate
        rate = y / n
        pooled = y.sum(1) / (J * n)
        # The method of moments on the rates.
        mm, vv = rate.mean(1), rate.var(1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            nu_mom = np.where(vv > 0, mm * (1 - mm) / vv - 1, np.inf)
        degenerate = (y.sum(1) == 0) | (y.sum(1) == J * n)
        mom_boundary = degenerate | ~(nu_mom > 0) | (nu_mom > BOUNDARY) | (mm <= 0) | (mm >= 1)
        mom_mean = np.where(degenerate, pooled, mm)
        # ml, from the moment fit (kept finite).
        m0 = np.where((mm > 0) & (mm < 1), mm, np.clip(pooled, 1e-6, 1 - 1e-6))
        nu0 = np.where((nu_mom > 0.01) & (nu_mom < 1e6), nu_mom, np.where(nu_mom > 0.01, 1e6, 1.0))
        ml_m, ml_nu, ml_boundary = np.full(b_, 0.5), np.full(b_, 1.0), degenerate.copy()
        fit = ~degenerate
        if fit.any():
            ml_m[fit], ml_nu[fit], ml_boundary[fit] = ml_fit(cnt[fit], n, m0[fit], nu0[fit])
        ml_mean = np.where(ml_boundary, pooled, ml_m)
        tables = [
            posterior_tables(ml_m * ml_nu, (1 - ml_m) * ml_nu, ml_boundary, ml_mean, n, tail),
            (tuple(np.broadcast_to(t, (b_, n + 1)) for t in oracle)),
            posterior_tables(mm * nu_mom, (1 - mm) * nu_mom, mom_boundary, mom_mean, n, tail),
        ]
        o = out[r0:r0 + b_]
        estimates = [rate, np.broadcast_to(pooled[:, None], (b_, J))]
        covered = [None, None]
        for mean_t, lo_t, hi_t in tables:
            estimates.append(np.take_along_axis(mean_t, y, 1))
            lo, hi = np.take_along_axis(lo_t, y, 1), np.take_along_axis(hi_t, y, 1)
            covered.append(((lo <= theta) & (theta <= hi)).mean(1))
        for e, est in enumerate(estimates):
            err = est - theta
            o[:, 3 * e] = (err * err).mean(1)
            o[:, 3 * e + 1] = err.mean(1)
            o[:, 3 * e + 2] = covered[e] if covered[e] is not None else 0
        o[:, 15] = np.where(ml_boundary, 0.0, 1 / (1 + ml_nu))
        o[:, 16] = ml_boundary


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--groups", type=int, required=True)
    p.add_argument("--trials", type=int, required=True)
    p.add_argument("--mean", type=float, required=True)
    p.add_argument("--concentration", type=float, required=True)
    p.add_argument("--replicates", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--level", type=float, default=0.95)
    p.add_argument("--block", type=int, default=65536)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    out = np.empty((a.replicates, 17))
    rngs = [np.random.Generator(np.random.SFC64(s)) for s in np.random.SeedSequence(a.seed).spawn(a.threads)]
    edges = np.linspace(0, a.replicates, a.threads + 1).astype(int)
    t0 = time.perf_counter()
    workers = [threading.Thread(target=run_range, args=(rngs[i], out[edges[i]:edges[i + 1]], a.groups, a.trials, a.mean,
                                                        a.concentration, a.level, a.block)) for i in range(a.threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - t0
    R = a.replicates
    mean, sd = out.mean(0), out.std(0, ddof=1)
    print("groups,obs,mu,sigma,tau,estimator,replicates,mse,mse_mcse,bias,bias_mcse,coverage,coverage_mcse,"
          "tau_hat_mean,tau_hat_sd,p_tau_zero")
    for e, name in enumerate(ESTIMATORS):
        cov = f"{mean[3 * e + 2]:.6g},{sd[3 * e + 2] / np.sqrt(R):.3g}" if e >= 2 else ","
        tau = f"{mean[15]:.6g},{sd[15]:.6g},{mean[16]:.6g}" if name == "partial_pool" else ",,"
        print(f"{a.groups},{a.trials},{a.mean:g},,{a.concentration:g},{name},{R},{mean[3 * e]:.6g},"
              f"{sd[3 * e] / np.sqrt(R):.3g},{mean[3 * e + 1]:.6g},{sd[3 * e + 1] / np.sqrt(R):.3g},{cov},{tau}")
    gr = a.groups * R
    print(f"numpy binomial study: {gr:.3g} group-replicates in {seconds:.3f} s ({gr / seconds:.3g} group-replicates/s, "
          f"{a.threads} thread(s))", file=sys.stderr)


if __name__ == "__main__":
    main()
