"""The OpenAPI 3.1 document of the tracking server, generated from the route table of
:mod:`heron.store.rest.protocol` (the same request models the server validates with), and
the ``/docs`` page (Swagger UI, by FastAPI's helper)."""

from __future__ import annotations

import functools
from typing import Any

import orjson

from heron._version import __version__
from heron.store.rest import protocol

_REF = "#/components/schemas/{model}"

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}


def _schema(adapter: Any, defs: dict[str, Any], mode: str) -> dict[str, Any]:
    schema = adapter.json_schema(mode=mode, ref_template=_REF)
    defs.update(schema.pop("$defs", {}))
    return schema


def _error_responses(route: protocol.Route) -> dict[str, Any]:
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    responses = {
        "400": {"description": "An invalid value (the message names it)", **ref},
        "404": {"description": "An unknown id or name", **ref},
        "409": {"description": "A conflicting write", **ref},
        "413": {"description": "The body is too large", **ref},
        "422": {"description": "A field that does not validate", **ref},
        "503": {"description": "The database is unavailable; send again later", **ref},
    }
    return responses


def _paged(defs: dict[str, Any]) -> dict[str, Any]:
    from pydantic import TypeAdapter

    from heron.core.entities import Run

    items = _schema(TypeAdapter(list[Run]), defs, "serialization")
    return {
        "type": "object",
        "properties": {"items": items, "token": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
        "required": ["items", "token"],
    }


def _non_finite(schema: Any) -> Any:
    """Numbers on the wire may also be the strings NaN, Infinity and -Infinity."""
    if isinstance(schema, dict):
        if schema.get("type") == "number":
            return {"anyOf": [schema, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}
        return {k: _non_finite(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_non_finite(v) for v in schema]
    return schema


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once per process)."""
    from pydantic import TypeAdapter

    defs: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for route in protocol.ROUTES:
        model = protocol.request_model(route.name)
        schema = model.model_json_schema(ref_template=_REF)
        defs.update(schema.pop("$defs", {}))
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": properties[name]}
            for name in route.path_fields
        ]
        operation: dict[str, Any] = {
            "operationId": route.name,
            "summary": route.summary,
            "tags": [route.tag],
        }
        body_fields = {k: v for k, v in properties.items() if k not in route.path_fields}
        if route.in_query:
            parameters += [
                {"name": name, "in": "query", "required": name in required, "schema": field}
                for name, field in body_fields.items()
            ]
        else:
            operation["requestBody"] = {
                "required": bool(required - set(route.path_fields)),
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": body_fields,
                            "required": sorted(required - set(route.path_fields)),
                            "additionalProperties": False,
                        }
                    }
                },
            }
        if parameters:
            operation["parameters"] = parameters
        if protocol.result_type(route.name) is protocol.PagedList:
            result = _paged(defs)
        else:
            result = _schema(TypeAdapter(protocol.result_type(route.name)), defs, "serialization")
        if route.name == "get_metric_history":
            result = {  # [key, value, step, timestamp] arrays
                "type": "array",
                "items": {
                    "type": "array",
                    "prefixItems": [
                        {"type": "string"},
                        {"type": "number"},
                        {"type": "integer"},
                        {"type": "integer"},
                    ],
                    "minItems": 4,
                    "maxItems": 4,
                },
            }
        operation["responses"] = {
            "200": {
                "description": "The result",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"result": result},
                            "required": ["result"],
                        }
                    }
                },
            },
            **_error_responses(route),
        }
        paths.setdefault(route.full_path, {})[route.method.lower()] = operation
    paths["/health"] = {
        "get": {
            "operationId": "health",
            "summary": "Whether the server and its database answer.",
            "tags": ["server"],
            "responses": {
                "200": {"description": "Ready", "content": {"application/json": {"schema": {}}}},
                "503": {"description": "The database does not answer"},
            },
        }
    }
    paths[protocol.API_PREFIX + "/info"] = {
        "get": {
            "operationId": "info",
            "summary": "The server's version, protocol and artifact root.",
            "tags": ["server"],
            "responses": {
                "200": {
                    "description": "The server",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Heron tracking server",
            "version": __version__,
            "description": (
                "Experiments, runs, metrics, artifacts, lineage and the model registry. "
                "Every route is one method of Heron's Store interface. Non-finite numbers are "
                'sent as the strings "NaN", "Infinity" and "-Infinity".'
            ),
        },
        "paths": _non_finite(paths),
        "components": {"schemas": _non_finite(defs)},
    }


def docs_app(app: Any) -> Any:
    """A small ASGI app answering ``/openapi.json`` and ``/docs`` (Swagger UI)."""
    from fastapi.openapi.docs import get_swagger_ui_html

    body = orjson.dumps(document())
    html = get_swagger_ui_html(openapi_url="/openapi.json", title="Heron tracking server").body

    async def serve(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] == "/openapi.json":
            payload, content_type = body, b"application/json"
        else:
            payload, content_type = html, b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return serve
