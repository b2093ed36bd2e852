"""The budget race across processes: two `aura worker` processes run 20 questions against a
budget that admits exactly five. Admission locks the budget row in PostgreSQL, so the two
processes take turns and the limit holds exactly."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from governance.auditor import Auditor
from governance.budgets import Budgets, BudgetSpec
from orchestra.models import JobKind, NewJob
from orchestra.store.db import Database
from tests.e2e.conftest import Workers
from tests.fakes.ollama_server import FakeOllama
from tests.integration.helpers import hire, queue_for

pytestmark = pytest.mark.e2e


async def test_two_worker_processes_admit_exactly_what_the_budget_allows(
    workers: Workers, db: Database
) -> None:
    with FakeOllama(["llama"]) as ollama:
        ollama.script("llama", " ".join(f"w{i}" for i in range(50)))
        ollama.delay("llama", 0.3)
        # Ten output tokens at 100,000 USD per million: 1.00 USD per call, worst and actual.
        await hire(db, "llama", "ollama", price_out="100000", max_output_tokens=10)
        await Budgets(db, Auditor()).put(BudgetSpec("monthly", "global", "5.50"), actor="t")
        workers.extra_env["AURA_OLLAMA_URL"] = ollama.url
        workers.start(2)
        # Both processes registered before any question is queued: on a loaded machine a
        # slow second start would otherwise find all the work done.
        await _both_running(db, workers)
        queue = queue_for(db)
        ids = [
            (await queue.submit(NewJob(prompt=f"q{n}", kind=JobKind.ASK, employee="llama"),
                                actor="t")).job.id
            for n in range(20)
        ]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            jobs = [await queue.get(i) for i in ids]
            if all(j.status.is_terminal for j in jobs):
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail(f"jobs did not finish:\n{workers.logs()}")
    succeeded = [j for j in jobs if j.status.value == "succeeded"]
    refused = [j for j in jobs if j.budget_refusal is not None]
    assert len(succeeded) == 5 and len(refused) == 15, workers.logs()
    assert all(j.budget_refusal and j.budget_refusal["budget"] == "monthly" for j in refused)
    async with db.connection() as conn:
        spent = await conn.fetchval("SELECT sum(cost) FROM ledger WHERE kind = 'call'")
        open_holds = await conn.fetchval("SELECT count(*) FROM reservations")
        claimed_by = await conn.fetchval("SELECT count(DISTINCT worker) FROM job_attempts")
    assert spent == Decimal("5") and open_holds == 0
    assert claimed_by == 2  # both processes took part
    print(f"\nbudget race, 2 processes: admitted {len(succeeded)}, refused {len(refused)}, "
          f"spent {spent} of 5.50, overshoot {max(Decimal(0), spent - Decimal('5.50'))}")


async def _both_running(db: Database, workers: Workers) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        async with db.connection() as conn:
            if await conn.fetchval("SELECT count(*) FROM workers WHERE status = 'running'") == 2:
                return
        await asyncio.sleep(0.1)
    pytest.fail(f"the two workers did not both register within 60 s:\n{workers.logs()}")
