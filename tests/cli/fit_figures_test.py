#!/usr/bin/env python3
"""`shrink fit --plot`: the SVG parsed as XML and every drawn position read back through the
panel's own tick labels, checked against the fit's CSV and JSON (the drawn positions' truth) and,
for the likelihood of tau, against the log-likelihood computed here from the data file.

Usage: fit_figures_test.py SHRINK_BINARY SOURCE_DIR        Exit 0: passed; 1: failed.
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
from figure_checks import SVG, TauPosterior, check, check_posterior_panel, cross_centre, line_scale, marks, verdict, x_scale  # noqa: E402


def fit(binary, tmp, args):
    out = [os.path.join(tmp, n) for n in ("f.svg", "g.csv", "s.json")]
    r = subprocess.run([binary, "fit"] + args + ["--plot", out[0], "-o", out[1], "--summary", out[2], "-q"],
                       capture_output=True, text=True)
    check(r.returncode == 0, "shrink fit %r failed: %s" % (args, r.stderr))
    panels = {g.get("id"): g for g in ET.parse(out[0]).getroot().iter(SVG + "g") if g.get("id")}
    rows = list(csv.DictReader(open(out[1])))
    return panels, rows, json.load(open(out[2]))


def check_groups(panels, rows, js, label):
    """The shrinkage plot and the forest against the CSV's columns and the JSON's mu."""
    sp = panels["shrinkage-plot"]
    value, per_px = x_scale(sp)
    tol = 0.15 * per_px
    np_, pp = marks(sp, "np"), marks(sp, "pp")
    for j, e in np_.items():
        check(abs(value(cross_centre(e)[0]) - float(rows[j]["mean"])) <= tol, "%s: group %d's no-pooling mark" % (label, j))
        check(abs(value(float(pp[j].get("cx"))) - float(rows[j]["estimate"])) <= tol, "%s: group %d's estimate" % (label, j))
    centre = [e for e in sp.iter() if e.get("class") == "center"][0]
    check(abs(value(float(centre.get("x1"))) - js["mu"]) <= tol, "%s: dashed line is not at mu" % label)

    fo = panels["forest"]
    value, per_px = x_scale(fo)
    tol = 0.15 * per_px
    drawn = marks(fo, "interval")
    for j, e in drawn.items():
        check(abs(value(float(e.get("x1"))) - float(rows[j]["lower"])) <= tol and
              abs(value(float(e.get("x2"))) - float(rows[j]["upper"])) <= tol, "%s: group %d's interval" % (label, j))
    order = sorted(drawn, key=lambda j: float(drawn[j].get("y1")))
    est = [float(rows[j]["estimate"]) for j in order]
    check(est == sorted(est), "%s: forest rows are not sorted by estimate" % label)
    labels = sorted((float(t.get("y")), t.text) for t in fo.iter(SVG + "text") if t.get("class") == "label")
    check([t for _, t in labels] == [rows[j]["group"][:24] for j in order], "%s: row labels are not the groups" % label)
    band = [e for e in fo.iter(SVG + "rect") if e.get("class") == "prediction"][0]
    lo, hi = float(band.get("x")), float(band.get("x")) + float(band.get("width"))
    check(abs(value(lo) - js["prediction_interval"][0]) <= tol and abs(value(hi) - js["prediction_interval"][1]) <= tol,
          "%s: shaded band is not the prediction interval" % label)
    return np_, drawn


def main():
    binary, source = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        # BCG trials, ML: every group drawn; the likelihood's curve is the ML profile of tau.
        bcg = os.path.join(source, "tests/data/metafor/bcg_regression.csv")
        panels, rows, js = fit(binary, tmp, [bcg, "--estimate", "yi", "--variance", "vi", "--group", "trial",
                                             "--tau-method", "ml"])
        np_, drawn = check_groups(panels, rows, js, "bcg")
        check(len(np_) == 13 and len(drawn) == 13, "bcg: not every trial drawn")
        tl = panels["tau-likelihood"]
        tau_of, per_px = x_scale(tl, 4)
        est = [e for e in tl.iter() if e.get("class") == "estimate"][0]
        check(abs(tau_of(float(est.get("x1"))) - js["tau"]) <= 0.15 * per_px, "bcg: the tau line is not at the fit's tau")
        # Tick labels sit 4 px below their tick's height.
        ll_of, ll_px = line_scale([(float(t.get("y")) - 4, float(t.text)) for t in tl.iter(SVG + "text")
                                   if t.get("class") == "ytick"])
        path = [e for e in tl.iter() if e.get("class") == "curve"][0].get("d")
        pts = [(tau_of(float(x)), ll_of(float(y))) for x, y in re.findall(r"[ML](-?[\d.e-]+) (-?[\d.e-]+)", path)]
        data = list(csv.DictReader(open(bcg)))
        y = [float(r["yi"]) for r in data]
        v = [float(r["vi"]) for r in data]

        def ll(tau):
            w = [1 / (vj + tau * tau) for vj in v]
            mu = sum(wj * yj for wj, yj in zip(w, y)) / sum(w)
            return sum(0.5 * math.log(wj) - 0.5 * wj * (yj - mu) ** 2 for wj, yj in zip(w, y))

        top = max(ll(t) for t, _ in pts)
        check(all(abs(d - (ll(t) - top)) <= 2 * ll_px for t, d in pts), "bcg: the curve is not the ML profile of tau")
        best = max(pts, key=lambda p: p[1])[0]
        step = pts[1][0] - pts[0][0]
        check(abs(best - js["tau"]) <= step, "bcg: the curve peaks at %r, the ML tau is %r" % (best, js["tau"]))
        # The constant of the JSON's log-likelihood: -k/2 log(2 pi) at the ML maximum.
        check(abs(ll(js["tau"]) - 0.5 * len(y) * math.log(2 * math.pi) - js["log_likelihood"]) < 1e-9,
              "bcg: the curve's formula is not the fit's log-likelihood")

        # Eight schools (tau = 0: the estimates all at mu, the intervals points).
        panels, rows, js = fit(binary, tmp, [os.path.join(source, "tests/data/eight_schools.csv"), "--estimate", "y",
                                             "--se", "sigma", "--group", "school"])
        check_groups(panels, rows, js, "eight schools")

        # Eight schools by full Bayes (BDA3 section 5.4): the third panel is the marginal posterior
        # p(tau | y) ∝ p(tau) V_mu^(1/2) prod_j (v_j + tau^2)^(-1/2) exp(-sum_j (y_j - mu_hat)^2 / (2 (v_j + tau^2))),
        # evaluated here, under the uniform prior and a half-Cauchy(5).
        schools = list(csv.DictReader(open(os.path.join(source, "tests/data/eight_schools.csv"))))
        y = [float(r["y"]) for r in schools]
        v = [float(r["sigma"]) ** 2 for r in schools]

        def log_restricted(tau):
            w = [1 / (vj + tau * tau) for vj in v]
            mu = sum(wj * yj for wj, yj in zip(w, y)) / sum(w)
            return sum(0.5 * math.log(wj) - 0.5 * wj * (yj - mu) ** 2 for wj, yj in zip(w, y)) - 0.5 * math.log(sum(w))

        c = math.sqrt(sum(v) / len(v))
        for prior, log_prior in (("uniform", lambda t: 0.0), ("half-cauchy:5", lambda t: -math.log1p((t / 5) ** 2))):
            panels, rows, js = fit(binary, tmp, [os.path.join(source, "tests/data/eight_schools.csv"), "--estimate", "y",
                                                 "--se", "sigma", "--group", "school", "--tau-method", "bayes",
                                                 "--tau-prior", prior])
            post = TauPosterior(lambda t: log_prior(t) + log_restricted(t), c)
            check_posterior_panel(panels["tau-likelihood"], post, js["tau_posterior"], "eight schools, bayes " + prior)
            text = open(os.path.join(tmp, "f.svg")).read()
            check("Posterior of tau" in text and "posterior density" in text and "likelihood, not the posterior" not in text,
                  "eight schools, bayes: the panel does not say it draws the posterior")

        # Many groups: 2000 lines and 100 forest rows, sampled evenly in rank.
        raw = os.path.join(tmp, "raw.csv")
        subprocess.run([binary, "generate", "--groups", "20000", "--obs", "2:6", "--mu", "1", "--tau", "0.5", "--sigma", "1",
                        "--seed", "5", "-o", raw], check=True)
        panels, rows, js = fit(binary, tmp, [raw, "--group", "group", "--value", "y"])
        np_, drawn = check_groups(panels, rows, js, "20000 groups")
        check(len(np_) == 2000 and len(drawn) == 100, "sampled %d lines and %d rows" % (len(np_), len(drawn)))
        ranks = sorted(range(len(rows)), key=lambda j: float(rows[j]["estimate"]))
        check(ranks[0] in drawn and ranks[-1] in drawn, "the forest's sample leaves out the extremes")
    return verdict("every drawn position matches the fit's numbers")


if __name__ == "__main__":
    sys.exit(main())
