"""Which materializer stores a value: registration by name and type, and the choice.

Three sources register materializers, in increasing priority for the same type: the
built-ins, third-party packages through the ``heron.materializers`` entry point group (read
once, on the first look-up), and :func:`register_materializer` calls.

:func:`materializer_for` walks the value's type and its bases (the MRO), most specific first.
At each class it tries the materializers registered for that class's name, highest priority
(and, within one source, latest registered) first, and takes the first whose ``can_save``
accepts the value. When none does, cloudpickle stores the value with a warning naming its
type; when cloudpickle cannot either, :class:`MaterializerError` says how to register one.
"""

from __future__ import annotations

import itertools
import sys
import threading

from heron.artifacts.materializers.base import (
    ENTRY_POINT_GROUP,
    Materializer,
    MaterializerError,
    how_to_register,
    type_name_of,
)
from heron.core.errors import AlreadyExists, InvalidArgument, NotFound

# no `typing` at run time: importing it costs more than this package
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

LOGGER_NAME = "heron.artifacts.materializers"


def _logger() -> Any:
    import logging  # at first use: importing it costs more than this package

    return logging.getLogger(LOGGER_NAME)


FALLBACK = "cloudpickle"

# Priority of a registration's source: a user's call beats a plugin, which beats a built-in.
BUILTIN, PLUGIN, USER = 0, 1, 2


class _Entry:
    __slots__ = ("materializer", "rank")

    def __init__(self, materializer: Materializer, rank: tuple[int, int]) -> None:
        self.materializer = materializer
        self.rank = rank


class MaterializerRegistry:
    """Materializers by name and by type name, and the choice of one for a value.

    The module-level functions use one shared instance; tests may build their own with
    :meth:`with_builtins`.
    """

    def __init__(self, entry_points: Any = None) -> None:
        self._lock = threading.RLock()
        self._by_name: dict[str, _Entry] = {}
        self._by_type: dict[str, list[_Entry]] = {}
        self._order = itertools.count()
        # per concrete type: materializers to try, in order (cleared on every registration
        # and when new modules are imported, since aliases resolve through sys.modules)
        self._candidates: dict[type, tuple[Materializer, ...]] = {}
        self._modules_seen = 0
        self._entry_points = entry_points if entry_points is not None else _entry_points
        self._plugins_loaded = False
        self._plugins_loading = False

    @classmethod
    def with_builtins(cls, entry_points: Any = None) -> MaterializerRegistry:
        """A registry holding the built-in materializers (plugins load on first look-up)."""
        registry = cls(entry_points)
        for materializer in _builtins():
            registry.register(materializer, source=BUILTIN)
        return registry

    # --- registering ------------------------------------------------------------------
    def registered_by_user(self) -> list[Materializer]:
        """The materializers registered with :func:`register_materializer` (not built-ins or
        plugins), in the order they were registered."""
        with self._lock:
            entries = [e for e in self._by_name.values() if e.rank[0] == USER]
        return [e.materializer for e in sorted(entries, key=lambda e: e.rank)]

    def register(
        self,
        materializer: Materializer | type[Materializer],
        *,
        override: bool = False,
        source: int = USER,
    ) -> Materializer:
        """Add ``materializer`` (an instance or a subclass to instantiate); see
        :func:`register_materializer`."""
        instance = _instance(materializer)
        with self._lock:
            existing = self._by_name.get(instance.name)
            if existing is not None:
                same_class = type_name_of(type(existing.materializer)) == type_name_of(
                    type(instance)
                )
                if not (override or same_class):
                    raise AlreadyExists(
                        f"A materializer named {instance.name!r} is registered already "
                        f"({type_name_of(type(existing.materializer))}); give yours another "
                        "name, or pass override=True to replace it."
                    )
                self._remove(instance.name)
            entry = _Entry(instance, (source, next(self._order)))
            self._by_name[instance.name] = entry
            for type_name in instance.types:
                entries = self._by_type.setdefault(type_name, [])
                entries.append(entry)
                entries.sort(key=lambda e: e.rank, reverse=True)
            self._candidates = {}
        return instance

    def _remove(self, name: str) -> None:
        entry = self._by_name.pop(name)
        for type_name in entry.materializer.types:
            entries = self._by_type.get(type_name, [])
            if entry in entries:
                entries.remove(entry)
            if not entries:
                self._by_type.pop(type_name, None)

    def load_plugins(self) -> None:
        """Register the materializers of the ``heron.materializers`` entry point group, once.

        A plugin that fails to load, is not a materializer or reuses a taken name is logged
        and skipped: a broken package must not stop values from being stored.
        """
        if self._plugins_loaded:
            return
        with self._lock:  # other threads wait here until the plugins are in
            if self._plugins_loaded or self._plugins_loading:  # loading: a plugin's look-up
                return
            self._plugins_loading = True
            try:
                self._register_plugins()
            finally:
                self._plugins_loaded = True
                self._plugins_loading = False

    def _register_plugins(self) -> None:
        try:
            entry_points = list(self._entry_points())
        except Exception:
            _logger().warning(
                "could not list the %r entry points; no materializer plugins loaded",
                ENTRY_POINT_GROUP,
                exc_info=True,
            )
            return
        for entry_point in entry_points:
            label = f"{getattr(entry_point, 'name', '?')} = {getattr(entry_point, 'value', '?')}"
            try:
                self.register(entry_point.load(), source=PLUGIN)
            except Exception as e:
                _logger().warning(
                    "materializer plugin %r (entry point group %r) was skipped: %s: %s",
                    label,
                    ENTRY_POINT_GROUP,
                    type(e).__name__,
                    e,
                    exc_info=not isinstance(e, (AlreadyExists, InvalidArgument)),
                )

    # --- looking up -------------------------------------------------------------------
    def get(self, name: str) -> Materializer:
        """The materializer registered as ``name``; see :func:`get_materializer`."""
        self.load_plugins()
        entry = self._by_name.get(name)
        if entry is None:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise NotFound(
                f"No materializer named {name!r} (known: {known}). Install the package that "
                f"provides it (it registers under the {ENTRY_POINT_GROUP!r} entry point group) "
                "or register it with heron.artifacts.materializers.register_materializer."
            )
        return entry.materializer

    def all(self) -> list[Materializer]:
        """Every registered materializer, by name."""
        self.load_plugins()
        return [self._by_name[name].materializer for name in sorted(self._by_name)]

    def candidates(self, cls: type) -> tuple[Materializer, ...]:
        """The materializers registered for ``cls`` or its bases, in the order to try them."""
        if len(sys.modules) != self._modules_seen:
            self._candidates = {}
            self._modules_seen = len(sys.modules)
        found = self._candidates.get(cls)
        if found is None:
            found = self._candidates[cls] = self._compute_candidates(cls)
        return found

    def _compute_candidates(self, cls: type) -> tuple[Materializer, ...]:
        with self._lock:
            aliases: dict[type, list[_Entry]] = {}  # registered names that are not canonical
            for type_name, entries in self._by_type.items():
                target = _resolve_loaded(type_name)
                if target is not None and type_name_of(target) != type_name:
                    aliases.setdefault(target, []).extend(entries)
            ordered: list[Materializer] = []
            for base in cls.__mro__:
                entries = [*self._by_type.get(type_name_of(base), ()), *aliases.get(base, ())]
                entries.sort(key=lambda e: e.rank, reverse=True)
                for entry in entries:
                    if entry.materializer not in ordered:
                        ordered.append(entry.materializer)
            return tuple(ordered)

    def choose(self, obj: Any) -> Materializer:
        """The materializer to store ``obj`` with; see :func:`materializer_for`."""
        self.load_plugins()
        for materializer in self.candidates(type(obj)):
            if materializer.can_save(obj):
                return materializer
        return self._fallback(obj)

    def _fallback(self, obj: Any) -> Materializer:
        type_name = type_name_of(type(obj))
        fallback = self.get(FALLBACK)
        check = getattr(fallback, "check_picklable", None)
        if callable(check):
            try:
                check(obj)
            except MaterializerError as e:
                raise MaterializerError(
                    f"Cannot store a value of type {type_name}: no materializer handles it and "
                    f"cloudpickle cannot pickle it ({e.message}). To store it, "
                    f"{how_to_register(type_name)}."
                ) from e.__cause__
        elif not fallback.can_save(obj):
            raise MaterializerError(
                f"Cannot store a value of type {type_name}: no materializer handles it. "
                f"To store it, {how_to_register(type_name)}."
            )
        _logger().warning(
            "no materializer for %s; stored with cloudpickle, which may not load under other "
            "library versions — register one with "
            "heron.artifacts.materializers.register_materializer",
            type_name,
        )
        return fallback


def _instance(materializer: Any) -> Materializer:
    if isinstance(materializer, type) and issubclass(materializer, Materializer):
        materializer = materializer()
    if not isinstance(materializer, Materializer):
        raise InvalidArgument(
            f"{materializer!r} is not a materializer: register a subclass of "
            "heron.artifacts.materializers.Materializer (or an instance of one)."
        )
    name, version, types = materializer.name, materializer.version, materializer.types
    if not isinstance(name, str) or not name:
        raise InvalidArgument(
            f"{type_name_of(type(materializer))} has no name: set the class attribute "
            "`name` to a stable id such as 'mylib.format'."
        )
    if not isinstance(version, str) or not version:
        raise InvalidArgument(
            f"Materializer {name!r}: `version` must be a non-empty string such as '1'."
        )
    if isinstance(types, str) or not all(isinstance(t, str) and "." in t for t in types):
        raise InvalidArgument(
            f"Materializer {name!r}: `types` must be a tuple of fully qualified type names "
            f"such as ('numpy.ndarray',) or ('builtins.dict',), got {types!r}."
        )
    return materializer


def _resolve_loaded(type_name: str) -> type | None:
    """The class ``type_name`` names, looked up in modules imported already (never importing
    one, nor calling a module's ``__getattr__``), else None."""
    parts = type_name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:split]))
        if module is None:
            continue
        value: Any = module
        for attr in parts[split:]:
            value = getattr(value, "__dict__", {}).get(attr)
            if value is None:
                return None
        return value if isinstance(value, type) else None
    return None


def _entry_points() -> Any:
    from importlib.metadata import entry_points

    return entry_points(group=ENTRY_POINT_GROUP)


def _builtins() -> list[Materializer]:
    from heron.artifacts.materializers.arrow_tables import ArrowTableMaterializer
    from heron.artifacts.materializers.json_values import JsonMaterializer
    from heron.artifacts.materializers.numpy_arrays import (
        NumpyArrayMaterializer,
        NumpyScalarMaterializer,
    )
    from heron.artifacts.materializers.pandas_frames import PandasMaterializer
    from heron.artifacts.materializers.pickled import CloudpickleMaterializer
    from heron.artifacts.materializers.sklearn_estimators import SklearnMaterializer

    return [
        CloudpickleMaterializer(),
        JsonMaterializer(),
        NumpyArrayMaterializer(),
        NumpyScalarMaterializer(),
        PandasMaterializer(),
        ArrowTableMaterializer(),
        SklearnMaterializer(),
    ]


_registry = MaterializerRegistry.with_builtins()


def default_registry() -> MaterializerRegistry:
    """The registry the module-level functions use."""
    return _registry


def register_materializer(
    materializer: Materializer | type[Materializer], *, override: bool = False
) -> None:
    """Make ``materializer`` (an instance, or a subclass to instantiate) available.

    It is found by name (:func:`get_materializer`) and chosen for values of its ``types`` and
    their subclasses, ahead of built-ins and plugins for the same type. A name taken by
    another materializer raises :class:`~heron.core.errors.AlreadyExists` unless
    ``override=True`` (registering the same class again replaces it quietly).

    >>> from heron.artifacts.materializers import JsonMaterializer
    >>> class Config(JsonMaterializer):
    ...     name, types = "example.config", ("builtins.dict",)
    >>> register_materializer(Config)  # doctest: +SKIP
    """
    _registry.register(materializer, override=override)


def get_materializer(name: str) -> Materializer:
    """The materializer registered as ``name`` (plugins included), else
    :class:`~heron.core.errors.NotFound` listing the names known.

    >>> get_materializer("json").name
    'json'
    """
    return _registry.get(name)


def materializer_for(obj: Any) -> Materializer:
    """The materializer to store ``obj`` with.

    The most specific registered type in ``type(obj).__mro__`` wins, and at one type the
    most recent user registration, then plugins, then the built-in; a materializer whose
    ``can_save`` refuses the value is passed over. Values nothing accepts are pickled with
    cloudpickle (logging a warning that names the type); values cloudpickle cannot pickle
    raise :class:`MaterializerError` naming the type and how to register a materializer.

    >>> materializer_for({"a": [1, 2.5, None]}).name
    'json'
    """
    return _registry.choose(obj)


def list_materializers() -> list[Materializer]:
    """Every registered materializer (plugins included), sorted by name."""
    return _registry.all()
