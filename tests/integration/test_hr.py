"""HR's record, kept in the statement that ends each attempt: probation ends after N good
jobs, K failures in a row suspend, and both are audited; and HR's scores over a window."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from governance.auditor import Auditor
from mcp_server.app import System
from orchestra.models import EmployeeStatus, JobStatus, NewJob, Scores
from orchestra.roster import Roster
from orchestra.store.db import Database
from tests.integration.helpers import add_finished_job, hire, running_worker


async def _run_jobs(system: System, employee: str, count: int) -> list[JobStatus]:
    ids = [(await system.queue.submit(NewJob(prompt=f"job {i}", employee=employee),
                                      actor="t")).job.id for i in range(count)]
    async with running_worker(system, poll_seconds=0.2):
        for _ in range(300):
            jobs = [await system.queue.get(i) for i in ids]
            if all(j.status.is_terminal for j in jobs):
                return [j.status for j in jobs]
            await asyncio.sleep(0.05)
    raise AssertionError("jobs did not finish")


async def _hr_actions(system: System, employee: str) -> list[str]:
    async with system.db.connection() as conn:
        rows = await conn.fetch("SELECT action FROM audit_log WHERE subject = $1 AND actor = 'hr'"
                                " ORDER BY seq", employee)
    return [r["action"] for r in rows]


async def test_probation_ends_after_n_good_jobs(system: System) -> None:
    await hire(system.db, "good", command=["echo", "fine"])
    assert (await system.roster.get("good")).status is EmployeeStatus.PROBATION
    statuses = await _run_jobs(system, "good", 2)
    assert statuses == [JobStatus.SUCCEEDED] * 2
    assert (await system.roster.get("good")).status is EmployeeStatus.PROBATION
    await _run_jobs(system, "good", 1)  # the third good job (N = 3)
    assert (await system.roster.get("good")).status is EmployeeStatus.ACTIVE
    assert await _hr_actions(system, "good") == ["employee.promoted"]


async def test_k_failures_in_a_row_suspend_and_the_employee_takes_no_more_work(
    system: System,
) -> None:
    await hire(system.db, "flaky", command=["sh", "-c", "exit 1"])
    statuses = await _run_jobs(system, "flaky", 2)
    assert statuses == [JobStatus.FAILED] * 2
    assert (await system.roster.get("flaky")).status is EmployeeStatus.PROBATION
    statuses = await _run_jobs(system, "flaky", 1)  # the third failure in a row (K = 3)
    assert (await system.roster.get("flaky")).status is EmployeeStatus.SUSPENDED
    assert await _hr_actions(system, "flaky") == ["employee.suspended"]
    # A suspended employee takes no more work: a job for anyone finds nobody to take it.
    later = await system.queue.submit(NewJob(prompt="x"), actor="t")
    async with running_worker(system, poll_seconds=0.2):
        for _ in range(100):
            if (await system.queue.get(later.job.id)).status.is_terminal:
                break
            await asyncio.sleep(0.05)
    job = await system.queue.get(later.job.id)
    assert job.status is JobStatus.FAILED and "no working employee" in (job.error or "")


async def test_a_success_ends_the_failure_streak(system: System, tmp_path: object) -> None:
    from pathlib import Path

    # The employee is confined, so its mood is its script, rewritten between jobs.
    mood = Path(str(tmp_path)) / "moody.sh"
    mood.write_text("#!/bin/sh\nexit 1\n")
    mood.chmod(0o755)
    await hire(system.db, "moody", command=[str(mood)])
    assert await _run_jobs(system, "moody", 2) == [JobStatus.FAILED] * 2
    mood.write_text("#!/bin/sh\nexit 0\n")
    assert await _run_jobs(system, "moody", 1) == [JobStatus.SUCCEEDED]
    mood.write_text("#!/bin/sh\nexit 1\n")
    assert await _run_jobs(system, "moody", 2) == [JobStatus.FAILED] * 2
    assert (await system.roster.get("moody")).status is EmployeeStatus.PROBATION  # 2, not 4


async def test_scores_are_computed_over_the_last_50_finished_jobs(db: Database) -> None:
    for name in ("scored", "other", "fresh"):
        await hire(db, name)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(51):  # i = 0 is the oldest, the 51st: outside the window
        await add_finished_job(
            db, "scored", "failed" if i % 5 == 0 else "succeeded", base + timedelta(minutes=i),
            latency_ms=1_000_000 if i == 0 else i * 100,
            cost=Decimal(100) if i == 0 else Decimal("0.01"),
            acceptance=["pytest -q"] if i % 2 == 0 or i == 49 else [],
            validation=None if i == 49 else {"passed": i % 4 == 0, "checks": []},
        )
    # Neither a cancelled job, nor one a budget refused, nor another employee's job counts.
    await add_finished_job(db, "scored", "cancelled", base + timedelta(hours=2),
                           cost=Decimal(7))
    await add_finished_job(db, "scored", "failed", base + timedelta(hours=3),
                           budget_refusal={"budget": "monthly", "limit_usd": "5"})
    await add_finished_job(db, "other", "succeeded", base, latency_ms=7,
                           validation={"passed": True, "checks": []})

    scores = await Roster(db, Auditor()).scores()

    # Of the newest 50 (i = 1..50): 10 failed (i % 5 == 0); 25 reached validation with checks
    # (even i; i = 49 had checks but never reached them), 12 passed (i % 4 == 0); latencies
    # 100..5000 ms, median (2500 + 2600) / 2; cost 50 * 0.01 over 40 successes.
    assert scores["scored"] == Scores(
        window=50, jobs=50, successes=40, success_rate=0.8, validation_pass_rate=0.48,
        p50_latency_ms=2550, cost_per_success=Decimal("0.0125"),
    )
    assert scores["scored"].public() == {
        "window": 50, "jobs": 50, "success_rate": 0.8, "validation_pass_rate": 0.48,
        "p50_latency_ms": 2550, "cost_per_success_usd": "0.01250000",
    }
    assert scores["other"].public() == {
        "window": 50, "jobs": 1, "success_rate": 1.0, "validation_pass_rate": None,
        "p50_latency_ms": 7, "cost_per_success_usd": "0.00000000",
    }
    assert scores["fresh"] == Scores.empty(50)


async def test_an_employee_without_a_success_has_no_cost_per_success(db: Database) -> None:
    await hire(db, "hopeless")
    now = datetime.now(UTC)
    for latency_ms in (10, 30):
        await add_finished_job(db, "hopeless", "failed", now, latency_ms=latency_ms,
                               cost=Decimal("0.5"))
    scores = (await Roster(db, Auditor()).scores())["hopeless"]
    assert (scores.jobs, scores.success_rate, scores.cost_per_success) == (2, 0.0, None)
    assert scores.p50_latency_ms == 20
