"""Talking to the `aura serve` a test started with `Workers.serve()`: its `/ready` status, and
an MCP session with the first token it wrote."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import httpx2
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.conftest import Workers


async def ready_status(http: httpx.AsyncClient, group: Workers) -> int | None:
    """`/ready`'s status code, or None when nothing answers."""
    try:
        return (await http.get(f"{group.api}/ready")).status_code
    except httpx.HTTPError:
        return None


@contextlib.asynccontextmanager
async def mcp_session(group: Workers) -> AsyncIterator[Client]:
    token = (group.root / "data-serve" / "first-mcp.token").read_text().strip()
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    async with http, Client(streamable_http_client(f"{group.mcp}/mcp",
                                                   http_client=http)) as client:
        yield client
