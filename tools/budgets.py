"""Budget tools: budget_status (read-only)."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from governance.identity import client_from_request
from tools.errors import tool_errors
from tools.services import ToolServices


class BudgetView(BaseModel):
    name: str
    scope: str = Field(description="global, or employee (then `employee` names it)")
    employee: str | None
    limit_usd: str
    spent_usd: str
    reserved_usd: str = Field(description="held by calls running now (their worst case)")
    remaining_usd: str
    period: str
    period_start: str
    period_end: str


class MonthView(BaseModel):
    period_start: str
    period_end: str
    spent_usd: str = Field(description="everyone's spend this month")
    your_spent_usd: str = Field(description="spend on this client's jobs this month")


class BudgetStatusResult(BaseModel):
    budgets: list[BudgetView]
    month: MonthView


def register(server: MCPServer, services: ToolServices) -> None:
    @tool_errors
    async def budget_status(ctx: Context[Any, Any]) -> BudgetStatusResult:
        client = client_from_request(ctx.request_context.request)
        budgets = await services.budgets.status()
        month = await services.budgets.month_spend(client)
        return BudgetStatusResult(
            budgets=[BudgetView(**b.public()) for b in budgets],
            month=MonthView(**month.public()),
        )

    server.add_tool(
        budget_status,
        description="The budgets your work runs under (global and per employee: limit, spent, "
        "reserved, remaining this month) and this month's spend. A call whose worst case "
        "does not fit is refused.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )
