#!/usr/bin/env python3
"""Best wall time of N runs of a command (a small run's time is mostly noise on a shared machine).

Usage: benchmarks/best_of.py N COMMAND [ARGS...]   prints the best time in seconds
"""
import subprocess
import sys
import time

n = int(sys.argv[1])
best = float("inf")
for _ in range(n):
    t0 = time.perf_counter()
    subprocess.run(sys.argv[2:], check=True)
    best = min(best, time.perf_counter() - t0)
print(f"{best:.4f}")
