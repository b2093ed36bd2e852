"""The accountant (first part): one ledger row per model call, priced per employee.

Prices are USD per million tokens in and out; money is `Decimal` here and `NUMERIC` in the
database, never a float. Budgets come in a later issue.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from orchestra.hooks import Usage
from orchestra.models import Employee
from orchestra.store.db import Connection, Database
from orchestra.store.queries import load

_L = load("ledger")
_PER_MILLION = Decimal(1_000_000)


def call_cost(employee: Employee, usage: Usage) -> Decimal:
    cost = (usage.tokens_in * employee.price_in + usage.tokens_out * employee.price_out)
    return (cost / _PER_MILLION).quantize(Decimal("0.00000001"))


class Accountant:
    """Implements `orchestra.hooks.CallLedger`."""

    async def record_call(
        self,
        conn: Connection,
        *,
        job_id: uuid.UUID | None,
        employee: Employee,
        usage: Usage,
        latency_ms: int,
    ) -> Decimal:
        cost = call_cost(employee, usage)
        await conn.execute(
            _L["insert_call"], job_id, employee.name, usage.tokens_in, usage.tokens_out, cost,
            max(0, latency_ms),
        )
        return cost

    async def entries(self, db: Database, *, limit: int = 100) -> list[dict[str, Any]]:
        async with db.connection() as conn:
            rows = await conn.fetch(_L["list_entries"], limit)
        return [
            {**dict(r), "ts": r["ts"].isoformat(), "cost": str(r["cost"]),
             "job_id": str(r["job_id"]) if r["job_id"] else None}
            for r in rows
        ]
