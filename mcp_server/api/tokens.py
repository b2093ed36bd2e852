"""`/api/v1/tokens`: the MCP clients' bearer tokens (created, listed by name, revoked)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mcp_server.api.fields import TOKEN_NAME
from mcp_server.api.models import NewToken, TokenInfo, TokenIssued, TokenList
from mcp_server.api.payloads import read_body
from mcp_server.api.routing import DIRECTOR, ApiRoute, ApiServices, Operation


def routes(s: ApiServices) -> list[ApiRoute]:
    async def create(request: Request) -> TokenIssued:
        body = await read_body(request, NewToken)
        issued = await s.tokens.create(body.name, actor=DIRECTOR)
        return TokenIssued(name=issued.name, token=issued.token)

    async def list_tokens(_: Request) -> TokenList:
        return TokenList(tokens=[TokenInfo(**t) for t in await s.tokens.list_tokens()])

    async def revoke(request: Request) -> Response:
        await s.tokens.revoke(request.path_params["name"], actor=DIRECTOR)
        return Response(status_code=204)

    return [
        ApiRoute("/tokens", {
            "POST": Operation(create, "Create a token for one MCP client; shown only here.",
                              body=NewToken, answer=TokenIssued, status=201),
            "GET": Operation(list_tokens, "List tokens by name (never the tokens), revoked "
                             "ones included.", answer=TokenList),
        }),
        ApiRoute("/tokens/{name}", {
            "DELETE": Operation(revoke, "Revoke a token; its name is free again.", status=204),
        }, params={"name": TOKEN_NAME}),
    ]
