#!/usr/bin/env python3
"""`shrink fit --html` in headless Chromium on eight schools, the BCG trials and 1e6 generated
groups: move the tau slider and press "fit tau from data"; the readouts (log-likelihood, mu_hat,
mean shrinkage, each row's B_j) and the drawn circles and intervals must match what this script
computes from the fit's CSV (y_j, se_j) and JSON; no console errors, no network requests.

Usage: fit_html_test.py SHRINK_BINARY SOURCE_DIR
Exit 0: passed; 1: failed; 77: skipped (no Chromium, chromedriver or selenium on this machine).
"""

import csv
import json
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figure_checks import SKIP, check, quiet_page, start_browser, verdict  # noqa: E402


def close(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1.0)


def truth(y, v, tau, restricted):
    """mu_hat(tau), the log-likelihood with mu profiled out (constants included), mean B_j."""
    w = [1 / (vj + tau * tau) for vj in v]
    sw = sum(w)
    mu = sum(wj * yj for wj, yj in zip(w, y)) / sw
    ll = sum(0.5 * math.log(wj) - 0.5 * wj * (yj - mu) ** 2 for wj, yj in zip(w, y))
    k = len(y) - 1 if restricted else len(y)
    if restricted:  # metafor's REML: also + log det(X'X) / 2, X the intercept column
        ll += 0.5 * math.log(len(y)) - 0.5 * math.log(sw)
    return mu, ll - 0.5 * k * math.log(2 * math.pi), sum(vj * wj for vj, wj in zip(v, w)) / len(v)


# Circles and intervals of the forest in its own units, through its tick labels.
FOREST = """
const g = document.getElementById('forest');
const ticks = [...g.querySelectorAll('text.tick')].map(t => [Number(t.getAttribute('x')), Number(t.textContent)]);
const pp = {}, iv = {};
for (const c of g.querySelectorAll('circle.pp')) pp[c.dataset.j] = Number(c.getAttribute('cx'));
for (const l of g.querySelectorAll('line.interval')) iv[l.dataset.j] = [Number(l.getAttribute('x1')), Number(l.getAttribute('x2'))];
return {ticks, pp, iv};
"""


def main():
    binary, source = sys.argv[1], sys.argv[2]
    drv = start_browser()
    if drv is None:
        print("SKIPPED: no headless Chromium (apt-get install chromium chromium-driver python3-selenium)")
        return SKIP
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "million.csv")
        subprocess.run([binary, "generate", "--groups", "1000000", "--obs", "2", "--mu", "0", "--tau", "0.3", "--sigma", "1",
                        "--seed", "9", "-o", raw], check=True)
        cases = [
            ("bcg", [os.path.join(source, "tests/data/metafor/bcg_regression.csv"), "--estimate", "yi", "--variance", "vi",
                     "--group", "trial", "--tau-method", "ml"]),
            ("eight schools", [os.path.join(source, "tests/data/eight_schools.csv"), "--estimate", "y", "--se", "sigma",
                               "--group", "school", "--tau-method", "reml"]),
            # bayes: the third panel is the posterior of tau; the slider, readouts and button as for the others.
            ("eight schools, bayes", [os.path.join(source, "tests/data/eight_schools.csv"), "--estimate", "y", "--se", "sigma",
                                      "--group", "school", "--tau-method", "bayes"]),
            ("1e6 groups", [raw, "--group", "group", "--value", "y"]),
        ]
        try:
            for label, args in cases:
                page, out, js_path = (os.path.join(tmp, n) for n in ("p.html", "g.csv", "s.json"))
                subprocess.run([binary, "fit"] + args + ["--html", page, "-o", out, "--summary", js_path, "-q"], check=True)
                js = json.load(open(js_path))
                rows = list(csv.DictReader(open(out)))
                y = [float(r["mean"]) for r in rows]
                v = [float(r["se"]) ** 2 for r in rows]
                restricted = js["tau_method"] == "reml"
                check(os.path.getsize(page) < 5e6, "%s: the page is %d bytes" % (label, os.path.getsize(page)))
                drv.get("file://" + page)

                def value(id_):
                    return float(drv.find_element(By.ID, id_).get_attribute("data-value"))

                def agrees(tau, what):
                    mu, ll, mean_b = truth(y, v, tau, restricted)
                    check(close(value("mu-value"), mu), "%s %s: mu_hat %r, truth %r" % (label, what, value("mu-value"), mu))
                    check(close(value("loglik"), ll), "%s %s: log-likelihood %r, truth %r" % (label, what, value("loglik"), ll))
                    check(close(value("mean-shrinkage"), mean_b), "%s %s: mean shrinkage" % (label, what))
                    f = drv.execute_script(FOREST)
                    (x0, v0), (x1, v1) = min(f["ticks"]), max(f["ticks"])
                    at = lambda x: v0 + (x - x0) * (v1 - v0) / (x1 - x0)
                    tol = 0.15 * abs(v1 - v0) / (x1 - x0)
                    for j, cx in f["pp"].items():
                        b = v[int(j)] / (v[int(j)] + tau * tau)
                        est = y[int(j)] + b * (mu - y[int(j)])
                        check(abs(at(cx) - est) <= tol, "%s %s: group %s's circle at %r, truth %r" % (label, what, j, at(cx), est))
                    check(len(f["pp"]) == min(len(y), 100), "%s: %d forest rows" % (label, len(f["pp"])))
                    check(len(f["ticks"]) >= 8, "%s: forest axes have %d ticks" % (label, len(f["ticks"])))

                # At load: the fit's tau, and the JSON's numbers.
                check(close(value("tau-value"), js["tau"]), "%s: page starts at tau %r, fit %r" % (label, value("tau-value"), js["tau"]))
                if js["tau_method"] != "bayes":  # bayes: the JSON's mu is mu's posterior mean, not mu_hat(tau)
                    check(close(value("mu-value"), js["mu"]), "%s: mu_hat at load" % label)
                if js["tau_method"] in ("ml", "reml"):
                    check(close(value("loglik"), js["log_likelihood"]), "%s: log-likelihood %r, JSON %r"
                          % (label, value("loglik"), js["log_likelihood"]))
                agrees(value("tau-value"), "at load")
                slider = drv.find_element(By.ID, "tau")
                slider.click()
                slider.send_keys(Keys.END)
                for _ in range(30):
                    slider.send_keys(Keys.ARROW_LEFT)
                moved = value("tau-value")
                check(not close(moved, js["tau"]), "%s: the slider did not move" % label)
                agrees(moved, "after the slider")
                rows_b = drv.execute_script("return [...document.querySelectorAll('#shrinkage tbody tr')].map(r => "
                                            "[Number(r.dataset.j), Number(r.children[1].dataset.value)])")
                check(all(close(b, v[j] / (v[j] + moved * moved)) for j, b in rows_b) and len(rows_b) == min(len(y), 100),
                      "%s: the shrinkage table" % label)
                drv.find_element(By.ID, "fit").click()
                check(close(value("tau-value"), js["tau"]), "%s: the button did not return to the fit's tau" % label)
                agrees(js["tau"], "after the button")
                quiet_page(drv, label)
        finally:
            drv.quit()
    return verdict("slider, button and readouts match the likelihood and posteriors computed from the fit")


if __name__ == "__main__":
    sys.exit(main())
