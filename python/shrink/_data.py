"""Data in, as the C++ fold reads it: every supported input becomes batches of (keys, values)
that point into the caller's NumPy or Arrow buffers (no copy where the types already fit), or,
for the per-group modes, a small CSV of the columns the command reads."""

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ._device import is_device_array, not_here
from ._shrink import Error

# Rows per Parquet batch: memory is O(groups + one batch) whatever the size of the file.
PARQUET_BATCH_ROWS = 1 << 20


def is_path(data):
    return isinstance(data, (str, os.PathLike))


def is_parquet(path):
    path = os.fspath(path)
    return os.path.isdir(path) or path.endswith((".parquet", ".pq", ".parq"))


def npy_pair(data):
    """(keys.npy, values.npy) when `data` is such a pair of paths, else None."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(is_path(p) for p in data):
        if all(os.fspath(p).endswith(".npy") for p in data):
            return tuple(os.fspath(p) for p in data)
    return None


def missing_column(role, name, have):
    """The command's message for a column that is not there."""
    have = [str(c) for c in have]
    listed = ", ".join(f"'{c}'" for c in have[:10])
    if len(have) > 10:
        listed += f" and {len(have) - 10} more"
    return Error(f"no {role} column '{name}'; the columns are: {listed}")


def column_names(data):
    if isinstance(data, pd.DataFrame):
        return list(data.columns)
    if isinstance(data, dict):
        return list(data.keys())
    if hasattr(data, "schema") and hasattr(data.schema, "names"):
        return list(data.schema.names)
    return list(data.columns)


def _polars_frame(data):
    return type(data).__module__.startswith("polars") and hasattr(data, "to_arrow")


def parquet_file_batches(path, columns):
    """A Parquet file's `columns` batch by batch. pyarrow's pre-buffering (on by default, also in
    its dataset scanner) keeps every column chunk read so far: 1.5 GB for a file of 1e8 rows. Off,
    memory is a few batches whatever the file's size."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path, pre_buffer=False)
    check_columns(f.schema_arrow.names, columns)
    return f.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns)


def arrow_batches(data, columns):
    """Record batches of `columns` from an Arrow table/batch/reader, a polars frame, anything with
    the Arrow PyCapsule interface, or a Parquet file or dataset directory (streamed)."""
    if is_path(data):
        path = os.fspath(data)
        if os.path.isdir(path):
            import pyarrow.dataset as ds

            dataset = ds.dataset(path, format="parquet")
            check_columns(dataset.schema.names, columns)
            return (b for file in dataset.files for b in parquet_file_batches(file, columns))
        return parquet_file_batches(path, columns)
    if _polars_frame(data):
        check_columns(data.columns, columns)
        data = data.select(columns).to_arrow()
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        check_columns(data.column_names, columns)
        return data.select(columns).to_batches()
    if isinstance(data, pa.RecordBatchReader):
        reader = data
    elif hasattr(data, "__arrow_c_stream__"):
        reader = pa.RecordBatchReader.from_stream(data)
    elif hasattr(data, "__arrow_c_array__"):
        return arrow_batches(pa.record_batch(data), columns)
    else:
        raise Error(
            f"cannot read data of type {type(data).__name__}: give a pandas or polars DataFrame, a pyarrow "
            "Table or RecordBatch, a dict of NumPy arrays, an Arrow stream, or a path (CSV, .npy pair, Parquet)"
        )
    check_columns(reader.schema.names, columns)
    return (b.select(columns) for b in reader)


def check_columns(have, columns, roles=("group", "value")):
    for name, role in zip(columns, roles):
        if name not in have:
            raise missing_column(role, name, have)


class KeyKind:
    """What the keys were, so the result's keys get their type back: 'int' (with the dtype),
    'text', or 'categorical' (with the categories, in order of appearance)."""

    def __init__(self):
        self.kind = None
        self.dtype = None
        self.categories = []
        self._seen = set()

    def note(self, kind, dtype=None, categories=None):
        self.kind = self.kind or kind
        self.dtype = self.dtype or dtype
        for c in categories if categories is not None else ():
            if c not in self._seen:
                self._seen.add(c)
                self.categories.append(c)


def _null_error(role, name):
    return Error(f"the {role} column '{name}' holds a missing value (NaN or None): drop or fill it first")


def _text_spec(arr):
    """("text", offsets, bytes) viewing an Arrow string or large_string array's buffers."""
    if pa.types.is_string_view(arr.type) if hasattr(pa.types, "is_string_view") else False:
        arr = arr.cast(pa.large_string())
    _, offsets, data = arr.buffers()
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(offsets, dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(1, np.uint8)
    return ("text", offsets, data)


def _is_text(t):
    return pa.types.is_string(t) or pa.types.is_large_string(t) or (
        hasattr(pa.types, "is_string_view") and pa.types.is_string_view(t)
    )


def _int_dictionary(values, name):
    if not pa.types.is_integer(values.type):
        raise Error(f"group keys must be integers, text or categorical (column '{name}' has categories of {values.type})")
    return ("int", np.asarray(values.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64))


def arrow_key_spec(arr, name, kinds):
    """The C++ key description of an Arrow array of group keys."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        raise _null_error("group", name)
    t = arr.type
    if pa.types.is_dictionary(t):
        d = arr.dictionary
        kinds.note("categorical", categories=d.to_pylist())
        codes = arr.indices.to_numpy(zero_copy_only=False)
        if codes.dtype.kind == "u":
            codes = codes.astype(np.int64)  # polars' uint32 codes: the fold reads signed integers
        return ("codes", codes, _text_spec(d) if _is_text(d.type) else _int_dictionary(d, name))
    if pa.types.is_integer(t):
        if pa.types.is_unsigned_integer(t):
            arr = arr.cast(pa.int64())  # refuses keys above 2^63 - 1
        kinds.note("int", dtype=t.to_pandas_dtype())
        return ("int", arr.to_numpy(zero_copy_only=True))
    if _is_text(t):
        kinds.note("text")
        return _text_spec(arr)
    raise Error(f"group keys must be integers, text or categorical (column '{name}' is {t})")


def arrow_values(arr, name):
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        raise _null_error("value", name)
    t = arr.type
    if pa.types.is_float64(t) or pa.types.is_float32(t):
        return arr.to_numpy(zero_copy_only=True)
    if pa.types.is_integer(t) or pa.types.is_float16(t):
        return arr.cast(pa.float64()).to_numpy(zero_copy_only=True)  # a converted copy
    raise Error(f"values must be numbers (column '{name}' is {t})")


def numpy_key_spec(keys, name, kinds):
    """The C++ key description of a NumPy array or pandas Series of group keys."""
    if isinstance(keys, pd.Series):
        if isinstance(keys.dtype, pd.CategoricalDtype):
            codes = keys.cat.codes.to_numpy()
            if (codes < 0).any():
                raise _null_error("group", name)
            cats = keys.cat.categories
            kinds.note("categorical", categories=list(cats))
            dictionary = pa.array(cats.to_numpy())
            spec = _text_spec(dictionary) if _is_text(dictionary.type) else _int_dictionary(dictionary, name)
            return ("codes", codes, spec)
        if keys.hasnans:
            raise _null_error("group", name)
        if pd.api.types.is_integer_dtype(keys.dtype) and not isinstance(keys.dtype, np.dtype):
            keys = keys.astype(keys.dtype.numpy_dtype)  # a nullable integer column without NA
        keys = keys.to_numpy() if pd.api.types.is_integer_dtype(keys.dtype) else pa.array(keys)
    if isinstance(keys, np.ndarray):
        if keys.ndim != 1:
            raise Error(f"the group column '{name}' must be one-dimensional")
        if keys.dtype.kind == "i":
            kinds.note("int", dtype=keys.dtype)
            return ("int", np.ascontiguousarray(keys))
        if keys.dtype.kind == "u":
            kinds.note("int", dtype=keys.dtype)
            return ("int", keys.astype(np.int64))
        if keys.dtype.kind == "f" and np.isnan(keys).any():
            raise _null_error("group", name)
        if keys.dtype.kind in "UO":
            keys = pa.array(keys)
        else:
            raise Error(f"group keys must be integers, text or categorical (column '{name}' is {keys.dtype})")
    return arrow_key_spec(keys, name, kinds)


def numpy_values(values, name):
    if isinstance(values, pd.Series):
        if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
            raise Error(f"values must be numbers (column '{name}' is {values.dtype})")
        if values.hasnans:
            raise _null_error("value", name)
        if not isinstance(values.dtype, np.dtype):
            values = values.astype(np.float64)  # nullable extension types: a converted copy
        values = values.to_numpy()
    values = np.asarray(values)
    if values.ndim != 1:
        raise Error(f"the value column '{name}' must be one-dimensional")
    if values.dtype.kind in "iu" or values.dtype == np.float16:
        values = values.astype(np.float64)  # a converted copy
    if values.dtype not in (np.float64, np.float32):
        raise Error(f"values must be numbers (column '{name}' is {values.dtype})")
    return np.ascontiguousarray(values)


def raw_batches(data, group, value, kinds):
    """Batches of (key spec, values) for the C++ fold, keys' kind noted in `kinds`."""
    if isinstance(data, (pd.DataFrame, dict)):
        check_columns(column_names(data), [group, value])
        keys, values = data[group], data[value]
        if any(is_device_array(c) for c in (keys, values)):
            raise not_here()
        if len(keys) != len(values):
            raise Error(f"the group column '{group}' has {len(keys)} rows but the value column '{value}' has {len(values)}")
        return [(numpy_key_spec(keys, group, kinds), numpy_values(values, value))]
    return (
        (arrow_key_spec(b.column(0), group, kinds), arrow_values(b.column(1), value))
        for b in arrow_batches(data, [group, value])
    )


def frame_of(data, columns, roles):
    """The `columns` of any supported input as a pandas DataFrame (per-group data: small)."""
    if is_path(data):
        import pyarrow.parquet as pq

        have = pq.read_schema(data).names if not os.path.isdir(data) else None
        if have is not None:
            check_columns(have, columns, roles)
        return pq.read_table(data, columns=columns).to_pandas()
    if isinstance(data, (pd.DataFrame, dict)):
        check_columns(column_names(data), columns, roles)
        if any(is_device_array(data[c]) for c in columns):
            raise not_here()
        return pd.DataFrame({c: data[c] for c in columns})
    table = pa.Table.from_batches(list(arrow_batches_any(data, columns, roles)))
    return table.to_pandas()


def arrow_batches_any(data, columns, roles):
    if _polars_frame(data):
        check_columns(data.columns, columns, roles)
        return data.select(columns).to_arrow().to_batches()
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        check_columns(data.schema.names, columns, roles)
    return arrow_batches(data, columns)


def write_csv(frame, path):
    """`frame` as the CSV the command reads; every number as the shortest text that reads back to
    the same double, a missing value an error here."""
    for name in frame.columns:
        if frame[name].isna().any():
            raise Error(f"the column '{name}' holds a missing value (NaN or None): drop or fill it first")
    # Arrow's writer prints floats as their shortest round-trip text, 10-15x faster than to_csv.
    table = pa.Table.from_pandas(frame, preserve_index=False)
    plain = [pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in table.schema]
    pacsv.write_csv(table.cast(pa.schema(plain)), path)
