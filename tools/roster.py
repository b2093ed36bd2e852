"""Roster tools: list_employees."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from pydantic import BaseModel

from tools.errors import tool_errors
from tools.services import ToolServices


class EmployeeList(BaseModel):
    employees: list[dict[str, Any]]


def register(server: MCPServer, services: ToolServices) -> None:
    @tool_errors
    async def list_employees() -> EmployeeList:
        employees = await services.roster.list_employees()
        return EmployeeList(employees=[
            {k: v for k, v in e.public().items() if k not in ("base_url", "created_at")}
            for e in employees
        ])

    server.add_tool(
        list_employees,
        description="The roster: each employee's name, adapter, model, skills, status and "
        "price (USD per million tokens in/out). Use a name for submit_job or ask.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )
