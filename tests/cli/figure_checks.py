"""Helpers the figure tests share: recorded checks, reading an SVG's drawn positions back through
its tick labels, a golden-section maximiser, and headless Chromium."""

import math
import re
import shutil

SVG = "{http://www.w3.org/2000/svg}"
SKIP = 77
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def line_scale(pairs):
    """A linear map pixel -> value through (pixel, value) pairs, checked to be one straight line."""
    (p0, v0), (p1, v1) = min(pairs), max(pairs)
    slope = (v1 - v0) / (p1 - p0)
    for p, v in pairs:
        check(abs(v0 + (p - p0) * slope - v) <= 1e-3 * abs(v1 - v0), "tick %r off the scale" % v)
    return (lambda p: v0 + (p - p0) * slope), abs(slope)


def x_scale(panel, least=8):
    """The horizontal scale through a panel's tick labels (class tick), at least `least` of them."""
    ticks = [(float(t.get("x")), float(t.text)) for t in panel.iter(SVG + "text") if t.get("class") == "tick"]
    check(len(ticks) >= least, "a panel has %d tick labels on its axes" % len(ticks))
    return line_scale(ticks)


def y_scale(panel):
    """The vertical scale through a panel's tick labels (class ytick, 4 px below their tick's height)."""
    return line_scale([(float(t.get("y")) - 4, float(t.text)) for t in panel.iter(SVG + "text") if t.get("class") == "ytick"])


def marks(panel, cls):
    return {int(e.get("data-j")): e for e in panel.iter() if e.get("class") == cls}


def cross_centre(e):
    """The centre (x, y) of a cross drawn as the path M x-m y-m l 2m 2m ..."""
    n = [float(t) for t in re.findall(r"-?[\d.]+(?:e-?\d+)?", e.get("d"))]
    return n[0] + n[2] / 2, n[1] + n[3] / 2


def golden_argmax(f, a, b, tol=1e-12):
    """(x, f(x)) at the maximum of a unimodal f on [a, b]."""
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc > fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return (c, fc) if fc > fd else (d, fd)


def start_browser():
    """Headless Chromium through Selenium (console logged), or None where it is not installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    if not browser or not driver_path:
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)


def quiet_page(drv, label):
    """No network requests and no console errors or warnings."""
    check(drv.execute_script("return performance.getEntriesByType('resource').length") == 0,
          "%s: the page made network requests" % label)
    errors = [e for e in drv.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    check(errors == [], "%s: console errors %r" % (label, errors))


def verdict(passed):
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("PASSED: " + passed)
    return 0
