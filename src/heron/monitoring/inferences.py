"""The inference log: what a served (or batch-scored) model was asked and what it answered.

Rows are written as Parquet files under ``<root>/inferences/<model>/version=<V>/hour=<H>/``
(``<root>`` the artifact root, or the ``--inference-log-uri`` given; ``<H>`` the UTC hour of
the rows, ``2026-12-07T14``), one file per flush. Each row holds the input columns, the
prediction (``prediction``, or ``prediction_<k>`` for several outputs), ``timestamp`` (UTC),
``model_version`` and ``request_id``.

:class:`InferenceLogger` is what ``heron serve --log-inferences`` uses: :meth:`record` only
appends references to a list (the scoring path never converts or writes); a background thread
converts and writes every :data:`FLUSH_SECONDS` or :data:`FLUSH_ROWS` rows. Memory is bounded
by :data:`MAX_PENDING_ROWS`: rows past it, and rows of a flush that fails, are dropped, counted
and warned about, never waited for. A file is written under a temporary name and renamed, so
a reader (or a server killed with SIGKILL) never leaves half a file: a kill loses at most the
rows recorded since the last flush.

:func:`log_inferences` writes one batch at once (batch scoring); :func:`read_inferences` reads
them back, for a time window.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import itertools
import logging
import os
import posixpath
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from heron.core.errors import ConfigError, InvalidArgument, NotFound

logger = logging.getLogger("heron.monitoring")

#: a flush happens at least this often while rows are pending …
FLUSH_SECONDS = 5.0
#: … or as soon as this many rows are pending
FLUSH_ROWS = 20_000
#: rows held in memory at most; rows past it are dropped (counted, with a warning)
MAX_PENDING_ROWS = 200_000
#: the folder under the root that holds the inference log
FOLDER = "inferences"
#: columns every row has beside the inputs and predictions
META_COLUMNS = ("timestamp", "model_version", "request_id")
#: a dropped-rows warning is logged at most this often
WARN_EVERY_S = 60.0


def pyarrow_modules() -> tuple[Any, Any]:
    """``pyarrow`` and ``pyarrow.parquet``, or a :class:`ConfigError` naming the extra."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ConfigError(
            f"The inference log is written as Parquet, which needs pyarrow ({e}). Install it "
            "with: pip install 'heron[monitoring]'"
        ) from None
    return pa, pq


def log_root(tracking_uri: str | None = None, log_uri: str | None = None) -> str:
    """Where the inference log goes: ``log_uri``, else ``$HERON_INFERENCE_LOG_URI``, else
    ``<artifact root>/inferences``. A tracking server's artifacts are reached through the
    server, which takes content-addressed objects only: for it, an fsspec root (``s3://…``, a
    shared folder) must be given."""
    from heron.core import config

    log_uri = log_uri or environment_log_uri()
    if log_uri:
        return log_uri.rstrip("/")
    root = config.get_artifact_uri(tracking_uri)
    if root.startswith(("http://", "https://")):
        raise ConfigError(
            f"The artifacts of {root} go through the tracking server, which does not hold "
            "inference logs. Give a folder or object-store URI the monitors can read: "
            "--inference-log-uri s3://bucket/heron/inferences (or HERON_INFERENCE_LOG_URI)."
        )
    return posixpath.join(root.rstrip("/"), FOLDER)


def safe_name(name: str) -> str:
    """``name`` as one path segment (a model name may hold characters a path cannot)."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")
    return cleaned or "model"


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """Which model the rows are of: its name (registered, or the artifact's) and version."""

    name: str
    version: str


def _filesystem(root: str) -> tuple[Any, str]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(root)
    return fs, path


def _hour_of(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H")


#: one recorded request: time, request id, inputs, predictions, rows of the inputs
_Entry = tuple[float, str, Any, Any, int]


def _by_hour(entries: list[_Entry]) -> list[tuple[str, list[_Entry]]]:
    """``entries`` grouped by the UTC hour of their time (one group, nearly always: the hour
    is formatted once per group, not once per entry)."""
    import numpy as np

    hours = np.fromiter((e[0] for e in entries), np.float64, len(entries)) // 3600
    if hours.min() == hours.max():
        return [(_hour_of(entries[0][0]), entries)]
    groups: dict[float, list[_Entry]] = {}
    for hour, entry in zip(hours.tolist(), entries, strict=True):
        groups.setdefault(hour, []).append(entry)
    return [(_hour_of(group[0][0]), group) for group in groups.values()]


class _Columns:
    """Turns recorded inputs and predictions into one Arrow table."""

    def __init__(self, input_names: Sequence[str] | None) -> None:
        self.input_names = list(input_names) if input_names else None

    def table(self, entries: list[_Entry], version: str) -> Any:
        import numpy as np

        pa, _ = pyarrow_modules()
        inputs = self._inputs([e[2] for e in entries])
        predictions = self._predictions([e[3] for e in entries])
        counts = np.fromiter((e[4] for e in entries), np.int64, len(entries))
        n = int(counts.sum())
        if predictions is not None and predictions.num_rows != n:
            predictions = None  # a model answering one value per request, not per row
        columns: dict[str, Any] = {}
        for name in inputs.column_names:
            columns[name] = inputs.column(name)
        if predictions is not None:
            for name in predictions.column_names:
                columns[name] = predictions.column(name)
        stamps = np.repeat(np.fromiter((e[0] for e in entries), np.float64, len(entries)), counts)
        columns["timestamp"] = pa.array((stamps * 1e6).astype("int64"), pa.timestamp("us", "UTC"))
        columns["model_version"] = pa.array([version] * n, pa.string())
        columns["request_id"] = pa.array(np.repeat(np.array([e[1] for e in entries]), counts))
        return pa.table(columns)

    def _inputs(self, values: list[Any]) -> Any:
        pa, _ = pyarrow_modules()
        first = values[0]
        if hasattr(first, "columns") and hasattr(first, "iloc"):  # pandas DataFrames
            import pandas as pd

            frame = pd.concat(values, ignore_index=True) if len(values) > 1 else first
            frame.columns = [str(c) for c in frame.columns]
            return pa.Table.from_pandas(frame, preserve_index=False)
        import numpy as np

        arrays = [np.asarray(v) for v in values]
        arrays = [a.reshape(len(a), -1) if a.ndim != 2 else a for a in arrays]
        stacked = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
        width = stacked.shape[1]
        names = self.input_names
        if not names or len(names) != width:
            names = [f"input_{i}" for i in range(width)]
        return pa.table({name: _column(stacked[:, i]) for i, name in enumerate(names)})

    def _predictions(self, values: list[Any]) -> Any:
        import numpy as np

        pa, _ = pyarrow_modules()
        first = values[0]
        if hasattr(first, "columns") and hasattr(first, "iloc"):
            import pandas as pd

            frame = pd.concat(values, ignore_index=True)
            return pa.table({f"prediction_{c}": _column(frame[c].to_numpy()) for c in frame})
        try:
            arrays = [np.asarray(v) for v in values]
            arrays = [a.reshape(1) if a.ndim == 0 else a for a in arrays]
            stacked = np.concatenate(arrays)
        except (ValueError, TypeError):
            return None
        if stacked.ndim == 1:
            return pa.table({"prediction": _column(stacked)})
        if stacked.ndim == 2:
            return pa.table(
                {f"prediction_{k}": _column(stacked[:, k]) for k in range(stacked.shape[1])}
            )
        return None


def _rows(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 1


def _column(values: Any) -> Any:
    import numpy as np

    pa, _ = pyarrow_modules()
    if values.dtype == object:
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    if values.dtype.kind in "US":
        return pa.array(values.astype(str))
    return pa.array(np.ascontiguousarray(values))


def write_table(table: Any, root: str, model: LoggedModel, hour: str) -> str:
    """Write ``table`` as one Parquet file of ``model``'s log for ``hour``; its path. The file
    appears whole (written aside, then renamed)."""
    _, pq = pyarrow_modules()
    fs, base = _filesystem(root)
    folder = posixpath.join(
        base, safe_name(model.name), f"version={safe_name(model.version)}", f"hour={hour}"
    )
    fs.makedirs(folder, exist_ok=True)
    name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}.parquet"
    final = posixpath.join(folder, name)
    aside = posixpath.join(folder, "." + name + ".tmp")
    with fs.open(aside, "wb") as out:
        pq.write_table(table, out, compression="zstd")
    fs.mv(aside, final)
    return final


class InferenceLogger:
    """Buffers what a served model scores and writes it in batches (see the module doc)."""

    def __init__(
        self,
        root: str,
        model: LoggedModel,
        input_names: Sequence[str] | None = None,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        flush_rows: int = FLUSH_ROWS,
        max_pending_rows: int = MAX_PENDING_ROWS,
    ) -> None:
        pyarrow_modules()
        self.root = root
        self.model = model
        self.flush_seconds = flush_seconds
        self.flush_rows = max(1, flush_rows)
        self.max_pending_rows = max_pending_rows
        self._columns = _Columns(input_names)
        self._pending: list[_Entry] = []
        self._pending_rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self.logged_rows = 0
        self.dropped_rows = 0
        self.files = 0
        self._last_warning = 0.0
        self._warm_up()
        self._thread = threading.Thread(target=self._run, name="heron-inferences", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _warm_up(self) -> None:
        """Convert and write one row to memory here, before serving: the writer thread's
        first flush would otherwise import what conversion needs (pyarrow imports pandas on
        its first array) while requests are scored, and code that peeks into ``sys.modules``
        (scikit-learn's ``predict`` looks for pandas there) would meet a half-imported
        module and fail those requests."""
        import numpy as np

        pa, pq = pyarrow_modules()
        width = len(self._columns.input_names or ()) or 1
        entry = (time.time(), "warm-up", np.zeros((1, width)), np.zeros(1), 1)
        with contextlib.suppress(Exception):  # best effort: a real failure shows at a flush
            _filesystem(self.root)
            table = self._columns.table([entry], self.model.version)
            pq.write_table(table, pa.BufferOutputStream(), compression="zstd")

    def new_request_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    def record(self, inputs: Any, predictions: Any, request_id: str | None = None) -> str:
        """Keep one request's inputs and predictions for the next flush (cheap: no copy, no
        conversion); its request id. Past the memory bound the rows are dropped."""
        request_id = request_id or self.new_request_id()
        rows = _rows(inputs)
        with self._lock:
            if self._closed or self._pending_rows + rows > self.max_pending_rows:
                self.dropped_rows += rows
                dropped = True
            else:
                self._pending.append((time.time(), request_id, inputs, predictions, rows))
                before, self._pending_rows = self._pending_rows, self._pending_rows + rows
                dropped = False
                # the writer is woken once, as the rows reach a flush: not by every request
                # recorded until it runs (each set() costs the scoring path a lock and notify)
                full = before < self.flush_rows <= self._pending_rows
        if dropped:
            self._warn_dropped("the inference log is behind (its writes are slow or failing)")
        elif full:
            self._wake.set()
        return request_id

    def stats(self) -> dict[str, Any]:
        return {
            "uri": self.root,
            "logged_rows": self.logged_rows,
            "dropped_rows": self.dropped_rows,
            "pending_rows": self._pending_rows,
            "files": self.files,
        }

    def flush(self) -> None:
        """Write what is pending now (in the caller's thread)."""
        with self._lock:
            entries, rows = self._pending, self._pending_rows
            self._pending, self._pending_rows = [], 0
        if not entries:
            return
        try:
            for hour, group in _by_hour(entries):
                write_table(
                    self._columns.table(group, self.model.version), self.root, self.model, hour
                )
                self.files += 1
            self.logged_rows += rows
        except Exception as e:  # a slow or failing store never fails scoring
            self.dropped_rows += rows
            self._warn_dropped(
                f"writing to {self.root} failed: {type(e).__name__}: {e}", force=True
            )

    def close(self) -> None:
        """Flush what is pending and stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._closed:
                return
            self.flush()

    def _warn_dropped(self, why: str, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            logger.warning(
                "%s: %d inference rows dropped so far (scoring goes on unaffected).",
                why,
                self.dropped_rows,
            )


def logged_model_of(resolved: Any) -> LoggedModel:
    """The :class:`LoggedModel` of a resolved model URI (``heron.models.uris.resolve``)."""
    version = resolved.model_version
    if version is not None:
        return LoggedModel(version.name, str(version.version))
    artifact = resolved.artifact
    return LoggedModel(artifact.name, str(artifact.version))


def log_inferences(
    model_uri: str,
    inputs: Any,
    predictions: Any,
    *,
    request_id: str | None = None,
    log_uri: str | None = None,
) -> str:
    """Log one batch of ``inputs`` (a DataFrame or 2-D array) and ``predictions`` of the model
    at ``model_uri`` (``models:/NAME@ALIAS``, ``models:/NAME/V``, …) now, as
    ``heron serve --log-inferences`` does for requests; the path of the file written."""
    from heron.models.uris import resolve
    from heron.store.registry import get_store

    if _rows(inputs) != _rows(predictions):
        raise InvalidArgument(
            f"inputs have {_rows(inputs)} rows and predictions {_rows(predictions)}: give one "
            "prediction per input row."
        )
    if _rows(inputs) == 0:
        raise InvalidArgument("inputs have no rows: there is nothing to log.")
    resolved = resolve(get_store(), model_uri)
    model = logged_model_of(resolved)
    names = _signature_columns(resolved.artifact)
    now = time.time()
    entry = (now, request_id or uuid.uuid4().hex, inputs, predictions, _rows(inputs))
    table = _Columns(names).table([entry], model.version)
    return write_table(table, log_root(log_uri=log_uri), model, _hour_of(now))


def _signature_columns(artifact: Any) -> list[str] | None:
    from heron.models.signature import Signature

    facts = (artifact.metadata or {}).get("model") or {}
    signature = Signature.from_dict(facts.get("signature"))
    return signature.columns if signature is not None else None


def read_inferences(
    model: str,
    version: str | int | None = None,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    log_uri: str | None = None,
) -> Any:
    """The logged rows of registered model (or artifact) ``model`` as an Arrow table: of one
    ``version`` or all, with ``since <= timestamp < until`` (UTC datetimes). Files written
    while reading are either read whole or not at all."""
    import pyarrow.dataset as ds

    pa, _ = pyarrow_modules()
    fs, base = _filesystem(log_root(log_uri=log_uri))
    folder = posixpath.join(base, safe_name(model))
    if not fs.exists(folder):
        raise NotFound(
            f"No inferences are logged for {model!r} under {posixpath.dirname(folder)}. Serve "
            "it with heron serve --log-inferences, or log batches with "
            "heron.monitoring.log_inferences."
        )
    files = []
    for path in fs.find(folder):
        name = posixpath.basename(path)
        if not name.endswith(".parquet") or name.startswith("."):
            continue
        parts = dict(p.split("=", 1) for p in path[len(folder) :].split("/") if "=" in p)
        if version is not None and parts.get("version") != safe_name(str(version)):
            continue
        hour = parts.get("hour")
        if hour and not _hour_overlaps(hour, since, until):
            continue
        files.append(path)
    if not files:
        return pa.table({c: pa.array([], pa.string()) for c in META_COLUMNS})
    schema = _unified_schema(files, fs)
    table = ds.dataset(files, schema=schema, filesystem=fs, format="parquet").to_table()
    stamps = table.column("timestamp")
    import pyarrow.compute as pc

    mask = None
    if since is not None:
        mask = pc.greater_equal(stamps, pa.scalar(as_utc(since), pa.timestamp("us", "UTC")))
    if until is not None:
        upper = pc.less(stamps, pa.scalar(as_utc(until), pa.timestamp("us", "UTC")))
        mask = upper if mask is None else pc.and_(mask, upper)
    return table if mask is None else table.filter(mask)


def _unified_schema(files: list[str], fs: Any) -> Any:
    """One schema for all ``files``: a column is widened where its types differ (int to
    float, and so on), and read as text where they cannot be reconciled (numbers in one file,
    words in another), so the data-quality checks flag it instead of the read failing. A
    column missing from some files is null there."""
    import pyarrow.parquet as pq

    pa, _ = pyarrow_modules()
    types: dict[str, list[Any]] = {}
    for path in files:
        for field in pq.read_schema(path, filesystem=fs):
            types.setdefault(field.name, []).append(field.type)
    fields = []
    for name, found in types.items():
        try:
            merged = pa.unify_schemas(
                [pa.schema([pa.field(name, t)]) for t in found], promote_options="permissive"
            ).field(name)
        except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            kinds = sorted({str(t) for t in found})
            logger.warning(
                "Logged column %r has types %s in different files; it is read as text.",
                name,
                ", ".join(kinds),
            )
            merged = pa.field(name, pa.string())
        fields.append(merged)
    return pa.schema(fields)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC (a naive datetime is taken as UTC)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _hour_overlaps(hour: str, since: dt.datetime | None, until: dt.datetime | None) -> bool:
    try:
        start = dt.datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)
    except ValueError:
        return True
    end = start + dt.timedelta(hours=1)
    if since is not None and end <= as_utc(since):
        return False
    return not (until is not None and start >= as_utc(until))


def environment_log_uri() -> str | None:
    """``$HERON_INFERENCE_LOG_URI``, or ``None``."""
    return os.environ.get("HERON_INFERENCE_LOG_URI") or None
