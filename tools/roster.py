"""Roster tools: list_employees, and the roster with HR's scores as clients see it."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from pydantic import BaseModel

from orchestra.models import Scores
from orchestra.roster import SCORE_WINDOW, Roster
from tools.errors import tool_errors
from tools.services import ToolServices


class EmployeeList(BaseModel):
    employees: list[dict[str, Any]]


async def roster_view(roster: Roster, hidden: Collection[str] = ()) -> list[dict[str, Any]]:
    """Each employee's public fields (less `hidden`) with its `score` over the window."""
    employees = await roster.list_employees()
    scores = await roster.scores()
    unscored = Scores.empty(SCORE_WINDOW)  # hired after the scores were read
    return [
        {**{k: v for k, v in e.public().items() if k not in hidden},
         "score": scores.get(e.name, unscored).public()}
        for e in employees
    ]


def register(server: MCPServer, services: ToolServices) -> None:
    @tool_errors
    async def list_employees() -> EmployeeList:
        return EmployeeList(
            employees=await roster_view(services.roster, hidden=("base_url", "created_at"))
        )

    server.add_tool(
        list_employees,
        description="The roster: each employee's name, adapter, model, skills, status, price "
        "(USD per million tokens in/out) and score over its last 50 finished jobs (rates 0-1, "
        "p50 latency in ms, USD per success). Use a name for submit_job or ask.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )
