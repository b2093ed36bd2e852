"""Side tasks that a process needs alive (heartbeats, rescue, run-log shipping, anchors).

Modelled on procrastinate's worker: each side task runs until its stop event is set; one that
ends early, or fails, is a fault — it is logged loudly and `failed` is set, so the process
stops rather than going on half alive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from orchestra.errors import Unavailable

log = logging.getLogger("orchestra.supervisor")


class SideTaskFailed(Unavailable):
    """A supervised side task ended before it was asked to stop."""


class Supervisor:
    """Starts named side tasks, watches them, and stops them together."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._stopping = False
        self.failed = asyncio.Event()
        self.failure: SideTaskFailed | None = None

    def start(self, name: str, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(self._ended)
        self._tasks[name] = task

    def _ended(self, task: asyncio.Task[Any]) -> None:
        if self._stopping:
            return
        if task.cancelled():
            reason = "was cancelled"
        elif task.exception() is not None:
            reason = f"failed: {task.exception()!r}"
        else:
            reason = "ended unexpectedly"
        log.error("side task %s %s; stopping", task.get_name(), reason,
                  exc_info=None if task.cancelled() else task.exception())
        if self.failure is None:
            self.failure = SideTaskFailed(f"side task {task.get_name()} {reason}")
        self.failed.set()

    async def stop(self, timeout: float) -> None:
        """Wait up to `timeout` s for the tasks (whose stop events the caller has set), then
        cancel the rest."""
        self._stopping = True
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def raise_if_failed(self) -> None:
        if self.failure is not None:
            raise self.failure
