"""`consensus` through the SDK's in-memory client: one question to two or three employees,
asked in parallel as pinned `ask` jobs, answered side by side within one time budget."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp.client.client import Client

from governance.budgets import BudgetSpec
from mcp_server.app import System
from orchestra.errors import InvalidInput, NotFound
from tests.fakes.ollama_server import FakeOllama
from tests.integration.helpers import add_finished_job, hire, running_worker
from tests.integration.test_mcp_tools import call, tool_error

# What the call may take beyond its time budget: the last look at the jobs and the answer.
MARGIN_S = 1.0


async def _hire_ollamas(system: System) -> None:
    await hire(system.db, "llama", "ollama")
    await hire(system.db, "qwen", "ollama", model="qwen")


def _by_employee(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["employee"]: a for a in result["answers"]}


async def _rows(system: System, table: str) -> int:
    async with system.db.connection() as conn:
        count = await conn.fetchval(f"SELECT count(*) FROM {table}")
    assert isinstance(count, int)
    return count


async def test_each_named_employee_answers_side_by_side(system: System) -> None:
    await _hire_ollamas(system)
    await hire(system.db, "scribe", command=["/bin/echo", "scribe heard: {prompt}"])
    async with running_worker(system), Client(system.mcp_server()) as client:
        result = await call(client, "consensus", prompt="two plus two",
                            employees=["llama", "qwen", "scribe"], timeout_s=20)
    assert result["complete"] is True
    assert [a["employee"] for a in result["answers"]] == ["llama", "qwen", "scribe"]
    answers = _by_employee(result)
    assert answers["llama"]["answer"] == answers["qwen"]["answer"] == "echo: two plus two"
    assert answers["scribe"]["answer"].strip() == "scribe heard: two plus two"
    assert all(a["status"] == "succeeded" and a["error"] is None and a["latency_ms"] > 0
               for a in result["answers"])
    async with system.db.connection() as conn:
        entry = await conn.fetchrow(
            "SELECT actor, details FROM audit_log WHERE action = 'consensus.started'"
            " AND subject = $1", result["consensus_id"])
        kinds = await conn.fetch("SELECT kind, requested_employee FROM jobs ORDER BY created_at")
    assert entry is not None and entry["actor"] == "client:stdio"
    assert [m["job_id"] for m in entry["details"]["members"]] == \
        [a["job_id"] for a in result["answers"]]
    assert {(r["kind"], r["requested_employee"]) for r in kinds} == \
        {("ask", "llama"), ("ask", "qwen"), ("ask", "scribe")}


async def test_a_late_member_comes_back_running_within_the_time_budget(
    system: System, ollama: FakeOllama
) -> None:
    await _hire_ollamas(system)
    ollama.delay("qwen", 4)
    async with running_worker(system), Client(system.mcp_server()) as client:
        started = time.monotonic()
        result = await call(client, "consensus", prompt="slow or fast",
                            employees=["llama", "qwen"], timeout_s=1.5)
        elapsed = time.monotonic() - started
        answers = _by_employee(result)
        late = answers["qwen"]
        followed = await call(client, "wait_job", job_id=late["job_id"], timeout_s=20)
        again = await client.read_resource(f"aura://consensus/{result['consensus_id']}")
    assert 1.5 <= elapsed < 1.5 + MARGIN_S, elapsed
    assert result["complete"] is False
    assert answers["llama"]["status"] == "succeeded"
    assert answers["llama"]["answer"] == "echo: slow or fast"
    assert answers["llama"]["latency_ms"] < 1500
    assert late["status"] in ("queued", "running") and late["answer"] is None
    assert late["error"] is None and late["latency_ms"] >= 1400
    # The late member's job kept running; the consensus, read again by its id, is complete.
    assert followed["status"] == "succeeded" and followed["output"] == "echo: slow or fast"
    reread = _by_employee(json.loads(again.contents[0].text))
    assert reread["qwen"]["answer"] == "echo: slow or fast"
    assert reread["qwen"]["latency_ms"] >= 4000
    state = await system.tools.consensus.get(result["consensus_id"])
    assert state.complete and state.deadline > state.created_at


async def test_a_failing_member_is_reported_with_its_error_and_the_others_answer(
    system: System
) -> None:
    await hire(system.db, "llama", "ollama")
    await hire(system.db, "broken", command=["/bin/sh", "-c", "echo no answer >&2; exit 3"])
    async with running_worker(system), Client(system.mcp_server()) as client:
        result = await call(client, "consensus", prompt="anyone",
                            employees=["broken", "llama"], timeout_s=20)
    answers = _by_employee(result)
    assert result["complete"] is True
    assert answers["llama"]["status"] == "succeeded" and answers["llama"]["answer"]
    assert answers["broken"]["status"] == "failed" and answers["broken"]["answer"] is None
    assert answers["broken"]["error"] == \
        "employee 'broken' exited with code 3. Last output:\nno answer"
    assert answers["broken"]["budget_refusal"] is None


async def test_a_member_refused_by_its_budget_shows_the_figures_and_the_others_answer(
    system: System, ollama: FakeOllama
) -> None:
    # Ten output tokens at 50,000 USD per million: a worst case of 0.50 USD per call, over
    # the 0.40 USD this employee may spend this month; llama's calls cost nothing.
    ollama.script("qwen", " ".join(f"w{i}" for i in range(50)))
    await hire(system.db, "llama", "ollama")
    await hire(system.db, "qwen", "ollama", model="qwen", price_out="50000",
               max_output_tokens=10)
    await system.budgets.put(BudgetSpec("qwen-cap", "employee", "0.40", employee="qwen"),
                             actor="director")
    async with running_worker(system), Client(system.mcp_server()) as client:
        result = await call(client, "consensus", prompt="cost me",
                            employees=["qwen", "llama"], timeout_s=20)
    answers = _by_employee(result)
    assert result["complete"] is True
    assert answers["llama"]["status"] == "succeeded"
    refused = answers["qwen"]
    assert refused["status"] == "failed" and refused["answer"] is None
    assert refused["budget_refusal"] == {
        "budget": "qwen-cap", "scope": "employee", "limit_usd": "0.40", "spent_usd": "0.00",
        "reserved_usd": "0.00", "worst_case_usd": "0.50"}
    assert "qwen-cap" in refused["error"] and "0.40" in refused["error"]
    # Refused before any call: only llama was asked anything.
    asked = {str((r.body or {}).get("model")) for r in ollama.requests if r.path == "/api/chat"}
    assert asked == {"llama"}


async def test_members_are_the_best_ranked_working_employees(system: System) -> None:
    now = datetime.now(UTC)
    for name, skills in (("ada", ["sql"]), ("bob", ["sql"]), ("cyd", []), ("dee", ["sql"])):
        await hire(system.db, name, "ollama", skills=skills)
    # Success rates with the prior: cyd 6/7, bob 3/4, ada 1/5; dee is suspended.
    for name, status, count in (("cyd", "succeeded", 5), ("bob", "succeeded", 2),
                                ("ada", "failed", 3), ("dee", "succeeded", 9)):
        for n in range(count):
            await add_finished_job(system.db, name, status, now - timedelta(minutes=n + 1))
    await system.roster.suspend("dee", actor="director")
    async with Client(system.mcp_server()) as client:
        best = await call(client, "consensus", prompt="who", timeout_s=0)
        three = await call(client, "consensus", prompt="who", size=3, timeout_s=0)
        sql = await call(client, "consensus", prompt="who", skills=["SQL"], timeout_s=0)
        lonely = await tool_error(client, "consensus", prompt="who", skills=["go"])
    assert [a["employee"] for a in best["answers"]] == ["cyd", "bob"]
    assert [a["employee"] for a in three["answers"]] == ["cyd", "bob", "ada"]
    assert [a["employee"] for a in sql["answers"]] == ["bob", "ada"]
    assert all(a["status"] == "queued" and a["answer"] is None for a in best["answers"])
    assert best["complete"] is False
    assert "at least 2 working employees having the skills go; there are 0" in lonely


async def test_bad_members_are_refused_and_nothing_is_written(system: System) -> None:
    await _hire_ollamas(system)
    await hire(system.db, "idle", "ollama")
    await system.roster.suspend("idle", actor="director")
    async with Client(system.mcp_server()) as client:
        one = await tool_error(client, "consensus", prompt="q", employees=["llama"])
        four = await tool_error(client, "consensus", prompt="q",
                                employees=["llama", "qwen", "idle", "x"])
        twice = await tool_error(client, "consensus", prompt="q", employees=["llama", "llama"])
        unknown = await tool_error(client, "consensus", prompt="q", employees=["llama", "ghost"])
        suspended = await tool_error(client, "consensus", prompt="q",
                                     employees=["llama", "idle"])
        both = await tool_error(client, "consensus", prompt="q", employees=["llama", "qwen"],
                                skills=["python"])
        size = await tool_error(client, "consensus", prompt="q", size=4)
        too_long = await tool_error(client, "consensus", prompt="q",
                                    employees=["llama", "qwen"], timeout_s=46)
    assert "2 or 3 employees; 1 were named" in one
    assert "2 or 3 employees; 4 were named" in four
    assert "named more than once: llama" in twice
    assert "no employee named 'ghost'" in unknown
    assert "employee 'idle' is suspended and takes no work" in suspended
    assert "not both" in both
    assert "size must be 2 or 3, not 4" in size
    assert "timeout_s" in too_long and "45" in too_long
    assert await _rows(system, "consensus") == 0
    assert await _rows(system, "consensus_members") == 0
    assert await _rows(system, "jobs") == 0


async def test_cancelling_a_consensus_cancels_its_unfinished_members_only(
    system: System, ollama: FakeOllama
) -> None:
    await _hire_ollamas(system)
    ollama.delay("qwen", 30)
    async with running_worker(system), Client(system.mcp_server()) as client:
        result = await call(client, "consensus", prompt="half", employees=["llama", "qwen"],
                            timeout_s=1.5)
        cancelled = await system.tools.consensus.cancel(result["consensus_id"],
                                                        actor="client:stdio")
    states = {m.job.requested_employee: m.job.status.value for m in cancelled.members}
    assert states == {"llama": "succeeded", "qwen": "cancelled"} and cancelled.complete
    async with system.db.connection() as conn:
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'job.cancelled'"
            " AND subject = $1", result["answers"][1]["job_id"])
    assert audited == 1


async def test_a_consensus_id_that_is_no_uuid_or_unknown_is_refused(system: System) -> None:
    with pytest.raises(InvalidInput, match="consensus id 'nope' is not a UUID"):
        await system.tools.consensus.get("nope")
    with pytest.raises(NotFound, match="no consensus 00000000-"):
        await system.tools.consensus.get("00000000-0000-0000-0000-000000000000")


async def test_members_by_skills_leave_out_the_unpriceable_under_a_budget(
    system: System,
) -> None:
    # scribe, hired first, wins the ties; it is a command-line employee without a rate card,
    # which admission refuses whenever a budget applies to its call.
    await hire(system.db, "scribe", skills=["sql"])
    await hire(system.db, "ada", "ollama", skills=["sql"])
    await hire(system.db, "bob", "ollama", skills=["sql"])
    async with Client(system.mcp_server()) as client:
        free = await call(client, "consensus", prompt="who", skills=["sql"], timeout_s=0)
        capped = await call(client, "consensus", prompt="who", skills=["sql"], timeout_s=0,
                            max_cost_usd="1")
        await system.budgets.put(BudgetSpec("monthly", "global", "1000"), actor="director")
        budgeted = await call(client, "consensus", prompt="who", skills=["sql"], size=3,
                              timeout_s=0)
        named = await call(client, "consensus", prompt="who", employees=["scribe", "ada"],
                           timeout_s=0)
    assert [a["employee"] for a in free["answers"]] == ["scribe", "ada"]
    assert [a["employee"] for a in capped["answers"]] == ["ada", "bob"]
    assert [a["employee"] for a in budgeted["answers"]] == ["ada", "bob"]
    # Named members are asked as named; admission refuses scribe's job saying why.
    assert [a["employee"] for a in named["answers"]] == ["scribe", "ada"]
