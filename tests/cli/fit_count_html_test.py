#!/usr/bin/env python3
"""`shrink fit --family binomial|poisson --html` and the sort control of every page, in headless
Chromium: on the rat tumours (beta prior, ml), cbpp per herd (logit-normal prior) and 1e6 generated
groups, the page starts at the fit (the JSON's spread, prior mean and log-likelihood, the CSV's
estimates and shrinkage); after the slider moves, the readouts, the drawn posterior means and the
shrinkage table match what this script computes from the data (the beta-binomial profile with
math.lgamma and golden-section search; the conjugate posterior means (m nu + y) / (nu + n) and
weights nu / (nu + n); the logit-normal profile by brute-force quadrature); "fit from data" returns
to the fit. The sort control re-orders the forest's rows (fit pages, normal and counts) and the
simulate page's rows by group, n_j, estimate and shrinkage. No console errors, no network requests.

Usage: fit_count_html_test.py SHRINK_BINARY SOURCE_DIR
Exit 0: passed; 1: failed; 77: skipped (no Chromium, chromedriver or selenium on this machine).
"""

import csv
import json
import math
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figure_checks import SKIP, check, quiet_page, start_browser, verdict  # noqa: E402
from fit_count_figures_test import beta_binomial_at, logit_normal_profile  # noqa: E402


def close(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1.0)


# The forest's circles in its own units (through its tick labels), and each row's label's height.
FOREST = """
const g = document.getElementById('forest');
const ticks = [...g.querySelectorAll('text.tick')].map(t => [Number(t.getAttribute('x')), Number(t.textContent)]);
const pp = {}, top = {};
for (const c of g.querySelectorAll('circle.pp')) pp[c.dataset.j] = Number(c.getAttribute('cx'));
for (const r of g.querySelectorAll('g.row')) top[r.dataset.j] = r.querySelector('text.label').getBoundingClientRect().top;
return {ticks, pp, top};
"""

ROWS_TOP = """
const top = {};
for (const r of document.querySelectorAll('#figure g.row')) top[r.dataset.j] = r.getBoundingClientRect().top;
return top;
"""


def main():
    binary, source = sys.argv[1], sys.argv[2]
    drv = start_browser()
    if drv is None:
        print("SKIPPED: no headless Chromium (apt-get install chromium chromium-driver python3-selenium)")
        return SKIP
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    with tempfile.TemporaryDirectory() as tmp:
        rats = [r for r in csv.reader(open(os.path.join(source, "tests/data/rat_tumors.csv"))) if r and not r[0].startswith("#")]
        rat_csv = os.path.join(tmp, "rats.csv")
        with open(rat_csv, "w") as f:
            f.write("experiment,y,n\n" + "".join("%d,%s,%s\n" % (i + 1, a, b) for i, (a, b) in enumerate(rats[1:71])))
        herds = {}
        for r in csv.DictReader(open(os.path.join(source, "tests/data/cbpp.csv"))):
            h = herds.setdefault(int(r["herd"]), [0, 0])
            h[0] += int(r["incidence"])
            h[1] += int(r["size"])
        cb = os.path.join(tmp, "cbpp.csv")
        with open(cb, "w") as f:
            f.write("herd,y,n\n" + "".join("%d,%d,%d\n" % (h, v[0], v[1]) for h, v in sorted(herds.items())))
        big = os.path.join(tmp, "big.csv")
        rng = random.Random(7)
        with open(big, "w") as f:
            f.write("g,y,n\n")
            for j in range(1000000):
                nj = rng.randint(2, 40)
                f.write("%d,%d,%d\n" % (j, min(nj, int(rng.random() * rng.random() * nj)), nj))
        cases = [
            ("rat tumours", [rat_csv, "--family", "binomial", "--successes", "y", "--trials", "n", "--group", "experiment"]),
            ("cbpp", [cb, "--family", "binomial", "--successes", "y", "--trials", "n", "--group", "herd", "--prior", "logit-normal"]),
            ("1e6 groups", [big, "--family", "binomial", "--successes", "y", "--trials", "n", "--group", "g"]),
        ]
        try:
            for label, args in cases:
                page, out, js_path = (os.path.join(tmp, n) for n in ("p.html", "g.csv", "s.json"))
                r = subprocess.run([binary, "fit"] + args + ["--html", page, "-o", out, "--summary", js_path, "-q"],
                                   capture_output=True, text=True)
                check(r.returncode == 0, "%s: %s" % (label, r.stderr))
                if r.returncode != 0:
                    continue
                js = json.load(open(js_path))
                rows = list(csv.DictReader(open(out)))
                y = [float(x["successes"]) for x in rows]
                n = [float(x["trials"]) for x in rows]
                glmm = js["prior"] == "logit-normal"
                check(os.path.getsize(page) < 5e6, "%s: the page is %d bytes" % (label, os.path.getsize(page)))
                drv.get("file://" + page)

                def value(id_):
                    return float(drv.find_element(By.ID, id_).get_attribute("data-value"))

                def circles_at(truth, what):
                    f = drv.execute_script(FOREST)
                    (x0, v0), (x1, v1) = min(f["ticks"]), max(f["ticks"])
                    at = lambda x: v0 + (x - x0) * (v1 - v0) / (x1 - x0)
                    tol = 0.15 * abs(v1 - v0) / (x1 - x0)
                    bad = [j for j, cx in f["pp"].items() if abs(at(cx) - truth(int(j))) > tol]
                    check(not bad, "%s %s: circles of groups %r off" % (label, what, bad[:5]))
                    check(len(f["pp"]) == min(len(y), 100), "%s: %d forest rows" % (label, len(f["pp"])))
                    check(len(f["ticks"]) >= 8, "%s: forest axes have %d ticks" % (label, len(f["ticks"])))
                    return f

                def table():
                    return drv.execute_script("return [...document.querySelectorAll('#shrinkage tbody tr')].map(r => "
                                              "[Number(r.dataset.j), Number(r.children[1].dataset.value)])")

                def at_fit(what):
                    spread = js["tau"] if glmm else js["concentration"]
                    check(close(value("spread-value"), spread), "%s %s: spread %r, fit %r" % (label, what, value("spread-value"), spread))
                    check(close(value("mean-value"), js["mean"]), "%s %s: prior mean" % (label, what))
                    check(close(value("loglik"), js["log_likelihood"]), "%s %s: log-likelihood %r, JSON %r"
                          % (label, what, value("loglik"), js["log_likelihood"]))
                    shr = [float(x["shrinkage"]) for x in rows]
                    check(close(value("mean-shrinkage"), sum(shr) / len(shr), 1e-12), "%s %s: mean shrinkage" % (label, what))
                    check(all(close(b, shr[j]) for j, b in table()), "%s %s: the shrinkage table is not the CSV's" % (label, what))
                    circles_at(lambda j: float(rows[j]["estimate"]), what)

                at_fit("at load")
                slider = drv.find_element(By.ID, "spread")
                slider.click()
                slider.send_keys(Keys.HOME)
                for _ in range(20):
                    slider.send_keys(Keys.ARROW_RIGHT)
                s = value("spread-value")
                check(not close(s, js["tau"] if glmm else js["concentration"]), "%s: the slider did not move" % label)
                m = value("mean-value")
                if glmm:
                    mu_ll = logit_normal_profile(y, n, s)
                    check(abs(value("loglik") - mu_ll) < 1e-4, "%s: log-likelihood at tau %r: %r, quadrature %r"
                          % (label, s, value("loglik"), mu_ll))
                else:
                    if label == "rat tumours":
                        m_true, ll_true = beta_binomial_at(y, n, s)
                        check(close(m, m_true, 1e-7), "%s: prior mean at nu %r: %r, profile %r" % (label, s, m, m_true))
                        check(close(value("loglik"), ll_true, 1e-10), "%s: log-likelihood %r, profile %r" % (label, value("loglik"), ll_true))
                    # The conjugate posterior at the page's (m, nu): closed forms.
                    circles_at(lambda j: (m * s + y[j]) / (s + n[j]), "after the slider")
                    check(all(close(b, s / (s + n[j])) for j, b in table()), "%s: the shrinkage table after the slider" % label)
                    check(close(value("mean-shrinkage"), sum(s / (s + nj) for nj in n) / len(n), 1e-9),
                          "%s: mean shrinkage after the slider" % label)
                # The sort control: by n_j, by group, by shrinkage, back to estimate.
                sort = Select(drv.find_element(By.ID, "sort"))
                for key, of in (("n", lambda j: (n[j], j)), ("group", lambda j: j),
                                ("shrinkage", lambda j: (dict(table())[j], j))):
                    sort.select_by_value(key)
                    top = {int(j): t for j, t in drv.execute_script(FOREST)["top"].items()}
                    order = sorted(top, key=lambda j: top[j])
                    check(order == sorted(top, key=of), "%s: rows not sorted by %s" % (label, key))
                sort.select_by_value("estimate")
                drv.find_element(By.ID, "fit").click()
                at_fit("after the button")
                top = {int(j): t for j, t in drv.execute_script(FOREST)["top"].items()}
                check(sorted(top, key=lambda j: top[j]) == sorted(top, key=lambda j: (float(rows[j]["estimate"]), j)),
                      "%s: rows not sorted by estimate" % label)
                quiet_page(drv, label)

            # The sort control on the normal family's fit page and on a simulate page.
            for label, cmd in (
                ("eight schools", [binary, "fit", os.path.join(source, "tests/data/eight_schools.csv"), "--estimate", "y", "--se",
                                   "sigma", "--group", "school", "--tau", "10", "--html", os.path.join(tmp, "p.html"), "-o",
                                   os.path.join(tmp, "g.csv"), "-q"]),
                ("simulate", [binary, "simulate", "--groups", "12", "--obs", "3:9", "--tau", "0.8", "--sigma", "2", "--mu", "0",
                              "--replicates", "2", "--seed", "3", "--html", os.path.join(tmp, "p.html"), "-o",
                              os.path.join(tmp, "study.csv"), "-q"])):
                r = subprocess.run(cmd, capture_output=True, text=True)
                check(r.returncode == 0, "%s: %s" % (label, r.stderr))
                drv.get("file://" + os.path.join(tmp, "p.html"))
                ns = {int(e.get_attribute("data-j")): float(e.get_attribute("data-n"))
                      for e in drv.find_elements(By.CSS_SELECTOR, "#figure g.row")}
                check(len(ns) in (8, 12), "%s: %d rows" % (label, len(ns)))
                sort = Select(drv.find_element(By.ID, "sort"))
                for key, of in (("n", lambda j: (ns[j], j)), ("group", lambda j: j)):
                    sort.select_by_value(key)
                    top = {int(j): t for j, t in drv.execute_script(ROWS_TOP).items()}
                    check(sorted(top, key=lambda j: top[j]) == sorted(top, key=of), "%s: rows not sorted by %s" % (label, key))
                sort.select_by_value("estimate")
                est = {int(c.get_attribute("data-j")): float(c.get_attribute("cx"))
                       for c in drv.find_elements(By.CSS_SELECTOR, "#figure g.row circle.pp")}
                top = {int(j): t for j, t in drv.execute_script(ROWS_TOP).items()}
                check(sorted(top, key=lambda j: top[j]) == sorted(top, key=lambda j: (est[j], j)),
                      "%s: rows not sorted by estimate" % label)
                quiet_page(drv, label)
        finally:
            drv.quit()
    return verdict("the count pages' slider, button, readouts and every page's sort control")


if __name__ == "__main__":
    sys.exit(main())
