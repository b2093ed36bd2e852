"""Hiring through MCP: `propose_employee` asks the Director (policy `hire_via_mcp`), and the
approval hires exactly the proposed employee, in the approval's transaction.

The proposal is checked as a hire is before anything is asked, so the Director never approves
something that cannot be hired; the approval is bound to the employee's whole spec.
"""

from __future__ import annotations

from typing import Any

from governance.approvals import Approval, Approvals, Decision, Performer
from orchestra.models import Employee
from orchestra.roster import HireRequest, Roster, prepare_hire, validate_hire
from orchestra.store.db import Connection

HIRE = "hire"


def hire_params(employee: Employee) -> dict[str, Any]:
    """The spec an approval to hire is bound to (no status or time: those are the hire's)."""
    public = employee.public()
    return {k: public[k] for k in (
        "name", "adapter", "model", "base_url", "api_key_env", "command", "network", "skills",
        "price_in", "price_out", "max_output_tokens", "preset",
        "context_tokens")}


def hire_performer(roster: Roster, actor: str = "director") -> Performer:
    """What approving a proposal does: hire the bound spec (checked again), audited."""

    async def perform(conn: Connection, approval: Approval) -> None:
        spec = dict(approval.params["employee"])
        spec["command"] = tuple(spec["command"]) if spec["command"] is not None else None
        spec["skills"] = tuple(spec["skills"])
        employee = validate_hire(HireRequest(**spec, check_command=False))
        await roster.hire_in(conn, employee, actor=approval.decided_by or actor)

    return perform


async def propose(approvals: Approvals, request: HireRequest, *, requested_by: str,
                  request_id: str | None = None) -> Decision:
    """Ask to hire; approved at once (and hired) when the policy does not make hires wait."""
    employee = prepare_hire(request)
    what = employee.model or " ".join(employee.command or ())
    # Where the prompts (and the project's files) would be sent is part of what is decided.
    where = f" at {employee.base_url[:200]}" if employee.base_url else ""
    # …and which of the worker's variables it would be given as its key (the name only).
    key = f" with the key in ${employee.api_key_env}" if employee.api_key_env else ""
    return await approvals.require(
        action=HIRE, subject=employee.name, params={"employee": hire_params(employee)},
        requested_by=requested_by, request_id=request_id,
        summary=f"hire {employee.name}: {employee.adapter.value} {what[:200]}{where}{key}"
                f"{' with network' if employee.network else ''}, USD {employee.price_in} in / "
                f"{employee.price_out} out per million tokens",
    )
