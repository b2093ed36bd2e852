"""Budgets: the Director's monthly limits, overall and per employee, and how much of each is
spent and reserved. Admission against them is the accountant's (`Accountant.admit`); this is
their upkeep and their view.

Periods are calendar months in the configured time zone (`AURA_TIMEZONE`), computed by the
database (`budget_period()` in migration 006), so month ends and DST changes follow the zone.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from governance.accountant import usd_text
from orchestra.errors import InvalidInput, NotFound
from orchestra.hooks import AuditTrail
from orchestra.inputs import parse_usd
from orchestra.store.db import Connection, Database
from orchestra.store.queries import load

_B = load("budgets")
BUDGET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_NAME = re.compile(BUDGET_NAME_PATTERN)
Scope = Literal["global", "employee"]
SCOPES: tuple[Scope, ...] = ("global", "employee")
PERIODS = ("month",)


@dataclass(frozen=True, slots=True)
class BudgetSpec:
    """What the Director asks for (`PUT /api/v1/budgets/{name}`), not yet validated."""

    name: str
    scope: str
    limit_usd: object
    employee: str | None = None
    period: str = "month"


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    name: str
    scope: str
    employee: str | None
    limit_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal
    period: str
    period_start: datetime
    period_end: datetime

    @property
    def remaining_usd(self) -> Decimal:
        return max(Decimal(0), self.limit_usd - self.spent_usd - self.reserved_usd)

    def public(self) -> dict[str, Any]:
        """DESIGN §10's shape: money as decimal strings."""
        return {
            "name": self.name, "scope": self.scope, "employee": self.employee,
            "limit_usd": usd_text(self.limit_usd), "spent_usd": usd_text(self.spent_usd),
            "reserved_usd": usd_text(self.reserved_usd),
            "remaining_usd": usd_text(self.remaining_usd), "period": self.period,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class MonthSpend:
    period_start: datetime
    period_end: datetime
    spent_usd: Decimal
    client_spent_usd: Decimal

    def public(self) -> dict[str, Any]:
        return {
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "spent_usd": usd_text(self.spent_usd),
            "your_spent_usd": usd_text(self.client_spent_usd),
        }


class Budgets:
    """Reads and writes the `budgets` table; every change is audited in its transaction."""

    def __init__(self, db: Database, audit: AuditTrail, timezone: str = "UTC") -> None:
        self.db = db
        self.audit = audit
        self.timezone = timezone

    async def put(self, spec: BudgetSpec, *, actor: str) -> tuple[BudgetStatus, bool]:
        """Create or change a budget; True when it was created."""
        name, scope, limit, employee = _validate(spec)
        async with self.db.transaction() as conn:
            if employee is not None and not await conn.fetchval(_B["employee_exists"], employee):
                raise NotFound(f"no employee named {employee!r}; list_employees shows the roster")
            before = await conn.fetchrow(_B["lock_budget"], name)
            row = await conn.fetchrow(
                _B["upsert_budget"], name, scope, employee, limit, spec.period)
            created: bool = row["created"]
            details: dict[str, Any] = {"scope": scope, "employee": employee,
                                       "limit_usd": usd_text(limit), "period": spec.period}
            if before is not None:
                details["was_limit_usd"] = usd_text(before["limit_usd"])
            action = "budget.created" if created else "budget.changed"
            await self.audit.record(conn, actor=actor, action=action, subject=name,
                                    details=details)
            status = await self._one(conn, name)
        return status, created

    async def check_timezone(self) -> None:
        """Refuse a time zone PostgreSQL does not know (its zone data may differ from
        Python's): every admission would fail on it."""
        async with self.db.connection() as conn:
            try:
                await conn.fetchval(_B["check_timezone"], self.timezone)
            except asyncpg.PostgresError:
                raise InvalidInput(
                    f"AURA_TIMEZONE {self.timezone!r} is not a time zone PostgreSQL knows "
                    "(see `SELECT name FROM pg_timezone_names`)"
                ) from None

    async def delete(self, name: str, *, actor: str) -> None:
        async with self.db.transaction() as conn:
            row = await conn.fetchrow(_B["delete_budget"], name)
            if row is None:
                raise NotFound(f"no budget named {name!r}; `aura budgets` lists them")
            await self.audit.record(
                conn, actor=actor, action="budget.deleted", subject=name,
                details={"limit_usd": usd_text(row["limit_usd"]), "scope": row["scope"],
                         "employee": row["employee"]},
            )

    async def status(self, at: datetime | None = None) -> list[BudgetStatus]:
        """Every budget as of `at` (default: now), in name order; its period's bounds in the
        budgets' time zone (midnight on the first, as the Director reads it)."""
        async with self.db.connection() as conn:
            rows = await conn.fetch(_B["budget_status"], at or await _now(conn), self.timezone)
        return [_status_from_row(r, self._zone) for r in rows]

    async def month_spend(self, client: str | None, at: datetime | None = None) -> MonthSpend:
        async with self.db.connection() as conn:
            row = await conn.fetchrow(
                _B["month_spend"], at or await _now(conn), self.timezone, client
            )
        assert row is not None  # budget_period always yields one row
        return MonthSpend(row["period_start"].astimezone(self._zone),
                          row["period_end"].astimezone(self._zone),
                          Decimal(row["spent_usd"]), Decimal(row["client_spent_usd"]))

    @property
    def _zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    async def _one(self, conn: Connection, name: str) -> BudgetStatus:
        rows = await conn.fetch(_B["budget_status"], await _now(conn), self.timezone)
        return next(_status_from_row(r, self._zone) for r in rows if r["name"] == name)


async def _now(conn: Connection) -> datetime:
    now: datetime = await conn.fetchval("SELECT now()")
    return now


def _validate(spec: BudgetSpec) -> tuple[str, str, Decimal, str | None]:
    if not _NAME.match(spec.name or ""):
        raise InvalidInput(
            f"budget name {spec.name!r} must be 1-63 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    if spec.scope not in SCOPES:
        raise InvalidInput(f"scope must be 'global' or 'employee', not {spec.scope!r}")
    if spec.period not in PERIODS:
        raise InvalidInput(f"period must be 'month' (the only period so far), not {spec.period!r}")
    if spec.scope == "employee" and not spec.employee:
        raise InvalidInput("an employee budget names its employee ('employee')")
    if spec.scope == "global" and spec.employee is not None:
        raise InvalidInput("a global budget names no employee; use scope 'employee'")
    try:
        limit = parse_usd(spec.limit_usd)
    except ValueError as exc:
        raise InvalidInput(f"limit_usd {exc}") from None
    return spec.name, spec.scope, limit, spec.employee


def _status_from_row(row: Any, zone: zoneinfo.ZoneInfo) -> BudgetStatus:
    return BudgetStatus(
        name=row["name"], scope=row["scope"], employee=row["employee"],
        limit_usd=Decimal(row["limit_usd"]), spent_usd=Decimal(row["spent_usd"]),
        reserved_usd=Decimal(row["reserved_usd"]), period=row["period"],
        period_start=row["period_start"].astimezone(zone),
        period_end=row["period_end"].astimezone(zone),
    )
