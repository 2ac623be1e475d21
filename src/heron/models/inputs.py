"""Turning what a caller passes to ``predict`` into what the model takes, checked against the
signature.

Callers pass a pandas DataFrame, a NumPy array, a list of rows, a list of dicts (records), a
dict of columns or one record as a dict. A model that was fitted on a DataFrame (or whose
signature names columns and whose code is the user's own) gets a DataFrame with the columns
in signature order; any other model gets a NumPy array built directly, without pandas. A
missing column, a wrong width or a value of the wrong type is a :class:`ModelInputError`
naming the problem.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from heron.core.errors import InvalidArgument
from heron.models.signature import DTYPES, Signature, TensorSpec, _is_dataframe, _is_series

#: most rows one call may carry (a guard against bodies that would exhaust memory)
MAX_ROWS = 10_000_000


class ModelInputError(InvalidArgument):
    """The data given to a model does not fit its signature (HTTP 400)."""

    code = "INVALID_MODEL_INPUT"


def prepare_input(data: Any, signature: Signature | None, *, needs_dataframe: bool) -> Any:
    """``data`` as the array or DataFrame the model's ``predict`` takes (see module doc)."""
    if getattr(data, "shape", None) is not None and len(data.shape) and data.shape[0] == 0:
        raise ModelInputError("The input has no rows: send at least one.")
    if _is_dataframe(data):
        return _from_frame(data, signature, needs_dataframe)
    if isinstance(data, dict):
        return _from_mapping(data, signature, needs_dataframe)
    if isinstance(data, list | tuple):
        if not data:
            raise ModelInputError("The input has no rows: send at least one.")
        if isinstance(data[0], dict):
            return _from_records(data, signature, needs_dataframe)
        return _from_rows(data, signature, needs_dataframe)
    if _is_series(data):
        return _from_rows(data.to_numpy(), signature, needs_dataframe)
    if hasattr(data, "__array__") or hasattr(data, "shape"):
        return _from_rows(data, signature, needs_dataframe)
    raise ModelInputError(
        f"Cannot score a {type(data).__name__}: pass a pandas DataFrame, a NumPy array, a list "
        "of rows, a list of dicts or a dict of columns."
    )


def prepare_split(
    columns: Any, rows: Any, signature: Signature | None, *, needs_dataframe: bool
) -> Any:
    """Rows of values under ``columns`` (pandas' ``split`` form, the scoring server's
    ``dataframe_split`` and CSV bodies) as :func:`prepare_input` would shape them, without
    building a dict per row: columns are matched to the signature by name (any order, extra
    columns ignored); ``columns=None`` means the signature's order."""
    if not isinstance(rows, list | tuple) or not rows:
        raise ModelInputError("The input has no rows: send a list of at least one row.")
    if columns is not None and (
        not isinstance(columns, list | tuple) or not all(isinstance(c, str) for c in columns)
    ):
        raise ModelInputError("The column names must be a list of strings.")
    if columns is not None and len(set(columns)) != len(columns):
        twice = sorted(c for c, n in Counter(columns).items() if n > 1)
        raise ModelInputError(
            f"Column(s) {_names(twice)} are named more than once: name each column once."
        )
    names = signature.columns if signature else None
    if names is None:
        if columns is not None and needs_dataframe:
            _check_rows(rows, len(columns))
            return _frame_from([list(r) for r in rows], list(columns))
        return _from_rows(list(rows), signature, needs_dataframe)
    if columns is None or list(columns) == names:
        target = common_dtype(signature)
        if target is not None and not needs_dataframe:
            array = _fast_array(rows, target, len(names))
            if array is not None:
                return array
        _check_rows(rows, len(names))  # before _table indexes the rows
        return _table(rows, names, signature, needs_dataframe)
    missing = [c for c in names if c not in columns]
    if missing:
        raise ModelInputError(
            f"The input lacks column(s) {_names(missing)}; the model takes {_names(names)}."
        )
    _check_rows(rows, len(columns))
    positions = [list(columns).index(c) for c in names]
    return _table([[r[p] for p in positions] for r in rows], names, signature, needs_dataframe)


# --- tables -------------------------------------------------------------------------------
def _from_records(records: Any, signature: Signature | None, needs_dataframe: bool) -> Any:
    columns = signature.columns if signature else None
    if columns is None:
        if not all(isinstance(r, dict) for r in records):
            raise ModelInputError("Every record must be a JSON object of column -> value.")
        if needs_dataframe:
            return _frame_from(records, None)
        columns = list(records[0])  # no names to go by: the first record's order
    rows = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise ModelInputError(f"Record {i} is a {type(record).__name__}, not an object.")
        try:
            rows.append([record[c] for c in columns])
        except KeyError:
            missing = [c for c in columns if c not in record]
            raise ModelInputError(
                f"Record {i} lacks column(s) {_names(missing)}; the model takes {_names(columns)}."
            ) from None
    if signature is None or signature.columns is None:
        return _from_rows(rows, signature, needs_dataframe)
    return _table(rows, columns, signature, needs_dataframe)


def _from_mapping(data: dict, signature: Signature | None, needs_dataframe: bool) -> Any:
    import numpy as np

    if not data:
        raise ModelInputError("The input is an empty object: send columns or records.")
    if all(np.isscalar(v) or v is None for v in data.values()):
        return _from_records([data], signature, needs_dataframe)  # one record
    lengths = {len(v) if isinstance(v, list | tuple) else -1 for v in data.values()}
    if -1 in lengths or len(lengths) != 1:
        raise ModelInputError(
            "A dict of columns needs a list of the same length for every column "
            f"(got lengths {sorted(lengths)})."
        )
    columns = signature.columns if signature else None
    if columns is None:
        if needs_dataframe:
            return _frame_from(data, None)
        return _from_rows([list(r) for r in zip(*data.values())], signature, needs_dataframe)
    missing = [c for c in columns if c not in data]
    if missing:
        raise ModelInputError(
            f"The input lacks column(s) {_names(missing)}; the model takes {_names(columns)}."
        )
    rows = list(zip(*(data[c] for c in columns)))
    return _table(rows, columns, signature, needs_dataframe)


def _from_frame(frame: Any, signature: Signature | None, needs_dataframe: bool) -> Any:
    columns = signature.columns if signature else None
    if columns is None:
        if isinstance(signature.inputs if signature else None, TensorSpec) or not needs_dataframe:
            return _from_rows(frame.to_numpy(), signature, needs_dataframe)
        return frame
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ModelInputError(
            f"The input lacks column(s) {_names(missing)}; the model takes {_names(columns)}."
        )
    frame = frame[columns]
    for spec in signature.inputs:  # type: ignore[union-attr]
        _check_column(spec.name, spec.dtype, frame[spec.name].to_numpy())
    return frame if needs_dataframe else _numeric(frame.to_numpy(), signature)


def _table(rows: list, columns: list[str], signature: Signature, needs_dataframe: bool) -> Any:
    import numpy as np

    if len(rows) > MAX_ROWS:
        raise ModelInputError(f"{len(rows)} rows is more than one call takes ({MAX_ROWS}).")
    specs = signature.inputs
    target = common_dtype(signature)
    if target is not None and not needs_dataframe:
        integral = [i for i, c in enumerate(specs) if DTYPES.get(c.dtype) in ("i", "u")]  # type: ignore[union-attr]
        array = _fast_array(rows, target, len(columns), integral)
        if array is not None:
            return array
    _check_rows(rows, len(columns))
    by_column = {c: np.array([r[i] for r in rows], dtype=object) for i, c in enumerate(columns)}
    for spec in specs:  # type: ignore[union-attr]
        _check_column(spec.name, spec.dtype, by_column[spec.name])
    frame = _frame_from(
        {s.name: _cast(by_column[s.name], s.dtype) for s in specs},  # type: ignore[union-attr]
        columns,
    )
    return frame if needs_dataframe else _numeric(frame.to_numpy(), signature)


def _check_rows(rows: Any, width: int) -> None:
    for i, row in enumerate(rows):
        if not isinstance(row, list | tuple) or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list | tuple) else type(row).__name__
            raise ModelInputError(f"Row {i} needs {width} values (one per column); got {got}.")


def _fast_array(rows: list, target: str, width: int, integral: Any = ()) -> Any:
    """``rows`` as one array of ``target`` dtype built by NumPy, or ``None`` when a value
    needs the column-by-column check (text, missing values, fractions in integer columns)."""
    import numpy as np

    try:
        array = as_array(rows)  # no dtype: text stays text (NumPy would parse "5.1" as 5.1)
    except (ValueError, TypeError, OverflowError):
        return None
    if array.dtype.kind not in "fiub":
        return None  # text, None or mixed values: the column-by-column check names the column
    if array.dtype != np.float64:
        array = array.astype(np.float64)
    if array.ndim != 2 or array.shape[1] != width or np.isnan(array).any():
        return None  # None becomes NaN: let the check find it (a real NaN passes it)
    if integral and not _whole(array[:, integral]):
        return None  # a fraction (or a number too large) in an integer column: the check names it
    if target != "float64":
        return array.astype(target) if _whole(array) else None
    return array


#: rows converted by one NumPy call: a call holds the GIL, so a large input is converted in
#: pieces, letting the scoring server's event loop run between them (it reads large bodies
#: in a worker thread)
CHUNK_ROWS = 16_384


def as_array(rows: list | tuple) -> Any:
    """``np.asarray(rows)`` for a list of rows, converted ``CHUNK_ROWS`` rows at a time when
    long (the pieces joined when they agree in dtype kind and row shape, else the whole list
    is converted at once, which says what is wrong)."""
    import numpy as np

    if len(rows) <= 2 * CHUNK_ROWS:
        return np.asarray(rows)
    parts = [np.asarray(rows[i : i + CHUNK_ROWS]) for i in range(0, len(rows), CHUNK_ROWS)]
    first = parts[0]
    if first.ndim >= 1 and all(
        p.dtype.kind in "fiub" and p.shape[1:] == first.shape[1:] for p in parts
    ):
        return np.concatenate(parts)
    return np.asarray(rows)


def _whole(array: Any) -> bool:
    """Whether every value is a whole number that an int64 holds."""
    import numpy as np

    return bool(np.array_equal(array, np.trunc(array)) and np.abs(array).max() < 2.0**63)


def _check_column(name: str, dtype: str, values: Any) -> None:
    """A :class:`ModelInputError` for the first value of the wrong type in a column.

    Missing values (``None``, NaN) pass in every column but an integer one: whether a model
    takes them is the model's business (an imputer does; scikit-learn's linear models say no).
    """
    kind = DTYPES.get(dtype, "O")
    if kind in "fiu":
        bad = _first(values, lambda v: not (_is_number(v) or (v is None and kind == "f")))
        if bad is not _NONE_BAD:
            raise ModelInputError(
                f"Column {name!r} takes numbers ({dtype}); got {_short(repr(bad))} "
                f"({type(bad).__name__})."
            )
        if kind in "iu":
            bad = _first(
                values, lambda v: float(v) != int(v) or abs(v) >= 2**63 if _finite(v) else True
            )
            if bad is not _NONE_BAD:
                raise ModelInputError(
                    f"Column {name!r} takes integers ({dtype}); got {_short(repr(bad))}."
                )
    elif kind == "b":
        bad = _first(values, lambda v: not (_is_bool(v) or _is_missing(v)))
        if bad is not _NONE_BAD:
            raise ModelInputError(f"Column {name!r} takes booleans; got {_short(repr(bad))}.")
    elif kind == "U":
        bad = _first(values, lambda v: not (isinstance(v, str) or _is_missing(v)))
        if bad is not _NONE_BAD:
            raise ModelInputError(
                f"Column {name!r} takes strings; got {_short(repr(bad))} ({type(bad).__name__})."
            )


# --- arrays -------------------------------------------------------------------------------
def _from_rows(rows: Any, signature: Signature | None, needs_dataframe: bool) -> Any:
    import numpy as np

    spec = signature.inputs if signature else None
    if isinstance(spec, tuple):  # named columns given as plain rows: by position
        names = [c.name for c in spec]
        kind = getattr(getattr(rows, "dtype", None), "kind", "O")
        if kind in "fiu" and not needs_dataframe and common_dtype(signature) == "float64":
            array = rows.reshape(1, -1) if rows.ndim == 1 and len(rows) == len(names) else rows
            if array.ndim == 2 and array.shape[1] == len(names):
                return _numeric(array, signature)  # a numeric array for float columns: as is
        listed = rows.tolist() if hasattr(rows, "tolist") else list(rows)
        if listed and not isinstance(listed[0], list | tuple):
            listed = [listed] if len(listed) == len(spec) else [[v] for v in listed]
        if not listed:
            raise ModelInputError("The input has no rows: send at least one.")
        return _table(listed, names, signature, needs_dataframe)  # type: ignore[arg-type]
    target = common_dtype(signature)
    array = _array(rows, target)
    if isinstance(spec, TensorSpec):
        expected = spec.shape
        if array.ndim == len(expected) - 1 and len(expected) >= 2:
            array = array.reshape(1, *array.shape)  # one instance without the batch axis
        if array.ndim != len(expected) or any(
            want >= 0 and got != want for want, got in zip(expected[1:], array.shape[1:])
        ):
            raise ModelInputError(
                f"The model takes arrays of shape {_shape(expected)}; got {list(array.shape)}."
            )
    if array.dtype.kind == "O" and isinstance(rows, list):
        raise ModelInputError("The rows have different lengths or mixed types.")
    if needs_dataframe and array.ndim == 2:
        return _frame_from(np.asarray(array), None)
    return array


def _array(rows: Any, dtype: str | None) -> Any:
    import numpy as np

    if isinstance(rows, list | tuple) and len(rows) > MAX_ROWS:
        raise ModelInputError(f"{len(rows)} rows is more than one call takes ({MAX_ROWS}).")
    try:
        if dtype is None:
            array = as_array(rows) if isinstance(rows, list) else np.asarray(rows)
            if array.dtype.kind in "OUS" and isinstance(rows, list | tuple):
                with contextlib.suppress(ValueError, TypeError):
                    array = np.asarray(rows, dtype=np.float64)
            return array
        if isinstance(rows, list | tuple):
            plain = as_array(rows)  # once, without a dtype: text must not become numbers
            if plain.dtype.kind in "fiub":
                return plain.astype(dtype, copy=False)
            if plain.dtype.kind in "US":  # every value made text: find the one that was
                plain = np.array(rows, dtype=object)
            _refuse_text(plain, dtype)
        else:
            _refuse_text(rows, dtype)
        return np.asarray(rows, dtype=dtype)
    except (ValueError, TypeError, OverflowError) as e:
        what = f" of {dtype}" if dtype else ""
        raise ModelInputError(
            f"The input is not a rectangular array{what}: {_short(str(e), 160)}."
        ) from None


def _refuse_text(rows: Any, dtype: str) -> None:
    """A :class:`ModelInputError` naming the column of the first string in ``rows`` bound
    for a numeric ``dtype``: NumPy would parse ``"5.1"`` or ``" 5 "`` as a number, which a
    model fitted on a DataFrame refuses; one rule for both (the signature's)."""
    import numpy as np

    if DTYPES.get(dtype, "O") not in "fiub":
        return
    if getattr(getattr(rows, "dtype", None), "kind", "f") not in "USO":
        return  # an array of numbers (or no array: the conversion speaks)
    found = np.frompyfunc(lambda v: isinstance(v, str | bytes), 1, 1)(rows).astype(bool)
    if not found.any():
        return
    where = np.argwhere(found)[0]
    value = rows[tuple(where)]
    value = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    column = f"Column {int(where[-1])}" if rows.ndim >= 2 else "The input"
    raise ModelInputError(
        f"{column} takes numbers ({dtype}); got {_short(repr(value))} (str): send numbers, "
        "not text."
    )


def common_dtype(signature: Signature | None) -> str | None:
    """One NumPy dtype holding every input column (numbers only), or ``None``."""
    if signature is None or signature.inputs is None:
        return None
    if isinstance(signature.inputs, TensorSpec):
        return signature.inputs.dtype if DTYPES.get(signature.inputs.dtype) in ("f", "i") else None
    kinds = {DTYPES.get(c.dtype, "O") for c in signature.inputs}
    if kinds <= {"f", "i", "u"}:
        return "float64" if "f" in kinds else "int64"
    return None


def _numeric(array: Any, signature: Signature | None) -> Any:
    target = common_dtype(signature)
    return array.astype(target) if target is not None and array.dtype != target else array


def _cast(values: Any, dtype: str) -> Any:
    kind = DTYPES.get(dtype, "O")
    return values.astype(dtype) if kind in "fiub" else values


def _frame_from(data: Any, columns: list[str] | None) -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise ModelInputError(
            "This model takes a table (named columns), which needs pandas: pip install pandas."
        ) from None
    if isinstance(data, list):
        return pd.DataFrame.from_records(data, columns=columns)
    return pd.DataFrame(data, columns=columns)


# --- small helpers --------------------------------------------------------------------------
_NONE_BAD = object()


def _first(values: Any, bad: Any) -> Any:
    """The first value ``bad`` accepts, or the sentinel :data:`_NONE_BAD`."""
    for v in values:
        if bad(v):
            return v
    return _NONE_BAD


def _is_number(v: Any) -> bool:
    import numbers

    return isinstance(v, numbers.Number)


def _is_bool(v: Any) -> bool:
    """A Python or NumPy bool, or 0/1."""
    import numpy as np

    return isinstance(v, bool | np.bool_) or (isinstance(v, int | np.integer) and v in (0, 1))


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _finite(v: Any) -> bool:
    import math

    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError, OverflowError):
        return False


def _names(names: Any) -> str:
    return ", ".join(repr(n) for n in names)


def _shape(shape: Any) -> str:
    return "[" + ", ".join("any" if n < 0 else str(n) for n in shape) + "]"


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
