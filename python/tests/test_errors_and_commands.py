"""Bad input raises shrink.Error with the command's message; simulate and generate equal the command."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import shrink
from conftest import cli, cli_error


def rows():
    return pd.DataFrame({"group": [1, 1, 2, 2, 3, 3], "y": [1.0, 2.0, 3.0, 5.0, 4.0, 4.5]})


def test_error_is_a_value_error():
    assert issubclass(shrink.Error, ValueError)


def test_missing_column_message_equals_the_command(tmp_path, shrink_binary):
    rows().to_csv(tmp_path / "rows.csv", index=False)
    want = cli_error("fit", tmp_path / "rows.csv", "--value", "score")
    with pytest.raises(shrink.Error) as e:
        shrink.fit(rows(), value="score")
    assert str(e.value) == want
    with pytest.raises(shrink.Error) as e:
        shrink.fit(pa.table(rows()), value="score")
    assert str(e.value) == want


def test_bad_option_message_equals_the_command(tmp_path, shrink_binary):
    rows().to_csv(tmp_path / "rows.csv", index=False)
    for args, kwargs in ((["--tau-method", "nope"], {"tau_method": "nope"}),
                         (["--level", "1.5"], {"level": 1.5}),
                         (["--tau", "1", "--tau-method", "dl"], {"tau": 1, "tau_method": "dl"})):
        want = cli_error("fit", tmp_path / "rows.csv", *args)
        with pytest.raises(shrink.Error) as e:
            shrink.fit(rows(), **kwargs)
        assert str(e.value) == want


def test_missing_and_bad_values():
    d = rows()
    d.loc[2, "y"] = np.nan
    with pytest.raises(shrink.Error, match="missing value"):
        shrink.fit(d)
    with pytest.raises(shrink.Error, match=r"y: row 2 \(0-based\): NaN is not a finite number"):
        shrink.fit({"group": d["group"].to_numpy(), "y": d["y"].to_numpy()})
    with pytest.raises(shrink.Error, match=r"row 3 \(0-based\): inf is not a finite number"):
        shrink.fit({"group": np.array([1, 1, 2, 2]), "y": np.array([1.0, 2.0, 3.0, np.inf])})
    d = rows().astype({"group": float})
    d.loc[0, "group"] = np.nan
    with pytest.raises(shrink.Error, match="the group column 'group' holds a missing value"):
        shrink.fit(d)
    with pytest.raises(shrink.Error, match="the group column 'group' holds a missing value"):
        shrink.fit(pa.table({"group": pa.array([1, None, 2, 2]), "y": [1.0, 2.0, 3.0, 4.0]}))
    cats = pd.Categorical(["a", None, "b", "b"])
    with pytest.raises(shrink.Error, match="missing value"):
        shrink.fit(pd.DataFrame({"group": cats, "y": [1.0, 2.0, 3.0, 4.0]}))


def test_wrong_types_and_empty_data():
    with pytest.raises(shrink.Error, match="values must be numbers"):
        shrink.fit(pd.DataFrame({"group": [1, 2], "y": ["a", "b"]}))
    with pytest.raises(shrink.Error, match="group keys must be integers, text or categorical"):
        shrink.fit(pd.DataFrame({"group": [1.5, 2.5], "y": [1.0, 2.0]}))
    with pytest.raises(shrink.Error, match="no data rows"):
        shrink.fit({"group": np.array([], np.int64), "y": np.array([], float)})
    with pytest.raises(shrink.Error, match="cannot read data of type"):
        shrink.fit(42)
    with pytest.raises(TypeError):
        shrink.fit(rows(), output="x.csv")


def test_one_group_is_the_command_error(tmp_path, shrink_binary):
    d = pd.DataFrame({"group": [1, 1, 1], "y": [1.0, 2.0, 4.0]})
    d.to_csv(tmp_path / "one.csv", index=False)
    want = cli_error("fit", tmp_path / "one.csv")
    with pytest.raises(shrink.Error) as e:
        shrink.fit(d)
    assert str(e.value) == want


def test_simulate_equals_the_command(tmp_path, shrink_binary):
    args = dict(groups=[8, 20], obs=5, tau=[0.5, 1.0], replicates=50, seed=12345)
    cli("simulate", "--groups", "8,20", "--obs", "5", "--tau", "0.5,1.0", "--replicates", "50", "--seed", "12345",
        "-o", tmp_path / "study.csv", "-q")
    want = pd.read_csv(tmp_path / "study.csv", engine="pyarrow")
    got = shrink.simulate(**args)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert {"estimator", "mse"} <= set(got.columns)


def test_generate_equals_the_command(tmp_path, shrink_binary):
    cli("generate", "--groups", "50", "--obs", "2:9", "--seed", "9", "--tau", "0.7", "-o", tmp_path / "cli.csv")
    want = pd.read_csv(tmp_path / "cli.csv", engine="pyarrow")
    got = shrink.generate(groups=50, obs="2:9", seed=9, tau=0.7)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    shrink.generate(tmp_path / "py.csv", groups=50, obs="2:9", seed=9, tau=0.7)
    assert (tmp_path / "py.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    with pytest.raises(shrink.Error, match="--obs"):
        shrink.generate(groups=5, obs="9:2")

