"""Budgets: a call's worst case is reserved before it is made, under every budget that applies,
so no budget is overshot however many calls race; refusals name the budget and its figures."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from mcp.client.client import Client

from governance.budgets import BudgetSpec
from mcp_server.app import System
from orchestra.errors import BudgetExceeded, InvalidInput, NotFound
from orchestra.hooks import Usage
from orchestra.models import JobKind, JobStatus, NewJob
from tests.fakes.ollama_server import FakeOllama
from tests.integration.helpers import hire, running_worker, until_done

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
        assert re.search(r"refused \(job [0-9a-f-]{36}\)", message)
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
        job = await until_done(system, submitted.job.id)
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
        refused = await until_done(system, first.job.id)
        answered = await until_done(system, second.job.id)
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
        NewJob(prompt="hi", kind=JobKind.ASK, employee="llama", max_attempts=3), actor="t")
    async with running_worker(system):
        job = await until_done(system, submitted.job.id)
    assert job.status is JobStatus.FAILED and job.attempts == 1  # not retried
    assert "spend could not be read, so no call was made" in (job.error or "")
    assert "disk full" in (job.error or "")
    assert not [r for r in ollama.requests if r.path == "/api/chat"]
    async with system.db.connection() as conn:
        streak = await conn.fetchval(
            "SELECT failures_in_a_row FROM employees WHERE name = 'llama'")
    assert streak == 0  # not the employee's doing


async def test_budget_exceeded_message_names_every_figure() -> None:
    error = BudgetExceeded(budget="team", scope="employee", limit_usd="20.00",
                           spent_usd="19.10", reserved_usd="0.80", worst_case_usd="0.25")
    assert re.fullmatch(
        r"refused: budget 'team' \(employee\) would be exceeded: limit 20.00 USD, spent 19.10, "
        r"reserved 0.80, this call's worst case 0.25", str(error))
    assert error.kind == "budget_exceeded"


async def _charge_at(system: System, employee: str, local: str, tz: str, cost: str) -> None:
    """A call charged at a local wall-clock time (the ledger is append-only: insert only)."""
    async with system.db.connection() as conn:
        await conn.execute(
            "INSERT INTO ledger (ts, employee, kind, cost, latency_ms)"
            " VALUES ($1::timestamp AT TIME ZONE $2, $3, 'call', $4::numeric, 0)",
            datetime.fromisoformat(local), tz, employee, cost)


async def _periods(system: System, local: str, tz: str) -> tuple[datetime, datetime, Decimal]:
    system.budgets.timezone = tz
    async with system.db.connection() as conn:
        at = await conn.fetchval("SELECT $1::timestamp AT TIME ZONE $2",
                                 datetime.fromisoformat(local), tz)
    [status] = await system.budgets.status(at)
    return status.period_start, status.period_end, status.spent_usd


async def test_month_ends_follow_the_time_zone_across_a_dst_change(system: System) -> None:
    """Europe/Berlin left summer time on 2026-10-25. A charge at 23:59:59 on 31 October and
    one at 00:00:00 on 1 November (local) land in different months, though both are
    October in UTC; October is 31 days and one hour long."""
    berlin = "Europe/Berlin"
    await hire(system.db, "llama", "ollama")
    await system.budgets.put(BudgetSpec("monthly", "global", "100"), actor="director")
    await _charge_at(system, "llama", "2026-10-31T23:59:59", berlin, "1")
    await _charge_at(system, "llama", "2026-11-01T00:00:00", berlin, "2")
    start, end, spent = await _periods(system, "2026-10-31T12:00:00", berlin)
    assert spent == Decimal("1")
    assert start.isoformat() == "2026-10-01T00:00:00+02:00"  # local midnight, summer time
    assert end.isoformat() == "2026-11-01T00:00:00+01:00"  # local midnight, winter time
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=31, hours=1)
    start, end, spent = await _periods(system, "2026-11-01T00:00:00", berlin)
    assert spent == Decimal("2") and start.astimezone(UTC).isoformat() == \
        "2026-10-31T23:00:00+00:00"
    # In UTC both charges are October's.
    _, _, spent = await _periods(system, "2026-10-15T00:00:00", "UTC")
    assert spent == Decimal("3")


async def test_a_month_with_the_spring_change_is_an_hour_short(system: System) -> None:
    berlin = "Europe/Berlin"
    await hire(system.db, "llama", "ollama")
    await system.budgets.put(BudgetSpec("monthly", "global", "100"), actor="director")
    await _charge_at(system, "llama", "2027-03-31T23:59:59", berlin, "1")
    await _charge_at(system, "llama", "2027-04-01T00:00:00", berlin, "2")
    start, end, spent = await _periods(system, "2027-03-28T03:30:00", berlin)  # after 2→3
    assert spent == Decimal("1")
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=30, hours=23)
    _, _, spent = await _periods(system, "2027-04-01T00:00:00", berlin)
    assert spent == Decimal("2")


async def test_admission_counts_only_this_months_spend(system: System, ollama: FakeOllama) -> None:
    """Last month's charges do not count against this month's limit."""
    await _expensive_llama(system, ollama)
    await system.budgets.put(BudgetSpec("monthly", "global", "1.50"), actor="director")
    async with system.db.connection() as conn:
        await conn.execute(
            "INSERT INTO ledger (ts, employee, kind, cost, latency_ms) VALUES"
            " (date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
            "  - interval '1 second', 'llama', 'call', 100, 0)")
    submitted = await system.queue.submit(
        NewJob(prompt="hi", kind=JobKind.ASK, employee="llama"), actor="t")
    async with running_worker(system):
        job = await until_done(system, submitted.job.id)
    assert job.status is JobStatus.SUCCEEDED


async def test_metrics_show_every_budget_and_spend_without_traffic(system: System) -> None:
    await hire(system.db, "llama", "ollama")
    await system.budgets.put(BudgetSpec("monthly", "global", "5"), actor="director")
    await system.budgets.put(BudgetSpec("llama", "employee", "2", employee="llama"),
                             actor="director")
    async with system.db.connection() as conn:
        await conn.execute("INSERT INTO ledger (employee, kind, cost, latency_ms)"
                           " VALUES ('llama', 'call', 1.25, 0), ('llama', 'reservation', 9, 0)")
    text = (await system.metrics.render()).decode()
    assert 'aura_budget_remaining_usd{budget="monthly"} 3.75' in text
    assert 'aura_budget_remaining_usd{budget="llama"} 0.75' in text
    assert 'aura_cost_usd_total{employee="llama"} 1.25' in text  # holds are not spend
    await system.budgets.put(BudgetSpec("monthly", "global", "10"), actor="director")
    await system.budgets.delete("llama", actor="director")
    text = (await system.metrics.render()).decode()
    assert 'aura_budget_remaining_usd{budget="monthly"} 8.75' in text
    assert 'budget="llama"' not in text


async def test_budget_changes_are_checked_and_audited(system: System) -> None:
    await hire(system.db, "llama", "ollama")
    status, created = await system.budgets.put(
        BudgetSpec("monthly", "global", "12.50"), actor="director")
    assert created and status.public()["limit_usd"] == "12.50"
    status, created = await system.budgets.put(
        BudgetSpec("monthly", "global", 20), actor="director")
    assert not created and status.limit_usd == Decimal("20")
    bad = [
        (BudgetSpec("no spaces", "global", "1"), "budget name"),
        (BudgetSpec("b", "team", "1"), "scope must be 'global' or 'employee'"),
        (BudgetSpec("b", "employee", "1"), "names its employee"),
        (BudgetSpec("b", "global", "1", employee="llama"), "names no employee"),
        (BudgetSpec("b", "global", "-1"), "limit_usd must be a non-negative number"),
        (BudgetSpec("b", "global", "1.123456789"), "at most 8 decimal places"),
        (BudgetSpec("b", "global", "NaN"), "limit_usd must be a non-negative number"),
        (BudgetSpec("b", "global", "1", period="week"), "period must be 'month'"),
    ]
    for spec, message in bad:
        try:
            await system.budgets.put(spec, actor="director")
        except InvalidInput as exc:
            assert message in str(exc), (spec, exc)
        else:
            raise AssertionError(f"{spec} was accepted")
    with pytest.raises(NotFound, match="no employee named 'ghost'"):
        await system.budgets.put(BudgetSpec("b", "employee", "1", employee="ghost"),
                                 actor="director")
    with pytest.raises(NotFound, match="no budget named 'nope'"):
        await system.budgets.delete("nope", actor="director")
    await system.budgets.delete("monthly", actor="director")
    async with system.db.connection() as conn:
        entries = await conn.fetch("SELECT action, details FROM audit_log"
                                   " WHERE subject = 'monthly' ORDER BY seq")
    assert [e["action"] for e in entries] == ["budget.created", "budget.changed",
                                              "budget.deleted"]
    assert entries[1]["details"]["was_limit_usd"] == "12.50"
    assert await system.budgets.status() == []


async def test_over_http_a_refusal_is_a_409_problem_with_the_figures() -> None:
    import json

    from mcp_server.http import problem_from

    response = problem_from(BudgetExceeded(
        budget="monthly", scope="global", limit_usd="5.50", spent_usd="5.00",
        reserved_usd="0.00", worst_case_usd="1.00"))
    body = json.loads(bytes(response.body))
    assert response.status_code == 409
    assert response.media_type == "application/problem+json"
    assert body["title"] == "budget_exceeded" and "'monthly' (global)" in body["detail"]
    assert body["budget"] == {"budget": "monthly", "scope": "global", "limit_usd": "5.50",
                              "spent_usd": "5.00", "reserved_usd": "0.00",
                              "worst_case_usd": "1.00"}


async def test_budget_status_shows_the_budgets_and_the_callers_month(
    system: System, ollama: FakeOllama
) -> None:
    await _expensive_llama(system, ollama)
    await system.budgets.put(BudgetSpec("monthly", "global", "10"), actor="director")
    async with running_worker(system), Client(system.mcp_server()) as client:
        asked = await client.call_tool("ask", {"prompt": "hi", "employee": "llama"})
        assert not asked.is_error
        status = await client.call_tool("budget_status", {})
    assert not status.is_error
    result = status.structured_content
    assert result is not None
    [budget] = result["budgets"]
    assert (budget["name"], budget["limit_usd"], budget["spent_usd"], budget["remaining_usd"]) \
        == ("monthly", "10.00", "1.00", "9.00")
    month = result["month"]
    assert month["spent_usd"] == "1.00" and month["period_start"] < month["period_end"]
    # The in-memory client has no token: it is the "stdio" client, whose ask was charged.
    assert month["your_spent_usd"] == "1.00"


async def test_a_settlement_racing_a_rescue_waits_and_still_records_the_charge(
    system: System, ollama: FakeOllama
) -> None:
    """A rescue locks the job, then its lease change releases the hold; a settlement arriving
    meanwhile must wait for it (not deadlock) and record the call that really happened."""
    await _expensive_llama(system, ollama)
    await system.queue.submit(NewJob(prompt="hi", kind=JobKind.ASK, employee="llama"),
                              actor="t")
    claim = await system.queue.claim("w", 30, 3)
    assert claim is not None
    employee = await system.roster.get("llama")
    reservation = await system.queue.admit(claim.job, claim.lease, employee, Decimal("1"),
                                           system.accountant)
    async with system.db.connection() as rescuer:
        tx = rescuer.transaction()
        await tx.start()
        await rescuer.execute("SELECT 1 FROM jobs WHERE id = $1 FOR NO KEY UPDATE",
                              claim.job.id)
        settle = asyncio.create_task(system.queue.charge(
            claim.job, employee, Usage(tokens_in=0, tokens_out=CAP), 5, system.accountant,
            reservation))
        await asyncio.sleep(0.3)
        assert not settle.done()  # waiting for the rescue's row lock
        await rescuer.execute("UPDATE jobs SET lease_owner = NULL, status = 'queued'"
                              " WHERE id = $1", claim.job.id)
        await tx.commit()
    assert (await settle).cost == Decimal("1")
    async with system.db.connection() as conn:
        rows = await conn.fetch("SELECT kind, cost, reservation_id FROM ledger ORDER BY kind")
    # The hold was released with the lease; the charge is recorded, without the link.
    assert [(r["kind"], r["cost"], r["reservation_id"]) for r in rows] == [
        ("call", Decimal("1"), None), ("release", 0, reservation),
        ("reservation", Decimal("1"), None)]


async def test_an_unmetered_command_employee_is_charged_its_worst_case(
    system: System, workspace: Any
) -> None:
    """A command-line program reports no usage: each call is charged what was reserved, so a
    budget still binds it."""
    await hire(system.db, "agent", command=["/bin/echo", "done"], price_out=PRICE_OUT,
               max_output_tokens=CAP)
    await system.budgets.put(BudgetSpec("monthly", "global", "1.50"), actor="director")
    first = await system.queue.submit(NewJob(prompt="a", employee="agent"), actor="t")
    second = await system.queue.submit(NewJob(prompt="b", employee="agent"), actor="t")
    async with running_worker(system):
        jobs = [await until_done(system, first.job.id),
                await until_done(system, second.job.id)]
    [done] = [j for j in jobs if j.status is JobStatus.SUCCEEDED]
    [refused] = [j for j in jobs if j.budget_refusal is not None]
    assert done.cost == Decimal("1")
    figures = refused.budget_refusal
    assert figures is not None  # the first call's 1.00, spent or still reserved
    assert Decimal(figures["spent_usd"]) + Decimal(figures["reserved_usd"]) == Decimal("1")


async def test_a_reply_cut_at_the_output_cap_is_noted_in_the_run_log(
    system: System, ollama: FakeOllama
) -> None:
    await _expensive_llama(system, ollama)
    submitted = await system.queue.submit(
        NewJob(prompt="hi", kind=JobKind.ASK, employee="llama"), actor="t")
    async with running_worker(system):
        await until_done(system, submitted.job.id)
    text = await system.tools.runlogs.text(submitted.job.id)
    assert "REPLY CUT from llama" in text and "output cap of 10 tokens" in text


async def test_a_time_zone_postgresql_does_not_know_stops_the_start(system: System) -> None:
    from governance.budgets import Budgets

    with pytest.raises(InvalidInput, match="AURA_TIMEZONE 'Mars/Olympus' is not a time zone"):
        await Budgets(system.db, system.auditor, "Mars/Olympus").check_timezone()
    await Budgets(system.db, system.auditor, "Europe/Berlin").check_timezone()
