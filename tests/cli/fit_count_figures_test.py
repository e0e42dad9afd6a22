#!/usr/bin/env python3
"""`shrink fit --family binomial|poisson --plot`: the SVG parsed as XML and every drawn position
read back through the panel's own tick labels, checked against the fit's CSV and JSON, and the
likelihood panel's curve against the profile log-likelihood computed here from the data file
(beta-binomial and gamma-Poisson with math.lgamma, the mean maximised by golden-section search;
the logit-normal by brute-force quadrature over b_j), and the shaded prior interval against the
Beta quantiles computed here by numerical integration.
Rat tumours (BDA3 Table 5.1, 70 historical experiments), the pumps, cbpp per herd, and 1e6
generated groups (a sample of 2000 lines and 100 rows). --method bayes (all 71 experiments): the
posterior of log10 concentration drawn, its area, mean, sd, median and interval against R's brute force.

Usage: fit_count_figures_test.py SHRINK_BINARY SOURCE_DIR        Exit 0: passed; 1: failed.
"""

import csv
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figure_checks import SVG, check, cross_centre, golden_argmax, line_scale, marks, verdict, x_scale, y_scale  # noqa: E402


def golden_max(f, a, b, tol=1e-10):
    return golden_argmax(f, a, b, tol)[1]


def beta_binomial_at(y, n, nu):
    """The maximising mean m of sum_j log [C(n, y) B(y + m nu, n - y + (1 - m) nu) / B(m nu, (1 - m) nu)]
    and that maximum (the profile at nu, binomial coefficients included)."""
    lb = lambda a, b: math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    const = sum(math.lgamma(nj + 1) - math.lgamma(yj + 1) - math.lgamma(nj - yj + 1) for yj, nj in zip(y, n))

    def ll(u):
        m = 1 / (1 + math.exp(-u))
        return sum(lb(yj + m * nu, nj - yj + (1 - m) * nu) - lb(m * nu, (1 - m) * nu) for yj, nj in zip(y, n))
    u, best = golden_argmax(ll, -12, 12)
    return 1 / (1 + math.exp(-u)), best + const


def beta_binomial_profile(y, n, nu):
    return beta_binomial_at(y, n, nu)[1]


def gamma_poisson_profile(y, e, shape):
    """max over m of sum_j log NegBin(y_j; shape, shape / (shape + m e_j)) with the y log e - log y! constants."""
    def ll(u):
        m = math.exp(u)
        rate = shape / m
        return sum(math.lgamma(shape + yj) - math.lgamma(shape) - math.lgamma(yj + 1) + shape * math.log(rate)
                   - (shape + yj) * math.log(rate + ej) + yj * math.log(ej) for yj, ej in zip(y, e))
    return golden_max(ll, -20, 20)


def logit_normal_profile(y, n, tau):
    """max over mu of sum_j log int Binomial(y_j | n_j, expit(mu + b)) N(b; 0, tau^2) db (a 401-point rule)."""
    const = [math.lgamma(nj + 1) - math.lgamma(yj + 1) - math.lgamma(nj - yj + 1) for yj, nj in zip(y, n)]
    zs = [-8 + 16 * i / 400 for i in range(401)]
    ws = [math.exp(-z * z / 2) / math.sqrt(2 * math.pi) * (16 / 400) * (0.5 if i in (0, 400) else 1) for i, z in enumerate(zs)]

    def ll(mu):
        total = 0
        for yj, nj, cj in zip(y, n, const):
            terms = []
            for z, w in zip(zs, ws):
                eta = mu + tau * z
                terms.append(math.log(w) + yj * eta - nj * math.log1p(math.exp(eta)) if eta < 30 else
                             math.log(w) + yj * eta - nj * (eta + math.log1p(math.exp(-eta))))
            top = max(terms)
            total += cj + top + math.log(sum(math.exp(t - top) for t in terms))
        return total
    return golden_max(ll, -8, 4, 1e-7)


def beta_quantile(a, b, p):
    """The p quantile of Beta(a, b) (a, b > 1): Simpson's rule on the density, then bisection."""
    lb = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    dens = lambda x: math.exp((a - 1) * math.log(x) + (b - 1) * math.log1p(-x) - lb) if 0 < x < 1 else 0.0
    N = 20000
    xs = [i / N for i in range(N + 1)]
    cdf = [0.0]
    for i in range(N):
        x0, x1 = xs[i], xs[i + 1]
        cdf.append(cdf[-1] + (x1 - x0) / 6 * (dens(x0) + 4 * dens((x0 + x1) / 2) + dens(x1)))
    i = next(k for k, c in enumerate(cdf) if c >= p)
    return xs[i - 1] + (p - cdf[i - 1]) / (cdf[i] - cdf[i - 1]) / N


def fit(binary, tmp, args):
    out = [os.path.join(tmp, n) for n in ("f.svg", "g.csv", "s.json")]
    r = subprocess.run([binary, "fit"] + args + ["--plot", out[0], "-o", out[1], "--summary", out[2], "-q"],
                       capture_output=True, text=True)
    check(r.returncode == 0, "shrink fit %r failed: %s" % (args, r.stderr))
    if r.returncode != 0:
        return None, None, None
    panels = {g.get("id"): g for g in ET.parse(out[0]).getroot().iter(SVG + "g") if g.get("id")}
    rows = list(csv.DictReader(open(out[1])))
    return panels, rows, json.load(open(out[2]))


def check_groups(panels, rows, js, label):
    """Shrinkage plot and forest against the CSV's rate, estimate, lower, upper and the JSON's mean."""
    sp = panels["shrinkage-plot"]
    value, per_px = x_scale(sp)
    tol = 0.15 * per_px
    np_, pp = marks(sp, "np"), marks(sp, "pp")
    for j, e in np_.items():
        check(abs(value(cross_centre(e)[0]) - float(rows[j]["rate"])) <= tol, "%s: group %d's raw rate" % (label, j))
        check(abs(value(float(pp[j].get("cx"))) - float(rows[j]["estimate"])) <= tol, "%s: group %d's estimate" % (label, j))
    centre = [e for e in sp.iter() if e.get("class") == "center"][0]
    check(abs(value(float(centre.get("x1"))) - js["mean"]) <= tol, "%s: dashed line is not at the prior mean" % label)
    fo = panels["forest"]
    value, per_px = x_scale(fo)
    tol = 0.15 * per_px
    drawn = marks(fo, "interval")
    for j, e in drawn.items():
        check(abs(value(float(e.get("x1"))) - float(rows[j]["lower"])) <= tol and
              abs(value(float(e.get("x2"))) - float(rows[j]["upper"])) <= tol, "%s: group %d's interval" % (label, j))
        check(abs(value(float(marks(fo, "pp")[j].get("cx"))) - float(rows[j]["estimate"])) <= tol,
              "%s: group %d's forest circle" % (label, j))
    order = sorted(drawn, key=lambda j: float(drawn[j].get("y1")))
    est = [float(rows[j]["estimate"]) for j in order]
    check(est == sorted(est), "%s: forest rows are not sorted by estimate" % label)
    band = [e for e in fo.iter(SVG + "rect") if e.get("class") == "prediction"][0]
    lo, hi = value(float(band.get("x"))), value(float(band.get("x")) + float(band.get("width")))
    return np_, drawn, (lo, hi, tol)


def check_curve(panels, truth, label, estimate_x, interval=None, every=1):
    """The curve's points (x, relative ll) against truth(x) relative to its maximum over the curve."""
    tl = panels["tau-likelihood"]
    x_of, per_px = x_scale(tl, 4)
    ll_of, ll_px = y_scale(tl)
    path = [e for e in tl.iter() if e.get("class") == "curve"][0].get("d")
    pts = [(x_of(float(x)), ll_of(float(y))) for x, y in re.findall(r"[ML](-?[\d.e-]+) (-?[\d.e-]+)", path)]
    check(len(pts) == 61, "%s: %d points on the curve" % (label, len(pts)))
    chosen = pts[::every]
    true = [truth(x) for x, _ in chosen]
    top = max(truth(x) for x, _ in pts) if every == 1 else max(true)
    if every == 1:
        check(all(abs(d - (t - top)) <= 2 * ll_px for (_, d), t in zip(chosen, true)), "%s: the curve is not the profile" % label)
    else:  # a subset: compare differences between its points
        d0, t0 = chosen[0][1], true[0]
        check(all(abs((d - d0) - (t - t0)) <= 3 * ll_px for (_, d), t in zip(chosen, true)), "%s: the curve is not the profile" % label)
    est = [e for e in tl.iter() if e.get("class") == "estimate"][0]
    check(abs(x_of(float(est.get("x1"))) - estimate_x) <= 0.15 * per_px, "%s: the estimate's line at %r, fit %r"
          % (label, x_of(float(est.get("x1"))), estimate_x))
    if interval:
        rect = [e for e in tl.iter(SVG + "rect") if e.get("class") == "interval"][0]
        lo, hi = x_of(float(rect.get("x"))), x_of(float(rect.get("x")) + float(rect.get("width")))
        check(abs(lo - interval[0]) <= 0.15 * per_px and abs(hi - interval[1]) <= 0.15 * per_px,
              "%s: shaded interval [%r, %r], fit %r" % (label, lo, hi, interval))
    return pts


def main():
    binary, source = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        # Rat tumours, the 70 historical experiments (BDA3 section 5.3), beta prior by ml.
        rats = [r for r in csv.reader(open(os.path.join(source, "tests/data/rat_tumors.csv"))) if r and not r[0].startswith("#")]
        rat_csv = os.path.join(tmp, "rats.csv")
        with open(rat_csv, "w") as f:
            f.write("experiment,y,n\n")
            for i, (yj, nj) in enumerate(rats[1:71]):
                f.write("%d,%s,%s\n" % (i + 1, yj, nj))
        y = [int(r[0]) for r in rats[1:71]]
        n = [int(r[1]) for r in rats[1:71]]
        args = [rat_csv, "--family", "binomial", "--successes", "y", "--trials", "n", "--group", "experiment"]
        panels, rows, js = fit(binary, tmp, args)
        np_, drawn, (lo, hi, tol) = check_groups(panels, rows, js, "rat tumours")
        check(len(np_) == 70 and len(drawn) == 70, "rat tumours: not every experiment drawn")
        a, b = js["alpha"], js["beta"]
        check(abs(lo - beta_quantile(a, b, 0.025)) <= tol and abs(hi - beta_quantile(a, b, 0.975)) <= tol,
              "rat tumours: the shaded band [%r, %r] is not Beta(alpha, beta)'s central 95%%" % (lo, hi))
        pts = check_curve(panels, lambda x: beta_binomial_profile(y, n, 10 ** x), "rat tumours", math.log10(js["concentration"]),
                          [math.log10(v) for v in js["concentration_ci"]])
        best = max(pts, key=lambda p: p[1])[0]
        check(abs(best - math.log10(js["concentration"])) <= pts[1][0] - pts[0][0], "rat tumours: the curve's peak")
        # The curve's formula at the estimate is the JSON's log-likelihood (binomial coefficients included).
        check(abs(beta_binomial_profile(y, n, js["concentration"]) - js["log_likelihood"]) < 1e-6,
              "rat tumours: the profile at the estimate %r, JSON %r" % (beta_binomial_profile(y, n, js["concentration"]),
                                                                      js["log_likelihood"]))

        # The other methods draw their own numbers: mom, fixed, bayes (the posterior median's line).
        for extra, label in (([ "--method", "mom"], "mom"), (["--method", "fixed", "--alpha", "2", "--beta", "12"], "fixed"),
                             (["--method", "bayes"], "bayes")):
            panels, rows, js = fit(binary, tmp, args + extra)
            if panels:
                check_groups(panels, rows, js, "rat tumours " + label)
                spread = js["bayes"]["concentration"]["median"] if label == "bayes" else js["concentration"]
                interval = [math.log10(js["bayes"]["concentration"][k]) for k in ("lower", "upper")] if label == "bayes" else None
                if label != "bayes":
                    check_curve(panels, lambda x: beta_binomial_profile(y, n, 10 ** x), "rat tumours " + label,
                                math.log10(spread), interval, every=6)

        # --method bayes on all 71 experiments (BDA3's default hyperprior): the third panel is the
        # marginal posterior of log10 concentration; its area, mean, sd and median (read back through
        # the ticks) against the brute-force R computation (count_bayes_reference.txt, rats_bda3).
        ref = {}
        for line in open(os.path.join(source, "tests/data/count_bayes_reference.txt")):
            f = line.split()
            if len(f) == 4 and f[0] == "rats_bda3" and f[1] == "log_concentration":
                ref[f[2]] = float(f[3]) / math.log(10)
        rat71 = os.path.join(tmp, "rats71.csv")
        with open(rat71, "w") as f:
            f.write("experiment,y,n\n" + "".join("%d,%s,%s\n" % (i + 1, yj, nj) for i, (yj, nj) in enumerate(rats[1:72])))
        panels, rows, js = fit(binary, tmp, [rat71] + args[1:] + ["--method", "bayes"])
        if panels:
            check_groups(panels, rows, js, "rat tumours bayes")
            tl = panels["tau-likelihood"]
            x_of, per_px = x_scale(tl, 4)
            d_of, d_px = y_scale(tl)
            path = [e for e in tl.iter() if e.get("class") == "curve"][0].get("d")
            pts = [(x_of(float(a)), d_of(float(b))) for a, b in re.findall(r"[ML](-?[\d.e-]+) (-?[\d.e-]+)", path)]
            pieces = [(pts[i + 1][0] - pts[i][0], pts[i], pts[i + 1]) for i in range(len(pts) - 1)]
            area = sum(h * (a[1] + b[1]) / 2 for h, a, b in pieces)
            mean = sum(h * (a[0] * a[1] + b[0] * b[1]) / 2 for h, a, b in pieces) / area
            sd = math.sqrt(sum(h * ((a[0] - mean) ** 2 * a[1] + (b[0] - mean) ** 2 * b[1]) / 2 for h, a, b in pieces) / area)
            cum, median = 0.0, None
            for h, a, b in pieces:
                step = h * (a[1] + b[1]) / 2
                if median is None and cum + step >= 0.5 * area:
                    median = a[0] + h * (0.5 * area - cum) / step
                cum += step
            check(abs(area - 1) < 0.01, "rat tumours bayes: the posterior's area is %r" % area)
            check(abs(mean - ref["mean"]) < 0.005 and abs(sd / ref["sd"] - 1) < 0.03 and abs(median - ref["median"]) < 0.005,
                  "rat tumours bayes: mean %r, sd %r, median %r; R: %r" % (mean, sd, median, ref))
            lines = {e.get("class"): x_of(float(e.get("x1"))) for e in tl.iter() if e.get("class") in ("estimate", "posterior-mean")}
            check(abs(lines["estimate"] - math.log10(js["bayes"]["concentration"]["median"])) <= 0.15 * per_px and
                  abs(lines["posterior-mean"] - js["bayes"]["log_alpha_plus_beta"]["mean"] / math.log(10)) <= 0.15 * per_px,
                  "rat tumours bayes: the median's and mean's lines %r" % lines)
            rect = [e for e in tl.iter(SVG + "rect") if e.get("class") == "interval"][0]
            lo, hi = x_of(float(rect.get("x"))), x_of(float(rect.get("x")) + float(rect.get("width")))
            check(abs(lo - ref["lower"]) < 1e-3 + 0.15 * per_px and abs(hi - ref["upper"]) < 1e-3 + 0.15 * per_px,
                  "rat tumours bayes: shaded [%r, %r], R's interval [%r, %r]" % (lo, hi, ref["lower"], ref["upper"]))

        # The pumps: gamma prior for failures over thousands of hours.
        pumps = os.path.join(source, "tests/data/pumps.csv")
        data = list(csv.DictReader(open(pumps)))
        yp = [int(r["failures"]) for r in data]
        ep = [float(r["thousand_hours"]) for r in data]
        panels, rows, js = fit(binary, tmp, [pumps, "--family", "poisson", "--counts", "failures", "--exposure", "thousand_hours",
                                             "--group", "pump"])
        if panels:
            check_groups(panels, rows, js, "pumps")
            check_curve(panels, lambda x: gamma_poisson_profile(yp, ep, 10 ** x), "pumps", math.log10(js["shape"]),
                        [math.log10(v) if v else math.inf for v in js["shape_ci"]])

        # cbpp per herd, logit-normal prior (glmer's model): the curve of tau against quadrature here.
        herds = {}
        for r in csv.DictReader(open(os.path.join(source, "tests/data/cbpp.csv"))):
            h = herds.setdefault(int(r["herd"]), [0, 0])
            h[0] += int(r["incidence"])
            h[1] += int(r["size"])
        cb = os.path.join(tmp, "cbpp.csv")
        with open(cb, "w") as f:
            f.write("herd,y,n\n" + "".join("%d,%d,%d\n" % (h, v[0], v[1]) for h, v in sorted(herds.items())))
        yc = [v[0] for _, v in sorted(herds.items())]
        nc = [v[1] for _, v in sorted(herds.items())]
        panels, rows, js = fit(binary, tmp, [cb, "--family", "binomial", "--successes", "y", "--trials", "n", "--group", "herd",
                                             "--prior", "logit-normal"])
        if panels:
            check_groups(panels, rows, js, "cbpp")
            check_curve(panels, lambda t: logit_normal_profile(yc, nc, t), "cbpp", js["tau"],
                        [math.sqrt(v) for v in js["tau2_ci"]], every=10)

        # 1e6 groups: 2000 lines and 100 rows, sampled evenly in rank, the extremes kept.
        big = os.path.join(tmp, "big.csv")
        rng = random.Random(13)
        with open(big, "w") as f:
            f.write("g,y,n\n")
            for j in range(1000000):
                nj = rng.randint(1, 60)
                p = 1 / (1 + math.exp(-rng.gauss(-1.5, 0.6)))
                f.write("%d,%d,%d\n" % (j, sum(rng.random() < p for _ in range(nj)) if nj < 8 else min(nj, max(0, round(rng.gauss(nj * p, math.sqrt(nj * p * (1 - p)))))), nj))
        panels, rows, js = fit(binary, tmp, [big, "--family", "binomial", "--successes", "y", "--trials", "n", "--group", "g"])
        if panels:
            np_, drawn, _ = check_groups(panels, rows, js, "1e6 groups")
            check(len(np_) == 2000 and len(drawn) == 100, "1e6 groups: %d lines and %d rows" % (len(np_), len(drawn)))
            ranks = sorted(range(len(rows)), key=lambda j: float(rows[j]["estimate"]))
            check(ranks[0] in drawn and ranks[-1] in drawn, "1e6 groups: the forest's sample leaves out the extremes")
            check(os.path.getsize(os.path.join(tmp, "f.svg")) < 2e6, "1e6 groups: the SVG is too large")

        # Bad input stays a one-line error, no file.
        bad = os.path.join(tmp, "bad.svg")
        r = subprocess.run([binary, "fit", rat_csv, "--family", "binomial", "--successes", "y", "--trials", "nope", "--plot", bad],
                           capture_output=True, text=True)
        check(r.returncode == 1 and r.stderr.count("\n") == 1 and not os.path.exists(bad), "bad column: %r" % r.stderr)
    return verdict("every drawn position matches the fit's numbers and the profile likelihoods computed here")


if __name__ == "__main__":
    sys.exit(main())
