"""Job tools: submit_job, get_job, wait_job and ask."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from governance.identity import client_from_request
from orchestra.errors import BudgetExceeded, Forbidden
from orchestra.models import Job, JobKind, JobStatus, NewJob
from orchestra.queue import MAX_ACCEPTANCE_COMMANDS
from tools.errors import tool_errors
from tools.inputs import (
    Command,
    EmployeeName,
    IdempotencyKey,
    JobId,
    JobSkills,
    ProjectPath,
    Prompt,
    Usd,
)
from tools.job_tasks import JobTasks
from tools.services import ToolServices
from tools.shaping import JobResult, JobSummary, SubmitResult, job_result, job_summary
from tools.tasks import TaskTool
from tools.threads import NewThreadArgument, ThreadArgument, question_thread
from tools.waiting import DEFAULT_WAIT_S, MAX_WAIT_S, wait_for_jobs

MaxCost = Annotated[Usd | None, Field(
    description="USD this job may spend at most, over all its calls (a decimal string such "
    "as \"0.50\"); a call whose worst case would pass it is refused")]
SkillsArgument = Annotated[JobSkills | None, Field(
    description="instead of employee: skills the employee must all have (e.g. [\"python\"]); "
    "the manager picks the best-scoring one")]
WaitSeconds = Annotated[
    float, Field(ge=0, le=MAX_WAIT_S, description="seconds to wait, at most 45")
]


class JobList(BaseModel):
    jobs: list[JobSummary]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null at "
                                    "the end")


class AskResult(BaseModel):
    answered: bool = Field(description="false when time ran out; wait_job(job_id) for the rest")
    answer: str | None
    employee: str | None
    job_id: str
    status: str
    error: str | None
    latency_ms: int
    thread_id: str | None = Field(default=None, description="the question's thread: pass it "
                                  "to ask to continue the conversation")


def _client(ctx: Context[Any, Any]) -> str:
    return client_from_request(ctx.request_context.request)


async def _wait(
    services: ToolServices, job_id: uuid.UUID, timeout_s: float, ctx: Context[Any, Any] | None
) -> Job:
    """The job once terminal, or as it stands when `timeout_s` runs out (never an error)."""

    async def look() -> tuple[Job, bool]:
        job = await services.queue.get(job_id)
        return job, job.status.is_terminal

    async def describe(job: Job) -> str:
        last = await services.runlogs.last_line(job.id)
        return f"{job.status.value}: {last}" if last else job.status.value

    return await wait_for_jobs(services.events, [job_id], timeout_s, ctx, look, describe)


def ask_result(job: Job, latency_ms: int) -> AskResult:
    """What `ask` answers for `job` as it stands (an answer once it ended, else its handle)."""
    if job.budget_refusal is not None:
        # Refused for money: an error the caller's assistant sees as one, with the figures.
        raise BudgetExceeded(**job.budget_refusal, job_id=str(job.id))
    done = job.status.is_terminal
    return AskResult(
        answered=done and job.error is None,
        answer=job.output if done else None,
        employee=job.employee,
        job_id=str(job.id),
        status=job.status.value,
        error=job.error,
        latency_ms=latency_ms,
        thread_id=str(job.thread_id) if job.thread_id is not None else None,
    )


def _still_going(result: dict[str, Any]) -> str | None:
    """The job id in a submit_job or ask result whose job has not ended, else None. A submit
    that matched an earlier job by its idempotency key answers as before (created: false), so
    every task submit_job starts is a job that call created."""
    status = result.get("status")
    if status is None or JobStatus(status).is_terminal or result.get("created") is False:
        return None
    return str(result["job_id"])


class FinishedSubmit(JobResult):
    """submit_job's result once its task completed: SubmitResult's fields (the call created
    the job) with the whole job as get_job shows it."""

    created: bool = True


def _submit_after(job: Job) -> FinishedSubmit:
    return FinishedSubmit(**job_result(job).model_dump())


def _ask_after(job: Job) -> AskResult:
    # The caller was not waiting: the latency is the job's own, from creation to its end.
    ended = job.finished_at or job.updated_at
    return ask_result(job, int((ended - job.created_at).total_seconds() * 1000))


def task_tools(services: ToolServices) -> dict[str, TaskTool]:
    """How Tasks-capable clients get submit_job and ask as tasks (tools/tasks.py): submit_job's
    job runs on after the call, so it always answers with a task; ask answers inline when its
    employee is done within timeout_s and with a task for the same job otherwise."""
    jobs = JobTasks(services, {JobKind.TASK: _submit_after, JobKind.ASK: _ask_after})
    return {"submit_job": TaskTool(durable_id=_still_going, source=jobs),
            "ask": TaskTool(durable_id=_still_going, source=jobs)}


def register(server: MCPServer, services: ToolServices) -> None:
    @tool_errors
    async def submit_job(
        prompt: Annotated[Prompt, Field(description="what the employee should do")],
        ctx: Context[Any, Any],
        project: Annotated[ProjectPath | None, Field(
            description="absolute path of the project to work on, inside AURA_WORKSPACES; "
            "the employee works on a copy, never the original")] = None,
        employee: Annotated[EmployeeName | None, Field(
            description="employee name from list_employees; omit to let the manager choose")
        ] = None,
        skills: SkillsArgument = None,
        acceptance: Annotated[list[Command] | None, Field(
            max_length=MAX_ACCEPTANCE_COMMANDS,
            description="shell commands run in the sandbox afterwards; all must exit 0")
        ] = None,
        priority: Annotated[int, Field(ge=-100, le=100, description="higher runs first")] = 0,
        max_attempts: Annotated[int, Field(ge=1, le=5)] = 1,
        idempotency_key: Annotated[IdempotencyKey | None, Field(
            description="resubmitting with the same key returns the first job")] = None,
        max_cost_usd: MaxCost = None,
    ) -> SubmitResult:
        client = _client(ctx)
        submitted = await services.queue.submit(
            NewJob(prompt=prompt, kind=JobKind.TASK, project=project, employee=employee,
                   skills=tuple(skills or ()), acceptance=tuple(acceptance or ()),
                   priority=priority,
                   max_attempts=max_attempts, client=client, idempotency_key=idempotency_key,
                   max_cost_usd=max_cost_usd),
            actor=f"client:{client}",
        )
        job = submitted.job
        return SubmitResult(job_id=str(job.id), status=job.status.value, created=submitted.created)

    @tool_errors
    async def get_job(
        job_id: Annotated[JobId, Field(description="id from submit_job")]
    ) -> JobResult:
        return job_result(await services.queue.get(job_id))

    @tool_errors
    async def list_jobs(
        ctx: Context[Any, Any],
        status: Annotated[JobStatus | None, Field(description="only jobs in this status")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="jobs per page")] = 20,
        cursor: Annotated[JobId | None, Field(
            description="next_cursor from the previous page")] = None,
        all_clients: Annotated[bool, Field(
            description="include jobs other clients submitted")] = False,
    ) -> JobList:
        client = None if all_clients else _client(ctx)
        after = await services.queue.get(cursor) if cursor is not None else None
        jobs = await services.queue.list_jobs(status=status, client=client, limit=limit,
                                              after=after)
        more = len(jobs) == limit
        return JobList(jobs=[job_summary(j) for j in jobs],
                       next_cursor=str(jobs[-1].id) if more else None)

    @tool_errors
    async def cancel_job(
        job_id: Annotated[JobId, Field(description="id from submit_job")],
        ctx: Context[Any, Any],
    ) -> JobResult:
        client = _client(ctx)
        job = await services.queue.get(job_id)
        if job.client != client:
            raise Forbidden(f"job {job.id} was submitted by another client; only it (or the "
                            "Director) may cancel it")
        return job_result(await services.queue.cancel(job.id, actor=f"client:{client}"))

    @tool_errors
    async def wait_job(
        job_id: Annotated[JobId, Field(description="id from submit_job")],
        ctx: Context[Any, Any],
        timeout_s: WaitSeconds = DEFAULT_WAIT_S,
    ) -> JobResult:
        job = await services.queue.get(job_id)
        return job_result(await _wait(services, job.id, timeout_s, ctx))

    @tool_errors
    async def ask(
        prompt: Annotated[Prompt, Field(description="the question")],
        ctx: Context[Any, Any],
        employee: Annotated[EmployeeName | None, Field(
            description="employee name from list_employees; omit to let the manager choose")
        ] = None,
        skills: SkillsArgument = None,
        timeout_s: WaitSeconds = DEFAULT_WAIT_S,
        max_cost_usd: MaxCost = None,
        thread_id: ThreadArgument = None,
        new_thread: NewThreadArgument = False,
    ) -> AskResult:
        started = time.monotonic()
        client = _client(ctx)
        thread, starts = await question_thread(services, thread_id, new_thread, prompt,
                                               employee)
        submitted = await services.queue.submit(
            NewJob(prompt=prompt, kind=JobKind.ASK, employee=employee,
                   skills=tuple(skills or ()), client=client, max_cost_usd=max_cost_usd,
                   thread_id=thread, starts_thread=starts),
            actor=f"client:{client}",
        )
        job = await _wait(services, submitted.job.id, timeout_s, ctx)
        return ask_result(job, int((time.monotonic() - started) * 1000))

    server.add_tool(
        submit_job,
        description="Queue work for an employee, optionally on a copy of a project with "
        "acceptance commands. Returns a job_id at once; follow it with wait_job.",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                    idempotent_hint=False, open_world_hint=True),
    )
    server.add_tool(
        get_job,
        description="A job's status, employee, validation report, cost (USD), output and diff.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )
    server.add_tool(
        list_jobs,
        description="Your jobs, newest first, without output or diff (get_job has them). "
        "Filter by status; pass next_cursor back for the next page.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )
    server.add_tool(
        cancel_job,
        description="Cancel one of your jobs: a queued job at once, a running one within "
        "seconds (its command is killed). Cancelling a finished job changes nothing.",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True,
                                    idempotent_hint=True, open_world_hint=False),
    )
    server.add_tool(
        wait_job,
        description="Wait up to timeout_s seconds (default 30, max 45) for a job to finish; "
        "returns its current state either way, so call again while it is not finished.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )
    server.add_tool(
        ask,
        description="Ask one employee one question and get the answer now. If it takes "
        "longer than timeout_s (default 30, max 45) you get a job_id for wait_job instead. "
        "new_thread or thread_id keep a conversation.",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                    idempotent_hint=False, open_world_hint=True),
    )
