"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/...``) on Heron's artifact store.

- ``PUT artifacts/<exp>/<run_id>/artifacts/<rel>``: the body is streamed into the artifact
  store, hashed as it arrives, and becomes the next version of the artifact ``<rel>``,
  produced by the run and linked to it as its output ``<rel>`` (uploading it again makes a
  new version). Under ``<exp>/models/<model_id>/artifacts/`` it is a file of a logged model
  being uploaded (:mod:`.logged_models` turns them into one artifact when it is finalized).
- ``GET artifacts/<path>``: a file's bytes, streamed; ``GET artifacts?path=<dir>``: the
  listing ``{"files": [{"path", "is_dir", "file_size"}]}`` (:mod:`.artifact_tree`: a run
  shows what it uploaded and what Heron logged);
- ``DELETE artifacts/<path>``: the run forgets its outputs at or under the path (the
  versions stay, immutable, for lineage; ``heron gc`` frees bytes nothing uses);
- ``POST mpu/create|complete|abort/<path>`` and ``PUT mpu/part/<upload_id>/<n>``: MLflow's
  multipart upload: the credentials ``create`` answers are URLs of this server, the parts
  are kept under the artifact root's ``tmp/`` with their sha256, and ``complete`` joins
  them (checking each part's ETag) into one upload as above;
- ``GET /api/2.0/mlflow/artifacts/list?run_id=&path=``: MLflow's older listing.
"""

from __future__ import annotations

import asyncio
import hashlib
import posixpath
from typing import Any

import orjson

from heron.core import validation
from heron.core.ids import new_id
from heron.server.auth.permissions import Permission, editor, maintainer, on, viewer
from heron.server.mlflow import artifact_tree, convert, errors, paths
from heron.server.mlflow.face import Receive, Request, Send, drain

PREFIX = "/api/2.0/mlflow-artifacts"
CHUNK = 4 * 1024 * 1024
MAX_PARTS = 10_000
_JSON = [(b"content-type", b"application/json")]


# --- helpers -------------------------------------------------------------------------------
async def _pool(request: Request, fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(request.face.app.pool, fn, *args)


async def _send_json(send: Send, status: int, value: Any) -> int:
    body = orjson.dumps(value)
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status


async def _read_json(receive: Receive, limit: int = 1 << 20) -> dict[str, Any]:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise errors.invalid(f"The request body is larger than {limit:,} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks).strip()
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as e:
        raise errors.MlflowError(errors.MALFORMED_REQUEST, f"The body is not JSON: {e}.") from None
    if not isinstance(data, dict):
        raise errors.MlflowError(errors.MALFORMED_REQUEST, "The body must be a JSON object.")
    return data


def check_relative(rel: str) -> str:
    """A file path inside a run's or model's artifacts, checked (400 otherwise)."""
    if not rel:
        raise errors.invalid(
            "Give the file's path inside the artifacts: "
            "<experiment_id>/<run_id>/artifacts/<path/of/file>."
        )
    try:
        return validation.check_artifact_name(rel, "Artifact path")
    except Exception as e:  # InvalidArgument: said in MLflow's shape
        raise errors.invalid(str(e)) from None


def parse(path: str) -> paths.ArtifactPath:
    """The owner of a proxy path; 400 for a path that escapes or is not one."""
    if path.startswith("/") or "\\" in path or "\x00" in path:
        raise errors.invalid(f"Invalid artifact path {path!r}: a relative path, '/'-separated.")
    return paths.parse_artifact_path(path)


def tree_of(
    store: Any, blobs: Any, where: paths.ArtifactPath, keep: artifact_tree.Keep | None = None
) -> artifact_tree.Tree:
    """The files of the run or logged model a path names (404 when it is unknown; ``keep``:
    see :func:`~.artifact_tree.run_tree`)."""
    if where.owner == "run":
        store.get_run(where.owner_id)  # NotFound: 404 RESOURCE_DOES_NOT_EXIST
        return artifact_tree.run_tree(store, blobs, where.owner_id, keep)
    from heron.server.mlflow.logged_models import model_tree

    return model_tree(store, blobs, where.owner_id)


async def _receive_object(request: Request, receive: Receive) -> tuple[str, int]:
    """Stream the body into the artifact store; ``(sha256, size)`` of the stored object."""
    blobs = request.blobs
    routes = request.face.app.artifacts
    tmp = blobs._tmp_path()
    try:
        digest, size = await routes._receive_into(tmp, receive)
        await _pool(request, _commit, blobs, tmp, digest)
    except BaseException:
        await _pool(request, _remove, blobs, tmp)
        raise
    return digest, size


def _commit(blobs: Any, tmp: str, digest: str) -> None:
    if blobs.exists(digest):
        _remove(blobs, tmp)
    else:
        blobs._commit(tmp, digest)


def _remove(blobs: Any, path: str) -> None:
    try:
        if blobs.fs.exists(path):
            blobs.fs.rm(path, recursive=True)
    except OSError:
        pass


def record_upload(
    store: Any, blobs: Any, where: paths.ArtifactPath, digest: str, size: int
) -> None:
    """An uploaded file, now an object, as the run's artifact or the model's file."""
    if where.owner == "run":
        store.create_artifact_version(
            where.relative,
            content_hash=digest,
            type="file",
            materializer="file",
            size=size,
            uri=blobs.uri_of(digest),
            producer_run_id=where.owner_id,
            metadata={"filename": posixpath.basename(where.relative), "mlflow_path": True},
            link_name=where.relative,
        )
        return
    from heron.server.mlflow.logged_models import add_model_file

    add_model_file(store, where.owner_id, where.relative, digest, size)


def check_writable(store: Any, where: paths.ArtifactPath) -> Any:
    """404 for an unknown run or model; 400 for a model that takes no more files. Returns
    the store in the project of the run (or the model's experiment): what is uploaded to it
    belongs there, whichever project the request came in."""
    if where.owner == "run":
        run = store.get_run(where.owner_id)
        return store.in_project(store.get_experiment(run.experiment_id).project)
    from heron.server.mlflow.logged_models import pending_model

    row = pending_model(store, where.owner_id)
    return store.in_project(store.get_experiment(row["experiment_id"]).project)


# --- the artifact routes -------------------------------------------------------------------
async def upload(request: Request, receive: Receive, send: Send) -> int:
    """``PUT artifacts/<path>``: see the module doc."""
    try:
        where = parse(request.values["path"])
        check_relative(where.relative)
        owner = await _pool(request, check_writable, request.store, where)
    except BaseException:
        await drain(receive)
        raise
    digest, size = await _receive_object(request, receive)
    await _pool(request, record_upload, owner, request.blobs, where, digest, size)
    return await _send_json(send, 200, {})


async def download_or_list(request: Request, receive: Receive, send: Send) -> int:
    """``GET artifacts/<path>`` (a file's bytes) or ``GET artifacts?path=<dir>`` (a listing)."""
    path = request.values["path"]
    if not path:
        return await _list(request, send)
    where = parse(path)
    tree = await _pool(request, tree_of, request.store, request.blobs, where, request.readable)
    entry = tree.get(where.relative)
    if entry is None:
        if artifact_tree.listing(tree, where.relative):
            raise errors.invalid(
                f"{where.relative!r} is a folder: list it with GET {PREFIX}/artifacts?path=..., "
                "then download its files."
            )
        raise errors.missing(f"No artifact {where.relative!r} under {path.rsplit('/', 1)[0]}.")
    await _stream_entry(request, entry, send)
    return 200


async def _stream_entry(request: Request, entry: artifact_tree.Entry, send: Send) -> None:
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(entry.size).encode()),
    ]
    if entry.data is not None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": entry.data})
        return
    blobs = request.blobs
    f = await _pool(request, blobs.open, entry.content_hash, entry.member)
    try:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        sent = 0
        while True:
            chunk = await _pool(request, f.read, CHUNK)
            if not chunk:
                break
            sent += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        request.face.app._count_bytes("download", sent)
    finally:
        await _pool(request, f.close)


async def _list(request: Request, send: Send) -> int:
    raw = request.query.get("path", [""])
    path = raw[0].strip("/") if raw else ""
    if not path:
        raise errors.invalid(
            "Give path=<experiment_id>/<run_id>/artifacts[/<folder>]: Heron lists the artifacts "
            "of one run or logged model at a time."
        )
    where = parse(path)
    tree = await _pool(request, tree_of, request.store, request.blobs, where, request.readable)
    files = artifact_tree.listing(tree, where.relative)
    return await _send_json(send, 200, {"files": files or []})


async def delete(request: Request, receive: Receive, send: Send) -> int:
    """``DELETE artifacts/<path>``: see the module doc."""
    await drain(receive)
    where = parse(request.values["path"])
    await _pool(request, delete_at, request.store, request.blobs, where)
    return await _send_json(send, 200, {})


def delete_at(store: Any, blobs: Any, where: paths.ArtifactPath) -> None:
    if where.owner == "model":
        from heron.server.mlflow.logged_models import delete_model_files

        delete_model_files(store, where.owner_id, where.relative)
        return
    store.get_run(where.owner_id)
    removed = store.delete_run_outputs(where.owner_id, where.relative)
    if removed == 0 and where.relative:
        tree = artifact_tree.run_tree(store, blobs, where.owner_id)
        if where.relative in tree or artifact_tree.listing(tree, where.relative):
            raise errors.invalid(
                f"{where.relative!r} is inside an artifact Heron stored as one folder or model; "
                "delete that whole artifact (its top-level path) instead."
            )


# --- multipart uploads ---------------------------------------------------------------------
def _mpu_root(blobs: Any, upload_id: str) -> str:
    if not isinstance(upload_id, str) or len(upload_id) != 32 or not upload_id.isalnum():
        raise errors.invalid(f"Invalid upload_id {str(upload_id)[:80]!r}.")
    return f"{blobs.root}/tmp/mlflow-mpu-{upload_id}"


def _base_url(request: Request) -> str:
    host = request.header("host") or "127.0.0.1"
    scheme = request.header("x-forwarded-proto") or "http"
    return f"{scheme}://{host}{request.prefix}"


async def mpu_create(request: Request, receive: Receive, send: Send) -> int:
    """``POST mpu/create/<path>`` ``{"path", "num_parts"}`` -> ``{"upload_id", "credentials"}``."""
    body = await _read_json(receive)
    where = parse(request.values["path"])
    target = _mpu_target(where, body)
    num_parts = body.get("num_parts", 1)
    try:
        num_parts = int(num_parts)
    except (TypeError, ValueError):
        raise errors.invalid(f"num_parts must be a whole number, got {num_parts!r}.") from None
    if not 1 <= num_parts <= MAX_PARTS:
        raise errors.invalid(f"num_parts must be 1 to {MAX_PARTS}, got {num_parts}.")
    await _pool(request, check_writable, request.store, where)
    upload_id = new_id()
    root = _mpu_root(request.blobs, upload_id)
    await _pool(request, _write, request.blobs, f"{root}/target", target.encode())
    base = f"{_base_url(request)}{PREFIX}/mpu/part/{upload_id}"
    credentials = [
        {"url": f"{base}/{n}", "part_number": n, "headers": {}} for n in range(1, num_parts + 1)
    ]
    return await _send_json(send, 200, {"upload_id": upload_id, "credentials": credentials})


def _mpu_target(where: paths.ArtifactPath, body: dict[str, Any]) -> str:
    local = body.get("path")
    if not isinstance(local, str) or not local:
        raise errors.invalid("Give path: the local file being uploaded (its name is kept).")
    name = posixpath.basename(local.replace("\\", "/"))
    rel = f"{where.relative}/{name}" if where.relative else name
    return check_relative(rel)


def _write(blobs: Any, path: str, data: bytes) -> None:
    blobs.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with blobs.fs.open(path, "wb") as f:
        f.write(data)


async def mpu_part(request: Request, receive: Receive, send: Send) -> int:
    """``PUT mpu/part/<upload_id>/<n>``: one part; its sha256 is its ``ETag``."""
    try:
        upload_id, _, number = request.values["path"].partition("/")
        root = _mpu_root(request.blobs, upload_id)
        if not number.isdigit() or not 1 <= int(number) <= MAX_PARTS:
            raise errors.invalid(f"Invalid part number {number[:20]!r}.")
        if not await _pool(request, request.blobs.fs.exists, f"{root}/target"):
            raise errors.missing(f"No multipart upload {upload_id!r} in progress.")
    except BaseException:
        await drain(receive)
        raise
    part = f"{root}/part-{int(number):05d}"
    digest, size = await request.face.app.artifacts._receive_into(part, receive)
    await _pool(request, _write, request.blobs, part + ".sha256", digest.encode())
    body = orjson.dumps({"part_number": int(number), "size": size})
    headers = [*_JSON, (b"content-length", str(len(body)).encode()), (b"etag", digest.encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return 200


async def mpu_complete(request: Request, receive: Receive, send: Send) -> int:
    """``POST mpu/complete/<path>`` ``{"path", "upload_id", "parts"}``: the parts joined."""
    body = await _read_json(receive)
    where = parse(request.values["path"])
    target = _mpu_target(where, body)
    root = _mpu_root(request.blobs, body.get("upload_id"))
    parts = body.get("parts")
    if not isinstance(parts, list) or not parts:
        raise errors.invalid("Give parts: [{part_number, etag}, ...], one per uploaded part.")
    done = paths.ArtifactPath(where.experiment_id, where.owner, where.owner_id, target)
    digest, size = await _pool(request, _join_parts, request.blobs, root, target, parts)
    owner = await _pool(request, check_writable, request.store, done)
    await _pool(request, record_upload, owner, request.blobs, done, digest, size)
    await _pool(request, _remove, request.blobs, root)
    return await _send_json(send, 200, {})


def _join_parts(blobs: Any, root: str, target: str, parts: list[Any]) -> tuple[str, int]:
    fs = blobs.fs
    try:
        recorded = fs.cat_file(f"{root}/target").decode()
    except FileNotFoundError:
        raise errors.missing(
            "No such multipart upload in progress (completed or aborted)."
        ) from None
    if recorded != target:
        raise errors.invalid(f"This upload is of {recorded!r}, not {target!r}.")
    numbers = []
    for part in parts:
        if not isinstance(part, dict) or not str(part.get("part_number", "")).isdigit():
            raise errors.invalid(f"Each part is {{part_number, etag}}, got {str(part)[:80]!r}.")
        number = int(part["part_number"])
        path = f"{root}/part-{number:05d}"
        try:
            kept = fs.cat_file(path + ".sha256").decode()
        except FileNotFoundError:
            raise errors.invalid(f"Part {number} was not uploaded; upload it first.") from None
        if str(part.get("etag", "")).strip('"') != kept:
            raise errors.invalid(f"Part {number}'s etag is not the one its upload answered.")
        numbers.append(number)
    if sorted(numbers) != list(range(1, len(numbers) + 1)):
        raise errors.invalid("The parts must be numbered 1, 2, ... without gaps or repeats.")
    digest = hashlib.sha256()
    size = 0
    tmp = blobs._tmp_path()
    fs.makedirs(tmp.rsplit("/", 1)[0], exist_ok=True)
    try:
        with fs.open(tmp, "wb") as out:
            for number in numbers:
                with fs.open(f"{root}/part-{number:05d}", "rb") as f:
                    while chunk := f.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
        _commit(blobs, tmp, digest.hexdigest())
    except BaseException:
        _remove(blobs, tmp)
        raise
    return digest.hexdigest(), size


async def mpu_abort(request: Request, receive: Receive, send: Send) -> int:
    """``POST mpu/abort/<path>`` ``{"path", "upload_id"}``: the parts are dropped."""
    body = await _read_json(receive)
    parse(request.values["path"])
    root = _mpu_root(request.blobs, body.get("upload_id"))
    await _pool(request, _remove, request.blobs, root)
    return await _send_json(send, 200, {})


# --- MLflow's older listing ----------------------------------------------------------------
def list_artifacts(request: Request) -> dict[str, Any]:
    """``GET /api/2.0/mlflow/artifacts/list?run_id=&path=``."""
    args = request.args()
    run_id = args.get("run_id") or args.get("run_uuid")
    if not isinstance(run_id, str) or not run_id:
        raise errors.invalid("Give run_id: the run whose artifacts to list.")
    path = args.get("path") or ""
    if not isinstance(path, str):
        raise errors.invalid("path must be one string.")
    path = path.strip("/")
    if path:
        check_relative(path)
    run = request.store.get_run(run_id)
    tree = artifact_tree.run_tree(request.store, request.blobs, run_id, request.readable)
    files = artifact_tree.listing(tree, path) or []
    for f in files:
        f["path"] = f"{path}/{f['path']}" if path else f["path"]
    experiment_id = convert.mlflow_experiment_id(request.store, run.experiment_id)
    return {"root_uri": paths.run_artifact_uri(experiment_id, run_id), "files": files}


def _owner_of_path(request: Request, arguments: dict[str, Any]) -> None:
    """The run (``run_id``) or logged model (see
    :func:`~.logged_models.owner_fields`) a proxy path names; nothing for a path that names
    neither (the handler answers 400)."""
    path = request.values.get("path") or ""
    if not path:  # GET artifacts?path=<dir>: a listing
        path = (request.query.get("path") or [""])[0].strip("/")
    try:
        where = parse(path)
    except errors.MlflowError:
        return
    if where.owner == "run":
        arguments["run_id"] = where.owner_id
        return
    from heron.server.mlflow.logged_models import owner_fields

    arguments.update(owner_fields(request.face.store, where.owner_id))


#: the targets of a proxy path: its run, or its logged model's experiment or artifact
_OWNER = (
    on("run", "run_id"),
    on("experiment", "model_experiment_id"),
    on("artifact", "model_artifact_id"),
)
# a part's bytes change no metadata, and its path is named by the upload's create and
# complete, which are checked on the run: as Heron's own uploads, an editor of any project
_PART = Permission("editor", anywhere=True, writes=False)


def register(face: Any) -> None:
    """The artifact proxy's routes."""
    for method, prefix, handler, permission in (
        ("PUT", "artifacts", upload, editor(*_OWNER)),
        ("GET", "artifacts", download_or_list, viewer(*_OWNER)),
        ("DELETE", "artifacts", delete, maintainer(*_OWNER)),
        ("POST", "mpu/create", mpu_create, editor(*_OWNER)),
        ("POST", "mpu/complete", mpu_complete, editor(*_OWNER)),
        ("POST", "mpu/abort", mpu_abort, editor(*_OWNER)),
    ):
        face.stream_route(
            method, f"{PREFIX}/{prefix}", handler, permission=permission, resolve=_owner_of_path
        )
    face.stream_route("PUT", f"{PREFIX}/mpu/part", mpu_part, permission=_PART)
    face.json_route(
        "GET",
        "/api/2.0/mlflow/artifacts/list",
        list_artifacts,
        permission=viewer(on("run", "run_id")),
    )
