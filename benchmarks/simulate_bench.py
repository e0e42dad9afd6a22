#!/usr/bin/env python3
"""Simulation-study throughput in one run on one machine: the vectorised NumPy version
(benchmarks/numpy_simulate.py, at each of --threads), optionally an older NumPy version to compare
(--numpy-baseline FILE, one thread), `shrink simulate --backend cpu` at each of --threads (and at each
SIMD level of --simd, and an older shrink binary of --shrink-baseline), and `shrink simulate --backend
cuda` where a GPU is usable. Same study for all (sufficient mode, equal n,
normal prior); every result is checked against the closed-form oracle risk, and each time is the
best of --repeat runs (interleaved, so a burst of load on a shared machine hits every tool alike),
printed with the spread. The CPU's arithmetic floor: --cpu-fp64-ops double operations per
group-replicate (the lane code's count) at --cpu-fp64-per-cycle per core and --cpu-ghz; the table
gives each CPU run's rate per thread as a fraction of it. On a shared machine --cpu-time times by
the processor time each run used (all its threads, startup included) instead of the wall clock, so
that time spent waiting for a core does not count; rates are then per core busy.

Usage: simulate_bench.py --shrink build/shrink [--groups J[,J2..]] [--replicates R[,R2..]] [--obs N]
                         [--tau T] [--threads 1,2] [--repeat 3] [--numpy-baseline FILE]
                         [--shrink-baseline OLD_BINARY] [--simd avx512,avx2,scalar]
                         [--gpu] [--gpu-groups J] [--gpu-replicates R] [--markdown FILE]
--groups and --replicates are paired lists: one study shape each.
"""

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import numpy  # noqa: F401
except ImportError:  # the system Python may lack NumPy: use the benchmarks' virtual environment
    venv = os.path.join(HERE, ".venv")
    if os.path.exists(venv) and os.path.realpath(sys.prefix) != os.path.realpath(venv):
        os.execv(os.path.join(venv, "bin", "python"), [os.path.join(venv, "bin", "python")] + sys.argv)
    sys.exit("numpy is needed: python3 -m venv benchmarks/.venv && benchmarks/.venv/bin/pip install numpy")
sys.path.insert(0, HERE)
import numpy_simulate  # noqa: E402


def oracle_check(name, mse, mcse, sigma, n, tau):
    v = sigma * sigma / n
    risk = v * tau * tau / (v + tau * tau)
    z = (mse - risk) / mcse
    ok = abs(z) < 4
    print("  %-26s oracle MSE %.6g, closed form %.6g (%+.1f MCSE)%s" % (name, mse, risk, z, "" if ok else "  <-- FAILED"))
    return ok


CPU_TIME = False  # --cpu-time


def children_cpu_seconds():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def run_numpy(study, J, n, tau, R, **kw):
    clock = time.process_time if CPU_TIME else time.perf_counter
    t0 = clock()
    m = study(J, n, 0.0, 1.0, tau, R, 1, **kw)
    seconds = clock() - t0
    return seconds, m[:, 9].mean(), m[:, 9].std(ddof=1) / R ** 0.5


def run_shrink(binary, backend, J, n, tau, R, threads, simd=None):
    env = dict(os.environ)
    if simd:
        env["SHRINK_SIMD"] = simd
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "s.json")
        cmd = [binary, "simulate", "--groups", str(J), "--obs", str(n), "--tau", str(tau), "--replicates", str(R),
               "--seed", "1", "--backend", backend, "-q", "-o", os.path.join(tmp, "o.csv"), "--json", js]
        if threads:
            cmd += ["--threads", str(threads)]
        c0 = children_cpu_seconds()
        subprocess.run(cmd, check=True, env=env)
        cpu = children_cpu_seconds() - c0
        with open(js) as f:
            j = json.load(f)
    orc = j["scenarios"][0]["estimators"]["oracle"]
    return cpu if CPU_TIME else j["backend_seconds"], orc["mse"], orc["mse_mcse"]


def ints(text):
    return [int(x) for x in text.split(",")]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shrink", required=True)
    p.add_argument("--groups", type=ints, default=[1000])
    p.add_argument("--replicates", type=ints, default=[20000])
    p.add_argument("--obs", type=int, default=10)
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--threads", type=ints, default=[1, os.cpu_count()],
                   help="comma list for NumPy and shrink (0: all cores; default 1 and all cores)")
    p.add_argument("--repeat", type=int, default=1, help="runs of each; the best is reported")
    p.add_argument("--numpy-baseline", help="another numpy_simulate.py (e.g. an older one) to time, 1 thread")
    p.add_argument("--shrink-baseline", help="another shrink binary (e.g. the last release) to time, interleaved")
    p.add_argument("--simd", default="",
                   help="comma list of SHRINK_SIMD levels (avx512, avx2, sse2, scalar) to time shrink at "
                        "(default: the level it picks)")
    p.add_argument("--cpu-ghz", type=float, default=None,
                   help="core clock for the floor (default: /proc/cpuinfo's cpu MHz, the TSC's rate in a VM)")
    p.add_argument("--cpu-fp64-per-cycle", type=float, default=16,
                   help="double add/sub/mul per cycle per core (default 16: AMD Zen 4, two 256-bit add and "
                        "two 256-bit multiply pipes; AVX-512 runs on them in halves)")
    p.add_argument("--cpu-fp64-ops", type=float, default=112,
                   help="double operations per group-replicate in the lane code (default 112: equal n, normal "
                        "prior: draw 76 incl. one division and one square root, pass 1 sums 5, pass 3 31)")
    p.add_argument("--cpu-time", action="store_true",
                   help="time CPU runs by the processor time they used, not the wall clock (shared machines)")
    p.add_argument("--gpu", action="store_true", help="also run --backend cuda")
    p.add_argument("--gpu-groups", type=int, default=1000000)
    p.add_argument("--gpu-replicates", type=int, default=10000)
    p.add_argument("--markdown", help="append the results as a markdown table to this file")
    p.add_argument("--sms", type=int, default=132, help="the GPU's SMs (default: H100 SXM / H200, 132)")
    p.add_argument("--clock-ghz", type=float, default=1.98, help="the SM clock (default: H100 SXM / H200 boost)")
    p.add_argument("--instructions", type=float, default=550,
                   help="instructions the kernel issues per group-replicate, all kinds (default 550: equal n, "
                        "normal prior, from its SASS)")
    p.add_argument("--fp64-instructions", type=float, default=200,
                   help="of which FP64 (default 200)")
    a = p.parse_args()
    if len(a.groups) != len(a.replicates):
        p.error("--groups and --replicates need the same number of entries")
    n, tau = a.obs, a.tau
    global CPU_TIME
    CPU_TIME = a.cpu_time
    a.threads = sorted({t or os.cpu_count() for t in a.threads})
    baseline = None
    if a.numpy_baseline:
        spec = importlib.util.spec_from_file_location("numpy_baseline", a.numpy_baseline)
        baseline = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(baseline)

    # Each entry: a name and a function of (J, R) returning (seconds, oracle mse, its mcse).
    runs = []
    if baseline:
        runs.append(("numpy baseline (1 thread)", lambda J, R: run_numpy(baseline.study, J, n, tau, R)))
    for t in a.threads:
        runs.append(("numpy (%d thread%s)" % (t, "s" * (t > 1)),
                     lambda J, R, t=t: run_numpy(numpy_simulate.study, J, n, tau, R, threads=t)))
    simd = [x for x in a.simd.split(",") if x] or [None]
    shrink_runs = []  # (name, threads)
    for t in a.threads:
        plural = "s" * (t > 1)
        if a.shrink_baseline:
            name = "shrink baseline (%d thread%s)" % (t, plural)
            runs.append((name, lambda J, R, t=t: run_shrink(a.shrink_baseline, "cpu", J, n, tau, R, t)))
            shrink_runs.append((name, t))
        for level in simd:
            name = "shrink --backend cpu%s (%d thread%s)" % (" " + level if level else "", t, plural)
            runs.append((name, lambda J, R, t=t, level=level: run_shrink(a.shrink, "cpu", J, n, tau, R, t, level)))
            shrink_runs.append((name, t))

    ok = True
    times = {}  # (shape, run) -> list of seconds
    print("study: n = %d, sigma = 1, tau = %g (sufficient mode); best of %d, %d cores, load %s"
          % (n, tau, a.repeat, os.cpu_count(), " ".join("%.2f" % x for x in os.getloadavg())))
    for J, R in zip(a.groups, a.replicates):  # untimed warm-up: first-call costs in NumPy and the page cache
        numpy_simulate.study(J, n, 0.0, 1.0, tau, min(R, 200), 1)
        run_shrink(a.shrink, "cpu", J, n, tau, min(R, 200), 1)
    for rep in range(a.repeat):
        for J, R in zip(a.groups, a.replicates):
            for name, fn in runs:
                seconds, mse, mcse = fn(J, R)
                times.setdefault((J, R, name), []).append(seconds)
                if rep == 0:
                    ok &= oracle_check("%s J=%d" % (name, J), mse, mcse, 1.0, n, tau)

    head = "| run | groups | replicates | best s | spread s | group-replicates/s | vs numpy 1 thread |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|"]
    rates = {}
    for J, R in zip(a.groups, a.replicates):
        ref = J * R / min(times[(J, R, "numpy (1 thread)")]) if (J, R, "numpy (1 thread)") in times else None
        for name, _ in runs:
            ts = times[(J, R, name)]
            rate = rates[(J, name)] = J * R / min(ts)
            lines.append("| %s | %d | %d | %.3f | %.3f-%.3f | %.3g | %s |" % (
                name, J, R, min(ts), min(ts), max(ts), rate, "%.2fx" % (rate / ref) if ref else "-"))
    if a.gpu:
        J0 = a.groups[0]
        T = max(a.threads)
        gpu_s, mse, mcse = run_shrink(a.shrink, "cuda", a.gpu_groups, n, tau, a.gpu_replicates, 0)
        gpu_rate = a.gpu_groups * a.gpu_replicates / gpu_s
        ok &= oracle_check("shrink cuda", mse, mcse, 1.0, n, tau)
        # The ratio compares the same study shape: the CPU at the GPU's J, with fewer replicates
        # (rates are per group-replicate, and the CPU's is flat in R).
        cpu_r = max(20, a.gpu_replicates // 100)
        big_s, mse, mcse = run_shrink(a.shrink, "cpu", a.gpu_groups, n, tau, cpu_r, T)
        big_rate = a.gpu_groups * cpu_r / big_s
        ok &= oracle_check("shrink cpu (GPU's J)", mse, mcse, 1.0, n, tau)
        ref = rates.get((J0, "numpy (1 thread)"))
        for name, g, r, s, rate in (("shrink --backend cuda", a.gpu_groups, a.gpu_replicates, gpu_s, gpu_rate),
                                    ("shrink --backend cpu at the GPU's J (%d threads)" % T, a.gpu_groups, cpu_r,
                                     big_s, big_rate)):
            lines.append("| %s | %d | %d | %.3f | - | %.3g | %s |" % (name, g, r, s, rate,
                                                                      "%.1fx" % (rate / ref) if ref else "-"))
        print("  cuda: %.3g group-replicates/s = %.1fx the CPU backend on the same study shape (goal >= 30x, "
              ">= 2e10/s)" % (gpu_rate, gpu_rate / big_rate))
        # The ceiling counts what the kernel really issues per group-replicate: ~550 instructions, ~200
        # of them FP64 (a division or square root is several instructions; Philox's multiplies, the bit
        # fields of the uniforms, the loop and the address arithmetic are the rest). An SM issues one
        # warp instruction per cycle on each of its 4 schedulers (128 thread-instructions a cycle) and
        # retires 64 FP64 operations a cycle: the lower of the two rates bounds the kernel.
        per_second = a.sms * a.clock_ghz * 1e9
        issue = per_second * 128 / a.instructions
        fp64 = per_second * 64 / a.fp64_instructions
        ceiling = min(issue, fp64)
        print("  cuda: ceiling %.3g group-replicates/s (%s-bound: %.0f instructions at 128/cycle/SM -> %.3g, "
              "%.0f FP64 at 64/cycle/SM -> %.3g, %d SMs at %.2f GHz); reached %.0f%%"
              % (ceiling, "issue" if issue <= fp64 else "FP64", a.instructions, issue, a.fp64_instructions, fp64,
                 a.sms, a.clock_ghz, 100 * gpu_rate / ceiling))

    table = "\n".join(lines)
    print(table)
    ghz = a.cpu_ghz
    if ghz is None:
        try:
            with open("/proc/cpuinfo") as f:
                ghz = next(float(l.split(":")[1]) for l in f if l.startswith("cpu MHz")) / 1000
        except (OSError, StopIteration, ValueError):
            ghz = 0
    floor = ghz * 1e9 * a.cpu_fp64_per_cycle / a.cpu_fp64_ops if ghz else None
    if floor:
        print("CPU arithmetic floor: %.0f double ops per group-replicate at %.0f per cycle and %.2f GHz = %.3g "
              "group-replicates/s per core (%.2f cycles each)" % (a.cpu_fp64_ops, a.cpu_fp64_per_cycle, ghz, floor,
                                                                 a.cpu_fp64_ops / a.cpu_fp64_per_cycle))
    for J in a.groups:
        one = rates.get((J, "numpy (1 thread)"))
        for name, t in shrink_runs:
            s = rates[(J, name)]
            per = 1 if CPU_TIME else t  # processor time already counts every thread's
            numpy_t = rates.get((J, "numpy (%d thread%s)" % (t, "s" * (t > 1))))
            print("J = %d, %s: %.3g group-replicates/s per %s (%.1f cycles each%s); / numpy at equal threads %.2fx%s"
                  % (J, name, s / per, "core busy" if CPU_TIME else "thread", ghz * 1e9 * per / s if ghz else float("nan"),
                     ", %.0f%% of the floor" % (100 * s / per / floor) if floor else "",
                     s / numpy_t if numpy_t else float("nan"),
                     ", / numpy 1 thread %.2fx" % (s / one) if one else ""))
    if a.markdown:
        with open(a.markdown, "a") as f:
            f.write("\n%s, %s, %d cores, n = %d, tau = %g, best of %d\n\n%s\n" % (
                time.strftime("%Y-%m-%d"), platform.processor() or platform.machine(), os.cpu_count(), n, tau,
                a.repeat, table))
    if not ok:
        print("validation failed: times above are not comparable")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
