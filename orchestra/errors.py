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
    """An employee could not do the work (provider error, non-zero exit, bad reply)."""

    kind = "employee_failed"


class EmployeeTimeout(EmployeeFailed):
    """An employee did not finish within the request's time limit."""

    kind = "employee_timeout"
