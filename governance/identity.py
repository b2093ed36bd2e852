"""Which client is calling: set by the HTTP edge's bearer-token check, read by tools."""

from __future__ import annotations

from typing import Any

# The key under which the MCP endpoint's auth middleware leaves the token's name in the ASGI
# scope's state; the SDK hands the Starlette request to handlers as `request_context.request`.
CLIENT_STATE_KEY = "aura_client"
# Over stdio there is no token: the IDE that spawned the process is the machine's user.
STDIO_CLIENT = "stdio"


def client_from_request(request: Any) -> str:
    if request is None:
        return STDIO_CLIENT
    scope = getattr(request, "scope", None)
    state = scope.get("state", {}) if isinstance(scope, dict) else {}
    name = state.get(CLIENT_STATE_KEY) if isinstance(state, dict) else None
    return str(name) if name else STDIO_CLIENT
