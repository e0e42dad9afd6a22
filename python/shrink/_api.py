"""shrink.fit, shrink.simulate, shrink.generate: the command's subcommands run in this process.

Keyword arguments are the command's options with '_' for '-' (tau_method='reml' is
--tau-method reml); the command checks them, so options and messages are the same."""

import json
import os
import tempfile

import numpy as np
import pandas as pd

from . import _data, _device
from ._shrink import Error, run
from ._shrink import merge_summaries as _merge_summaries
from ._shrink import split_replicates as _split_replicates
from ._shrink import summarize as _summarize

# Options that name columns of the data (the rest are passed through as they are).
_COLUMN_OPTIONS = ("estimate", "se", "variance", "successes", "trials", "counts", "exposure", "offset")


def _arguments(options):
    """--name value pairs of the given options (None: not given; True: a flag; lists: comma lists)."""
    args = []
    for name, v in options.items():
        if v is None or v is False:
            continue
        flag = "--" + name.replace("_", "-")
        if v is True:
            args.append(flag)
        elif isinstance(v, (list, tuple)):
            args += [flag, ",".join(str(x) for x in v)]
        else:
            args += [flag, repr(v) if isinstance(v, float) else os.fspath(v) if isinstance(v, os.PathLike) else str(v)]
    return args


def _applied(options, tmp):
    """options with `apply` (a FitResult, its summary dict, or the path of a fit's JSON summary) as
    the path `shrink fit --apply` reads."""
    given = options.get("apply")
    if given is None or _data.is_path(given):
        return options
    path = os.path.join(tmp, "applied.json")
    summary = _applied_summary(given)
    with open(path, "w") as f:
        json.dump({k: summary.get(k) for k in ("family", "posterior_parameters") if k in summary}, f)
    return dict(options, apply=path)


def _applied_summary(given):
    """The JSON summary behind `apply` (a FitResult, its summary dict, or a path)."""
    if _data.is_path(given):
        try:
            with open(given) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}  # the command names what is wrong with the file
    summary = given.summary if isinstance(given, FitResult) else given
    if not isinstance(summary, dict):
        raise Error("apply: give a FitResult, its summary dict or the path of a fit's JSON summary")
    return summary


def _applied_covariates(options, value):
    """options with the family of an applied fit, and the covariates and offset of an applied
    random-intercept fit (its y is VALUE or VALUE-OFFSET) or meta-regression, where not given: the
    rows to score must bring those columns."""
    if options.get("apply") is None:
        return options
    summary = _applied_summary(options["apply"])
    if options.get("family") is None and summary.get("family") in ("binomial", "poisson"):
        options = dict(options, family=summary["family"])
    parameters = summary.get("posterior_parameters") or {}
    if "covariates" not in parameters:
        return options
    options = dict(options)
    options.setdefault("covariates", parameters["covariates"])
    if "beta_covariance" in parameters:  # a meta-regression: its offset is named as it is
        if options.get("offset") is None and parameters.get("offset"):
            options["offset"] = parameters["offset"]
        return options
    y, prefix = parameters.get("value", ""), (value or "y") + "-"
    if options.get("offset") is None and y.startswith(prefix) and len(y) > len(prefix):
        options["offset"] = y[len(prefix):]
    return options


def _read_csv(path):
    # The pyarrow engine reads every number to the nearest double (the text is shortest round trip).
    return pd.read_csv(path, engine="pyarrow")


class FitResult:
    """A fit: `groups` (the per-group CSV as a DataFrame, keys of their own type), `summary` (the
    JSON summary as a dict), the summary's entries as attributes (`tau2`, `mu`, `sigma2`, ...),
    and the command's report as the repr."""

    def __init__(self, groups, summary, report):
        self.groups = groups
        self.summary = summary
        self.report = report

    def __getattr__(self, name):
        summary = self.__dict__.get("summary", {})
        if name in summary:
            return summary[name]
        raise AttributeError(f"FitResult has no attribute '{name}'")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.summary))

    def __repr__(self):
        return self.report.rstrip("\n")


def _typed_keys(keys, kinds):
    """The result's keys with the type of the input's keys."""
    if kinds.kind == "categorical":
        cats = kinds.categories
        if isinstance(keys, np.ndarray) and cats and isinstance(cats[0], str):
            keys = [str(k) for k in keys]
        return pd.Categorical(keys, categories=cats)
    if kinds.kind == "text":
        return pd.array([str(k) for k in keys] if isinstance(keys, np.ndarray) else keys, dtype="str")
    if kinds.kind == "int" and isinstance(keys, np.ndarray):
        return keys.astype(kinds.dtype, copy=False)
    return keys if isinstance(keys, np.ndarray) else pd.array(keys, dtype="str")


def fit(data, group=None, value=None, **options):
    """Fits the two-level model (or a count family) to `data`, as `shrink fit` does.

    data: a pandas or polars DataFrame, a pyarrow Table/RecordBatch/RecordBatchReader, a dict of
    NumPy arrays, an object with the Arrow PyCapsule interface, or a path: CSV/TSV (read by the C++
    reader), a (keys.npy, values.npy) pair, or a Parquet file or dataset directory (streamed).
    group, value: the key and value columns (raw rows; defaults 'group' and 'y').
    options: the command's options, '-' written '_': estimate/se/variance (summary mode),
    tau_method, tau, tau_prior, prior, sigma, level, max_iterations, backend, threads, family,
    successes, trials, counts, exposure, method, hyperprior, alpha, beta, shape, rate, mean,
    concentration, mu, quadrature_points, covariates (a list), offset, no_intercept, plot, html,
    apply (a FitResult, its summary dict or a JSON path: every group's posterior under that fit's
    hyperparameters or prior, nothing estimated; a count fit's family comes with it).
    Returns a FitResult; bad input raises shrink.Error with the command's message.
    """
    for bad in ("output", "o", "summary", "group_npy", "value_npy", "quiet", "q", "digits"):
        if bad in options:
            raise TypeError(f"fit() got an unexpected keyword argument '{bad}'")
    options = _applied_covariates(options, value)
    family = options.get("family") or "normal"
    covariates = options.get("covariates")
    if isinstance(covariates, str):
        covariates = covariates.split(",")
    raw = (family == "normal" and options.get("estimate") is None) or (family != "normal" and value is not None)
    # Raw rows go to the C++ fold from memory, unless they carry more columns than key and value.
    by_fold = raw and not covariates and options.get("offset") is None and not (family != "normal" and options.get("exposure"))
    group_given = group is not None
    group = group if group_given else "group"
    value = value if value is not None else "y"

    with tempfile.TemporaryDirectory(prefix="shrink-") as tmp:
        summary_path = os.path.join(tmp, "summary.json")
        args = ["fit"]
        rows = device = None
        kinds = _data.KeyKind()
        input_keys = None  # per-group modes keep the input's order: its keys are the result's
        pair = _data.npy_pair(data)
        if pair is not None:
            args += ["--group-npy", pair[0], "--value-npy", pair[1]]
        elif _data.is_path(data) and not _data.is_parquet(data):
            path = os.fspath(data)
            if not os.path.exists(path):
                raise Error(f"cannot open '{path}': No such file or directory")
            args.append(path)
            if group_given or raw:
                args += ["--group", group]
            if raw:
                args += ["--value", value]
        elif by_fold:
            device = _device.device_rows(data, group, value, kinds)  # GPU arrays: folded where they lie
            rows = _data.raw_batches(data, group, value, kinds) if device is None else None
            args += ["--group", group, "--value", value]
        else:
            # Per-group data (or raw rows with covariates): the columns read, as a small CSV.
            columns, roles = [], []
            have = _data.column_names(data) if not _data.is_path(data) else None
            use_group = group_given or raw or (have is not None and "group" in have)
            if use_group:
                columns.append(group), roles.append("group")
            if raw:
                columns.append(value), roles.append("value")
            for name in _COLUMN_OPTIONS:
                if options.get(name) is not None:
                    columns.append(options[name]), roles.append(name)
            for c in covariates or ():
                columns.append(c), roles.append("covariate")
            frame = _data.frame_of(data, list(dict.fromkeys(columns)), roles)
            if use_group:
                _data.numpy_key_spec(frame[group], group, kinds)  # the keys' kind (and a missing key refused)
                if not raw:
                    input_keys = frame[group]
            csv = os.path.join(tmp, "data.csv")
            _data.write_csv(frame, csv)
            args.append(csv)
            if use_group:
                args += ["--group", group]
            if raw:
                args += ["--value", value]
        if covariates:
            options = dict(options, covariates=covariates)
        args += _arguments(_applied(options, tmp)) + ["--summary", summary_path]
        report, keys, columns = run(args, rows, value, device.spec if device is not None else None)
        with open(summary_path) as f:
            summary = json.load(f)

    if input_keys is not None:
        keys = input_keys.to_numpy() if not isinstance(input_keys.dtype, pd.CategoricalDtype) else input_keys.array
    elif kinds.kind is not None:
        keys = _typed_keys(keys, kinds)
    elif not isinstance(keys, np.ndarray):
        keys = pd.array(keys, dtype="str")
    groups = pd.DataFrame({"group": keys, **columns}, copy=False)
    return FitResult(groups, summary, report)


def simulate(**options):
    """A simulation study, as `shrink simulate` runs it (the same options, '_' for '-'; lists for
    the comma-list options); returns the study CSV as a DataFrame."""
    with tempfile.TemporaryDirectory(prefix="shrink-") as tmp:
        out = os.path.join(tmp, "study.csv")
        run(["simulate"] + _arguments(options) + ["-o", out, "-q"], None, "y")
        return _read_csv(out)


def split_replicates(replicates, parts):
    """[(first, count)]: `replicates` cut into at most `parts` ranges of whole blocks of 64, in
    order, as even as the blocks allow (the ranges simulate_partial accepts)."""
    return [tuple(r) for r in _split_replicates(int(replicates), int(parts))]


def simulate_partial(first, count, **options):
    """Replicates [first, first + count) of the study `options` (as shrink.simulate takes them): the
    partial study as its lossless JSON text, for merge_partials. first is a multiple of 64, and
    count too unless the range ends at the study's last replicate."""
    with tempfile.TemporaryDirectory(prefix="shrink-") as tmp:
        out = os.path.join(tmp, "partial.json")
        run(["simulate"] + _arguments(options) + ["--replicate-range", f"{first}:{count}", "--partial-out", out, "-q"],
            None, "y")
        with open(out) as f:
            return f.read()


def merge_partials(partials):
    """The study of partial studies (simulate_partial's texts) that together cover every
    replicate, as a DataFrame: byte for byte the CSV of the single run."""
    partials = list(partials)
    if not partials:
        raise Error("--merge-partials: give at least one partial study")
    with tempfile.TemporaryDirectory(prefix="shrink-") as tmp:
        paths = []
        for i, text in enumerate(partials):
            paths.append(os.path.join(tmp, f"partial{i}.json"))
            with open(paths[-1], "w") as f:
                f.write(text)
        out = os.path.join(tmp, "study.csv")
        run(["simulate", "--merge-partials", *paths, "-o", out, "-q"], None, "y")
        return _read_csv(out)


def generate(path=None, **options):
    """One data set from the two-level model, as `shrink generate` writes it (the same options:
    groups, obs, mu, tau, sigma, seed, shuffle, truth, group_npy, value_npy). Writes `path` when given (and
    returns None), else returns the rows as a DataFrame (columns group, y)."""
    if path is not None:
        run(["generate"] + _arguments(options) + ["-o", os.fspath(path)], None, "y")
        return None
    with tempfile.TemporaryDirectory(prefix="shrink-") as tmp:
        out = os.path.join(tmp, "data.csv")
        run(["generate"] + _arguments(options) + ["-o", out], None, "y")
        return _read_csv(out)


def summarize(data, group=None, value=None, family="normal", exposure=None, threads=0, covariates=None, offset=None):
    """Per-group sufficient statistics of raw rows, as `shrink summarize` writes them: a DataFrame
    with exactly the summaries CSV's columns (normal: group,n,mean,mean_lo,m2; binomial:
    group,trials,successes; poisson: group,exposure,count; with `covariates` (a list of numeric
    columns, and an optional `offset` column subtracted from the value): group,n, mean:C,mean_lo:C
    for each covariate and the value, and the comoment:A:B lower triangle), groups in the raw
    reader's order. `data` as for fit. Parts summarized separately and given to fit_summaries fit
    as the whole."""
    group = group if group is not None else "group"
    value = value if value is not None else "y"
    if isinstance(covariates, str):
        covariates = covariates.split(",")
    covariates = list(covariates or ())
    kinds = _data.KeyKind()
    pair = _data.npy_pair(data)
    with tempfile.TemporaryDirectory(prefix="shrink-") as tmp:
        if pair is not None:
            keys, columns = _summarize(None, family, "-", group, value, "", pair[0], pair[1], threads, covariates,
                                       offset or "")
        elif _data.is_path(data) and not _data.is_parquet(data):
            path = os.fspath(data)
            if not os.path.exists(path):
                raise Error(f"cannot open '{path}': No such file or directory")
            keys, columns = _summarize(None, family, path, group, value, exposure or "", "", "", threads, covariates,
                                       offset or "")
        elif exposure is not None:
            raise Error("exposure: per-row exposures are read from a CSV path (give the file, or summarize without exposure)")
        elif covariates or offset is not None:
            # Rows with covariates go to the C++ reader as a small CSV of the columns used (as fit does).
            names = [group, value, *covariates] + ([offset] if offset is not None else [])
            roles = ["group", "value"] + ["covariate"] * len(covariates) + (["offset"] if offset is not None else [])
            frame = _data.frame_of(data, list(dict.fromkeys(names)), roles)
            _data.numpy_key_spec(frame[group], group, kinds)  # the keys' kind (and a missing key refused)
            csv = os.path.join(tmp, "rows.csv")
            _data.write_csv(frame, csv)
            keys, columns = _summarize(None, family, csv, group, value, "", "", "", threads, covariates, offset or "")
        else:
            device = _device.device_rows(data, group, value, kinds)  # GPU arrays: folded where they lie
            if device is not None:
                keys, columns = _summarize(None, family, "-", group, value, "", "", "", threads, device_rows=device.spec)
            else:
                rows = _data.raw_batches(data, group, value, kinds)
                keys, columns = _summarize(rows, family, "-", group, value, "", "", "", threads)
    if kinds.kind is not None:
        keys = _typed_keys(keys, kinds)
    elif not isinstance(keys, np.ndarray):
        keys = pd.array(keys, dtype="str")
    return pd.DataFrame({"group": keys, **columns}, copy=False)


def _part_paths(parts, tmp):
    """Paths of summaries parts (DataFrames written as CSV into `tmp`, paths as they are)."""
    parts = list(parts)
    if not parts:
        raise Error("--from-summaries: give at least one summaries part")
    paths = []
    for i, part in enumerate(parts):
        if _data.is_path(part):
            paths.append(os.fspath(part))
            continue
        if not isinstance(part, pd.DataFrame):
            raise Error(f"summaries part {i}: give a DataFrame (as shrink.summarize returns) or a path")
        paths.append(os.path.join(tmp, f"part{i}.csv"))
        _data.write_csv(part, paths[-1])
    return paths


def merge_summaries(parts, threads=0):
    """Merges summaries parts (DataFrames as summarize returns, or paths) into one part, in the
    order given, by the C++ merge (as `shrink summarize --from-summaries` does): a stage of a tree
    merge. Merging the result with further parts gives what one merge of all of them gives, to
    rounding."""
    with tempfile.TemporaryDirectory(prefix="shrink-") as tmp:
        _, keys, columns = _merge_summaries(_part_paths(parts, tmp), threads)
    if not isinstance(keys, np.ndarray):
        keys = pd.array(keys, dtype="str")
    return pd.DataFrame({"group": keys, **columns}, copy=False)


def fit_summaries(parts, **options):
    """Fits the merge of summaries parts (DataFrames as summarize returns, or paths of summaries
    CSVs), merged by the C++ merge in the order given, as `shrink fit --from-summaries` does;
    `options` as for fit (tau_method, level, ...). Returns a FitResult."""
    with tempfile.TemporaryDirectory(prefix="shrink-") as tmp:
        paths = _part_paths(parts, tmp)
        summary_path = os.path.join(tmp, "summary.json")
        args = ["fit", "--from-summaries", *paths] + _arguments(_applied(options, tmp)) + ["--summary", summary_path]
        report, keys, columns = run(args, None, "y")
        with open(summary_path) as f:
            summary = json.load(f)
    if not isinstance(keys, np.ndarray):
        keys = pd.array(keys, dtype="str")
    return FitResult(pd.DataFrame({"group": keys, **columns}, copy=False), summary, report)
