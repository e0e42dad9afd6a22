"""shrink: hierarchical (partial-pooling) shrinkage of grouped data, on the C++ library of the
`shrink` command (the same fits, bits, options and messages)."""

from ._shrink import Error, has_cuda
from ._api import (FitResult, fit, fit_summaries, generate, merge_partials, merge_summaries, simulate, simulate_partial,
                   split_replicates, summarize)

__all__ = ["Error", "FitResult", "fit", "fit_summaries", "generate", "merge_summaries", "simulate", "summarize", "has_cuda", "split_replicates", "simulate_partial", "merge_partials"]


def __getattr__(name):
    # shrink.dask imports Dask, which the rest of the package does not need.
    if name == "dask":
        import importlib

        return importlib.import_module(".dask", __name__)
    raise AttributeError(f"module 'shrink' has no attribute '{name}'")
