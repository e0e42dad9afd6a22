"""shrink.fit against `shrink fit` on the same data: every input type, key type and mode."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import shrink
from conftest import assert_same_groups, assert_same_summary, cli_error, cli_fit


def raw_rows(seed=7, rows=5000, groups=300):
    """Rows in random order; values k/8 (exact in decimal text, so the CSV the command reads holds
    the same doubles as the arrays and the same bits are expected)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(1, groups + 1, rows).astype(np.int64) * 3 - 100  # negative and positive keys
    y = np.round(rng.normal(2.0, 1.5, rows) * 8 + (g % 7)) / 8
    return g, y


@pytest.fixture(scope="module")
def reference(tmp_path_factory, shrink_binary):
    """The command's fit of the rows (int keys) from a CSV: the truth for every input type."""
    tmp = tmp_path_factory.mktemp("raw")
    g, y = raw_rows()
    csv = tmp / "rows.csv"
    pd.DataFrame({"school": g, "score": y}).to_csv(csv, index=False)
    groups, summary = cli_fit(tmp, csv, "--group", "school", "--value", "score", "--tau-method", "reml")
    return g, y, csv, groups, summary


class ArrowStream:
    """Only the Arrow PyCapsule stream interface (as a library other than pyarrow would offer)."""

    def __init__(self, table):
        self.table = table

    def __arrow_c_stream__(self, requested_schema=None):
        return self.table.__arrow_c_stream__(requested_schema)


def inputs(g, y, tmp_path):
    table = pa.table({"school": g, "score": y})
    pq.write_table(table, tmp_path / "rows.parquet", row_group_size=777)  # several row groups
    (tmp_path / "ds").mkdir()
    pq.write_table(table.slice(0, 2000), tmp_path / "ds" / "part-0.parquet", row_group_size=500)
    pq.write_table(table.slice(2000), tmp_path / "ds" / "part-1.parquet")
    import polars as pl

    return {
        "pandas": pd.DataFrame({"school": g, "score": y}),
        "polars": pl.DataFrame({"school": g, "score": y}),
        "arrow table": table,
        "arrow batches": pa.Table.from_batches(table.to_batches(max_chunksize=999)),
        "record batch": pa.record_batch({"school": g, "score": y}),
        "dict": {"school": g, "score": y},
        "pycapsule": ArrowStream(table),
        "parquet file": str(tmp_path / "rows.parquet"),
        "parquet dataset": str(tmp_path / "ds"),
    }


@pytest.mark.parametrize(
    "kind",
    ["pandas", "polars", "arrow table", "arrow batches", "record batch", "dict", "pycapsule", "parquet file", "parquet dataset"],
)
def test_raw_fit_equals_the_command_for_every_input(kind, reference, tmp_path):
    g, y, _, want_groups, want_summary = reference
    r = shrink.fit(inputs(g, y, tmp_path)[kind], group="school", value="score", tau_method="reml")
    assert_same_groups(r.groups, want_groups)
    assert r.groups["group"].dtype == np.int64  # integer keys stay integers
    assert_same_summary(r.summary, want_summary)
    assert r.tau2 == want_summary["tau2"] and r.mu == want_summary["mu"] and r.sigma2 == want_summary["sigma2"]


def test_csv_path_is_read_by_the_command_reader(reference):
    _, _, csv, want_groups, want_summary = reference
    r = shrink.fit(str(csv), group="school", value="score", tau_method="reml")
    assert_same_groups(r.groups, want_groups)
    assert_same_summary(r.summary, want_summary)


def test_npy_pair_and_float32_int32(tmp_path, shrink_binary):
    g, y = raw_rows(seed=3)
    np.save(tmp_path / "g.npy", g.astype(np.int32))
    np.save(tmp_path / "y.npy", y.astype(np.float32))
    want, want_summary = cli_fit(tmp_path, "--group-npy", tmp_path / "g.npy", "--value-npy", tmp_path / "y.npy")
    r = shrink.fit((str(tmp_path / "g.npy"), str(tmp_path / "y.npy")))
    assert_same_groups(r.groups, want)
    assert_same_summary(r.summary, want_summary)
    # The same columns from memory: int32 keys and float32 values read in place.
    r = shrink.fit({"group": g.astype(np.int32), "y": y.astype(np.float32)})
    assert_same_groups(r.groups, want)
    assert r.groups["group"].dtype == np.int32


def test_text_keys_round_trip(tmp_path, shrink_binary):
    g, y = raw_rows(seed=11, rows=3000, groups=80)
    keys = np.array([f"school {k:+d}" if k % 2 else f"s,{k}" for k in g], dtype=object)  # a comma: quoted in CSV
    csv = tmp_path / "rows.csv"
    pd.DataFrame({"g": keys, "y": y}).to_csv(csv, index=False)
    want, want_summary = cli_fit(tmp_path, csv, "--group", "g")
    import polars as pl

    for data in (pd.DataFrame({"g": keys, "y": y}), pa.table({"g": pa.array(keys, pa.large_string()), "y": y}),
                 {"g": keys.astype(str), "y": y}, pl.DataFrame({"g": list(keys), "y": y})):
        r = shrink.fit(data, group="g")
        assert_same_groups(r.groups, want)
        assert all(isinstance(k, str) for k in r.groups["group"])
        assert_same_summary(r.summary, want_summary)


def test_categorical_keys_round_trip(tmp_path, shrink_binary):
    g, y = raw_rows(seed=5, rows=2000, groups=40)
    keys = pd.Categorical([f"county-{k}" for k in g], categories=sorted({f"county-{k}" for k in g}) + ["unused"])
    csv = tmp_path / "rows.csv"
    pd.DataFrame({"g": keys.astype(str), "y": y}).to_csv(csv, index=False)
    want, _ = cli_fit(tmp_path, csv, "--group", "g")
    r = shrink.fit(pd.DataFrame({"g": keys, "y": y}), group="g")
    assert isinstance(r.groups["group"].dtype, pd.CategoricalDtype)
    assert list(r.groups["group"].cat.categories) == list(keys.categories)
    assert_same_groups(r.groups, want, keys_as=str)
    import polars as pl  # polars' categoricals: uint32 codes into a large_string dictionary

    r = shrink.fit(pl.DataFrame({"g": list(keys.astype(str)), "y": y}).with_columns(pl.col("g").cast(pl.Categorical)), group="g")
    assert isinstance(r.groups["group"].dtype, pd.CategoricalDtype)
    assert_same_groups(r.groups, want, keys_as=str)
    # Arrow dictionary arrays (and integer categories) too.
    table = pa.table({"g": pa.array(g).dictionary_encode(), "y": y})
    pd.DataFrame({"g": g, "y": y}).to_csv(tmp_path / "int.csv", index=False)
    want_int, _ = cli_fit(tmp_path, tmp_path / "int.csv", "--group", "g")
    r = shrink.fit(table, group="g")
    assert isinstance(r.groups["group"].dtype, pd.CategoricalDtype)
    assert_same_groups(r.groups, want_int, keys_as=np.int64)


def test_summary_mode_eight_schools(tmp_path, shrink_binary):
    # Rubin (1981): eight schools, estimates and standard errors.
    data = pd.DataFrame({"school": list("ABCDEFGH"), "yi": [28.0, 8, -3, 7, -1, 1, 18, 12],
                         "sei": [15.0, 10, 16, 11, 9, 11, 10, 18]})
    csv = tmp_path / "schools.csv"
    data.to_csv(csv, index=False)
    for method in ("reml", "dl", "bayes"):
        want, want_summary = cli_fit(tmp_path, csv, "--group", "school", "--estimate", "yi", "--se", "sei", "--tau-method", method)
        r = shrink.fit(data, group="school", estimate="yi", se="sei", tau_method=method)
        assert_same_groups(r.groups, want)
        assert list(r.groups["group"]) == list("ABCDEFGH")
        assert_same_summary(r.summary, want_summary)
    assert "shrink fit: J = 8 groups" in repr(r)


def test_binomial_per_group_and_raw_rows(tmp_path, shrink_binary):
    rng = np.random.default_rng(2)
    n = rng.integers(5, 40, 30)
    y = rng.binomial(n, rng.beta(2, 8, 30))
    data = pd.DataFrame({"lab": np.arange(30) * 10, "y": y, "n": n})
    csv = tmp_path / "labs.csv"
    data.to_csv(csv, index=False)
    want, want_summary = cli_fit(tmp_path, csv, "--group", "lab", "--family", "binomial", "--successes", "y", "--trials", "n")
    r = shrink.fit(pa.table(data), group="lab", family="binomial", successes="y", trials="n")
    assert_same_groups(r.groups, want)
    assert_same_summary(r.summary, want_summary)
    assert r.alpha == want_summary["alpha"]
    # The same trials as raw 0/1 rows, folded from memory.
    rows = pd.DataFrame({"lab": np.repeat(data["lab"], n).to_numpy(),
                         "hit": np.concatenate([np.r_[np.ones(k), np.zeros(m - k)] for k, m in zip(y, n)])})
    rows.to_csv(tmp_path / "trials.csv", index=False)
    want, want_summary = cli_fit(tmp_path, tmp_path / "trials.csv", "--group", "lab", "--value", "hit", "--family", "binomial",
                                 "--method", "mom")
    r = shrink.fit(rows, group="lab", value="hit", family="binomial", method="mom")
    assert_same_groups(r.groups, want)
    assert_same_summary(r.summary, want_summary)


def test_poisson_and_meta_regression(tmp_path, shrink_binary):
    rng = np.random.default_rng(4)
    data = pd.DataFrame({"unit": [f"u{j}" for j in range(25)], "c": rng.poisson(5, 25), "e": rng.uniform(0.5, 3, 25).round(3),
                         "x": rng.normal(size=25).round(4), "v": rng.uniform(0.1, 0.5, 25).round(4)})
    data["est"] = (0.3 * data["x"] + rng.normal(0, 0.6, 25)).round(5)
    csv = tmp_path / "units.csv"
    data.to_csv(csv, index=False)
    want, want_summary = cli_fit(tmp_path, csv, "--group", "unit", "--family", "poisson", "--counts", "c", "--exposure", "e")
    r = shrink.fit(data, group="unit", family="poisson", counts="c", exposure="e")
    assert_same_groups(r.groups, want)
    assert_same_summary(r.summary, want_summary)
    want, want_summary = cli_fit(tmp_path, csv, "--group", "unit", "--estimate", "est", "--variance", "v", "--covariates", "x",
                                 "--tau-method", "ml")
    r = shrink.fit(data, group="unit", estimate="est", variance="v", covariates=["x"], tau_method="ml")
    assert_same_groups(r.groups, want)
    assert_same_summary(r.summary, want_summary)


def test_known_sigma_fixed_tau_level_threads(reference):
    g, y, csv, _, _ = reference
    import tempfile, pathlib

    with tempfile.TemporaryDirectory() as d:
        want, want_summary = cli_fit(pathlib.Path(d), csv, "--group", "school", "--value", "score", "--tau", "0.5",
                                     "--sigma", "1.25", "--level", "0.9")
    for threads in (1, 2, 3):
        r = shrink.fit(pd.DataFrame({"school": g, "score": y}), group="school", value="score", tau=0.5, sigma=1.25,
                       level=0.9, threads=threads)
        assert_same_groups(r.groups, want)
        assert_same_summary(r.summary, want_summary)
