"""The Director/Manager HTTP API on :8000 (JSON under `/api/v1/`, Director key required)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from governance.access import TokenRegistry, director_key_matches
from governance.accountant import Accountant
from governance.anchors import AnchorFile
from governance.auditor import Auditor
from mcp_server.http import (
    Probe,
    Render,
    bearer_token,
    json_body,
    ops_routes,
    problem,
    problem_from,
)
from orchestra.errors import AuraError, InvalidInput
from orchestra.models import JobStatus
from orchestra.queue import JobQueue
from orchestra.roster import HireRequest, Roster
from orchestra.store.db import Database
from tools.pool import pool_view
from tools.services import ToolServices
from tools.shaping import job_result

DIRECTOR = "director"
Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class ApiServices:
    db: Database
    director_key: str
    queue: JobQueue
    roster: Roster
    tokens: TokenRegistry
    auditor: Auditor
    accountant: Accountant
    tools: ToolServices
    anchors: AnchorFile


def _director_only(key: str, handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        presented = bearer_token(request)
        if presented is None or not director_key_matches(presented, key):
            response = problem(401, "unauthorized", "send the Director key as a Bearer token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="aura-director"'
            return response
        try:
            return await handler(request)
        except AuraError as exc:
            return problem_from(exc)

    return guarded


def _limit(request: Request, default: int = 50) -> int:
    raw = request.query_params.get("limit", str(default))
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"limit must be a whole number, not {raw!r}") from None


def _hire_request(body: dict[str, Any]) -> HireRequest:
    known = set(HireRequest.__dataclass_fields__)
    unknown = sorted(set(body) - known)
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(unknown)}")
    if "name" not in body or "adapter" not in body:
        raise InvalidInput("name and adapter are required")
    return HireRequest(**body)


def build_api(services: ApiServices, ready: Probe, metrics: Render) -> Starlette:
    s = services

    async def create_token(request: Request) -> Response:
        body = await json_body(request)
        issued = await s.tokens.create(str(body.get("name", "")), actor=DIRECTOR)
        return JSONResponse({"name": issued.name, "token": issued.token}, status_code=201)

    async def list_tokens(_: Request) -> Response:
        return JSONResponse({"tokens": await s.tokens.list_tokens()})

    async def revoke_token(request: Request) -> Response:
        await s.tokens.revoke(request.path_params["name"], actor=DIRECTOR)
        return Response(status_code=204)

    async def hire(request: Request) -> Response:
        employee = await s.roster.hire(_hire_request(await json_body(request)), actor=DIRECTOR)
        return JSONResponse(employee.public(), status_code=201)

    async def list_employees(_: Request) -> Response:
        return JSONResponse({"employees": [e.public() for e in await s.roster.list_employees()]})

    async def list_jobs(request: Request) -> Response:
        raw_status = request.query_params.get("status")
        try:
            status = JobStatus(raw_status) if raw_status else None
        except ValueError:
            raise InvalidInput(f"unknown status {raw_status!r}") from None
        jobs = await s.queue.list_jobs(status=status, limit=_limit(request))
        return JSONResponse({"jobs": [job_result(j).model_dump() for j in jobs]})

    async def get_job(request: Request) -> Response:
        job = await s.queue.get(request.path_params["job_id"])
        return JSONResponse(job_result(job).model_dump())

    async def pool(_: Request) -> Response:
        return JSONResponse((await pool_view(s.tools)).model_dump())

    async def audit_verify(_: Request) -> Response:
        report = await s.auditor.verify(s.db, anchors=s.anchors.read())
        return JSONResponse(report.as_dict())

    async def ledger(request: Request) -> Response:
        return JSONResponse({"entries": await s.accountant.entries(s.db, limit=_limit(request))})

    def route(path: str, handler: Handler, methods: list[str]) -> Route:
        return Route(path, _director_only(s.director_key, handler), methods=methods)

    api = [
        route("/tokens", create_token, ["POST"]),
        route("/tokens", list_tokens, ["GET"]),
        route("/tokens/{name}", revoke_token, ["DELETE"]),
        route("/employees", hire, ["POST"]),
        route("/employees", list_employees, ["GET"]),
        route("/jobs", list_jobs, ["GET"]),
        route("/jobs/{job_id}", get_job, ["GET"]),
        route("/pool", pool, ["GET"]),
        route("/audit/verify", audit_verify, ["GET"]),
        route("/ledger", ledger, ["GET"]),
    ]
    return Starlette(routes=[Mount("/api/v1", routes=api), *ops_routes(ready, metrics)])
