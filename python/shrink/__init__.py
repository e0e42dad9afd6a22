"""shrink: hierarchical (partial-pooling) shrinkage of grouped data, on the C++ library of the
`shrink` command (the same fits, bits, options and messages)."""

from ._shrink import Error, has_cuda
from ._api import FitResult, fit, generate, simulate

__all__ = ["Error", "FitResult", "fit", "generate", "simulate", "has_cuda"]
