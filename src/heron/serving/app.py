"""The scoring server's ASGI app: ``create_app(model, settings)``.

- ``POST /invocations`` (and ``POST /predict``, the same): a body in one of MLflow's scoring
  formats (:mod:`heron.serving.formats`) -> ``{"predictions": [...]}``;
- ``GET /health``: ``{"status": "ok"}`` once the model is loaded; ``GET /ping``: 200 with the
  body MLflow's scoring server sends (``"\\n"``); ``GET /version``: Heron's version as the bare
  text MLflow's ``/version`` answers (its own version); ``GET /metadata``: the model (name,
  version, flavor, signature, …) and how the server batches;
- ``GET /docs`` and ``GET /openapi.json``: the OpenAPI description, by FastAPI.

The endpoints above are answered by :class:`ScoringApp` itself, a plain ASGI callable: it reads
the body bytes, parses them with orjson and sends bytes written by orjson, with no framework
between uvicorn and the model (no routing, request objects, middleware or pydantic on the hot
path). FastAPI serves the documentation: its app (which describes the same endpoints) is
built when ``/docs`` or ``/openapi.json`` is first asked for, so that neither its import
time nor its memory is spent by a server nobody reads the docs of.

Errors are ``{"error": {"code", "message"}, "error_code", "message"}`` (Heron's object beside
MLflow's top-level fields) with a 4xx status (400 a bad body or input, 404 an unknown path,
405 a wrong method, 413 too large, 415 a media type not read); a 500 is a bug.

``params`` the model's ``predict`` does not take are ignored, as MLflow does, with a
``Warning`` header on the answer and a log line; ``--strict-params`` answers 400 instead.

Bodies of at least :data:`THREAD_BYTES` bytes are parsed, checked and shaped in a worker
thread (and their answers written there), so that health checks and small requests are
answered while a large one is read; smaller bodies stay on the event loop, which is faster.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson

from heron._version import __version__
from heron.core.errors import HeronError, NotFound
from heron.serving.batching import MicroBatcher
from heron.serving.errors import BadRequest, BodyTooLarge, PredictionFailed
from heron.serving.formats import FORMATS, MEDIA_TYPES, RequestParser
from heron.serving.scoring import DUMP_OPTIONS, Scorer, error_body
from heron.serving.settings import ServeSettings

if TYPE_CHECKING:
    from heron.models.model import Model

logger = logging.getLogger("heron.serving")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SCORING_PATHS = ("/invocations", "/predict")
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/openapi.json")
_JSON = b"application/json"
#: bodies of at least this many bytes are parsed and prepared in a worker thread
THREAD_BYTES = 256 * 1024
Headers = list[tuple[bytes, bytes]]


class MethodNotAllowed(HeronError):
    """A known path asked with a method it does not answer (405)."""

    code = "METHOD_NOT_ALLOWED"
    http_status = 405


class ClientGone(Exception):
    """The client disconnected before its body arrived."""


class ScoringService:
    """The server's work, apart from HTTP: score a body, describe the model."""

    def __init__(self, model: Model, settings: ServeSettings) -> None:
        self.model = model
        self.settings = settings
        self.scorer = Scorer(model)
        self.parser = RequestParser(model.signature)
        batching = settings.batching_for(model.flavor)
        self.batcher = MicroBatcher(
            self.scorer.predict,
            max_rows=settings.batch_max_size if batching else 1,
            timeout_s=settings.batch_timeout_ms / 1000,
        )
        self.max_body = settings.max_body_bytes
        self.thread_bytes = THREAD_BYTES
        self._reader: ThreadPoolExecutor | None = None
        self.inferences = inference_logger(model, settings) if settings.log_inferences else None

    async def score(
        self, body: bytes, content_type: str | None, request_id: str | None = None
    ) -> tuple[int, bytes, Headers | None]:
        """The status, JSON body and extra headers answering a scoring request (logged, with
        ``request_id`` or a new one, under ``--log-inferences``)."""
        try:
            large = len(body) >= self.thread_bytes
            if large:  # off the event loop: /health and small requests go on meanwhile
                loop = asyncio.get_running_loop()
                params, prepared = await loop.run_in_executor(
                    self.reader(), self._read_large, body, content_type
                )
            else:
                params, prepared = self._read(body, content_type)
            params, headers = self.check_params(params)
            predictions = await self.batcher.predict(prepared, params)
            if self.inferences is not None:
                logged = self.inferences.record(prepared, predictions, request_id)
                headers = [*(headers or ()), (b"x-request-id", logged.encode())]
            if large:
                answer = await loop.run_in_executor(self.reader(), self.scorer.answer, predictions)
            else:
                answer = self.scorer.answer(predictions)
            return 200, answer, headers
        except HeronError as e:
            return (*_error(e), None)
        except Exception as e:  # a bug: say so in JSON, keep serving
            logger.exception("scoring failed")
            return (*_error(PredictionFailed(f"The server failed: {type(e).__name__}: {e}")), None)

    def _read(self, body: bytes, content_type: str | None) -> tuple[dict[str, Any] | None, Any]:
        """The request's ``params`` and its input prepared for the model (the parsed rows
        are freed on return: in the reader thread, for large bodies)."""
        parsed = self.parser.parse(body, content_type)
        return parsed.params, self.scorer.prepare(parsed)

    def _read_large(self, body: bytes, content_type: str | None) -> tuple[Any, Any]:
        """:meth:`_read` in the reader thread, with the cyclic garbage collector paused: the
        millions of lists a large JSON body becomes would set off full collections, each
        holding the GIL (and so the event loop) for 100 ms or more. They hold no cycles and
        are freed by reference counting when read."""
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._read(body, content_type)
        finally:
            if paused:
                gc.enable()

    def reader(self) -> ThreadPoolExecutor:
        """The thread that reads large bodies (one: large bodies are read one at a time)."""
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="heron-read")
        return self._reader

    def check_params(
        self, params: dict[str, Any] | None
    ) -> tuple[dict[str, Any] | None, Headers | None]:
        """The ``params`` to pass to the model and the headers of the answer: those the
        model's predict does not take are dropped with a warning (MLflow's behaviour), or
        kept, so that the model refuses them with a 400, under ``--strict-params``."""
        if not params or self.settings.strict_params:
            return params, None
        kept, ignored = self.model.split_params(params)
        if not ignored:
            return params, None
        names = ", ".join(repr(name[:60]) for name in ignored[:10])
        takes = self.model.param_names()
        text = (
            f"params {names} ignored: the model's predict does not take them"
            + (f" (it takes {', '.join(takes)})" if takes else "")
            + "; heron serve --strict-params refuses them instead"
        )
        logger.warning("%s", text)
        quoted = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in text)
        return kept or None, [(b"warning", f'299 heron "{quoted[:800]}"'.encode())]

    def check_length(self, declared: str | None) -> None:
        """A 413 before reading a body whose ``Content-Length`` is over the limit."""
        if declared is None:
            return
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest(f"Content-Length {declared[:40]!r} is not a number.") from None
        if size > self.max_body:
            raise self.too_large(size)

    def too_large(self, size: int) -> BodyTooLarge:
        return BodyTooLarge(
            f"The body has {size:,} bytes or more, more than the server takes "
            f"({self.settings.max_body_mb:g} MB, --max-body-mb): send fewer rows per request."
        )

    def metadata(self) -> dict[str, Any]:
        described = self.model.describe()
        described["server"] = {
            "heron": __version__,
            "pid": os.getpid(),
            "batching": self.batcher.enabled,
            "batch_max_size": self.batcher.max_rows,
            "batch_timeout_ms": self.settings.batch_timeout_ms,
            "max_body_mb": self.settings.max_body_mb,
            "strict_params": self.settings.strict_params,
            "input_path": "array" if self.model.array_path else None,
            "predict_calls": self.batcher.calls,
            "batched_requests": self.batcher.batched_requests,
            "formats": list(FORMATS),
            "media_types": list(MEDIA_TYPES),
            "inference_log": self.inferences.stats() if self.inferences else None,
        }
        return described

    def close(self) -> None:
        """Write the inferences still pending (the server is stopping)."""
        if self.inferences is not None:
            self.inferences.close()


def inference_logger(model: Model, settings: ServeSettings) -> Any:
    """The :class:`~heron.monitoring.inferences.InferenceLogger` of a served model."""
    from heron.monitoring.inferences import InferenceLogger, LoggedModel, log_root

    artifact = model.artifact
    if settings.registered_name:
        logged = LoggedModel(settings.registered_name, str(settings.registered_version))
    else:
        logged = LoggedModel(artifact.name, str(artifact.version))
    root = settings.inference_log_uri or log_root(settings.tracking_uri)
    signature = model.signature
    return InferenceLogger(root, logged, signature.columns if signature else None)


class ScoringApp:
    """The ASGI app (see the module doc)."""

    def __init__(self, model: Model, settings: ServeSettings) -> None:
        self.service = ScoringService(model, settings)
        self._docs: Any = None
        get: dict[str, Callable[[], bytes]] = {
            "/health": lambda: b'{"status":"ok"}',
            "/ping": lambda: b"\n",  # what MLflow's scoring server answers
            "/version": lambda: __version__.encode(),  # bare, as MLflow's (its version)
            "/metadata": lambda: orjson.dumps(
                self.service.metadata(), option=DUMP_OPTIONS, default=str
            ),
        }
        self._get = get

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path, method = scope["path"], scope["method"]
            if path in SCORING_PATHS:
                if method == "POST":
                    await self._score(scope, receive, send)
                else:
                    error = _error(MethodNotAllowed(f"{path} takes POST."))
                    await _answer(send, *error, allow=b"POST")
            elif path in self._get:
                if method in ("GET", "HEAD"):
                    await _answer(send, 200, self._get[path]())
                else:
                    error = _error(MethodNotAllowed(f"{path} takes GET."))
                    await _answer(send, *error, allow=b"GET, HEAD")
            elif path in DOCS_PATHS:
                await self.docs_app()(scope, receive, send)
            else:
                paths = ", ".join((*SCORING_PATHS, *self._get, "/docs"))
                await _answer(send, *_error(NotFound(f"No endpoint {path[:100]}; try {paths}.")))
        elif kind == "lifespan":
            await _lifespan(receive, send)

    async def _score(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = length = request_id = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                length = value.decode("latin-1")
            elif name == b"x-request-id":
                request_id = value.decode("latin-1")[:200]
        try:
            self.service.check_length(length)
            body = await self._body(receive)
        except HeronError as e:
            await _answer(send, *_error(e))
            return
        except ClientGone:
            return
        status, answer, headers = await self.service.score(body, content_type, request_id)
        await _answer(send, status, answer, extra=headers)

    async def _body(self, receive: Receive) -> bytes:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body = message.get("body", b"")
        if len(body) > self.service.max_body:
            raise self.service.too_large(len(body))
        if not message.get("more_body"):
            return body
        chunks, size = [body], len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.service.max_body:
                raise self.service.too_large(size)
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    def docs_app(self) -> Any:
        """The FastAPI app serving ``/docs`` and ``/openapi.json`` (built on first use)."""
        if self._docs is None:
            from heron.serving.docs import docs_app

            self._docs = docs_app(self.service)
        return self._docs


def create_app(model: Model, settings: ServeSettings) -> ScoringApp:
    """The scoring app of ``model`` (see the module doc)."""
    return ScoringApp(model, settings)


def app_from_env() -> ScoringApp:
    """The app of the settings in ``$HERON_SERVE_SETTINGS``: each ``--workers`` process loads
    the model itself (uvicorn calls this factory in every worker)."""
    from heron.serving.loading import load_served_model

    settings = ServeSettings.from_env()
    return create_app(load_served_model(settings), settings)


def _error(error: HeronError) -> tuple[int, bytes]:
    return error.http_status, error_body(error)


async def _answer(
    send: Send, status: int, body: bytes, allow: bytes | None = None, extra: Headers | None = None
) -> None:
    headers = [(b"content-type", _JSON), (b"content-length", b"%d" % len(body))]
    if allow is not None:
        headers.append((b"allow", allow))  # what a 405 must say (RFC 9110)
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
