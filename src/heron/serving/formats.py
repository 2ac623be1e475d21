"""Request bodies of ``POST /invocations``: MLflow's scoring formats read into plain data.

JSON bodies are objects with exactly one of these keys (and optionally ``params``, a dict
passed to the model's ``predict``):

- ``dataframe_split``: ``{"columns": [...], "data": [[...], ...]}`` (pandas' ``split`` form);
- ``dataframe_records``: ``[{"column": value, ...}, ...]``;
- ``instances``: a list of rows, or of records;
- ``inputs``: a list of rows, a list of records, or a dict of columns.

``text/csv`` bodies are a header line and rows (what ``DataFrame.to_csv(index=False)``
writes), with values read as the signature's types; ``application/vnd.apache.parquet`` bodies
are read with pandas. Parsing builds no pandas objects for JSON and CSV: the rows go straight
to :mod:`heron.models.inputs`, which makes a NumPy array unless the model takes a DataFrame.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from heron.models.signature import DTYPES, Signature
from heron.serving.errors import BadRequest, UnsupportedMediaType

SPLIT = "dataframe_split"
RECORDS = "dataframe_records"
INSTANCES = "instances"
INPUTS = "inputs"
PARAMS = "params"
FORMATS = (SPLIT, RECORDS, INSTANCES, INPUTS)

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
MEDIA_TYPES = (JSON, CSV, PARQUET)

_FORMS = (
    'a JSON object with exactly one of "dataframe_split", "dataframe_records", "instances" '
    'or "inputs" (and optionally "params"), e.g. {"dataframe_split": {"columns": ["x"], '
    '"data": [[1.0]]}}'
)


@dataclass(slots=True)
class ParsedRequest:
    """What a body asks to score: ``data`` for :func:`heron.models.inputs.prepare_input`, or,
    when ``split`` is true, rows under ``columns`` for
    :func:`heron.models.inputs.prepare_split`; ``params`` for the model's ``predict``."""

    data: Any
    columns: list[str] | None = None
    params: dict[str, Any] | None = None
    split: bool = False


class RequestParser:
    """Reads bodies for a model of ``signature`` (which tells CSV columns their types)."""

    def __init__(self, signature: Signature | None) -> None:
        self.signature = signature
        self._csv_converters = _csv_converters(signature)

    def parse(self, body: bytes, content_type: str | None) -> ParsedRequest:
        """The request in ``body``; :class:`BadRequest` or :class:`UnsupportedMediaType`."""
        media = media_type(content_type)
        if media == JSON:
            return parse_json(body)
        if media == CSV:
            return self.parse_csv(body)
        return parse_parquet(body)

    def parse_csv(self, body: bytes) -> ParsedRequest:
        """A CSV body: a header line, then one line per row."""
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise BadRequest(f"The CSV body is not UTF-8 text: {e}.") from None
        try:
            lines = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
        except csv.Error as e:
            raise BadRequest(f"The CSV body cannot be read: {e}.") from None
        if len(lines) < 2:
            raise BadRequest(
                "A CSV body needs a header line with the column names and at least one row "
                "(what DataFrame.to_csv(index=False) writes)."
            )
        header = [name.strip() for name in lines[0]]
        convert = [self._csv_converters.get(name, _csv_any) for name in header]
        rows = []
        for number, line in enumerate(lines[1:], start=2):
            if len(line) != len(header):
                raise BadRequest(
                    f"CSV line {number} has {len(line)} values; the header names {len(header)}."
                )
            try:
                rows.append([f(v) for f, v in zip(convert, line)])
            except ValueError as e:
                raise BadRequest(f"CSV line {number}: {e}") from None
        return ParsedRequest(rows, header, None, True)


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` header (JSON when there is none): one of
    :data:`MEDIA_TYPES`, else :class:`UnsupportedMediaType`."""
    if not content_type:
        return JSON
    media, _, rest = content_type.partition(";")
    media = media.strip().lower()
    if media not in MEDIA_TYPES:
        hint = ""
        if media == "application/x-www-form-urlencoded":
            hint = " (curl -d sends this unless told: add -H 'Content-Type: application/json')"
        raise UnsupportedMediaType(
            f"Content-Type {content_type[:100]!r} is not read here{hint}; send "
            f"{', '.join(MEDIA_TYPES)}."
        )
    for parameter in rest.split(";"):
        key, _, value = parameter.partition("=")
        key, value = key.strip().lower(), value.strip().strip('"').lower()
        if not key:
            continue
        if key != "charset":
            raise UnsupportedMediaType(
                f"Content-Type parameter {key!r} is not understood (only charset=utf-8 is): "
                "name the input format in the JSON body instead, e.g. "
                '{"dataframe_split": ...}.'
            )
        if value not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(f"Bodies are read as UTF-8, not {value[:40]!r}.")
    return media


def parse_json(body: bytes) -> ParsedRequest:
    """A JSON body in one of MLflow's forms (see the module doc)."""
    document = loads(body)
    if not isinstance(document, dict):
        raise BadRequest(f"The body is a JSON {_json_type(document)}; send {_FORMS}.")
    present = [key for key in FORMATS if key in document]
    if len(present) != 1:
        found = ", ".join(repr(k) for k in list(document)[:10]) or "no keys"
        raise BadRequest(f"The body has {found}; send {_FORMS}.")
    params = document.get(PARAMS)
    if params is not None and not isinstance(params, dict):
        raise BadRequest(
            f'"params" must be a JSON object of name -> value; got a {_json_type(params)}.'
        )
    key = present[0]
    value = document[key]
    if key == SPLIT:
        return _split(value, params or None)
    if key == RECORDS and not isinstance(value, list):
        raise BadRequest(
            f'"dataframe_records" must be a list of objects (column -> value); got a '
            f"{_json_type(value)}."
        )
    if key == INSTANCES and not isinstance(value, list):
        raise BadRequest(
            f'"instances" must be a list of rows (or of objects); got a {_json_type(value)}.'
        )
    if key == INPUTS and not isinstance(value, list | dict):
        raise BadRequest(
            f'"inputs" must be a list of rows, a list of objects or an object of columns; '
            f"got a {_json_type(value)}."
        )
    return ParsedRequest(value, None, params or None)


def _split(value: Any, params: dict[str, Any] | None) -> ParsedRequest:
    if not isinstance(value, dict):
        raise BadRequest(
            f'"dataframe_split" must be an object {{"columns": [...], "data": [[...], ...]}}; '
            f"got a {_json_type(value)}."
        )
    data = value.get("data")
    if not isinstance(data, list):
        raise BadRequest(
            '"dataframe_split" needs "data": a list of rows (lists of values); got '
            + ("nothing." if data is None else f"a {_json_type(data)}.")
        )
    columns = value.get("columns")
    if columns is not None and (
        not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
    ):
        raise BadRequest('"dataframe_split" "columns" must be a list of column names (strings).')
    return ParsedRequest(data, columns, params, True)


def loads(body: bytes) -> Any:
    """``body`` as JSON: orjson, or Python's json for what orjson refuses but Python clients
    write (``NaN``, ``Infinity``, numbers beyond double range); :class:`BadRequest` if neither
    reads it."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        first = e
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError, UnicodeError):
        pass
    raise BadRequest(f"The body is not valid JSON: {first}.")


def parse_parquet(body: bytes) -> ParsedRequest:
    """A Parquet body (read with pandas and pyarrow, when installed)."""
    try:
        import pandas as pd
    except ImportError:
        raise UnsupportedMediaType(
            "Parquet bodies need pandas and pyarrow on the server: pip install "
            "'heron-ml[pandas]'; or send JSON or CSV."
        ) from None
    try:
        frame = pd.read_parquet(io.BytesIO(body))
    except ImportError as e:
        raise UnsupportedMediaType(f"Parquet bodies need pyarrow on the server: {e}") from None
    except Exception as e:  # whatever pyarrow says about bytes that are no Parquet file
        raise BadRequest(f"The body is not a Parquet file: {type(e).__name__}: {e}") from None
    return ParsedRequest(frame)


# --- CSV values ---------------------------------------------------------------------------
def _csv_converters(signature: Signature | None) -> dict[str, Callable[[str], Any]]:
    if signature is None or not isinstance(signature.inputs, tuple):
        return {}
    by_kind = {"f": _csv_float, "i": _csv_int, "u": _csv_int, "b": _csv_bool}
    return {
        spec.name: by_kind.get(DTYPES.get(spec.dtype, "O"), _csv_text) for spec in signature.inputs
    }


def _csv_float(text: str) -> float:
    text = text.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{_short(text)} is not a number.") from None


def _csv_int(text: str) -> int:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{_short(text)} is not an integer.") from None
    if not value.is_integer():
        raise ValueError(f"{_short(text)} is not an integer.")
    return int(value)


def _csv_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValueError(f"{_short(text)} is not a boolean (true or false).")


def _csv_text(text: str) -> str:
    return text


def _csv_any(text: str) -> Any:
    """A value of a column the signature does not type: a number when it reads as one."""
    stripped = text.strip()
    if not stripped:
        return math.nan
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)
    except ValueError:
        return text


# --- helpers --------------------------------------------------------------------------------
def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
