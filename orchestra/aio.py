"""Two asyncio patterns the worker needs in several places."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def complete_despite_cancel(awaitable: Awaitable[T], *, timeout: float = 5.0) -> T:
    """Run `awaitable` to the end even if the caller is cancelled meanwhile.

    Clean-up (freeing a slot, handing a job back) must finish before the cancellation goes on,
    or a check right after could still see the half-done state. The cancellation is re-raised
    once the clean-up is done. `timeout` bounds the wait (raising `TimeoutError`), so a stuck
    database cannot hold a shutdown for ever; the lease rescue covers what is left undone.
    """
    task = asyncio.ensure_future(asyncio.wait_for(awaitable, timeout))
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return result


async def first_of(*waits: Awaitable[object]) -> None:
    """Wait until the first of `waits` completes, then cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
