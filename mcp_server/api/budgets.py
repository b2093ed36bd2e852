"""`/api/v1/budgets`: the Director's monthly limits (DESIGN §10's shapes), with what each has
spent and holds this period."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from governance.budgets import BudgetSpec, BudgetStatus
from mcp_server.api.fields import BUDGET_NAME
from mcp_server.api.models import Budget, BudgetBody, BudgetList
from mcp_server.api.payloads import read_body
from mcp_server.api.routing import DIRECTOR, ApiRoute, ApiServices, Created, Operation


def _budget(status: BudgetStatus) -> Budget:
    return Budget.model_validate(status.public())


def routes(s: ApiServices) -> list[ApiRoute]:
    async def list_budgets(_: Request) -> BudgetList:
        return BudgetList(budgets=[_budget(b) for b in await s.budgets.status()])

    async def put(request: Request) -> Budget | Created:
        body = await read_body(request, BudgetBody)
        spec = BudgetSpec(name=request.path_params["name"], scope=body.scope,
                          limit_usd=body.limit_usd, employee=body.employee, period=body.period)
        status, created = await s.budgets.put(spec, actor=DIRECTOR)
        return Created(_budget(status)) if created else _budget(status)

    async def delete(request: Request) -> Response:
        await s.budgets.delete(request.path_params["name"], actor=DIRECTOR)
        return Response(status_code=204)

    return [
        ApiRoute("/budgets", {
            "GET": Operation(list_budgets, "Every budget this month: limit, spent, reserved, "
                             "remaining.", answer=BudgetList),
        }),
        ApiRoute("/budgets/{name}", {
            "PUT": Operation(put, "Create (201) or change (200) a monthly budget, overall or "
                             "for one employee.", body=BudgetBody, answer=Budget,
                             may_create=True),
            "DELETE": Operation(delete, "Remove a budget; the ledger keeps every charge.",
                                status=204),
        }, params={"name": BUDGET_NAME}),
    ]
