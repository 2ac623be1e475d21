"""What the tracking routes share: reading MLflow's request fields with MLflow's checks and
messages, and whom the runs they write belong to.

The routes themselves are in :mod:`.tracking_experiments` and :mod:`.tracking_runs`.

MLflow's client sends protobuf JSON: 64-bit integers may come as numbers or strings, doubles
as numbers or ``"NaN"``/``"Infinity"``/``"-Infinity"``, enums as names; GET requests carry the
same fields in the query string (repeated keys for lists). The readers here accept all of it
and answer anything else with MLflow's ``INVALID_PARAMETER_VALUE`` message.
"""

from __future__ import annotations

import contextlib
import math
import posixpath
import re
from collections.abc import Iterator
from typing import Any

import orjson

from heron.core import owner as owners
from heron.server.mlflow import errors

_SEE_DOCS = " See the API docs for more information about request parameters."
#: the owner of the runs MLflow clients write: no process of this machine, no heartbeat
#: (MLflow's client sends none), so the reaper never marks them failed
MLFLOW_OWNER = "mlflow-client@mlflow"
NO_HEARTBEAT_TIMEOUT_MS = 2**60

# MLflow's limits (mlflow.utils.validation)
MAX_ENTITY_KEY_LENGTH = 250
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_TAG_KEY_LENGTH = 250
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
MAX_EXPERIMENT_NAME_LENGTH = 500
_NAME = re.compile(r"^[/\w.\- :]*$")
_INTEGRAL = re.compile(r"^\s*[+-]?\d+\s*$")


def _whole(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


@contextlib.contextmanager
def as_mlflow_client() -> Iterator[None]:
    """Within the block, runs created or resumed belong to "an MLflow client" (see
    :data:`MLFLOW_OWNER`)."""
    with owners.acting_for(MLFLOW_OWNER, NO_HEARTBEAT_TIMEOUT_MS):
        yield


def _show(value: Any) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def bad_value(name: str, value: Any, hint: str = "") -> errors.MlflowError:
    """MLflow's message for a field of the wrong type or value."""
    extra = f": {hint}" if hint else "."
    return errors.invalid(f"Invalid value {_show(value)} for parameter '{name}' supplied{extra}")


def required(args: dict[str, Any], name: str, *aliases: str) -> Any:
    """A field that must be present and non-empty (``aliases``: older names of it)."""
    value = args.get(name)
    for alias in aliases:
        if value in (None, ""):
            value = args.get(alias)
    if value is None or value == "":
        raise errors.invalid(f"Missing value for required parameter '{name}'.{_SEE_DOCS}")
    return value


def string(args: dict[str, Any], name: str, *aliases: str, needed: bool = False) -> str | None:
    """A string field (``None`` when absent)."""
    value = required(args, name, *aliases) if needed else args.get(name)
    for alias in aliases:
        if value is None:
            value = args.get(alias)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_value(name, value, f"it must be a string.{_SEE_DOCS}")
    return value


def integer(args: dict[str, Any], name: str, default: int | None = None) -> int | None:
    """An integer field (a JSON number or a string holding one)."""
    value = args.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise bad_value(name, value, "it must be an integer.")
    if isinstance(value, int):
        result = value
    elif _INTEGRAL.match(str(value)) if isinstance(value, str) else _whole(value):
        result = int(value)
    else:
        raise bad_value(name, value, "it must be an integer.")
    if not -(2**63) <= result < 2**63:
        raise bad_value(name, value, "it does not fit in 64 bits.")
    return result


def double(args: dict[str, Any], name: str) -> float:
    """A required double field: a number, or a string holding one (``NaN``, ``Infinity``)."""
    value = required(args, name)
    if isinstance(value, bool):
        raise bad_value(name, value, "Please specify value as a valid double (64-bit float).")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)  # "NaN", "Infinity", "-Infinity", "1.5"
        except ValueError:
            pass
    raise bad_value(name, value, "Please specify value as a valid double (64-bit float).")


def string_list(args: dict[str, Any], name: str) -> list[str]:
    """A repeated string field (one value in a query string reads as one item)."""
    value = args.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_value(name, value, "it must be a list of strings.")
    return value


def view_type(args: dict[str, Any], name: str) -> str:
    """``ACTIVE_ONLY`` / ``DELETED_ONLY`` / ``ALL`` (names or 1/2/3) as Heron's view."""
    value = args.get(name)
    if value is None or value == "":
        return "active"
    views = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all"}
    numbers = {1: "active", 2: "deleted", 3: "all"}
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, str) and value in views:
        return views[value]
    if isinstance(value, int) and not isinstance(value, bool) and value in numbers:
        return numbers[value]
    raise bad_value(name, value, "use ACTIVE_ONLY, DELETED_ONLY or ALL.")


# --- MLflow's checks of keys and values ----------------------------------------------------
def check_name(kind: str, key: Any, path: str) -> str:
    """A metric, param or tag key as MLflow accepts it: letters, digits, ``_ - . : / `` and
    spaces, not resolving to another path, at most 250 characters."""
    if not isinstance(key, str) or key == "":
        raise errors.invalid(f"Missing value for required parameter '{path}'.")
    if not _NAME.match(key):
        raise bad_value(
            path,
            key,
            "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), "
            "spaces ( ), colon(:) and slashes (/).",
        )
    norm = posixpath.normpath(key)
    if norm != key or norm == "." or norm.startswith("..") or norm.startswith("/"):
        raise bad_value(
            path,
            key,
            "Names may be treated as files in certain cases, and must not resolve to other "
            f"names when treated as such. This name would resolve to {norm!r}",
        )
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise errors.invalid(
            f"'{kind} name' exceeds the maximum length of {MAX_ENTITY_KEY_LENGTH} characters"
        )
    return key


def check_length(what: str, value: str, limit: int) -> str:
    """MLflow's message for a value over its length limit."""
    if len(value) > limit:
        raise errors.invalid(f"'{what}' exceeds the maximum length of {limit} characters")
    return value


def metric_value(raw: Any, path: str) -> float:
    """A metric value of a batch (number, or protobuf's string forms)."""
    if isinstance(raw, bool) or raw is None:
        raise errors.invalid(f"Missing value for required parameter '{path}'.")
    if isinstance(raw, (int, float)):
        return float(raw)
    if isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            pass
        else:
            if raw.strip().lower() in ("nan", "infinity", "-infinity", "inf", "-inf") or (
                math.isfinite(value)
            ):
                return value
    raise bad_value(path, raw, "Please specify value as a valid double (64-bit float).")
