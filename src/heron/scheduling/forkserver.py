"""A fork server for scheduled runs: ``python -m heron.scheduling.forkserver``.

Starting a fresh interpreter and importing Heron's pipeline and store modules costs about half
a second per run; this process imports them once and forks a child per run, so a run starts
in milliseconds. Each child still is a process of its own (in a session of its own, with its
output in its log file): a crashing pipeline takes only itself down.

The protocol is JSON lines. On stdin: ``{"spec": ..., "env": {...}, "log": path, "cwd":
path}``, one per run to start. On stdout: ``{"started": pid}`` (or ``{"error": text}``) for
each request, in order, and ``{"exit": pid, "code": n}`` whenever a child ends. The server
is single-threaded (forking a process with threads is unsafe) and ends when its stdin closes;
children still running then go on by themselves.
"""

from __future__ import annotations

import os
import selectors
import signal
import sys
from typing import Any

import orjson

# what every scheduled run needs, imported before the first fork
PRELOAD = (
    "heron.pipelines.pipeline",
    "heron.pipelines.runner",
    "heron.pipelines.loader",
    "heron.store.sql.store",
    "heron.store.registry",
    "heron.execution.executor",
    "heron.tracking.fluent",
    "heron.scheduling.child",
    "heron.scheduling.context",
    "heron.orchestrators.local",
    "heron.artifacts.store",
    "heron.artifacts.materializers",
    "fsspec.implementations.local",
    "sqlite3",
    "zoneinfo",
    "concurrent.futures.thread",
)


def _warm_up() -> None:
    """Run a two-step pipeline once on a throw-away store, so that what every run does the
    first time (SQL compilation, materializer and file-system set-up) is done before the
    forks: a run's first step then costs what later ones do. Everything it opened is closed
    again, and no thread is left running (forking a process with threads is unsafe)."""
    import shutil
    import tempfile
    import threading

    from heron.core import config
    from heron.pipelines.pipeline import pipeline
    from heron.pipelines.step import step
    from heron.store import log_buffer, registry
    from heron.store.registry import get_store

    @step
    def numbers(n: int) -> list:
        return list(range(n))

    @step
    def added(xs: list) -> int:
        return sum(xs)

    @pipeline
    def warm_up(n: int = 3) -> None:
        added(numbers(n))

    folder = tempfile.mkdtemp(prefix="heron-forkserver-")
    home = os.environ.get("HERON_HOME")
    os.environ["HERON_HOME"] = folder
    try:
        config.set_tracking_uri(f"sqlite:///{folder}/warm-up.db")
        config.set_artifact_uri(f"{folder}/artifacts")
        warm_up.with_options(cache=False)()
        log_buffer.close_all()
        get_store().engine.dispose()  # closes its connections: none may cross a fork
    finally:
        registry.forget_stores()
        config.set_tracking_uri(None)
        config.set_artifact_uri(None)
        if home is None:
            os.environ.pop("HERON_HOME", None)
        else:
            os.environ["HERON_HOME"] = home
        shutil.rmtree(folder, ignore_errors=True)
    if threading.active_count() != 1:
        raise RuntimeError(f"threads left running: {threading.enumerate()}")


def _child(request: dict[str, Any], inherited: list[Any]) -> int:
    """In the forked child: become the run's process and run it."""
    os.setsid()
    signal.set_wakeup_fd(-1)
    for thing in inherited:  # the server's selector and wake-up pipe
        thing.close() if hasattr(thing, "close") else os.close(thing)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    if request["cwd"] not in sys.path:
        sys.path.insert(0, request["cwd"])
    from heron.scheduling.child import run_spec

    try:
        return run_spec(request["spec"])
    except BaseException as e:  # whatever happens, the child exits here
        import traceback

        traceback.print_exception(e)
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _write(message: dict[str, Any]) -> None:
    os.write(1, orjson.dumps(message) + b"\n")


def _reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _write({"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def serve() -> None:
    import importlib

    for module in PRELOAD:
        importlib.import_module(module)
    try:
        _warm_up()
    except Exception as e:  # only slower without it; say so in the scheduler's log
        print(f"heron fork server: warm-up skipped ({type(e).__name__}: {e})", file=sys.stderr)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the scheduler decides when this ends
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ, "request")
    selector.register(wake_read, selectors.EVENT_READ, "child")
    pending = b""
    _write({"ready": os.getpid()})
    while True:
        for key, _mask in selector.select():
            if key.data == "child":
                os.read(wake_read, 4096)
                _reap()
                continue
            chunk = os.read(0, 1 << 16)
            if not chunk:
                _reap()
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                try:
                    request = orjson.loads(line)
                    pid = os.fork()
                except (OSError, ValueError) as e:
                    _write({"error": f"{type(e).__name__}: {e}"})
                    continue
                if pid == 0:
                    os._exit(_child(request, [selector, wake_read, wake_write]))
                _write({"started": pid})
        _reap()


if __name__ == "__main__":
    serve()
