#!/usr/bin/env python3
"""Simulation-study throughput in one run on one machine: the vectorised NumPy version
(benchmarks/numpy_simulate.py, one core as NumPy runs it), `shrink simulate --backend cpu` (all
cores, or --threads), and `shrink simulate --backend cuda` where a GPU is usable. Same study for all
(sufficient mode, equal n, normal prior); each result is checked against the closed-form oracle
risk before its time is reported, and the ratios are printed as measured in this run.

Usage: simulate_bench.py --shrink build/shrink [--groups J] [--obs N] [--tau T] [--replicates R]
                         [--numpy-replicates R] [--threads N] [--gpu] [--gpu-groups J] [--gpu-replicates R]
                         [--markdown FILE]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy_simulate  # noqa: E402


def oracle_check(name, mse, mcse, sigma, n, tau):
    v = sigma * sigma / n
    risk = v * tau * tau / (v + tau * tau)
    z = (mse - risk) / mcse
    ok = abs(z) < 4
    print("  %-12s oracle MSE %.6g, closed form %.6g (%+.1f MCSE)%s" % (name, mse, risk, z, "" if ok else "  <-- FAILED"))
    return ok


def run_shrink(binary, backend, J, n, tau, R, threads):
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "s.json")
        cmd = [binary, "simulate", "--groups", str(J), "--obs", str(n), "--tau", str(tau), "--replicates", str(R),
               "--seed", "1", "--backend", backend, "-q", "-o", os.path.join(tmp, "o.csv"), "--json", js]
        if threads:
            cmd += ["--threads", str(threads)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        with open(js) as f:
            j = json.load(f)
    orc = j["scenarios"][0]["estimators"]["oracle"]
    return j["backend_seconds"], wall, orc["mse"], orc["mse_mcse"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shrink", required=True)
    p.add_argument("--groups", type=int, default=1000)
    p.add_argument("--obs", type=int, default=10)
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--replicates", type=int, default=20000)
    p.add_argument("--numpy-replicates", type=int, default=0, help="default: --replicates")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--gpu", action="store_true", help="also run --backend cuda")
    p.add_argument("--gpu-groups", type=int, default=1000000)
    p.add_argument("--gpu-replicates", type=int, default=10000)
    p.add_argument("--markdown", help="append the results as a markdown table to this file")
    p.add_argument("--fp64-ops-per-s", type=float, default=132 * 64 * 1.98e9,
                   help="the GPU's double-precision operation rate (default: H100 SXM, 132 SMs x 64 x 1.98 GHz)")
    a = p.parse_args()
    J, n, tau, R = a.groups, a.obs, a.tau, a.replicates
    Rn = a.numpy_replicates or R
    ok = True
    print("study: J = %d groups, n = %d, sigma = 1, tau = %g (sufficient mode)" % (J, n, tau))

    t0 = time.perf_counter()
    m = numpy_simulate.study(J, n, 0.0, 1.0, tau, Rn, 1)
    np_s = time.perf_counter() - t0
    np_rate = J * Rn / np_s
    ok &= oracle_check("numpy", m[:, 9].mean(), m[:, 9].std(ddof=1) / Rn ** 0.5, 1.0, n, tau)

    cpu_s, cpu_wall, mse, mcse = run_shrink(a.shrink, "cpu", J, n, tau, R, a.threads)
    cpu_rate = J * R / cpu_s
    ok &= oracle_check("shrink cpu", mse, mcse, 1.0, n, tau)

    rows = [("numpy (1 core)", J, Rn, np_s, np_rate, 1.0),
            ("shrink --backend cpu (%s threads)" % (a.threads or os.cpu_count()), J, R, cpu_s, cpu_rate,
             cpu_rate / np_rate)]
    if a.gpu:
        gpu_s, gpu_wall, mse, mcse = run_shrink(a.shrink, "cuda", a.gpu_groups, n, tau, a.gpu_replicates, 0)
        gpu_rate = a.gpu_groups * a.gpu_replicates / gpu_s
        ok &= oracle_check("shrink cuda", mse, mcse, 1.0, n, tau)
        rows.append(("shrink --backend cuda", a.gpu_groups, a.gpu_replicates, gpu_s, gpu_rate, gpu_rate / np_rate))
        # The ratio compares the same study shape: the CPU at the GPU's J, with fewer replicates
        # (rates are per group-replicate, and the CPU's is flat in R).
        cpu_r = max(20, a.gpu_replicates // 100)
        big_s, _, mse, mcse = run_shrink(a.shrink, "cpu", a.gpu_groups, n, tau, cpu_r, a.threads)
        big_rate = a.gpu_groups * cpu_r / big_s
        ok &= oracle_check("shrink cpu (GPU's J)", mse, mcse, 1.0, n, tau)
        rows.append(("shrink --backend cpu at the GPU's J", a.gpu_groups, cpu_r, big_s, big_rate, big_rate / np_rate))
        print("  cuda: %.3g group-replicates/s = %.1fx the CPU backend on the same study shape (goal >= 30x, "
              ">= 2e10/s); wall %.2f s with context start" % (gpu_rate, gpu_rate / big_rate, gpu_wall))
        # The floor: ~205 double operations per group-replicate (count in src/common/simulate_formulas.hpp,
        # a division or square root counted as one although each is several instructions on the GPU),
        # compute-bound at the FP64 rate; Philox's ~210 integer operations run beside them.
        ceiling = a.fp64_ops_per_s / 205
        print("  cuda: FP64-bound ceiling %.3g group-replicates/s; reached %.0f%%" % (ceiling, 100 * gpu_rate / ceiling))

    head = "| run | groups | replicates | seconds | group-replicates/s | vs numpy |"
    lines = [head, "|---|---:|---:|---:|---:|---:|"]
    for name, g, r, s, rate, ratio in rows:
        lines.append("| %s | %d | %d | %.3f | %.3g | %.1fx |" % (name, g, r, s, rate, ratio))
    table = "\n".join(lines)
    print(table)
    print("CPU backend / NumPy: %.1fx (goal >= 5x)" % (cpu_rate / np_rate))
    if a.markdown:
        with open(a.markdown, "a") as f:
            f.write("\n%s, %s, %d cores, J = %d, n = %d, tau = %g\n\n%s\n" % (
                time.strftime("%Y-%m-%d"), platform.processor() or platform.machine(), os.cpu_count(), J, n, tau,
                table))
    if not ok:
        print("validation failed: times above are not comparable")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
