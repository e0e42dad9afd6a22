"""shrink.summarize and shrink.fit_summaries against `shrink summarize` and `shrink fit
--from-summaries`, and the merged fit against the fit of the whole rows."""

import numpy as np
import pandas as pd
import pytest

import shrink
from conftest import assert_same_groups, assert_same_summary, cli, cli_fit

SUMMARY_COLUMNS = ["group", "n", "mean", "mean_lo", "m2"]


def rows(seed=21, n=4000, groups=150):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    y = np.round(rng.normal(g % 9, 2.0) * 8) / 8  # k/8: the CSV holds the same doubles
    return pd.DataFrame({"g": g, "y": y})


def cli_summarize(tmp_path, name, frame, *args):
    frame.to_csv(tmp_path / f"{name}_rows.csv", index=False)
    cli("summarize", tmp_path / f"{name}_rows.csv", "--group", "g", "--value", "y", *args, "-o", tmp_path / f"{name}.csv", "-q")
    return tmp_path / f"{name}.csv"


def test_summarize_equals_the_command(tmp_path, shrink_binary):
    d = rows()
    want = pd.read_csv(cli_summarize(tmp_path, "all", d), engine="pyarrow")
    got = shrink.summarize(d, group="g", value="y")
    assert list(got.columns) == SUMMARY_COLUMNS
    assert_same_groups(got, want)
    got = shrink.summarize(str(tmp_path / "all_rows.csv"), group="g", value="y")
    assert_same_groups(got, want)


def test_merged_parts_fit_as_the_whole(tmp_path, shrink_binary):
    d = rows()
    # Adversarial splits: one group spread over every part, a part of one row, an empty part.
    spread = d[d["g"] == 7]
    rest = d[d["g"] != 7]
    parts = [pd.concat([rest.iloc[:1500], spread.iloc[:2]]), rest.iloc[1500:1501], pd.concat([rest.iloc[1501:], spread.iloc[2:]])]
    summaries = [shrink.summarize(p, group="g", value="y") for p in parts]
    empty = pd.DataFrame({c: pd.Series(dtype=float if c != "group" else np.int64) for c in SUMMARY_COLUMNS})
    files = [cli_summarize(tmp_path, f"part{i}", p) for i, p in enumerate(parts)]
    for s, f in zip(summaries, files):
        assert_same_groups(s, pd.read_csv(f, engine="pyarrow"))
    # The command merging its own files, in the same order: the same bits.
    want, want_summary = cli_fit(tmp_path, "--from-summaries", *files, "--tau-method", "reml")
    got = shrink.fit_summaries(summaries + [empty], tau_method="reml")
    assert_same_groups(got.groups, want)
    assert_same_summary(got.summary, want_summary)
    got = shrink.fit_summaries([str(f) for f in files], tau_method="reml")
    assert_same_groups(got.groups, want)
    # ... and the fit of the whole rows to 1e-12 relative.
    whole = shrink.fit(d, group="g", value="y", tau_method="reml")
    assert list(whole.groups["group"]) == list(got.groups["group"])
    for c in ("n", "mean", "se", "shrinkage", "estimate", "sd", "lower", "upper"):
        np.testing.assert_allclose(got.groups[c], whole.groups[c], rtol=1e-12, atol=1e-14, err_msg=c)
    assert got.tau2 == pytest.approx(whole.tau2, rel=1e-12)


def test_apply_a_fit_to_some_groups(tmp_path, shrink_binary):
    """shrink.fit(part, apply=whole): the part's groups get the whole fit's posteriors (the command's
    --apply on the same files: the same bits; the whole fit's rows: 1e-14)."""
    d = rows()
    whole = shrink.fit(d, group="g", value="y", tau_method="ml")
    part = d[d["g"] % 4 == 1]
    got = shrink.fit(part, group="g", value="y", apply=whole)
    assert got.summary["tau_method"] == "fixed" and got.tau2 == whole.tau2 and got.mu == whole.mu
    expected = whole.groups[whole.groups["group"] % 4 == 1].reset_index(drop=True)
    assert list(got.groups["group"]) == list(expected["group"])
    for c in ("n", "mean", "se", "shrinkage", "estimate", "sd", "lower", "upper", "james_stein"):
        np.testing.assert_allclose(got.groups[c], expected[c], rtol=1e-14, err_msg=c)
    d.to_csv(tmp_path / "whole.csv", index=False)
    part.to_csv(tmp_path / "part.csv", index=False)
    cli("fit", tmp_path / "whole.csv", "--group", "g", "--value", "y", "--tau-method", "ml", "-o", tmp_path / "w.csv",
        "--summary", tmp_path / "w.json", "-q")
    want, _ = cli_fit(tmp_path, tmp_path / "part.csv", "--group", "g", "--value", "y", "--apply", tmp_path / "w.json")
    assert_same_groups(got.groups, want)
    assert_same_groups(shrink.fit(part, group="g", value="y", apply=str(tmp_path / "w.json")).groups, want)
    with pytest.raises(shrink.Error, match="posterior_parameters"):
        shrink.fit(part, group="g", value="y", apply=shrink.fit(d, group="g", value="y", tau_method="bayes"))


def test_apply_a_count_fit_to_some_groups():
    """A logit-normal fit applied to some groups (per-group counts; the family taken from the fit):
    their rows are the whole fit's, bit for bit (each depends on its (y, n) and (mu, tau) alone)."""
    rng = np.random.default_rng(31)
    n = rng.integers(5, 60, 200)
    d = pd.DataFrame({"g": np.arange(200), "y": rng.binomial(n, rng.uniform(0.05, 0.4, 200)), "n": n})
    whole = shrink.fit(d, group="g", family="binomial", successes="y", trials="n", prior="logit-normal")
    part = d[d["g"] % 5 == 2]
    got = shrink.fit(part, group="g", successes="y", trials="n", apply=whole)
    assert got.summary["method"] == "fixed" and got.summary["tau"] == whole.summary["tau"]
    expected = whole.groups[whole.groups["group"] % 5 == 2].reset_index(drop=True)
    assert list(got.groups["group"]) == list(expected["group"])
    for c in expected.columns[1:]:
        assert (got.groups[c].to_numpy() == expected[c].to_numpy()).all(), c


def test_apply_a_fit_with_covariates_to_some_groups(tmp_path, shrink_binary):
    """A random-intercept fit with covariates and an offset applied to some groups: their rows are
    the whole fit's (1e-14), the covariates and offset taken from the applied fit; the command on
    the same files gives the same bits."""
    rng = np.random.default_rng(30)
    n, groups = 5000, 120
    g = rng.integers(0, groups, n)
    x1 = 1e5 + rng.normal(0, 0.5, n)
    o = rng.uniform(0, 1, n)
    y = rng.normal(0, 0.6, groups)[g] + 0.8 * (x1 - 1e5) + o + rng.normal(0, 1, n)
    d = pd.DataFrame({"g": g, "y": y, "x1": x1, "o": o})
    whole = shrink.fit(d, group="g", value="y", covariates=["x1"], offset="o")
    assert whole.summary["posterior_parameters"]["covariates"] == ["x1"]
    assert whole.summary["posterior_parameters"]["value"] == "y-o"
    part = d[d["g"] % 4 == 1]
    got = shrink.fit(part, group="g", value="y", apply=whole)
    assert got.tau2 == whole.tau2 and got.sigma2 == whole.sigma2
    expected = whole.groups[whole.groups["group"] % 4 == 1].reset_index(drop=True)
    assert list(got.groups["group"]) == list(expected["group"])
    for c in ("n", "mean", "fitted", "effect", "effect_sd", "estimate", "lower", "upper"):
        np.testing.assert_allclose(got.groups[c], expected[c], rtol=1e-14, atol=1e-14 * np.max(np.abs(expected[c])), err_msg=c)
    d.to_csv(tmp_path / "whole.csv", index=False)
    part.to_csv(tmp_path / "part.csv", index=False)
    cli("fit", tmp_path / "whole.csv", "--group", "g", "--value", "y", "--covariates", "x1", "--offset", "o", "-o",
        tmp_path / "w.csv", "--summary", tmp_path / "w.json", "-q")
    want, _ = cli_fit(tmp_path, tmp_path / "part.csv", "--group", "g", "--value", "y", "--apply", tmp_path / "w.json")
    assert_same_groups(shrink.fit(part, group="g", value="y", apply=str(tmp_path / "w.json")).groups, want)
    with pytest.raises(shrink.Error, match="covariates are x1"):
        shrink.fit(part.rename(columns={"x1": "x"}), group="g", value="y", apply=whole, covariates=["x"])


def test_apply_a_meta_regression_to_some_groups():
    """A meta-regression (per-group estimates, a numeric covariate, a factor and an offset) applied
    to some groups: their rows are the whole fit's, bit for bit, the covariates, the factor's levels
    and the offset taken from the applied fit (this part lacks level 'c')."""
    rng = np.random.default_rng(33)
    k = 150
    f = np.where(np.arange(k) % 10 == 0, "c", np.where(np.arange(k) % 2 == 0, "a", "b"))
    x = 500 + rng.normal(0, 3, k)
    o = rng.uniform(0, 1, k)
    v = rng.uniform(0.05, 0.5, k)
    yi = 0.2 * (x - 500) + (f == "b") * 0.4 + o + rng.normal(0, 0.3, k) + rng.normal(0, np.sqrt(v))
    d = pd.DataFrame({"g": np.arange(k), "yi": yi, "vi": v, "x": x, "f": f, "o": o})
    whole = shrink.fit(d, group="g", estimate="yi", variance="vi", covariates=["x", "f"], offset="o", tau_method="reml")
    p = whole.summary["posterior_parameters"]
    assert p["factor_levels"] == {"f": ["a", "b", "c"]} and p["offset"] == "o"
    part = d[(d["g"] % 3 == 1) & (d["f"] != "c")]
    got = shrink.fit(part, group="g", estimate="yi", variance="vi", apply=whole)
    assert got.summary["tau_method"] == "fixed" and got.tau2 == whole.tau2
    expected = whole.groups[whole.groups["group"].isin(part["g"])].reset_index(drop=True)
    assert list(got.groups["group"]) == list(expected["group"])
    for c in expected.columns[1:]:
        assert (got.groups[c].to_numpy() == expected[c].to_numpy()).all(), c


def test_binomial_summaries(tmp_path, shrink_binary):
    rng = np.random.default_rng(8)
    d = pd.DataFrame({"g": rng.integers(0, 30, 3000), "y": rng.binomial(1, 0.3, 3000).astype(float)})
    want = pd.read_csv(cli_summarize(tmp_path, "bin", d, "--family", "binomial"), engine="pyarrow")
    got = shrink.summarize(d, group="g", value="y", family="binomial")
    assert list(got.columns) == ["group", "trials", "successes"]
    assert_same_groups(got, want)
    r = shrink.fit_summaries([shrink.summarize(d.iloc[:1000], group="g", value="y", family="binomial"),
                              shrink.summarize(d.iloc[1000:], group="g", value="y", family="binomial")], method="mom")
    whole = shrink.fit(d, group="g", value="y", family="binomial", method="mom")
    assert_same_groups(r.groups, whole.groups)


def test_summaries_errors():
    with pytest.raises(shrink.Error, match="no data rows"):
        shrink.summarize({"group": np.array([], np.int64), "y": np.array([])})
    with pytest.raises(shrink.Error, match="--family"):
        shrink.summarize(rows(), group="g", family="gamma")
    with pytest.raises(shrink.Error):
        shrink.fit_summaries([pd.DataFrame({"group": [1, 1], "n": [2, 2], "mean": [1.0, 1.0], "m2": [1.0, 1.0]})])


def covariate_rows(seed=4, n=3000, groups=120):
    """Rows with two numeric covariates and an offset; numbers are k/64, so a CSV holds the same doubles."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x1 = np.round(rng.normal(0, 0.3, n) * 64) / 64
    x2 = np.round(rng.uniform(0, 4, n) * 64) / 64
    o = np.round(rng.uniform(0, 1, n) * 64) / 64
    y = np.round((rng.normal(0, 0.5, groups)[g] + 1.2 * x1 - 0.05 * x2 + o + rng.normal(0, 1, n)) * 64) / 64
    return pd.DataFrame({"g": g, "y": y, "x1": x1, "x2": x2, "o": o})


def test_covariate_summaries_equal_the_command_and_fit_as_the_whole(tmp_path, shrink_binary):
    d = covariate_rows()
    args = ("--covariates", "x1,x2", "--offset", "o")
    want = pd.read_csv(cli_summarize(tmp_path, "cov", d, *args), engine="pyarrow")
    got = shrink.summarize(d, group="g", value="y", covariates=["x1", "x2"], offset="o")
    assert list(got.columns)[:4] == ["group", "n", "mean:x1", "mean_lo:x1"]
    assert list(got.columns)[-1] == "comoment:y-o:y-o"
    assert_same_groups(got, want)
    # Each group's means and co-moments against NumPy's.
    z = np.column_stack([d["x1"], d["x2"], d["y"] - d["o"]])
    for key in (0, 17, 119):
        rows = z[d["g"].to_numpy() == key]
        mine = got[got["group"] == key].iloc[0]
        np.testing.assert_allclose([mine["mean:x1"], mine["mean:x2"], mine["mean:y-o"]], rows.mean(axis=0), rtol=1e-14)
        centred = rows - rows.mean(axis=0)
        np.testing.assert_allclose(mine["comoment:y-o:x1"], centred[:, 2] @ centred[:, 0], rtol=1e-12)
        np.testing.assert_allclose(mine["comoment:x2:x2"], centred[:, 1] @ centred[:, 1], rtol=1e-12)
    # Parts (a group in every part, a part of one row, an empty part) merged: the fit of the whole.
    spread, rest = d[d["g"] == 7], d[d["g"] != 7]
    parts = [pd.concat([rest.iloc[:1000], spread.iloc[:2]]), rest.iloc[1000:1001], rest.iloc[:0],
             pd.concat([rest.iloc[1001:], spread.iloc[2:]])]
    summaries = [shrink.summarize(p, group="g", value="y", covariates=["x1", "x2"], offset="o") for p in parts]
    whole = shrink.fit(d, group="g", value="y", covariates=["x1", "x2"], offset="o")
    merged = shrink.fit_summaries(summaries, covariates=["x1", "x2"])
    assert list(merged.groups["group"]) == list(whole.groups["group"])
    for c in whole.groups.columns[1:]:  # to 1e-12 of the column's scale (effects cross zero)
        b = whole.groups[c].to_numpy()
        np.testing.assert_allclose(merged.groups[c], b, rtol=1e-12, atol=1e-12 * np.max(np.abs(b)), err_msg=c)
    for name in ("tau2", "sigma2", "log_likelihood"):
        assert merged.summary[name] == pytest.approx(whole.summary[name], rel=1e-12)
    for a, b in zip(merged.summary["coefficients"], whole.summary["coefficients"]):
        assert a["estimate"] == pytest.approx(b["estimate"], rel=1e-12, abs=1e-14)
    # One summary of every row: the whole fit's bits.
    one = shrink.fit_summaries([shrink.summarize(d, group="g", value="y", covariates=["x1", "x2"], offset="o")],
                               covariates=["x1", "x2"])
    assert_same_groups(one.groups, whole.groups)
    with pytest.raises(shrink.Error, match="give --covariates"):
        shrink.fit_summaries(summaries)
    with pytest.raises(shrink.Error, match="is text"):
        shrink.summarize(d.assign(x1=d["x1"].astype(str) + "a"), group="g", value="y", covariates=["x1"])
