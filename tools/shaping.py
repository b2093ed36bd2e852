"""The structured results tools return, and how a job becomes one."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from orchestra.models import Job

# Results stay small for the caller's context; the whole text stays in a resource.
MAX_RESULT_CHARS = 20_000


class JobResult(BaseModel):
    """A job as callers see it (DESIGN §10)."""

    job_id: str
    status: str = Field(description="pending_approval, queued, running, validating, "
                        "succeeded, failed, cancelled or rejected")
    kind: str
    employee: str | None
    skills: list[str] = Field(description="skills asked of the employee, when none was named")
    attempts: int
    max_attempts: int
    validation: dict[str, Any] | None
    cost: str = Field(description="USD spent on model calls so far")
    unpriced_calls: int = Field(0, description="model calls with no price (a coding agent "
                                "without a rate card): cost leaves them out")
    tokens_in: int
    tokens_out: int
    output: str | None
    output_truncated: bool = False
    diff: str | None
    diff_truncated: bool = False
    error: str | None
    max_cost_usd: str | None = Field(description="the job's own spending ceiling, if any")
    budget_refusal: dict[str, str] | None = Field(
        description="when a budget refused the job's model call: budget, scope, limit_usd, "
        "spent_usd, reserved_usd, worst_case_usd")
    created_at: str
    finished_at: str | None
    resources: dict[str, str]


class SubmitResult(BaseModel):
    job_id: str
    status: str
    created: bool = Field(description="false when the idempotency key matched an earlier job")


def cut_text(text: str | None, uri: str) -> tuple[str | None, bool]:
    """`text` cut to `MAX_RESULT_CHARS`, with a note naming `uri` that holds it whole; and
    whether it was cut."""
    if text is None or len(text) <= MAX_RESULT_CHARS:
        return text, False
    note = f"\n[cut at {MAX_RESULT_CHARS} of {len(text)} characters; read {uri} for all]"
    return text[:MAX_RESULT_CHARS] + note, True


def job_result(job: Job) -> JobResult:
    base = f"aura://jobs/{job.id}"
    output, output_cut = cut_text(job.output, f"{base}/output")
    diff, diff_cut = cut_text(job.diff, f"{base}/diff")
    return JobResult(
        job_id=str(job.id),
        status=job.status.value,
        kind=job.kind.value,
        employee=job.employee,
        skills=list(job.skills),
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        validation=job.validation,
        cost=f"{job.cost:f}",
        unpriced_calls=job.unpriced_calls,
        tokens_in=job.tokens_in,
        tokens_out=job.tokens_out,
        output=output,
        output_truncated=output_cut,
        diff=diff,
        diff_truncated=diff_cut,
        error=job.error,
        max_cost_usd=f"{job.max_cost_usd:f}" if job.max_cost_usd is not None else None,
        budget_refusal=job.budget_refusal,
        created_at=job.created_at.isoformat(),
        finished_at=job.finished_at.isoformat() if job.finished_at else None,
        resources={"job": base, "runlog": f"{base}/runlog", "output": f"{base}/output",
                   "diff": f"{base}/diff"},
    )


class JobSummary(BaseModel):
    """A job in a list: no output, diff or validation (get_job has them)."""

    job_id: str
    status: str
    kind: str
    employee: str | None
    prompt: str = Field(description="the first 200 characters")
    error: str | None = Field(description="the first line, when the job failed")
    created_at: str
    finished_at: str | None


def job_summary(job: Job) -> JobSummary:
    # An error of only whitespace has no first line (it used to raise IndexError here).
    lines = (job.error or "").strip().splitlines()
    error = lines[0][:200] if lines else None
    return JobSummary(
        job_id=str(job.id), status=job.status.value, kind=job.kind.value, employee=job.employee,
        prompt=job.prompt[:200], error=error, created_at=job.created_at.isoformat(),
        finished_at=job.finished_at.isoformat() if job.finished_at else None,
    )
