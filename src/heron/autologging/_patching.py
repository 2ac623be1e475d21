"""Replace methods of classes and put back exactly what was there.

A patch is recorded per ``(class, method name)`` with the object the class's own
``__dict__`` held: a plain function, or a descriptor that wraps one (scikit-learn's
``available_if``, which hides a method an instance cannot use), whose ``fn`` is wrapped in a
copy so that ``hasattr`` answers as before.
"""

from __future__ import annotations

import copy
import threading
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Wrap = Callable[[types.FunctionType], Callable[..., Any]]


@dataclass(frozen=True, slots=True)
class Patch:
    """``owner.name`` replaced; ``original`` is what ``owner.__dict__[name]`` held."""

    owner: type
    name: str
    original: Any


_patches: dict[tuple[type, str], Patch] = {}
_lock = threading.Lock()


def defining_classes(
    classes: Iterable[type], names: Iterable[str], keep: Callable[[type], bool]
) -> set[tuple[type, str]]:
    """``(class, name)`` for the class in each MRO that defines method ``name`` itself,
    when ``keep(class)`` says it is one to patch."""
    found = set()
    for cls in classes:
        for name in names:
            owner = next((k for k in cls.__mro__ if name in k.__dict__), None)
            if owner is not None and keep(owner):
                found.add((owner, name))
    return found


def _wrappable(attribute: Any) -> bool:
    if isinstance(attribute, types.FunctionType):
        return True
    return hasattr(type(attribute), "__get__") and isinstance(
        getattr(attribute, "fn", None), types.FunctionType
    )


def patch(owner: type, name: str, wrap: Wrap) -> bool:
    """Replace ``owner.name`` with ``wrap(function)``; ``False`` when it is patched already
    or is no function (a property, a classmethod, …)."""
    with _lock:
        if (owner, name) in _patches:
            return False
        original = owner.__dict__.get(name)
        if not _wrappable(original):
            return False
        if isinstance(original, types.FunctionType):
            replacement: Any = wrap(original)
        else:
            replacement = copy.copy(original)
            replacement.fn = wrap(original.fn)
        setattr(owner, name, replacement)
        _patches[(owner, name)] = Patch(owner, name, original)
        return True


def unpatch_all() -> int:
    """Put every original back; returns how many methods were restored."""
    with _lock:
        for p in _patches.values():
            setattr(p.owner, p.name, p.original)
        count = len(_patches)
        _patches.clear()
        return count


def patched() -> list[Patch]:
    """The patches in force."""
    with _lock:
        return list(_patches.values())
