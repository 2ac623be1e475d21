"""Previews of artifact versions for the dashboard: what a page shows of an artifact's bytes.

:func:`preview` reads as little as it can (the first KB of a text, the first rows of a table)
and returns a plain dict that ``templates/previews/preview.html`` renders. Its ``kind`` says
which part of the template applies:

- ``image``: png/jpg/gif/svg/webp, shown with ``<img src=…/raw?inline=1>`` (never inlined);
- ``text`` / ``json``: the first :data:`TEXT_BYTES` bytes as text (JSON pretty-printed);
- ``table``: the first :data:`TABLE_ROWS` rows of a Parquet or CSV artifact and column stats;
- ``html``: a report shown in a sandboxed frame from ``/raw?frame=1``;
- ``folder``: the files of a folder artifact, each with its download link;
- ``value``: a step output shown through its metadata (shape, dtype, value) only;
- ``none``: nothing to show, with a ``reason``.

Every preview carries ``raw`` (the download URL). Untrusted text stays text: templates
escape it; nothing here builds markup.
"""

from __future__ import annotations

import json
import logging
import posixpath
from typing import Any
from urllib.parse import quote

from heron.core.entities import ArtifactVersion

log = logging.getLogger("heron.server.dashboard.previews")

TEXT_BYTES = 64 * 1024
TABLE_ROWS = 20
TABLE_COLUMNS = 50
CSV_BYTES = 1024 * 1024
FOLDER_FILES = 500

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
TEXT_SUFFIXES = {
    ".txt", ".log", ".md", ".py", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".sh", ".tsv",
    ".rst", ".xml", ".sql", ".r", ".js", ".css",
}  # fmt: skip
HTML_SUFFIXES = {".html", ".htm"}
TABLE_MATERIALIZERS = {"pandas.parquet", "arrow.parquet"}
#: the file a materializer writes inside its folder object
MATERIALIZER_FILES = {
    "json": "data.json",
    "pandas.parquet": "table.parquet",
    "arrow.parquet": "table.parquet",
    "numpy": "array.npy",
    "numpy.scalar": "scalar.npy",
    "cloudpickle": "object.pkl",
    "sklearn": "model.joblib",
}


def raw_url(artifact_id: str, member: str | None = None, **flags: str) -> str:
    """The dashboard URL of an artifact's bytes (``member``: a file of a folder artifact)."""
    query = [f"member={quote(member, safe='/')}"] if member else []
    query += [f"{k}={quote(v)}" for k, v in flags.items()]
    return f"/artifacts/{quote(artifact_id, safe='')}/raw" + (
        "?" + "&".join(query) if query else ""
    )


def file_name(artifact: ArtifactVersion) -> str:
    """The name a download of the artifact gets (a logged file's own name)."""
    name = artifact.metadata.get("filename") if isinstance(artifact.metadata, dict) else None
    return str(name or posixpath.basename(artifact.name) or artifact.name)


def suffix(name: str) -> str:
    """``.png`` of ``plots/a.PNG``."""
    return posixpath.splitext(name.lower())[1]


def is_folder(artifact: ArtifactVersion) -> bool:
    """Whether the artifact's object is a folder (a logged directory or a step output)."""
    return artifact.type == "directory" or not artifact.materializer.startswith("file")


def preview(blobs: Any, artifact: ArtifactVersion) -> dict[str, Any]:
    """What the dashboard shows of ``artifact``, read from the artifact store ``blobs``
    (a request's ``request.blobs``); a dict for ``templates/previews/preview.html``."""
    base = {"id": artifact.id, "raw": raw_url(artifact.id), "name": artifact.name}
    try:
        return {**base, **_preview(blobs, artifact)}
    except Exception as e:  # a missing or unreadable object must not break the page
        log.info("No preview of artifact %s: %s", artifact.id, e)
        return {**base, "kind": "none", "reason": f"The bytes could not be read: {e}"}


def _preview(blobs: Any, artifact: ArtifactVersion) -> dict[str, Any]:
    materializer = artifact.materializer
    if materializer == "file.text":
        return _text(blobs, artifact.content_hash, None, "text")
    if materializer == "file.json":
        return _text(blobs, artifact.content_hash, None, "json")
    if materializer == "file.yaml":
        return _text(blobs, artifact.content_hash, None, "text")
    if materializer == "file" and artifact.type == "directory":
        return folder(blobs, artifact)
    if materializer == "file":
        return file_preview(blobs, artifact.id, artifact.content_hash, None, file_name(artifact))
    if materializer in TABLE_MATERIALIZERS:
        table = parquet_table(blobs, artifact.content_hash, MATERIALIZER_FILES[materializer])
        stats = artifact.metadata.get("stats") if isinstance(artifact.metadata, dict) else None
        if isinstance(stats, dict) and stats:
            table["stats_from"] = "every row"
            for column in table["columns"]:
                known = stats.get(column["name"])
                if isinstance(known, dict):
                    column.update(
                        nulls=known.get("null_count"),
                        min=known.get("min"),
                        max=known.get("max"),
                        mean=known.get("mean"),
                    )
        return table
    if materializer == "json":
        return _text(blobs, artifact.content_hash, MATERIALIZER_FILES["json"], "json")
    return {"kind": "value", "metadata": _metadata_rows(artifact.metadata)}


def file_preview(
    blobs: Any, artifact_id: str, content_hash: str, member: str | None, name: str
) -> dict[str, Any]:
    """The preview of one file (a logged file, or ``member`` of a folder artifact), by the
    suffix of its ``name``."""
    ext = suffix(name)
    if ext in IMAGE_TYPES:
        return {"kind": "image", "src": raw_url(artifact_id, member, inline="1")}
    if ext in HTML_SUFFIXES:
        return {"kind": "html", "src": raw_url(artifact_id, member, frame="1")}
    if ext == ".json":
        return _text(blobs, content_hash, member, "json")
    if ext in TEXT_SUFFIXES:
        return _text(blobs, content_hash, member, "text")
    if ext == ".csv":
        return csv_table(blobs, content_hash, member)
    if ext == ".parquet":
        return parquet_table(blobs, content_hash, member)
    head = _head(blobs, content_hash, member, 4096)
    if _looks_like_text(head):
        return _text(blobs, content_hash, member, "text")
    return {"kind": "none", "reason": "A binary file: download it to look inside."}


def _head(blobs: Any, content_hash: str, member: str | None, n: int) -> bytes:
    with blobs.open(content_hash, member) as f:
        return f.read(n)


def _looks_like_text(data: bytes) -> bool:
    if b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(data) - 3  # a character cut by the end of the sample
    return True


def _text(blobs: Any, content_hash: str, member: str | None, kind: str) -> dict[str, Any]:
    data = _head(blobs, content_hash, member, TEXT_BYTES + 1)
    truncated = len(data) > TEXT_BYTES
    text = data[:TEXT_BYTES].decode("utf-8", "replace")
    if kind == "json" and not truncated:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False, allow_nan=True)
        except ValueError:
            kind = "text"  # not JSON after all: shown as it is
    return {"kind": kind, "text": text, "truncated": truncated, "limit": TEXT_BYTES}


def folder(blobs: Any, artifact: ArtifactVersion) -> dict[str, Any]:
    """The files of a folder artifact: ``files`` of ``{path, size, raw}``, the first
    :data:`FOLDER_FILES`, and a preview of a single image or text member on demand."""
    root = blobs.object_path(artifact.content_hash)
    found = blobs.fs.find(root, detail=True)
    files = []
    for path, info in sorted(found.items()):
        rel = path[len(root) :].lstrip("/")
        files.append(
            {
                "path": rel,
                "size": int(info.get("size") or 0),
                "raw": raw_url(artifact.id, rel),
                "image": suffix(rel) in IMAGE_TYPES,
                "inline": raw_url(artifact.id, rel, inline="1"),
            }
        )
    return {
        "kind": "folder",
        "files": files[:FOLDER_FILES],
        "count": len(files),
        "truncated": len(files) > FOLDER_FILES,
    }


def _metadata_rows(metadata: Any) -> list[tuple[str, str]]:
    if not isinstance(metadata, dict):
        return []
    rows = []
    for key, value in metadata.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        rows.append((str(key), text if len(text) <= 2000 else text[:2000] + "…"))
    return rows


# --- tables --------------------------------------------------------------------------------
def parquet_table(blobs: Any, content_hash: str, member: str | None) -> dict[str, Any]:
    """The first rows of a Parquet file, its schema and the stats its row groups record
    (min, max, nulls; the mean needs the data, so it is left to the materializer's stats)."""
    import pyarrow.parquet as pq

    with blobs.open(content_hash, member) as f:
        parquet = pq.ParquetFile(f)
        schema = parquet.schema_arrow
        names = schema.names[:TABLE_COLUMNS]
        batch = next(parquet.iter_batches(batch_size=TABLE_ROWS, columns=names), None)
        metadata = parquet.metadata
        columns = [{"name": n, "dtype": str(schema.field(n).type)} for n in names]
        _row_group_stats(metadata, columns)
        table = _table(batch, columns)
        table.update(
            num_rows=metadata.num_rows,
            num_columns=len(schema.names),
            stats_from="Parquet statistics",
        )
    return table


def _row_group_stats(metadata: Any, columns: list[dict[str, Any]]) -> None:
    index = {metadata.schema.column(i).name: i for i in range(metadata.num_columns)}
    for column in columns:
        i = index.get(column["name"])
        if i is None:
            continue
        nulls, low, high = 0, None, None
        for g in range(metadata.num_row_groups):
            stats = metadata.row_group(g).column(i).statistics
            if stats is None or not stats.has_min_max:
                low = high = None
                nulls = None
                break
            if nulls is not None and stats.has_null_count:
                nulls += stats.null_count
            low = stats.min if low is None else min(low, stats.min)
            high = stats.max if high is None else max(high, stats.max)
        column.update(nulls=nulls, min=_plain(low), max=_plain(high), mean=None)


def csv_table(blobs: Any, content_hash: str, member: str | None) -> dict[str, Any]:
    """The first rows of a CSV file and column stats over its first :data:`CSV_BYTES`."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pv

    data = _head(blobs, content_hash, member, CSV_BYTES + 1)
    whole = len(data) <= CSV_BYTES
    if not whole:
        data = data[: data.rfind(b"\n") + 1] or data[:CSV_BYTES]
    try:
        table = pv.read_csv(pa.BufferReader(data))
    except pa.ArrowInvalid as e:
        return {"kind": "none", "reason": f"Not a CSV table: {e}"}
    names = table.schema.names[:TABLE_COLUMNS]
    columns = []
    for name in names:
        column = table.column(name)
        entry: dict[str, Any] = {
            "name": name,
            "dtype": str(column.type),
            "nulls": column.null_count,
            "min": None,
            "max": None,
            "mean": None,
        }
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            low_high = pc.min_max(column)
            entry.update(
                min=_plain(low_high["min"].as_py()),
                max=_plain(low_high["max"].as_py()),
                mean=_plain(pc.mean(column).as_py()),
            )
        columns.append(entry)
    result = _table(table.slice(0, TABLE_ROWS).to_batches()[0] if table.num_rows else None, columns)
    result.update(
        num_rows=table.num_rows if whole else None,
        num_columns=len(table.schema.names),
        stats_from="every row" if whole else f"the first {table.num_rows} rows",
    )
    return result


def _table(batch: Any, columns: list[dict[str, Any]]) -> dict[str, Any]:
    rows: list[list[str]] = []
    if batch is not None:
        values = [batch.column(c["name"]).to_pylist() for c in columns]
        rows = [[_cell(col[i]) for col in values] for i in range(batch.num_rows)]
    return {"kind": "table", "columns": columns, "rows": rows}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= 200 else text[:200] + "…"


def _plain(value: Any) -> Any:
    """A statistic as a number or short text (bytes and dates as text)."""
    if value is None or isinstance(value, (int, float)):
        return value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value)
    return text if len(text) <= 60 else text[:60] + "…"
