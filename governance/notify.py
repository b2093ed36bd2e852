"""Tells the Director that an approval waits: a JSON POST to `AURA_NOTIFY_URL` (ntfy, a chat
webhook…), in the background.

Never blocking: the request that created the approval, and any decision, go on at once; the
POST is retried a few times with backoff and then given up (logged). The body carries only
`kind`, `id`, `action`, `summary` and `expires_at`: never a key, a token or a prompt's
secrets beyond the summary the Director needs to decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import httpx

log = logging.getLogger("governance.notify")
ATTEMPTS = 4
FIRST_BACKOFF_S = 1.0
TIMEOUT_S = 5.0
FIELDS = ("id", "action", "summary", "expires_at")


class Notifier:
    """Posts approval notices to one URL; without a URL it does nothing."""

    def __init__(self, url: str | None, *, attempts: int = ATTEMPTS,
                 first_backoff_s: float = FIRST_BACKOFF_S, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url or None
        self.attempts = attempts
        self.first_backoff_s = first_backoff_s
        self.timeout_s = timeout_s
        self._tasks: set[asyncio.Task[None]] = set()

    def approval_requested(self, approval: Mapping[str, Any]) -> None:
        """Schedule the notice for a new pending approval (its `public()` shape)."""
        if self.url is None:
            return
        body = {"kind": "approval.requested", **{k: approval.get(k) for k in FIELDS}}
        task = asyncio.get_running_loop().create_task(self._post(body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, body: dict[str, Any]) -> None:
        assert self.url is not None
        delay = self.first_backoff_s
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            for attempt in range(1, self.attempts + 1):
                try:
                    answer = await client.post(self.url, json=body)
                    if answer.status_code < 300:
                        return
                    problem = f"HTTP {answer.status_code}"
                except httpx.HTTPError as exc:
                    problem = type(exc).__name__
                if attempt < self.attempts:
                    await asyncio.sleep(delay)
                    delay *= 2
        log.warning("could not notify the Director of approval %s after %d attempts: %s",
                    body["id"], self.attempts, problem)

    async def close(self, grace_s: float = 2.0) -> None:
        """Give notices under way a moment to go out, then stop them."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*pending, return_exceptions=True)
