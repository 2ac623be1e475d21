"""Running the scoring app under uvicorn: one process, or ``workers`` processes.

``heron serve`` resolves the model aside (:func:`heron.serving.loading.resolve_aside`) while
:func:`warm_up` imports the serving stack, binds the listening socket with :func:`listen` (so
that a taken port is an error with a message, and ``--port 0`` gets a free port), loads the
model and runs :func:`serve_forever`.

uvicorn runs with httptools and uvloop (dependencies of Heron; where one is missing, uvicorn's
h11 and asyncio, about a third slower), without access log, at log level warning.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from heron.core.errors import ConfigError
from heron.serving.settings import ENV, ServeSettings

if TYPE_CHECKING:
    from heron.models.model import Model


@dataclass(slots=True)
class Listener:
    """The bound socket and the address it answers on."""

    sock: socket.socket
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


#: connections the kernel queues before the server accepts them
BACKLOG = 2048


def listen(host: str, port: int) -> Listener:
    """A socket listening on ``host:port`` (port 0: a free one); :class:`ConfigError` if
    taken. It listens at once, so connections made from then on wait in the backlog until
    the model is loaded, rather than being refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as e:
        sock.close()
        raise ConfigError(
            f"Cannot listen on {host}:{port}: {e.strerror or e}. Choose another --port (or "
            "--port 0 for a free one), or stop what uses it."
        ) from None
    return Listener(sock, host, sock.getsockname()[1])


def warm_up() -> None:
    """Import what serving needs (meant to run while the model URI resolves aside)."""
    import importlib

    options = uvicorn_options()
    modules = ["numpy", "uvicorn", "heron.serving.app", "heron.artifacts.loading"]
    modules.append(
        "uvicorn.protocols.http.httptools_impl"
        if options["http"] == "httptools"
        else "uvicorn.protocols.http.h11_impl"
    )
    if options["loop"] == "uvloop":
        modules.append("uvloop")
    for module in modules:
        with contextlib.suppress(ImportError):  # the real use then says what is missing
            importlib.import_module(module)


def uvicorn_options() -> dict[str, Any]:
    """The uvicorn settings of every scoring server: fastest HTTP parser and loop installed,
    no access log, warnings only."""
    return {
        "http": "httptools" if _installed("httptools") else "h11",
        "loop": "uvloop" if _installed("uvloop") else "asyncio",
        "access_log": False,
        "log_level": "warning",
        "lifespan": "off",
        "server_header": False,
        "timeout_keep_alive": 30,
    }


def serve_forever(settings: ServeSettings, listener: Listener, model: Model | None = None) -> None:
    """Serve until interrupted: ``model`` (loaded here when not given) in this process when
    ``settings.workers == 1``, else ``workers`` uvicorn worker processes that each load it."""
    import uvicorn

    options = uvicorn_options()
    if settings.workers == 1:
        from heron.serving.app import create_app
        from heron.serving.loading import load_served_model

        app = create_app(model or load_served_model(settings), settings)
        config = uvicorn.Config(app, host=listener.host, port=listener.port, **options)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                uvicorn.Server(config).run(sockets=[listener.sock])
        finally:
            app.service.close()
        return
    # uvicorn starts the workers from an import string; they read the settings (the model
    # resolved) from the environment and share the listening socket, passed by descriptor.
    os.environ[ENV] = replace(settings, port=listener.port).to_env()
    run_workers("heron.serving.app:app_from_env", listener.sock, settings.workers, options)


def run_workers(factory: str, sock: Any, workers: int, options: dict[str, Any]) -> None:
    """Serve the app made by the factory at import string ``factory`` from ``workers``
    uvicorn processes sharing the bound TCP socket ``sock``.

    Not ``uvicorn.run(fd=...)``: uvicorn rebuilds a socket passed by descriptor as a Unix
    socket, and the event loop then leaves Nagle's algorithm on for every connection, which
    with the client's delayed ACKs costs each small request about 40 ms."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(factory, factory=True, workers=workers, **options)
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[sock]).run()


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
