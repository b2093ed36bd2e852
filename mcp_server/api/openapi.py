"""`GET /api/v1/openapi.json`: an OpenAPI 3.1 document built from the route table.

Each `Operation` names its body, query and answer models; their JSON schemas (pydantic's, which
are JSON Schema 2020-12, OpenAPI 3.1's dialect) go into `components/schemas`, so what the
document says is what the server validates and sends. Built once, when the app is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mcp_server.api.models import Problem
from mcp_server.api.routing import JSON, ApiRoute, Operation

PREFIX = "/api/v1"
REF = "#/components/schemas/{model}"
PROBLEM = "application/problem+json"
# Bodies that are not a model: whole text, a tar, this document.
_RAW_SCHEMAS: dict[str, dict[str, Any]] = {
    "text/plain": {"type": "string"},
    "application/x-tar": {"type": "string", "contentMediaType": "application/x-tar"},
    JSON: {"type": "object"},
    "text/event-stream": {"type": "string", "description": "server-sent events: `id:`, "
                          "`event:` (the kind) and one `data:` line of JSON per event"},
}
_DIRECTOR_KEY: dict[str, list[str]] = {"directorKey": []}


def openapi_route(routes: Sequence[ApiRoute]) -> ApiRoute:
    """The route that serves the document of `routes` and of itself."""

    async def serve(_: Request) -> Response:
        return JSONResponse(document)

    route = ApiRoute("/openapi.json", {
        "GET": Operation(serve, "This document: every route, its methods and schemas."),
    })
    document = openapi_document([*routes, route])
    return route


def openapi_document(routes: Sequence[ApiRoute]) -> dict[str, Any]:
    refs, schemas = _schemas(routes)
    paths = {
        PREFIX + route.path: {
            method.lower(): _operation(route, operation, refs)
            for method, operation in route.operations.items()
        }
        for route in routes
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Aura Orchestra Director API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"directorKey": {
                "type": "http", "scheme": "bearer",
                "description": "the Director key (AURA_DIRECTOR_KEY or director.key)",
            }},
        },
        "security": [_DIRECTOR_KEY],
    }


Key = tuple[type[BaseModel], JsonSchemaMode]


def _schemas(routes: Sequence[ApiRoute]) -> tuple[dict[Key, dict[str, Any]], dict[str, Any]]:
    """Every model's schema once: bodies as they are validated, answers as they are sent."""
    wanted: set[Key] = {(Problem, "serialization")}
    for route in routes:
        for op in route.operations.values():
            wanted |= {(op.body, "validation")} if op.body else set()
            wanted |= {(op.answer, "serialization")} if op.answer else set()
    ordered = sorted(wanted, key=lambda key: (key[0].__name__, key[1]))
    refs, definitions = models_json_schema(ordered, ref_template=REF)
    by_key = {key: refs[key] for key in ordered}  # keyed by our models, for the type checker
    return by_key, definitions.get("$defs", {})


def _operation(
    route: ApiRoute, op: Operation, refs: dict[Key, dict[str, Any]]
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "summary": op.summary,
        "parameters": _parameters(route, op),
        "responses": {
            str(op.status): _answer(op, refs),
            "default": {"description": "an error (RFC 9457)", "content": {
                PROBLEM: {"schema": refs[(Problem, "serialization")]}}},
        },
    }
    if op.may_create:
        doc["responses"]["201"] = _answer(op, refs)
    if op.body is not None:
        doc["requestBody"] = {"required": True, "content": {
            JSON: {"schema": refs[(op.body, "validation")]}}}
    return doc


def _answer(op: Operation, refs: dict[Key, dict[str, Any]]) -> dict[str, Any]:
    if op.status == 204:
        return {"description": "done; no body"}
    if op.answer is not None:
        schema = refs[(op.answer, "serialization")]
    else:
        schema = _RAW_SCHEMAS[op.media_type]
    return {"description": op.summary, "content": {op.media_type: {"schema": schema}}}


def _parameters(route: ApiRoute, op: Operation) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": adapter.json_schema()}
        for name, adapter in route.params.items()
    ]
    if op.query is not None:
        schema = op.query.model_json_schema()
        required = set(schema.get("required", []))
        params += [
            {"name": name, "in": "query", "required": name in required, "schema": field}
            for name, field in schema["properties"].items()
        ]
    return params
