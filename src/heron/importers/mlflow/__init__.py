"""``heron import`` of MLflow: experiments, runs, artifacts, logged models and the registry.

Sources (one module each, none imports mlflow): an MLflow file store (``mlruns/``,
:mod:`.files`), an MLflow database (SQLite or PostgreSQL, :mod:`.sql`), a running MLflow
server (its REST API, :mod:`.rest`). :func:`import_mlflow` writes what they yield through
Heron's ``Store`` and artifact store: idempotent (what exists is skipped) and resumable (an
interrupted import finishes when run again).

    from heron.importers.mlflow import import_mlflow, open_source
    summary = import_mlflow(open_source("sqlite:///mlflow.db", artifacts="./mlartifacts"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from heron.importers.mlflow.records import MlflowSource, SourceError
from heron.importers.mlflow.summary import NoProgress, Progress, Summary

if TYPE_CHECKING:
    from heron.store.base import Store

__all__ = ["MlflowSource", "SourceError", "Summary", "import_mlflow", "open_source"]


def open_source(uri: str, artifacts: str | None = None) -> MlflowSource:
    """The MLflow store ``uri`` names: ``http(s)://`` a server, ``sqlite:``/``postgresql:``
    (any SQLAlchemy URL) a database, else a file store folder (a path or ``file:`` URI).
    ``artifacts`` is where a database's artifact files are (``--artifacts``)."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("http", "https"):
        from heron.importers.mlflow.rest import RestSource

        return RestSource(uri)
    if scheme and scheme != "file":
        from heron.importers.mlflow.sql import SqlSource

        return SqlSource(uri, artifacts)
    from heron.importers.mlflow.files import FileSource, file_store_path

    path = file_store_path(uri)
    return FileSource(path if path is not None else uri)


def import_mlflow(
    source: MlflowSource,
    store: Store | None = None,
    *,
    progress: Progress | None = None,
) -> Summary:
    """Import everything ``source`` holds into ``store`` (default: the active tracking URI).

    ``source.check()`` runs first: a :class:`SourceError` there means nothing was written.
    A ``KeyboardInterrupt`` stops the import with ``summary.interrupted`` set (and is raised
    again); running it again continues where it stopped.
    """
    from heron.core import uris
    from heron.importers.mlflow.context import ImportContext
    from heron.importers.mlflow.models import import_logged_models, import_registry
    from heron.importers.mlflow.runs import import_experiments, import_runs
    from heron.tracking.run_artifacts import artifact_store_for

    source.check()
    if store is None:
        from heron.store.registry import get_store

        store = get_store()
    summary = Summary(source.label, uris.redact(store.uri))
    ctx = ImportContext(
        source=source,
        store=store,
        blobs=artifact_store_for(store),
        summary=summary,
        progress=progress or NoProgress(),
    )
    try:
        import_experiments(ctx)
        import_runs(ctx)
        import_logged_models(ctx)
        import_registry(ctx)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        _finish_quietly(ctx)
        source.close()
    return summary


def _finish_quietly(ctx: Any) -> None:
    """Delete again the experiments that must end deleted, also after an interruption (a
    failure here must not hide the one that stopped the import)."""
    from heron.importers.mlflow.runs import finish_experiments

    try:
        finish_experiments(ctx)
    except Exception:
        import logging

        logging.getLogger("heron.importers.mlflow").warning(
            "could not delete the experiments MLflow had deleted", exc_info=True
        )
