"""The core's value types: jobs, employees, pool slots and the job state machine."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from orchestra.errors import Conflict


class IllegalTransition(Conflict):
    """A job move the state machine (`JOB_TRANSITIONS`) does not allow."""


class JobStatus(enum.StrEnum):
    """Where a job is in its life (DESIGN §6)."""

    PENDING_APPROVAL = "pending_approval"
    QUEUED = "queued"
    RUNNING = "running"
    VALIDATING = "validating"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.REJECTED}
)

# The legal moves. The database enforces the same table (trigger `jobs_status_guard` in
# migration 001; a test checks the two agree move by move); the queue checks this copy before
# it asks the database, so an illegal move is refused with a clear message.
JOB_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING_APPROVAL: frozenset(
        {JobStatus.QUEUED, JobStatus.REJECTED, JobStatus.CANCELLED}
    ),
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED}),
    # running → pending_approval: a budget refused the call and the policy asks the Director
    # (`[budgets] on_exhausted = "ask"`); the job then holds nothing while it waits.
    JobStatus.RUNNING: frozenset(
        {JobStatus.VALIDATING, JobStatus.QUEUED, JobStatus.FAILED, JobStatus.CANCELLED,
         JobStatus.PENDING_APPROVAL}
    ),
    JobStatus.VALIDATING: frozenset(
        {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.QUEUED, JobStatus.CANCELLED}
    ),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
    JobStatus.REJECTED: frozenset(),
}


def require_transition(current: JobStatus, target: JobStatus) -> None:
    """Refuse a move the state machine does not allow, saying which."""
    if target not in JOB_TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in JOB_TRANSITIONS[current])) or "nothing"
        raise IllegalTransition(
            f"a {current.value} job cannot become {target.value} (it may become: {allowed})"
        )


class JobKind(enum.StrEnum):
    """`task` works in a project sandbox; `ask` is one question answered in text."""

    TASK = "task"
    ASK = "ask"


class Adapter(enum.StrEnum):
    """How an employee is reached."""

    OLLAMA = "ollama"
    OPENAI = "openai"
    GEMINI = "gemini"
    CLI = "cli"


# Adapters whose code exists; the others are refused rather than faked. Here, not in the
# roster, so the CLI can offer exactly these without importing the store.
AVAILABLE_ADAPTERS = frozenset({Adapter.OLLAMA, Adapter.CLI, Adapter.OPENAI, Adapter.GEMINI})


class EmployeeStatus(enum.StrEnum):
    PROBATION = "probation"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


WORKING_STATUSES = frozenset({EmployeeStatus.PROBATION, EmployeeStatus.ACTIVE})


class SlotState(enum.StrEnum):
    EMPTY = "empty"
    IDLE = "idle"
    BUSY = "busy"
    LOADING = "loading"


@dataclass(frozen=True, slots=True)
class Employee:
    """A model worker on the roster. Secrets are never here: `api_key_env` names a variable."""

    name: str
    adapter: Adapter
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    command: tuple[str, ...] | None = None
    network: bool = False
    skills: tuple[str, ...] = ()
    price_in: Decimal = Decimal(0)
    price_out: Decimal = Decimal(0)
    status: EmployeeStatus = EmployeeStatus.PROBATION
    created_at: datetime | None = None
    # Sent with every call as the output cap; with the prompt it bounds the call's cost.
    max_output_tokens: int = 4096
    # A coding-agent preset (`orchestra.employees.presets`): how its output is read.
    preset: str | None = None
    # Its context window: a thread's history is cut to fit it (`orchestra/threads.py`).
    context_tokens: int = 8192

    def public(self) -> dict[str, Any]:
        """The JSON shape shown to clients."""
        return {
            "name": self.name,
            "adapter": self.adapter.value,
            "model": self.model,
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            "command": list(self.command) if self.command is not None else None,
            "network": self.network,
            "skills": list(self.skills),
            "price_in": str(self.price_in),
            "price_out": str(self.price_out),
            "status": self.status.value,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "max_output_tokens": self.max_output_tokens,
            "preset": self.preset,
            "context_tokens": self.context_tokens,
        }


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of delegated work and everything known about its outcome."""

    id: uuid.UUID
    kind: JobKind
    status: JobStatus
    prompt: str
    project: str | None
    requested_employee: str | None
    employee: str | None
    acceptance: tuple[str, ...]
    priority: int
    attempts: int
    max_attempts: int
    client: str | None
    idempotency_key: str | None
    output: str | None
    diff: str | None
    validation: dict[str, Any] | None
    error: str | None
    tokens_in: int
    tokens_out: int
    cost: Decimal
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    lease_owner: str | None = None
    max_cost_usd: Decimal | None = None
    # Set when a budget refused one of the job's calls: BudgetExceeded's figures.
    budget_refusal: dict[str, Any] | None = None
    skills: tuple[str, ...] = ()  # what its employee must have, when it names none
    approval_id: uuid.UUID | None = None  # the approval it waits for (or last waited for)
    # Its model calls that could not be priced: `cost` leaves them out (never counts them 0).
    unpriced_calls: int = 0
    thread_id: uuid.UUID | None = None  # the conversation a question continues (or starts)


@dataclass(frozen=True, slots=True)
class Scores:
    """HR's scores of one employee over its last `window` finished jobs (succeeded or failed
    with it as the job's employee; `employee_scores()` in migration 007 computes them).

    Rates are fractions in [0, 1]; None when nothing in the window could say (no finished
    job; no job that reached validation with acceptance checks; no success to divide by).
    """

    window: int
    jobs: int
    successes: int
    success_rate: float | None
    validation_pass_rate: float | None
    p50_latency_ms: int | None
    cost_per_success: Decimal | None

    @classmethod
    def empty(cls, window: int) -> Scores:
        """The scores of an employee with no finished job yet."""
        return cls(window, 0, 0, None, None, None, None)

    def public(self) -> dict[str, Any]:
        """The JSON shape shown to clients (money as a decimal string, USD)."""
        return {
            "window": self.window,
            "jobs": self.jobs,
            "success_rate": self.success_rate,
            "validation_pass_rate": self.validation_pass_rate,
            "p50_latency_ms": self.p50_latency_ms,
            "cost_per_success_usd": (f"{self.cost_per_success:f}"
                                     if self.cost_per_success is not None else None),
        }


@dataclass(frozen=True, slots=True)
class Slot:
    """One of the pool's model slots, as the database holds it."""

    index: int
    state: SlotState
    employee: str | None
    job_id: uuid.UUID | None
    since: datetime | None
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SlotClaim:
    """The pool slot a job was claimed with.

    `loading` means the employee is not resident yet and the worker must load it (unloading
    `evicted` first, when that employee's model is not needed by another slot).
    """

    index: int
    loading: bool
    evicted: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A job leased to a worker together with the slot it runs in."""

    job: Job
    slot: SlotClaim

    @property
    def lease(self) -> str:
        """The claim's own lease (`<worker>/<attempt>`), which every later move presents."""
        assert self.job.lease_owner is not None  # claim_job always sets it
        return self.job.lease_owner


@dataclass(frozen=True, slots=True)
class NewJob:
    """What a caller asks for; validated by `queue.submit`."""

    prompt: str
    kind: JobKind = JobKind.TASK
    project: str | None = None
    employee: str | None = None
    skills: tuple[str, ...] = ()  # instead of an employee: the manager picks one having all
    acceptance: tuple[str, ...] = ()
    priority: int = 0
    max_attempts: int = 1
    client: str | None = None
    idempotency_key: str | None = None
    max_cost_usd: Decimal | None = None
    # A question's thread (`orchestra/threads.py`); `starts_thread` when this question is the
    # first of a new one, which the submission creates.
    thread_id: uuid.UUID | None = None
    starts_thread: bool = False
