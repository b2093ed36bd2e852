"""Audit tools: audit_log, a client's own entries in the audit chain."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from governance.identity import client_from_request
from tools.errors import tool_errors
from tools.services import ToolServices


class AuditEntry(BaseModel):
    seq: int = Field(description="position in the chain")
    ts: str
    action: str
    subject: str | None
    details: dict[str, Any]


class AuditEntries(BaseModel):
    entries: list[AuditEntry]
    next_before_seq: int | None = Field(
        description="pass as before_seq for older entries; null at the end")


def register(server: MCPServer, services: ToolServices) -> None:
    @tool_errors
    async def audit_log(
        ctx: Context[Any, Any],
        limit: Annotated[int, Field(ge=1, le=100, description="entries per page")] = 20,
        before_seq: Annotated[int | None, Field(
            ge=1, description="next_before_seq from the previous page")] = None,
    ) -> AuditEntries:
        actor = f"client:{client_from_request(ctx.request_context.request)}"
        rows = await services.auditor.entries_of(services.db, actor, before_seq=before_seq,
                                                 limit=limit)
        entries = [AuditEntry(seq=r["seq"], ts=r["ts"].isoformat(), action=r["action"],
                              subject=r["subject"], details=r["details"]) for r in rows]
        more = len(entries) == limit
        return AuditEntries(entries=entries,
                            next_before_seq=entries[-1].seq if more else None)

    server.add_tool(
        audit_log,
        description="Your own entries in the audit log (your tool calls, the jobs you "
        "submitted), newest first; pass next_before_seq back for older ones.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )
