"""The Director API's Starlette app: every resource module's routes under `/api/v1`, behind
the Director key, plus `/health`, `/ready`, `/metrics` and the OpenAPI document.

A new resource is a module exposing `routes(services) -> list[ApiRoute]`, added to
`RESOURCES`; its routes are then guarded, dispatched and documented like the others.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount

from mcp_server.api import (
    approvals,
    audit,
    budgets,
    employees,
    events,
    jobs,
    ledger,
    pool,
    threads,
    tokens,
)
from mcp_server.api.openapi import openapi_route
from mcp_server.api.routing import ApiServices, director_only, starlette_route
from mcp_server.http import Probe, Render, ops_routes, problem_handlers

RESOURCES = (tokens, employees, jobs, pool, budgets, ledger, audit, approvals, events,
             threads)

__all__ = ["RESOURCES", "ApiServices", "build_api"]


def build_api(
    services: ApiServices, ready: Probe, metrics: Render, metrics_token: str | None = None
) -> Starlette:
    table = [route for resource in RESOURCES for route in resource.routes(services)]
    # The document requires the key like the rest of /api/v1 (docs/decisions.md).
    table.append(openapi_route(table))
    guard = director_only(services.director_key)
    return Starlette(
        routes=[Mount("/api/v1", routes=[starlette_route(r, guard) for r in table]),
                *ops_routes(ready, metrics, metrics_token)],
        exception_handlers=problem_handlers(),
    )
