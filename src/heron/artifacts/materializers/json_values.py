"""Plain Python values as JSON: ``data.json``.

Only values that come back exactly are accepted: None, bool, int (below 2**63 in size), float
(NaN and infinities included), str, and lists and dicts with str keys of them, nested up to
200 levels, with exactly these types (no subclasses). Tuples, sets, bytes, dicts with other
keys, big ints and everything else fall through to other materializers.

The file is compact JSON written by orjson; values with NaN or infinities (which strict JSON
has no spelling for) and strings with lone surrogates are written by the standard library as
``NaN``/``Infinity`` and ``\\ud800`` escapes, which Python's ``json`` module reads back.
"""

from __future__ import annotations

import math

from heron.artifacts.materializers.base import (
    Materializer,
    MaterializerError,
    local_path,
    member,
)

# no `typing` at run time: importing it costs more than this package
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FILENAME = "data.json"
MAX_DEPTH = 200
#: Serialized values up to this size are copied into the artifact's metadata.
METADATA_VALUE_BYTES = 1024

_NOT_JSON, _JSON, _NON_FINITE = -1, 0, 1
_NONE = type(None)
_SCALARS = frozenset({str, bool, _NONE, int, float})
_CONTAINERS = frozenset({list, dict})
_STR_ONLY = {str}


def scan(value: Any, depth: int = 0) -> int:
    """-1 when ``value`` is not a JSON value that round-trips exactly, 1 when it is one that
    holds NaN or an infinity, else 0.

    Ints must be below 2**63 in size (orjson, like many JSON readers, reads larger ones back
    as floats). Long lists of scalars are checked with C loops (``map``, ``sum``).
    """
    kind = type(value)
    if kind is str or kind is bool or kind is _NONE:
        return _JSON
    if kind is float:
        return _JSON if value - value == 0.0 else _NON_FINITE
    if kind is int:
        return _JSON if value.bit_length() <= 63 else _NOT_JSON
    if depth >= MAX_DEPTH:
        return _NOT_JSON
    if kind is list:
        items: Any = value
    elif kind is dict:
        if value and set(map(type, value)) != _STR_ONLY:
            return _NOT_JSON
        items = value.values()
    else:
        return _NOT_JSON
    if len(value) <= 16:  # a small container: one Python loop is quicker
        return _scan_small(items, depth)
    kinds = set(map(type, items))
    flags = _JSON
    if int in kinds:
        ints = items if len(kinds) == 1 else [v for v in items if type(v) is int]
        if max(map(int.bit_length, ints)) > 63:
            return _NOT_JSON
    if float in kinds:
        floats = items if len(kinds) == 1 else [v for v in items if type(v) is float]
        total = sum(floats)  # NaN or infinity (or an overflow) makes it non-finite
        if total - total != 0.0 and not all(map(math.isfinite, floats)):
            flags = _NON_FINITE
    kinds -= _SCALARS
    if not kinds:
        return flags
    if not kinds <= _CONTAINERS:
        return _NOT_JSON
    for item in items:
        if type(item) in _CONTAINERS:
            found = scan(item, depth + 1)
            if found == _NOT_JSON:
                return _NOT_JSON
            flags |= found
    return flags


def _scan_small(items: Any, depth: int) -> int:
    flags = _JSON
    for item in items:
        kind = type(item)
        if kind is str or kind is bool or kind is _NONE:
            continue
        if kind is float:
            if item - item != 0.0:
                flags = _NON_FINITE
            continue
        found = scan(item, depth + 1)
        if found == _NOT_JSON:
            return _NOT_JSON
        flags |= found
    return flags


def dumps(value: Any, non_finite: bool) -> bytes:
    """Compact JSON bytes of a value :func:`scan` accepted."""
    import json

    if not non_finite:
        import orjson

        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:  # lone surrogates
            pass
    return json.dumps(value, allow_nan=True, separators=(",", ":")).encode("ascii")


def loads(data: bytes) -> Any:
    """The value of JSON bytes :func:`dumps` wrote."""
    import orjson

    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # NaN, Infinity or lone surrogates: written by `json`
        import json

        return json.loads(data)


class JsonMaterializer(Materializer):
    """Plain Python values (None, bool, int, float, str, list, dict with str keys) as JSON.

    Metadata: ``type``, ``nbytes`` (size of the JSON) and ``value`` when the JSON is at most
    1 KB and strict (no NaN or infinity), else ``length`` for a str, list or dict.
    """

    name = "json"
    version = "1"
    types = (
        "builtins.NoneType",
        "builtins.bool",
        "builtins.int",
        "builtins.float",
        "builtins.str",
        "builtins.list",
        "builtins.dict",
    )

    def can_save(self, obj: Any) -> bool:
        """True for values that JSON returns exactly (see the module docstring)."""
        return scan(obj) != _NOT_JSON

    def save(self, obj: Any, fs: Any, path: str) -> dict[str, Any]:
        """Write ``obj`` as compact JSON to ``data.json``."""
        flags = scan(obj)
        if flags == _NOT_JSON:
            raise MaterializerError(
                f"A {self.type_name(obj)} holding tuples, sets, bytes, non-str dict keys, "
                f"ints beyond 64 bits, other types or more than {MAX_DEPTH} levels of nesting "
                "is not stored as JSON, which would not give it back unchanged; let Heron "
                "choose the materializer, or pick one such as 'cloudpickle'."
            )
        data = dumps(obj, bool(flags))
        target = member(path, FILENAME)
        local = local_path(fs, target)
        if local is not None:
            with open(local, "wb") as f:
                f.write(data)
        else:
            with fs.open(target, "wb") as f:
                f.write(data)
        metadata: dict[str, Any] = {"type": self.type_name(obj), "nbytes": len(data)}
        if len(data) <= METADATA_VALUE_BYTES and flags == _JSON:
            metadata["value"] = loads(data)  # a copy, as stored
        elif isinstance(obj, (str, list, dict)):
            metadata["length"] = len(obj)
        return metadata

    def load(self, fs: Any, path: str) -> Any:
        """Read ``data.json`` back."""
        target = member(path, FILENAME)
        local = local_path(fs, target)
        if local is not None:
            with open(local, "rb") as f:
                data = f.read()
        else:
            data = fs.cat_file(target)
        return loads(data)
