"""``heron server``: the team tracking server (see docs/server.md)."""

from __future__ import annotations

import click

from heron.cli.output import echo


@click.command()
@click.option(
    "--backend-store-uri",
    metavar="URI",
    help="The metadata database: sqlite:///path/heron.db or postgresql://user@host/db. "
    "Default: the local store (the tracking URI in force when it names a database, else the "
    "nearest .heron/ workspace, else ~/.heron).",
)
@click.option(
    "--artifacts-uri",
    metavar="URI",
    help="Where artifact bytes go: a folder or any fsspec URL (s3://bucket/heron, gs://…). "
    "Default: $HERON_ARTIFACT_URI, else the artifacts/ folder beside a SQLite database, "
    "else ~/.heron/artifacts.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 makes the server reachable from other machines.",
)
@click.option(
    "--port",
    "-p",
    default=5151,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: a free one).",
)
@click.option(
    "--workers",
    "-w",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes answering requests (about one per core).",
)
@click.option(
    "--max-body-mb",
    default=64.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Largest JSON request body taken (413 beyond); artifact uploads stream and are "
    "not limited by it.",
)
@click.option(
    "--reap-interval",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="How often to mark failed the running runs whose heartbeats stopped (0: never).",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="One JSON line per request on stderr.",
)
@click.option(
    "--auth",
    is_flag=True,
    help="Require sign-in (API tokens, passwords, dashboard sessions), check project roles on "
    "every route and keep the audit trail (see docs/security.md).",
)
@click.option(
    "--default-role",
    type=click.Choice(["none", "viewer", "editor"]),
    default="none",
    show_default=True,
    help="With --auth: the role every signed-in user has in projects they are not a member of.",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Serve on a non-loopback address without --auth (anyone who reaches it may read and "
    "change everything). Without this, such a start is refused.",
)
def server(
    backend_store_uri: str | None,
    artifacts_uri: str | None,
    host: str,
    port: int,
    workers: int,
    max_body_mb: float,
    reap_interval: float,
    access_log: bool,
    auth: bool,
    default_role: str,
    insecure_no_auth: bool,
) -> None:
    """Serve the tracking store to a team over HTTP until SIGTERM or Ctrl-C.

    Clients set HERON_TRACKING_URI=http://HOST:PORT and work as on the local store:
    tracking, pipelines, artifacts (proxied through the server unless the client sets
    HERON_ARTIFACT_URI to a store it can reach), the registry and every heron command.
    The REST API is under /api/v1 (OpenAPI at /docs), GET /health answers once the database
    does, GET /metrics is Prometheus text. MLflow clients log to the same data with
    MLFLOW_TRACKING_URI=http://HOST:PORT (MLflow's REST API under /api/2.0/mlflow, see
    docs/mlflow.md). Pending migrations are applied at start.

    With --auth, clients sign in with HERON_TRACKING_TOKEN (or MLFLOW_TRACKING_TOKEN, or a
    user name and password) and work in a project (HERON_PROJECT, or the tracking URI
    http://HOST:PORT/projects/NAME). A server bound to an address other machines reach is
    refused without --auth (or --insecure-no-auth).

    \b
      heron server
      heron server --auth --backend-store-uri postgresql://heron@db/heron \\
        --artifacts-uri s3://bucket/heron --host 0.0.0.0 --workers 4
    """
    _serve(
        backend_store_uri,
        artifacts_uri,
        host,
        port,
        workers,
        max_body_mb,
        reap_interval,
        access_log,
        open_browser=False,
        auth=auth,
        default_role=None if default_role == "none" else default_role,
        insecure_no_auth=insecure_no_auth,
    )


def _serve(
    backend_store_uri: str | None,
    artifacts_uri: str | None,
    host: str,
    port: int,
    workers: int,
    max_body_mb: float,
    reap_interval: float,
    access_log: bool,
    *,
    open_browser: bool,
    auth: bool = False,
    default_role: str | None = None,
    insecure_no_auth: bool = False,
) -> None:
    from heron.core import config, uris
    from heron.core.errors import ConfigError
    from heron.server import runner
    from heron.server.settings import ServerSettings
    from heron.serving.server import listen

    _check_exposure(host, auth, insecure_no_auth)
    if backend_store_uri is None:
        backend_store_uri = config.get_tracking_uri()
        if uris.tracking_uri_kind(backend_store_uri) == uris.HTTP:
            backend_store_uri = uris.sqlite_uri(config.default_workspace() / config.DB_FILE)
    backend_store_uri = config.normalize_tracking_uri(backend_store_uri)
    if uris.tracking_uri_kind(backend_store_uri) == uris.HTTP:
        raise ConfigError(
            f"--backend-store-uri {uris.redact(backend_store_uri)} is another server; give the "
            "database itself (sqlite:///… or postgresql://…)."
        )
    if artifacts_uri is None:
        artifacts_uri = config.get_artifact_uri(backend_store_uri)
    if "://" not in artifacts_uri:
        from pathlib import Path

        artifacts_uri = str(Path(artifacts_uri).expanduser().resolve())
    settings = ServerSettings(
        backend_store_uri=backend_store_uri,
        artifacts_uri=artifacts_uri,
        host=host,
        port=port,
        workers=workers,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        reap_interval=reap_interval,
        access_log=access_log,
        auth=auth,
        default_role=default_role,
    )
    before, after = runner.prepare(settings)
    if auth:
        _first_admin_hint(backend_store_uri)
    listener = listen(host, port)
    settings.port = listener.port
    migrated = f", migrated {before} -> {after}" if before and before != after else ""
    echo(
        f"Heron server on {listener.url} (store {uris.redact(backend_store_uri)}, artifacts "
        f"{artifacts_uri}{migrated}): {workers} worker{'s' if workers > 1 else ''}. "
        "Ctrl+C stops.",
        fg="green",
        err=True,
    )
    if open_browser:
        _open_browser(listener.url)
    runner.serve_forever(settings, listener.sock)


@click.command("ui")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=5151,
    show_default=True,
    help="Port to listen on (0: a free one).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--no-browser", is_flag=True, help="Do not open the dashboard in a browser.")
def ui(port: int, host: str, no_browser: bool) -> None:
    """Open the dashboard on the local store: `heron server` on 127.0.0.1, in the browser.

    \b
      heron ui
      heron ui --port 0 --no-browser
    """
    _serve(None, None, host, port, 1, 64.0, 10.0, False, open_browser=not no_browser)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any address
        return False


def _check_exposure(host: str, auth: bool, insecure_no_auth: bool) -> None:
    from heron.core.errors import ConfigError

    if auth or is_loopback(host):
        return
    if not insecure_no_auth:
        raise ConfigError(
            f"Refusing to serve on {host} without --auth: anyone who reaches that address could "
            "read and change every run, artifact and model. Add --auth (and create users: "
            "docs/security.md), bind to 127.0.0.1, or pass --insecure-no-auth if a proxy in "
            "front of the server does the authentication."
        )
    echo(
        f"WARNING: serving on {host} without authentication (--insecure-no-auth): anyone who "
        "reaches it may read and change everything.",
        fg="yellow",
        err=True,
    )


def _first_admin_hint(backend_store_uri: str) -> None:
    """On a server with --auth and no admin yet: how to make the first one."""
    from heron.core import uris
    from heron.store.sql.governance import GovernanceStore

    if GovernanceStore(backend_store_uri).count_admins():
        return
    echo(
        "Auth is on and this server has no admin yet. Create the first one on this machine:\n"
        f"  heron users create NAME --admin --tracking-uri {uris.redact(backend_store_uri)}\n"
        "then sign in (the dashboard's /login, or `heron tokens create` for an API token).",
        fg="yellow",
        err=True,
    )


def _open_browser(url: str) -> None:
    """Open ``url`` in the user's browser, when there is one to open (a desktop session)."""
    import os
    import sys
    import threading
    import webbrowser

    desktop = sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if not desktop:
        echo(f"Open {url} in a browser.", err=True)
        return
    threading.Timer(0.5, webbrowser.open, args=(url,)).start()
