"""Tasks backed by a consensus (migration 014): the task id is the consensus id.

A consensus is working while any member's job has not ended; once all have, it is cancelled
when a member ended cancelled (the caller's `tasks/cancel`, through `Consensuses.cancel`, or a
member's own cancel), else completed with the consensus tool's result, `complete: true`.
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from orchestra.errors import NotFound
from orchestra.models import JobStatus
from tools.consensus import consensus_result, progress
from tools.services import ToolServices
from tools.tasks import TaskPhase, TaskState, TaskTool


class ConsensusTasks:
    """A `TaskSource` over the consensus tables."""

    def __init__(self, services: ToolServices) -> None:
        self.services = services

    async def read(self, task_id: uuid.UUID) -> TaskState | None:
        try:
            current = await self.services.consensus.get(task_id)
        except NotFound:
            return None
        cancelled = any(m.job.status is JobStatus.CANCELLED for m in current.members)
        phase: TaskPhase = ("working" if not current.complete
                 else "cancelled" if cancelled else "ended")
        # A member's job moves after the consensus row is written: the task changed last when
        # its latest member did.
        updated = max([current.created_at, *(m.job.updated_at for m in current.members)])
        return TaskState(client=current.client, created_at=current.created_at,
                         updated_at=updated, phase=phase, message=progress(current),
                         result=partial(consensus_result, current))

    async def cancel(self, task_id: uuid.UUID, *, actor: str) -> None:
        # Each unfinished member is cancelled with its audit entry; answers already in stay.
        await self.services.consensus.cancel(task_id, actor=actor)


def _still_working(result: dict[str, Any]) -> str | None:
    """The consensus id when a member was still working at the call's deadline."""
    return None if result.get("complete", True) else str(result["consensus_id"])


def task_tools(services: ToolServices) -> dict[str, TaskTool]:
    """`consensus` answers inline when every member answered within timeout_s, and with a task
    for the consensus otherwise."""
    return {"consensus": TaskTool(durable_id=_still_working, source=ConsensusTasks(services))}
