"""The core's one exception hierarchy; each edge translates it once (MCP, HTTP, CLI)."""

from __future__ import annotations


class AuraError(Exception):
    """Base of every error the core raises on purpose. The message is meant for the caller."""

    kind = "error"


class NotFound(AuraError):
    """A named thing (job, employee, token…) does not exist."""

    kind = "not_found"


class InvalidInput(AuraError):
    """The caller asked for something malformed or out of range."""

    kind = "invalid_input"


class Forbidden(AuraError):
    """The caller may not do this (bad credentials, a path outside the workspaces…)."""

    kind = "forbidden"


class Conflict(AuraError):
    """The request clashes with the current state (an illegal job move, a duplicate name…)."""

    kind = "conflict"


class Ambiguous(Conflict):
    """A short reference (a job id prefix) names several things; `matches` lists some of them
    so the caller can pick one."""

    kind = "ambiguous"

    def __init__(self, message: str, matches: tuple[str, ...]) -> None:
        super().__init__(message)
        self.matches = matches


class Unavailable(AuraError):
    """A dependency (database, provider, sandbox tool) cannot serve the request now."""

    kind = "unavailable"


class EmployeeFailed(AuraError):
    """An employee could not do the work (provider error, non-zero exit, bad reply).

    `spent` is what a call that ran and failed still used (an `orchestra.employees.base.
    WorkResult`, read through `spent_by`): a coding agent killed after spending money is
    charged for it, never released. None when nothing was spent or nothing can be known."""

    kind = "employee_failed"
    spent: object = None


class EmployeeTimeout(EmployeeFailed):
    """An employee did not finish within the request's time limit."""

    kind = "employee_timeout"


class SpendUnreadable(Unavailable):
    """Admission could not read or reserve against the budgets (the database failed): the
    call is not made. Fail closed, and not the employee's doing."""

    kind = "spend_unreadable"


class BudgetExceeded(Conflict):
    """A model call was refused because its worst case does not fit a budget. The figures are
    kept (decimal strings, USD) so every edge can show them: which budget, its limit, what is
    spent and reserved, and the call's worst case."""

    kind = "budget_exceeded"

    def __init__(
        self, *, budget: str, scope: str, limit_usd: str, spent_usd: str, reserved_usd: str,
        worst_case_usd: str, job_id: str | None = None, reason: str | None = None,
    ) -> None:
        self.figures = {
            "budget": budget, "scope": scope, "limit_usd": limit_usd, "spent_usd": spent_usd,
            "reserved_usd": reserved_usd, "worst_case_usd": worst_case_usd,
        }
        what = "this job's max_cost_usd" if scope == "job" else f"budget {budget!r} ({scope})"
        of_job = f" (job {job_id})" if job_id else ""
        # `reason`: refused not for the figures but because the call cannot be priced at all
        # (an unpriceable employee under a budget); raising the limit would not help.
        self.reason = reason
        if reason is not None:
            self.figures["reason"] = reason
            super().__init__(f"refused{of_job}: {what} applies and {reason}")
            return
        super().__init__(
            f"refused{of_job}: {what} would be exceeded: limit {limit_usd} USD, spent "
            f"{spent_usd}, reserved {reserved_usd}, this call's worst case {worst_case_usd}"
        )
