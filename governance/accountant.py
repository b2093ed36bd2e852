"""The accountant: money reserved before a model call, settled after it, one ledger row each.

Prices are USD per million tokens in and out; money is `Decimal` here and `NUMERIC` in the
database, never a float.

A call's worst case is known before it is made: the prompt cannot be more tokens than it has
UTF-8 bytes (every tokenizer we use maps at least one byte to a token) plus the chat
template's few tokens (`TEMPLATE_TOKENS`, generous), and the reply cannot be more than the
output cap the adapter sends (`Employee.max_output_tokens`). Admission reserves that much under
every budget that applies, so no call can take a budget past its limit (docs/decisions.md).

A charge is priced (`Pricing`, docs/decisions.md "Charges say how they were priced"): a coding
agent's own reported cost; else tokens at the employee's rate card (estimated); an unmetered
call's worst case; and unpriced (cost NULL, never 0) for a command-line employee without a rate
card. Such an employee is unpriceable: its call's worst case cannot be computed, so admission
refuses it whenever any budget applies.
"""

from __future__ import annotations

import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from orchestra.errors import BudgetExceeded
from orchestra.hooks import Charge, Pricing, Usage
from orchestra.models import Adapter, Employee
from orchestra.store.db import Connection, Database
from orchestra.store.queries import load

_L = load("ledger")
_PER_MILLION = Decimal(1_000_000)
_USD_QUANTUM = Decimal("0.00000001")
# Role markers and the like a chat template wraps around one user message: a handful of tokens
# for the providers we use; 256 leaves room for a model's template to grow.
TEMPLATE_TOKENS = 256


def call_cost(employee: Employee, usage: Usage) -> Decimal:
    cost = usage.tokens_in * employee.price_in + usage.tokens_out * employee.price_out
    return (cost / _PER_MILLION).quantize(_USD_QUANTUM)


def unpriceable(employee: Employee) -> str | None:
    """Why a call of `employee` cannot be priced before it is made, or None when it can. A
    command-line employee (a coding agent, a script) has no output cap the program obeys and no
    price of its own: without a rate card its worst case is not known. An API model at price 0
    is a free (local) model, priced at 0."""
    if employee.adapter is Adapter.CLI and not (employee.price_in or employee.price_out):
        return (f"employee {employee.name!r} cannot be priced: a command-line employee with no "
                "rate card (price_in and price_out are 0), so its call's worst case is unknown; "
                f"give it prices (`aura employee edit {employee.name} --price-in … "
                "--price-out …`) or remove the budget")
    return None


def price_call(employee: Employee, usage: Usage, *, worst_case: Decimal | None = None,
               reported_cost: Decimal | None = None) -> Charge:
    """What a call is charged, and how it was priced (see the module's docstring)."""
    if reported_cost is not None:
        return Charge(reported_cost.quantize(_USD_QUANTUM), Pricing.REPORTED)
    if unpriceable(employee) is not None:
        return Charge(None, Pricing.UNPRICED)
    if worst_case is not None:
        return Charge(worst_case, Pricing.WORST_CASE)
    return Charge(call_cost(employee, usage), Pricing.ESTIMATED)


def worst_case_usage(employee: Employee, prompt: str) -> Usage:
    """The most tokens a call with this prompt can consume (see the module's docstring)."""
    return Usage(
        tokens_in=len(prompt.encode("utf-8")) + TEMPLATE_TOKENS,
        tokens_out=employee.max_output_tokens,
    )


class Accountant:
    """Implements `orchestra.hooks.CallLedger`; periods are calendar months in `timezone`."""

    def __init__(self, timezone: str = "UTC") -> None:
        self.timezone = timezone

    def worst_case(self, employee: Employee, prompt: str) -> Decimal:
        return call_cost(employee, worst_case_usage(employee, prompt))

    async def admit(
        self,
        conn: Connection,
        *,
        job_id: uuid.UUID,
        lease: str,
        employee: Employee,
        worst_case: Decimal,
    ) -> int | None:
        """Reserve `worst_case` for one call, or raise `BudgetExceeded` naming the budget (or,
        for an unpriceable employee, the first budget that applies and why).

        None when the lease is gone. A database error propagates: spend that cannot be read
        admits nothing.
        """
        reason = unpriceable(employee)
        if reason is not None:
            applying = await conn.fetchrow(_L["budget_applying"], job_id, employee.name,
                                           self.timezone)
            if applying is not None:
                raise BudgetExceeded(
                    budget=applying["budget"], scope=applying["scope"],
                    limit_usd=usd_text(applying["limit_usd"]),
                    spent_usd=usd_text(applying["spent"]),
                    reserved_usd=usd_text(applying["reserved"]),
                    worst_case_usd=usd_text(worst_case), reason=reason,
                )
        row = await conn.fetchrow(
            _L["admit_call"], job_id, lease, employee.name, worst_case, self.timezone
        )
        if row is None:
            return None
        if row["refused_by"] is not None:
            raise BudgetExceeded(
                budget=row["refused_by"], scope=row["scope"],
                limit_usd=usd_text(row["limit_usd"]), spent_usd=usd_text(row["spent_usd"]),
                reserved_usd=usd_text(row["reserved_usd"]), worst_case_usd=usd_text(worst_case),
            )
        reservation: int = row["reservation_id"]
        return reservation

    async def record_call(
        self,
        conn: Connection,
        *,
        job_id: uuid.UUID | None,
        employee: Employee,
        usage: Usage,
        latency_ms: int,
        reservation: int | None = None,
        cost: Decimal | None = None,
        reported_cost: Decimal | None = None,
    ) -> Charge:
        charge = price_call(employee, usage, worst_case=cost, reported_cost=reported_cost)
        await conn.execute(
            _L["settle_call"], job_id, employee.name, usage.tokens_in, usage.tokens_out,
            charge.cost, max(0, latency_ms), reservation, charge.pricing.value,
        )
        return charge

    async def ledger(self, db: Database, query: LedgerQuery) -> dict[str, Any]:
        """One page of the ledger, newest first, with the whole filter's totals."""
        filters = (query.employee, query.job_id, self._zoned(query.since),
                   self._zoned(query.until))
        async with db.connection() as conn:
            rows = await conn.fetch(_L["ledger_page"], *filters, query.cursor, query.limit)
            totals = await conn.fetchrow(_L["ledger_totals"], *filters)
        assert totals is not None  # an aggregate always answers
        more = len(rows) == query.limit
        return {
            "entries": [_entry(r) for r in rows],
            "totals": {
                "calls": totals["calls"], "tokens_in": int(totals["tokens_in"]),
                "tokens_out": int(totals["tokens_out"]), "spent_usd": usd_text(totals["spent"]),
                "reserved_usd": usd_text(totals["reserved"]),
                "unpriced_calls": totals["unpriced_calls"],
            },
            "next_cursor": str(rows[-1]["id"]) if more else None,
        }


    async def spend(self, db: Database, days: int, now: datetime) -> dict[str, Any]:
        """Charges over the last `days` calendar days (today included, in `timezone`): per
        employee and per day, with their total."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        today = now.astimezone(zone).date()
        first = today - timedelta(days=days - 1)
        since = datetime.combine(first, time(0), tzinfo=zone)
        async with db.connection() as conn:
            people = await conn.fetch(_L["spend_by_employee"], since)
            dated = await conn.fetch(_L["spend_by_day"], since, self.timezone)
        return {
            "since": first.isoformat(), "until": today.isoformat(),
            "total_usd": usd_text(sum((r["spent"] for r in people), Decimal(0))),
            "by_employee": [{
                "employee": r["employee"], "calls": r["calls"], "tokens_in": int(r["tokens_in"]),
                "tokens_out": int(r["tokens_out"]), "spent_usd": usd_text(r["spent"]),
                "unpriced_calls": r["unpriced_calls"],
            } for r in people],
            "by_day": [{"day": r["day"].isoformat(), "calls": r["calls"],
                        "spent_usd": usd_text(r["spent"]),
                        "unpriced_calls": r["unpriced_calls"]} for r in dated],
        }

    def _zoned(self, moment: datetime | None) -> datetime | None:
        """A time without an offset is the Director's wall clock (`AURA_TIMEZONE`)."""
        if moment is None or moment.tzinfo is not None:
            return moment
        return moment.replace(tzinfo=zoneinfo.ZoneInfo(self.timezone))


@dataclass(frozen=True, slots=True)
class LedgerQuery:
    """`GET /api/v1/ledger`'s filters; `cursor` is the previous page's `next_cursor`."""

    employee: str | None = None
    job_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    cursor: int | None = None


def _entry(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"], "ts": row["ts"].isoformat(), "kind": row["kind"],
        "job_id": str(row["job_id"]) if row["job_id"] else None, "employee": row["employee"],
        "tokens_in": row["tokens_in"], "tokens_out": row["tokens_out"],
        "cost_usd": usd_text(row["cost"]) if row["cost"] is not None else None,
        "pricing": row["pricing"], "latency_ms": row["latency_ms"],
        "reservation_id": row["reservation_id"],
    }


def usd_text(amount: Decimal) -> str:
    """Money as a decimal string, without the column's trailing zeros beyond cents."""
    text = format(Decimal(amount).normalize(), "f")
    if "." not in text:
        return text + ".00"
    whole, frac = text.split(".")
    return f"{whole}.{frac.ljust(2, '0')}"
