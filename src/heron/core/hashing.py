"""Content hashing: sha256 of bytes, files and folders, the identity of stored artifacts."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20


def hash_bytes(data: bytes | bytearray | memoryview) -> str:
    """The sha256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def hash_file(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def directory_manifest(
    root: str | os.PathLike[str], known: dict[str, tuple[str, int]] | None = None
) -> list[tuple[str, str, int]]:
    """``(relative posix path, sha256, size)`` of every file under ``root``, sorted by path.

    ``known`` maps absolute paths to ``(sha256, size)`` computed while the file was written;
    such a file is not read again (its size is still checked).
    """
    root = Path(root)
    entries = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        size = path.stat().st_size
        sha, known_size = (known or {}).get(str(path.absolute()), (None, None))
        if sha is None or known_size != size:
            sha = hash_file(path)
        entries.append((path.relative_to(root).as_posix(), sha, size))
    return entries


def hash_manifest(manifest: list[tuple[str, str, int]]) -> str:
    """The content hash of a folder: sha256 over its sorted ``path\\0sha256\\n`` lines.

    Two folders with the same files (names and bytes) hash the same, whatever their
    location, modification times or the order the file system lists them in.
    """
    digest = hashlib.sha256()
    for rel, sha, _size in manifest:
        digest.update(rel.encode("utf-8") + b"\0" + sha.encode("ascii") + b"\n")
    return digest.hexdigest()


def hash_directory(root: str | os.PathLike[str]) -> str:
    """The content hash of a folder (see :func:`hash_manifest`)."""
    return hash_manifest(directory_manifest(root))
