"""`/api/v1/jobs`: the queue. Lists carry summaries; one job carries the MCP result's fields
(output and diff cut at 20,000 characters); `/output`, `/diff` and `/runlog` are whole text,
`/export` the before or after state as a tar. A path's job is its id or a unique prefix."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from mcp_server.api import models
from mcp_server.api.events import event_view
from mcp_server.api.fields import JOB_REF
from mcp_server.api.models import ExportQuery, JobFilter, JobHistory, JobList, QueueCounts
from mcp_server.api.payloads import read_query
from mcp_server.api.routing import DIRECTOR, ApiRoute, ApiServices, Operation
from orchestra.errors import NotFound
from orchestra.models import Job, JobStatus
from tools.shaping import job_result, job_summary

TEXT = "text/plain"


def job_view(job: Job) -> models.Job:
    """The MCP result's shape (DESIGN §10) with what a person looking at a job also wants."""
    return models.Job.model_validate(
        {**job_result(job).model_dump(), "prompt": job.prompt, "project": job.project})


def summary_view(job: Job) -> models.JobSummary:
    """A row of a list: MCP `list_jobs`'s summary (prompt and error cut short) with the
    numbers a table shows, and whether the checks passed, not their outputs."""
    validation = job.validation or {}
    return models.JobSummary.model_validate({
        **job_summary(job).model_dump(), "project": job.project, "attempts": job.attempts,
        "max_attempts": job.max_attempts, "cost": f"{job.cost:f}", "tokens_in": job.tokens_in,
        "tokens_out": job.tokens_out,
        "validation_passed": validation.get("passed") if job.validation is not None else None,
    })


def _text_of(job: Job, part: str) -> str:
    """The job's whole output or diff; absent is a 404 that says why."""
    text: str | None = job.output if part == "output" else job.diff
    if text is None:
        raise NotFound(f"job {job.id} has no {part} ({job.status.value})")
    return text


def routes(s: ApiServices) -> list[ApiRoute]:
    async def job_of(request: Request) -> Job:
        """The job the path names, by whole id or unique prefix (`JobQueue.resolve`)."""
        return await s.queue.resolve(request.path_params["job_id"])

    async def list_jobs(request: Request) -> JobList:
        query = read_query(request, JobFilter)
        status = JobStatus(query.status) if query.status is not None else None
        jobs = await s.queue.list_jobs(status=status, limit=query.limit)
        return JobList(jobs=[summary_view(j) for j in jobs])

    async def get_job(request: Request) -> models.Job:
        return job_view(await job_of(request))

    async def cancel(request: Request) -> models.Job:
        job = await job_of(request)
        return job_view(await s.queue.cancel(job.id, actor=DIRECTOR))

    async def output(request: Request) -> Response:
        return PlainTextResponse(_text_of(await job_of(request), "output"))

    async def diff(request: Request) -> Response:
        return PlainTextResponse(_text_of(await job_of(request), "diff"))

    async def runlog(request: Request) -> Response:
        return PlainTextResponse(await s.tools.runlogs.text((await job_of(request)).id))

    async def history(request: Request) -> JobHistory:
        job = await job_of(request)
        changes = await s.feed.history("job", str(job.id))
        return JobHistory(job_id=str(job.id), changes=[event_view(e) for e in changes])

    async def counts(_: Request) -> QueueCounts:
        found = await s.queue.count_by_status()
        return QueueCounts(counts={k.value: v for k, v in found.items()},
                           total=sum(found.values()))

    async def export(request: Request) -> Response:
        """The job's before or after state as a tar, written by git and streamed from disk."""
        job = await job_of(request)
        state = read_query(request, ExportQuery).state
        scratch = Path(tempfile.mkdtemp(prefix="aura-export-"))
        try:
            tar = await s.sandboxes.export(job.id, state, scratch / f"{job.id}-{state}.tar")
        except BaseException:
            # Clean-up only; the error itself goes on to the exception handlers.
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return FileResponse(
            tar, media_type="application/x-tar", filename=tar.name,
            background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True),
        )

    async def apply(request: Request) -> models.ApplyResult:
        job = await job_of(request)
        applied = await s.changes.apply(job, actor=DIRECTOR)
        if not applied.already:
            # Only the Director key reaches this route: the call is the Director's decision
            # (policy `apply_diff`), recorded as an approval bound to exactly this change.
            await s.approvals.record_director_action(
                action="apply_diff", subject=str(job.id),
                params={"project": job.project, "after": applied.after, "diff": job.diff},
                summary=f"apply job {str(job.id)[:8]} to {job.project}: "
                        f"{len(applied.files)} file(s)")
        return models.ApplyResult(
            job_id=str(job.id), project=job.project or "", applied=not applied.already,
            already_applied=applied.already, files=list(applied.files))

    job_id = {"job_id": JOB_REF}
    return [
        ApiRoute("/jobs", {
            "GET": Operation(list_jobs, "Jobs, newest first, as summaries.", query=JobFilter,
                             answer=JobList),
        }),
        ApiRoute("/jobs/{job_id}", {
            "GET": Operation(get_job, "One job: status, checks, cost, output and diff (cut).",
                             answer=models.Job),
        }, params=job_id),
        ApiRoute("/jobs/{job_id}/cancel", {
            "POST": Operation(cancel, "Cancel a job; a finished one is left as it is.",
                              answer=models.Job),
        }, params=job_id),
        ApiRoute("/jobs/{job_id}/apply", {
            "POST": Operation(apply, "Write a succeeded job's change into its project; refused "
                              "(409) when a file it touches changed since the job began.",
                              answer=models.ApplyResult),
        }, params=job_id),
        ApiRoute("/jobs/{job_id}/history", {
            "GET": Operation(history, "The job's status changes, oldest first (as long as the "
                             "event feed keeps them).", answer=JobHistory),
        }, params=job_id),
        ApiRoute("/queue", {
            "GET": Operation(counts, "How many jobs are in each status.", answer=QueueCounts),
        }),
        ApiRoute("/jobs/{job_id}/output", {
            "GET": Operation(output, "The employee's whole output.", media_type=TEXT),
        }, params=job_id),
        ApiRoute("/jobs/{job_id}/diff", {
            "GET": Operation(diff, "The job's whole unified diff.", media_type=TEXT),
        }, params=job_id),
        ApiRoute("/jobs/{job_id}/runlog", {
            "GET": Operation(runlog, "The job's whole run log.", media_type=TEXT),
        }, params=job_id),
        ApiRoute("/jobs/{job_id}/export", {
            "GET": Operation(export, "The job's before or after state as a tar.",
                             query=ExportQuery, media_type="application/x-tar"),
        }, params=job_id),
    ]
