"""The small protocols through which governance plugs into the core.

The manager and the queue call these; `governance/` implements them; `mcp_server/app.py`
passes the implementations in. The core never imports governance.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from orchestra.errors import BudgetExceeded
from orchestra.models import Employee, Job, NewJob
from orchestra.runlog import RunLog
from orchestra.sandbox import JobCopy
from orchestra.store.db import Connection


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one model call consumed."""

    tokens_in: int = 0
    tokens_out: int = 0


class Pricing(enum.StrEnum):
    """How a charge was priced (the ledger's `pricing`, migration 011)."""

    REPORTED = "reported"  # the agent's own reported cost
    ESTIMATED = "estimated"  # its tokens at the employee's rate card
    UNPRICED = "unpriced"  # no cost can be derived: recorded NULL, never 0
    WORST_CASE = "worst_case"  # an unmetered call, charged what was reserved for it


@dataclass(frozen=True, slots=True)
class Charge:
    """What one call was charged: `cost` is None exactly when it is unpriced."""

    cost: Decimal | None
    pricing: Pricing


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One acceptance command's outcome."""

    command: str
    exit_code: int | None
    passed: bool
    duration_ms: int
    output_tail: str
    timed_out: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "passed": self.passed,
            "duration_ms": self.duration_ms,
            "output_tail": self.output_tail,
            "timed_out": self.timed_out,
        }


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """All acceptance checks of one attempt; `passed` only when every check passed."""

    checks: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [c.as_dict() for c in self.checks]}


class AuditTrail(Protocol):
    """Appends one entry to the audit chain inside the caller's transaction."""

    async def record(
        self,
        conn: Connection,
        *,
        actor: str,
        action: str,
        subject: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Return the entry's sequence number."""
        ...


class CallLedger(Protocol):
    """The accountant as the manager sees it: a call's worst case, its admission against the
    budgets (a reservation), and its settlement to the actual cost (with the job's running
    totals), each one atomic statement on the caller's connection."""

    def worst_case(self, employee: Employee, prompt: str) -> Decimal:
        """The most a call with this prompt can cost, in USD, computable before the call."""
        ...

    async def admit(
        self,
        conn: Connection,
        *,
        job_id: uuid.UUID,
        lease: str,
        employee: Employee,
        worst_case: Decimal,
    ) -> int | None:
        """Reserve `worst_case`; the reservation's id, None when the lease is gone. Raises
        `orchestra.errors.BudgetExceeded` when a budget cannot take it."""
        ...

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
        """Record the call, closing its reservation, and say what it was charged: the agent's
        `reported_cost`, else `cost` (an unmetered call's worst case), else `usage` at the
        employee's prices; unpriced (NULL) when the employee has no price to give."""
        ...


class Validator(Protocol):
    """Runs a job's acceptance commands confined to the job view of its working copy."""

    async def validate(
        self, copy: JobCopy, commands: Sequence[str], runlog: RunLog
    ) -> ValidationReport: ...


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """What the policy says of a job. Without `approval_id` it runs, let through by `approver`
    (`policy:<version>`); with one, it waits in `pending_approval` for that approval, which
    the gate opens (`JobGate.open`) in the transaction that writes the job."""

    approver: str
    approval_id: uuid.UUID | None = None
    action: str = "job"
    summary: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    # The roster version the verdict was reached on (migration 010); the job is inserted only
    # while it is still current, else judged again (`JobGate.forget_roster`).
    roster_version: int | None = None

    @property
    def waits(self) -> bool:
        return self.approval_id is not None


class JobGate(Protocol):
    """Approvals as the queue sees them: whether a new job, or a job a budget refused, waits
    for the Director; and the approval row written with the job's move."""

    async def review(
        self, conn: Connection, new: NewJob, project: str | None, skills: tuple[str, ...]
    ) -> GateVerdict:
        """The verdict on a job about to be submitted (`project` resolved, `skills` cleaned)."""
        ...

    def forget_roster(self) -> None:
        """The roster the last verdicts used is out of date: read it again next time."""
        ...

    def on_refusal(self, job: Job, refusal: BudgetExceeded) -> GateVerdict | None:
        """None: the refusal stands (the job fails); else the job waits for this approval."""
        ...

    async def open(self, conn: Connection, verdict: GateVerdict, job: Job, actor: str) -> None:
        """Write the approval the job waits for, with its audit entry, on `conn`."""
        ...

    def announce(self, verdict: GateVerdict) -> None:
        """After the commit: tell the Director (the webhook), never blocking."""
        ...
