"""The command-line `shrink` is the truth the package is checked against: the same data through
`shrink fit` (CSV, .npy), compared with what shrink.fit returns."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHRINK = os.environ.get("SHRINK_BINARY", str(ROOT / "build" / "shrink"))

# Entries of the JSON that measure this run rather than the data.
TIMINGS = ("seconds", "stage_seconds")


def cli(*args, check=True):
    """Runs the shrink command; returns the completed process (stderr kept for messages)."""
    r = subprocess.run([SHRINK, *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"shrink {' '.join(map(str, args))} failed: {r.stderr}")
    return r


def cli_error(*args):
    """The one-line message of a failing command, without its 'shrink: error: ' prefix."""
    r = cli(*args, check=False)
    assert r.returncode == 1, r.stderr
    line = r.stderr.strip()
    assert line.startswith("shrink: error: ") and "\n" not in line
    return line[len("shrink: error: "):]


def cli_fit(tmp_path, *args):
    """`shrink fit ARGS -o groups.csv --summary fit.json`: (the CSV as a DataFrame, the JSON)."""
    out, js = tmp_path / "cli_groups.csv", tmp_path / "cli_fit.json"
    cli("fit", *args, "-o", out, "--summary", js, "-q")
    return pd.read_csv(out, engine="pyarrow"), json.loads(js.read_text())


def assert_same_groups(got, want, keys_as=None):
    """Every column equal to the last bit (NaN where the CSV is empty); keys compared as `keys_as`."""
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for c in want.columns:
        if c == "group":
            g = got[c].astype(keys_as) if keys_as else got[c]
            w = want[c].astype(keys_as) if keys_as else want[c]
            assert list(g) == list(w)
        else:
            np.testing.assert_array_equal(got[c].to_numpy(dtype=float), want[c].to_numpy(dtype=float), err_msg=c)


def assert_same_summary(got, want):
    strip = lambda d: {k: v for k, v in d.items() if k not in TIMINGS}
    assert strip(got) == strip(want)


@pytest.fixture(scope="session")
def shrink_binary():
    assert Path(SHRINK).exists(), f"the shrink command is needed as the reference: build it ({SHRINK})"
    return SHRINK
