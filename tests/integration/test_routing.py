"""The manager routes jobs that name no employee: by skills, then by HR's score, preferring a
resident employee, with a bounded share for probationers (`choose_employee()`, migration 007).

Records are made on the real path: jobs submitted, claimed, moved to validating and finished
through the queue, as a worker does (without running an employee, which takes seconds)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

import pytest

from governance.auditor import Auditor
from governance.budgets import Budgets, BudgetSpec
from orchestra.errors import Conflict, InvalidInput
from orchestra.models import Employee, EmployeeStatus, Job, JobStatus, NewJob
from orchestra.queue import HrRules, JobQueue
from orchestra.roster import Roster
from orchestra.store.db import Database
from orchestra.workspaces import Workspaces
from tests.integration.helpers import hire, queue_for


async def _work(queue: JobQueue, new: NewJob, succeeded: bool = True) -> Job:
    """Submit `new` on an empty queue and take it through claim, validating and its end."""
    submitted = await queue.submit(new, actor="t")
    claim = await queue.claim("w", 30, 3)
    assert claim is not None and claim.job.id == submitted.job.id
    validating = await queue.start_validating(claim.job, claim.lease)
    return await queue.finish(
        validating, claim.lease, JobStatus.SUCCEEDED if succeeded else JobStatus.FAILED,
        output="done", diff=None, validation={"passed": True, "checks": []},
        error=None if succeeded else "it went wrong",
    )


async def _record(queue: JobQueue, employee: str, outcomes: Sequence[bool]) -> None:
    """A history of jobs that named `employee`, in order."""
    for succeeded in outcomes:
        await _work(queue, NewJob(prompt="seed", employee=employee), succeeded)


async def _route(queue: JobQueue, count: int, **fields: object) -> list[str]:
    """Who got each of `count` unassigned jobs, each done and succeeded in turn."""
    chosen = []
    for _ in range(count):
        job = await _work(queue, NewJob(prompt="routed", **fields))  # type: ignore[arg-type]
        assert job.employee is not None
        chosen.append(job.employee)
    return chosen


async def _make_resident(db: Database, employee: str, slot: int = 0) -> None:
    async with db.connection() as conn:
        await conn.execute("UPDATE pool_slots SET state = 'idle', employee = $1, "
                           "last_used_at = now() WHERE index = $2", employee, slot)


async def test_most_unassigned_jobs_go_to_the_employee_with_the_better_record(
    db: Database,
) -> None:
    queue = queue_for(db)
    await hire(db, "shaky")  # the earlier hire: it would win a tie
    await hire(db, "steady")
    await _record(queue, "shaky", [True, False] * 6)  # 6 of 12, never 3 failures in a row
    await _record(queue, "steady", [True] * 12)
    roster = Roster(db, Auditor())
    assert {e.name: e.status for e in await roster.list_employees()} == {
        "shaky": EmployeeStatus.ACTIVE, "steady": EmployeeStatus.ACTIVE}

    chosen = Counter(await _route(queue, 50))

    assert chosen["steady"] >= 40, chosen  # at least 80 % of the 50
    assert chosen == {"steady": 50}  # (6+1)/(12+2) = 0.5 against (12+1)/(12+2) = 0.93


async def test_a_suspended_employee_gets_no_work_and_cannot_be_named(db: Database) -> None:
    queue = queue_for(db)
    await hire(db, "benched")
    await hire(db, "other")
    await _record(queue, "benched", [True] * 5)  # the better record, and resident
    roster = Roster(db, Auditor())
    await roster.suspend("benched", actor="test")

    assert set(await _route(queue, 10)) == {"other"}
    with pytest.raises(Conflict, match="'benched' is suspended"):
        await queue.submit(NewJob(prompt="x", employee="benched"), actor="t")

    await roster.terminate("other", actor="test")
    orphan = (await queue.submit(NewJob(prompt="x"), actor="t")).job
    assert await queue.claim("w", 30, 3) is None
    failed = await queue.get(orphan.id)
    assert failed.status is JobStatus.FAILED and "no working employee" in (failed.error or "")


async def test_skills_route_to_an_employee_having_all_of_them(db: Database) -> None:
    queue = queue_for(db)
    await hire(db, "generalist")
    await hire(db, "pythonista", skills=["Python", "review"])
    await hire(db, "rustacean", skills=["rust", "review"])

    assert await _route(queue, 3, skills=("python",)) == ["pythonista"] * 3  # case ignored
    assert await _route(queue, 2, skills=("review", "rust")) == ["rustacean"] * 2
    assert set(await _route(queue, 6, skills=("review",))) <= {"pythonista", "rustacean"}
    job = (await queue.submit(NewJob(prompt="x", skills=(" rust ",)), actor="t")).job
    assert job.skills == ("rust",)  # stripped as employees' skills are
    await queue.cancel(job.id, actor="t")


async def test_a_job_whose_skills_no_working_employee_has_fails_saying_so(
    db: Database,
) -> None:
    queue = queue_for(db)
    await hire(db, "pythonista", skills=["python"])
    await hire(db, "rustacean", skills=["rust"])
    await Roster(db, Auditor()).suspend("rustacean", actor="test")
    both = (await queue.submit(NewJob(prompt="x", skills=("python", "rust")), actor="t")).job
    rust = (await queue.submit(NewJob(prompt="x", skills=("rust",)), actor="t")).job

    assert await queue.claim("w", 30, 3) is None  # neither can be staffed; no slot is taken
    for job in (both, rust):
        failed = await queue.get(job.id)
        assert failed.status is JobStatus.FAILED and failed.employee is None
        assert "no working employee has all the skills" in (failed.error or "")
    assert "python, rust" in ((await queue.get(both.id)).error or "")
    assert (await Auditor().verify(db)).ok


@pytest.mark.parametrize("new, message", [
    (NewJob(prompt="x", employee="pythonista", skills=("python",)), "not both"),
    (NewJob(prompt="x", skills=tuple(f"s{i}" for i in range(9))), "at most 8"),
    (NewJob(prompt="x", skills=("python", "  ")), r"skills\[1\] must not be empty"),
    (NewJob(prompt="x", skills=("py\nthon",)), "control character"),
    (NewJob(prompt="x", skills=("x" * 65,)), "at most 64 characters"),
])
async def test_malformed_skills_are_refused(db: Database, new: NewJob, message: str) -> None:
    await hire(db, "pythonista", skills=["python"])
    with pytest.raises(InvalidInput, match=message):
        await queue_for(db).submit(new, actor="t")
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM jobs") == 0


async def test_probationers_get_a_fifth_of_the_routed_work(db: Database) -> None:
    await hire(db, "veteran")
    await _record(queue_for(db), "veteran", [True] * 3)  # promoted after N = 3
    await hire(db, "newbie")
    # Probation lasts beyond this test, so newbie stays a probationer throughout.
    queue = JobQueue(db, Auditor(), Workspaces([]), HrRules(probation_jobs=1000))

    chosen = await _route(queue, 50)

    roster = Roster(db, Auditor())
    assert (await roster.get("newbie")).status is EmployeeStatus.PROBATION
    # Newbie gets a job whenever under 20 % of the last 20 routed jobs went to probationers:
    # the 1st, then about every 5th, exactly 10 of 50, never more than 4 in any 20 in a row.
    taken = [name == "newbie" for name in chosen]
    assert sum(taken) == 10
    assert taken[0] and max(sum(taken[i:i + 20]) for i in range(31)) == 4
    # Without a veteran to share with, a probationer takes everything.
    await roster.suspend("veteran", actor="test")
    assert set(await _route(queue, 5)) == {"newbie"}


async def test_a_resident_employee_is_preferred_over_an_equal_one(db: Database) -> None:
    queue = queue_for(db)
    await hire(db, "first")  # the earlier hire: it wins a tie between equals
    await hire(db, "warm")
    await _make_resident(db, "warm")

    submitted = await queue.submit(NewJob(prompt="x"), actor="t")
    claim = await queue.claim("w", 30, 3)

    assert claim is not None and claim.job.id == submitted.job.id
    assert claim.job.employee == "warm"
    assert claim.slot.index == 0 and not claim.slot.loading  # no model to load


async def test_a_resident_employee_loses_to_a_much_better_one(db: Database) -> None:
    queue = queue_for(db)
    hired: list[Employee] = [await hire(db, name) for name in ("good", "near", "weak")]
    await _record(queue, "good", [True] * 8)           # (8+1)/(8+2)  = 0.90
    await _record(queue, "near", [True] * 5 + [False])  # (5+1)/(6+2)  = 0.75
    await _record(queue, "weak", [True, False] * 4)    # (4+1)/(8+2)  = 0.50
    assert [e.name for e in hired] == ["good", "near", "weak"]

    async with db.connection() as conn:  # only one of them resident at a time
        await conn.execute("UPDATE pool_slots SET state = 'empty', employee = NULL")
    await _make_resident(db, "weak")
    assert await _route(queue, 1) == ["good"]  # 0.50 + 0.10 < 0.90: load the better one

    async with db.connection() as conn:
        await conn.execute("UPDATE pool_slots SET state = 'empty', employee = NULL")
    await _make_resident(db, "near")
    # near: 0.75 + 0.10 = 0.85 against good's 0.91 (one more success): good still wins;
    # within the margin the resident one keeps the work.
    assert await _route(queue, 1) == ["good"]
    await _record(queue, "near", [True] * 4)  # (9+1)/(10+2) = 0.83
    async with db.connection() as conn:
        await conn.execute("UPDATE pool_slots SET state = 'empty', employee = NULL")
    await _make_resident(db, "near")
    assert await _route(queue, 1) == ["near"]  # 0.83 + 0.10 > good's 0.92


async def test_under_a_budget_skills_route_past_an_unpriceable_employee(db: Database) -> None:
    queue = queue_for(db)
    budgets = Budgets(db, Auditor())
    # A command-line employee without a rate card, hired first so it wins every tie; admission
    # refuses it whenever a budget applies (governance.accountant.unpriceable).
    await hire(db, "scribe", skills=["python"])
    await hire(db, "priced", skills=["python"], price_in="1", price_out="2")

    # No budget: both are candidates, and the earlier hire (then the better record) wins.
    assert await _route(queue, 2, skills=("python",)) == ["scribe"] * 2
    # Another employee's budget does not apply to scribe.
    await budgets.put(BudgetSpec("priced-cap", "employee", "5", employee="priced"), actor="t")
    assert await _route(queue, 1, skills=("python",)) == ["scribe"]
    # A job's own ceiling applies to its calls, whoever makes them.
    assert await _route(queue, 2, skills=("python",), max_cost_usd=Decimal("1")) == \
        ["priced"] * 2
    assert await _route(queue, 1, skills=("python",)) == ["scribe"]
    # A global budget applies to everyone, whatever its figures.
    await budgets.put(BudgetSpec("monthly", "global", "1000"), actor="t")
    assert await _route(queue, 3, skills=("python",)) == ["priced"] * 3
    assert await _route(queue, 1) == ["priced"]  # no skills asked: the same candidates

    # Named, it is not routed: it is claimed, and admission refuses it saying why.
    named = (await queue.submit(NewJob(prompt="x", employee="scribe"), actor="t")).job
    claim = await queue.claim("w", 30, 3)
    assert claim is not None and claim.job.id == named.id and claim.job.employee == "scribe"


async def test_an_unpriceable_probationer_gets_no_turn_under_a_budget(db: Database) -> None:
    await hire(db, "veteran", price_in="1", price_out="1")
    await _record(queue_for(db), "veteran", [True] * 3)  # promoted after N = 3
    await hire(db, "newbie")  # no rate card
    queue = JobQueue(db, Auditor(), Workspaces([]), HrRules(probation_jobs=1000))
    await Budgets(db, Auditor()).put(BudgetSpec("newbie-cap", "employee", "5",
                                                employee="newbie"), actor="t")

    # Without newbie's budget it would take the 1st routed job and about every 5th.
    assert await _route(queue, 10) == ["veteran"] * 10


async def test_a_job_left_without_a_priceable_candidate_fails_as_unstaffed(
    db: Database,
) -> None:
    queue = queue_for(db)
    await hire(db, "scribe", skills=["python"])
    await hire(db, "priced", skills=["rust"], price_out="1")
    await Budgets(db, Auditor()).put(BudgetSpec("monthly", "global", "10"), actor="t")
    job = (await queue.submit(NewJob(prompt="x", skills=("python",)), actor="t")).job

    assert await queue.claim("w", 30, 3) is None  # as when no employee has the skills
    failed = await queue.get(job.id)
    assert failed.status is JobStatus.FAILED and failed.employee is None
    assert "no working employee has all the skills python" in (failed.error or "")
    assert (await Auditor().verify(db)).ok
