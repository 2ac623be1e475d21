"""`ProxiedArtifactStore`: the artifact store of a client whose bytes go through the tracking
server (the default with an ``http(s)://`` tracking URI and no ``HERON_ARTIFACT_URI``).

Objects keep the URIs the server's own store gives them (``<server root>/objects/ab/cdef…``),
so the same versions read the same whether a process reaches the bytes through the server
or directly. Writing hashes the content locally, asks the server whether it holds it (and
skips the upload if so), then streams it up in chunks; the server checks the hash before the
object exists. A big file (:data:`STREAM_AT`) starts uploading at once while a thread hashes
it, and the upload stops as soon as the server turns out to hold the content. Reading
downloads an object once into a local cache (``<heron home>/cache/<server>/``, verified by
hash) and reads it there; a file downloaded to a destination is streamed straight to it.
Neither direction holds an object in memory.

Materializers write into a folder of the local cache (:meth:`write_object`), which is then
uploaded file by file and committed under its manifest hash.
"""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson

from heron.artifacts.store import ArtifactStore, StoredObject, path_under
from heron.core import config, hashing
from heron.core.errors import InvalidArgument, InvalidState, NotFound, StoreUnavailable
from heron.core.ids import new_id

T = TypeVar("T")

CHUNK = 4 * 1024 * 1024
# files at least this big are hashed while they upload (below it, asking first is cheaper)
STREAM_AT = 64 * 1024 * 1024
_BUFFERS = 4  # of CHUNK bytes each, going round a download (one read, one written, two queued)
_OBJECTS = "/api/v1/artifacts/objects/"
_UPLOADS = "/api/v1/artifacts/uploads/"


def _cache_root(server_url: str) -> Path:
    parts = urlsplit(server_url)
    name = f"{parts.hostname or 'server'}_{parts.port or (443 if parts.scheme == 'https' else 80)}"
    return config.heron_home() / "cache" / name


class ProxiedArtifactStore(ArtifactStore):
    """Objects of the server at ``server_url``, through its artifact routes."""

    def __init__(self, server_url: str, remote_root: str, session: Any) -> None:
        # deliberately not ArtifactStore.__init__: the file system here is the local cache
        self.server_url = server_url.rstrip("/")
        self.root_uri = self.server_url
        self.remote_root = remote_root.rstrip("/")
        self.session = session
        self.cache = ArtifactStore(str(_cache_root(self.server_url)))
        self.fs, self.root, self.local = self.cache.fs, self.cache.root, True
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ProxiedArtifactStore({self.server_url!r})"

    def uri_of(self, content_hash: str) -> str:
        self._object_path(content_hash)  # checks the hash
        return f"{self.remote_root}/objects/{content_hash[:2]}/{content_hash[2:]}"

    # --- asking the server --------------------------------------------------------------
    def _remote_kind(self, content_hash: str) -> str | None:
        response = self.session.request("HEAD", _OBJECTS + content_hash, idempotent=True, ok=(404,))
        if response.status_code == 404:
            return None
        return response.headers.get("x-heron-object", "file")

    def exists(self, content_hash: str) -> bool:
        self._object_path(content_hash)
        return self._remote_kind(content_hash) is not None

    # --- writing ------------------------------------------------------------------------
    def _upload_file(self, path: str | os.PathLike[str], content_hash: str) -> None:
        self._put(_OBJECTS + content_hash, path)

    def _put(
        self,
        target: str,
        path: str | os.PathLike[str],
        params: dict[str, str] | None = None,
        interrupt: threading.Event | None = None,
    ) -> None:
        """PUT the bytes of the file at ``path`` to ``target`` (a new read of the file each
        time the request is sent)."""
        from heron.store.rest.quick import FileBody

        self.session.request(
            "PUT",
            target,
            idempotent=True,
            params=params,
            content=lambda: FileBody(path, interrupt),
            headers={"content-type": "application/octet-stream"},
        ).close()

    def _upload_folder(self, folder: str | os.PathLike[str], content_hash: str) -> None:
        upload_id = new_id()
        for rel, _sha, _size in hashing.directory_manifest(folder):
            self._put(
                _UPLOADS + upload_id,
                os.path.join(folder, *rel.split("/")),
                params={"member": rel},
            )
        self.session.request(
            "POST",
            f"{_UPLOADS}{upload_id}/commit",
            idempotent=True,
            json={"content_hash": content_hash},
        )

    def _stream_file(self, path: Path) -> str:
        """Upload a big file while a thread hashes it; its hash. Once the hash is known the
        server is asked whether it holds the content: if it does, the upload stops there
        (the server drops what it received); else the upload is committed under the hash."""
        from heron.store.rest.quick import UploadInterrupted

        upload_id = new_id()
        hashed: list[str] = []
        failure: list[BaseException] = []
        present = threading.Event()

        def hash_and_ask() -> None:
            try:
                hashed.append(hashing.hash_file(path))
                if self._remote_kind(hashed[0]) is not None:
                    present.set()
            except BaseException as e:  # raised below, in the uploading thread
                failure.append(e)

        worker = threading.Thread(target=hash_and_ask, name="heron-hash", daemon=True)
        worker.start()
        try:
            self._put(_UPLOADS + upload_id, path, interrupt=present)
        except UploadInterrupted:
            pass
        finally:
            worker.join()
        if failure:
            raise failure[0]
        content_hash = hashed[0]
        if not present.is_set():
            self.session.request(
                "POST",
                f"{_UPLOADS}{upload_id}/commit",
                idempotent=True,
                json={"content_hash": content_hash},
            ).close()
        return content_hash

    def _send(self, local: str, content_hash: str, is_dir: bool) -> None:
        """Upload a local object unless the server holds it already."""
        if self._remote_kind(content_hash) is not None:
            return
        if is_dir:
            self._upload_folder(local, content_hash)
        else:
            self._upload_file(local, content_hash)

    def put_bytes(self, data: bytes) -> StoredObject:
        stored = self.cache.put_bytes(data)
        self._send(self.cache.object_path(stored.content_hash), stored.content_hash, False)
        return self._described(stored)

    def put_file(self, path: str | os.PathLike[str]) -> StoredObject:
        path = Path(path)
        if not path.is_file():
            raise NotFound(f"No file at {path}.")
        size = path.stat().st_size
        if size >= STREAM_AT:
            content_hash = self._stream_file(path)
        else:
            content_hash = hashing.hash_file(path)
            self._send(str(path), content_hash, False)
        return StoredObject(content_hash, size, self.uri_of(content_hash), False)

    def put_dir(self, path: str | os.PathLike[str]) -> StoredObject:
        path = Path(path)
        if not path.is_dir():
            raise NotFound(f"No folder at {path}.")
        manifest = hashing.directory_manifest(path)
        content_hash = hashing.hash_manifest(manifest)
        self._send(str(path), content_hash, True)
        size = sum(size for _rel, _sha, size in manifest)
        return StoredObject(content_hash, size, self.uri_of(content_hash), True)

    def write_object(self, writer: Callable[[Any, str], T]) -> tuple[StoredObject, T]:
        stored, result = self.cache.write_object(writer)
        self._send(self.cache.object_path(stored.content_hash), stored.content_hash, True)
        return self._described(stored), result

    def _described(self, stored: StoredObject) -> StoredObject:
        return StoredObject(
            stored.content_hash, stored.size, self.uri_of(stored.content_hash), stored.is_dir
        )

    # --- reading ------------------------------------------------------------------------
    def object_path(self, content_hash: str) -> str:
        """The object's path in the local cache, downloaded first if it is not there."""
        return self._cached(content_hash)

    def _cached(self, content_hash: str) -> str:
        path = self.cache.object_path(content_hash)
        if os.path.exists(path):
            return path
        with self._lock:
            if not os.path.exists(path):
                self._fetch(content_hash, path)
        return path

    def _fetch(self, content_hash: str, final: str) -> None:
        kind = self._remote_kind(content_hash)
        if kind is None:
            raise NotFound(
                f"Artifact object {content_hash[:12]}… is missing from the server at "
                f"{self.server_url} (deleted by `heron gc`, or never uploaded)."
            )
        tmp = os.path.join(self.cache.root, "tmp", new_id())
        os.makedirs(os.path.dirname(tmp), exist_ok=True)
        try:
            if kind == "dir":
                listing = orjson.loads(
                    self.session.request("GET", _OBJECTS + content_hash, idempotent=True).content
                )
                os.makedirs(tmp)
                for rel, _size in listing["files"]:
                    target = path_under(tmp, rel, "Member")
                    self._download_to(content_hash, target, member=rel)
                manifest = hashing.directory_manifest(tmp)
                got = hashing.hash_manifest(manifest)
            else:
                got = self._download_to(content_hash, tmp)
            if got != content_hash:
                raise InvalidState(
                    f"The server sent bytes for artifact object {content_hash[:12]}… that hash to "
                    f"{got[:12]}…; nothing was cached. Try again; if it persists, the object is "
                    "damaged on the server."
                )
            os.makedirs(os.path.dirname(final), exist_ok=True)
            try:
                os.rename(tmp, final)
            except OSError:
                if not os.path.exists(final):
                    raise
        finally:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
            elif os.path.exists(tmp):
                os.remove(tmp)

    def _download_to(self, content_hash: str, target: str, member: str | None = None) -> str:
        """Stream one file of the server to ``target``; its sha256."""
        from heron.store.rest.quick import QuickLost

        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        params = {"member": member} if member is not None else None
        response = self.session.request(
            "GET", _OBJECTS + content_hash, idempotent=True, params=params, stream=True
        )
        try:
            # a new file ("x"): on ext4, writing a file opened with O_TRUNC makes its close
            # wait for the bytes to reach the disk (auto_da_alloc), half a second a gigabyte
            with open(target, "xb") as f:
                return _hash_and_write(response, f)
        except QuickLost as e:
            raise StoreUnavailable(
                f"The server at {self.server_url} stopped sending artifact object "
                f"{content_hash[:12]}… ({e}); nothing was kept. Try again."
            ) from e
        finally:
            response.close()

    def open(self, content_hash: str, member: str | None = None) -> Any:
        path = self._cached(content_hash)
        if member is not None:
            path = path_under(path, member, "Member")
        if not os.path.exists(path):
            raise NotFound(f"Artifact object {content_hash[:12]}… has no file {member!r}.")
        return open(path, "rb")

    def read_bytes(self, content_hash: str) -> bytes:
        with self.open(content_hash) as f:
            return f.read()  # type: ignore[no-any-return]

    def local_path(self, content_hash: str) -> str:
        return self._cached(content_hash)

    def download(self, content_hash: str, dest: str | os.PathLike[str]) -> Path:
        dest = Path(dest)
        cached = self.cache.object_path(content_hash)
        if os.path.exists(cached) or self._remote_kind(content_hash) == "dir":
            self._cached(content_hash)
            return self.cache.download(content_hash, dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = os.path.join(dest.parent, f".heron-{new_id()}")
        try:
            got = self._download_to(content_hash, tmp)
            if got != content_hash:
                raise InvalidState(
                    f"The server sent bytes for artifact object {content_hash[:12]}… that hash "
                    f"to {got[:12]}…; {dest} was not written. Try again."
                )
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return dest

    def delete(self, content_hash: str) -> None:
        raise InvalidArgument(
            "Artifact objects on a tracking server are deleted by the server's garbage "
            "collection: run `heron gc` (with the server's tracking URI)."
        )


def _hash_and_write(body: Any, f: Any) -> str:
    """Read ``body`` (an answer with ``readinto``) into ``f`` and return its sha256.

    The reading thread fills a buffer and hashes it while a thread of its own writes the one
    before (reading, hashing and writing all release the GIL); :data:`_BUFFERS` buffers of
    :data:`CHUNK` bytes go round, so memory stays bounded and nothing is allocated per chunk.
    """
    digest = hashlib.sha256()
    free: queue.Queue[bytearray] = queue.Queue()
    for _ in range(_BUFFERS):
        free.put(bytearray(CHUNK))
    filled: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
    failure: list[BaseException] = []

    def write() -> None:
        while (item := filled.get()) is not None:
            buffer, size = item
            if not failure:
                try:
                    f.write(memoryview(buffer)[:size])
                except BaseException as e:  # raised below, in the reading thread
                    failure.append(e)
            free.put(buffer)

    writer = threading.Thread(target=write, name="heron-download", daemon=True)
    writer.start()
    try:
        while not failure:
            buffer = free.get()
            size = _fill(body, memoryview(buffer))
            if not size:
                break
            digest.update(memoryview(buffer)[:size])
            filled.put((buffer, size))
    finally:
        filled.put(None)
        writer.join()
    if failure:
        raise failure[0]
    return digest.hexdigest()


def _fill(body: Any, view: memoryview) -> int:
    """Read from ``body`` until ``view`` is full or the body ends; how many bytes came."""
    size = 0
    while size < len(view):
        n = body.readinto(view[size:])
        if not n:
            break
        size += n
    return size


_stores: dict[str, ProxiedArtifactStore] = {}
_stores_lock = threading.Lock()


def open_proxied_store(server_url: str) -> ProxiedArtifactStore:
    """The proxied artifact store of the server at ``server_url`` (one per process)."""
    from heron.artifacts.store import serve_root_through
    from heron.store.rest.http import session_for

    server_url = server_url.rstrip("/")
    store = _stores.get(server_url)
    if store is None:
        with _stores_lock:
            store = _stores.get(server_url)
            if store is None:
                session = session_for(server_url)
                info = orjson.loads(
                    session.request("GET", "/api/v1/info", idempotent=True).content
                )["result"]
                store = ProxiedArtifactStore(server_url, info["artifact_root"], session)
                _stores[server_url] = store
        serve_root_through(store.remote_root, server_url)
    return store


__all__ = ["ProxiedArtifactStore", "open_proxied_store"]
