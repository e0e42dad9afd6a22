#!/usr/bin/env python3
"""`shrink fit --estimate ... --covariates ... --plot/--html`: the BCG trials' log risk ratios on
absolute latitude (REML), checked against metafor's numbers in tests/data/metafor
(bcg_regression_reference.csv, written by meta_regression.R): the regression panel's line is
metafor's intercept + slope x latitude, its circles metafor's BLUPs, the likelihood panel's tau line
and shaded interval metafor's tau2 and Q-profile interval, the page's log-likelihood at the fit
metafor's ll_REML; the curve of tau against the restricted log-likelihood computed here (2 x 2
generalised least squares); after the slider, the page's BLUPs against y_j + B_j (x_j' beta(tau) -
y_j) with beta(tau) computed here. A design with a factor (alloc) draws against the linear predictor.

Usage: fit_regression_figures_test.py SHRINK_BINARY SOURCE_DIR svg|html
Exit 0: passed; 1: failed; 77: skipped (html: no Chromium, chromedriver or selenium).
"""

import csv
import math
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figure_checks import SKIP, SVG, check, cross_centre, line_scale, quiet_page, start_browser, verdict, y_scale  # noqa: E402


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
            # Raw rows with covariates are not drawn yet: one line, exit 1, no file.
            radon = os.path.join(source, "tests/data/radon/radon.csv")
            bad = os.path.join(tmp, "bad.svg")
            r = subprocess.run([binary, "fit", radon, "--group", "county", "--value", "log_radon", "--covariates", "floor",
                                "--plot", bad], capture_output=True, text=True)
            check(r.returncode == 1 and r.stderr.count("\n") == 1 and "--plot" in r.stderr and not os.path.exists(bad),
                  "raw rows with covariates --plot: %r" % r.stderr)
        else:
            drv = start_browser()
            if drv is None:
                print("SKIPPED: no headless Chromium")
                return SKIP
            from selenium.webdriver.common.by import By
            from selenium.webdriver.common.keys import Keys
            try:
                drv.get("file://" + out[3])
                value = lambda id_: float(drv.find_element(By.ID, id_).get_attribute("data-value"))
                table = lambda: drv.execute_script("return [...document.querySelectorAll('#shrinkage tbody tr')].map(r => "
                                                   "[Number(r.dataset.j), Number(r.children[1].dataset.value), "
                                                   "Number(r.children[2].dataset.value)])")
                check(abs(value("spread-value") - math.sqrt(m("tau2"))) < 1e-6, "page: tau at load")
                check(abs(value("loglik") - m("ll_REML")) < 1e-8, "page: log-likelihood %r, metafor %r" % (value("loglik"), m("ll_REML")))
                check(all(abs(e - m("blup:%d" % (j + 1))) < 1e-8 for j, _, e in table()) and len(table()) == 13,
                      "page: the table's BLUPs are not metafor's")
                slider = drv.find_element(By.ID, "spread")
                slider.click()
                slider.send_keys(Keys.END)
                for _ in range(15):
                    slider.send_keys(Keys.ARROW_LEFT)
                tau = value("spread-value")
                b0, b1, ll = gls(y, v, lat, tau)
                check(abs(value("loglik") - ll) < 1e-9, "page: log-likelihood at tau %r: %r, here %r" % (tau, value("loglik"), ll))
                for j, b, e in table():
                    bj = v[j] / (v[j] + tau * tau)
                    check(abs(b - bj) < 1e-12 and abs(e - (y[j] + bj * (b0 + b1 * lat[j] - y[j]))) < 1e-9,
                          "page: group %d at tau %r" % (j, tau))
                drv.find_element(By.ID, "fit").click()
                check(abs(value("loglik") - m("ll_REML")) < 1e-8, "page: the button")
                quiet_page(drv, "page")
            finally:
                drv.quit()
    return verdict("the meta-regression's figures match metafor's numbers")


if __name__ == "__main__":
    sys.exit(main())
