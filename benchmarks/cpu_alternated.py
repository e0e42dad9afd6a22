#!/usr/bin/env python3
"""CPU time of `shrink fit` builds, alternated run by run, best of N each (a loaded machine's wall
times are mostly waiting; user + sys of the process is what the build costs).

Usage: benchmarks/cpu_alternated.py N DATA.csv THREADS SHRINK_BINARY... (ARGS="--covariates x1,x2,x3" default)
Each run: shrink fit DATA.csv ARGS --summary /dev/null -o /dev/null -q --threads THREADS.
"""
import os
import resource
import subprocess
import sys
import time

n, data, threads, binaries = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
extra = os.environ.get("ARGS", "--covariates x1,x2,x3").split()
best = {b: None for b in binaries}
for _ in range(n):
    for b in binaries:
        r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
        subprocess.run([b, "fit", data, *extra, "--summary", "/dev/null", "-o", "/dev/null", "-q", "--threads", threads], check=True)
        t1, r1 = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
        user, sys_ = r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime
        if best[b] is None or user + sys_ < best[b][0]:
            best[b] = (user + sys_, user, sys_, t1 - t0)
load = " ".join(open("/proc/loadavg").read().split()[:3])
for b in binaries:
    cpu, user, sys_, wall = best[b]
    print(f"threads={threads} {b}: cpu {cpu:.3f} s (user {user:.3f}, sys {sys_:.3f}; wall of that run {wall:.3f} s), load {load}")
