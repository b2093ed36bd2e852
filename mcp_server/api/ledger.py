"""`/api/v1/ledger`: the accountant's entries, one per model call, newest first."""

from __future__ import annotations

from starlette.requests import Request

from mcp_server.api.models import LedgerPage, Page
from mcp_server.api.payloads import read_query
from mcp_server.api.routing import ApiRoute, ApiServices, Operation


def routes(s: ApiServices) -> list[ApiRoute]:
    async def page(request: Request) -> LedgerPage:
        limit = read_query(request, Page).limit
        return LedgerPage.model_validate({"entries": await s.accountant.entries(s.db, limit=limit)})

    return [ApiRoute("/ledger", {
        "GET": Operation(page, "Ledger entries, newest first.", query=Page, answer=LedgerPage),
    })]
