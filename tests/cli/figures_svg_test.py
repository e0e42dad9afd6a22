#!/usr/bin/env python3
"""`shrink simulate --plot`: the SVG parsed as XML, every drawn position read back through the
figure's own tick labels and checked against the replicate's numbers. The truth is independent of
the drawing: each group's no-pooling mean is the mean of its drawn observations, and mu_hat, the
partial-pooling estimates and complete pooling are recomputed here from the group means, n_j and
the variance estimates the page embeds (the same replicate).

Usage: figures_svg_test.py SHRINK_BINARY        Exit 0: passed; 1: failed.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

NS = {"s": "http://www.w3.org/2000/svg"}
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def scale_of(root):
    """Pixel -> value from the tick labels: every tick must lie on one straight line."""
    ticks = [(float(t.get("x")), float(t.text)) for t in root.iter("{%s}text" % NS["s"]) if t.get("class") == "tick"]
    check(len(ticks) >= 8, "fewer than 4 ticks on each of the two axes: %d" % len(ticks))
    (x0, v0), (x1, v1) = min(ticks), max(ticks)
    slope = (v1 - v0) / (x1 - x0)
    for x, v in ticks:
        check(abs(v0 + (x - x0) * slope - v) <= 1e-3 * abs(v1 - v0), "tick %r at %r is off the scale" % (v, x))
    return lambda x: v0 + (x - x0) * slope, abs(slope)


def centre_x(el):
    """The x a marker is centred on: a circle's cx, a path's first point moved by its shape."""
    if el.tag.endswith("circle"):
        return float(el.get("cx"))
    nums = [float(t) for t in re.findall(r"-?[\d.]+(?:e-?\d+)?", el.get("d"))]
    cls = el.get("class")
    if cls == "np":    # M x-m y-m l 2m 2m ...
        return nums[0] + nums[2] / 2
    return nums[0]     # triangle and diamond start at their top vertex


def by_class(root, cls):
    out = {}
    for el in root.iter():
        if el.get("class") == cls:
            out.setdefault(int(el.get("data-j", -1)), []).append(el)
    return out


def page_data(path):
    html = open(path, encoding="utf-8").read()
    return json.loads(re.search(r'<script id="shrink-data" type="application/json">(.*?)</script>', html, re.S).group(1))


def normal_truth(d, tau2):
    v = [d["sigma2_hat"] / n for n in d["n"]]
    w = [1 / (vj + tau2) for vj in v]
    mu = sum(wj * y for wj, y in zip(w, d["ybar"])) / sum(w)
    return mu, [y + vj / (vj + tau2) * (mu - y) for y, vj in zip(d["ybar"], v)]


def run(binary, tmp, args):
    svg, page = os.path.join(tmp, "f.svg"), os.path.join(tmp, "f.html")
    subprocess.run([binary, "simulate"] + args + ["--replicates", "8", "--seed", "3", "-q", "--plot", svg, "--html", page,
                                                   "-o", os.path.join(tmp, "o.csv")], check=True)
    return ET.parse(svg).getroot(), page_data(page)


def check_rows(root, d, mu, est, pooled, label):
    value, per_px = scale_of(root)
    tol = 0.15 * per_px  # coordinates are printed to 6 digits: well under a tenth of a pixel
    J = len(d["theta"])
    cp = by_class(root, "cp")
    if list(cp) == [-1]:  # the shrinkage plot marks complete pooling once, on its bottom axis
        check(abs(value(centre_x(cp[-1][0])) - pooled) <= tol, "%s: complete pooling mark" % label)
    for cls, truth in (("np", d["ybar"]), ("pp", est), ("truth", d["theta"]), ("cp", [pooled] * J)):
        marks = by_class(root, cls)
        if cls == "cp" and list(marks) == [-1]:
            continue
        check(sorted(marks) == list(range(J)), "%s: %s marks for groups %r" % (label, cls, sorted(marks)))
        for j, els in marks.items():
            check(abs(value(centre_x(els[0])) - truth[j]) <= tol,
                  "%s: group %d's %s at %r, truth %r" % (label, j, cls, value(centre_x(els[0])), truth[j]))
    for j, els in by_class(root, "pull").items():
        check(abs(value(float(els[0].get("x1"))) - d["ybar"][j]) <= tol and
              abs(value(float(els[0].get("x2"))) - est[j]) <= tol, "%s: group %d's pull line" % (label, j))
    centre = by_class(root, "center")[-1][0]
    check(abs(value(float(centre.get("x1"))) - mu) <= tol, "%s: dashed line at %r, mu_hat %r"
          % (label, value(float(centre.get("x1"))), mu))
    return value, tol


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        # Raw mode, every observation drawn: the cross is the mean of its group's dots.
        root, d = run(binary, tmp, ["--groups", "12", "--obs", "2:9", "--mu", "5", "--sigma", "2", "--tau", "0.8",
                                    "--mode", "raw", "--plot-order", "n"])
        mu, est = normal_truth(d, d["tau2_hat"])
        mu0, _ = normal_truth(d, 0.0)
        check(abs(mu - mu0) > 1e-6, "mu_hat equals complete pooling: the test cannot tell the lines apart")
        value, tol = check_rows(root, d, mu, est, mu0, "rows")
        for j, dots in by_class(root, "obs").items():
            check(len(dots) == d["n"][j], "group %d: %d dots for n = %d" % (j, len(dots), d["n"][j]))
            mean = sum(value(float(c.get("cx"))) for c in dots) / len(dots)
            check(abs(mean - d["ybar"][j]) <= tol, "group %d: mean of the dots %r, ybar %r" % (j, mean, d["ybar"][j]))
        # Rows sorted by n_j, each labelled with its group and n_j.
        labels = [t for t in root.iter("{%s}text" % NS["s"]) if t.get("class") == "label"]
        rows = sorted((float(t.get("y")), t.text) for t in labels)
        sizes = []
        for _, text in rows:
            m = re.fullmatch(r"(\d+)  \(n = (\d+)\)", text)
            check(m is not None and d["n"][int(m.group(1)) - 1] == int(m.group(2)), "row label %r" % text)
            sizes.append(int(m.group(2)) if m else 0)
        check(len(rows) == 12 and sizes == sorted(sizes), "rows not sorted by n: %r" % sizes)

        # Many groups: the shrinkage plot, lines from ybar_j (top axis) to the estimate (bottom axis).
        root, d = run(binary, tmp, ["--groups", "400", "--obs", "3", "--tau", "0.5"])
        mu, est = normal_truth(d, d["tau2_hat"])
        check_rows(root, d, mu, est, normal_truth(d, 0.0)[0], "lines")
        tops = {float(t.get("y")) for t in root.iter("{%s}text" % NS["s"]) if t.get("class") == "tick"}
        check(len(tops) == 2, "ticks should sit on two axes, top and bottom: rows %r" % sorted(tops))
        check(len(by_class(root, "obs")) == 0, "the shrinkage plot draws no rows of dots")

        # Proportions: the posterior means at the ml fit, shrinking to its mean; complete pooling at
        # the pooled rate sum y / sum n.
        root, d = run(binary, tmp, ["--family", "binomial", "--groups", "20", "--trials", "3:40", "--mean", "0.2",
                                    "--concentration", "8"])
        m, nu = d["fit_mean"], d["fit_concentration"]
        est = [(m * nu + y) / (nu + n) for y, n in zip(d["counts"], d["n"])]
        pooled = sum(d["counts"]) / sum(d["n"])
        check_rows(root, d, m, est, pooled, "binomial")
        check(all(abs(r - y / n) < 1e-12 for r, y, n in zip(d["ybar"], d["counts"], d["n"])), "rates are not y / n")
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("PASSED: every drawn position matches the replicate's numbers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
