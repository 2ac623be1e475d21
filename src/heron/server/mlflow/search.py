"""MLflow's search strings in Heron's grammar, and MLflow's experiment search.

Heron's filter grammar is MLflow's (DESIGN §2) with Heron's attribute names and statuses, so a
run filter is parsed once (:func:`heron.store.filters.parse_filter`, with MLflow's attribute
names) and written back in Heron's words:

- ``attributes.run_name`` (and ``tags.mlflow.runName``, which Heron keeps as the run's name) ->
  ``attributes.name``; ``user_id`` -> ``user``; ``created`` -> ``start_time``;
- MLflow statuses -> every Heron status answered as that one (``FINISHED`` -> ``completed``,
  ``cached``); ``LIKE``/``ILIKE`` on the status are matched against MLflow's five names;
- ``artifact_uri`` (derived from the run id in Heron) and ``datasets.*`` are refused with a
  clear message, as is ordering by ``status`` (Heron's status names sort differently).

:func:`translate_run_search` returns ``None`` for a filter no run can match (``status LIKE
'X%'``), so the caller answers an empty page without asking the store.

Experiments are few: :func:`search_experiments` filters, orders and pages them in Python, with
MLflow's fields (``name``, ``experiment_id``, ``creation_time``, ``last_update_time``,
``tags.<key>``) and default order (``creation_time DESC, experiment_id ASC``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from heron.core.errors import FilterError
from heron.server.mlflow import errors
from heron.server.mlflow.convert import HERON_STATUSES_OF, RUN_NAME_TAG
from heron.store import filters as f

# MLflow's run attributes (lower-case: the parser folds ASCII case) -> Heron's
_RUN_ATTRIBUTES = {
    "run_id": "run_id",
    "run_uuid": "run_id",
    "id": "run_id",
    "run_name": "name",
    "run name": "name",
    "name": "name",
    "user_id": "user",
    "user": "user",
    "status": "status",
    "start_time": "start_time",
    "created": "start_time",
    "end_time": "end_time",
    "artifact_uri": "artifact_uri",
    "kind": "kind",
    "parent_id": "parent_id",
}
_REFUSED_ATTRIBUTES = {
    "artifact_uri": (
        "Heron derives a run's artifact_uri from its ids "
        "(mlflow-artifacts:/<experiment_id>/<run_id>/artifacts): filter on attributes.run_id "
        "instead."
    ),
}

MLFLOW_RUN_FIELDS = f.Vocabulary(
    subject="run",
    attributes=_RUN_ATTRIBUTES,
    numeric=frozenset({"start_time", "end_time"}),
    entities=frozenset({f.ENTITY_METRIC, f.ENTITY_PARAM, f.ENTITY_TAG, f.ENTITY_ATTRIBUTE}),
    prefix_fix=(
        "Name keys as metrics.<key>, params.<key>, tags.<key> or attributes.<name> "
        "(datasets.* filters are not supported by Heron)."
    ),
    attribute_fix=(
        "Valid attributes: run_id, run_name, user_id, status, start_time, end_time (and "
        "created, `Run name`)."
    ),
    numeric_hint="only metrics and attributes.start_time/end_time compare as numbers",
    string_hint="params and tags hold strings: quote the value, e.g. params.depth = '3'",
    null_tests=True,
)

_EXPERIMENT_ATTRIBUTES = {
    "name": "name",
    "experiment_id": "experiment_id",
    "creation_time": "creation_time",
    "last_update_time": "last_update_time",
}
MLFLOW_EXPERIMENT_FIELDS = f.Vocabulary(
    subject="experiment",
    attributes=_EXPERIMENT_ATTRIBUTES,
    numeric=frozenset({"creation_time", "last_update_time"}),
    entities=frozenset({f.ENTITY_TAG, f.ENTITY_ATTRIBUTE}),
    prefix_fix="Experiments are searched by name, experiment_id, creation_time, "
    "last_update_time and tags.<key>.",
    attribute_fix="Valid attributes: name, experiment_id, creation_time, last_update_time.",
    numeric_hint="only creation_time and last_update_time compare as numbers",
    string_hint="tags hold strings",
    example_key="name",
    null_tests=True,
)

_SHOWN = {f.ENTITY_METRIC: "metrics", f.ENTITY_PARAM: "params", f.ENTITY_TAG: "tags"}


@dataclass(frozen=True)
class RunSearch:
    """A run search in Heron's words (``filter_string`` None: no filter)."""

    filter_string: str | None
    order_by: list[str]


def translate_run_search(
    filter_string: str | None, order_by: Sequence[str] | None
) -> RunSearch | None:
    """MLflow's ``filter`` and ``order_by`` of ``runs/search`` in Heron's grammar; ``None``
    when the filter can match no run. 400 (MLflow's shape) for text outside the grammar."""
    try:
        comparisons = f.parse_filter(filter_string or None, MLFLOW_RUN_FIELDS)
        orders = f.parse_order_by_list(list(order_by or ()), MLFLOW_RUN_FIELDS)
    except FilterError as e:
        raise errors.invalid(str(e)) from None
    parts: list[str] = []
    for c in comparisons:
        written = _run_comparison(c)
        if written is False:
            return None
        if written is not True:
            parts.append(written)
    return RunSearch(" and ".join(parts) or None, [_run_order(o) for o in orders])


def _run_comparison(c: f.Comparison) -> str | bool:
    """One comparison in Heron's grammar; ``True`` if it holds for every run, ``False`` if
    for none."""
    entity, key, op, value = c.entity, c.key, c.op, c.value
    if entity == f.ENTITY_TAG and key == RUN_NAME_TAG:
        if op == "IS NULL":
            return False  # every run has a name
        if op == "IS NOT NULL":
            return True
        entity, key = f.ENTITY_ATTRIBUTE, "name"
    if entity != f.ENTITY_ATTRIBUTE:
        return f"{_key(entity, key)} {op} {_value(value)}".rstrip()
    if key in _REFUSED_ATTRIBUTES:
        raise errors.invalid(f"Invalid filter on attributes.{key}: {_REFUSED_ATTRIBUTES[key]}")
    if key == "status":
        return _status_comparison(op, value)
    return f"attributes.{key} {op} {_value(value)}"


def _status_comparison(op: str, value: Any) -> str | bool:
    names = list(HERON_STATUSES_OF)
    if op in ("LIKE", "ILIKE"):
        matches = like_matcher(value, op == "ILIKE")
        chosen = [n for n in names if matches(n)]
        if not chosen:
            return False
        op, value = "IN", tuple(chosen)
    listed = value if isinstance(value, tuple) else (value,)
    statuses: list[str] = []
    for name in listed:
        upper = name.upper()
        if upper not in HERON_STATUSES_OF:
            raise errors.invalid(
                f"Invalid filter: unknown run status {name!r}; use one of {', '.join(names)}."
            )
        statuses += HERON_STATUSES_OF[upper]
    positive = op in ("=", "IN")
    return f"attributes.status {'IN' if positive else 'NOT IN'} {_value(tuple(statuses))}"


def _run_order(o: f.OrderBy) -> str:
    entity, key = o.entity, o.key
    direction = "ASC" if o.ascending else "DESC"
    if entity == f.ENTITY_TAG and key == RUN_NAME_TAG:
        entity, key = f.ENTITY_ATTRIBUTE, "name"
    if entity != f.ENTITY_ATTRIBUTE:
        return f"{_key(entity, key)} {direction}"
    if key in _REFUSED_ATTRIBUTES:
        raise errors.invalid(f"Invalid order_by on attributes.{key}: {_REFUSED_ATTRIBUTES[key]}")
    if key == "status":
        raise errors.invalid(
            "Invalid order_by on attributes.status: Heron's run statuses do not sort in "
            "MLflow's alphabetical order of status names; filter on the status instead, or "
            "sort the results in your code."
        )
    return f"attributes.{key} {direction}"


def _key(entity: str, key: str) -> str:
    return f"{_SHOWN[entity]}.`{key.replace('`', '``')}`"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_value(v) for v in value) + ")"
    if value is None:
        return ""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def like_matcher(pattern: str, insensitive: bool) -> Callable[[str], bool]:
    """SQL ``LIKE`` (``%`` any text, ``_`` one character; no escape character, as MLflow's
    queries have none) as a Python test, case-insensitive for ``ILIKE``."""
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    compiled = re.compile(regex, re.DOTALL | (re.IGNORECASE if insensitive else 0))
    return lambda text: compiled.fullmatch(text) is not None


# --- experiments ---------------------------------------------------------------------------
MAX_EXPERIMENTS_PER_PAGE = 50_000
_DEFAULT_EXPERIMENT_ORDER = ("creation_time DESC", "experiment_id ASC")


def search_experiments(
    experiments: list[dict[str, Any]],
    filter_string: str | None,
    order_by: Sequence[str] | None,
    max_results: int,
    page_token: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``experiments`` (``Experiment`` messages) matching MLflow's filter, in
    MLflow's order, and the token of the next page."""
    if not 0 < max_results <= MAX_EXPERIMENTS_PER_PAGE:
        raise errors.invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            f"a positive integer at most {MAX_EXPERIMENTS_PER_PAGE}."
        )
    try:
        comparisons = f.parse_filter(filter_string or None, MLFLOW_EXPERIMENT_FIELDS)
        orders = list(
            f.parse_order_by_list(
                list(order_by or _DEFAULT_EXPERIMENT_ORDER), MLFLOW_EXPERIMENT_FIELDS
            )
        )
    except FilterError as e:
        raise errors.invalid(str(e)) from None
    tests = [_experiment_test(c) for c in comparisons]
    chosen = [e for e in experiments if all(test(e) for test in tests)]
    if not any(o.key == "experiment_id" for o in orders):
        orders.append(f.OrderBy(f.ENTITY_ATTRIBUTE, "experiment_id", False))
    for o in reversed(orders):  # stable sorts, last key first
        chosen.sort(key=lambda e, k=o.key: _experiment_sort_value(e, k), reverse=not o.ascending)
    offset = _decode_offset(page_token)
    page = chosen[offset : offset + max_results]
    more = offset + max_results < len(chosen)
    return page, _encode_offset(offset + max_results) if more else None


def _experiment_sort_value(experiment: dict[str, Any], key: str) -> Any:
    value = experiment[key]
    if key == "experiment_id":
        # MLflow's ids are integers; Heron's are hex: "0" (the default) first, then by text
        return (0, int(value), "") if value.isdigit() else (1, 0, value)
    return value


def _experiment_test(c: f.Comparison) -> Callable[[dict[str, Any]], bool]:
    if c.entity == f.ENTITY_TAG:

        def read(e: dict[str, Any]) -> Any:
            return next((t["value"] for t in e["tags"] if t["key"] == c.key), None)

    else:

        def read(e: dict[str, Any]) -> Any:
            return e[c.key]

    op, value = c.op, c.value
    if op == "IS NULL":
        return lambda e: read(e) is None
    if op == "IS NOT NULL":
        return lambda e: read(e) is not None
    if op in ("LIKE", "ILIKE"):
        matches = like_matcher(value, op == "ILIKE")  # type: ignore[arg-type]
        return lambda e: (v := read(e)) is not None and matches(v)
    if op in ("IN", "NOT IN"):
        listed = set(value)  # type: ignore[arg-type]
        if op == "IN":
            return lambda e: read(e) in listed
        return lambda e: (v := read(e)) is not None and v not in listed
    compare = _COMPARE[op]
    return lambda e: (v := read(e)) is not None and compare(v, value)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _encode_offset(offset: int) -> str:
    return base64.b64encode(orjson.dumps({"offset": offset})).decode()


def _decode_offset(token: str | None) -> int:
    """The offset of MLflow's page tokens (base64 of ``{"offset": n}``); 400 for others."""
    if not token:
        return 0
    try:
        offset = orjson.loads(base64.b64decode(token, validate=True))["offset"]
    except Exception:
        offset = None
    if not isinstance(offset, int) or offset < 0:
        raise errors.invalid(
            f"Invalid page token {token[:80]!r}: pass the next_page_token of the previous "
            "page unchanged."
        )
    return offset


encode_offset_token = _encode_offset
decode_offset_token = _decode_offset
