"""Which client is calling: set by the HTTP edge's bearer-token check (or, over stdio, by the
token in `AURA_MCP_TOKEN`, see `mcp_server/stdio.py`), read by tools."""

from __future__ import annotations

from typing import Any

# The key under which the MCP endpoint's auth middleware leaves the token's name in the ASGI
# scope's state; the SDK hands the Starlette request to handlers as `request_context.request`.
CLIENT_STATE_KEY = "aura_client"
# A server reached with no transport request at all (in-process, as tests do) has no token.
STDIO_CLIENT = "stdio"


def client_from_request(request: Any) -> str:
    if request is None:
        return STDIO_CLIENT
    scope = getattr(request, "scope", None)
    state = scope.get("state", {}) if isinstance(scope, dict) else {}
    name = state.get(CLIENT_STATE_KEY) if isinstance(state, dict) else None
    return str(name) if name else STDIO_CLIENT
