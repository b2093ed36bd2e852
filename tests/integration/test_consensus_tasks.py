"""`consensus` for a Tasks-capable client (SEP-2663): answered in time it is the tool's result
as before; with a member still working at its deadline it is a task whose id is the consensus
id, polled with tasks/get to the tool's complete result, or cancelled with tasks/cancel."""

from __future__ import annotations

import uuid

import pytest
from mcp.client.client import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult

from mcp_server.app import System
from orchestra.consensus import NewConsensus
from orchestra.models import JobStatus
from tests.fakes.ollama_server import FakeOllama
from tests.integration.helpers import hire, running_worker
from tests.integration.tasks_client import TasksClient, cancel_task, get_task, poll_task
from tests.integration.test_mcp_tasks import acknowledged, audit, start_task


async def _hire_ollamas(system: System) -> None:
    await hire(system.db, "llama", "ollama")
    await hire(system.db, "qwen", "ollama", model="qwen")


async def test_a_late_member_gives_a_task_polled_to_completion_with_all_answers(
    system: System, ollama: FakeOllama
) -> None:
    await _hire_ollamas(system)
    async with running_worker(system), \
            Client(system.mcp_server(), extensions=[TasksClient()]) as client:
        quick = await client.session.call_tool(
            "consensus", {"prompt": "quick", "employees": ["llama", "qwen"], "timeout_s": 20},
            allow_claimed=True)
        ollama.delay("qwen", 2)
        created = await start_task(client, "consensus", prompt="slow", employees=["llama", "qwen"],
                                   timeout_s=0.5)
        assert created.status == "working" and "of 2 done" in (created.status_message or "")
        task = await poll_task(client.session, created.task_id)
    assert isinstance(quick, CallToolResult) and quick.structured_content["complete"] is True
    assert (await system.tools.consensus.get(created.task_id)).complete
    assert task["status"] == "completed" and task["statusMessage"].startswith("2 of 2 done")
    result = CallToolResult.model_validate(task["result"], by_name=False)
    assert not result.is_error and result.structured_content["consensus_id"] == created.task_id
    assert result.structured_content["complete"] is True
    answers = {a["employee"]: a for a in result.structured_content["answers"]}
    assert {name: (a["status"], a["answer"]) for name, a in answers.items()} == {
        "llama": ("succeeded", "echo: slow"), "qwen": ("succeeded", "echo: slow")}
    assert answers["qwen"]["latency_ms"] >= 1500 and task["lastUpdatedAt"] > task["createdAt"]
    calls = [d.get("task") for _, s, d in await audit(system, "mcp.tool_call")
             if s == "consensus"]
    assert calls == [None, created.task_id]


async def test_tasks_cancel_on_a_consensus_cancels_its_unfinished_members(
    system: System, ollama: FakeOllama
) -> None:
    await _hire_ollamas(system)
    ollama.delay("qwen", 30)
    async with running_worker(system), \
            Client(system.mcp_server(), extensions=[TasksClient()]) as client:
        created = await start_task(client, "consensus", prompt="half",
                                   employees=["llama", "qwen"], timeout_s=1.5)
        assert acknowledged(await cancel_task(client.session, created.task_id))
        task = await get_task(client.session, created.task_id)
        assert acknowledged(await cancel_task(client.session, created.task_id))
    assert task["status"] == "cancelled" and "result" not in task
    consensus = await system.tools.consensus.get(created.task_id)
    states = {m.job.requested_employee: m.job.status for m in consensus.members}
    assert states == {"llama": JobStatus.SUCCEEDED, "qwen": JobStatus.CANCELLED}
    qwen = consensus.members[1].job
    async with system.db.connection() as conn:
        actors = await conn.fetch("SELECT actor FROM audit_log WHERE action = 'job.cancelled'")
    assert [r["actor"] for r in actors] == ["client:stdio"] and qwen.error == \
        "cancelled by client:stdio"
    methods = [(s, d["method"]) for _, s, d in await audit(system, "mcp.task_call")]
    assert methods == [(created.task_id, m) for m in ("tasks/cancel", "tasks/get",
                                                      "tasks/cancel")]


async def test_another_clients_consensus_task_is_not_found(system: System) -> None:
    await _hire_ollamas(system)
    theirs = await system.tools.consensus.start(
        NewConsensus(prompt="theirs", employees=("llama", "qwen"), client="someone-else"),
        actor="client:someone-else")
    async with Client(system.mcp_server(), extensions=[TasksClient()]) as client:
        for task_id in (str(theirs.id), str(theirs.members[0].job.id), str(uuid.uuid4())):
            for call in (get_task, cancel_task):
                with pytest.raises(MCPError) as refused:
                    await call(client.session, task_id)
                assert refused.value.error.code == -32602
                assert "Task not found" in refused.value.error.message
    after = await system.tools.consensus.get(theirs.id)
    assert [m.job.status for m in after.members] == [JobStatus.QUEUED, JobStatus.QUEUED]
