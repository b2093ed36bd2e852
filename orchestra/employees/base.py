"""The adapter protocol every kind of employee implements."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, TypeVar

# Re-exported: adapters raise them and callers catch them as part of the adapter protocol.
from orchestra.errors import EmployeeFailed as EmployeeFailed
from orchestra.errors import EmployeeTimeout as EmployeeTimeout
from orchestra.hooks import Usage
from orchestra.runlog import RunLog
from orchestra.sandbox import JobCopy

_Failed = TypeVar("_Failed", bound=EmployeeFailed)


def is_service_variable(name: str) -> bool:
    """True for the service's own variables (`AURA_*`), which no employee ever gets: not as
    its environment, not as its API key. Settings are read case-insensitively, so
    `aura_director_key` counts as well."""
    return name.upper().startswith("AURA_")


def refuse_service_key(describe: str, variable: str) -> None:
    """Refuse, before anything is sent, an API key read from a service variable (the hire
    refuses it too; this is the check at call time, for rows written before that)."""
    if is_service_variable(variable):
        raise EmployeeFailed(f"{describe} names api_key_env {variable}, a variable of the "
                             "service itself: the service's own variables are never given to "
                             "an employee, so nothing was sent")


@dataclass(frozen=True, slots=True)
class WorkRequest:
    """One piece of work for an employee.

    `copy` is the job's working copy (None for a question without a project); `timeout_s`
    bounds the whole call, after which the adapter gives up and raises `EmployeeTimeout`.
    `max_output_tokens` is the output cap the adapter sends with the call (Ollama's
    `num_predict`): the accountant reserved money for no more than that.
    """

    prompt: str
    copy: JobCopy | None
    timeout_s: float
    max_output_tokens: int = 4096


@dataclass(frozen=True, slots=True)
class WorkResult:
    """What the employee said, and what it cost in tokens. `metered` is False when the
    employee cannot say what it used (a command-line program that reports no usage): the call
    is then charged its reserved worst case, never less. `reported_cost` is the cost (USD) a
    coding agent reported for the call itself (see `orchestra.employees.presets`)."""

    text: str
    usage: Usage
    exit_code: int | None = None
    metered: bool = True
    reported_cost: Decimal | None = None


def failed_having_spent(exc: _Failed, spent: WorkResult) -> _Failed:
    """`exc`, carrying what the failed call used, for the caller to charge before it fails."""
    exc.spent = spent
    return exc


def spent_by(exc: EmployeeFailed) -> WorkResult | None:
    """What a failed call still used, when its adapter could say (see `failed_having_spent`)."""
    return exc.spent if isinstance(exc.spent, WorkResult) else None


class EmployeeAdapter(Protocol):
    """One employee's connection to its model or program.

    `load` makes the employee resident (for Ollama: a request with `keep_alive`), `unload`
    frees it (`keep_alive: 0`). Cloud and command-line employees treat both as no-ops: their
    slot is only a concurrency token.
    """

    async def load(self) -> None: ...

    async def unload(self) -> None: ...

    async def work(self, request: WorkRequest, runlog: RunLog) -> WorkResult: ...
