"""pandas DataFrames and Series as Parquet (through pyarrow): ``table.parquet``.

The index is kept (a ``RangeIndex`` as metadata only, any other index as columns), and so are
column dtypes: pyarrow records them in the file, and the few it does not bring back by itself
(``object`` columns of strings, booleans and the like; ``datetime64[s]``) are restored on
load. A Series is stored as a one-column frame and comes back as a Series with its name.

Only frames that come back equal (``DataFrame.equals``, same dtypes and index) are accepted:
exactly ``DataFrame``/``Series`` (no subclasses), unique column labels that are all strings
or all integers, and columns and index levels of numeric, boolean, datetime, timedelta,
categorical, string, nullable, period, interval or arrow dtypes, or
``object`` dtype holding only strings, bytes, booleans, dates or decimals. Anything else
(mixed ``object`` columns, lists in cells, complex numbers, sparse data) falls through to
other materializers.
"""

from __future__ import annotations

import math

from heron.artifacts.materializers import _parquet
from heron.artifacts.materializers.base import (
    Materializer,
    MaterializerError,
    member,
    plain,
    refusal,
)

# no `typing` at run time: importing it costs more than this package
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# what pandas.api.types.infer_dtype may say of an object column that round-trips
_OBJECT_KINDS = frozenset({"string", "bytes", "boolean", "date", "decimal", "empty"})
_HERON_KEY = b"heron"
_UNNAMED_SERIES = "values"


def _values_ok(dtype: Any, values: Any) -> bool:
    """Whether a column (or index level) of ``dtype`` holding ``values`` round-trips."""
    import numpy as np
    import pandas as pd

    if isinstance(dtype, np.dtype):
        if dtype.kind in "biufmM":
            return True
        if dtype.kind == "O":
            return pd.api.types.infer_dtype(values, skipna=True) in _OBJECT_KINDS
        return False  # complex, void
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        return _values_ok(categories.dtype, categories)
    if isinstance(dtype, pd.ArrowDtype):
        return _parquet.type_storable(dtype.pyarrow_dtype)
    return isinstance(
        dtype,
        (
            pd.StringDtype,
            pd.BooleanDtype,
            pd.Int8Dtype,
            pd.Int16Dtype,
            pd.Int32Dtype,
            pd.Int64Dtype,
            pd.UInt8Dtype,
            pd.UInt16Dtype,
            pd.UInt32Dtype,
            pd.UInt64Dtype,
            pd.Float32Dtype,
            pd.Float64Dtype,
            pd.DatetimeTZDtype,
            pd.PeriodDtype,
            pd.IntervalDtype,
        ),
    )


def _name_ok(name: Any) -> bool:
    """Whether a Series name survives as JSON: None, str, bool, int, finite float, or a
    NumPy number (which comes back as the equal Python number)."""
    if name is None or type(name) in (str, int, bool):
        return True
    if type(name) is float:
        return math.isfinite(name)
    kind = getattr(getattr(name, "dtype", None), "kind", None)
    return type(name).__module__ == "numpy" and kind in ("b", "i", "u", "f") and plain(name) == name


def _index_ok(index: Any) -> bool:
    import pandas as pd

    if isinstance(index, pd.RangeIndex):
        return True
    if isinstance(index, pd.MultiIndex):
        return all(_values_ok(level.dtype, level) for level in index.levels)
    return _values_ok(index.dtype, index)


def _labels_ok(columns: Any) -> bool:
    """Column labels that Parquet field names (strings) give back: unique, and all strings
    or all integers (or tuples of strings, for MultiIndex columns)."""
    import pandas as pd

    if not columns.is_unique:
        return False
    infer = pd.api.types.infer_dtype
    if isinstance(columns, pd.MultiIndex):
        return all(infer(level, skipna=False) == "string" for level in columns.levels)
    if columns.dtype.kind in "iu":
        return True
    return infer(columns, skipna=False) in ("string", "empty")


def _object_categories(frame: Any) -> list[int]:
    """Positions of the categorical columns whose categories have ``object`` dtype (which
    Parquet readers bring back as strings)."""
    import numpy as np
    import pandas as pd

    object_dtype = np.dtype(object)
    return [
        i
        for i, dtype in enumerate(frame.dtypes)
        if isinstance(dtype, pd.CategoricalDtype) and dtype.categories.dtype == object_dtype
    ]


def _restore_dtypes(frame: Any, pandas_metadata: dict[str, Any]) -> Any:
    """Give back ``object`` dtype to the columns (and the index) that had it."""
    import numpy as np

    object_dtype = np.dtype(object)
    entries = pandas_metadata.get("columns", [])
    for i, entry in enumerate(entries[: frame.shape[1]]):
        if entry.get("numpy_type") == "object" and frame.dtypes.iloc[i] != object_dtype:
            frame.isetitem(i, frame.iloc[:, i].astype(object))
    index_columns = pandas_metadata.get("index_columns", [])
    if len(index_columns) == 1 and isinstance(index_columns[0], str):
        entry = next((e for e in entries if e.get("field_name") == index_columns[0]), {})
        if entry.get("numpy_type") == "object" and frame.index.dtype != object_dtype:
            frame.index = frame.index.astype(object)
    return frame


class PandasMaterializer(Materializer):
    """``pandas.DataFrame`` and ``pandas.Series`` as Parquet, index and dtypes kept.

    Metadata: ``type``, ``num_rows``, ``num_columns``, ``schema`` (column → pandas dtype),
    ``stats`` (min, max, mean, null count of numeric columns among the first 100) and, for
    a Series, ``name``.
    """

    name = "pandas.parquet"
    version = "1"
    # pandas 3 reports its classes as pandas.DataFrame, pandas 2 by their defining module
    types = (
        "pandas.DataFrame",
        "pandas.Series",
        "pandas.core.frame.DataFrame",
        "pandas.core.series.Series",
    )

    def can_save(self, obj: Any) -> bool:
        """True for frames and series that Parquet gives back equal (see the module)."""
        import numpy as np
        import pandas as pd

        if type(obj) is pd.Series:
            name = obj.name
            return _name_ok(name) and _index_ok(obj.index) and _values_ok(obj.dtype, obj)
        if type(obj) is not pd.DataFrame:
            return False
        if not (_labels_ok(obj.columns) and _index_ok(obj.index)):
            return False
        for i, dtype in enumerate(obj.dtypes):
            simple = isinstance(dtype, np.dtype) and dtype.kind in "biufmM"
            if not simple and not _values_ok(dtype, obj.iloc[:, i]):
                return False
        return True

    def save(self, obj: Any, fs: Any, path: str) -> dict[str, Any]:
        """Write ``obj`` to ``table.parquet``."""
        import json

        import pandas as pd
        import pyarrow as pa

        if type(obj) not in (pd.DataFrame, pd.Series):
            raise refusal(self, obj, "pandas DataFrames and Series (not subclasses)")
        series = type(obj) is pd.Series
        frame = obj
        if series:
            frame = obj.to_frame(_UNNAMED_SERIES if obj.name is None else str(obj.name))
        try:
            table = pa.Table.from_pandas(frame, preserve_index=None)
        except (pa.ArrowException, ValueError, TypeError) as e:
            raise MaterializerError(
                f"Cannot store this {self.type_name(obj)} as Parquet ({e}). Give each column "
                "one type (e.g. df[column].astype(str)), or choose the 'cloudpickle' "
                "materializer for this output."
            ) from e
        heron: dict[str, Any] = {"kind": "series", "name": plain(obj.name)} if series else {}
        heron["object_categories"] = _object_categories(frame)
        metadata = dict(table.schema.metadata or {})
        metadata[_HERON_KEY] = json.dumps(heron).encode()
        table = table.replace_schema_metadata(metadata)
        _parquet.write(table, fs, member(path, _parquet.FILENAME))

        columns = frame.shape[1]
        labels = frame.columns[: _parquet.MAX_SCHEMA_COLUMNS]
        dtypes = frame.dtypes.iloc[: _parquet.MAX_SCHEMA_COLUMNS]
        schema = {str(label): str(dtype) for label, dtype in zip(labels, dtypes)}
        result = _parquet.describe(self.type_name(obj), table, schema, columns)
        if series:
            result["name"] = plain(obj.name)
        return result

    def load(self, fs: Any, path: str) -> Any:
        """Read ``table.parquet`` back as the DataFrame or Series saved."""
        import json

        table = _parquet.read(fs, member(path, _parquet.FILENAME))
        metadata = table.schema.metadata or {}
        heron = json.loads(metadata.get(_HERON_KEY, b"{}"))
        frame = table.to_pandas()
        if b"pandas" in metadata:
            frame = _restore_dtypes(frame, json.loads(metadata[b"pandas"]))
        for i in heron.get("object_categories", ()):
            column = frame.iloc[:, i]
            categories = column.cat.categories.astype(object)
            frame.isetitem(i, column.cat.set_categories(categories))
        if heron.get("kind") == "series":
            series = frame.iloc[:, 0]
            series.name = heron.get("name")
            return series
        return frame
