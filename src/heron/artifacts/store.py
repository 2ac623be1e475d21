"""`ArtifactStore`: bytes stored once per content hash under an fsspec root.

Layout: ``<root>/objects/<sha[:2]>/<sha[2:]>`` holds a file (or a folder, for folder
artifacts). Writes go to ``<root>/tmp/<random>`` first and are renamed into place, so a reader
never sees half an object, and a hash is stored only once its bytes are complete. Two writers
of the same content race harmlessly: the second finds the object in place and drops its copy.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from heron.core import hashing, validation
from heron.core.errors import InvalidArgument, NotFound, os_fault
from heron.core.ids import new_id

T = TypeVar("T")


_known_hashes: contextvars.ContextVar[dict[str, tuple[str, int]] | None] = contextvars.ContextVar(
    "heron_known_hashes", default=None
)


def record_file_hash(local_path: str, sha256: str, size: int) -> None:
    """Tell the artifact store being written to the sha256 of a file a materializer wrote
    (hashed while writing), so that it is not read back. Outside a write, does nothing."""
    known = _known_hashes.get()
    if known is not None:
        known[os.path.abspath(local_path)] = (sha256, size)


def _disk_faults(method: Callable[..., T]) -> Callable[..., T]:
    """Turn a full disk or an unwritable artifact folder into a clear HeronError."""

    @functools.wraps(method)
    def wrapper(self: ArtifactStore, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except OSError as e:
            fault = os_fault(e, e.filename or self.root_uri, "the artifact store")
            if fault is None:
                raise
            raise fault from e

    return wrapper


class StoredObject:
    """What :class:`ArtifactStore` returns after a put: ``hash``, ``size``, ``uri``, ``is_dir``."""

    __slots__ = ("content_hash", "is_dir", "size", "uri")

    def __init__(self, content_hash: str, size: int, uri: str, is_dir: bool) -> None:
        self.content_hash = content_hash
        self.size = size
        self.uri = uri
        self.is_dir = is_dir


class ArtifactStore:
    """Content-addressed objects under ``root`` (a local path or any fsspec URL)."""

    def __init__(self, root: str) -> None:
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        self.root_uri = root
        self.fs, path = fsspec.core.url_to_fs(root)
        self.local = isinstance(self.fs, LocalFileSystem)
        if not self.local:
            # Object stores (s3fs, gcsfs, …) cache directory listings forever by default, and
            # `exists` answers from them: a long-lived process (the server, a scheduler) would
            # then miss objects other processes wrote, or see ones gc deleted. Objects are
            # looked up by their hash, so nothing here needs those listings.
            with contextlib.suppress(TypeError):  # a file system that takes no such option
                self.fs, path = fsspec.core.url_to_fs(root, use_listings_cache=False)
        self.root = os.path.abspath(os.path.expanduser(path)) if self.local else path.rstrip("/")

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root_uri!r})"

    def _object_path(self, content_hash: str) -> str:
        if len(content_hash) != 64 or any(c not in "0123456789abcdef" for c in content_hash):
            raise InvalidArgument(f"{content_hash!r} is not a sha256 hex digest.")
        return f"{self.root}/objects/{content_hash[:2]}/{content_hash[2:]}"

    def uri_of(self, content_hash: str) -> str:
        """The URI of an object, as recorded on its artifact versions."""
        path = self._object_path(content_hash)
        return path if self.local else self.fs.unstrip_protocol(path)

    def exists(self, content_hash: str) -> bool:
        return self.fs.exists(self._object_path(content_hash))

    # --- writing ----------------------------------------------------------------------
    @_disk_faults
    def put_bytes(self, data: bytes) -> StoredObject:
        """Store ``data`` (once per content) and describe it."""
        content_hash = hashing.hash_bytes(data)
        if not self.exists(content_hash):
            tmp = self._tmp_path()
            self.fs.makedirs(os.path.dirname(tmp), exist_ok=True)
            with self.fs.open(tmp, "wb") as f:
                f.write(data)
            self._commit(tmp, content_hash)
        return StoredObject(content_hash, len(data), self.uri_of(content_hash), False)

    @_disk_faults
    def put_file(self, path: str | os.PathLike[str]) -> StoredObject:
        """Store a local file's bytes and describe them."""
        path = Path(path)
        if not path.is_file():
            raise NotFound(f"No file at {path}.")
        content_hash = hashing.hash_file(path)
        if not self.exists(content_hash):
            tmp = self._tmp_path()
            self.fs.makedirs(os.path.dirname(tmp), exist_ok=True)
            self.fs.put_file(str(path), tmp)
            self._commit(tmp, content_hash)
        return StoredObject(content_hash, path.stat().st_size, self.uri_of(content_hash), False)

    @_disk_faults
    def put_dir(self, path: str | os.PathLike[str]) -> StoredObject:
        """Store a local folder (its files and their relative paths) and describe it."""
        path = Path(path)
        if not path.is_dir():
            raise NotFound(f"No folder at {path}.")
        manifest = hashing.directory_manifest(path)
        content_hash = hashing.hash_manifest(manifest)
        if self.local and not self.exists(content_hash):
            tmp = self._tmp_path()
            self.fs.makedirs(tmp, exist_ok=True)
            for rel, _sha, _size in manifest:
                target = f"{tmp}/{rel}"
                self.fs.makedirs(os.path.dirname(target), exist_ok=True)
                self.fs.put_file(str(path / rel), target)
            self._commit(tmp, content_hash)
        elif not self.local and not self._holds_folder(content_hash, manifest):
            tmp = self._tmp_path()
            # one call with both lists: an async file system (s3fs) uploads them concurrently
            self.fs.put(
                [str(path / rel) for rel, _sha, _size in manifest],
                [f"{tmp}/{rel}" for rel, _sha, _size in manifest],
            )
            self._commit(tmp, content_hash, manifest)
        size = sum(size for _rel, _sha, size in manifest)
        return StoredObject(content_hash, size, self.uri_of(content_hash), True)

    @_disk_faults
    def write_object(self, writer: Callable[[Any, str], T]) -> tuple[StoredObject, T]:
        """Let ``writer(fs, folder)`` fill a new folder, then store it under its content hash.

        The folder is written in place under the root's ``tmp/`` and renamed into
        ``objects/`` (no copy). If the same content is stored already, the new copy is dropped.
        """
        tmp = self._tmp_path()
        self.fs.makedirs(tmp, exist_ok=True)
        known: dict[str, tuple[str, int]] = {}  # hashes computed while writing
        token = _known_hashes.set(known)
        try:
            try:
                result = writer(self.fs, tmp)
            finally:
                _known_hashes.reset(token)
            manifest = (
                hashing.directory_manifest(tmp, known) if self.local else self._remote_manifest(tmp)
            )
            content_hash = hashing.hash_manifest(manifest)
            size = sum(size for _rel, _sha, size in manifest)
            if self.local and self.exists(content_hash):
                self.fs.rm(tmp, recursive=True)
            else:
                self._commit(tmp, content_hash, None if self.local else manifest)
        except BaseException:
            if self.fs.exists(tmp):
                self.fs.rm(tmp, recursive=True)
            raise
        return StoredObject(content_hash, size, self.uri_of(content_hash), True), result

    def _remote_manifest(self, folder: str) -> list[tuple[str, str, int]]:
        import hashlib

        entries = []
        for path, info in sorted(self.fs.find(folder, detail=True).items()):
            digest = hashlib.sha256()
            with self.fs.open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            rel = path[len(folder) :].lstrip("/")
            entries.append((rel, digest.hexdigest(), int(info["size"])))
        return entries

    def _holds_folder(self, content_hash: str, manifest: list[tuple[str, str, int]]) -> bool:
        """Whether a remote store holds every file of the folder object ``content_hash``.

        On an object store a folder is only a key prefix, present as soon as its first file
        is: a writer that crashed while copying one into place (or one still copying) leaves
        a part of it, which must not pass for the whole object."""
        final = self._object_path(content_hash)
        try:
            found = self.fs.find(final, detail=True)
        except FileNotFoundError:
            return False
        sizes = {name[len(final) :].lstrip("/"): info.get("size") for name, info in found.items()}
        return bool(found) and all(sizes.get(rel) == size for rel, _sha, size in manifest)

    def object_path(self, content_hash: str) -> str:
        """The path of an object within this store's file system."""
        return self._object_path(content_hash)

    def _tmp_path(self) -> str:
        return f"{self.root}/tmp/{new_id()}"

    def _commit(
        self, tmp: str, content_hash: str, manifest: list[tuple[str, str, int]] | None = None
    ) -> None:
        """Move ``tmp`` into place as object ``content_hash``. On a remote store, pass the
        ``manifest`` of a folder object (``tmp`` is then a folder)."""
        final = self._object_path(content_hash)
        self.fs.makedirs(os.path.dirname(final), exist_ok=True)
        if self.local:
            try:
                os.rename(tmp, final)  # atomic; fails if another writer's folder is in place
            except OSError:
                if not os.path.exists(final):
                    raise
                _remove_local(tmp)
            return
        if manifest is None:  # one file: copying an object makes it appear whole (S3)
            if not self.fs.exists(final):
                self.fs.mv(tmp, final)
            else:
                self.fs.rm(tmp)
            return
        # A folder: object stores cannot rename one (fsspec's recursive `mv` fails on S3, on
        # the prefix itself), so its files are copied one by one. Files already in place
        # hold the same bytes (same content hash, same relative path), so copying only the
        # missing ones lets concurrent writers, and a writer after a crash, finish one object.
        if not self._holds_folder(content_hash, manifest):
            present = set()
            with contextlib.suppress(FileNotFoundError):
                present = {name[len(final) :].lstrip("/") for name in self.fs.find(final)}
            missing = [rel for rel, _sha, _size in manifest if rel not in present]
            if missing:
                self.fs.copy(
                    [f"{tmp}/{rel}" for rel in missing], [f"{final}/{rel}" for rel in missing]
                )
        self.fs.rm(tmp, recursive=True)

    # --- reading ----------------------------------------------------------------------
    def open(self, content_hash: str, member: str | None = None) -> Any:
        """A binary file object of an object (or of ``member``, a path inside a folder object)."""
        path = self._object_path(content_hash)
        if member is not None:
            path = path_under(path, member, "Member", local=self.local)
        if not self.fs.exists(path):
            raise NotFound(f"Artifact object {content_hash[:12]}… is missing from {self.root_uri}.")
        return self.fs.open(path, "rb")

    def read_bytes(self, content_hash: str) -> bytes:
        with self.open(content_hash) as f:
            return f.read()

    def local_path(self, content_hash: str) -> str:
        """A local path with the object's content: the object itself on a local store,
        else a copy downloaded into a temporary folder."""
        path = self._object_path(content_hash)
        if self.local:
            if not os.path.exists(path):
                raise NotFound(f"Artifact object {content_hash[:12]}… is missing from {self.root}.")
            return path
        target = os.path.join(tempfile.mkdtemp(prefix="heron-"), content_hash)
        self.fs.get(path, target, recursive=True)
        return target

    def download(self, content_hash: str, dest: str | os.PathLike[str]) -> Path:
        """Copy an object (file or folder) to ``dest`` and return ``dest``."""
        dest = Path(dest)
        source = self.local_path(content_hash)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if os.path.isdir(source):
            shutil.copytree(source, dest, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, dest)
        return dest

    def delete(self, content_hash: str) -> None:
        """Remove an object's bytes (garbage collection; the caller checks it is unused)."""
        path = self._object_path(content_hash)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)


# Artifact roots this process reaches through a tracking server (the server's root URI ->
# the server's URL), registered by the server's client when it connects.
_served_roots: dict[str, str] = {}


def serve_root_through(root: str, server_url: str) -> None:
    """Read and write the objects under ``root`` through the tracking server at
    ``server_url`` (its artifacts are proxied); :func:`open_artifact_store` then answers
    the server's proxied store for ``root``."""
    root = root.rstrip("/")
    if _served_roots.get(root) != server_url:
        _served_roots[root] = server_url
        open_artifact_store.cache_clear()


def forget_served_roots() -> None:
    """Forget the roots reached through servers (tests, and after changing servers)."""
    _served_roots.clear()
    open_artifact_store.cache_clear()


@functools.lru_cache(maxsize=32)
def open_artifact_store(root: str) -> ArtifactStore:
    """The artifact store of ``root``, opened once per process: an ``http(s)://`` root (a
    tracking server) or a root reached through one is a proxied store."""
    from heron.core import config

    override = config.artifact_uri_override()
    reached = override is not None and override.rstrip("/") == root.rstrip("/")
    server = None if reached else _served_roots.get(root.rstrip("/"))
    if server is None and root.split("://", 1)[0].lower() in ("http", "https"):
        server = root
    if server is not None:
        from heron.artifacts.proxied import open_proxied_store

        return open_proxied_store(server)
    return ArtifactStore(root)


def safe_relative(path: str, what: str = "Artifact", *, folder: bool = False) -> str:
    """``path`` as a relative posix path that cannot escape its root, else InvalidArgument
    (the checks of :func:`heron.core.validation.check_artifact_name`)."""
    return validation.check_artifact_name(path, what, folder=folder)


def path_under(
    root: str | os.PathLike[str], name: str, what: str = "Artifact", *, local: bool = True
) -> str:
    """``root`` joined with the artifact name ``name``, refused (InvalidArgument) unless the
    normalized result stays inside ``root``. ``local=False``: ``root`` is a path of a remote
    fsspec file system (always ``/``-separated)."""
    rel = safe_relative(name, what)
    paths: Any = os.path if local else posixpath
    base = os.path.abspath(root) if local else posixpath.normpath(os.fspath(root))
    joined = paths.normpath(paths.join(base, *rel.split("/")))
    if joined == base or paths.commonpath([base, joined]) != base:
        raise InvalidArgument(
            f"{what} name {name!r} would be written outside {os.fspath(root)}; use a relative "
            "name such as 'plots/loss.png'."
        )
    return joined


def _remove_local(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
