"""The policy applied to jobs (`orchestra.hooks.JobGate`): which jobs wait for the Director
when submitted, and whether a budget refusal becomes a question to the Director.

A job waits when its worst case costs more than `[approvals] job_cost_over_usd` (the
accountant's bound: prompt bytes + template tokens in, the employee's output cap out, at its
price; a job that names no employee is priced at its most expensive candidate), when an
acceptance command's first word is not in `commands_allow`, or when `cli_network` is on and
its employee (or, unnamed, any candidate) is a command employee with network. The approval is
bound to the job's spec (`job_spec`): a job that changed since is refused, not run.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from governance.accountant import Accountant, usd_text
from governance.approvals import Approval, Approvals, Ask, params_hash
from orchestra.errors import BudgetExceeded
from orchestra.hooks import GateVerdict
from orchestra.models import Adapter, Employee, Job, NewJob
from orchestra.store.db import Connection
from orchestra.store.queries import load
from orchestra.store.rows import employee_from_row, job_from_row

_A = load("approvals")
SUMMARY_PROMPT_CHARS = 120


def job_spec(*, kind: str, prompt: str, project: str | None, employee: str | None,
             skills: Sequence[str], acceptance: Sequence[str], priority: int,
             max_attempts: int, max_cost_usd: Decimal | None) -> dict[str, Any]:
    """Exactly what a job approval is bound to."""
    return {
        "kind": kind, "prompt": prompt, "project": project, "employee": employee,
        "skills": list(skills), "acceptance": list(acceptance), "priority": priority,
        "max_attempts": max_attempts,
        "max_cost_usd": usd_text(max_cost_usd) if max_cost_usd is not None else None,
    }


def spec_of_job(job: Job) -> dict[str, Any]:
    return job_spec(kind=job.kind.value, prompt=job.prompt, project=job.project,
                    employee=job.requested_employee, skills=job.skills,
                    acceptance=job.acceptance, priority=job.priority,
                    max_attempts=job.max_attempts, max_cost_usd=job.max_cost_usd)


class JobApprovals:
    """Implements `orchestra.hooks.JobGate` with the policy of `approvals`."""

    def __init__(self, approvals: Approvals, accountant: Accountant) -> None:
        self.approvals = approvals
        self.accountant = accountant
        # The working roster as of a roster version (migration 010). Kept between jobs: the
        # statement that inserts a job checks the version, and a stale one is read again.
        self._roster: tuple[int, list[Employee]] | None = None

    def forget_roster(self) -> None:
        self._roster = None

    async def _working(self, conn: Connection) -> tuple[int, list[Employee]]:
        if self._roster is None:
            # The version first: a change committed between the two reads makes the version
            # older than the list, so the insert finds it stale and asks again, never the
            # other way round.
            version: int = await conn.fetchval(_A["roster_version"])
            working = [employee_from_row(r) for r in await conn.fetch(_A["working_employees"])]
            self._roster = (version, working)
        return self._roster

    async def review(
        self, conn: Connection, new: NewJob, project: str | None, skills: tuple[str, ...]
    ) -> GateVerdict:
        policy = self.approvals.policy
        rules = policy.approvals
        version, working = await self._working(conn)
        candidates = _candidates(working, new.employee, skills)
        reasons: list[str] = []
        if candidates:
            worst = max(self.accountant.worst_case(e, new.prompt) for e in candidates)
            if worst > rules.job_cost_over_usd:
                reasons.append(f"its worst case costs {usd_text(worst)} USD, over the policy's "
                               f"{usd_text(rules.job_cost_over_usd)}")
        outside = [c for c in new.acceptance if _first_word(c) not in rules.commands_allow]
        if outside:
            reasons.append("acceptance commands outside the allow-list: "
                           + "; ".join(c[:80] for c in outside))
        networked = [e.name for e in candidates if e.adapter is Adapter.CLI and e.network]
        if rules.cli_network and networked:
            reasons.append(f"command employee with network: {', '.join(networked)}")
        if not reasons:
            return GateVerdict(approver=policy.approver, roster_version=version)
        spec = job_spec(kind=new.kind.value, prompt=new.prompt, project=project,
                        employee=new.employee, skills=skills, acceptance=new.acceptance,
                        priority=new.priority, max_attempts=new.max_attempts,
                        max_cost_usd=new.max_cost_usd)
        return GateVerdict(approver="director", approval_id=uuid.uuid4(), action="job",
                           summary=f"run job ({'; '.join(reasons)}): {_head(new.prompt)}",
                           params={"job": spec}, roster_version=version)

    def on_refusal(self, job: Job, refusal: BudgetExceeded) -> GateVerdict | None:
        if self.approvals.policy.budgets.on_exhausted != "ask" or refusal.reason is not None:
            return None  # an unpriceable employee stays refused whatever the limit
        figures = refusal.figures
        return GateVerdict(
            approver="director", approval_id=uuid.uuid4(), action="budget",
            summary=(f"raise budget {figures['budget']!r} ({figures['scope']}): limit "
                     f"{figures['limit_usd']} USD, spent {figures['spent_usd']}, reserved "
                     f"{figures['reserved_usd']}, this call's worst case "
                     f"{figures['worst_case_usd']}; then approve to resume: "
                     f"{_head(job.prompt)}"),
            params={"job": spec_of_job(job), "budget": figures["budget"]},
        )

    async def open(self, conn: Connection, verdict: GateVerdict, job: Job, actor: str) -> None:
        requested_by = actor if verdict.action == "job" else (
            f"client:{job.client}" if job.client else actor)
        await self.approvals.insert(Ask(
            action=verdict.action, subject=str(job.id), summary=verdict.summary,
            params=verdict.params, requested_by=requested_by, job_id=job.id,
            id=verdict.approval_id,
        ), conn=conn)

    def announce(self, verdict: GateVerdict) -> None:
        # Reading the row back would cost a round trip; the notice needs only these, and the
        # expiry is the policy's from now (the row's, within the transaction's time).
        expires = datetime.now(UTC) + self.approvals.policy.approvals.expire_after
        self.approvals.notifier.approval_requested({
            "id": str(verdict.approval_id), "action": verdict.action,
            "summary": verdict.summary, "expires_at": expires.isoformat(),
        })

    async def check_job(self, conn: Connection, approval: Approval) -> str | None:
        """`Approvals.job_check`: the job an approval is for must still be what was asked."""
        row = await conn.fetchrow(_A["lock_job"], approval.job_id)
        if row is None:
            return "denied: the job no longer exists"
        if approval.params.get("job") != spec_of_job(job_from_row(row)) \
                or params_hash(approval.params) != approval.params_hash:
            return "denied: the job changed after approval was asked; submit it again"
        return None


def _candidates(working: list[Employee], named: str | None,
                skills: tuple[str, ...]) -> list[Employee]:
    """The employees who may take the job: the named one, or those with every skill."""
    if named is not None:
        return [e for e in working if e.name == named]
    wanted = {s.lower() for s in skills}
    return [e for e in working if wanted <= {s.lower() for s in e.skills}]


def _first_word(command: str) -> str:
    words = command.split()
    return words[0] if words else ""


def _head(prompt: str) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= SUMMARY_PROMPT_CHARS else line[:SUMMARY_PROMPT_CHARS - 1] + "…"
