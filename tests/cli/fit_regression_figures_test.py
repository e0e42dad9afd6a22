#!/usr/bin/env python3
"""`shrink fit --estimate ... --covariates ... --plot/--html`: the BCG trials' log risk ratios on
absolute latitude (REML), checked against metafor's numbers in tests/data/metafor
(bcg_regression_reference.csv, written by meta_regression.R): the regression panel's line is
metafor's intercept + slope x latitude, its circles metafor's BLUPs, the likelihood panel's tau line
and shaded interval metafor's tau2 and Q-profile interval, the page's log-likelihood at the fit
metafor's ll_REML; the curve of tau against the restricted log-likelihood computed here (2 x 2
generalised least squares); after the slider, the page's BLUPs against y_j + B_j (x_j' beta(tau) -
y_j) with beta(tau) computed here. A design with a factor (alloc) draws against the linear predictor.
--tau-method bayes: the third panel is the posterior of tau, against this script's own quadrature of
the restricted likelihood. Raw rows with a covariate (the radon rows on floor, REML and ML): the marks
against the CSV and lme4's fit (radon_reference.csv), the likelihood panel against the profile
computed here (itself checked against R's dense N x N profile, radon_profile.csv) and its interval
against R's (and lme4's confint for ML); the page's readout and estimates after the slider against
the profile's fit computed here; 1e6 generated rows drawn as a sample of 2,000 and 100 rows.

Usage: fit_regression_figures_test.py SHRINK_BINARY SOURCE_DIR svg|html
Exit 0: passed; 1: failed; 77: skipped (html: no Chromium, chromedriver or selenium).
"""

import csv
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figure_checks import (SKIP, SVG, TauPosterior, check, check_posterior_panel, cross_centre, golden_argmax,  # noqa: E402
                           line_scale, quiet_page, start_browser, verdict, y_scale)


def gls(y, v, x, tau):
    """beta(tau) for y = b0 + b1 x, and metafor's restricted log-likelihood there."""
    w = [1 / (vj + tau * tau) for vj in v]
    s0, s1, s2 = sum(w), sum(wj * xj for wj, xj in zip(w, x)), sum(wj * xj * xj for wj, xj in zip(w, x))
    t0, t1 = sum(wj * yj for wj, yj in zip(w, y)), sum(wj * xj * yj for wj, xj, yj in zip(w, x, y))
    det = s0 * s2 - s1 * s1
    b0, b1 = (s2 * t0 - s1 * t1) / det, (s0 * t1 - s1 * t0) / det
    rss = sum(wj * (yj - b0 - b1 * xj) ** 2 for wj, xj, yj in zip(w, x, y))
    n = len(y)
    xtx = n * sum(xj * xj for xj in x) - sum(x) ** 2
    ll = (-0.5 * (n - 2) * math.log(2 * math.pi) + 0.5 * math.log(xtx) - 0.5 * sum(math.log(vj + tau * tau) for vj in v)
          - 0.5 * math.log(det) - 0.5 * rss)
    return b0, b1, ll


def bayes_svg(binary, bcg, tmp, y, v, lat):
    """--tau-method bayes: the third panel is p(tau | y) ∝ the restricted likelihood (flat priors on
    tau and beta), evaluated here by gls()."""
    out = [os.path.join(tmp, n) for n in ("b.svg", "b.json")]
    r = subprocess.run([binary, "fit", bcg, "--estimate", "yi", "--variance", "vi", "--covariates", "ablat", "--tau-method", "bayes",
                        "--plot", out[0], "--summary", out[1], "-o", os.devnull, "-q"], capture_output=True, text=True)
    check(r.returncode == 0, "bcg bayes: %s" % r.stderr)
    panel = {g.get("id"): g for g in ET.parse(out[0]).getroot().iter(SVG + "g") if g.get("id")}["tau-likelihood"]
    post = TauPosterior(lambda t: gls(y, v, lat, t)[2], math.sqrt(sum(v) / len(v)))
    check_posterior_panel(panel, post, json.load(open(out[1]))["tau_posterior"], "bcg bayes")


class Rows:
    """Raw rows y = b0 + b1 x + u_j + e per group (n, sums of x, y, xx, xy, yy), and the (restricted)
    profile log-likelihood of tau computed here: at (tau, sigma2) with g = tau^2 / sigma2 each group's
    H_j^-1 = I - g / (1 + n_j g) 11', so X'H^-1X, X'H^-1y and y'H^-1y are sums of the groups' sums;
    sigma2 maximised by golden section."""

    def __init__(self, path, group, x, value):
        sums = {}
        for r in csv.DictReader(open(path)):
            xi, yi = float(r[x]), float(r[value])
            s = sums.setdefault(r[group], [0.0] * 6)
            for k, t in enumerate((1, xi, yi, xi * xi, xi * yi, yi * yi)):
                s[k] += t
        self.keys = sorted(sums, key=int)
        self.sums = [sums[k] for k in self.keys]
        self.n_rows = sum(s[0] for s in self.sums)

    def at(self, tau, sigma2, reml):
        g = tau * tau / sigma2
        m = [0.0] * 3
        b, yy, logdet = [0.0, 0.0], 0.0, 0.0
        for n, sx, sy, sxx, sxy, syy in self.sums:
            c = g / (1 + n * g)
            m[0] += n - c * n * n
            m[1] += sx - c * n * sx
            m[2] += sxx - c * sx * sx
            b[0] += sy - c * n * sy
            b[1] += sxy - c * sx * sy
            yy += syy - c * sy * sy
            logdet += math.log(1 + n * g)
        det = m[0] * m[2] - m[1] * m[1]
        beta = ((m[2] * b[0] - m[1] * b[1]) / det, (m[0] * b[1] - m[1] * b[0]) / det)
        r = yy - beta[0] * b[0] - beta[1] * b[1]
        df = self.n_rows - 2 if reml else self.n_rows
        ll = -0.5 * (df * math.log(2 * math.pi * sigma2) + logdet + r / sigma2 + (math.log(det) if reml else 0.0))
        return ll, beta

    def profile(self, tau, reml):
        """(ll, sigma2, beta) with sigma2 maximising the likelihood at tau."""
        s, ll = golden_argmax(lambda s: self.at(tau, math.exp(s), reml)[0], math.log(1e-3), math.log(1e2), 1e-11)
        return ll, math.exp(s), self.at(tau, math.exp(s), reml)[1]

    def estimates(self, tau, reml):
        """Each group's conditional mode estimate xbar_j' beta + b_j and B_j at the profile's fit at tau."""
        _, sigma2, beta = self.profile(tau, reml)
        g = tau * tau / sigma2
        out = []
        for n, sx, sy, *_ in self.sums:
            fitted = beta[0] + beta[1] * sx / n
            out.append((fitted + n * g / (1 + n * g) * (sy / n - fitted), 1 / (1 + n * g)))
        return out


def raw_fit(binary, path, tmp, args):
    out = [os.path.join(tmp, n) for n in ("r.svg", "r.csv", "r.json", "r.html")]
    r = subprocess.run([binary, "fit", path] + args + ["--plot", out[0], "--html", out[3], "-o", out[1], "--summary", out[2], "-q"],
                       capture_output=True, text=True)
    check(r.returncode == 0, "raw rows %r: %s" % (args, r.stderr))
    panels = {g.get("id"): g for g in ET.parse(out[0]).getroot().iter(SVG + "g") if g.get("id")}
    return panels, list(csv.DictReader(open(out[1]))), json.load(open(out[2])), out


def check_raw_marks(panels, rows, xbar, label):
    """Blue x at (xbar_j, the CSV's mean), green circle at the CSV's estimate, forest intervals the CSV's."""
    rg = panels["regression"]
    xs, px = line_scale([(float(t.get("x")), float(t.text)) for t in rg.iter(SVG + "text") if t.get("class") == "tick"])
    ys, py = y_scale(rg)
    count = {"np": 0, "pp": 0}
    for e in rg.iter():
        if e.get("class") in count:
            j = int(e.get("data-j"))
            count[e.get("class")] += 1
            x, yy = cross_centre(e) if e.get("class") == "np" else (float(e.get("cx")), float(e.get("cy")))
            want = float(rows[j]["mean" if e.get("class") == "np" else "estimate"])
            check(abs(xs(x) - xbar[j]) <= 0.15 * px and abs(ys(yy) - want) <= 0.15 * py, "%s: group %d's %s" % (label, j, e.get("class")))
    fo = panels["forest"]
    xf, pf = line_scale([(float(t.get("x")), float(t.text)) for t in fo.iter(SVG + "text") if t.get("class") == "tick"])
    drawn = 0
    for e in fo.iter():
        if e.get("class") == "interval":
            j, drawn = int(e.get("data-j")), drawn + 1
            check(abs(xf(float(e.get("x1"))) - float(rows[j]["lower"])) <= 0.15 * pf and
                  abs(xf(float(e.get("x2"))) - float(rows[j]["upper"])) <= 0.15 * pf, "%s: row %d's interval" % (label, j))
    return count, drawn, (xs, px, ys, py)


def raw_svg(binary, source, tmp):
    """Raw radon rows with a covariate (floor): against lme4 (radon_reference.csv) and the dense profile
    likelihood (radon_profile.csv, both by R), and the profile computed here."""
    radon = os.path.join(source, "tests/data/radon/radon.csv")
    lme4 = {(r["model"], r["method"], r["name"]): float(r["value"])
            for r in csv.DictReader(open(os.path.join(source, "tests/data/radon/radon_reference.csv"))) if r["source"] == "lme4"}
    prof = {(r["source"], r["method"], r["name"]): float(r["value"])
            for r in csv.DictReader(open(os.path.join(source, "tests/data/radon/radon_profile.csv")))}
    rows_here = Rows(radon, "county", "floor", "log_radon")
    for method in ("REML", "ML"):
        reml = method == "REML"
        for t in (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6):  # this script's profile is the dense one
            check(abs(rows_here.profile(t, reml)[0] - prof[("dense", method, "profile:%g" % t)]) < 1e-7,
                  "radon %s: the profile here at tau %r is not R's" % (method, t))
        panels, rows, js, _ = raw_fit(binary, radon, tmp, ["--group", "county", "--value", "log_radon", "--covariates", "floor",
                                                         "--tau-method", method.lower()])
        m = lambda name: lme4[("floor", method, name)]
        xbar = [s[1] / s[0] for s in rows_here.sums]
        count, drawn, (xs, px, ys, py) = check_raw_marks(panels, rows, xbar, "radon " + method)
        check(count == {"np": 85, "pp": 85} and drawn == 85, "radon %s: drawn %r, %d rows" % (method, count, drawn))
        for e in panels["regression"].iter():
            if e.get("class") == "pp":
                j = int(e.get("data-j"))
                lme4_estimate = m("beta:(Intercept)") + m("beta:floor") * xbar[j] + m("b:%s" % rows_here.keys[j])
                check(abs(ys(float(e.get("cy"))) - lme4_estimate) <= 0.2 * py, "radon %s: circle %d is not lme4's" % (method, j))
        line = [e for e in panels["regression"].iter() if e.get("class") == "center"][0]
        for xa, ya in (("x1", "y1"), ("x2", "y2")):
            at = xs(float(line.get(xa)))
            check(abs(ys(float(line.get(ya))) - (m("beta:(Intercept)") + m("beta:floor") * at)) <= 0.2 * py,
                  "radon %s: the line is not lme4's at %r" % (method, at))
        tl = panels["tau-likelihood"]
        ts, pt = line_scale([(float(t.get("x")), float(t.text)) for t in tl.iter(SVG + "text") if t.get("class") == "tick"])
        ls, pl = y_scale(tl)
        est = [e for e in tl.iter() if e.get("class") == "estimate"][0]
        check(abs(ts(float(est.get("x1"))) - math.sqrt(m("tau2"))) <= 0.15 * pt, "radon %s: tau line not at lme4's tau" % method)
        rect = [e for e in tl.iter(SVG + "rect") if e.get("class") == "interval"][0]
        lo, hi = ts(float(rect.get("x"))), ts(float(rect.get("x")) + float(rect.get("width")))
        for source_name in ("dense",) + (("lme4",) if not reml else ()):  # lme4 profiles the ML deviance
            check(abs(lo - prof[(source_name, method, "tau_lower")]) <= 0.15 * pt and
                  abs(hi - prof[(source_name, method, "tau_upper")]) <= 0.15 * pt,
                  "radon %s: shaded [%r, %r] is not %s's profile interval" % (method, lo, hi, source_name))
        path = [e for e in tl.iter() if e.get("class") == "curve"][0].get("d")
        pts = [(ts(float(a)), ls(float(b))) for a, b in re.findall(r"[ML](-?[\d.e-]+) (-?[\d.e-]+)", path)]
        true = [rows_here.profile(t, reml)[0] for t, _ in pts]
        check(all(abs(d - (t - max(true))) <= 2 * pl for (_, d), t in zip(pts, true)),
              "radon %s: the curve is not the profile log-likelihood" % method)
        check(abs(js["log_likelihood"] - prof[("dense", method, "loglik")]) < 1e-8, "radon %s: log-likelihood" % method)
    # Two covariates: drawn against the fitted value xbar_j' beta (the CSV's fitted column).
    panels, rows, js, out = raw_fit(binary, radon, tmp, ["--group", "county", "--value", "log_radon", "--covariates",
                                                       "floor,log_uranium"])
    count, drawn, _ = check_raw_marks(panels, rows, [float(r["fitted"]) for r in rows], "radon, two covariates")
    check(count == {"np": 85, "pp": 85} and "xbar_j' beta" in open(out[0]).read(), "radon, two covariates: %r" % count)
    # Bad input stays a one-line error, and no figure is written.
    for bad_args, why in ((["--covariates", "nope"], "a missing column"), (["--covariates", "floor", "--tau-method", "dl"], "dl")):
        bad = os.path.join(tmp, "bad.svg")
        r = subprocess.run([binary, "fit", radon, "--group", "county", "--value", "log_radon", "--plot", bad,
                            "--html", bad + ".html"] + bad_args, capture_output=True, text=True)
        check(r.returncode == 1 and r.stderr.count("\n") == 1 and not os.path.exists(bad) and not os.path.exists(bad + ".html"),
              "raw rows, %s: %r" % (why, r.stderr))


def big_rows(tmp):
    """1e6 rows in 20,000 groups of 50: x per row, y = 1 + 0.5 x + u_j + e (a fixed seed)."""
    import random
    rnd = random.Random(13)
    path = os.path.join(tmp, "big.csv")
    xbar = []
    with open(path, "w") as f:
        f.write("g,x,y\n")
        for j in range(20000):
            u, sx = rnd.gauss(0, 0.3), 0.0
            lines = []
            for _ in range(50):
                x = float("%.6f" % rnd.random())
                sx += x
                lines.append("%d,%.6f,%.6f\n" % (j, x, 1 + 0.5 * x + u + rnd.gauss(0, 1)))
            f.write("".join(lines))
            xbar.append(sx / 50)
    return path, xbar


def raw_big_svg(binary, tmp):
    path, xbar = big_rows(tmp)
    panels, rows, js, _ = raw_fit(binary, path, tmp, ["--group", "g", "--value", "y", "--covariates", "x"])
    x_of = {r["group"]: xbar[int(r["group"])] for r in rows}
    count, drawn, _ = check_raw_marks(panels, rows, [x_of[r["group"]] for r in rows], "1e6 rows")
    check(count == {"np": 2000, "pp": 2000} and drawn == 100, "1e6 rows: drawn %r and %d rows" % (count, drawn))


class Page:
    """A regression page in the browser: its readouts (data-value), its shrinkage table's rows
    [j, B_j, estimate], and its slider moved from one end by some steps."""

    def __init__(self, drv, path):
        from selenium.webdriver.common.by import By
        self.drv, self.by = drv, By
        drv.get("file://" + path)

    def value(self, id_):
        return float(self.drv.find_element(self.by.ID, id_).get_attribute("data-value"))

    def table(self):
        return self.drv.execute_script("return [...document.querySelectorAll('#shrinkage tbody tr')].map(r => "
                                       "[Number(r.dataset.j), Number(r.children[1].dataset.value), "
                                       "Number(r.children[2].dataset.value)])")

    def slide(self, from_end, steps):
        """From the slider's right end (from_end) or left end, `steps` arrow presses inwards; returns its tau."""
        from selenium.webdriver.common.keys import Keys
        slider = self.drv.find_element(self.by.ID, "spread")
        slider.click()
        slider.send_keys(Keys.END if from_end else Keys.HOME)
        for _ in range(steps):
            slider.send_keys(Keys.ARROW_LEFT if from_end else Keys.ARROW_RIGHT)
        return self.value("spread-value")


def raw_html(binary, source, tmp, drv):
    """The radon page: at load lme4's fit; after the slider, the profile's fit at its tau computed here."""
    radon = os.path.join(source, "tests/data/radon/radon.csv")
    prof = {(r["source"], r["method"], r["name"]): float(r["value"])
            for r in csv.DictReader(open(os.path.join(source, "tests/data/radon/radon_profile.csv")))}
    rows_here = Rows(radon, "county", "floor", "log_radon")
    _, rows, js, out = raw_fit(binary, radon, tmp, ["--group", "county", "--value", "log_radon", "--covariates", "floor"])
    page = Page(drv, out[3])
    value, table = page.value, page.table
    check(abs(value("spread-value") - prof[("dense", "REML", "tau")]) < 1e-6, "radon page: tau at load")
    check(abs(value("loglik") - prof[("dense", "REML", "loglik")]) < 1e-8, "radon page: log-likelihood at load")
    check(len(table()) == 85 and all(abs(e - float(rows[j]["estimate"])) < 1e-12 for j, _, e in table()),
          "radon page: the table at load is not the CSV's")
    tau = page.slide(False, 12)
    check(tau > 0, "radon page: the slider did not move")
    ll = rows_here.profile(tau, True)[0]
    check(abs(value("loglik") - ll) < 1e-8, "radon page: log-likelihood at tau %r: %r, here %r" % (tau, value("loglik"), ll))
    at = rows_here.estimates(tau, True)
    # sigma2 at a fixed tau is located on the likelihood's values (flat at its maximum), here and in
    # shrink, so each to about 1e-8 relative: the estimates and B_j agree to a few 1e-9.
    for j, b, e in table():
        check(abs(e - at[j][0]) < 5e-8 and abs(b - at[j][1]) < 5e-8, "radon page: group %d at tau %r" % (j, tau))
    drv.find_element(page.by.ID, "fit").click()
    check(abs(value("loglik") - js["log_likelihood"]) < 1e-12, "radon page: the button")
    text = drv.find_element(page.by.ID, "controls").text
    check("refitted" in text, "radon page: it does not say how the slider refits")
    quiet_page(drv, "radon page")
    path, _ = big_rows(tmp)
    _, _, _, out = raw_fit(binary, path, tmp, ["--group", "g", "--value", "y", "--covariates", "x"])
    page = Page(drv, out[3])
    check(len(page.table()) == 100, "1e6 rows page: %d rows in the table" % len(page.table()))
    before = page.value("loglik")
    check(page.slide(False, 0) == 0 and page.value("loglik") < before, "1e6 rows page: the slider at tau = 0")
    quiet_page(drv, "1e6 rows page")


def main():
    binary, source, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    bcg = os.path.join(source, "tests/data/metafor/bcg_regression.csv")
    ref = {}
    for r in csv.DictReader(open(os.path.join(source, "tests/data/metafor/bcg_regression_reference.csv"))):
        ref[(r["model"], r["method"], r["name"])] = float(r["value"])
    m = lambda name: ref[("ablat", "REML", name)]
    data = list(csv.DictReader(open(bcg)))
    y = [float(r["yi"]) for r in data]
    v = [float(r["vi"]) for r in data]
    lat = [float(r["ablat"]) for r in data]
    args = [bcg, "--estimate", "yi", "--variance", "vi", "--group", "trial", "--covariates", "ablat", "--tau-method", "reml"]
    with tempfile.TemporaryDirectory() as tmp:
        out = [os.path.join(tmp, n) for n in ("f.svg", "g.csv", "s.json", "p.html")]
        r = subprocess.run([binary, "fit"] + args + ["--plot", out[0], "--html", out[3], "-o", out[1], "--summary", out[2], "-q"],
                           capture_output=True, text=True)
        check(r.returncode == 0, "bcg: %s" % r.stderr)
        if r.returncode != 0:
            return 1
        rows = list(csv.DictReader(open(out[1])))
        if mode == "svg":
            panels = {g.get("id"): g for g in ET.parse(out[0]).getroot().iter(SVG + "g") if g.get("id")}
            rg = panels["regression"]
            xs, px = line_scale([(float(t.get("x")), float(t.text)) for t in rg.iter(SVG + "text") if t.get("class") == "tick"])
            ys, py = y_scale(rg)
            for e in rg.iter():
                if e.get("class") == "pp":
                    j = int(e.get("data-j"))
                    check(abs(xs(float(e.get("cx"))) - lat[j]) <= 0.15 * px, "bcg: circle %d not at its latitude" % j)
                    check(abs(ys(float(e.get("cy"))) - m("blup:%d" % (j + 1))) <= 0.15 * py, "bcg: circle %d not at metafor's BLUP" % j)
                if e.get("class") == "np":
                    j = int(e.get("data-j"))
                    check(abs(ys(cross_centre(e)[1]) - y[j]) <= 0.15 * py, "bcg: cross %d not at y_j" % j)
            line = [e for e in rg.iter() if e.get("class") == "center"][0]
            for xa, ya in (("x1", "y1"), ("x2", "y2")):
                at = xs(float(line.get(xa)))
                check(abs(ys(float(line.get(ya))) - (m("beta:intrcpt") + m("beta:ablat") * at)) <= 0.2 * py,
                      "bcg: the line is not metafor's regression at latitude %r" % at)
            fo = panels["forest"]
            xf, pf = line_scale([(float(t.get("x")), float(t.text)) for t in fo.iter(SVG + "text") if t.get("class") == "tick"])
            fitted = {int(e.get("data-j")): xf(float(e.get("cx"))) for e in fo.iter() if e.get("class") == "fitted"}
            check(len(fitted) == 13, "bcg: %d fitted marks" % len(fitted))
            for j, f in fitted.items():
                check(abs(f - (m("beta:intrcpt") + m("beta:ablat") * lat[j])) <= 0.15 * pf, "bcg: row %d's fitted value" % j)
                check(abs(f - float(rows[j]["fitted"])) <= 0.15 * pf, "bcg: row %d's fitted value vs the CSV" % j)
            tl = panels["tau-likelihood"]
            ts, pt = line_scale([(float(t.get("x")), float(t.text)) for t in tl.iter(SVG + "text") if t.get("class") == "tick"])
            ls, pl = y_scale(tl)
            est = [e for e in tl.iter() if e.get("class") == "estimate"][0]
            check(abs(ts(float(est.get("x1"))) - math.sqrt(m("tau2"))) <= 0.15 * pt, "bcg: tau line not at metafor's tau")
            rect = [e for e in tl.iter(SVG + "rect") if e.get("class") == "interval"][0]
            lo, hi = ts(float(rect.get("x"))), ts(float(rect.get("x")) + float(rect.get("width")))
            check(abs(lo - math.sqrt(m("tau2_lower"))) <= 0.15 * pt and abs(hi - math.sqrt(m("tau2_upper"))) <= 0.15 * pt,
                  "bcg: shaded [%r, %r] is not metafor's Q-profile interval" % (lo, hi))
            path = [e for e in tl.iter() if e.get("class") == "curve"][0].get("d")
            pts = [(ts(float(a)), ls(float(b))) for a, b in re.findall(r"[ML](-?[\d.e-]+) (-?[\d.e-]+)", path)]
            true = [gls(y, v, lat, t)[2] for t, _ in pts]
            top = max(true)
            check(all(abs(d - (t - top)) <= 2 * pl for (_, d), t in zip(pts, true)), "bcg: the curve is not the REML profile")
            check(abs(gls(y, v, lat, math.sqrt(m("tau2")))[2] - m("ll_REML")) < 1e-8, "bcg: the REML formula here is not metafor's")
            # A factor: drawn against the linear predictor (every point on the identity line's scale).
            r = subprocess.run([binary, "fit", bcg, "--estimate", "yi", "--variance", "vi", "--covariates", "ablat,alloc",
                                "--plot", out[0], "-o", out[1], "-q"], capture_output=True, text=True)
            check(r.returncode == 0 and "linear predictor" in open(out[0]).read(), "bcg with alloc: %s" % r.stderr)
            rows = list(csv.DictReader(open(out[1])))
            rg = {g.get("id"): g for g in ET.parse(out[0]).getroot().iter(SVG + "g") if g.get("id")}["regression"]
            xs, px = line_scale([(float(t.get("x")), float(t.text)) for t in rg.iter(SVG + "text") if t.get("class") == "tick"])
            for e in rg.iter():
                if e.get("class") == "pp":
                    j = int(e.get("data-j"))
                    check(abs(xs(float(e.get("cx"))) - float(rows[j]["fitted"])) <= 0.15 * px, "alloc: circle %d's x" % j)
            bayes_svg(binary, bcg, tmp, y, v, lat)
            raw_svg(binary, source, tmp)
            raw_big_svg(binary, tmp)
        else:
            drv = start_browser()
            if drv is None:
                print("SKIPPED: no headless Chromium")
                return SKIP
            try:
                page = Page(drv, out[3])
                value, table = page.value, page.table
                check(abs(value("spread-value") - math.sqrt(m("tau2"))) < 1e-6, "page: tau at load")
                check(abs(value("loglik") - m("ll_REML")) < 1e-8, "page: log-likelihood %r, metafor %r" % (value("loglik"), m("ll_REML")))
                check(all(abs(e - m("blup:%d" % (j + 1))) < 1e-8 for j, _, e in table()) and len(table()) == 13,
                      "page: the table's BLUPs are not metafor's")
                tau = page.slide(True, 15)
                b0, b1, ll = gls(y, v, lat, tau)
                check(abs(value("loglik") - ll) < 1e-9, "page: log-likelihood at tau %r: %r, here %r" % (tau, value("loglik"), ll))
                for j, b, e in table():
                    bj = v[j] / (v[j] + tau * tau)
                    check(abs(b - bj) < 1e-12 and abs(e - (y[j] + bj * (b0 + b1 * lat[j] - y[j]))) < 1e-9,
                          "page: group %d at tau %r" % (j, tau))
                drv.find_element(page.by.ID, "fit").click()
                check(abs(value("loglik") - m("ll_REML")) < 1e-8, "page: the button")
                quiet_page(drv, "page")
                raw_html(binary, source, tmp, drv)
            finally:
                drv.quit()
    return verdict("the meta-regression's figures match metafor's numbers")


if __name__ == "__main__":
    sys.exit(main())
