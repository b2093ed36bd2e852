"""Coding agents hired by preset run confined like every command employee; the usage and cost
each reports reach the ledger with how they were priced, and budgets bind them: an agent that
cannot be priced is refused under a budget, and recorded unpriced (NULL, never $0) without one."""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from governance.budgets import BudgetSpec
from mcp_server.app import System
from orchestra.models import Job, JobStatus, NewJob
from tests.integration.helpers import hire, running_worker, until_done

AGENTS = Path(__file__).resolve().parent.parent / "fakes" / "agents"
SCRIPTS = {"claude-code": "claude", "codex": "codex", "gemini-cli": "gemini", "aider": "aider",
           "opencode": "opencode"}
# USD per million tokens in and out, for the agents that report tokens but no cost.
RATE_CARD = {"price_in": "1.25", "price_out": "10"}


async def _hire_agent(system: System, name: str, agent: str, **fields: Any) -> None:
    # The fakes need no network; a network employee's jobs would wait for the Director.
    await hire(system.db, name, preset=agent, program=str(AGENTS / SCRIPTS[agent]),
               network=False, command=None, **fields)


async def _run(system: System, employee: str, **job: Any) -> Job:
    submitted = await system.queue.submit(NewJob(prompt="fix it", employee=employee, **job),
                                          actor="t")
    async with running_worker(system):
        return await until_done(system, submitted.job.id)


async def _charges(system: System, job_id: uuid.UUID) -> list[dict[str, Any]]:
    async with system.db.connection() as conn:
        rows = await conn.fetch("SELECT tokens_in, tokens_out, cost, pricing FROM ledger"
                                " WHERE job_id = $1 AND kind = 'call'", job_id)
    return [dict(r) for r in rows]


@pytest.mark.parametrize(("agent", "rates", "tokens", "cost", "pricing"), [
    ("claude-code", {}, (3012, 345), Decimal("0.0123456"), "reported"),
    ("codex", RATE_CARD, (24763, 122), Decimal("0.03217375"), "estimated"),
    ("gemini-cli", RATE_CARD, (33904, 214), Decimal("0.04452000"), "estimated"),
    ("aider", {}, (3412, 182), Decimal("0.0142"), "reported"),
    ("opencode", {}, (5400, 400), Decimal("0.0052"), "reported"),
])
async def test_each_agents_reported_usage_and_cost_reach_the_ledger(
    system: System, agent: str, rates: dict[str, str], tokens: tuple[int, int], cost: Decimal,
    pricing: str,
) -> None:
    await _hire_agent(system, "coder", agent, **rates)
    job = await _run(system, "coder")
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.output is not None and f"{agent}: the function is fixed" in job.output
    assert not job.output.lstrip().startswith("{")  # the agent's answer, not its JSON
    [charge] = await _charges(system, job.id)
    assert (charge["tokens_in"], charge["tokens_out"]) == tokens
    assert (charge["cost"], charge["pricing"]) == (cost, pricing)
    assert job.cost == cost and (job.tokens_in, job.tokens_out) == tokens


async def test_tokens_without_a_price_are_recorded_unpriced_never_zero(
    system: System, api: httpx.AsyncClient
) -> None:
    await _hire_agent(system, "coder", "codex")  # reports no cost, and no rate card
    job = await _run(system, "coder")
    assert job.status is JobStatus.SUCCEEDED, job.error
    [charge] = await _charges(system, job.id)
    assert (charge["cost"], charge["pricing"]) == (None, "unpriced")
    assert (charge["tokens_in"], charge["tokens_out"]) == (24763, 122)
    assert (job.cost, job.unpriced_calls) == (Decimal(0), 1)  # nothing priced, one unpriced
    headers = {"Authorization": "Bearer test-director-key"}
    shown = (await api.get(f"/api/v1/jobs/{job.id}", headers=headers)).json()
    assert (Decimal(shown["cost"]), shown["unpriced_calls"]) == (0, 1)
    page = (await api.get("/api/v1/ledger", params={"job_id": str(job.id)},
                          headers=headers)).json()
    [entry] = [e for e in page["entries"] if e["kind"] == "call"]
    assert (entry["cost_usd"], entry["pricing"]) == (None, "unpriced")
    assert page["totals"]["unpriced_calls"] == 1


@pytest.mark.parametrize("agent", ["codex", "claude-code"])
async def test_a_budget_refuses_an_agent_that_cannot_be_priced(
    system: System, agent: str
) -> None:
    """Without a rate card no worst case can be reserved, even for an agent that reports its
    cost afterwards: a budget that must hold refuses it rather than guessing."""
    await _hire_agent(system, "coder", agent)
    await system.budgets.put(BudgetSpec("monthly", "global", "100"), actor="director")
    job = await _run(system, "coder")
    assert job.status is JobStatus.FAILED
    assert job.error is not None and "budget 'monthly' (global) applies" in job.error
    assert "cannot be priced: a command-line employee with no rate card" in job.error
    assert job.budget_refusal is not None and "rate card" in job.budget_refusal["reason"]
    assert await _charges(system, job.id) == []


async def test_a_jobs_own_ceiling_refuses_an_unpriceable_agent_too(system: System) -> None:
    await _hire_agent(system, "coder", "opencode")
    job = await _run(system, "coder", max_cost_usd=Decimal("5"))
    assert job.status is JobStatus.FAILED
    assert job.error is not None and "this job's max_cost_usd applies" in job.error


async def test_with_a_rate_card_a_budget_admits_the_agent(system: System) -> None:
    await _hire_agent(system, "coder", "codex", **RATE_CARD, max_output_tokens=1000)
    await system.budgets.put(BudgetSpec("monthly", "global", "100"), actor="director")
    job = await _run(system, "coder")
    assert job.status is JobStatus.SUCCEEDED, job.error
    [charge] = await _charges(system, job.id)
    assert (charge["cost"], charge["pricing"]) == (Decimal("0.03217375"), "estimated")


async def test_output_without_usage_is_charged_as_unmetered(
    system: System, tmp_path: Path
) -> None:
    """An agent whose output lacks the usage its preset reads (a format change, a crash
    mid-print) is charged its reserved worst case, as any unmetered command is."""
    script = tmp_path / "claude"
    script.write_text("#!/bin/sh\necho 'done, no JSON today'\n")
    script.chmod(0o755)
    await hire(system.db, "coder", preset="claude-code", program=str(script), network=False,
               command=None, price_out="100000", max_output_tokens=10)
    job = await _run(system, "coder")
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.output == "done, no JSON today\n"
    [charge] = await _charges(system, job.id)
    assert charge["pricing"] == "worst_case" and charge["cost"] == Decimal("1")


async def test_hire_by_preset_over_the_api(api: httpx.AsyncClient) -> None:
    headers = {"Authorization": "Bearer test-director-key"}
    hired = await api.post("/api/v1/employees", headers=headers, json={
        "name": "coder", "preset": "aider", "model": "sonnet",
        "program": str(AGENTS / "aider")})
    assert hired.status_code == 201, hired.text
    body = hired.json()
    assert (body["adapter"], body["preset"], body["api_key_env"], body["network"]) == (
        "cli", "aider", "ANTHROPIC_API_KEY", True)
    assert body["command"][:3] == [str(AGENTS / "aider"), "--message", "{prompt}"]
    assert body["command"][-2:] == ["--model", "sonnet"]
    unknown = await api.post("/api/v1/employees", headers=headers,
                             json={"name": "other", "preset": "cursor"})
    assert unknown.status_code == 400, unknown.text
    assert "unknown preset 'cursor'; valid presets: claude-code, codex, gemini-cli, aider, " \
           "opencode" in unknown.text


async def test_a_preset_employee_proposed_over_mcp_is_hired_with_its_preset(
    system: System, api: httpx.AsyncClient
) -> None:
    from mcp.client.client import Client

    from tests.integration.test_approvals import KEY, call

    command = [str(AGENTS / "opencode"), "run", "--format", "json", "{prompt}"]
    async with Client(system.mcp_server()) as client:
        proposed = await call(client, "propose_employee", name="coder", adapter="cli",
                              preset="opencode", command=command)
        assert proposed["status"] == "pending"
        await api.post(f"/api/v1/approvals/{proposed['approval_id']}/approve", headers=KEY)
    hired = await system.roster.get("coder")
    assert (hired.preset, hired.command, hired.api_key_env, hired.network) == (
        "opencode", tuple(command), "ANTHROPIC_API_KEY", True)


async def test_the_preset_is_part_of_the_roster_version(system: System) -> None:
    """The worker reads an agent's output by its preset, so a change of it is a roster
    change (migration 010 compares whole rows, this column included)."""
    await _hire_agent(system, "coder", "codex")
    async with system.db.connection() as conn:
        before = await conn.fetchval("SELECT version FROM roster_version")
        await conn.execute("UPDATE employees SET preset = 'opencode' WHERE name = 'coder'")
        assert await conn.fetchval("SELECT version FROM roster_version") == before + 1


def _agent(tmp_path: Path, name: str, body: str) -> Path:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


# Worst case with these rates: 10 tokens out at USD 100000 per million = USD 1 (nothing in).
WORST_CASE_USD_1 = {"price_out": "100000", "max_output_tokens": 10}


async def test_an_agent_that_fails_after_reporting_usage_is_charged_what_it_reported(
    system: System, tmp_path: Path
) -> None:
    """A failed call is settled, not released: here the agent printed its usage, then failed."""
    claude = (AGENTS / "claude").read_text()  # its printing part, then a failure
    script = _agent(tmp_path, "claude", claude[claude.index("cat <<'JSON'"):] + "exit 3")
    await hire(system.db, "coder", preset="claude-code", program=str(script), network=False,
               command=None, **WORST_CASE_USD_1)
    job = await _run(system, "coder")
    assert job.status is JobStatus.FAILED
    assert job.error is not None and "exited with code 3" in job.error
    [charge] = await _charges(system, job.id)
    assert (charge["tokens_in"], charge["tokens_out"]) == (3012, 345)
    assert (charge["cost"], charge["pricing"]) == (Decimal("0.0123456"), "reported")
    assert job.cost == Decimal("0.0123456")


async def test_a_killed_agent_is_charged_its_worst_case(
    system: System, tmp_path: Path
) -> None:
    """An agent killed at the job's timeout may have spent money: with no usage to read, it is
    charged what was reserved for it, and the job still fails."""
    script = _agent(tmp_path, "claude", "echo 'thinking…'; exec sleep 60")
    await hire(system.db, "coder", preset="claude-code", program=str(script), network=False,
               command=None, **WORST_CASE_USD_1)
    submitted = await system.queue.submit(NewJob(prompt="fix it", employee="coder"), actor="t")
    system.manager.attempts.config = dataclasses.replace(
        system.manager.attempts.config, job_timeout_seconds=1)
    async with running_worker(system):
        job = await until_done(system, submitted.job.id)
    assert job.status is JobStatus.FAILED
    assert job.error is not None and "did not finish within 1s" in job.error
    [charge] = await _charges(system, job.id)
    assert (charge["cost"], charge["pricing"]) == (Decimal("1"), "worst_case")
    assert job.cost == Decimal("1")


async def test_a_failed_agent_without_a_rate_card_is_recorded_unpriced(
    system: System, tmp_path: Path
) -> None:
    script = _agent(tmp_path, "codex", "echo 'out of credit' >&2; exit 1")
    await hire(system.db, "coder", preset="codex", program=str(script), network=False,
               command=None)
    job = await _run(system, "coder")
    assert job.status is JobStatus.FAILED
    [charge] = await _charges(system, job.id)
    assert (charge["cost"], charge["pricing"]) == (None, "unpriced")
    assert job.unpriced_calls == 1


async def test_cut_off_agent_output_is_charged_its_worst_case_not_a_partial_sum(
    system: System, tmp_path: Path
) -> None:
    """Only the first MiB of stdout is kept: the usage events after it are lost, so the sum of
    those before it is no reported cost (here it would be USD 0.0021 of a USD 0.0052 run)."""
    opencode = (AGENTS / "opencode").read_text()
    events = opencode.split("<<'JSONL'\n")[1].split("\nJSONL")[0].splitlines()
    first, rest = "\n".join(events[:3]), "\n".join(events[3:])  # a step_finish in each
    assert '"step_finish"' in first and '"step_finish"' in rest
    body = (f"cat <<'A'\n{first}\nA\nhead -c 1200000 /dev/zero | tr '\\0' 'x'; echo\n"
            f"cat <<'B'\n{rest}\nB")
    script = _agent(tmp_path, "opencode", body)
    await hire(system.db, "coder", preset="opencode", program=str(script), network=False,
               command=None, **WORST_CASE_USD_1)
    job = await _run(system, "coder")
    assert job.status is JobStatus.SUCCEEDED, job.error
    [charge] = await _charges(system, job.id)
    assert (charge["cost"], charge["pricing"]) == (Decimal("1"), "worst_case")
    assert job.output is not None and "output truncated" in job.output
