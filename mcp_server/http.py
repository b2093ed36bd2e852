"""Shared HTTP edge pieces: problem+json errors, bearer parsing, health, readiness, metrics."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, cast

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ExceptionHandler

from mcp_server.api.models import Problem
from orchestra.errors import (
    Ambiguous,
    AuraError,
    BudgetExceeded,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unavailable,
)
from tools.errors import log_incident
from tools.inputs import InvalidFields

log = logging.getLogger("mcp_server.http")

_STATUS: dict[type[AuraError], int] = {
    InvalidInput: 400,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Unavailable: 503,
}


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document, shaped by the `Problem` model the OpenAPI document shows."""
    body = Problem(title=title, status=status, detail=detail, **extra)
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status,
                        media_type="application/problem+json")


def problem_from(exc: AuraError) -> JSONResponse:
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 500)
    if isinstance(exc, InvalidFields):
        return problem(status, exc.kind, str(exc), errors=[e.as_dict() for e in exc.errors])
    if isinstance(exc, Ambiguous):
        return problem(status, exc.kind, str(exc), matches=list(exc.matches))
    if isinstance(exc, BudgetExceeded):
        return problem(status, exc.kind, str(exc), budget=exc.figures)
    return problem(status, exc.kind, str(exc))


def problem_handlers() -> dict[Any, ExceptionHandler]:
    """Starlette `exception_handlers` that make every error a problem+json document: routing's
    404 and 405, `HTTPException`, the core's `AuraError` kinds, and anything unexpected."""
    # Starlette calls each handler only with its own exception class; the casts say so.
    return {
        HTTPException: cast(ExceptionHandler, _http_problem),
        AuraError: cast(ExceptionHandler, _aura_problem),
        Exception: _unexpected,
    }


async def _aura_problem(_: Request, exc: AuraError) -> Response:
    return problem_from(exc)


async def _http_problem(request: Request, exc: HTTPException) -> Response:
    status = HTTPStatus(exc.status_code)
    detail = exc.detail
    # The path is the caller's text: cut, so a long one is not echoed whole.
    path = request.url.path if len(request.url.path) <= 200 else request.url.path[:200] + "…"
    if status is HTTPStatus.NOT_FOUND and detail == status.phrase:
        detail = f"there is nothing at {path}"
    elif status is HTTPStatus.METHOD_NOT_ALLOWED:
        allowed = (exc.headers or {}).get("Allow", "")
        detail = f"{request.method} is not allowed on {path}; allowed: {allowed}"
    title = status.phrase.lower().replace(" ", "_").replace("-", "_")
    response = problem(status.value, title, detail)
    response.headers.update(exc.headers or {})
    return response


async def _unexpected(request: Request, exc: Exception) -> Response:
    """A bug or an outage we did not foresee: logged whole here, answered without internals."""
    what = f"unexpected error answering {request.method} {request.url.path[:200]}"
    incident = log_incident(log, what, exc)
    return problem(500, "internal_error",
                   f"the server failed unexpectedly; the error is logged as incident {incident}")


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


Probe = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
Render = Callable[[], Awaitable[bytes]]


def ops_routes(ready: Probe, metrics: Render, metrics_token: str | None = None) -> list[Route]:
    """`/health` (the process answers), `/ready` (database up, migrations current), `/metrics`
    (behind `Authorization: Bearer <metrics_token>` when one is set; the probes stay open, as
    orchestrators call them without credentials)."""

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readiness(_: Request) -> Response:
        ok, checks = await ready()
        return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)

    async def prometheus(request: Request) -> Response:
        if metrics_token is not None:
            presented = bearer_token(request) or ""
            if not hmac.compare_digest(presented.encode(), metrics_token.encode()):
                raise HTTPException(401, "send the metrics token (AURA_METRICS_TOKEN) as a "
                                    "Bearer token", headers={
                                        "WWW-Authenticate": 'Bearer realm="aura-metrics"'})
        body = await metrics()
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    return [
        Route("/health", health),
        Route("/ready", readiness),
        Route("/metrics", prometheus),
    ]
