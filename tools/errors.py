"""Translates errors into MCP tool errors, once, at this edge: the core's `AuraError` kinds, the
SDK's argument-validation failures, and anything unexpected."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import CallToolResult, InputRequiredResult
from pydantic import ValidationError

from orchestra.errors import AuraError, InvalidInput
from tools.inputs import invalid_fields

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("tools.errors")


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Re-raise `AuraError` as a `ToolError` whose text says what was wrong."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except AuraError as exc:
            raise ToolError(f"{exc.kind}: {exc}") from exc

    return wrapper


class ToolServer(MCPServer[Any]):
    """The SDK's `MCPServer`, whose tool errors all read `<kind>: <what was wrong>`.

    The SDK refuses arguments that fail a tool's schema with pydantic's own report (type codes,
    the rejected value, a documentation URL), and answers a crash with a bare "Error executing
    tool <name>". Here the first names each argument in plain words, and the second says it
    was logged, under an incident id the Director can find in the log.
    """

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            raise _unexpected(name, exc) from None
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                # Chained to the ValidationError so the SDK logs the field names, not values.
                refused: InvalidInput = invalid_fields(exc.__cause__)
                raise ToolError(f"Error executing tool {name}: {refused.kind}: {refused}") \
                    from exc.__cause__
            raise


def log_incident(logger: logging.Logger, what: str, exc: BaseException) -> str:
    """Log an unexpected failure with its traceback under a fresh incident id, and return the
    id: the caller is told only the id, the Director finds the rest in the log."""
    incident = uuid.uuid4().hex[:12]
    logger.error("%s (incident %s)", what, incident, exc_info=exc, extra={"incident": incident})
    return incident


def _unexpected(tool: str, exc: UnexpectedToolError) -> ToolError:
    incident = log_incident(log, f"tool {tool!r} failed unexpectedly", exc.__cause__ or exc)
    return ToolError(
        f"Error executing tool {tool}: internal_error: the tool failed unexpectedly; "
        f"the error is logged as incident {incident}"
    )
