"""What a step asks of the machine that runs it: ``@step(resources={"cpus": 2, "gpus": 1,
"memory": "4GB"})``.

``cpus`` and ``gpus`` are counts (fractions allowed, as Ray allows them), ``memory`` is bytes
(a number, or text such as ``"512MB"``, ``"4GiB"``), and any other name is a custom resource
that the engine's workers declare (Dask worker resources, Ray custom resources), as a count.
Orchestrators map them to their engine and refuse, before a pipeline starts, what no worker
could ever satisfy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from heron.core.errors import InvalidArgument

STANDARD = ("cpus", "gpus", "memory")

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,99}$")


def parse_memory(value: Any, owner: str = "memory") -> int:
    """Bytes from a number or text such as ``"512MB"``, ``"4GiB"``, ``"1.5g"``."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{owner}: {value!r} is not a size.")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        number, unit = float(match.group(1)), match.group(2).lower()
    else:
        number, unit = -1.0, ""
    if number < 0 or unit not in _UNITS:
        raise InvalidArgument(
            f"{owner}: {value!r} is not a size; give bytes or text such as '512MB', '4GB', '2GiB'."
        )
    return int(number * _UNITS[unit])


def normalize_resources(resources: Mapping[str, Any] | None, owner: str) -> dict[str, float]:
    """``resources`` checked, with ``memory`` in bytes and every value a number ≥ 0."""
    if resources is None:
        return {}
    if not isinstance(resources, Mapping):
        raise InvalidArgument(
            f"{owner}: resources is a mapping such as {{'cpus': 2, 'memory': '4GB'}}, not "
            f"{type(resources).__name__}."
        )
    out: dict[str, float] = {}
    for name, value in resources.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidArgument(
                f"{owner}: resource name {name!r} must be text of letters, digits, '_', '-', "
                "'.', ':' or '/'."
            )
        if name == "memory":
            out[name] = float(parse_memory(value, f"{owner}: resource 'memory'"))
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InvalidArgument(
                f"{owner}: resource {name!r} must be a number ≥ 0, not {value!r}."
            )
        out[name] = float(value)
    return out


def describe(resources: Mapping[str, float]) -> str:
    """``cpus=2, memory=4.0GB`` for messages."""
    parts = []
    for name, value in resources.items():
        if name == "memory":
            parts.append(f"memory={value / 1e9:.1f}GB")
        else:
            parts.append(f"{name}={value:g}")
    return ", ".join(parts) or "none"
