"""The scoring server's OpenAPI description and ``/docs`` page, by FastAPI.

:class:`~heron.serving.app.ScoringApp` answers the endpoints itself and hands ``/docs`` and
``/openapi.json`` to the app built here on first use. The app declares the same endpoints
(with examples of each request format), and answers them the same way through the same
:class:`~heron.serving.app.ScoringService`, so it is also a complete server on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from heron._version import __version__
from heron.serving.scoring import DUMP_OPTIONS

if TYPE_CHECKING:
    from heron.serving.app import ScoringService

JSON = "application/json"

SCORING_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            JSON: {
                "schema": {"type": "object"},
                "examples": {
                    "dataframe_split": {
                        "value": {
                            "dataframe_split": {"columns": ["x1", "x2"], "data": [[1.0, 2.0]]}
                        }
                    },
                    "dataframe_records": {"value": {"dataframe_records": [{"x1": 1.0, "x2": 2.0}]}},
                    "instances": {"value": {"instances": [[1.0, 2.0]]}},
                    "inputs": {"value": {"inputs": {"x1": [1.0], "x2": [2.0]}}},
                    "params": {"value": {"inputs": [[1.0, 2.0]], "params": {"k": 1}}},
                },
            },
            "text/csv": {"schema": {"type": "string"}, "example": "x1,x2\n1.0,2.0\n"},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "responses": {
        "200": {
            "description": "One prediction per input row",
            "content": {JSON: {"example": {"predictions": [0]}}},
        },
        "400": {"description": "A malformed body, or input that does not fit the signature"},
        "413": {"description": "A body larger than --max-body-mb"},
        "415": {"description": "A Content-Type the server does not read"},
    },
}


def docs_app(service: ScoringService) -> FastAPI:
    """A FastAPI app of ``service``'s endpoints, for ``/docs`` and ``/openapi.json``."""
    model = service.model
    app = FastAPI(
        title=f"Heron scoring server: {model.registered_name or model.uri}",
        version=__version__,
        description=(
            f"Scores `{model.uri}` ({model.flavor}). POST a body in one of MLflow's scoring "
            'formats to /invocations; the answer is `{"predictions": [...]}`. Errors are '
            '`{"error": {"code", "message"}, "error_code", "message"}` with a 4xx status.'
        ),
        redoc_url=None,
    )

    async def invocations(request: Request) -> Response:
        status, body, headers = await service.score(
            await request.body(), request.headers.get("content-type")
        )
        extra = {k.decode(): v.decode() for k, v in headers or ()}
        return Response(body, status_code=status, media_type=JSON, headers=extra)

    def reply(data: Any) -> Response:
        return Response(orjson.dumps(data, option=DUMP_OPTIONS, default=str), media_type=JSON)

    async def health() -> Response:
        return reply({"status": "ok"})

    async def ping() -> Response:
        return Response(b"\n", media_type=JSON)

    async def version() -> Response:
        return Response(__version__.encode(), media_type=JSON)

    async def metadata() -> Response:
        return reply(service.metadata())

    for path, summary in (
        ("/invocations", "Score inputs in one of MLflow's request formats"),
        ("/predict", "The same as /invocations"),
    ):
        app.add_api_route(
            path, invocations, methods=["POST"], summary=summary, openapi_extra=SCORING_DOC
        )
    app.add_api_route("/health", health, methods=["GET"], summary="200 once the model is loaded")
    app.add_api_route(
        "/ping", ping, methods=["GET"], summary="200 once the model is loaded, as MLflow's"
    )
    app.add_api_route(
        "/version", version, methods=["GET"], summary="Heron's version, bare, as MLflow's"
    )
    app.add_api_route(
        "/metadata", metadata, methods=["GET"], summary="The model served and the server settings"
    )
    return app
