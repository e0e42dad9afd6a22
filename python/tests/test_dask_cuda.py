"""One Dask worker per GPU (dask-cuda's LocalCUDACluster): shrink.dask.fit(output="dask",
backend="cuda") fits each key piece's posteriors on its worker's GPU and equals the CPU fit.
Skips without dask-cuda or without a usable GPU (the device machine has no PyPI: install dask-cuda
there beside the package to run it)."""

import numpy as np
import pandas as pd
import pytest

import shrink

dask_cuda = pytest.importorskip("dask_cuda")
distributed = pytest.importorskip("dask.distributed")
dd = pytest.importorskip("dask.dataframe")


def gpus():
    try:
        from dask_cuda.utils import get_n_gpus

        return get_n_gpus()
    except Exception:  # no driver, no device
        return 0


@pytest.mark.skipif(gpus() == 0, reason="no usable GPU")
def test_one_worker_per_gpu_equals_the_cpu_fit():
    rng = np.random.default_rng(12)
    g = rng.integers(0, 20_000, size=2_000_000)
    y = rng.normal(g % 11, 3.0)
    frame = pd.DataFrame({"group": g, "y": y})
    whole = shrink.fit(frame, tau_method="reml", backend="cpu")
    with dask_cuda.LocalCUDACluster() as cluster, distributed.Client(cluster):
        spread = shrink.dask.fit(dd.from_pandas(frame, npartitions=8), tau_method="reml", backend="cuda",
                                 output="dask", pieces=2 * gpus())
        groups = spread.groups.compute().sort_values("group").reset_index(drop=True)
    assert spread.summary["backend"] == "cuda"
    np.testing.assert_allclose(spread.tau2, whole.tau2, rtol=1e-12)
    assert (groups["group"].to_numpy() == whole.groups["group"].to_numpy()).all()
    for c in ("n", "mean", "se", "shrinkage", "estimate", "sd", "lower", "upper"):
        np.testing.assert_allclose(groups[c], whole.groups[c], rtol=1e-12, err_msg=c)
