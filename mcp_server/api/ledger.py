"""`/api/v1/ledger`: the accountant's entries (charges, reservations, releases), newest
first, filtered, paged by cursor, with the whole filter's totals; `/ledger/spend`: the
charges of the last days summed per employee and per day."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from starlette.requests import Request

from governance.accountant import LedgerQuery
from mcp_server.api.models import LedgerFilter, LedgerPage, Spend, SpendQuery
from mcp_server.api.payloads import read_query
from mcp_server.api.routing import ApiRoute, ApiServices, Operation


def routes(s: ApiServices) -> list[ApiRoute]:
    async def page(request: Request) -> LedgerPage:
        q = read_query(request, LedgerFilter)
        query = LedgerQuery(
            employee=q.employee, job_id=uuid.UUID(q.job_id) if q.job_id else None,
            since=q.since, until=q.until, limit=q.limit,
            cursor=int(q.cursor) if q.cursor else None,
        )
        return LedgerPage.model_validate(await s.accountant.ledger(s.db, query))

    async def spend(request: Request) -> Spend:
        q = read_query(request, SpendQuery)
        return Spend.model_validate(await s.accountant.spend(s.db, q.days, datetime.now(UTC)))

    return [
        ApiRoute("/ledger", {
            "GET": Operation(page, "Ledger entries, newest first, with the filter's totals.",
                             query=LedgerFilter, answer=LedgerPage),
        }),
        ApiRoute("/ledger/spend", {
            "GET": Operation(spend, "Charges of the last days, per employee and per day.",
                             query=SpendQuery, answer=Spend),
        }),
    ]
