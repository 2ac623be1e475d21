"""Matching a request's method and path to a route, with the values of its ``{field}``
segments. Literal paths are one dictionary lookup; templated ones are tried in order, and
a literal segment wins over a template (``/runs/search`` before ``/runs/{run_id}``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")


class Router(Generic[T]):
    """Routes by ``(method, path template)``."""

    def __init__(self) -> None:
        self._literal: dict[tuple[str, str], T] = {}
        self._templated: list[tuple[str, tuple[str, ...], T]] = []
        self._paths: set[str] = set()

    def add(self, method: str, template: str, target: T) -> None:
        segments = tuple(template.strip("/").split("/"))
        self._paths.add(template)
        if any(s.startswith("{") for s in segments):
            self._templated.append((method, segments, target))
            # literal segments first: a template with fewer fields is the more specific one
            self._templated.sort(key=lambda r: sum(s.startswith("{") for s in r[1]))
        else:
            self._literal[(method, "/" + "/".join(segments))] = target

    def match(self, method: str, raw_path: str) -> tuple[T, dict[str, str]] | bool | None:
        """``(target, path values)``; ``False`` when the path exists for another method only;
        ``None`` when no route has this path. ``raw_path`` is still percent-encoded, so that
        an encoded ``/`` inside a value does not split it."""
        path = raw_path.rstrip("/") or "/"
        literal = self._literal.get((method, unquote(path)))
        if literal is not None:
            return literal, {}
        parts = path.strip("/").split("/")
        other_method = False
        for route_method, segments, target in self._templated:
            if len(segments) != len(parts):
                continue
            values = _bind(segments, parts)
            if values is None:
                continue
            if route_method == method:
                return target, values
            other_method = True
        if other_method or any(m != method and p == unquote(path) for m, p in self._literal):
            return False
        return None

    def templates(self) -> Iterable[str]:
        return sorted(self._paths)


def _bind(segments: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    values: dict[str, str] = {}
    for segment, part in zip(segments, parts):
        if segment.startswith("{"):
            if not part:
                return None
            values[segment[1:-1]] = unquote(part)
        elif segment != unquote(part):
            return None
    return values
