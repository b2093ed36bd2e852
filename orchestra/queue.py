"""The job queue: submit, claim (with a slot), validating, finish, retry, hand back, rescue.

Every status change goes through this module, in a transaction with its audit entry. The
database's `jobs_status_guard` trigger refuses an illegal move even if a caller slips past.
"""

from __future__ import annotations

import contextlib
import logging
import string
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from orchestra.errors import (
    Ambiguous,
    BudgetExceeded,
    Conflict,
    InvalidInput,
    NotFound,
    SpendUnreadable,
)
from orchestra.hooks import AuditTrail, CallLedger, Charge, GateVerdict, JobGate, Usage
from orchestra.inputs import parse_id, parse_usd
from orchestra.models import (
    WORKING_STATUSES,
    Claim,
    Employee,
    Job,
    JobKind,
    JobStatus,
    NewJob,
    SlotClaim,
    require_transition,
)
from orchestra.roster import clean_skills
from orchestra.store import text as store_text
from orchestra.store.db import Connection, Database
from orchestra.store.queries import load
from orchestra.store.rows import employee_from_row, job_from_row
from orchestra.workspaces import Workspaces

log = logging.getLogger("orchestra.queue")
_Q = load("jobs")
_E = load("employees")
_P = load("pool")

MAX_PROMPT_CHARS = 200_000
MAX_ACCEPTANCE_COMMANDS = 20
MAX_COMMAND_CHARS = 4_000
# A job that names no employee may ask for skills; the manager picks a working employee having
# all of them (`choose_employee()`, migration 007).
MAX_JOB_SKILLS = 8
# A job id may be given by its first hex digits, as listings show it (`8fe6d434`); fewer than
# four would match too much to be useful. An ambiguous prefix names a few of its matches.
MIN_JOB_PREFIX = 4
SHOWN_MATCHES = 5
# A job that keeps losing its worker (it may be what kills it) stops being retried.
LEASE_LOSS_GRACE = 3
# A job judged on a roster that changed before it was inserted is judged again; a roster that
# keeps changing under a submission this often is left to the caller's retry.
_JUDGEMENTS = 3


class LeaseLost(Conflict):
    """The job is no longer held under this lease (it was rescued); stop touching it.

    Leases are per claim, `<worker>/<attempt>`; every move after the claim presents one.
    """

    def __init__(self, job_id: uuid.UUID, lease: str) -> None:
        super().__init__(f"job {job_id} is no longer held under lease {lease}")


def storable(text: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL or unpaired surrogates; an employee's output may."""
    return store_text.storable(text) if text is not None else None


def storable_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """The same for jsonb, in every string, key and value."""
    return store_text.storable_json(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class HrRules:
    """HR's N and K (DESIGN §8): a new hire leaves probation after `probation_jobs` succeeded
    jobs; `failures_to_suspend` failed attempts in a row suspend a working employee. Applied in
    the statement that ends each attempt (`hr_record_outcome()`, migration 005)."""

    probation_jobs: int = 3
    failures_to_suspend: int = 3

    def __post_init__(self) -> None:
        if self.probation_jobs < 1 or self.failures_to_suspend < 1:
            raise InvalidInput("probation_jobs and failures_to_suspend must be at least 1")


def _hr_event(row: Any) -> None:
    """HR changed an employee's status with this outcome: say so in the feed."""
    now = row["employee_now"]
    if now == "suspended":
        log.warning("employee %s suspended: too many failures in a row; `aura reinstate` "
                    "brings it back", row["employee"],
                    extra={"event": "employee.suspended", "employee": row["employee"],
                           "tone": "bad"})
    elif now == "active":
        log.info("employee %s passed probation and is active", row["employee"],
                 extra={"event": "employee.promoted", "employee": row["employee"],
                        "tone": "ok"})


@dataclass(frozen=True, slots=True)
class Submitted:
    job: Job
    created: bool  # False when an idempotency key returned an existing job
    # The approval the job waits for, to announce to the Director once the job is committed.
    waits_on: GateVerdict | None = None


class JobQueue:
    """Owns the `jobs` table's life cycle."""

    def __init__(
        self, db: Database, audit: AuditTrail, workspaces: Workspaces,
        hr: HrRules | None = None,
        gate: JobGate | None = None,
    ) -> None:
        self.db = db
        self.audit = audit
        self.workspaces = workspaces
        self.hr = hr or HrRules()
        # Approvals (governance); without one every job is queued (core tests only: the
        # composition root always passes the policy's gate).
        self.gate = gate

    async def submit(self, new: NewJob, *, actor: str) -> Submitted:
        """Insert a job with its audit entry: `queued`, or `pending_approval` with the approval
        it waits for (in the same transaction) when the policy says the Director decides."""
        async with self.db.connection() as conn:
            submitted = await self.submit_on(conn, new, actor=actor)
        self.announce(submitted)
        return submitted

    async def submit_on(self, conn: Connection, new: NewJob, *, actor: str) -> Submitted:
        """`submit` on the caller's connection, which may be inside the caller's transaction
        (a consensus writes its member jobs together). The caller announces the result with
        `announce` once it is committed."""
        _check_new_job(new)
        skills = clean_skills(new.skills, MAX_JOB_SKILLS)
        project = str(self.workspaces.resolve_project(new.project)) if new.project else None
        for _ in range(_JUDGEMENTS):
            verdict = (await self.gate.review(conn, new, project, skills)
                       if self.gate is not None else GateVerdict(approver="core"))
            row = await self._insert(conn, new, project, skills, actor, verdict)
            if row is not None:
                waits = verdict if verdict.waits and self.gate is not None else None
                return Submitted(job_from_row(row), created=True, waits_on=waits)
            if not await self._roster_moved(conn, verdict):
                break
        if new.idempotency_key is not None:
            existing = await conn.fetchrow(
                _Q["get_job_by_idempotency_key"], new.client, new.idempotency_key
            )
            if existing is not None:
                return Submitted(job_from_row(existing), created=False)
        if new.employee is not None:  # the only other reason no row came back
            await _require_working_employee(conn, new.employee)
        raise Conflict(f"employee {new.employee!r} cannot take this job now; try again")

    def announce(self, submitted: Submitted) -> None:
        """After the commit: tell the Director of the approval a new job waits for, if any."""
        if submitted.waits_on is not None and self.gate is not None:
            self.gate.announce(submitted.waits_on)

    async def _insert(
        self, conn: Connection, new: NewJob, project: str | None, skills: tuple[str, ...],
        actor: str, verdict: GateVerdict,
    ) -> Any:
        """The job's row (None when not inserted). One statement (its own transaction) for a
        job that runs; a waiting job and its approval are written together."""
        waits = verdict.waits and self.gate is not None
        async with conn.transaction() if waits else contextlib.nullcontext():
            row = await conn.fetchrow(
                _Q["submit_job"], new.kind.value,
                (JobStatus.PENDING_APPROVAL if waits else JobStatus.QUEUED).value,
                new.prompt, project, new.employee, list(new.acceptance), new.priority,
                new.max_attempts, new.client, new.idempotency_key, actor, new.max_cost_usd,
                list(skills), verdict.approval_id, verdict.approver, verdict.roster_version,
                new.thread_id, new.starts_thread,
            )
            if row is not None and waits and self.gate is not None:
                await self.gate.open(conn, verdict, job_from_row(row), actor)
        return row

    async def _roster_moved(self, conn: Connection, verdict: GateVerdict) -> bool:
        """Whether the job was judged on a roster that has changed since (then it is judged
        again on the new one)."""
        if verdict.roster_version is None or self.gate is None:
            return False
        current = await conn.fetchval(_Q["roster_version"])
        if current == verdict.roster_version:
            return False
        self.gate.forget_roster()
        return True

    async def get(self, job_id: uuid.UUID | str) -> Job:
        key = _parse_job_id(job_id)
        async with self.db.connection() as conn:
            row = await conn.fetchrow(_Q["get_job"], key)
        if row is None:
            raise NotFound(f"no job {key}")
        return job_from_row(row)

    async def cancel(self, job_id: uuid.UUID, *, actor: str) -> Job:
        """Cancel a job that has not ended, at once, with its audit entry; its slot goes back
        and its worker stops the attempt. Idempotent: a job that already ended is returned as
        it is."""
        async with self.db.connection() as conn:
            row = await conn.fetchrow(_Q["cancel_job"], job_id, actor)
        if row is not None:
            return job_from_row(row)
        job = await self.get(job_id)
        if not job.status.is_terminal:
            raise Conflict(f"job {job_id} changed while it was being cancelled; try again")
        return job

    async def resolve(self, ref: uuid.UUID | str) -> Job:
        """The job named by a whole id or by a unique prefix of its hex digits (at least
        `MIN_JOB_PREFIX`; hyphens are ignored). `get` stays strict for callers holding an id.

        Raises `NotFound` when nothing starts with the prefix and `Ambiguous` (listing a few
        matches, newest first) when several jobs do.
        """
        if isinstance(ref, uuid.UUID):
            return await self.get(ref)
        digits = ref.replace("-", "").lower()
        if len(digits) == 32:
            return await self.get(ref)
        if not MIN_JOB_PREFIX <= len(digits) < 32 or not set(digits) <= _HEX:
            raise InvalidInput(
                f"job id {ref!r} is neither a UUID nor a prefix of at least {MIN_JOB_PREFIX} "
                "of its hex digits (such as 8fe6d434)"
            )
        low, high = uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))
        async with self.db.connection() as conn:
            rows = await conn.fetch(_Q["resolve_job_prefix"], low, high, SHOWN_MATCHES + 1)
        if not rows:
            raise NotFound(f"no job id starts with {ref!r}")
        if len(rows) > 1:
            shown = tuple(str(row["id"]) for row in rows[:SHOWN_MATCHES])
            count = f"more than {SHOWN_MATCHES}" if len(rows) > SHOWN_MATCHES else len(rows)
            raise Ambiguous(
                f"job id prefix {ref!r} matches {count} jobs ({', '.join(shown)}); "
                "give more of its digits", shown,
            )
        return job_from_row(rows[0])

    async def list_jobs(
        self, *, status: JobStatus | None = None, client: str | None = None, limit: int = 50,
        after: Job | None = None,
    ) -> list[Job]:
        """Newest first; `after` (the last job of the previous page) pages on."""
        if not 1 <= limit <= 500:
            raise InvalidInput("limit must be between 1 and 500")
        async with self.db.connection() as conn:
            rows = await conn.fetch(
                _Q["list_jobs"], status.value if status else None, client, limit,
                after.created_at if after else None, after.id if after else None,
            )
        return [job_from_row(r) for r in rows]

    async def count_by_status(self) -> dict[JobStatus, int]:
        """How many jobs are in each status, every status present (zero when none)."""
        async with self.db.connection() as conn:
            rows = await conn.fetch(_Q["count_jobs_by_status"])
        found = {JobStatus(r["status"]): int(r["jobs"]) for r in rows}
        return {status: found.get(status, 0) for status in JobStatus}

    async def claim(self, worker: str, lease_seconds: float, pool_size: int) -> Claim | None:
        """Lease the best runnable job to `worker` together with a pool slot it can run in.

        None when nothing is queued or every slot is taken: a job is never claimed without a
        slot, so waiting jobs stay queued in their order (see `claim_job()` in migration 002).
        """
        async with self.db.connection() as conn:
            row = await conn.fetchrow(_Q["claim_job"], worker, lease_seconds, pool_size)
        if row is None:
            return None
        slot = SlotClaim(row["slot_index"], row["slot_state"] == "loading", row["evicted"])
        return Claim(job_from_row(row), slot)

    async def admit(
        self, job: Job, lease: str, employee: Employee, worst_case: Decimal, ledger: CallLedger
    ) -> int:
        """Reserve a call's worst case under every budget that applies (the reservation's id);
        `BudgetExceeded` names the budget that cannot take it. Nothing is written on refusal.
        One statement (`admit_call()`), so one round trip and its own transaction. When the
        database cannot answer, `SpendUnreadable`: no call is made (fail closed)."""
        try:
            async with self.db.connection() as conn:
                reservation = await ledger.admit(
                    conn, job_id=job.id, lease=lease, employee=employee, worst_case=worst_case
                )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise SpendUnreadable(
                f"refused: the budgets' spend could not be read, so no call was made ({exc})"
            ) from exc
        if reservation is None:
            raise LeaseLost(job.id, lease)
        return reservation

    async def charge(
        self,
        job: Job,
        employee: Employee,
        usage: Usage,
        latency_ms: int,
        ledger: CallLedger,
        reservation: int | None = None,
        *,
        cost: Decimal | None = None,
        reported_cost: Decimal | None = None,
    ) -> Charge:
        """One model call: its ledger row (settling `reservation`) and the job's running
        totals, written by the accountant in one statement. `cost` overrides the price of
        `usage` (an unmetered call is charged its worst case); `reported_cost` is what a
        coding agent said the call cost."""
        async with self.db.connection() as conn:
            return await ledger.record_call(
                conn, job_id=job.id, employee=employee, usage=usage, latency_ms=latency_ms,
                reservation=reservation, cost=cost, reported_cost=reported_cost,
            )

    async def refuse(
        self, job: Job, lease: str, refusal: BudgetExceeded | SpendUnreadable
    ) -> Job:
        """Admission refused the job's call: failed now, no retry, its employee's record
        untouched; a budget's figures stay on the job (`budget_refusal`) and in the audit
        entry. Where the policy asks the Director instead of refusing for money, the job waits
        (`pending_approval`, holding no slot or reservation) and resumes when approved."""
        if isinstance(refusal, BudgetExceeded) and self.gate is not None:
            verdict = self.gate.on_refusal(job, refusal)
            if verdict is not None:
                return await self._await_approval(job, lease, refusal, verdict, self.gate)
        require_transition(job.status, JobStatus.FAILED)
        figures = refusal.figures if isinstance(refusal, BudgetExceeded) else None
        async with self.db.connection() as conn:
            row = await conn.fetchrow(_Q["refuse_job"], job.id, lease, str(refusal), figures)
        if row is None:
            raise LeaseLost(job.id, lease)
        return job_from_row(row)

    async def _await_approval(
        self, job: Job, lease: str, refusal: BudgetExceeded, verdict: GateVerdict,
        gate: JobGate,
    ) -> Job:
        require_transition(job.status, JobStatus.PENDING_APPROVAL)
        async with self.db.transaction() as conn:
            # The job's move first (job row, then the audit head), then its approval.
            row = await conn.fetchrow(
                _Q["await_approval_job"], job.id, lease, str(refusal), refusal.figures,
                verdict.approval_id,
            )
            if row is None:
                raise LeaseLost(job.id, lease)
            waiting = job_from_row(row)
            await gate.open(conn, verdict, waiting, f"worker:{lease}")
        gate.announce(verdict)
        return waiting

    async def start_validating(self, job: Job, lease: str) -> Job:
        """The employee has answered: on to the checks; the slot goes back in the same move."""
        require_transition(job.status, JobStatus.VALIDATING)
        async with self.db.connection() as conn:
            row = await conn.fetchrow(_Q["start_validating"], job.id, lease)
        if row is None:
            raise LeaseLost(job.id, lease)
        return job_from_row(row)

    async def finish(
        self,
        job: Job,
        lease: str,
        status: JobStatus,
        *,
        output: str | None,
        diff: str | None,
        validation: dict[str, Any] | None,
        error: str | None,
    ) -> Job:
        """Terminal outcome of a leased job, its attempt row and its audit entry, at once."""
        if status not in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            raise InvalidInput(f"a worker finishes a job as succeeded or failed, not {status}")
        require_transition(job.status, status)
        async with self.db.connection() as conn:
            row = await conn.fetchrow(
                _Q["finish_job"], job.id, lease, status.value, storable(output),
                storable(diff), storable_json(validation), storable(error),
                self.hr.probation_jobs, self.hr.failures_to_suspend,
            )
        if row is None:
            raise LeaseLost(job.id, lease)
        _hr_event(row)
        return job_from_row(row)

    async def retry(
        self,
        job: Job,
        lease: str,
        *,
        backoff_seconds: float,
        output: str | None,
        validation: dict[str, Any] | None,
        error: str,
    ) -> Job:
        """A failed attempt with attempts left goes back to `queued` after a backoff."""
        require_transition(job.status, JobStatus.QUEUED)
        async with self.db.connection() as conn:
            row = await conn.fetchrow(
                _Q["retry_job"], job.id, lease, backoff_seconds, storable(output),
                storable_json(validation), storable(error),
                self.hr.probation_jobs, self.hr.failures_to_suspend,
            )
        if row is None:
            raise LeaseLost(job.id, lease)
        _hr_event(row)
        return job_from_row(row)

    async def hand_back(self, job: Job, lease: str, *, reason: str) -> bool:
        """Requeue a job now, its attempt not counted (the worker is stopping). False when this
        lease no longer held it."""
        require_transition(job.status, JobStatus.QUEUED)
        async with self.db.connection() as conn:
            row = await conn.fetchrow(_Q["hand_back_job"], job.id, lease, reason)
        return row is not None

    async def requeue_expired(self, *, actor: str, limit: int = 100) -> list[Job]:
        """Jobs whose lease ran out, or whose worker was declared dead or stopped without
        handing them back, go back to the queue, never lost.

        Returns the rescued jobs; the pool frees their slots in the same transaction.
        """
        rescued: list[Job] = []
        async with self.db.transaction() as conn:
            expired = await conn.fetch(_Q["lock_expired_leases"], limit)
            if not expired:
                return []
            # Slots first: every statement locks slot rows before the audit head, never after,
            # so rescues and releases cannot deadlock.
            await conn.execute(
                _P["free_slots_of_jobs"], [row["id"] for row in expired], actor
            )
            for row in expired:
                gave_up = row["attempts"] >= row["max_attempts"] + LEASE_LOSS_GRACE
                status = JobStatus.FAILED if gave_up else JobStatus.QUEUED
                error = _lost_because(row["lease_owner"], row["worker_status"])
                updated = await conn.fetchrow(_Q["end_lost_lease"], row["id"], status.value, error)
                await conn.execute(_Q["finish_attempt"], row["id"], row["attempts"], "lost", error)
                await self.audit.record(
                    conn, actor=actor, action="job.lease_expired", subject=str(row["id"]),
                    details={"worker": row["lease_owner"], "now": status.value},
                )
                rescued.append(job_from_row(updated))
        return rescued


def _lost_because(lease: str, worker_status: str | None) -> str:
    worker = lease.rpartition("/")[0]
    if worker_status == "dead":
        return f"worker {worker} was declared dead (no heartbeat for three intervals)"
    if worker_status == "stopped":
        return f"worker {worker} stopped without handing the job back"
    return f"lease expired: worker {worker} stopped answering"


async def _require_working_employee(conn: Connection, name: str) -> None:
    row = await conn.fetchrow(_E["get_employee"], name)
    if row is None:
        raise NotFound(f"no employee named {name!r}; list_employees shows the roster")
    employee = employee_from_row(row)
    if employee.status not in WORKING_STATUSES:
        raise Conflict(f"employee {name!r} is {employee.status.value} and takes no work")


def _check_new_job(new: NewJob) -> None:
    if not new.prompt.strip():
        raise InvalidInput("prompt must not be empty")
    if len(new.prompt) > MAX_PROMPT_CHARS:
        raise InvalidInput(f"prompt is longer than {MAX_PROMPT_CHARS} characters")
    if new.kind is JobKind.ASK and (new.project or new.acceptance):
        raise InvalidInput("a question takes no project and no acceptance commands")
    if new.thread_id is not None and new.kind is not JobKind.ASK:
        raise InvalidInput("only a question (ask) belongs to a thread")
    if new.starts_thread and new.thread_id is None:
        raise InvalidInput("a question that starts a thread needs the new thread's id")
    if new.acceptance and not new.project:
        raise InvalidInput("acceptance commands need a project to run in")
    if new.employee is not None and new.skills:
        raise InvalidInput("name an employee or the skills its employee needs, not both "
                           "(a named employee does the job whatever its skills)")
    _check_commands(new.acceptance)
    if not -100 <= new.priority <= 100:
        raise InvalidInput("priority must be between -100 and 100")
    if not 1 <= new.max_attempts <= 5:
        raise InvalidInput("max_attempts must be between 1 and 5")
    if new.idempotency_key is not None and not 1 <= len(new.idempotency_key) <= 200:
        raise InvalidInput("idempotency_key must be 1 to 200 characters")
    if new.max_cost_usd is not None:
        try:
            parse_usd(new.max_cost_usd)
        except ValueError as exc:
            raise InvalidInput(f"max_cost_usd {exc}") from None


def _check_commands(commands: Sequence[str]) -> None:
    if len(commands) > MAX_ACCEPTANCE_COMMANDS:
        raise InvalidInput(f"at most {MAX_ACCEPTANCE_COMMANDS} acceptance commands")
    for command in commands:
        if not command.strip():
            raise InvalidInput("an acceptance command is empty")
        if len(command) > MAX_COMMAND_CHARS or "\x00" in command:
            raise InvalidInput(f"acceptance command too long or malformed: {command[:80]!r}")


_HEX = frozenset(string.hexdigits.lower())


def _parse_job_id(job_id: uuid.UUID | str) -> uuid.UUID:
    return parse_id(job_id, "job id")

