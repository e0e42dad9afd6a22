"""shrink.dask on a local cluster of two worker processes: the fit of a partitioned Parquet
dataset of 1e7 rows equals shrink.fit of the same rows (1e-12 relative), and a study run in
ranges of replicates on the workers is the single process's study bit for bit."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import shrink

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")

ROWS, GROUPS, FILES = 10_000_000, 1_000_000, 6


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """1e7 rows of shrink.generate (1e6 groups) written as a Parquet dataset of several files,
    each of several row groups, rows in generation order (so a group spans files)."""
    tmp = tmp_path_factory.mktemp("dask")
    keys, values = tmp / "g.npy", tmp / "y.npy"
    shrink.generate(groups=GROUPS, obs=ROWS // GROUPS, mu=3, tau=0.5, sigma=2, seed=11, group_npy=keys, value_npy=values)
    g, y = np.load(keys), np.load(values)
    assert len(g) == ROWS
    # Shuffle rows so that every group is spread over the files (and so over the partitions).
    order = np.random.default_rng(5).permutation(ROWS)
    g, y = g[order], y[order]
    folder = tmp / "rows"
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(ROWS), FILES)):
        table = pa.table({"group": g[part], "y": y[part]})
        pq.write_table(table, folder / f"part{i}.parquet", row_group_size=400_000)
    return folder, g, y


def assert_close(a, b, rel=1e-12):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.maximum(np.abs(b), 1e-300)
    assert np.all(np.abs(a - b) <= rel * scale + 1e-300), np.max(np.abs(a - b) / scale)


@pytest.fixture(scope="module")
def spread_fit(client, dataset):
    folder, _, _ = dataset
    return shrink.dask.fit(str(folder), group="group", value="y", tau_method="reml", split_every=3)


def test_fit_equals_the_single_process_fit(dataset, spread_fit):
    _, g, y = dataset
    whole = shrink.fit({"group": g, "y": y}, group="group", value="y", tau_method="reml")
    for name in ("tau2", "mu", "sigma2", "Q"):
        assert_close(spread_fit.summary[name], whole.summary[name])
    assert spread_fit.summary["groups"] == GROUPS and spread_fit.summary["observations"] == ROWS
    assert (spread_fit.groups["group"].to_numpy() == whole.groups["group"].to_numpy()).all()
    for column in ("n", "mean", "se", "shrinkage", "estimate", "sd", "lower", "upper"):
        assert_close(spread_fit.groups[column], whole.groups[column])


def test_the_same_partitions_give_the_same_bits(dataset, spread_fit):
    folder, _, _ = dataset
    again = shrink.dask.fit(dd.read_parquet(str(folder)), tau_method="reml", split_every=3)
    assert again.tau2 == spread_fit.tau2 and again.mu == spread_fit.mu
    pd.testing.assert_frame_equal(again.groups, spread_fit.groups, check_exact=True)


def test_per_group_results_as_a_dask_dataframe(dataset, spread_fit):
    """output='dask': key-disjoint pieces fitted where they live, under the hyperparameters of the
    whole (fitted from the pieces' numbers): the pandas path's results to 1e-12."""
    folder, _, _ = dataset
    spread = shrink.dask.fit(str(folder), tau_method="reml", split_every=3, output="dask", pieces=4)
    assert isinstance(spread.groups, dd.DataFrame) and spread.groups.npartitions == 4
    for name in ("tau2", "mu", "sigma2", "Q"):
        assert_close(spread.summary[name], spread_fit.summary[name])
    assert "pooling, first" not in spread.report  # the renumbered groups of the hyperparameter fit are not shown
    structures = spread_fit.summary["structures"]["structures"]
    assert sum(line.startswith("    ") for line in spread.report.splitlines()) == len(structures)  # their rows kept
    groups = spread.groups.compute().sort_values("group", kind="stable").reset_index(drop=True)
    assert (groups["group"].to_numpy() == spread_fit.groups["group"].to_numpy()).all()  # every group once
    assert (groups["n"].to_numpy() == spread_fit.groups["n"].to_numpy()).all()
    for column in ("mean", "se", "shrinkage", "estimate", "sd", "lower", "upper", "james_stein"):
        assert_close(groups[column], spread_fit.groups[column])


def assert_pieces_fit_as_one(frame, npartitions, hyperparameter, **options):
    """shrink.dask.fit(output="dask", 3 key pieces) of `frame` in `npartitions` partitions equals
    shrink.fit of the same rows to 1e-12: the groups, their keys and the prior's `hyperparameter`."""
    whole = shrink.fit({c: frame[c].to_numpy() for c in frame.columns}, value="y", **options)
    spread = shrink.dask.fit(dd.from_pandas(frame, npartitions=npartitions), value="y", output="dask", pieces=3, **options)
    groups = spread.groups.compute().sort_values("group").reset_index(drop=True)
    assert (groups["group"].to_numpy() == whole.groups["group"].to_numpy()).all()
    assert_close(spread.summary[hyperparameter], whole.summary[hyperparameter])
    for column in whole.groups.columns[1:]:
        assert_close(groups[column], whole.groups[column])


def test_count_family_as_a_dask_dataframe(client):
    rng = np.random.default_rng(4)
    g = rng.integers(0, 800, size=100_000)
    y = rng.poisson(1 + (g % 5)).astype(np.int64)
    assert_pieces_fit_as_one(pd.DataFrame({"group": g, "y": y}), 5, "shape", family="poisson", method="ml")


def test_logit_normal_as_a_dask_dataframe(client):
    """output='dask' under the logit-normal prior: each piece's groups get their posteriors under the
    whole fit's (mu, tau) by --apply: the single fit's rows to rounding."""
    rng = np.random.default_rng(5)
    g = rng.integers(0, 600, size=60_000)
    y = (rng.random(60_000) < 0.1 + 0.02 * (g % 7)).astype(np.int64)
    assert_pieces_fit_as_one(pd.DataFrame({"group": g, "y": y}), 4, "tau", family="binomial", prior="logit-normal")


def test_tree_merge_equals_one_merge_of_every_partition(client, tmp_path):
    """The summaries tree (fan-in 2, 9 partitions) against one merge of the partitions' summaries."""
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"group": rng.integers(0, 3000, size=90_000), "y": rng.normal(5, 2, size=90_000)})
    ddf = dd.from_pandas(frame, npartitions=9, sort=False)
    tree = shrink.dask.summarize(ddf, split_every=2).compute()
    flat = shrink.merge_summaries([shrink.summarize(p.compute()) for p in ddf.partitions])
    assert (tree["group"].to_numpy() == flat["group"].to_numpy()).all()
    assert (tree["n"].to_numpy() == flat["n"].to_numpy()).all()
    assert_close(tree["mean"], flat["mean"])
    assert_close(tree["m2"], flat["m2"], rel=1e-11)
    # and both against NumPy's per-group moments
    stats = frame.groupby("group")["y"].agg(["count", "mean", "var"])
    assert (tree["n"].to_numpy() == stats["count"].to_numpy()).all()
    assert_close(tree["mean"], stats["mean"], rel=1e-13)
    assert_close(tree["m2"], stats["var"] * (stats["count"] - 1), rel=1e-11)


def test_count_family(client, tmp_path):
    """Binomial 0/1 rows spread over partitions: the same fit as the whole rows."""
    rng = np.random.default_rng(3)
    g = rng.integers(0, 500, size=200_000)
    y = (rng.random(200_000) < 0.2 + 0.3 * (g % 7) / 7).astype(np.int64)
    ddf = dd.from_pandas(pd.DataFrame({"group": g, "y": y}), npartitions=7)
    whole = shrink.fit({"group": g, "y": y}, value="y", family="binomial", method="ml")
    spread = shrink.dask.fit(ddf, value="y", family="binomial", method="ml")
    assert (spread.groups["group"].to_numpy() == whole.groups["group"].to_numpy()).all()
    for column in whole.groups.columns[1:]:
        assert_close(spread.groups[column], whole.groups[column])


@pytest.mark.parametrize("options", [
    dict(groups=[8, 50], tau=[0.5, 1], replicates=1000, seed=7),
    dict(groups=[20], obs="3:9", mode="raw", replicates=300, seed=2),
    dict(family="binomial", groups=[30], trials=20, mean=0.3, concentration=[5, 50], replicates=500, seed=3),
])
def test_simulate_is_bitwise_the_single_run(client, options):
    single = shrink.simulate(**options)
    spread = shrink.dask.simulate(parts=5, **options)
    pd.testing.assert_frame_equal(spread, single, check_exact=True)


def test_errors():
    with pytest.raises(shrink.Error, match="Dask DataFrame"):
        shrink.dask.fit(np.zeros(3))
    small = dd.from_pandas(pd.DataFrame({"group": [1, 1, 2, 2, 3, 3], "y": [1.0, 2, 3, 5, 4, 4.5]}), npartitions=2)
    with pytest.raises(shrink.Error, match="output must be"):
        shrink.dask.fit(small, output="spark")
    with pytest.raises(shrink.Error, match="given by point hyperparameters"):
        shrink.dask.fit(small, tau_method="bayes", output="dask")
    with pytest.raises(shrink.Error, match="split_every"):
        shrink.dask.summarize(dd.from_pandas(pd.DataFrame({"group": [1], "y": [1.0]}), npartitions=1), split_every=1)


def test_fit_with_covariates(client):
    """Rows with covariates and an offset over partitions (a group in every one): the Dask fit
    (cross products merged in a tree) equals shrink.fit on the whole rows to 1e-12."""
    rng = np.random.default_rng(12)
    n, groups = 60_000, 800
    g = rng.integers(0, groups, n)
    x1 = rng.normal(0, 0.2, n)
    x2 = rng.uniform(0, 3, n)
    o = rng.uniform(0, 1, n)
    y = rng.normal(0, 0.4, groups)[g] + 1.1 * x1 - 0.04 * x2 + o + rng.normal(0, 1, n)
    frame = pd.DataFrame({"group": g, "y": y, "x1": x1, "x2": x2, "o": o})
    ddf = dd.from_pandas(frame, npartitions=9, sort=False)
    whole = shrink.fit(frame, covariates=["x1", "x2"], offset="o", tau_method="ml")
    spread = shrink.dask.fit(ddf, covariates=["x1", "x2"], offset="o", tau_method="ml", split_every=2)
    assert (spread.groups["group"].to_numpy() == whole.groups["group"].to_numpy()).all()
    for column in whole.groups.columns[1:]:  # to 1e-12 of the column's scale (effects cross zero)
        b = whole.groups[column].to_numpy()
        np.testing.assert_allclose(spread.groups[column], b, rtol=1e-12, atol=1e-12 * np.max(np.abs(b)), err_msg=column)
    for name in ("tau2", "sigma2", "log_likelihood"):
        assert_close(spread.summary[name], whole.summary[name])
    for a, b in zip(spread.summary["coefficients"], whole.summary["coefficients"]):
        assert_close(a["estimate"], b["estimate"])
    # output='dask': the cross products cut into key-disjoint pieces, each piece's groups given the
    # whole fit's rows (--apply) where the piece lives.
    pieces = shrink.dask.fit(ddf, covariates=["x1", "x2"], offset="o", tau_method="ml", split_every=2, output="dask",
                             pieces=3)
    assert isinstance(pieces.groups, dd.DataFrame) and pieces.groups.npartitions == 3
    for name in ("tau2", "sigma2", "log_likelihood"):
        assert_close(pieces.summary[name], whole.summary[name])
    groups = pieces.groups.compute().sort_values("group").reset_index(drop=True)
    assert (groups["group"].to_numpy() == whole.groups["group"].to_numpy()).all()
    for column in whole.groups.columns[1:]:
        b = whole.groups[column].to_numpy()
        np.testing.assert_allclose(groups[column], b, rtol=1e-12, atol=1e-12 * np.max(np.abs(b)), err_msg=column)
