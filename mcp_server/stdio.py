"""The MCP server over stdio, identified by a token as over HTTP.

An IDE that spawns `aura mcp --stdio` passes its token in `AURA_MCP_TOKEN`. The token is
checked once, before the protocol starts; its name then rides on every incoming message the way
`BearerAuth` leaves it in an HTTP request's scope, so the tools, the governance middleware and
the audit read the caller with `client_from_request` and need not know the transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import ReadStream
from mcp.shared.message import ServerMessageMetadata, SessionMessage

from governance.access import TokenRegistry
from governance.identity import CLIENT_STATE_KEY
from orchestra.errors import Forbidden

TOKEN_VARIABLE = "AURA_MCP_TOKEN"


def presented_token(env: Mapping[str, str]) -> str:
    """The token in `AURA_MCP_TOKEN`; its absence is refused before anything starts."""
    presented = (env.get(TOKEN_VARIABLE) or "").strip()
    if not presented:
        raise Forbidden(f"{TOKEN_VARIABLE} is not set; `aura mcp --stdio` needs a client token "
                        "(create one with `aura token create NAME`)")
    return presented


async def client_for_token(tokens: TokenRegistry, presented: str) -> str:
    """The client's name for a token; an unknown or revoked one is refused in one line."""
    name = await tokens.verify(presented)
    if name is None:
        raise Forbidden(f"{TOKEN_VARIABLE} holds an unknown or revoked token; create one with "
                        "`aura token create NAME`")
    return name


@dataclass(frozen=True)
class StdioCaller:
    """Stands where an HTTP request stands: a `scope` whose state names the client."""

    client: str
    scope: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scope", {"type": "stdio",
                                           "state": {CLIENT_STATE_KEY: self.client}})


class IdentifiedReadStream:
    """The stdio read stream with every message stamped with the caller, as the streamable HTTP
    transport stamps each one with its request."""

    def __init__(self, inner: ReadStream[SessionMessage | Exception], caller: StdioCaller) -> None:
        self.inner = inner
        self.caller = caller

    def _stamped(self, item: SessionMessage | Exception) -> SessionMessage | Exception:
        if isinstance(item, Exception):
            return item
        return SessionMessage(item.message, ServerMessageMetadata(request_context=self.caller))

    async def receive(self) -> SessionMessage | Exception:
        return self._stamped(await self.inner.receive())

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        return self._stamped(await self.inner.__anext__())

    async def __aenter__(self) -> Self:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc_val: BaseException | None, exc_tb: TracebackType | None) -> None:
        await self.inner.__aexit__(exc_type, exc_val, exc_tb)


async def serve_stdio(server: MCPServer, client: str) -> None:
    """`MCPServer.run_stdio_async`, with the caller on every message. The SDK offers no hook
    on the stream, so this repeats its body (and `ReadStream` comes from a private module):
    compare with `run_stdio_async` when the SDK is upgraded."""
    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        await lowlevel.run(IdentifiedReadStream(read_stream, StdioCaller(client)), write_stream,
                           lowlevel.create_initialization_options())
