"""HR's record, kept in the statement that ends each attempt: probation ends after N good
jobs, K failures in a row suspend, and both are audited."""

from __future__ import annotations

import asyncio

from mcp_server.app import System
from orchestra.models import EmployeeStatus, JobStatus, NewJob
from tests.integration.helpers import hire, running_worker


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

    flag = Path(str(tmp_path)) / "fail"
    flag.touch()
    await hire(system.db, "moody", command=["sh", "-c", f"test ! -e {flag}"])
    assert await _run_jobs(system, "moody", 2) == [JobStatus.FAILED] * 2
    flag.unlink()
    assert await _run_jobs(system, "moody", 1) == [JobStatus.SUCCEEDED]
    flag.touch()
    assert await _run_jobs(system, "moody", 2) == [JobStatus.FAILED] * 2
    assert (await system.roster.get("moody")).status is EmployeeStatus.PROBATION  # 2, not 4
