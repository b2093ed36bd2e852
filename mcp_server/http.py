"""Shared HTTP edge pieces: problem+json errors, bearer parsing, health, readiness, metrics."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestra.errors import AuraError, Conflict, Forbidden, InvalidInput, NotFound, Unavailable

_STATUS: dict[type[AuraError], int] = {
    InvalidInput: 400,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Unavailable: 503,
}


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def problem_from(exc: AuraError) -> JSONResponse:
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 500)
    return problem(status, exc.kind, str(exc))


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidInput("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    return body


Probe = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
Render = Callable[[], Awaitable[bytes]]


def ops_routes(ready: Probe, metrics: Render) -> list[Route]:
    """`/health` (the process answers), `/ready` (database up, migrations current), `/metrics`."""

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readiness(_: Request) -> Response:
        ok, checks = await ready()
        return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)

    async def prometheus(_: Request) -> Response:
        try:
            body = await metrics()
        except AuraError as exc:
            return problem_from(exc)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    return [
        Route("/health", health),
        Route("/ready", readiness),
        Route("/metrics", prometheus),
    ]
