#!/usr/bin/env python3
"""`shrink simulate --html` in headless Chromium: load the page, move the tau slider, press
"fit tau from data", and check that the MSE readout changes and matches the formulas computed here
from the data embedded in the page (and, at the fitted tau, the C++ estimates embedded beside them).

Usage: simulate_html_test.py SHRINK_BINARY [SCREENSHOT.png]
Exit 0: passed; 1: failed; 77: skipped (no Chromium, chromedriver or selenium on this machine).
Install them on Debian with: apt-get install chromium chromium-driver python3-selenium
"""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def find(*names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return None


def expected_mse(data, tau):
    """The page's formulas, independently: partial pooling at tau with precision-weighted mu."""
    ybar, theta, n = data["ybar"], data["theta"], data["n"]
    v = [data["sigma2_hat"] / k for k in n]
    tau2 = tau * tau
    w = [1.0 / (vj + tau2) for vj in v]
    mu = sum(wj * y for wj, y in zip(w, ybar)) / sum(w)
    est = [y + vj / (vj + tau2) * (mu - y) for y, vj in zip(ybar, v)]
    return sum((e - t) ** 2 for e, t in zip(est, theta)) / len(theta)


def partial_pool(data, tau):
    ybar, n = data["ybar"], data["n"]
    v = [data["sigma2_hat"] / k for k in n]
    tau2 = tau * tau
    w = [1.0 / (vj + tau2) for vj in v]
    mu = sum(wj * y for wj, y in zip(w, ybar)) / sum(w)
    return mu, [y + vj / (vj + tau2) * (mu - y) for y, vj in zip(ybar, v)]


# What the browser drew: marker positions in the SVG's own units, the tick labels' scale, and any
# text whose box reaches past the canvas.
FIGURE_STATE = """
const svg = document.querySelector('#figure svg'), W = svg.viewBox.baseVal.width;
const ticks = [...svg.querySelectorAll('text.tick')].map(t => [Number(t.getAttribute('x')), Number(t.textContent),
                                                             Number(t.getAttribute('y'))]);
const rows = [...new Set(ticks.map(t => t[2]))].sort((a, b) => a - b);
const byJ = sel => { const o = {}; for (const e of svg.querySelectorAll(sel)) o[e.dataset.j] = Number(e.getAttribute(
  e.tagName === 'line' ? 'x2' : 'cx')); return o; };
const overflow = [...svg.querySelectorAll('text')].filter(t => { const b = t.getBBox(); return b.x < 0 || b.x + b.width > W; })
  .map(t => t.textContent);
return {ticks, top: ticks.filter(t => t[2] === rows[0]).length, bottom: ticks.filter(t => t[2] === rows[rows.length - 1]).length,
        pp: byJ('circle.pp'), pull: byJ('line.pull'), center: Number(svg.querySelector('.center').getAttribute('x1')),
        labels: svg.querySelectorAll('text.label').length, overflow};
"""


def figure_state(drv):
    s = drv.execute_script(FIGURE_STATE)
    (x0, v0), (x1, v1) = min((t[0], t[1]) for t in s["ticks"]), max((t[0], t[1]) for t in s["ticks"])
    slope = (v1 - v0) / (x1 - x0)
    return {"value": lambda x: v0 + (x - x0) * slope, "per_px": abs(slope), "center": s["center"],
            "pp": {int(k): v for k, v in s["pp"].items()}, "pull": {int(k): v for k, v in s["pull"].items()},
            "ticks_top": s["top"], "ticks_bottom": s["bottom"], "labels": s["labels"], "overflow": s["overflow"]}


def moment_tau(data):
    ybar = data["ybar"]
    J = len(ybar)
    m = sum(ybar) / J
    s2 = sum((y - m) ** 2 for y in ybar) / (J - 1)
    mean_v = sum(data["sigma2_hat"] / k for k in data["n"]) / J
    return math.sqrt(max(0.0, s2 - mean_v))


def close(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def main():
    if len(sys.argv) < 2:
        print("usage: simulate_html_test.py SHRINK_BINARY [SCREENSHOT.png]")
        return 1
    binary = sys.argv[1]
    screenshot = sys.argv[2] if len(sys.argv) > 2 else None
    browser = find("chromium", "chromium-browser", "google-chrome")
    driver_path = find("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
    except ImportError:
        browser = None
    if not browser or not driver_path:
        print("SKIPPED: no headless Chromium (apt-get install chromium chromium-driver python3-selenium)")
        return SKIP

    failures = []

    def check(cond, msg):
        if not cond:
            failures.append(msg)
            print("FAIL:", msg)

    with tempfile.TemporaryDirectory() as tmp:
        page = os.path.join(tmp, "replicate.html")
        subprocess.run([binary, "simulate", "--groups", "12", "--obs", "3:9", "--tau", "0.8", "--sigma", "2",
                        "--mu", "5", "--replicates", "20", "--seed", "4", "--html", page,
                        "-o", os.path.join(tmp, "out.csv"), "-q"], check=True)
        html = open(page, encoding="utf-8").read()
        # Self-contained: no scripts, styles or images fetched from anywhere.
        check(not re.search(r"<(script|link|img)[^>]+(src|href)=", html), "page loads external resources")
        check("http" not in html.replace("http://www.w3.org/2000/svg", ""), "page names a network address")
        data = json.loads(re.search(r'<script id="shrink-data" type="application/json">(.*?)</script>', html,
                                    re.S).group(1))

        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1000,900"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        drv = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            drv.get("file://" + page)

            def readout(key):
                return float(drv.find_element(By.ID, "mse-" + key).get_attribute("data-value"))

            def tau_now():
                return float(drv.find_element(By.ID, "tau-value").get_attribute("data-value"))

            # At load the slider is at the moment estimate: the readout is the C++ estimates' MSE.
            tau_hat = math.sqrt(data["tau2_hat"])
            loaded = readout("partial_pool")
            check(close(tau_now(), tau_hat), "slider starts at %r, not at tau_hat %r" % (tau_now(), tau_hat))
            check(close(loaded, expected_mse(data, tau_hat)), "readout at load is %r, formula %r"
                  % (loaded, expected_mse(data, tau_hat)))

            # Home moves it to 0: partial pooling equals complete pooling.
            slider = drv.find_element(By.ID, "tau")
            slider.click()
            slider.send_keys(Keys.HOME)
            start = readout("partial_pool")
            check(tau_now() == 0.0, "Home did not move the slider to 0")
            check(close(start, expected_mse(data, 0.0)), "readout at tau = 0 is %r, formula %r"
                  % (start, expected_mse(data, 0.0)))
            check(close(start, readout("complete_pool")), "tau = 0 differs from complete pooling")
            no_pool = sum((y - t) ** 2 for y, t in zip(data["ybar"], data["theta"])) / len(data["ybar"])
            check(close(readout("no_pool"), no_pool), "no-pooling readout is wrong")

            # Move the slider as a person would: focus it and press the right arrow.
            for _ in range(40):
                slider.send_keys(Keys.ARROW_RIGHT)
            moved_tau = tau_now()
            moved = readout("partial_pool")
            check(moved_tau > 0, "the slider did not move")
            check(moved != start, "the readout did not change when the slider moved")
            check(close(moved, expected_mse(data, moved_tau)), "readout at tau = %r is %r, formula %r"
                  % (moved_tau, moved, expected_mse(data, moved_tau)))

            # The button sets the moment estimate; the readout matches the formula and the C++ fit.
            drv.find_element(By.ID, "fit").click()
            fitted_tau = tau_now()
            fitted = readout("partial_pool")
            check(close(fitted_tau, moment_tau(data)), "button set tau = %r, moment estimate %r"
                  % (fitted_tau, moment_tau(data)))
            check(close(fitted_tau, math.sqrt(data["tau2_hat"])), "button's tau differs from the C++ estimate")
            check(fitted != moved, "the readout did not change when the button was pressed")
            check(close(fitted, expected_mse(data, fitted_tau)), "readout after fit is %r, formula %r"
                  % (fitted, expected_mse(data, fitted_tau)))
            cpp = data["partial_pool_at_fit"]
            cpp_mse = sum((e - t) ** 2 for e, t in zip(cpp, data["theta"])) / len(cpp)
            check(close(fitted, cpp_mse, 1e-8), "readout after fit %r differs from the C++ estimates' MSE %r"
                  % (fitted, cpp_mse))
            circles = drv.find_elements(By.CSS_SELECTOR, "#figure circle.pp")
            check(len(circles) == len(data["ybar"]), "figure has %d estimate circles" % len(circles))

            # The drawing follows the slider: move it, then read every circle and the dashed line
            # back through the axis's own tick labels.
            for _ in range(25):
                slider.send_keys(Keys.ARROW_LEFT)
            tau = tau_now()
            drawn = figure_state(drv)
            value = drawn["value"]
            tol = 0.15 * drawn["per_px"]
            mu, est = partial_pool(data, tau)
            check(abs(value(drawn["center"]) - mu) <= tol, "dashed line at %r, mu_hat(tau) %r" % (value(drawn["center"]), mu))
            check(close(float(drv.find_element(By.ID, "mu-value").get_attribute("data-value")), mu),
                  "mu_hat readout is not mu_hat(tau)")
            check(all(abs(value(drawn["pp"][j]) - est[j]) <= tol for j in range(len(est))),
                  "circles are not at the partial-pooling estimates at tau = %r" % tau)
            check(all(abs(value(drawn["pull"][j]) - est[j]) <= tol for j in range(len(est))),
                  "pull lines do not end at the circles")
            check(drawn["ticks_top"] >= 4 and drawn["ticks_bottom"] >= 4, "axes need ticks at top and bottom: %r, %r"
                  % (drawn["ticks_top"], drawn["ticks_bottom"]))
            check(drawn["labels"] == len(est), "%d row labels for %d groups" % (drawn["labels"], len(est)))
            check(drawn["overflow"] == [], "text runs off the figure: %r" % drawn["overflow"])
            check(len(drv.find_elements(By.CSS_SELECTOR, "#figure #legend text")) == 6, "legend has not 6 entries")
            check(drv.execute_script("return performance.getEntriesByType('resource').length") == 0,
                  "the page made network requests")
            errors = [e for e in drv.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
            check(errors == [], "console errors: %r" % errors)
            if screenshot:
                drv.save_screenshot(screenshot)

            # The proportions page: posterior means Beta(m nu + y, (1 - m) nu + n - y) at the ml mean.
            page = os.path.join(tmp, "binomial.html")
            subprocess.run([binary, "simulate", "--family", "binomial", "--groups", "15", "--trials", "3:40", "--mean",
                            "0.3", "--concentration", "6", "--replicates", "8", "--seed", "2", "--html", page,
                            "-o", os.path.join(tmp, "b.csv"), "-q"], check=True)
            html = open(page, encoding="utf-8").read()
            data = json.loads(re.search(r'<script id="shrink-data" type="application/json">(.*?)</script>', html,
                                        re.S).group(1))
            drv.get("file://" + page)
            post = lambda nu: [(data["fit_mean"] * nu + y) / (nu + n) for y, n in zip(data["counts"], data["n"])]
            mse_of = lambda est: sum((e - t) ** 2 for e, t in zip(est, data["theta"])) / len(est)
            nu_now = lambda: float(drv.find_element(By.ID, "nu-value").get_attribute("data-value"))
            check(close(nu_now(), data["fit_concentration"]), "binomial page starts at nu %r" % nu_now())
            slider = drv.find_element(By.ID, "nu")
            slider.click()
            for _ in range(300):
                slider.send_keys(Keys.ARROW_LEFT)
            nu = nu_now()
            check(not close(nu, data["fit_concentration"]), "binomial slider did not move")
            check(close(readout("partial_pool"), mse_of(post(nu))), "binomial readout at nu = %r" % nu)
            drawn = figure_state(drv)
            tol = 0.15 * drawn["per_px"]
            est = post(nu)
            check(all(abs(drawn["value"](drawn["pp"][j]) - est[j]) <= tol for j in range(len(est))),
                  "binomial circles are not at the posterior means at nu = %r" % nu)
            check(abs(drawn["value"](drawn["center"]) - data["fit_mean"]) <= tol, "binomial dashed line is not at the ml mean")
            drv.find_element(By.ID, "fit").click()
            check(close(nu_now(), data["fit_concentration"]), "binomial button did not return to the ml fit")
            check(close(readout("partial_pool"), mse_of(data["partial_pool_at_fit"]), 1e-8),
                  "binomial readout after fit differs from the C++ posterior means")
            errors = [e for e in drv.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
            check(errors == [], "binomial page console errors: %r" % errors)
        finally:
            drv.quit()

    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("PASSED: slider and button update the readout as the formulas say")
    return 0


if __name__ == "__main__":
    sys.exit(main())
