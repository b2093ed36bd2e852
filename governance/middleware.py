"""Applies governance to every MCP tool call: audited with client, tool, outcome and latency."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from mcp.server.context import CallNext, ServerRequestContext

from governance.identity import client_from_request
from governance.journal import AuditJournal, PendingEntry

log = logging.getLogger("governance.middleware")

ToolCallObserver = Callable[[str, str, float], None]


def _outcome(result: Any) -> str:
    is_error = getattr(result, "is_error", None)
    if is_error is None and isinstance(result, dict):
        is_error = result.get("isError")
    return "error" if is_error else "ok"


class GovernanceMiddleware:
    """An SDK `ServerMiddleware`: wraps `tools/call`, lets every other method pass.

    Every call is recorded in the audit chain as `mcp.tool_call` with the client's token name,
    the tool, the outcome and the latency, through the batching journal.
    """

    def __init__(self, journal: AuditJournal, observe: ToolCallObserver | None = None) -> None:
        self.journal = journal
        self.observe = observe

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        tool = str((ctx.params or {}).get("name", "?"))
        client = client_from_request(ctx.request)
        started = time.perf_counter()
        outcome = "exception"
        try:
            result = await call_next(ctx)
            outcome = _outcome(result)
            return result
        finally:
            latency = time.perf_counter() - started
            if self.observe is not None:
                self.observe(tool, outcome, latency)
            # The tool name is whatever the client sent: cleaned before it reaches the log.
            self.journal.add(PendingEntry.of(
                f"client:{client}", "mcp.tool_call", tool,
                {"outcome": outcome, "latency_ms": round(latency * 1000, 3)},
            ))
