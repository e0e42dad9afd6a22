#!/usr/bin/env python3
"""Reference values for tests/cpu/special_test.cpp: each function at 60 significant digits with
mpmath (https://mpmath.org, PyPI), rounded once to the nearest double and written with 17 digits.

Rows: function,a,b,x,value. Inverse functions are tested the other way round: the file holds the
forward value p at an x, and the test asks the inverse for x back. Regenerate with
  python3 -m venv /tmp/mp && /tmp/mp/bin/pip install mpmath
  /tmp/mp/bin/python tests/data/special_functions.py > tests/data/special_functions.csv
"""
import mpmath as mp

mp.mp.dps = 60


def d(v):
    """mpf -> the nearest double's shortest text (float() rounds to nearest)."""
    return repr(float(v))


rows = []


def add(fn, a, b, x, value):
    rows.append(f"{fn},{d(a)},{d(b)},{d(x)},{d(value)}")


for x in [-745.0, -700.5, -300.25, -20.0, -1.0, -0.3465, -1e-5, -3e-9, 1e-10, 2.5e-7, 0.1, 0.34657,
          0.5, 0.69, 1.0, 2.0, 10.0, 37.7, 100.0, 500.0, 700.0, 709.7]:
    add("exp", 0, 0, x, mp.exp(mp.mpf(x)))
for x in [-0.999999, -0.75, -0.3, -0.01, -1e-9, -1e-300, 1e-300, 1e-17, 3e-9, 1e-4, 0.2, 0.5, 1.0, 7.5, 1e10, 1e300]:
    add("log1p", 0, 0, x, mp.log1p(mp.mpf(x)))
for x in [-0.9, -0.5, -0.4999, -0.3, -0.25, -0.1, -1e-3, -1e-9, 1e-12, 1e-5, 0.05, 0.2499, 0.25, 0.3, 0.5, 0.75, 2.0, 1e6]:
    add("log1pmx", 0, 0, x, mp.log1p(mp.mpf(x)) - x)
for x in [1e-300, 1e-20, 1e-8, 0.001, 0.1, 0.5, 0.75, 0.9, 0.999, 1.0, 1.001, 1.1, 1.25, 1.3, 1.4616321449683622,
          1.5, 1.75, 1.9, 1.999, 2.0, 2.001, 2.25, 2.5, 3.0, 4.5, 7.25, 9.99, 10.0, 10.5, 25.0, 100.0, 1e3,
          12345.678, 1e6, 1e10, 1e15, 1e100, 1e300]:
    add("lgamma", 0, 0, x, mp.loggamma(mp.mpf(x)))
for x in [1e-300, 1e-10, 1e-3, 0.1, 0.5, 1.0, 1.4, 1.4616321449683622, 1.46163214496836, 1.5, 2.0, 3.3,
          9.9, 10.0, 11.0, 55.5, 1e3, 1e6, 1e12, 1e200]:
    add("digamma", 0, 0, x, mp.digamma(mp.mpf(x)))
    add("trigamma", 0, 0, x, mp.polygamma(1, mp.mpf(x)))
pairs = [(0.1, 0.2), (0.5, 0.5), (1.0, 1.0), (1.0, 3.0), (2.5, 7.5), (0.3, 50.0), (5.0, 1e6), (9.5, 9.5),
         (10.0, 10.0), (12.5, 800.0), (1e3, 1e3), (1e5, 3e5), (1e6, 2.5e6), (1e7, 4e7), (1e12, 1e12)]
for a, b in pairs:
    add("lbeta", a, b, 0, mp.log(mp.beta(mp.mpf(a), mp.mpf(b))))

def ibeta_fraction(a, b, x):
    """I_x(a, b) by its continued fraction (Abramowitz and Stegun 26.5.8) at the working precision:
    mpmath's betainc (a hypergeometric series) takes minutes for parameters in the thousands. The
    two agree to 1e-55 where both are used (checked below)."""
    a, b, x = mp.mpf(a), mp.mpf(b), mp.mpf(x)
    if x * (a + b + 2) > a + 1:
        return 1 - ibeta_fraction(b, a, 1 - x)
    front = mp.exp(a * mp.log(x) + b * mp.log1p(-x) - (mp.loggamma(a) + mp.loggamma(b) - mp.loggamma(a + b))) / a
    c, d = mp.mpf(1), 1 / (1 - (a + b) * x / (a + 1))
    h, m = d, 1
    while True:
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 / (1 + num * d)
            c = 1 + num / c
            h *= d * c
        if abs(d * c - 1) < mp.mpf(10) ** -(mp.mp.dps - 5):
            return front * h
        m += 1


def ibeta(a, b, x):
    if a + b < 100:
        v = mp.betainc(a, b, 0, x, regularized=True)
        assert abs(v - ibeta_fraction(a, b, x)) < mp.mpf(10) ** -(mp.mp.dps - 8), (a, b, x)
        return v
    return ibeta_fraction(a, b, x)


# Incomplete beta: x at quantiles of the distribution (bisection in log-odds at 30 digits), so that
# bodies and tails are both covered whatever a and b; the values of both tails at 60 digits.
beta_params = [(0.1, 0.2), (0.5, 0.5), (1.0, 1.0), (0.7, 3.0), (2.0, 5.0), (2.5, 7.5), (1.4, 8.6),
               (15.0, 4.0), (30.0, 30.0), (10.0, 990.0), (200.0, 50.0), (1e4, 3e4), (5e5, 5e5), (2.0, 1e6)]
for a, b in beta_params:
    for p in [1e-12, 1e-4, 0.025, 0.3, 0.5, 0.8, 0.975, 1 - 1e-6]:
        with mp.workdps(30):
            lo, hi = mp.mpf(-800), mp.mpf(800)
            for _ in range(80):
                mid = (lo + hi) / 2
                if ibeta(a, b, 1 / (1 + mp.exp(-mid))) < p:
                    lo = mid
                else:
                    hi = mid
            x = float(1 / (1 + mp.exp(-(lo + hi) / 2)))
        if not (0 < x < 1):
            continue
        lower = ibeta(a, b, x)
        add("ibeta", a, b, x, lower)
        add("ibetac", a, b, x, 1 - lower)

def gamma_pq(a, x):
    """(P(a, x), Q(a, x)), each from the integral that mpmath evaluates well there (its lower
    integral's series fails for x far above a large a)."""
    a, x = mp.mpf(a), mp.mpf(x)
    if x <= a:
        p = mp.gammainc(a, 0, x, regularized=True)
        return p, 1 - p
    q = mp.gammainc(a, x, mp.inf, regularized=True)
    return 1 - q, q


gamma_params = [0.05, 0.3, 1.0, 1.5, 4.5, 9.99, 10.0, 37.0, 250.0, 1e4, 1e6]
for a in gamma_params:
    for p in [1e-12, 1e-4, 0.025, 0.3, 0.5, 0.8, 0.975, 1 - 1e-6]:
        # The p-quantile by bisection in log x at 30 digits (the upper end past every tail asked for).
        with mp.workdps(30):
            lo, hi = mp.mpf(-700), mp.log(a + 50 * mp.sqrt(a) + 100)
            for _ in range(80):
                mid = (lo + hi) / 2
                if gamma_pq(a, mp.exp(mid))[0] < p:
                    lo = mid
                else:
                    hi = mid
            x = float(mp.exp((lo + hi) / 2))
        lower, upper = gamma_pq(a, x)
        add("gammap", a, 0, x, lower)
        add("gammaq", a, 0, x, upper)

print("function,a,b,x,value")
print("\n".join(rows))
