"""Tasks backed by one job row (submit_job, ask): the task id is the job id."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from functools import partial

from pydantic import BaseModel

from orchestra.errors import NotFound
from orchestra.models import Job, JobKind, JobStatus
from tools.services import ToolServices
from tools.shaping import job_result
from tools.tasks import TaskPhase, TaskState

_WORKING = {
    JobStatus.PENDING_APPROVAL: "pending_approval: waiting for the Director's decision",
    JobStatus.QUEUED: "queued",
    JobStatus.RUNNING: "running",
    JobStatus.VALIDATING: "validating: running the acceptance checks",
}


class JobTasks:
    """A `TaskSource` over the jobs table. `finished` renders a terminal job of each kind as
    the tool that started it answers (`get_job`'s shape for a kind without an entry)."""

    def __init__(
        self, services: ToolServices, finished: Mapping[JobKind, Callable[[Job], BaseModel]]
    ) -> None:
        self.services = services
        self.finished = dict(finished)

    async def read(self, task_id: uuid.UUID) -> TaskState | None:
        """Working while the job has not ended (waiting for the Director's approval included),
        cancelled, or ended with what its tool answers for it."""
        try:
            job = await self.services.queue.get(task_id)
        except NotFound:
            return None
        render = partial(self.finished.get(job.kind, job_result), job)
        if not job.status.is_terminal:
            last = await self.services.runlogs.last_line(job.id)
            message = _WORKING.get(job.status, job.status.value)
            return self._state(job, "working", f"{message}: {last}" if last else message,
                               render)
        if job.status is JobStatus.CANCELLED:
            return self._state(job, "cancelled", job.error or "cancelled", render)
        return self._state(job, "ended", f"job {job.status.value}", render)

    @staticmethod
    def _state(job: Job, phase: TaskPhase, message: str,
               render: Callable[[], BaseModel]) -> TaskState:
        return TaskState(client=job.client, created_at=job.created_at, updated_at=job.updated_at,
                         phase=phase, message=message, result=render)

    async def cancel(self, task_id: uuid.UUID, *, actor: str) -> None:
        # Audited with the move, in its transaction; a job that already ended stays as is.
        await self.services.queue.cancel(task_id, actor=actor)
