"""Garbage collection of artifact bytes: what no live artifact version or run log needs.

Deleting a run frees its storage: ``heron gc`` first retires the artifact versions that only
deleted runs produced or used, then deletes every stored object no live version (or captured
log of a live run) refers to. Objects younger than ``min_age`` are left alone, so a step that
has written its output but not yet recorded it is never collected under it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from heron.artifacts.store import ArtifactStore
from heron.store.base import Store


@dataclass
class GcReport:
    """What a collection found (and, unless ``dry_run``, deleted)."""

    dry_run: bool
    retired_versions: int = 0
    deleted_objects: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    kept_objects: int = 0


def collect(
    store: Store, blobs: ArtifactStore, *, dry_run: bool = False, min_age: float = 3600.0
) -> GcReport:
    """Collect the garbage of ``blobs`` (the artifact root of ``store``)."""
    report = GcReport(dry_run=dry_run)
    if not dry_run:
        report.retired_versions = store.retire_orphan_artifacts()
    live = store.live_content_hashes()
    cutoff = time.time() - min_age
    fs = blobs.fs
    objects_root = f"{blobs.root}/objects"
    if not fs.exists(objects_root):
        return report
    for prefix in sorted(fs.ls(objects_root, detail=False)):
        for path in sorted(fs.ls(prefix, detail=False)):
            content_hash = path.rstrip("/").split("/")[-2] + path.rstrip("/").split("/")[-1]
            if content_hash in live:
                report.kept_objects += 1
                continue
            if _modified(fs, path) > cutoff:
                report.kept_objects += 1
                continue
            report.deleted_objects.append(content_hash)
            report.freed_bytes += _size(fs, path)
            if not dry_run:
                fs.rm(path, recursive=True)
    return report


def _modified(fs, path: str) -> float:  # type: ignore[no-untyped-def]
    try:
        modified = fs.modified(path)
    except IsADirectoryError:
        # A folder object on an object store (s3fs) is a key prefix with no time of its
        # own: it is as young as its newest file (else min_age would not protect it).
        return max((_file_time(fs, p, info) for p, info in _files(fs, path)), default=0.0)
    except (NotImplementedError, FileNotFoundError, OSError):
        return 0.0
    return modified.timestamp()


def _file_time(fs, path: str, info: dict) -> float:  # type: ignore[no-untyped-def]
    """A file's modification time, from its listing entry when that has one (saves a
    request per file on object stores)."""
    stamp = info.get("LastModified", info.get("mtime"))
    if isinstance(stamp, (int, float)):
        return float(stamp)
    if hasattr(stamp, "timestamp"):
        return stamp.timestamp()
    return _modified(fs, path)


def _files(fs, path: str) -> list[tuple[str, dict]]:  # type: ignore[no-untyped-def]
    return list(fs.find(path, detail=True).items())


def _size(fs, path: str) -> int:  # type: ignore[no-untyped-def]
    if fs.isdir(path):
        return sum(int(info.get("size") or 0) for _p, info in _files(fs, path))
    return fs.size(path)
