"""Starting ``heron server``: migrate the database, bind the socket, run uvicorn.

The database is brought to the schema of this release before anything listens (both SQLite
and PostgreSQL, as ``heron db upgrade`` does). One worker serves in this process; with
``workers > 1`` uvicorn's supervisor starts that many processes sharing the socket, each with
its own app (settings passed through the environment), and Prometheus samples are kept in a
temporary folder so that ``/metrics`` adds up every worker.

SIGTERM (and Ctrl-C) stops accepting connections, lets the requests in flight finish and
exits 0: uvicorn's graceful shutdown, bounded by :data:`GRACEFUL_SECONDS`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from typing import Any

from heron.server.settings import ENV, ServerSettings

GRACEFUL_SECONDS = 30


def prepare(settings: ServerSettings) -> tuple[str | None, str]:
    """Apply pending migrations to the backend store; ``(revision before, after)``."""
    from heron.core import uris
    from heron.store.sql.migrate import upgrade_database

    if uris.tracking_uri_kind(settings.backend_store_uri) == uris.SQLITE:
        path = uris.sqlite_path(settings.backend_store_uri)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    return upgrade_database(settings.backend_store_uri)


def uvicorn_options(settings: ServerSettings) -> dict[str, Any]:
    from heron.serving.server import uvicorn_options as scoring_options

    options = scoring_options()
    options.update(
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        timeout_keep_alive=75,  # longer than the clients' pool keeps idle connections
    )
    return options


def _exit_cleanly(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def serve_forever(settings: ServerSettings, sock: Any) -> None:
    """Serve on the bound socket ``sock`` until SIGTERM or Ctrl-C."""
    import uvicorn

    from heron.server.app import buffer_request_bodies, create_app, logging_setup
    from heron.serving.server import run_workers

    logging_setup(settings)
    buffer_request_bodies()
    options = uvicorn_options(settings)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler
    # it found in place: make that handler a clean exit, so a stopped server exits 0
    signal.signal(signal.SIGTERM, _exit_cleanly)
    if settings.workers == 1:
        app = create_app(settings)
        config = uvicorn.Config(app, **options)
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.Server(config).run(sockets=[sock])
        return
    metrics_dir = tempfile.mkdtemp(prefix="heron-server-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ[ENV] = settings.to_env()
    try:
        run_workers("heron.server.app:app_from_env", sock, settings.workers, options)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
