"""A Tasks-capable MCP client (`io.modelcontextprotocol/tasks`, SEP-2663), as an IDE would
have one: the SDK's `Client` with a client extension that declares the extension on every
request, claims `resultType: "task"` results and, for `call_tool`, polls `tasks/get` until the
task ends. The raw requests are here too, for tests that drive the task themselves."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession
from mcp_types import CallToolResult, Request, RequestParams, Result
from pydantic import Field, TypeAdapter

TASKS = "io.modelcontextprotocol/tasks"
TERMINAL = frozenset({"completed", "failed", "cancelled"})
_ANY: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])


class CreateTaskResult(Result):
    result_type: Literal["task"]
    task_id: str
    status: str
    status_message: str | None = None
    created_at: str
    last_updated_at: str
    ttl_ms: int | None
    poll_interval_ms: int | None = None


class TaskRequestParams(RequestParams):
    task_id: str = Field(alias="taskId")


class UpdateTaskRequestParams(TaskRequestParams):
    input_responses: dict[str, Any] = Field(alias="inputResponses")


class GetTaskRequest(Request[TaskRequestParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    name_param: ClassVar[str | None] = "taskId"  # SEP-2663: Mcp-Name carries the task id


class CancelTaskRequest(Request[TaskRequestParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    name_param: ClassVar[str | None] = "taskId"


class UpdateTaskRequest(Request[UpdateTaskRequestParams, Literal["tasks/update"]]):
    method: Literal["tasks/update"] = "tasks/update"
    name_param: ClassVar[str | None] = "taskId"


async def get_task(session: ClientSession, task_id: str) -> dict[str, Any]:
    request = GetTaskRequest(params=TaskRequestParams(task_id=task_id))
    return await session.send_request(request, _ANY)


async def cancel_task(session: ClientSession, task_id: str) -> dict[str, Any]:
    request = CancelTaskRequest(params=TaskRequestParams(task_id=task_id))
    return await session.send_request(request, _ANY)


async def update_task(
    session: ClientSession, task_id: str, responses: dict[str, Any]
) -> dict[str, Any]:
    params = UpdateTaskRequestParams(task_id=task_id, input_responses=responses)
    return await session.send_request(UpdateTaskRequest(params=params), _ANY)


async def poll_task(session: ClientSession, task_id: str, within_s: float = 60) -> dict[str, Any]:
    """`tasks/get` at the server's `pollIntervalMs` until the task ends."""
    async with asyncio.timeout(within_s):
        while True:
            task = await get_task(session, task_id)
            if task["status"] in TERMINAL:
                return task
            await asyncio.sleep(task.get("pollIntervalMs", 1000) / 1000)


async def _resolve(created: CreateTaskResult, ctx: ClaimContext) -> CallToolResult:
    task = await poll_task(ctx.session, created.task_id)
    if task["status"] != "completed":
        raise RuntimeError(f"task {created.task_id} ended {task['status']}: "
                           f"{task.get('statusMessage')} {task.get('error')}")
    return CallToolResult.model_validate(task["result"], by_name=False)


class TasksClient(ClientExtension):
    identifier = TASKS

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=CreateTaskResult, resolve=_resolve)]
