"""Artifact bytes through the server: streamed in chunks both ways, checked by content hash.

- ``HEAD /api/v1/artifacts/objects/{hash}``: 200 (header ``x-heron-object: file`` or ``dir``,
  and a file's size as its ``content-length``) when the server holds the object, else 404.
  Clients ask first and skip uploads of content the server has.
- ``GET /api/v1/artifacts/objects/{hash}``: a file object's bytes (``Range: bytes=a-b`` gives
  206 and that part); for a folder object, its listing ``{"files": [[path, size], ...]}``;
  ``?member=path`` is one file inside a folder object.
- ``PUT /api/v1/artifacts/objects/{hash}``: the bytes of a file object. They are hashed as
  they are written to a temporary object; only when the hash is the one named are they
  moved into place (else 400, and nothing is kept).
- ``PUT /api/v1/artifacts/uploads/{upload_id}?member=path`` then ``POST
  /api/v1/artifacts/uploads/{upload_id}/commit`` with ``{"content_hash": ...}``: a folder
  object, file by file, committed once its manifest hash is the one named.
- ``PUT /api/v1/artifacts/uploads/{upload_id}`` (no ``member=``) then the same commit: a file
  object sent before its client knows its hash (big files are hashed while they upload). The
  server keeps the digest it computed while receiving, so the commit checks the claimed hash
  without reading the bytes again; a mismatch is 400 and the bytes are dropped. A client that
  learns mid-way that the server holds the content hangs up; what was received is removed.

Neither side holds an object in memory: the server moves at most :data:`CHUNK` bytes at a
time between the socket and the artifact file system (any fsspec URL).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any
from urllib.parse import parse_qs

import orjson

from heron.artifacts.store import ArtifactStore, path_under
from heron.core import hashing
from heron.core.errors import HeronError, InvalidArgument, NotFound

CHUNK = 4 * 1024 * 1024
OBJECT_HEADER = "x-heron-object"
_DIGEST = ".sha256"  # beside a pending file upload: the digest computed while it arrived

_HASH = re.compile(r"^[0-9a-f]{64}$")
_UPLOAD_ID = re.compile(r"^[0-9A-Za-z_-]{8,64}$")

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


class UploadRejected(HeronError):
    """Uploaded bytes that are not the content they claim to be."""

    code = "UPLOAD_REJECTED"


def check_hash(text: str) -> str:
    if not _HASH.match(text):
        raise InvalidArgument(
            f"{text[:80]!r} is not a content hash: use the 64 lowercase hex digits of a sha256."
        )
    return text


def check_upload_id(text: str) -> str:
    if not _UPLOAD_ID.match(text):
        raise InvalidArgument(
            f"Invalid upload id {text[:80]!r}: use 8 to 64 letters, digits, '-' or '_'."
        )
    return text


def member_of(query: bytes) -> str | None:
    values = parse_qs(query.decode("latin-1"), keep_blank_values=True).get("member")
    if not values:
        return None
    if len(values) > 1:
        raise InvalidArgument("Give one member= per request.")
    return values[0]


class ArtifactRoutes:
    """The artifact routes over the server's artifact store."""

    def __init__(
        self, blobs: ArtifactStore, pool: Executor, count_bytes: Callable[[str, int], None]
    ) -> None:
        self.blobs = blobs
        self.pool = pool
        self.count_bytes = count_bytes

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    # --- reading ------------------------------------------------------------------------
    def _kind(self, content_hash: str) -> tuple[str, int] | None:
        fs = self.blobs.fs
        path = self.blobs.object_path(content_hash)
        if fs.isdir(path):
            return "dir", 0
        if fs.isfile(path):
            return "file", int(fs.size(path))
        return None

    async def head(self, content_hash: str, send: Send) -> None:
        found = await self._run(self._kind, check_hash(content_hash))
        if found is None:
            await _answer(send, 404, b"", [])
            return
        kind, size = found
        headers = [(OBJECT_HEADER.encode(), kind.encode())]
        if kind == "file":
            # what a GET would send: its length, and that ranges of it can be asked for
            headers += [
                (b"x-heron-size", str(size).encode()),
                (b"content-length", str(size).encode()),
                (b"accept-ranges", b"bytes"),
                (b"content-type", b"application/octet-stream"),
            ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    def _listing(self, content_hash: str) -> bytes:
        fs, root = self.blobs.fs, self.blobs.object_path(content_hash)
        files = []
        for path in sorted(fs.find(root)):
            rel = path[len(root) :].lstrip("/")
            files.append([rel, int(fs.size(path))])
        return orjson.dumps({"files": files})

    async def get(self, content_hash: str, query: bytes, headers: dict[bytes, bytes], send: Send):
        content_hash = check_hash(content_hash)
        member = member_of(query)
        found = await self._run(self._kind, content_hash)
        if found is None:
            raise NotFound(f"The server holds no artifact object {content_hash[:12]}….")
        kind, size = found
        path = self.blobs.object_path(content_hash)
        if member is not None:
            if kind != "dir":
                raise InvalidArgument(
                    f"Object {content_hash[:12]}… is a file: ask for it without member=."
                )
            path = path_under(path, member, "Member", local=self.blobs.local)
            if not await self._run(self.blobs.fs.isfile, path):
                raise NotFound(f"Object {content_hash[:12]}… has no file {member!r}.")
            size = int(await self._run(self.blobs.fs.size, path))
        elif kind == "dir":
            body = await self._run(self._listing, content_hash)
            await _answer(
                send,
                200,
                body,
                [(b"content-type", b"application/json"), (b"x-heron-object", b"dir")],
            )
            return
        start, end = 0, size - 1
        status = 200
        ranged = headers.get(b"range")
        if ranged is not None:
            parsed = _parse_range(ranged.decode("latin-1"), size)
            if parsed is None:
                await _answer(send, 416, b"", [(b"content-range", f"bytes */{size}".encode())])
                return
            start, end = parsed
            status = 206
        length = max(0, end - start + 1)
        response_headers = [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(length).encode()),
            (b"accept-ranges", b"bytes"),
            (OBJECT_HEADER.encode(), b"file"),
        ]
        if status == 206:
            response_headers.append((b"content-range", f"bytes {start}-{end}/{size}".encode()))
        f = await self._run(self.blobs.fs.open, path, "rb")
        try:
            await send(
                {"type": "http.response.start", "status": status, "headers": response_headers}
            )
            if start:
                await self._run(f.seek, start)
            left = length
            while left > 0:
                chunk = await self._run(f.read, min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
            if length == 0 or left > 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            self.count_bytes("download", length - left)
        finally:
            await self._run(f.close)

    # --- writing ------------------------------------------------------------------------
    async def _receive_into(self, path: str, receive: Receive) -> tuple[str, int]:
        """Stream the request body into ``path``; its sha256 and size."""
        fs = self.blobs.fs
        await self._run(_makedirs_for, fs, path)
        f = await self._run(fs.open, path, "wb")
        digest = hashlib.sha256()
        size = 0
        pending: list[bytes] = []  # chunks as uvicorn hands them over
        pending_size = 0

        # The bytes received are hashed in one thread and written in another while the next
        # ones arrive, one batch of each in flight at a time. A batch is joined into one
        # buffer first: hashing and writing release the GIL, and a thread that gives it up
        # per 256 KB chunk waits for the event loop to give it back as often.
        in_flight: list[asyncio.Future[None]] = []
        loop = asyncio.get_running_loop()
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise InvalidArgument("The client went away before the upload was complete.")
                chunk = message.get("body", b"")
                if chunk:
                    pending.append(chunk)
                    pending_size += len(chunk)
                more = message.get("more_body", False)
                if pending_size >= CHUNK or (not more and pending):
                    for job in in_flight:
                        await job
                    batch = pending[0] if len(pending) == 1 else b"".join(pending)
                    pending = []
                    size += pending_size
                    pending_size = 0
                    in_flight = [
                        loop.run_in_executor(self.pool, digest.update, batch),
                        loop.run_in_executor(self.pool, f.write, batch),
                    ]
                if not more:
                    break
            for job in in_flight:
                await job
        finally:
            unfinished = [job for job in in_flight if not job.done()]
            if unfinished:
                await asyncio.wait(unfinished)
            await self._run(f.close)
        self.count_bytes("upload", size)
        return digest.hexdigest(), size

    async def put_object(self, content_hash: str, receive: Receive, send: Send) -> None:
        content_hash = check_hash(content_hash)
        blobs = self.blobs
        if await self._run(blobs.exists, content_hash):
            await _drain(receive)
            await _json(send, 200, {"stored": False, "content_hash": content_hash})
            return
        tmp = blobs._tmp_path()
        try:
            digest, size = await self._receive_into(tmp, receive)
            if digest != content_hash:
                raise UploadRejected(
                    f"The uploaded bytes hash to {digest[:12]}…, not {content_hash[:12]}… as "
                    "the request says; nothing was stored. Upload the file again."
                )
            await self._run(blobs._commit, tmp, content_hash)
        except BaseException:
            await self._run(_remove, blobs, tmp)
            raise
        await _json(send, 201, {"stored": True, "content_hash": content_hash, "size": size})

    def _upload_root(self, upload_id: str) -> str:
        return f"{self.blobs.root}/tmp/upload-{check_upload_id(upload_id)}"

    async def put_member(self, upload_id: str, query: bytes, receive: Receive, send: Send) -> None:
        member = member_of(query)
        root = self._upload_root(upload_id)
        if member is None:
            await self._put_pending_file(root, receive, send)
            return
        path = path_under(root, member, "Member", local=self.blobs.local)
        try:
            digest, size = await self._receive_into(path, receive)
        except BaseException:
            await self._run(_remove, self.blobs, path)
            raise
        await _json(send, 201, {"member": member, "sha256": digest, "size": size})

    async def _put_pending_file(self, root: str, receive: Receive, send: Send) -> None:
        """One file object whose hash the commit names; its digest is kept beside it."""
        blobs = self.blobs
        await self._run(_remove, blobs, root + _DIGEST)
        try:
            digest, size = await self._receive_into(root, receive)
            await self._run(_write_text, blobs.fs, root + _DIGEST, digest)
        except BaseException:
            await self._run(_remove, blobs, root)
            await self._run(_remove, blobs, root + _DIGEST)
            raise
        await _json(send, 201, {"sha256": digest, "size": size})

    def _commit_file(self, root: str, content_hash: str) -> bool:
        blobs = self.blobs
        digest_path = root + _DIGEST
        if not blobs.fs.exists(digest_path):
            _remove(blobs, root)
            raise InvalidArgument(
                "The file of this upload did not arrive whole; nothing was stored. Upload it again."
            )
        digest = blobs.fs.cat_file(digest_path).decode("ascii")
        try:
            if digest != content_hash:
                raise UploadRejected(
                    f"The uploaded bytes hash to {digest[:12]}…, not {content_hash[:12]}… as the "
                    "request says; nothing was stored. Upload the file again."
                )
            if blobs.exists(content_hash):
                return False
            blobs._commit(root, content_hash)
            return True
        finally:
            _remove(blobs, root)
            _remove(blobs, digest_path)

    def _commit_upload(self, upload_id: str, content_hash: str) -> bool:
        """Commit an upload: a folder by its manifest hash, a file by its kept digest."""
        blobs = self.blobs
        root = self._upload_root(upload_id)
        if blobs.fs.isfile(root):
            return self._commit_file(root, content_hash)
        if not blobs.fs.exists(root):
            if blobs.exists(content_hash):
                return False  # a commit retried after it was applied
            raise NotFound(f"No upload {upload_id!r} in progress: upload its files first.")
        manifest = hashing.directory_manifest(root) if blobs.local else blobs._remote_manifest(root)
        digest = hashing.hash_manifest(manifest)
        if digest != content_hash:
            _remove(blobs, root)
            raise UploadRejected(
                f"The uploaded folder hashes to {digest[:12]}…, not {content_hash[:12]}… as the "
                "request says; nothing was stored. Upload the folder again."
            )
        if blobs.local and blobs.exists(content_hash):
            _remove(blobs, root)
            return False
        # on an object store a folder may be there in part (a writer that crashed): the
        # commit copies in what is missing
        blobs._commit(root, content_hash, None if blobs.local else manifest)
        return True

    async def commit_upload(self, upload_id: str, body: bytes, send: Send) -> None:
        try:
            data = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("content_hash"), str):
            raise InvalidArgument('Send {"content_hash": "<sha256 of the folder manifest>"}.')
        content_hash = check_hash(data["content_hash"])
        stored = await self._run(self._commit_upload, upload_id, content_hash)
        await _json(send, 201 if stored else 200, {"stored": stored, "content_hash": content_hash})


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """``(start, end)`` of a single ``bytes=`` range, or ``None`` if it is not satisfiable."""
    unit, _, spec = value.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                return None
            return max(0, size - suffix), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start < 0 or start >= size or end < start:
        return None
    return start, min(end, size - 1)


def _write_text(fs: Any, path: str, text: str) -> None:
    with fs.open(path, "wb") as f:
        f.write(text.encode("ascii"))


def _makedirs_for(fs: Any, path: str) -> None:
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)


def _remove(blobs: ArtifactStore, path: str) -> None:
    try:
        if blobs.fs.exists(path):
            blobs.fs.rm(path, recursive=True)
    except OSError:
        pass


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]):
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, value: Any) -> None:
    await _answer(send, status, orjson.dumps(value), [(b"content-type", b"application/json")])
