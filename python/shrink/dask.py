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
import numpy as np
import pandas as pd

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
        output="pandas", pieces=None, **options):
    """Fits a Dask DataFrame (or Parquet path) of raw rows as shrink.fit fits the same rows:
    summaries on the workers, the tree merge, the fit on the client. `options` are shrink.fit's
    (tau_method, level, method, prior, ...); `covariates` and `offset` as shrink.fit's (numeric
    covariates: lmer's y ~ x + (1 | group) from the merged cross products). Returns a FitResult
    whose `groups` is a pandas DataFrame, or with output="dask" a Dask DataFrame of `pieces`
    partitions (default: the data's) that never meets in one place: see _fit_to_dask."""
    if isinstance(covariates, str):
        covariates = covariates.split(",")
    covariates = list(covariates or ())
    if output == "dask":
        return _fit_to_dask(data, group, value, family, split_every, threads, pieces, options, covariates, offset)
    if output != "pandas":
        raise Error(f"output must be 'pandas' or 'dask', not {output!r}")
    merged = summarize(data, group, value, family, split_every, threads, covariates, offset).compute()
    if covariates:
        options = dict(options, covariates=covariates)
    return _api.fit_summaries([merged], **options)


def _key_pieces(summaries, pieces):
    """One partition's summaries cut into `pieces` by a fixed hash of the key: a key lands in the
    same piece from every partition, so the pieces of one index hold disjoint sets of groups."""
    piece = pd.util.hash_pandas_object(summaries["group"], index=False).to_numpy() % pieces
    return [summaries[piece == k] for k in range(pieces)]


def _numbers_only(parts):
    """Key-disjoint summaries with their keys replaced by 0, 1, 2, ...: what the hyperparameters
    need, without the keys' memory."""
    numbers = pd.concat([part.drop(columns="group") for part in parts], ignore_index=True)
    numbers.insert(0, "group", np.arange(len(numbers), dtype=np.int64))
    return numbers


def _fit_hyperparameters(options, threads, *parts):
    fitted = _api.fit_summaries([_numbers_only(parts)], threads=threads, **options)
    return fitted.summary, fitted.report


def _posteriors(part, fixed, threads):
    return _api.fit_summaries([part], threads=threads, **fixed).groups


def _fixed_prior(summary, family, options):
    """shrink.fit options that give every group the posterior the fitted hyperparameters give it:
    the fit applied (`shrink fit --apply`), for every fit whose summary holds point hyperparameters."""
    if summary.get("posterior_parameters") is None:
        raise Error("shrink.dask.fit(output='dask'): the per-group posteriors of bayes fits and of the t prior mix over "
                    "the hyperparameters, and a count prior on its boundary (no over-dispersion) is a point mass: "
                    "neither is given by point hyperparameters; use output='pandas'")
    return {"apply": summary} if family == "normal" else {"family": family, "apply": summary}


def _fit_to_dask(data, group, value, family, split_every, threads, pieces, options, covariates, offset):
    """output='dask': the partitions' summaries are cut by key into `pieces` and each piece merged
    over the partitions (in partition order, the same tree as the pandas path); the hyperparameters
    are fitted on one worker from the pieces' numbers alone (about 40 bytes a group, no keys, or the
    cross products with covariates); each piece's groups then get their posteriors under them (shrink
    fit --apply, or the count family's fitted prior as --method fixed) where the piece lives.
    Per-group results equal the pandas path's to rounding (1e-12 relative)."""
    if split_every < 2:
        raise Error("split_every must be at least 2")
    frame = _as_dask_frame(data, [group, value, *covariates] + ([offset] if offset is not None else []))
    partitions = frame.to_delayed()
    if not partitions:
        raise Error("shrink.dask: the data have no partitions")
    pieces = len(partitions) if pieces is None else int(pieces)
    if pieces < 1:
        raise Error("pieces must be at least 1")
    cut = [dask.delayed(_key_pieces, nout=pieces)(
               dask.delayed(_summarize_partition)(p, group, value, family, threads, covariates, offset), pieces)
           for p in partitions]
    merged = []
    for k in range(pieces):
        level = [c[k] for c in cut]
        while len(level) > 1:
            level = [dask.delayed(_merge)(level[i:i + split_every], threads) for i in range(0, len(level), split_every)]
        merged.append(level[0])
    fitted = dict(options, family=family, **({"covariates": covariates} if covariates else {}))
    summary, report = dask.delayed(_fit_hyperparameters, nout=2)(fitted, threads, *merged).compute()
    fixed = _fixed_prior(summary, family, options)
    if options.get("backend") is not None:  # each piece's posteriors on its worker's device (dask-cuda: one GPU each)
        fixed["backend"] = options["backend"]
    groups = dd.from_delayed([dask.delayed(_posteriors)(m, fixed, threads) for m in merged])
    return _api.FitResult(groups, summary, _without_first_groups(report))


def _without_first_groups(report):
    """The report less its "pooling, first groups" block: those are the renumbered groups of the
    hyperparameter fit, not the data's. Every other line (the structures' rows too) is kept."""
    lines, skipping = [], False
    for line in report.splitlines():
        skipping = line.startswith("  pooling, first") or (skipping and line.startswith("    "))
        if not skipping:
            lines.append(line)
    return "\n".join(lines) + "\n"


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
