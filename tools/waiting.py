"""Waiting for jobs on behalf of a tool call: until they are done or the call's time runs out,
with progress notifications meanwhile (some clients reset their own timeout on them)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from mcp.server.mcpserver import Context

from orchestra.events import JobEvents

# IDE clients give up on a call after about 60 s; no call here holds the line longer than 45.
MAX_WAIT_S = 45.0
DEFAULT_WAIT_S = 30.0
# Progress at least this often while waiting; some clients reset their timeout on it.
PROGRESS_EVERY_S = 5.0
MAX_PROGRESS_CHARS = 500

State = TypeVar("State")


async def wait_for_jobs(
    events: JobEvents,
    job_ids: Sequence[uuid.UUID],
    timeout_s: float,
    ctx: Context[Any, Any] | None,
    look: Callable[[], Awaitable[tuple[State, bool]]],
    describe: Callable[[State], Awaitable[str]],
) -> State:
    """Wait until `look()` says done, or `timeout_s` runs out, and return what it saw last
    (never an error). `look` is called again whenever one of `job_ids` changes, and at least
    every `PROGRESS_EVERY_S`, when `describe(state)` is sent to the client as progress."""
    deadline = time.monotonic() + timeout_s
    tick = 0
    with events.watch(*job_ids) as changed:
        while True:
            # Cleared before the look, never after: a change that lands while the jobs are
            # read or progress is reported must still wake the wait below (else a job that
            # ends then is seen only PROGRESS_EVERY_S later).
            changed.clear()
            state, done = await look()
            remaining = deadline - time.monotonic()
            if done or remaining <= 0:
                return state
            if ctx is not None:
                tick += 1
                await ctx.report_progress(tick, None, (await describe(state))[:MAX_PROGRESS_CHARS])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, PROGRESS_EVERY_S))
