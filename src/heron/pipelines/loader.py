"""Finding a pipeline by reference: ``package.module:name`` or ``path/to/file.py:name``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from heron.core.errors import InvalidArgument, NotFound
from heron.execution.plan import FILE_MODULE_PREFIX
from heron.pipelines.pipeline import Pipeline


def load_pipeline(reference: str) -> Pipeline:
    """Import the pipeline ``reference`` names.

    >>> load_pipeline("examples/iris_pipeline.py:training")  # doctest: +SKIP
    """
    target, sep, name = reference.rpartition(":")
    if not sep or not target or not name:
        raise InvalidArgument(
            f"{reference!r} is not a pipeline reference: write path/to/file.py:pipeline_name "
            "or package.module:pipeline_name."
        )
    module = _import_file(Path(target)) if target.endswith(".py") else _import_module(target)
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
