"""``/artifacts/{artifact_id}/raw``: an artifact's bytes, to download or to show in a preview.

- a file artifact's bytes; ``?member=path`` is one file of a folder artifact (a folder itself
  has no bytes: its page lists the files);
- a download by default (``Content-Disposition: attachment`` with the file's name);
- ``?inline=1`` shows images, plain text and JSON in the browser; never HTML;
- ``?frame=1`` serves an HTML report for the sandboxed ``<iframe sandbox>`` of a preview;
- every answer carries ``Content-Security-Policy: sandbox``, so even a file opened directly
  (an SVG, an HTML report) runs no script and reaches nothing of the dashboard's origin.

Files over :data:`MAX_INLINE_BYTES` are not read into memory: the answer redirects to the API's
streaming object route (``/api/v1/artifacts/objects/{hash}``).
"""

from __future__ import annotations

import mimetypes
import posixpath
from urllib.parse import quote

from heron.server.auth.permissions import on, viewer
from heron.server.dashboard import previews
from heron.server.dashboard.face import DashboardFace, Page, PageError, Request

MAX_INLINE_BYTES = 64 * 1024 * 1024
#: what a raw answer may do: nothing (no script, no plugin, no request but its own images)
RAW_CSP = (
    b"sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    b"font-src data:; frame-ancestors 'self'"
)
_INLINE_TYPES = {"text/plain", "application/json", *previews.IMAGE_TYPES.values()}
_TEXT_SUFFIXES = {".json", ".csv", *previews.TEXT_SUFFIXES}


def content_type_of(name: str) -> str:
    """The media type of a file by its name (text types as UTF-8 plain text, so that a
    browser shows them and never runs them)."""
    ext = previews.suffix(name)
    if ext in previews.IMAGE_TYPES:
        return previews.IMAGE_TYPES[ext]
    if ext in previews.HTML_SUFFIXES:
        return "text/html"
    if ext == ".json":
        return "application/json"
    if ext in _TEXT_SUFFIXES:
        return "text/plain"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def disposition(name: str, inline: bool) -> bytes:
    """A ``Content-Disposition`` value with an ASCII fallback and the UTF-8 name (RFC 6266)."""
    base = posixpath.basename(name) or "artifact"
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in base)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(base, safe='')}".encode()


def raw(request: Request) -> Page:
    """The bytes of an artifact version, or of one file of a folder artifact."""
    artifact = request.store.get_artifact_version(request.values["artifact_id"])
    member = request.arg("member") or None
    folder = previews.is_folder(artifact)
    if member is None and folder:
        if artifact.materializer in previews.MATERIALIZER_FILES:
            member = previews.MATERIALIZER_FILES[artifact.materializer]
        else:
            raise PageError(
                400,
                "A folder has no bytes of its own",
                f"{artifact.name} v{artifact.version} is a folder: download its files one by "
                "one with ?member=path (its page lists them).",
            )
    if member is not None and not folder:
        raise PageError(400, "Not a folder", f"{artifact.name} is one file: ask without member=.")
    name = member if member is not None else previews.file_name(artifact)
    if artifact.materializer == "file.text":
        media = "text/plain"
    elif artifact.materializer == "file.json":
        media = "application/json"
    else:
        media = content_type_of(name)
    blobs = request.blobs
    path = blobs.object_path(artifact.content_hash)
    if member is not None:
        from heron.artifacts.store import path_under

        path = path_under(path, member, "Member", local=blobs.local)
    if not blobs.fs.isfile(path):
        raise PageError(404, "No such file", f"{artifact.name} has no file {member or name!r}.")
    size = int(blobs.fs.size(path))
    if size > MAX_INLINE_BYTES:
        location = f"/api/v1/artifacts/objects/{artifact.content_hash}"
        if member is not None:
            location += "?member=" + quote(member, safe="/")
        return Page(body=b"", status=307, headers=[(b"location", location.encode())])
    with blobs.fs.open(path, "rb") as f:
        body = f.read()
    frame = request.arg("frame") == "1" and media == "text/html"
    inline = frame or (request.arg("inline") == "1" and media in _INLINE_TYPES)
    if media.startswith("text/") or media == "application/json":
        media += "; charset=UTF-8"  # (not the dashboard's own HTML type: no page CSP is added)
    headers = [
        (b"content-disposition", disposition(name, inline)),
        (b"content-security-policy", RAW_CSP),
        (b"cache-control", b"private, max-age=3600"),  # artifact versions never change
    ]
    return Page(body=body, content_type=media.encode(), headers=headers)


def register(face: DashboardFace) -> None:
    artifact = viewer(on("artifact", "artifact_id"))
    face.page("GET", "/artifacts/{artifact_id}/raw", raw, permission=artifact)
