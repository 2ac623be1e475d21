"""Finding a pipeline by reference: ``package.module:name`` or ``path/to/file.py:name``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path

from heron.core.errors import InvalidArgument, NotFound
from heron.execution.plan import FILE_MODULE_PREFIX
from heron.pipelines.pipeline import Pipeline


def load_pipeline(reference: str) -> Pipeline:
    """Import the pipeline ``reference`` names; a file or module alone (no ``:name``) names
    the one pipeline it defines.

    >>> load_pipeline("examples/iris_pipeline.py:training")  # doctest: +SKIP
    """
    target, _, name = complete_reference(reference).rpartition(":")
    module = _import(target)
    obj = module
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise NotFound(f"{target} has no attribute {name!r}.")
    if not isinstance(obj, Pipeline):
        raise InvalidArgument(
            f"{reference} is a {type(obj).__name__}, not a pipeline: decorate it with @pipeline."
        )
    return obj


def complete_reference(reference: str) -> str:
    """``reference`` with its ``:name`` part: as given when it has one, else the name of the
    one pipeline the file (or module) defines. Several pipelines, or none, are an
    :class:`AmbiguousReference` error that lists them."""
    target, sep, name = reference.rpartition(":")
    if sep and target and name:
        return reference
    if sep or not reference:
        raise InvalidArgument(
            f"{reference!r} is not a pipeline reference: write path/to/file.py:pipeline_name "
            "or package.module:pipeline_name."
        )
    found = pipelines_in(reference)
    if len(found) == 1:
        return f"{reference}:{next(iter(found))}"
    if not found:
        raise AmbiguousReference(
            f"{reference} defines no pipeline (a function decorated with @pipeline); name one "
            f"as {reference}:pipeline_name.",
            [],
        )
    names = ", ".join(found)
    raise AmbiguousReference(
        f"{reference} defines {len(found)} pipelines: {names}. Name one: "
        f"{reference}:{next(iter(found))}.",
        list(found),
    )


def pipelines_in(target: str) -> dict[str, Pipeline]:
    """The pipelines a file or module defines, by attribute name, in definition order; those
    it only imports count when it defines none itself."""
    module = _import(target)
    everything: dict[str, Pipeline] = {}
    for attribute, value in vars(module).items():
        if isinstance(value, Pipeline) and value not in everything.values():
            everything[attribute] = value
    own = {a: p for a, p in everything.items() if p.fn.__module__ == module.__name__}
    return own or everything


class AmbiguousReference(InvalidArgument):
    """A pipeline reference without ``:name`` whose file defines several pipelines or none;
    ``names`` lists the ones it defines."""

    def __init__(self, message: str, names: list[str]) -> None:
        super().__init__(message)
        self.names = names


def import_from_working_directory() -> None:
    """Let ``module.path:pipeline`` references import from the working directory, as
    ``python -m`` does (a console script does not add it by itself)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def absolute_reference(reference: str) -> str:
    """``reference`` with a file made absolute, so that it loads again from another folder
    (`heron runs resume`, a scheduler started elsewhere)."""
    path, _, name = reference.rpartition(":")
    if path.endswith(".py"):
        return f"{Path(path).expanduser().resolve()}:{name}"
    return reference


def _import(target: str):  # type: ignore[no-untyped-def]
    return _import_file(Path(target)) if target.endswith(".py") else _import_module(target)


def _import_module(name: str):  # type: ignore[no-untyped-def]
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise NotFound(f"Cannot import module {name!r}: {e}.") from e


def _import_file(path: Path):  # type: ignore[no-untyped-def]
    path = path.expanduser().resolve()
    if not path.is_file():
        raise NotFound(f"No Python file at {path}.")
    # A stable module name per file, so that re-imports in one process reuse the module.
    module_name = FILE_MODULE_PREFIX + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the file's own imports of its neighbours work
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module
