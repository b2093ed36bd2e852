"""The MCP Tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) over the jobs table.

A client that declares the extension on a `tools/call` (protocol 2026-07-28, per-request
capabilities) gets a task instead of the tool's result when the call started a job that runs
on after it: the task id is the job id, so `tasks/get` reads the job and a task lives as long
as its job row, across restarts. `tasks/cancel` cancels the job. Clients that do not declare
the extension get exactly the tool's result, as before.

Which tools can answer with a task is a registry, tool name -> `TaskTool`, handed over by the
composition root (`mcp_server/mcp.py`); a tool module adds its entries there.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver.server import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolRequestParams, CallToolResult, RequestParams, TextContent
from mcp_types.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field

from governance.identity import client_from_request
from orchestra.errors import AuraError, NotFound
from orchestra.models import Job, JobKind, JobStatus
from tools.errors import log_incident
from tools.services import ToolServices
from tools.shaping import job_result

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
# Asks end in seconds, jobs in seconds to minutes: one poll a second is fine-grained enough and
# costs one indexed row read.
POLL_INTERVAL_MS = 1000

log = logging.getLogger("tools.tasks")


@dataclass(frozen=True)
class TaskTool:
    """How a tool answers a Tasks-capable client with a task (the hook other tools use).

    `durable_id` reads the tool's normal structured result and returns the id of the job that
    runs on after the call, or None when the result is final (then the client gets it as is).
    `finished` renders a terminal job of `kind` as the tool's result: `tasks/get` answers
    with it once the task has completed. A tool whose work is one job row adds one entry:

        TASK_TOOLS = {"consensus": TaskTool(kind=JobKind.CONSENSUS,
                                            durable_id=..., finished=...)}
    """

    kind: JobKind
    durable_id: Callable[[dict[str, Any]], str | None]
    finished: Callable[[Job], BaseModel]


class TaskParams(RequestParams):
    task_id: str = Field(alias="taskId", max_length=100)


class UpdateTaskParams(TaskParams):
    input_responses: dict[str, Any] = Field(alias="inputResponses")


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _declared(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this request's client declared the extension. Tasks are 2026-07-28 vocabulary:
    a handshake-era wire cannot carry `resultType: "task"`, so it never gets one."""
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return False
    capabilities = ctx.session.client_capabilities
    return bool(capabilities and capabilities.extensions
                and TASKS_EXTENSION in capabilities.extensions)


def _not_found(task_id: str) -> MCPError:
    # A task of another client reads as unknown: its existence is not this caller's to learn.
    return MCPError(code=INVALID_PARAMS,
                    message=f"Failed to retrieve task: Task not found (task id {task_id!r})")


def tool_result(model: BaseModel) -> CallToolResult:
    """A structured tool result as the SDK shapes one: JSON text and structured content."""
    return CallToolResult(content=[TextContent(type="text", text=model.model_dump_json(indent=2))],
                          structured_content=model.model_dump(mode="json"))


class TasksExtension(Extension):
    """`tasks/get`, `tasks/update`, `tasks/cancel` and the `tools/call` interceptor."""

    identifier = TASKS_EXTENSION

    def __init__(self, services: ToolServices, tools: Mapping[str, TaskTool]) -> None:
        self.services = services
        # Not `self.tools`: that name is the base class's (tools an extension contributes).
        self.task_tools = dict(tools)
        self._by_kind = {tool.kind: tool for tool in self.task_tools.values()}

    def methods(self) -> Sequence[MethodBinding]:
        modern = frozenset(MODERN_PROTOCOL_VERSIONS)
        return [
            MethodBinding("tasks/get", TaskParams, self._get, modern),
            MethodBinding("tasks/update", UpdateTaskParams, self._update, modern),
            MethodBinding("tasks/cancel", TaskParams, self._cancel, modern),
        ]

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
    ) -> HandlerResult:
        # The tool runs exactly as for any client (validation, policy, audit); only the shape
        # of its answer changes, and only when its job is still going.
        result = await call_next(ctx)
        tool = self.task_tools.get(params.name)
        if (tool is None or not _declared(ctx) or not isinstance(result, CallToolResult)
                or result.is_error or result.structured_content is None):
            return result
        job_id = tool.durable_id(result.structured_content)
        if job_id is None:
            return result
        # The job row is committed before the tool returned: tasks/get resolves from here on.
        task = await self._task(await self.services.queue.get(uuid.UUID(job_id)))
        return {"resultType": "task", **{k: task[k] for k in _TASK_FIELDS if k in task}}

    async def _owned(self, ctx: ServerRequestContext[Any, Any], task_id: str) -> Job:
        """The caller's job behind `task_id`; -32021 for a client without the extension and
        -32602 for an id that names no job of this client."""
        require_client_extension(ctx, TASKS_EXTENSION)
        try:
            job = await self.services.queue.get(uuid.UUID(task_id))
        except (ValueError, NotFound):
            raise _not_found(task_id) from None
        if job.client is None or job.client != client_from_request(ctx.request):
            raise _not_found(task_id)
        return job

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> dict[str, Any]:
        task = await self._task(await self._owned(ctx, params.task_id))
        return {"resultType": "complete", **task}

    async def _update(
        self, ctx: ServerRequestContext[Any, Any], params: UpdateTaskParams
    ) -> dict[str, Any]:
        # Our tasks never ask their client for input (approvals are the Director's, in the
        # console or the API), so no key is ever outstanding: the spec has the server ignore
        # responses to keys that are not, and acknowledge.
        await self._owned(ctx, params.task_id)
        return {}

    async def _cancel(
        self, ctx: ServerRequestContext[Any, Any], params: TaskParams
    ) -> dict[str, Any]:
        job = await self._owned(ctx, params.task_id)
        client = client_from_request(ctx.request)
        try:
            # Audited with the move, in its transaction; a job that already ended stays as is.
            await self.services.queue.cancel(job.id, actor=f"client:{client}")
        except AuraError as exc:
            raise MCPError(code=INTERNAL_ERROR, message=f"{exc.kind}: {exc}") from exc
        return {}

    async def _task(self, job: Job) -> dict[str, Any]:
        """The job as a DetailedTask: working while it has not ended (waiting for the Director's
        approval included), cancelled, or completed with what its tool answers for it."""
        task: dict[str, Any] = {
            "taskId": str(job.id), "createdAt": _timestamp(job.created_at),
            "lastUpdatedAt": _timestamp(job.updated_at),
            # Jobs are kept until the Director prunes them: no deadline to announce.
            "ttlMs": None, "pollIntervalMs": POLL_INTERVAL_MS,
        }
        if not job.status.is_terminal:
            last = await self.services.runlogs.last_line(job.id)
            message = _WORKING.get(job.status, job.status.value)
            return {**task, "status": "working",
                    "statusMessage": (f"{message}: {last}" if last else message)[:500]}
        if job.status is JobStatus.CANCELLED:
            return {**task, "status": "cancelled", "statusMessage": job.error or "cancelled"}
        # A job that failed or was rejected is still a tool result, not a JSON-RPC error: the
        # spec keeps `failed` for the latter.
        return {**task, **self._outcome(job)}

    def _outcome(self, job: Job) -> dict[str, Any]:
        tool = self._by_kind.get(job.kind)
        render = tool.finished if tool is not None else job_result
        try:
            result = tool_result(render(job))
        except AuraError as exc:
            result = CallToolResult(content=[TextContent(type="text", text=f"{exc.kind}: {exc}")],
                                    is_error=True)
        except Exception as exc:
            incident = log_incident(log, f"task {job.id}: its result could not be built", exc)
            message = f"internal_error: the result is logged as incident {incident}"
            return {"status": "failed", "statusMessage": message,
                    "error": {"code": INTERNAL_ERROR, "message": message}}
        return {"status": "completed", "statusMessage": f"job {job.status.value}",
                "result": result.model_dump(by_alias=True, mode="json", exclude_none=True)}


# A CreateTaskResult is the Task alone; the status payloads are tasks/get's.
_TASK_FIELDS = ("taskId", "status", "statusMessage", "createdAt", "lastUpdatedAt", "ttlMs",
                "pollIntervalMs")

_WORKING = {
    JobStatus.PENDING_APPROVAL: "pending_approval: waiting for the Director's decision",
    JobStatus.QUEUED: "queued",
    JobStatus.RUNNING: "running",
    JobStatus.VALIDATING: "validating: running the acceptance checks",
}
