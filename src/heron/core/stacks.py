"""The record of a stack (DESIGN §1): a named configuration of where things run and are kept.

A stack names a tracking URI, an artifact URI, an orchestrator with its options and a default
parallelism; switching stacks never changes pipeline code. Plain data like
:mod:`heron.core.entities`: the store keeps stacks, :mod:`heron.stacks` checks and applies
them. Times are milliseconds since the epoch (UTC).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from heron.core import uris
from heron.core.errors import ConfigError, InvalidArgument

#: the orchestrators a stack may name (heron.orchestrators has their classes)
ORCHESTRATOR_NAMES = ("local", "dask", "ray")
#: the stack in force when none is chosen: the embedded store, steps run locally
DEFAULT_STACK = "default"
#: what a stack definition holds besides its name and times
STACK_FIELDS = (
    "tracking_uri",
    "artifact_uri",
    "orchestrator",
    "orchestrator_options",
    "parallelism",
    "description",
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class Stack:
    """A named configuration: ``tracking_uri`` and ``artifact_uri`` (``None``: as they would
    be without a stack), ``orchestrator`` with its ``orchestrator_options`` (Dask and Ray:
    ``address``, ...), and the default ``parallelism`` of pipeline runs (``None``: the
    orchestrator's default)."""

    name: str
    tracking_uri: str | None = None
    artifact_uri: str | None = None
    orchestrator: str = "local"
    orchestrator_options: dict[str, Any] = field(default_factory=dict)
    parallelism: int | None = None
    description: str = ""
    created_at: int = 0
    updated_at: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def definition(self) -> dict[str, Any]:
        """The fields a user sets (no name, no times)."""
        return {k: getattr(self, k) for k in STACK_FIELDS}


def check_stack_name(name: object) -> str:
    """A stack name: 1 to 64 letters, digits, ``_``, ``.`` or ``-``, starting with a letter
    or digit."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgument(
            f"Invalid stack name {name!r}: use 1 to 64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit."
        )
    return name


def check_stack_values(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (some of :data:`STACK_FIELDS`) checked and normalized; unknown fields and
    bad values are :class:`InvalidArgument` (a tracking URI of an unknown kind:
    :class:`ConfigError`)."""
    unknown = set(values) - set(STACK_FIELDS)
    if unknown:
        raise InvalidArgument(
            f"A stack has no field(s) {sorted(unknown)}; its fields are {', '.join(STACK_FIELDS)}."
        )
    out = dict(values)
    for key in ("tracking_uri", "artifact_uri"):
        value = out.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise InvalidArgument(f"The stack's {key} must be a URI, not {value!r}.")
        out[key] = value.strip()
    if out.get("tracking_uri") is not None:
        tracking = out["tracking_uri"]
        if "://" not in tracking:
            raise ConfigError(
                f"The stack's tracking URI {tracking!r} is not a URI: use sqlite:///path/heron.db, "
                "postgresql://… or http(s)://host:port."
            )
        uris.tracking_uri_kind(tracking)
    if "orchestrator" in out:
        name = out["orchestrator"]
        if name not in ORCHESTRATOR_NAMES:
            raise InvalidArgument(
                f"Unknown orchestrator {name!r}: a stack uses one of "
                f"{', '.join(ORCHESTRATOR_NAMES)}."
            )
    if "orchestrator_options" in out:
        options = out["orchestrator_options"] or {}
        if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
            raise InvalidArgument(
                f"Orchestrator options are a mapping of names to values, not {options!r}."
            )
        try:
            json.dumps(options)
        except (TypeError, ValueError):
            raise InvalidArgument(
                "Orchestrator options must be JSON values (text, numbers, lists, mappings)."
            ) from None
        out["orchestrator_options"] = dict(options)
    parallelism = out.get("parallelism")
    if parallelism is not None and (
        isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1
    ):
        raise InvalidArgument(f"A stack's parallelism is an integer ≥ 1, not {parallelism!r}.")
    description = out.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 1000):
        raise InvalidArgument("A stack's description is text of at most 1000 characters.")
    return out
