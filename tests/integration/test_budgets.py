"""Budgets: a call's worst case is reserved before it is made, under every budget that applies,
so no budget is overshot however many calls race; refusals name the budget and its figures."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from typing import Any

from mcp.client.client import Client

from governance.budgets import BudgetSpec
from mcp_server.app import System
from orchestra.errors import BudgetExceeded
from orchestra.models import JobKind, JobStatus, NewJob
from tests.fakes.ollama_server import FakeOllama
from tests.integration.helpers import hire, running_worker

# Ten output tokens at 100,000 USD per million: every call costs exactly 1.00 USD at worst,
# and (the fake's reply is longer than the cap, so it is cut there) exactly that in fact.
CAP = 10
PRICE_OUT = "100000"
LONG_REPLY = " ".join(f"w{i}" for i in range(50))


async def _expensive_llama(system: System, ollama: FakeOllama, name: str = "llama") -> None:
    await hire(system.db, name, "ollama", price_out=PRICE_OUT, max_output_tokens=CAP)
    ollama.script("llama", LONG_REPLY)


async def _ledger(system: System) -> dict[str, Any]:
    async with system.db.connection() as conn:
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE kind = 'call') AS calls,"
            " count(*) FILTER (WHERE kind = 'reservation') AS reservations,"
            " count(*) FILTER (WHERE kind = 'release') AS releases,"
            " coalesce(sum(cost) FILTER (WHERE kind = 'call'), 0) AS spent,"
            " (SELECT count(*) FROM reservations) AS open FROM ledger")
    assert row is not None
    return dict(row)


async def test_twenty_concurrent_asks_against_a_budget_for_five(
    system: System, ollama: FakeOllama
) -> None:
    await _expensive_llama(system, ollama)
    ollama.delay("llama", 0.2)  # calls overlap: three slots busy at once
    await system.budgets.put(BudgetSpec("monthly", "global", "5.50"), actor="director")

    async def ask(client: Client, n: int) -> tuple[bool, str]:
        result = await client.call_tool(
            "ask", {"prompt": f"question {n}", "employee": "llama", "timeout_s": 40})
        text = " ".join(getattr(c, "text", "") for c in result.content)
        return not result.is_error, text

    async with running_worker(system), Client(system.mcp_server()) as client:
        outcomes = await asyncio.gather(*(ask(client, n) for n in range(20)))

    answered = [text for ok, text in outcomes if ok]
    refused = [text for ok, text in outcomes if not ok]
    assert len(answered) == 5 and len(refused) == 15
    for message in refused:
        assert "budget_exceeded" in message and "'monthly' (global)" in message
        assert "limit 5.50 USD" in message and "worst case 1.00" in message
    ledger = await _ledger(system)
    assert ledger["calls"] == 5 and ledger["reservations"] == 5 and ledger["open"] == 0
    assert ledger["spent"] == Decimal("5.00") <= Decimal("5.50")
    # The view agrees, and the refused jobs say why as data.
    [status] = await system.budgets.status()
    assert (status.spent_usd, status.reserved_usd, status.remaining_usd) == (
        Decimal("5"), Decimal("0"), Decimal("0.5"))
    jobs = await system.queue.list_jobs(status=JobStatus.FAILED, client=None, limit=50)
    assert len(jobs) == 15
    assert all(j.budget_refusal and j.budget_refusal["budget"] == "monthly" for j in jobs)


async def test_a_refusal_writes_only_the_failed_job_and_its_audit_entry(
    system: System, ollama: FakeOllama
) -> None:
    await _expensive_llama(system, ollama)
    await system.budgets.put(BudgetSpec("tight", "global", "0.50"), actor="director")
    submitted = await system.queue.submit(
        NewJob(prompt="hi", kind=JobKind.ASK, employee="llama"), actor="t")
    async with running_worker(system):
        job = await _until_done(system, submitted.job.id)
    assert job.status is JobStatus.FAILED and job.attempts == 1
    assert job.budget_refusal == {
        "budget": "tight", "scope": "global", "limit_usd": "0.50", "spent_usd": "0.00",
        "reserved_usd": "0.00", "worst_case_usd": "1.00"}
    assert not [r for r in ollama.requests if r.path == "/api/chat"]  # never called
    ledger = await _ledger(system)
    assert (ledger["calls"], ledger["reservations"], ledger["releases"]) == (0, 0, 0)
    async with system.db.connection() as conn:
        actions = [r["action"] for r in await conn.fetch(
            "SELECT action FROM audit_log WHERE subject = $1 ORDER BY seq", str(job.id))]
        employee = await conn.fetchrow(
            "SELECT status, failures_in_a_row FROM employees WHERE name = 'llama'")
    assert actions[-1] == "job.refused" and "job.failed" not in actions
    # Not the employee's doing: its record is untouched.
    assert employee is not None and employee["failures_in_a_row"] == 0


async def test_an_employee_budget_binds_only_that_employee(
    system: System, ollama: FakeOllama
) -> None:
    await _expensive_llama(system, ollama)
    await hire(system.db, "qwen", "ollama", model="qwen", price_out=PRICE_OUT,
               max_output_tokens=CAP)
    ollama.script("qwen", LONG_REPLY)
    await system.budgets.put(
        BudgetSpec("llama-cap", "employee", "0.99", employee="llama"), actor="director")
    first = await system.queue.submit(
        NewJob(prompt="a", kind=JobKind.ASK, employee="llama"), actor="t")
    second = await system.queue.submit(
        NewJob(prompt="b", kind=JobKind.ASK, employee="qwen"), actor="t")
    async with running_worker(system):
        refused = await _until_done(system, first.job.id)
        answered = await _until_done(system, second.job.id)
    assert refused.budget_refusal is not None
    assert refused.budget_refusal["budget"] == "llama-cap"
    assert answered.status is JobStatus.SUCCEEDED and answered.cost == Decimal("1")


async def test_a_jobs_max_cost_is_its_own_ceiling(
    system: System, ollama: FakeOllama
) -> None:
    await _expensive_llama(system, ollama)
    async with running_worker(system), Client(system.mcp_server()) as client:
        result = await client.call_tool(
            "ask", {"prompt": "hi", "employee": "llama", "max_cost_usd": "0.99"})
        fits = await client.call_tool(
            "ask", {"prompt": "hi", "employee": "llama", "max_cost_usd": "1"})
        bad = await client.call_tool(
            "ask", {"prompt": "hi", "employee": "llama", "max_cost_usd": "-1"})
    text = " ".join(getattr(c, "text", "") for c in result.content)
    assert result.is_error and "this job's max_cost_usd would be exceeded" in text
    assert "limit 0.99 USD" in text
    assert not fits.is_error and fits.structured_content["answered"] is True
    assert bad.is_error and "max_cost_usd" in bad.content[0].text  # type: ignore[union-attr]


async def test_a_cancelled_call_releases_its_reservation(
    system: System, ollama: FakeOllama
) -> None:
    await _expensive_llama(system, ollama)
    ollama.delay("llama", 30)
    await system.budgets.put(BudgetSpec("monthly", "global", "10"), actor="director")
    submitted = await system.queue.submit(
        NewJob(prompt="slow", kind=JobKind.ASK, employee="llama"), actor="t")
    async with running_worker(system):
        for _ in range(100):
            if (await _ledger(system))["open"] == 1:
                break
            await asyncio.sleep(0.05)
        [held] = await system.budgets.status()
        assert held.reserved_usd == Decimal("1")
        await system.queue.cancel(submitted.job.id, actor="director")
    ledger = await _ledger(system)
    assert (ledger["reservations"], ledger["releases"], ledger["open"]) == (1, 1, 0)
    assert ledger["calls"] == 0
    [after] = await system.budgets.status()
    assert after.reserved_usd == 0 and after.remaining_usd == Decimal("10")


async def test_spend_that_cannot_be_read_admits_nothing(
    system: System, ollama: FakeOllama
) -> None:
    """Fail closed: when admission cannot complete (here the reservations table refuses
    writes), the call is never made."""
    await _expensive_llama(system, ollama)
    async with system.db.connection() as conn:
        await conn.execute(
            "CREATE FUNCTION broken() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'disk full'; END $$;"
            "CREATE TRIGGER broken BEFORE INSERT ON reservations "
            "FOR EACH ROW EXECUTE FUNCTION broken()")
    submitted = await system.queue.submit(
        NewJob(prompt="hi", kind=JobKind.ASK, employee="llama"), actor="t")
    async with running_worker(system):
        job = await _until_done(system, submitted.job.id)
    assert job.status is JobStatus.FAILED and "disk full" in (job.error or "")
    assert not [r for r in ollama.requests if r.path == "/api/chat"]


async def test_budget_exceeded_message_names_every_figure() -> None:
    error = BudgetExceeded(budget="team", scope="employee", limit_usd="20.00",
                           spent_usd="19.10", reserved_usd="0.80", worst_case_usd="0.25")
    assert re.fullmatch(
        r"refused: budget 'team' \(employee\) would be exceeded: limit 20.00 USD, spent 19.10, "
        r"reserved 0.80, this call's worst case 0.25", str(error))
    assert error.kind == "budget_exceeded"


async def _until_done(system: System, job_id: Any) -> Any:
    for _ in range(400):
        job = await system.queue.get(job_id)
        if job.status.is_terminal:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job.status}")
