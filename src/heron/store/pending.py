"""Batches a client could not send because the server was away, kept on local disk.

One file per batch under ``$HERON_HOME/pending/<host>_<port>/`` (the server's folder, named as
the artifact cache names it), ``<time_ns>-<request_id>.json``, so that sorting the names gives
the order they were written in. Each is written atomically (temp file, fsync, rename) and
holds the tracking URI, run id, request id and the batch. :func:`sync` sends them in order,
each with its request id (the server applies a request id once, so sending one again never
doubles a point) and deletes a file only after the server took it; ``heron sync`` calls it.
A batch the server refuses (or a file that cannot be read) is moved to ``rejected/`` with
the error beside it, never retried forever nor silently deleted.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from heron.core import config
from heron.core.errors import InvalidState, StoreUnavailable

REJECTED = "rejected"
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_clock_lock = threading.Lock()
_last_ns = 0


class PendingDataWarning(UserWarning):
    """Logged data could not reach the server and is kept on disk for ``heron sync``."""


def pending_root() -> Path:
    return config.heron_home() / "pending"


def server_name(uri: str) -> str:
    """``host_port`` of an http(s) URI (as the artifact cache names a server's folder)."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname or 'server'}_{port}"
    import hashlib

    return "store_" + hashlib.sha256(uri.encode()).hexdigest()[:16]


def folder_for(uri: str) -> Path:
    return pending_root() / server_name(uri)


def _wire(value: float) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return value


def _read_float(value: Any) -> float:
    return _NON_FINITE[value] if isinstance(value, str) else value


@dataclass
class PendingBatch:
    """One batch kept on disk."""

    path: Path
    tracking_uri: str
    run_id: str
    request_id: str
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)
    params: dict[str, str] | None = None
    tags: dict[str, str] | None = None
    status: str | None = None
    status_reason: str | None = None
    links: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def points(self) -> int:
        return len(self.metrics)


class CorruptBatch(Exception):
    """A pending file that cannot be read as a batch."""


def _next_ns() -> int:
    global _last_ns
    with _clock_lock:
        _last_ns = max(time.time_ns(), _last_ns + 1)
        return _last_ns


def write_batch(
    uri: str,
    run_id: str,
    request_id: str,
    metrics: Sequence[Sequence[Any]] = (),
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    status: str | None = None,
    status_reason: str | None = None,
    links: Sequence[Sequence[str]] = (),
) -> Path:
    """Keep one batch on disk (atomically); its path."""
    folder = folder_for(uri)
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "tracking_uri": uri,
        "run_id": run_id,
        "request_id": request_id,
        "metrics": [[m[0], _wire(m[1]), m[2], m[3]] for m in metrics],
        "params": params or None,
        "tags": tags or None,
        "status": status,
        "status_reason": status_reason,
        "links": [list(link) for link in links],
    }
    body = orjson.dumps(data)
    path = folder / f"{_next_ns():020d}-{request_id}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _suppress():
            os.unlink(tmp)
        raise
    return path


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)


def read_batch(path: Path) -> PendingBatch:
    """The batch of ``path`` (:class:`CorruptBatch` when it is not one;
    FileNotFoundError when it is gone)."""
    raw = path.read_bytes()
    try:
        d = orjson.loads(raw)
        return PendingBatch(
            path=path,
            tracking_uri=str(d["tracking_uri"]),
            run_id=str(d["run_id"]),
            request_id=str(d["request_id"]),
            metrics=[(str(k), _read_float(v), int(s), int(t)) for k, v, s, t in d["metrics"]],
            params=d.get("params") or None,
            tags=d.get("tags") or None,
            status=d.get("status"),
            status_reason=d.get("status_reason"),
            links=[(str(a), str(b), str(c)) for a, b, c in d.get("links") or ()],
        )
    except Exception as e:
        raise CorruptBatch(f"{path} is not a pending batch: {type(e).__name__}: {e}") from None


def batch_files(uri: str | None = None) -> list[Path]:
    """The pending files of ``uri``'s server (of every server without it), oldest first."""
    folders = [folder_for(uri)] if uri is not None else _server_folders()
    files: list[Path] = []
    for folder in folders:
        try:
            files.extend(
                p
                for p in folder.iterdir()
                if p.suffix == ".json" and p.is_file() and not p.name.startswith(".")
            )
        except FileNotFoundError:
            continue
    return sorted(files, key=lambda p: p.name)


def _server_folders() -> list[Path]:
    try:
        return sorted(p for p in pending_root().iterdir() if p.is_dir())
    except FileNotFoundError:
        return []


def list_batches(uri: str | None = None) -> tuple[list[PendingBatch], list[tuple[Path, str]]]:
    """The readable pending batches (oldest first) and the unreadable files with why."""
    batches, corrupt = [], []
    for path in batch_files(uri):
        try:
            batches.append(read_batch(path))
        except FileNotFoundError:
            continue
        except CorruptBatch as e:
            corrupt.append((path, str(e)))
    return batches, corrupt


def count_points(uri: str | None = None) -> int:
    return sum(b.points for b in list_batches(uri)[0])


def reject(path: Path, error: str) -> Path:
    """Move ``path`` to its folder's ``rejected/``, with ``error`` in a ``.error.txt`` beside."""
    folder = path.parent / REJECTED
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    os.replace(path, target)
    (folder / (path.name + ".error.txt")).write_text(error + "\n", encoding="utf-8")
    return target


def send(store: Any, batch: PendingBatch) -> None:
    store.log_batch(
        batch.run_id,
        batch.metrics,
        batch.params,
        batch.tags,
        status=batch.status,
        status_reason=batch.status_reason,
        links=batch.links,
        request_id=batch.request_id,
    )


def end_refused_run(store: Any, batch: PendingBatch, error: BaseException) -> None:
    """The data of ``batch`` was refused: still end its run with its status (as the log buffer
    does), unless the status itself was refused."""
    if batch.status is not None and not isinstance(error, InvalidState):
        with _suppress_all():
            store.update_run(batch.run_id, status=batch.status, status_reason=batch.status_reason)


class _suppress_all:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return exc[0] is not None and issubclass(exc[0], Exception)


@dataclass
class SyncReport:
    tracking_uri: str
    folder: Path
    sent_batches: int = 0
    sent_points: int = 0
    remaining_batches: int = 0
    remaining_points: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (path, error)
    unavailable: str | None = None  # why the server could not be reached

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracking_uri": self.tracking_uri,
            "folder": str(self.folder),
            "sent_batches": self.sent_batches,
            "sent_points": self.sent_points,
            "remaining_batches": self.remaining_batches,
            "remaining_points": self.remaining_points,
            "rejected": [{"path": p, "error": e} for p, e in self.rejected],
            "unavailable": self.unavailable,
        }


def sync(store: Any, uri: str) -> SyncReport:
    """Send the pending batches of ``uri``'s server through ``store``, oldest first."""
    report = SyncReport(uri, folder_for(uri))
    files = batch_files(uri)
    for i, path in enumerate(files):
        try:
            batch = read_batch(path)
        except FileNotFoundError:
            continue  # sent meanwhile (by the process that wrote it)
        except CorruptBatch as e:
            report.rejected.append((str(reject(path, str(e))), str(e)))
            continue
        try:
            send(store, batch)
        except StoreUnavailable as e:
            report.unavailable = str(e)
            rest, _ = list_batches_of(files[i:])
            report.remaining_batches = len(rest)
            report.remaining_points = sum(b.points for b in rest)
            return report
        except Exception as e:
            end_refused_run(store, batch, e)
            message = f"{type(e).__name__}: {e}"
            report.rejected.append((str(reject(path, message)), message))
            continue
        with _suppress():
            path.unlink()
        report.sent_batches += 1
        report.sent_points += batch.points
    return report


def list_batches_of(files: list[Path]) -> tuple[list[PendingBatch], list[Path]]:
    batches, corrupt = [], []
    for path in files:
        try:
            batches.append(read_batch(path))
        except FileNotFoundError:
            continue
        except CorruptBatch:
            corrupt.append(path)
    return batches, corrupt


def servers() -> list[str]:
    """The tracking URIs that have pending batches (read from the files)."""
    uris: list[str] = []
    for folder in _server_folders():
        for path in batch_files_in(folder):
            try:
                uri = read_batch(path).tracking_uri
            except (FileNotFoundError, CorruptBatch):
                continue
            if uri not in uris:
                uris.append(uri)
            break
    return uris


def batch_files_in(folder: Path) -> list[Path]:
    try:
        return sorted(
            (p for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith(".")),
            key=lambda p: p.name,
        )
    except FileNotFoundError:
        return []
