"""shrink: hierarchical (partial-pooling) shrinkage of grouped data, on the C++ library of the
`shrink` command (the same fits, bits, options and messages)."""

from ._shrink import Error, has_cuda
from ._api import FitResult, fit, fit_summaries, generate, merge_summaries, simulate, summarize

__all__ = ["Error", "FitResult", "fit", "fit_summaries", "generate", "merge_summaries", "simulate", "summarize", "has_cuda"]
