"""The Director/Manager HTTP API on :8000 (JSON under `/api/v1/`, Director key required)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from governance.access import TokenRegistry, director_key_matches
from governance.accountant import Accountant, LedgerQuery
from governance.anchors import AnchorFile
from governance.auditor import Auditor
from mcp_server.api_inputs import (
    EMPLOYEE_NAME,
    JOB_REF,
    TOKEN_NAME,
    EmployeeEdit,
    ExportQuery,
    JobFilter,
    NewEmployee,
    NewToken,
    Page,
)
from mcp_server.http import Probe, Render, bearer_token, ops_routes, problem, problem_handlers
from mcp_server.payloads import read_body, read_path, read_query
from orchestra.errors import NotFound
from orchestra.models import Employee, Job
from orchestra.queue import JobQueue
from orchestra.roster import Roster
from orchestra.sandbox import Sandboxes
from orchestra.store.db import Database
from tools.pool import pool_view
from tools.roster import roster_view
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
    sandboxes: Sandboxes


def _director_only(key: str, handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        presented = bearer_token(request)
        if presented is None or not director_key_matches(presented, key):
            response = problem(401, "unauthorized", "send the Director key as a Bearer token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="aura-director"'
            return response
        return await handler(request)

    return guarded


def _by_method(handlers: Mapping[str, Handler]) -> Handler:
    """One endpoint for a path's methods, so a wrong method gets 405 naming all allowed."""

    async def dispatch(request: Request) -> Response:
        # Starlette admits HEAD wherever GET is allowed.
        handler = handlers.get(request.method) or handlers["GET"]
        return await handler(request)

    return dispatch


def job_view(job: Job) -> dict[str, Any]:
    """A job as the Director API shows it: the MCP result's shape (DESIGN §10) with what a
    person listing jobs also wants, the prompt and the project."""
    return {**job_result(job).model_dump(), "prompt": job.prompt, "project": job.project}


def _text_of(job: Job, part: str) -> str:
    """The job's whole output or diff; absent is a 404 that says why."""
    text: str | None = job.output if part == "output" else job.diff
    if text is None:
        raise NotFound(f"job {job.id} has no {part} ({job.status.value})")
    return text


def build_api(services: ApiServices, ready: Probe, metrics: Render) -> Starlette:
    s = services

    async def create_token(request: Request) -> Response:
        body = await read_body(request, NewToken)
        issued = await s.tokens.create(body.name, actor=DIRECTOR)
        return JSONResponse({"name": issued.name, "token": issued.token}, status_code=201)

    async def list_tokens(_: Request) -> Response:
        return JSONResponse({"tokens": await s.tokens.list_tokens()})

    async def revoke_token(request: Request) -> Response:
        await s.tokens.revoke(read_path(request, "name", TOKEN_NAME), actor=DIRECTOR)
        return Response(status_code=204)

    async def hire(request: Request) -> Response:
        body = await read_body(request, NewEmployee)
        employee = await s.roster.hire(body.hire_request(), actor=DIRECTOR)
        return JSONResponse(employee.public(), status_code=201)

    async def list_employees(_: Request) -> Response:
        return JSONResponse({"employees": await roster_view(s.roster)})

    async def edit_employee(request: Request) -> Response:
        name = read_path(request, "name", EMPLOYEE_NAME)
        body = await read_body(request, EmployeeEdit)
        employee = await s.roster.edit(
            name, body.changes(), actor=DIRECTOR, check_command=body.check_command
        )
        return JSONResponse(employee.public())

    def standing(move: Callable[..., Awaitable[Employee]]) -> Handler:
        """POST /employees/{name}/<move>: terminate, suspend or reinstate, by the Director."""

        async def handler(request: Request) -> Response:
            name = read_path(request, "name", EMPLOYEE_NAME)
            return JSONResponse((await move(name, actor=DIRECTOR)).public())

        return handler

    async def list_jobs(request: Request) -> Response:
        query = read_query(request, JobFilter)
        jobs = await s.queue.list_jobs(status=query.status, limit=query.limit)
        return JSONResponse({"jobs": [job_view(j) for j in jobs]})

    async def job_of(request: Request) -> Job:
        """The job the path names, by whole id or unique prefix (`JobQueue.resolve`)."""
        return await s.queue.resolve(read_path(request, "job_id", JOB_REF))

    async def get_job(request: Request) -> Response:
        return JSONResponse(job_view(await job_of(request)))

    async def cancel_job(request: Request) -> Response:
        job = await job_of(request)
        return JSONResponse(job_view(await s.queue.cancel(job.id, actor=DIRECTOR)))

    async def job_output(request: Request) -> Response:
        return PlainTextResponse(_text_of(await job_of(request), "output"))

    async def job_diff(request: Request) -> Response:
        return PlainTextResponse(_text_of(await job_of(request), "diff"))

    async def job_runlog(request: Request) -> Response:
        job = await job_of(request)
        return PlainTextResponse(await s.tools.runlogs.text(job.id))

    async def export_job(request: Request) -> Response:
        """The job's before or after state as a tar, written by git and streamed from disk."""
        job = await job_of(request)
        state = read_query(request, ExportQuery).state
        scratch = Path(tempfile.mkdtemp(prefix="aura-export-"))
        try:
            tar = await s.sandboxes.export(job.id, state, scratch / f"{job.id}-{state}.tar")
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return FileResponse(
            tar, media_type="application/x-tar", filename=tar.name,
            background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True),
        )

    async def pool(_: Request) -> Response:
        return JSONResponse((await pool_view(s.tools)).model_dump())

    async def audit_verify(_: Request) -> Response:
        report = await s.auditor.verify(s.db, anchors=s.anchors.read())
        return JSONResponse(report.as_dict())

    async def ledger(request: Request) -> Response:
        limit = read_query(request, Page).limit
        return JSONResponse(await s.accountant.ledger(s.db, LedgerQuery(limit=limit)))

    def route(path: str, **handlers: Handler) -> Route:
        endpoint = _director_only(s.director_key, _by_method(handlers))
        return Route(path, endpoint, methods=list(handlers))

    api = [
        route("/tokens", POST=create_token, GET=list_tokens),
        route("/tokens/{name}", DELETE=revoke_token),
        route("/employees", POST=hire, GET=list_employees),
        route("/employees/{name}", PATCH=edit_employee),
        route("/employees/{name}/terminate", POST=standing(s.roster.terminate)),
        route("/employees/{name}/suspend", POST=standing(s.roster.suspend)),
        route("/employees/{name}/reinstate", POST=standing(s.roster.reinstate)),
        route("/jobs", GET=list_jobs),
        route("/jobs/{job_id}", GET=get_job),
        route("/jobs/{job_id}/export", GET=export_job),
        route("/jobs/{job_id}/cancel", POST=cancel_job),
        route("/jobs/{job_id}/output", GET=job_output),
        route("/jobs/{job_id}/diff", GET=job_diff),
        route("/jobs/{job_id}/runlog", GET=job_runlog),
        route("/pool", GET=pool),
        route("/audit/verify", GET=audit_verify),
        route("/ledger", GET=ledger),
    ]
    return Starlette(
        routes=[Mount("/api/v1", routes=api), *ops_routes(ready, metrics)],
        exception_handlers=problem_handlers(),
    )
