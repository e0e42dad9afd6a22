"""shrink on Dask: the same fits and studies spread over the workers of a cluster.

fit: every partition is summarized on its worker (n, mean, m2 per group, or with covariates their
cross products: the mergeable summaries of `shrink summarize`), the summaries are merged by the exact C++ merge in a tree of fixed shape
(partitions in order, `split_every` at a node), and the hyperparameters and per-group posteriors
are fitted from the merged summaries on the client, as `shrink fit --from-summaries` does. Equal
to shrink.fit on the same rows to rounding (1e-12 relative); the same partitions give the same bits.

simulate: the study's replicates are cut into ranges of whole blocks, each range runs on a worker
(`shrink simulate --replicate-range`), and the ranges' partial studies are merged in replicate
order by the engine's fixed-shape tree: bitwise the study a single process computes.
"""

import os
import tempfile

import dask
import dask.dataframe as dd

from . import _api
from ._shrink import Error


def _summarize_partition(frame, group, value, family, threads, covariates, offset):
    return _api.summarize(frame, group=group, value=value, family=family, threads=threads, covariates=covariates,
                          offset=offset)


def _merge(parts, threads):
    return _api.merge_summaries(parts, threads=threads)


def _as_dask_frame(data, columns):
    """A Dask DataFrame of `data`: itself, or a Parquet file/dataset path read with only `columns`."""
    if isinstance(data, dd.DataFrame):
        return data
    if isinstance(data, (str, os.PathLike)):
        return dd.read_parquet(os.fspath(data), columns=list(dict.fromkeys(columns)))
    raise Error("shrink.dask: give a Dask DataFrame or the path of a Parquet file or dataset")


def summarize(data, group="group", value="y", family="normal", split_every=8, threads=1, covariates=None, offset=None):
    """The merged summaries of a Dask DataFrame (or Parquet path) as a Dask Delayed pandas DataFrame
    (the summaries CSV's columns). Partitions are summarized where they live and merged in a tree:
    partition order is kept at every node, so the result depends only on the partitioning.
    `threads` is the C++ threads a task uses (1: the workers' processes are the parallelism).
    `covariates` (a list) and `offset`: the cross products of shrink.summarize."""
    if split_every < 2:
        raise Error("split_every must be at least 2")
    if isinstance(covariates, str):
        covariates = covariates.split(",")
    covariates = list(covariates or ())
    frame = _as_dask_frame(data, [group, value, *covariates] + ([offset] if offset is not None else []))
    parts = [dask.delayed(_summarize_partition)(p, group, value, family, threads, covariates, offset)
             for p in frame.to_delayed()]
    if not parts:
        raise Error("shrink.dask: the data have no partitions")
    while len(parts) > 1:
        parts = [dask.delayed(_merge)(parts[i:i + split_every], threads) for i in range(0, len(parts), split_every)]
    return parts[0]


def fit(data, group="group", value="y", family="normal", split_every=8, threads=1, covariates=None, offset=None,
        **options):
    """Fits a Dask DataFrame (or Parquet path) of raw rows as shrink.fit fits the same rows:
    summaries on the workers, the tree merge, the fit on the client. `options` are shrink.fit's
    (tau_method, level, method, prior, ...); `covariates` and `offset` as shrink.fit's (numeric
    covariates: lmer's y ~ x + (1 | group) from the merged cross products). Returns a FitResult
    (per-group results as pandas)."""
    merged = summarize(data, group, value, family, split_every, threads, covariates, offset).compute()
    if covariates:
        options = dict(options, covariates=covariates)
    return _api.fit_summaries([merged], **options)


def _simulate_range(first, count, options):
    return _api.simulate_partial(first, count, **options)


def simulate(parts=None, **options):
    """A simulation study (shrink.simulate's options) run as `parts` ranges of replicates on the
    workers (default: twice the workers of the current client, else 8), merged in replicate order;
    returns the study DataFrame, bitwise equal to shrink.simulate(**options)."""
    replicates = int(options.get("replicates", 1000))
    if parts is None:
        try:
            from dask.distributed import get_client

            parts = 2 * max(1, len(get_client().scheduler_info().get("workers", {})))
        except (ImportError, ValueError):
            parts = 8
    ranges = _api.split_replicates(replicates, parts)
    partials = dask.compute(*[dask.delayed(_simulate_range)(first, count, options) for first, count in ranges])
    return _api.merge_partials(partials)
