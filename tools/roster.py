"""Roster and pool tools: list_employees and pool_status."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from pydantic import BaseModel

from tools.errors import tool_errors
from tools.services import ToolServices


class EmployeeList(BaseModel):
    employees: list[dict[str, Any]]


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
    async def list_employees() -> EmployeeList:
        employees = await services.roster.list_employees()
        return EmployeeList(employees=[
            {k: v for k, v in e.public().items() if k not in ("base_url", "created_at")}
            for e in employees
        ])

    @tool_errors
    async def pool_status() -> PoolStatus:
        return await pool_view(services)

    server.add_tool(
        list_employees,
        description="The roster: each employee's name, adapter, model, skills, status and "
        "price (USD per million tokens in/out). Use a name for submit_job or ask.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )
    server.add_tool(
        pool_status,
        description="The model slots (at most three): state empty/idle/busy/loading, the "
        "resident employee and the job each is running.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )
