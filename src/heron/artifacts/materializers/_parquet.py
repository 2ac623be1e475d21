"""Parquet through pyarrow, shared by the pandas and arrow materializers: writing and reading
``table.parquet`` with the exact arrow types, and the table metadata (schema, rows, stats).

Parquet has no spelling for a few arrow types (``timestamp[s]``, ``date64``, ``time32[s]``,
dictionaries of numbers); pyarrow stores the original arrow schema in the file, and
:func:`read` casts such columns back to it so a table comes back as it went in.
"""

from __future__ import annotations

from heron.artifacts.materializers.base import local_path, plain

# no `typing` at run time: importing it costs more than this package
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FILENAME = "table.parquet"
#: columns whose stats (min, max, mean, null count) go into the metadata
MAX_STATS_COLUMNS = 100
#: columns whose type goes into the metadata's schema
MAX_SCHEMA_COLUMNS = 1000


def type_storable(data_type: Any) -> bool:
    """Whether Parquet stores arrow ``data_type`` (unions, intervals and run-end encoded
    arrays, even nested, it does not)."""
    import pyarrow as pa
    import pyarrow.types as pat

    for check in ("is_union", "is_interval", "is_run_end_encoded"):
        test = getattr(pat, check, None)
        if test is not None and test(data_type):
            return False
    if isinstance(data_type, getattr(pa, "BaseExtensionType", pa.ExtensionType)):
        return type_storable(data_type.storage_type)
    if pat.is_struct(data_type):
        return all(type_storable(field.type) for field in data_type)
    if pat.is_map(data_type):
        return type_storable(data_type.key_type) and type_storable(data_type.item_type)
    value_type = getattr(data_type, "value_type", None)  # lists, list views, dictionaries
    return value_type is None or type_storable(value_type)


def schema_storable(schema: Any) -> bool:
    """Whether a table with ``schema`` round-trips through Parquet: unique column names and
    storable types."""
    names = schema.names
    return len(set(names)) == len(names) and all(type_storable(f.type) for f in schema)


def write(table: Any, fs: Any, target: str) -> None:
    """Write ``table`` to the Parquet file ``target``."""
    import pyarrow.parquet as pq

    local = local_path(fs, target)
    if local is not None:
        pq.write_table(table, local)
    else:
        with fs.open(target, "wb") as f:
            pq.write_table(table, f)


def read(fs: Any, target: str) -> Any:
    """Read the Parquet file ``target`` as an arrow table with the types it was written with."""
    import pyarrow.parquet as pq

    local = local_path(fs, target)
    if local is not None:
        return _read(pq.ParquetFile(local, memory_map=True))
    with fs.open(target, "rb") as f:
        return _read(pq.ParquetFile(f))


def _read(parquet_file: Any) -> Any:
    try:
        table = parquet_file.read()
        stored = (parquet_file.metadata.metadata or {}).get(b"ARROW:schema")
    finally:
        parquet_file.close()
    return table if stored is None else _with_stored_types(table, stored)


def _with_stored_types(table: Any, stored: bytes) -> Any:
    """``table`` with the columns Parquet changed cast back to the stored arrow schema."""
    import base64

    import pyarrow as pa

    try:
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(stored)))
    except (pa.ArrowException, ValueError):
        return table
    if table.schema.equals(schema, check_metadata=False) or table.schema.names != schema.names:
        return table
    columns, fields = [], []
    for i, column in enumerate(table.columns):
        field = schema.field(i)
        if column.type != field.type:
            try:
                column = _cast(column, field.type)
            except pa.ArrowException:  # keep the type Parquet gave
                field = table.schema.field(i)
        columns.append(column)
        fields.append(field)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=table.schema.metadata))


def _cast(column: Any, data_type: Any) -> Any:
    import pyarrow.compute as pc
    import pyarrow.types as pat

    if pat.is_dictionary(data_type) and not pat.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    return column.cast(data_type)


def stats(table: Any, columns: int) -> dict[str, dict[str, Any]]:
    """min, max, mean and null count of the integer and float columns among the first
    ``min(columns, MAX_STATS_COLUMNS)``, computed by arrow (and NumPy) kernels. NaN values
    are skipped like nulls; a statistic with no value, or an infinite one, is None."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pat

    result: dict[str, dict[str, Any]] = {}
    for i in range(min(columns, MAX_STATS_COLUMNS, table.num_columns)):
        field = table.schema.field(i)
        if not (pat.is_integer(field.type) or pat.is_floating(field.type)):
            continue
        column = table.column(i)
        try:
            floating = pat.is_floating(field.type)
            low, high = _min_max(column, floating)
            mean = pc.mean(column).as_py()
            if floating and mean is not None and mean != mean:  # NaN values: skip them
                mean = pc.mean(pc.if_else(pc.is_nan(column), None, column)).as_py()
        except pa.ArrowException:  # e.g. kernels missing for float16
            continue
        result[field.name] = {
            "min": plain(low),
            "max": plain(high),
            "mean": plain(mean),
            "null_count": int(column.null_count),
        }
    return result


def _min_max(column: Any, floating: bool) -> tuple[Any, Any]:
    """Smallest and largest values of a numeric column, skipping nulls and NaN.

    Arrow's ``min_max`` is slow on floats (about 5 ms per million values, against 0.2 ms for
    NumPy's ``fmin``/``fmax``), so null-free float chunks go through NumPy when it is there.
    """
    import pyarrow.compute as pc

    if not floating:
        low_high = pc.min_max(column)
        return low_high["min"].as_py(), low_high["max"].as_py()
    try:
        import numpy as np
    except ImportError:  # pyarrow runs without NumPy
        np = None
    lows, highs = [], []
    for chunk in column.chunks:
        if len(chunk) == chunk.null_count:
            continue
        if np is not None and chunk.null_count == 0:
            values = chunk.to_numpy(zero_copy_only=False)
            lows.append(float(np.fmin.reduce(values)))
            highs.append(float(np.fmax.reduce(values)))
        else:
            low_high = pc.min_max(chunk)
            lows.append(low_high["min"].as_py())
            highs.append(low_high["max"].as_py())
    lows = [v for v in lows if v is not None and v == v]  # v != v: NaN
    highs = [v for v in highs if v is not None and v == v]
    return min(lows, default=None), max(highs, default=None)


def describe(type_name: str, table: Any, schema: dict[str, str], columns: int) -> dict[str, Any]:
    """The metadata of a stored table: ``type``, ``num_rows``, ``num_columns``, ``schema``
    (column → dtype, first 1000), ``stats`` (numeric columns among the first 100)."""
    shown = dict(list(schema.items())[:MAX_SCHEMA_COLUMNS])
    metadata: dict[str, Any] = {
        "type": type_name,
        "num_rows": int(table.num_rows),
        "num_columns": columns,
        "schema": shown,
        "stats": stats(table, columns),
    }
    if len(shown) < columns:
        metadata["schema_truncated"] = True
    return metadata
