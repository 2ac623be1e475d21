"""MLflow's registry searches on Heron's registry: filters, orders and pages.

``search_registered_models`` filters on ``name`` (``= != LIKE ILIKE IN NOT IN``) and
``tags.<key>`` (``= != LIKE ILIKE``) and orders by ``name``, ``creation_timestamp`` or
``last_updated_timestamp`` (``timestamp``), ``name`` ascending breaking ties.
``search_model_versions`` filters on ``name``, ``version_number``, ``run_id``, ``source_path``
and ``tags.<key>`` and orders by ``name``, ``version_number``, ``creation_timestamp`` and
``last_updated_timestamp`` (default: ``last_updated_timestamp DESC, name ASC, version_number
DESC``), as MLflow's own store does. The filter text is read by Heron's parser
(:mod:`heron.store.filters`) with MLflow's field names; model-version filters go to the store's
search (parameterized SQL), except ``source_path`` and the prompt marker, which are tested here.

As in MLflow, a missing tag matches no comparison, except MLflow's prompt marker
``mlflow.prompt.is_prompt``, which the client adds as ``!= 'true'`` to every model search:
models without it are not prompts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from heron.core.entities import ModelVersion, RegisteredModel
from heron.core.errors import FilterError
from heron.server.mlflow import errors
from heron.store import filters
from heron.store.base import MAX_RESULTS_LIMIT

IS_PROMPT_TAG = "mlflow.prompt.is_prompt"

REGISTERED_MODEL_FIELDS = filters.Vocabulary(
    subject="registered model",
    attributes={"name": "name"},
    numeric=frozenset(),
    entities=frozenset({filters.ENTITY_TAG, filters.ENTITY_ATTRIBUTE}),
    prefix_fix="Registered models are searched by name and tags.<key> (name LIKE 'iris%').",
    attribute_fix="The only attribute is name; prefix tag keys: tags.team.",
    numeric_hint="registered models have no numeric fields",
    example_key="tags.team",
    field_word="field",
)
MODEL_VERSION_FIELDS = filters.Vocabulary(
    subject="model version",
    attributes={
        "name": "name",
        "version_number": "version_number",
        "run_id": "run_id",
        "source_path": "source_path",
    },
    numeric=frozenset({"version_number"}),
    entities=frozenset({filters.ENTITY_TAG, filters.ENTITY_ATTRIBUTE}),
    prefix_fix=(
        "Model versions are searched by name, version_number, run_id, source_path and "
        "tags.<key> (name = 'iris' and tags.team = 'a')."
    ),
    attribute_fix="Valid fields: name, version_number, run_id, source_path; tags.<key>.",
    numeric_hint="only version_number compares as a number",
    example_key="tags.team",
    field_word="field",
)
_TAG_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
_MODEL_ORDER_KEYS = {
    "name": "name",
    "timestamp": "updated_at",
    "last_updated_timestamp": "updated_at",
    "creation_timestamp": "created_at",
}
_VERSION_ORDER_KEYS = {
    "name": "name",
    "version_number": "version",
    "creation_timestamp": "created_at",
    "last_updated_timestamp": "updated_at",
}
DEFAULT_VERSION_ORDER = ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]


# --- registered models ----------------------------------------------------------------------
def matching_models(
    store: Any, filter_string: str | None, order_by: list[str]
) -> list[RegisteredModel]:
    """Every registered model matching ``filter_string``, in ``order_by``'s order."""
    tests = [_model_test(c) for c in _parse(filter_string, REGISTERED_MODEL_FIELDS)]
    sort_keys = _order(order_by, _MODEL_ORDER_KEYS, tie_breaks=[("name", True)])
    models = store.list_registered_models(max_results=MAX_RESULTS_LIMIT)
    _check_size(models, "registered models")
    found = [m for m in models if all(test(m) for test in tests)]
    return _sorted(found, sort_keys)


def _model_test(c: filters.Comparison) -> Callable[[RegisteredModel], bool]:
    if c.entity == filters.ENTITY_TAG:
        _check_tag_op(c)
        return lambda m: _tag_matches(m.tags, c)
    return lambda m: _matches(m.name, c.op, c.value)


# --- model versions -------------------------------------------------------------------------
def matching_versions(
    store: Any, filter_string: str | None, order_by: list[str], source_of: Callable
) -> list[ModelVersion]:
    """Every active model version matching ``filter_string``, in ``order_by``'s order (MLflow's
    default order without one); ``source_of(version)`` gives a version's MLflow source."""
    pushed: list[str] = []
    tests: list[Callable[[ModelVersion], bool]] = []
    for c in _parse(filter_string, MODEL_VERSION_FIELDS):
        if c.entity == filters.ENTITY_TAG:
            _check_tag_op(c)
            if c.key == IS_PROMPT_TAG:
                tests.append(lambda v, c=c: _tag_matches(v.tags, c))
            else:
                pushed.append(f"tags.{_backticked(c.key)} {c.op} {_value(c.value)}")
        elif c.key == "source_path":
            if c.op in ("IN", "NOT IN"):
                raise errors.invalid(f"Invalid comparator for attribute: {c.op}")
            tests.append(lambda v, c=c: _matches(source_of(v), c.op, c.value))
        elif c.key == "version_number":
            if not float(c.value).is_integer():  # type: ignore[arg-type]
                raise errors.invalid(
                    f"Invalid value for numeric attribute 'version_number': {c.value!r}"
                )
            pushed.append(f"version {c.op} {int(c.value)}")  # type: ignore[call-overload]
        else:
            pushed.append(f"{c.key} {c.op} {_value(c.value)}")
    sort_keys = _order(
        order_by or DEFAULT_VERSION_ORDER,
        _VERSION_ORDER_KEYS,
        tie_breaks=[("name", True), ("version", False)],
    )
    versions = store.search_model_versions(
        " and ".join(pushed) or None, max_results=MAX_RESULTS_LIMIT
    )
    _check_size(versions, "model versions")
    found = [v for v in versions if all(test(v) for test in tests)]
    return _sorted(found, sort_keys)


# --- shared ---------------------------------------------------------------------------------
def _parse(filter_string: str | None, vocabulary: filters.Vocabulary) -> tuple:
    try:
        return filters.parse_filter(filter_string, vocabulary)
    except FilterError as e:
        raise errors.invalid(str(e)) from None


def _check_tag_op(c: filters.Comparison) -> None:
    if c.op not in _TAG_OPS:
        raise errors.invalid(
            f"Invalid comparator for tag: {c.op}. Tags compare with =, !=, LIKE or ILIKE."
        )


def _tag_matches(tags: dict[str, str], c: filters.Comparison) -> bool:
    value = tags.get(c.key)
    if value is None:
        if c.key == IS_PROMPT_TAG:
            return (c.op == "=" and c.value == "false") or (c.op == "!=" and c.value == "true")
        return False
    return _matches(value, c.op, c.value)


def _matches(actual: Any, op: str, expected: Any) -> bool:
    if op == "=":
        return actual == expected
    if op == "!=":
        return actual != expected
    if op == "IN":
        return actual in expected
    if op == "NOT IN":
        return actual not in expected
    if op in ("LIKE", "ILIKE"):
        flags = re.IGNORECASE if op == "ILIKE" else 0
        return like_pattern(expected, flags).fullmatch(actual) is not None
    raise errors.invalid(f"Invalid comparator {op!r}: use =, !=, LIKE, ILIKE, IN or NOT IN.")


def like_pattern(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A SQL LIKE pattern as a regular expression: ``%`` any text, ``_`` one character, a
    backslash escapes the next character."""
    parts: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    if escaped:
        parts.append(re.escape("\\"))
    return re.compile("".join(parts), flags | re.DOTALL)


def _order(
    clauses: list[str], keys: dict[str, str], tie_breaks: list[tuple[str, bool]]
) -> list[tuple[str, bool]]:
    """``(entity field, ascending)`` pairs of order-by clauses, then the tie-breaks not named."""
    order: list[tuple[str, bool]] = []
    for clause in clauses:
        words = clause.replace("`", " ").split()
        direction = words[1].lower() if len(words) == 2 else "asc"
        if not words or len(words) > 2 or direction not in ("asc", "desc"):
            raise errors.invalid(f"Invalid order_by clause '{clause}'. Could not be parsed.")
        field = keys.get(words[0])
        if field is None:
            raise errors.invalid(
                f"Invalid order by key '{words[0]}' specified. Valid keys are "
                f"{', '.join(sorted(keys))}."
            )
        if any(f == field for f, _ in order):
            raise errors.invalid(f"`order_by` contains duplicate fields: {clauses}")
        order.append((field, direction == "asc"))
    order += [(f, asc) for f, asc in tie_breaks if all(f != seen for seen, _ in order)]
    return order


def _sorted(items: list[Any], order: list[tuple[str, bool]]) -> list[Any]:
    result = list(items)
    for field, ascending in reversed(order):  # stable sorts, last key first
        result.sort(key=lambda item: getattr(item, field), reverse=not ascending)
    return result


def _check_size(items: list[Any], what: str) -> None:
    if len(items) >= MAX_RESULTS_LIMIT:
        raise errors.invalid(
            f"More than {MAX_RESULTS_LIMIT} {what} match this search; narrow the filter "
            "(e.g. name = '<model>')."
        )


def _value(value: Any) -> str:
    from heron.server.mlflow.registry import quoted

    if isinstance(value, tuple):
        return "(" + ", ".join(quoted(v) for v in value) + ")"
    return quoted(str(value))


def _backticked(key: str) -> str:
    return "`" + key.replace("`", "``") + "`"
