"""The served model: resolved against the metadata store aside, loaded without it.

``heron serve`` resolves the model URI (``models:/iris@champion`` -> an artifact version) in
a forked child process (:func:`resolve_aside`), while the serving process imports what
serving needs; the serving process (and each ``--workers`` process) then loads that artifact
version with :func:`load_served_model` without opening the metadata database: no SQLAlchemy
in the serving process, a faster start on two cores, and all workers serve the same version
even if the alias moves meanwhile.

Loading keeps pandas out: scikit-learn imports pandas when it is installed
(``sklearn.utils.fixes``), and pandas 3 imports pyarrow, about 60 MB per server process spent
on a reference scikit-learn never uses to predict. The model is loaded with ``pandas`` kept
out (scikit-learn then takes it for absent, which changes nothing for ``predict``) and let in
again right after: a model that takes DataFrames imports it at once, a request that needs one
(Parquet, a table without a signature) at first use. A model whose loading needs pandas
itself (a pickled DataFrame inside it) is loaded again with pandas.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from heron.core.errors import HeronError
from heron.serving.settings import ServeSettings

if TYPE_CHECKING:
    from heron.models.model import Model

logger = logging.getLogger("heron.serving")

#: top-level modules kept out while the model loads
DEFERRED = ("pandas",)


def resolve_served_model(settings: ServeSettings) -> ServeSettings:
    """``settings`` with the artifact (and registry version) ``model_uri`` names (an artifact
    that holds data, not a model, is an error here rather than in the serving process)."""
    from heron.core import uris
    from heron.core.errors import NotFound
    from heron.models.model import check_model_artifact
    from heron.models.uris import resolve
    from heron.store.registry import get_store

    uri = settings.tracking_uri
    if uri and uris.tracking_uri_kind(uri) == uris.SQLITE:
        database = uris.sqlite_path(uri)
        if database is not None and not database.exists():
            raise NotFound(
                f"There is no metadata database at {database}, so no model to serve. Check "
                "--tracking-uri (or run heron serve in the folder of your workspace)."
            )
    resolved = resolve(get_store(uri), settings.model_uri)
    check_model_artifact(resolved.artifact)
    version = resolved.model_version
    return replace(
        settings,
        artifact=resolved.artifact.to_dict(),
        registered_name=version.name if version else None,
        registered_version=version.version if version else None,
    )


def resolve_aside(settings: ServeSettings) -> Callable[[], ServeSettings]:
    """Start :func:`resolve_served_model` in a forked child; the function returned waits for
    its answer (and raises its error). Resolves at once, here, where forking is unsafe or
    pointless: no ``fork``, threads running, or a metadata store already open here."""
    if not hasattr(os, "fork") or threading.active_count() > 1 or "sqlalchemy" in sys.modules:
        resolved = resolve_served_model(settings)
        return lambda: resolved
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: resolve, write the answer, leave without any clean-up
        try:
            os.close(read_end)
            with os.fdopen(write_end, "wb") as out:
                out.write(_resolved_or_error(settings))
        finally:
            os._exit(0)
    os.close(write_end)

    def wait() -> ServeSettings:
        with os.fdopen(read_end, "rb") as answer:
            data = answer.read()
        os.waitpid(pid, 0)
        if not data:
            raise HeronError("Resolving the model URI failed: the resolving process died.")
        result = json.loads(data)
        if "error" in result:
            raise _error_from(result["error"])
        return ServeSettings(**result["settings"])

    return wait


def _resolved_or_error(settings: ServeSettings) -> bytes:
    try:
        result: dict[str, Any] = {"settings": asdict(resolve_served_model(settings))}
    except HeronError as e:
        result = {"error": {"type": type(e).__name__, "code": e.code, "message": e.message}}
    except Exception as e:
        result = {"error": {"type": None, "code": None, "message": f"{type(e).__name__}: {e}"}}
    return json.dumps(result, default=str).encode()


def _error_from(error: dict[str, Any]) -> HeronError:
    from heron.core import errors

    cls = getattr(errors, error.get("type") or "", None)
    if isinstance(cls, type) and issubclass(cls, HeronError):
        return cls(error["message"])
    return HeronError(f"Resolving the model URI failed: {error['message']}")


def model_summary(settings: ServeSettings) -> dict[str, Any]:
    """The flavor, class and signature of a resolved model, read from the facts ``log_model``
    recorded (a step output that is an estimator has none: its flavor is known once loaded)."""
    from heron.models.signature import Signature

    artifact, facts = _artifact_and_facts(settings)
    flavor = facts.get("flavor")
    if not flavor:  # a step output: a scikit-learn estimator has its own materializer
        flavor = "sklearn" if str(artifact.get("materializer")).startswith("sklearn") else "model"
    return {
        "flavor": flavor,
        "class": str(facts.get("class") or artifact.get("type") or "").rpartition(".")[2],
        "signature": Signature.from_dict(facts.get("signature")),
    }


def _artifact_and_facts(settings: ServeSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The resolved artifact (as a dict) and the model facts ``log_model`` recorded on it."""
    artifact = settings.artifact or {}
    return artifact, (artifact.get("metadata") or {}).get("model") or {}


def load_served_model(settings: ServeSettings) -> Model:
    """The model of resolved ``settings`` (see the module doc); settings not resolved yet
    are resolved here."""
    if settings.artifact is None:
        settings = resolve_served_model(settings)
    try:
        with imports_deferred() if _pandas_can_wait(settings) else contextlib.nullcontext():
            model = _load(settings)
    except ImportError as e:
        if not any(top in str(e) for top in DEFERRED):
            raise
        logger.debug("loading %s needs pandas: %s", settings.model_uri, e)
        model = _load(settings)
    if model.needs_dataframe:  # import pandas now rather than in the first request (if it
        with contextlib.suppress(ImportError):  # is missing, that request says so)
            import pandas  # noqa: F401
    return model


def _pandas_can_wait(settings: ServeSettings) -> bool:
    """Only plain scikit-learn models load with pandas kept out: other libraries (LightGBM,
    XGBoost, user code) decide at import whether pandas is there, once and for good."""
    artifact, facts = _artifact_and_facts(settings)
    cls = str(facts.get("class") or artifact.get("type") or "")
    libraries = facts.get("libraries") or {}
    return (
        cls.startswith("sklearn.")
        and facts.get("flavor", "sklearn") == "sklearn"
        and not {"lightgbm", "xgboost"} & set(libraries)
    )


def _load(settings: ServeSettings) -> Model:
    from heron.core.entities import ArtifactVersion
    from heron.models.mlmodel import load_artifact_impl
    from heron.models.model import Model

    artifact = ArtifactVersion(**settings.artifact)  # type: ignore[arg-type]
    return Model(
        load_artifact_impl(artifact),
        artifact,
        settings.model_uri,
        registered_name=settings.registered_name,
        registered_version=settings.registered_version,
    )


class _Deferred(importlib.abc.MetaPathFinder):
    """Makes ``import <top>`` fail, for the modules named, while installed."""

    def __init__(self, tops: tuple[str, ...]) -> None:
        self.tops = tops

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in self.tops:
            raise ImportError(f"{name} is not imported while the served model loads")
        return None


@contextlib.contextmanager
def imports_deferred(tops: tuple[str, ...] = DEFERRED) -> Iterator[None]:
    """Within the block, importing ``tops`` (not imported yet) raises ImportError."""
    tops = tuple(t for t in tops if t not in sys.modules)
    if not tops:
        yield
        return
    finder = _Deferred(tops)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
