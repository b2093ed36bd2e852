"""`/api/v1/pool`: the model slots and who is in them."""

from __future__ import annotations

from starlette.requests import Request

from mcp_server.api.models import Pool
from mcp_server.api.routing import ApiRoute, ApiServices, Operation
from tools.pool import pool_view


def routes(s: ApiServices) -> list[ApiRoute]:
    async def show(_: Request) -> Pool:
        return Pool.model_validate((await pool_view(s.tools)).model_dump())

    return [ApiRoute("/pool", {
        "GET": Operation(show, "The pool's slots: state, resident employee, job, since when.",
                         answer=Pool),
    })]
