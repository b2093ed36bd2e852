"""Pool tools: pool_status."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from pydantic import BaseModel

from tools.errors import tool_errors
from tools.services import ToolServices


class SlotView(BaseModel):
    index: int
    state: str
    employee: str | None
    job_id: str | None
    since: str | None


class PoolStatus(BaseModel):
    slots: list[SlotView]


async def pool_view(services: ToolServices) -> PoolStatus:
    slots = await services.pool.slots()
    return PoolStatus(slots=[
        SlotView(index=s.index, state=s.state.value, employee=s.employee,
                 job_id=str(s.job_id) if s.job_id else None,
                 since=s.since.isoformat() if s.since else None)
        for s in slots
    ])


def register(server: MCPServer, services: ToolServices) -> None:
    @tool_errors
    async def pool_status() -> PoolStatus:
        return await pool_view(services)

    server.add_tool(
        pool_status,
        description="The model slots (at most three): state empty/idle/busy/loading, the "
        "resident employee and the job each is running.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )
