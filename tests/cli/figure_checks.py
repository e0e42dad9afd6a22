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


class TauPosterior:
    """p(tau | y) proportional to exp(log_post(tau)) on [0, inf), by this script's own quadrature: tau =
    c u / (1 - u), the trapezoidal rule on n steps of u in [0, 1) (the density in u vanishes at 1)."""

    def __init__(self, log_post, c, n=40000):
        self.log_post, self.c = log_post, c
        u = [i / n for i in range(n)]
        logs = [log_post(c * x / (1 - x)) + math.log(c / (1 - x) ** 2) for x in u]
        self.ref = max(logs)
        f = [math.exp(v - self.ref) for v in logs] + [0.0]
        self.u, self.cum = u + [1.0], [0.0]
        for i in range(n):
            self.cum.append(self.cum[-1] + 0.5 * (f[i] + f[i + 1]) / n)
        self.total = self.cum[-1]

    def density(self, tau):
        return math.exp(self.log_post(tau) - self.ref) / self.total

    def cdf_u(self, x):
        n = len(self.u) - 1
        i = min(int(x * n), n - 1)
        return (self.cum[i] + (self.cum[i + 1] - self.cum[i]) * (x * n - i)) / self.total

    def mass_below(self, tau):
        return self.cdf_u(tau / (tau + self.c))

    def quantile(self, p):
        target = p * self.total
        i = next(k for k in range(1, len(self.cum)) if self.cum[k] >= target)
        x = self.u[i - 1] + (self.u[i] - self.u[i - 1]) * (target - self.cum[i - 1]) / (self.cum[i] - self.cum[i - 1])
        return self.c * x / (1 - x)


def check_posterior_panel(panel, post, js_post, label):
    """The likelihood panel of a bayes fit: the curve is p(tau | y) (read back through its ticks; it holds
    nearly all the mass and integrates to the mass below its right end), the solid line the median,
    the dotted line the mean and the shaded band the interval of the JSON's tau_posterior; that
    posterior's median, interval and mode agree with this script's quadrature."""
    tau_of, per_px = x_scale(panel, 4)
    dens_of, dens_px = y_scale(panel)
    path = [e for e in panel.iter() if e.get("class") == "curve"][0].get("d")
    pts = [(tau_of(float(a)), dens_of(float(b))) for a, b in re.findall(r"[ML](-?[\d.e-]+) (-?[\d.e-]+)", path)]
    check(all(abs(d - post.density(t)) <= 2 * dens_px for t, d in pts), "%s: the curve is not p(tau | y)" % label)
    area = sum(0.5 * (pts[i][1] + pts[i + 1][1]) * (pts[i + 1][0] - pts[i][0]) for i in range(len(pts) - 1))
    mass = post.mass_below(pts[-1][0])
    check(mass > 0.97 and abs(area - mass) < 0.01, "%s: the curve's area %r, its mass %r" % (label, area, mass))
    mode = golden_argmax(post.density, 0, pts[-1][0], 1e-9)[0]
    step = pts[1][0] - pts[0][0]
    check(abs(max(pts, key=lambda p: p[1])[0] - mode) <= step, "%s: the curve's peak is not at the mode %r" % (label, mode))
    check(abs(js_post["mode"] - mode) < 1e-4 * max(1, mode), "%s: the JSON's mode %r, here %r" % (label, js_post["mode"], mode))
    for name, p in (("median", 0.5), ("lower", 0.025), ("upper", 0.975)):
        check(abs(js_post[name] - post.quantile(p)) < 1e-5 * max(1, js_post[name]),
              "%s: the JSON's %s %r, here %r" % (label, name, js_post[name], post.quantile(p)))
    line = lambda cls: tau_of(float([e for e in panel.iter() if e.get("class") == cls][0].get("x1")))
    check(abs(line("estimate") - js_post["median"]) <= 0.15 * per_px, "%s: the solid line is not the median" % label)
    check(abs(line("posterior-mean") - js_post["mean"]) <= 0.15 * per_px, "%s: the dotted line is not the mean" % label)
    rect = [e for e in panel.iter(SVG + "rect") if e.get("class") == "interval"][0]
    lo, hi = tau_of(float(rect.get("x"))), tau_of(float(rect.get("x")) + float(rect.get("width")))
    check(abs(lo - js_post["lower"]) <= 0.15 * per_px and abs(hi - js_post["upper"]) <= 0.15 * per_px,
          "%s: shaded [%r, %r] is not the posterior interval" % (label, lo, hi))


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
