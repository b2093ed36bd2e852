"""Translates the core's errors into MCP tool errors, once, at this edge."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError

from orchestra.errors import AuraError

P = ParamSpec("P")
R = TypeVar("R")


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Re-raise `AuraError` as a `ToolError` whose text says what was wrong."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except AuraError as exc:
            raise ToolError(f"{exc.kind}: {exc}") from exc

    return wrapper
