"""The MCP endpoint: the SDK's `MCPServer` with our tools, resources and governance, served
over streamable HTTP at `/mcp` (:9000) behind bearer-token auth, or over stdio."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from governance.access import TokenRegistry
from governance.identity import CLIENT_STATE_KEY
from governance.middleware import GovernanceMiddleware
from mcp_server.http import Probe, Render, bearer_token, ops_routes, problem, problem_handlers
from orchestra.errors import AuraError
from orchestra.models import Job
from tools import approvals as approval_tools
from tools import audit as audit_tools
from tools import budgets as budget_tools
from tools import consensus as consensus_tools
from tools import consensus_tasks
from tools import jobs as job_tools
from tools import pool as pool_tools
from tools import roster as roster_tools
from tools import threads as thread_tools
from tools.errors import ToolServer
from tools.services import ToolServices
from tools.shaping import job_result
from tools.tasks import TasksExtension

# DESIGN §9's core set.
CORE_TOOLS = frozenset(
    {"submit_job", "get_job", "wait_job", "cancel_job", "ask", "list_employees"})

INSTRUCTIONS = (
    "Aura Orchestra runs work on governed model employees. Use ask for a quick question, "
    "submit_job then wait_job for work on a project (the employee edits a sandbox copy; the "
    "result carries the diff and the acceptance checks' report). Every call is audited."
)


def build_mcp_server(
    services: ToolServices, governance: GovernanceMiddleware, *, tool_set: str = "all"
) -> MCPServer:
    # Tool name -> how it answers a Tasks-capable client with a task (tools/tasks.py); a
    # tool module that starts durable work adds its entries here.
    task_tools = {**job_tools.task_tools(services), **consensus_tasks.task_tools(services)}
    server: MCPServer = ToolServer(
        name="aura-orchestra", instructions=INSTRUCTIONS, middleware=[governance],
        extensions=[TasksExtension(task_tools)],
    )
    job_tools.register(server, services)
    consensus_tools.register(server, services)
    roster_tools.register(server, services)
    pool_tools.register(server, services)
    audit_tools.register(server, services)
    budget_tools.register(server, services)
    approval_tools.register(server, services)
    thread_tools.register(server, services)
    _register_resources(server, services)
    if tool_set == "core":
        for tool in [t for t in server._tool_manager.list_tools() if t.name not in CORE_TOOLS]:
            server.remove_tool(tool.name)
    return server


def _register_resources(server: MCPServer, services: ToolServices) -> None:
    async def job_of(job_id: str) -> Job:
        try:
            return await services.queue.get(job_id)
        except AuraError as exc:
            raise ResourceError(str(exc)) from exc

    @server.resource("aura://jobs/{job_id}", mime_type="application/json")
    async def job_resource(job_id: str) -> str:
        """A job as get_job returns it (status, employee, validation, cost, output, diff)."""
        return job_result(await job_of(job_id)).model_dump_json()

    @server.resource("aura://jobs/{job_id}/output", mime_type="text/plain")
    async def job_output(job_id: str) -> str:
        """A job's whole output."""
        return (await job_of(job_id)).output or ""

    @server.resource("aura://jobs/{job_id}/diff", mime_type="text/x-diff")
    async def job_diff(job_id: str) -> str:
        """A job's whole unified diff against its project."""
        return (await job_of(job_id)).diff or ""

    @server.resource("aura://jobs/{job_id}/runlog", mime_type="text/plain")
    async def job_runlog(job_id: str) -> str:
        """Everything the job's employee was sent and said, and every command it ran."""
        return await services.runlogs.text((await job_of(job_id)).id)


class BearerAuth:
    """ASGI middleware: a valid MCP client token or 401; the token's name goes to the scope."""

    def __init__(self, app: ASGIApp, tokens: TokenRegistry) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        presented = bearer_token(Request(scope))
        name = await self.tokens.verify(presented) if presented else None
        if name is None:
            detail = "missing bearer token" if presented is None else "unknown or revoked token"
            hint = f"{detail}; create one with `aura token create NAME`"
            response = problem(401, "unauthorized", hint)
            response.headers["WWW-Authenticate"] = 'Bearer realm="aura-mcp"'
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[CLIENT_STATE_KEY] = name
        await self.app(scope, receive, send)


def transport_security(host: str, port: int) -> TransportSecuritySettings:
    hosts = {host, "127.0.0.1", "localhost"}
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{h}:{port}" for h in hosts] + [f"{h}:*" for h in hosts],
        allowed_origins=[f"http://{h}:*" for h in hosts],
    )


def build_mcp_app(
    server: MCPServer,
    tokens: TokenRegistry,
    *,
    host: str,
    port: int,
    ready: Probe,
    metrics: Render,
    metrics_token: str | None = None,
) -> Starlette:
    """Our Starlette app: ops routes, and the SDK's `/mcp` behind `BearerAuth`.

    Its lifespan runs the SDK's session manager. `json_response` stays off: it would drop the
    progress notifications `wait_job` sends.
    """
    inner = server.streamable_http_app(
        json_response=False, transport_security=transport_security(host, port), host=host
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        async with server.session_manager.run():
            yield

    return Starlette(
        routes=[*ops_routes(ready, metrics, metrics_token),
                Mount("/", app=BearerAuth(inner, tokens))],
        lifespan=lifespan,
        exception_handlers=problem_handlers(),
    )
