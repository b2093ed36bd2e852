"""Applies governance to every MCP tool call and task method: audited with client, subject,
outcome and latency."""

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


def _task_of(result: Any) -> str | None:
    """The task id when a tool call answered with a task (the MCP Tasks extension)."""
    if isinstance(result, dict) and result.get("resultType") == "task":
        return str(result.get("taskId"))
    return None


# The Tasks extension's methods act on a task (a job) by id: audited like tool calls.
TASK_METHODS = frozenset({"tasks/get", "tasks/update", "tasks/cancel"})


class GovernanceMiddleware:
    """An SDK `ServerMiddleware`: wraps `tools/call` and the task methods, lets every other
    method pass.

    Every call is recorded in the audit chain with the client's token name, the outcome and
    the latency, through the batching journal: a tool call as `mcp.tool_call` on the tool (with
    the task id when it answered with a task), a task method as `mcp.task_call` on the task.
    """

    def __init__(self, journal: AuditJournal, observe: ToolCallObserver | None = None) -> None:
        self.journal = journal
        self.observe = observe

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method != "tools/call" and ctx.method not in TASK_METHODS:
            return await call_next(ctx)
        params = ctx.params or {}
        is_tool = ctx.method == "tools/call"
        subject = str(params.get("name" if is_tool else "taskId", "?"))
        client = client_from_request(ctx.request)
        started = time.perf_counter()
        outcome = "exception"
        details: dict[str, Any] = {} if is_tool else {"method": ctx.method}
        try:
            result = await call_next(ctx)
            outcome = _outcome(result)
            if (task := _task_of(result)) is not None:
                details["task"] = task
            return result
        finally:
            latency = time.perf_counter() - started
            if self.observe is not None and is_tool:
                self.observe(subject, outcome, latency)
            # The subject is whatever the client sent: cleaned before it reaches the log.
            self.journal.add(PendingEntry.of(
                f"client:{client}", "mcp.tool_call" if is_tool else "mcp.task_call", subject,
                {"outcome": outcome, "latency_ms": round(latency * 1000, 3), **details},
            ))
