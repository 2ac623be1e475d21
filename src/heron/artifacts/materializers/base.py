"""The materializer contract: turn a value into files in a folder, and back.

A materializer is a small class with a stable ``name``, a ``version`` (which enters the step
cache key) and the fully qualified ``types`` it handles, given as strings so that registering
one never imports the library it is for. ``save`` writes into a folder that already exists on
an fsspec file system and returns metadata (plain JSON values) for the artifact version;
``load`` reads that folder back.

>>> class Text(Materializer):
...     name, version, types = "example.text", "1", ("builtins.str",)
...     def save(self, obj, fs, path):
...         with fs.open(member(path, "text.txt"), "wb") as f:
...             f.write(obj.encode())
...         return {"type": self.type_name(obj), "chars": len(obj)}
...     def load(self, fs, path):
...         with fs.open(member(path, "text.txt"), "rb") as f:
...             return f.read().decode()
"""

from __future__ import annotations

import abc
import math
import os

from heron.core.errors import InvalidArgument

#: The entry point group third-party packages publish their materializers under.
ENTRY_POINT_GROUP = "heron.materializers"

_HOW_TO_REGISTER = (
    "subclass heron.artifacts.materializers.Materializer (name, version, types=({type!r},), "
    "save, load) and pass it to heron.artifacts.materializers.register_materializer, or "
    f"publish it under the {ENTRY_POINT_GROUP!r} entry point group"
)

# no `typing` at run time: importing it costs more than this package
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class MaterializerError(InvalidArgument):
    """A value cannot be stored (or read back) by the materializer chosen for it."""

    code = "MATERIALIZER_ERROR"


class Materializer(abc.ABC):
    """Turns values of some types into files in a folder and back.

    Subclasses set ``name`` (a stable id stored on artifact versions, such as ``"numpy"``),
    ``version`` (bump it when the files written change; it enters the step cache key) and
    ``types`` (fully qualified names, ``"module.QualName"`` as ``type(obj)`` reports them, of
    the types handled, subclasses included), and implement :meth:`save` and :meth:`load`.
    A public alias such as ``"pandas.DataFrame"`` also matches once its module is imported.
    Override :meth:`can_save` to refuse values of those types that would not come back equal.
    """

    name: str = ""
    version: str = "1"
    types: tuple[str, ...] = ()

    def can_save(self, obj: Any) -> bool:
        """Whether :meth:`save` stores ``obj`` so that :meth:`load` returns an equal value."""
        return True

    @abc.abstractmethod
    def save(self, obj: Any, fs: Any, path: str) -> dict[str, Any]:
        """Write ``obj`` into the existing folder ``path`` of the fsspec file system ``fs``.

        Returns metadata for the artifact version: a dict of plain JSON values (str, int,
        finite float, bool, None, lists and dicts of them) with at least ``"type"``.
        """

    @abc.abstractmethod
    def load(self, fs: Any, path: str) -> Any:
        """Read back the value that :meth:`save` wrote into the folder ``path``."""

    def type_name(self, obj: Any) -> str:
        """The fully qualified name of ``obj``'s type, e.g. ``"numpy.ndarray"``."""
        return type_name_of(type(obj))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} version={self.version!r}>"


def type_name_of(cls: type) -> str:
    """``"module.QualName"`` of a class, the form ``Materializer.types`` uses.

    >>> type_name_of(dict)
    'builtins.dict'
    """
    return f"{cls.__module__}.{cls.__qualname__}"


def how_to_register(type_name: str) -> str:
    """The sentence that tells a user how to add a materializer for ``type_name``."""
    return _HOW_TO_REGISTER.format(type=type_name)


def refusal(materializer: Materializer, obj: Any, takes: str) -> MaterializerError:
    """The error a materializer raises when asked (by an explicit choice) to save a value it
    does not take; ``takes`` says what it does take."""
    return MaterializerError(
        f"The {materializer.name!r} materializer cannot store this {type_name_of(type(obj))}: "
        f"it takes {takes}. Let Heron choose the materializer for this output, or choose "
        "another one (such as 'cloudpickle')."
    )


def member(path: str, filename: str) -> str:
    """The path of ``filename`` inside the folder ``path``.

    >>> member("/tmp/out/", "data.json")
    '/tmp/out/data.json'
    """
    return f"{path.rstrip('/')}/{filename}"


def local_path(fs: Any, path: str) -> str | None:
    """``path`` as an operating-system path when ``fs`` is the local file system, else None.

    Materializers use it to hand real files to libraries that are fastest with them
    (``numpy.save`` writes with ``tofile``, ``numpy.load`` memory-maps).
    """
    from fsspec.implementations.local import LocalFileSystem

    if not isinstance(fs, LocalFileSystem):
        return None
    if path.startswith("file://"):
        path = path[len("file://") :]
    return os.path.abspath(path)


def plain(value: Any) -> Any:
    """``value`` as a plain JSON value for metadata: numpy scalars become Python numbers,
    NaN and infinities become None, and anything else not JSON becomes its ``str``.

    >>> plain(float("nan")), plain(3), plain(object)
    (None, 3, "<class 'object'>")
    """
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            result = item()
        except (TypeError, ValueError):
            result = None
        if type(result) in (bool, int, float, str):
            return plain(result)
    for base in (bool, int, float, str):  # subclasses such as IntEnum
        if isinstance(value, base):
            return plain(base(value))
    return str(value)


def short_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)`` cut to ``limit`` characters (with an ellipsis when cut)."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not fail a save
        text = f"<{type_name_of(type(value))}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
