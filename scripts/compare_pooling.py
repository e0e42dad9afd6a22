#!/usr/bin/env python3
"""Prints the no / complete / partial pooling comparison of a `shrink fit` run.

usage: compare_pooling.py GROUPS.csv SUMMARY.json [TRUTH.csv]
With TRUTH.csv (from `shrink generate --truth`), also the mean squared error of each estimate
against the true group means.
"""
import csv
import json
import sys


def main(groups_path, summary_path, truth_path=None):
    with open(summary_path) as f:
        s = json.load(f)
    with open(groups_path, newline="") as f:
        rows = list(csv.DictReader(f))
    mu = s["mu"]
    print(f"\nJ = {s['groups']} groups, N = {s['observations']} observations; "
          f"mu = {mu:.4g}, tau = {s['tau']:.4g} ({s['tau_method']}), "
          f"sigma = {s['sigma2'] ** 0.5 if s.get('sigma2') else float('nan'):.4g}, backend {s['backend']}")
    by_n = sorted(rows, key=lambda r: int(r["n"]))
    picks = by_n[:3] + by_n[len(by_n) // 2:len(by_n) // 2 + 2] + by_n[-3:]
    print(f"\n{'group':>8} {'n':>5} {'no pooling':>12} {'complete':>12} {'partial':>12} {'shrinkage':>10}")
    for r in picks:
        print(f"{r['group']:>8} {r['n']:>5} {float(r['mean']):12.4f} {mu:12.4f} "
              f"{float(r['estimate']):12.4f} {float(r['shrinkage']):10.3f}")
    if truth_path:
        with open(truth_path, newline="") as f:
            theta = {r["group"]: float(r["theta"]) for r in csv.DictReader(f)}
        errors = {"no pooling": 0.0, "complete pooling": 0.0, "partial pooling": 0.0}
        for r in rows:
            t = theta[r["group"]]
            errors["no pooling"] += (float(r["mean"]) - t) ** 2
            errors["complete pooling"] += (mu - t) ** 2
            errors["partial pooling"] += (float(r["estimate"]) - t) ** 2
        print("\nmean squared error against the true group means:")
        for name, e in errors.items():
            print(f"  {name:>17}: {e / len(rows):.4f}")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(*sys.argv[1:])
