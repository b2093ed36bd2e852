"""The MCP tools through the SDK's in-memory client, with governance applied."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from mcp.client.client import Client

from mcp_server.app import System
from orchestra.models import JobStatus, NewJob
from tests.fakes.ollama_server import FakeOllama
from tests.integration.helpers import hire, running_worker


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


async def tool_error(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    return " ".join(getattr(c, "text", "") for c in result.content)


async def test_tools_are_listed_with_schemas_and_annotations(system: System) -> None:
    async with Client(system.mcp_server()) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"submit_job", "get_job", "wait_job", "cancel_job", "list_jobs", "ask",
                          "list_employees", "pool_status", "audit_log", "budget_status",
                          "request_approval", "get_approval", "propose_employee", "consensus",
                          "list_threads"}
    assert tools["cancel_job"].annotations.destructive_hint is True
    assert tools["cancel_job"].annotations.idempotent_hint is True
    assert tools["get_job"].annotations.read_only_hint is True
    assert tools["submit_job"].annotations.read_only_hint is False
    assert "timeout_s" in tools["wait_job"].input_schema["properties"]
    assert tools["wait_job"].input_schema["properties"]["timeout_s"]["maximum"] == 45
    assert "job_id" in tools["get_job"].output_schema["properties"]
    assert all(len(t.description or "") < 300 for t in tools.values())


async def test_core_tool_set_hides_the_rest(system: System) -> None:
    system.settings.mcp_tools = "core"
    async with Client(system.mcp_server()) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert "pool_status" not in names and {"submit_job", "ask", "cancel_job"} <= names


async def test_wait_job_returns_current_status_when_time_runs_out(system: System) -> None:
    await hire(system.db, "llama", "ollama")
    progress: list[str | None] = []

    async def on_progress(_p: float, _t: float | None, message: str | None) -> None:
        progress.append(message)

    async with Client(system.mcp_server()) as client:
        job = await call(client, "submit_job", prompt="later", employee="llama")
        started = asyncio.get_running_loop().time()
        result = await client.call_tool(
            "wait_job", {"job_id": job["job_id"], "timeout_s": 0.6}, progress_callback=on_progress
        )
        elapsed = asyncio.get_running_loop().time() - started
    assert not result.is_error
    assert result.structured_content["status"] == "queued"
    assert 0.5 < elapsed < 5
    assert progress and progress[0].startswith("queued")


async def test_wait_job_refuses_a_wait_longer_than_45_seconds(system: System) -> None:
    async with Client(system.mcp_server()) as client:
        message = await tool_error(client, "wait_job", job_id="x", timeout_s=60)
    assert "45" in message


async def test_ask_is_answered_by_the_ollama_employee(
    system: System, ollama: FakeOllama
) -> None:
    await hire(system.db, "llama", "ollama")
    async with running_worker(system), Client(system.mcp_server()) as client:
        answer = await call(client, "ask", prompt="what is two plus two", employee="llama")
        job = await call(client, "get_job", job_id=answer["job_id"])
    assert answer["answered"] and answer["answer"] == "echo: what is two plus two"
    assert job["status"] == "succeeded" and job["tokens_in"] == 5 and job["tokens_out"] > 0
    assert "llama" in ollama.loaded


async def test_ask_not_answered_in_time_returns_a_job_handle(
    system: System, ollama: FakeOllama
) -> None:
    await hire(system.db, "llama", "ollama")
    ollama.delay("llama", 3)
    async with running_worker(system), Client(system.mcp_server()) as client:
        answer = await call(client, "ask", prompt="slow one", employee="llama", timeout_s=0.5)
        assert not answer["answered"] and answer["answer"] is None
        assert answer["status"] in ("queued", "running")
        done = await call(client, "wait_job", job_id=answer["job_id"], timeout_s=10)
    assert done["status"] == "succeeded" and done["output"] == "echo: slow one"


async def test_long_output_is_cut_and_names_its_resource(
    system: System, workspace: Path
) -> None:
    await hire(system.db, "chatty", command=["python3", "-c", "print('x' * 30000)"])
    async with running_worker(system), Client(system.mcp_server()) as client:
        job = await call(client, "submit_job", prompt="talk", employee="chatty",
                         project=str(workspace))
        done = await call(client, "wait_job", job_id=job["job_id"], timeout_s=20)
        whole = await client.read_resource(f"aura://jobs/{job['job_id']}/output")
    assert done["status"] == "succeeded" and done["output_truncated"]
    assert len(done["output"]) < 21_000
    assert f"aura://jobs/{job['job_id']}/output" in done["output"]
    assert len(whole.contents[0].text) == 30001


async def test_every_tool_call_is_audited_with_its_outcome(system: System) -> None:
    async with Client(system.mcp_server()) as client:
        await call(client, "list_employees")
        await tool_error(client, "get_job", job_id="not-a-uuid")
    await system.journal.flush()
    async with system.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT actor, subject, details FROM audit_log WHERE action = 'mcp.tool_call'"
            " ORDER BY seq"
        )
    assert [(r["actor"], r["subject"], r["details"]["outcome"]) for r in rows] == [
        ("client:stdio", "list_employees", "ok"),
        ("client:stdio", "get_job", "error"),
    ]
    assert all(r["details"]["latency_ms"] >= 0 for r in rows)


async def test_bad_input_is_refused_with_a_clear_message(
    system: System, tmp_path: Path
) -> None:
    async with Client(system.mcp_server()) as client:
        outside = await tool_error(client, "submit_job", prompt="x", project=str(tmp_path))
        unknown = await tool_error(client, "submit_job", prompt="x", employee="ghost")
        not_found = await tool_error(
            client, "get_job", job_id="00000000-0000-0000-0000-000000000000"
        )
    assert "outside the workspaces" in outside
    assert "ghost" in unknown
    assert "no job" in not_found


async def test_pool_status_shows_every_slot(system: System) -> None:
    async with Client(system.mcp_server()) as client:
        pool = await call(client, "pool_status")
    assert [s["index"] for s in pool["slots"]] == [0, 1, 2]
    assert {s["state"] for s in pool["slots"]} == {"empty"}


async def test_failed_acceptance_fails_the_job_with_the_report(
    system: System, workspace: Path
) -> None:
    (workspace / "a.txt").write_text("one\n")
    await hire(system.db, "noop", command=["true"])
    async with running_worker(system), Client(system.mcp_server()) as client:
        job = await call(client, "submit_job", prompt="do nothing", employee="noop",
                         project=str(workspace), acceptance=["grep -q two a.txt"])
        done = await call(client, "wait_job", job_id=job["job_id"], timeout_s=20)
    assert done["status"] == JobStatus.FAILED.value
    assert done["validation"]["passed"] is False
    assert done["validation"]["checks"][0]["exit_code"] == 1
    assert "acceptance failed" in done["error"]


async def test_a_hostile_tool_name_cannot_block_the_audit_journal(system: System) -> None:
    async with Client(system.mcp_server()) as client:
        await client.call_tool("no\x00such", {})
        await call(client, "list_employees")
    await system.journal.flush()
    async with system.db.connection() as conn:
        subjects = [r["subject"] for r in await conn.fetch(
            "SELECT subject FROM audit_log WHERE action = 'mcp.tool_call' ORDER BY seq")]
    assert len(subjects) == 2 and subjects[1] == "list_employees"
    assert "\x00" not in subjects[0]


async def test_every_resource_a_result_names_is_readable(system: System) -> None:
    import json

    await hire(system.db, "echo", command=["echo", "hello"])
    async with running_worker(system, poll_seconds=0.2), Client(system.mcp_server()) as client:
        submitted = await call(client, "submit_job", prompt="x", employee="echo")
        job = await call(client, "wait_job", job_id=submitted["job_id"], timeout_s=10)
        assert job["status"] == "succeeded"
        for name, uri in job["resources"].items():
            read = await client.read_resource(uri)
            text = read.contents[0].text  # type: ignore[union-attr]
            if name == "job":
                assert json.loads(text)["job_id"] == job["job_id"]
            elif name == "output":
                assert text == "hello\n"


async def test_a_job_that_never_reached_validation_reports_none(system: System) -> None:
    await hire(system.db, "broken", command=["sh", "-c", "exit 3"])
    async with running_worker(system, poll_seconds=0.2), Client(system.mcp_server()) as client:
        submitted = await call(client, "submit_job", prompt="x", employee="broken")
        job = await call(client, "wait_job", job_id=submitted["job_id"], timeout_s=10)
    assert job["status"] == "failed" and "exited with code 3" in job["error"]
    assert job["validation"] is None and job["employee"] == "broken"


async def test_a_failed_ask_names_the_employee_it_tried(system: System) -> None:
    await hire(system.db, "broken", command=["sh", "-c", "exit 3"])
    async with running_worker(system, poll_seconds=0.2), Client(system.mcp_server()) as client:
        answer = await call(client, "ask", prompt="anyone?", timeout_s=10)
    assert answer["answered"] is False and answer["status"] == "failed"
    assert answer["employee"] == "broken" and "exited with code 3" in answer["error"]


async def test_list_jobs_pages_through_the_callers_jobs_only(system: System) -> None:
    await system.queue.submit(NewJob(prompt="someone else's", client="other-ide"), actor="t")
    async with Client(system.mcp_server()) as client:
        mine = [(await call(client, "submit_job", prompt=f"job {i}"))["job_id"]
                for i in range(5)]
        first = await call(client, "list_jobs", limit=2)
        second = await call(client, "list_jobs", limit=2, cursor=first["next_cursor"])
        third = await call(client, "list_jobs", limit=2, cursor=second["next_cursor"])
        everyone = await call(client, "list_jobs", all_clients=True, limit=50)
        failed = await call(client, "list_jobs", status="failed")
    paged = [j["job_id"] for page in (first, second, third) for j in page["jobs"]]
    assert paged == list(reversed(mine)) and third["next_cursor"] is None
    assert first["jobs"][0]["prompt"] == "job 4" and "output" not in first["jobs"][0]
    assert len(everyone["jobs"]) == 6 and failed["jobs"] == []


async def test_audit_log_shows_the_callers_own_entries_newest_first(system: System) -> None:
    await system.queue.submit(NewJob(prompt="x", client="other-ide"), actor="client:other-ide")
    async with Client(system.mcp_server()) as client:
        submitted = await call(client, "submit_job", prompt="mine")
        page = await call(client, "audit_log", limit=1)
        older = await call(client, "audit_log", limit=50, before_seq=page["next_before_seq"])
    entries = page["entries"] + older["entries"]
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs, reverse=True)
    assert any(e["action"] == "job.submitted" and e["subject"] == submitted["job_id"]
               for e in entries)
    assert all(e["subject"] != "other-ide" and "other-ide" not in str(e["details"])
               for e in entries)


async def test_list_employees_shows_each_employees_scores(system: System) -> None:
    await hire(system.db, "echo", command=["echo", "hi"])
    async with running_worker(system, poll_seconds=0.2), Client(system.mcp_server()) as client:
        submitted = await call(client, "submit_job", prompt="x", employee="echo")
        await call(client, "wait_job", job_id=submitted["job_id"], timeout_s=10)
        [listed] = (await call(client, "list_employees"))["employees"]
    score = listed["score"]
    assert (score["window"], score["jobs"], score["success_rate"]) == (50, 1, 1.0)
    assert score["validation_pass_rate"] is None  # the job had no acceptance checks
    assert isinstance(score["p50_latency_ms"], int) and score["p50_latency_ms"] >= 0
    assert score["cost_per_success_usd"] == "0.00000000"  # a command-line employee is free


async def test_a_job_asking_for_skills_goes_to_an_employee_having_them(system: System) -> None:
    await hire(system.db, "anyone", command=["echo", "anyone"])
    await hire(system.db, "pythonista", command=["echo", "pythonista"], skills=["python"])
    async with running_worker(system, poll_seconds=0.2), Client(system.mcp_server()) as client:
        schema = {t.name: t.input_schema for t in (await client.list_tools()).tools}
        submitted = await call(client, "submit_job", prompt="x", skills=["python"])
        job = await call(client, "wait_job", job_id=submitted["job_id"], timeout_s=10)
        answer = await call(client, "ask", prompt="who?", skills=["python"], timeout_s=10)
        both = await tool_error(client, "submit_job", prompt="x", employee="anyone",
                                skills=["python"])
        nine = await tool_error(client, "ask", prompt="x", skills=[f"s{i}" for i in range(9)])
    assert schema["submit_job"]["properties"]["skills"]["anyOf"][0]["maxItems"] == 8
    assert "skills" in schema["ask"]["properties"]
    assert (job["status"], job["employee"], job["skills"]) == ("succeeded", "pythonista",
                                                               ["python"])
    assert answer["employee"] == "pythonista" and answer["answer"].strip() == "pythonista"
    assert "not both" in both
    assert "skills" in nine and "8" in nine
