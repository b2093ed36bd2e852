"""The MCP Tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) over durable rows.

A client that declares the extension on a `tools/call` (protocol 2026-07-28, per-request
capabilities) gets a task instead of the tool's result when the call started work that runs on
after it: the task id is that work's durable id (a job's, or a consensus's), so `tasks/get`
reads it again from the database and a task lives as long as its rows, across restarts.
`tasks/cancel` cancels the work. Clients that do not declare the extension get exactly the
tool's result, as before.

Which tools can answer with a task is a registry, tool name -> `TaskTool`, handed over by the
composition root (`mcp_server/mcp.py`); a tool module adds its entries there. Each entry names
the `TaskSource` that reads and cancels its tasks.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver.server import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolRequestParams, CallToolResult, RequestParams, TextContent
from mcp_types.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field

from governance.identity import client_from_request
from orchestra.errors import AuraError
from tools.errors import log_incident

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
# Asks end in seconds, jobs in seconds to minutes: one poll a second is fine-grained enough and
# costs one indexed row read.
POLL_INTERVAL_MS = 1000

log = logging.getLogger("tools.tasks")

TaskPhase = Literal["working", "cancelled", "ended"]


@dataclass(frozen=True)
class TaskState:
    """A task as its source reads it now. `phase` is `working` while the work goes on,
    `cancelled` when it was given up, `ended` otherwise; `result` renders the tool's result
    and is called only once it ended (it may raise: an `AuraError` is the tool's error)."""

    client: str | None  # who started it: the only client that may see or cancel it
    created_at: datetime
    updated_at: datetime
    phase: TaskPhase
    message: str
    result: Callable[[], BaseModel]


class TaskSource(Protocol):
    """Where tasks of some kind live (the jobs table, the consensus tables)."""

    async def read(self, task_id: uuid.UUID) -> TaskState | None:
        """The task with this id, or None when this source has none."""

    async def cancel(self, task_id: uuid.UUID, *, actor: str) -> None:
        """Give the work up, audited; work that already ended stays as it is."""


@dataclass(frozen=True)
class TaskTool:
    """How a tool answers a Tasks-capable client with a task (the hook tools use).

    `durable_id` reads the tool's normal structured result and returns the id of the work that
    runs on after the call, or None when the result is final (then the client gets it as is);
    `source` reads and cancels the task by that id.
    """

    durable_id: Callable[[dict[str, Any]], str | None]
    source: TaskSource


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

    def __init__(self, tools: Mapping[str, TaskTool]) -> None:
        # Not `self.tools`: that name is the base class's (tools an extension contributes).
        self.task_tools = dict(tools)
        # Each source once, in registry order: a task id is looked up in each in turn (ids are
        # random UUIDs, so at most one source has it).
        self._sources: list[TaskSource] = []
        for tool in self.task_tools.values():
            if all(tool.source is not known for known in self._sources):
                self._sources.append(tool.source)

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
        # of its answer changes, and only when its work is still going.
        result = await call_next(ctx)
        tool = self.task_tools.get(params.name)
        if (tool is None or not _declared(ctx) or not isinstance(result, CallToolResult)
                or result.is_error or result.structured_content is None):
            return result
        task_id = tool.durable_id(result.structured_content)
        if task_id is None:
            return result
        # The rows are committed before the tool returned: tasks/get resolves from here on.
        state = await tool.source.read(uuid.UUID(task_id))
        if state is None:
            raise RuntimeError(f"{params.name} answered with {task_id}, which its source lacks")
        task = self._task(task_id, state)
        return {"resultType": "task", **{k: task[k] for k in _TASK_FIELDS if k in task}}

    async def _owned(
        self, ctx: ServerRequestContext[Any, Any], task_id: str
    ) -> tuple[uuid.UUID, TaskSource, TaskState]:
        """The caller's task behind `task_id` and its source; -32021 for a client without the
        extension and -32602 for an id that names no task of this client."""
        require_client_extension(ctx, TASKS_EXTENSION)
        try:
            key = uuid.UUID(task_id)
        except ValueError:
            raise _not_found(task_id) from None
        for source in self._sources:
            state = await source.read(key)
            if state is None:
                continue
            if state.client is None or state.client != client_from_request(ctx.request):
                break
            return key, source, state
        raise _not_found(task_id)

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> dict[str, Any]:
        key, _, state = await self._owned(ctx, params.task_id)
        return {"resultType": "complete", **self._task(str(key), state)}

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
        key, source, _ = await self._owned(ctx, params.task_id)
        client = client_from_request(ctx.request)
        try:
            await source.cancel(key, actor=f"client:{client}")
        except AuraError as exc:
            raise MCPError(code=INTERNAL_ERROR, message=f"{exc.kind}: {exc}") from exc
        return {}

    def _task(self, task_id: str, state: TaskState) -> dict[str, Any]:
        """The task as a DetailedTask: working, cancelled, or completed with the tool's result."""
        task: dict[str, Any] = {
            "taskId": task_id, "createdAt": _timestamp(state.created_at),
            "lastUpdatedAt": _timestamp(state.updated_at),
            # Rows are kept until the Director prunes them: no deadline to announce.
            "ttlMs": None, "pollIntervalMs": POLL_INTERVAL_MS,
        }
        if state.phase != "ended":
            return {**task, "status": state.phase, "statusMessage": state.message[:500]}
        # Work that failed or was rejected is still a tool result, not a JSON-RPC error: the
        # spec keeps `failed` for the latter.
        return {**task, **_outcome(task_id, state)}


def _outcome(task_id: str, state: TaskState) -> dict[str, Any]:
    try:
        result = tool_result(state.result())
    except AuraError as exc:
        result = CallToolResult(content=[TextContent(type="text", text=f"{exc.kind}: {exc}")],
                                is_error=True)
    except Exception as exc:
        incident = log_incident(log, f"task {task_id}: its result could not be built", exc)
        message = f"internal_error: the result is logged as incident {incident}"
        return {"status": "failed", "statusMessage": message,
                "error": {"code": INTERNAL_ERROR, "message": message}}
    return {"status": "completed", "statusMessage": state.message[:500],
            "result": result.model_dump(by_alias=True, mode="json", exclude_none=True)}


# A CreateTaskResult is the Task alone; the status payloads are tasks/get's.
_TASK_FIELDS = ("taskId", "status", "statusMessage", "createdAt", "lastUpdatedAt", "ttlMs",
                "pollIntervalMs")
