"""Talking to an `aura serve` a test started with `Workers.start(verb="serve")` (its first
process, data directory `data-0`): wait for `/ready`, open an MCP session with its first token."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.conftest import Workers


async def ready_status(http: httpx.AsyncClient, api: str) -> int | None:
    """`/ready`'s status code, or None when nothing answers."""
    try:
        return (await http.get(f"{api}/ready")).status_code
    except httpx.HTTPError:
        return None


async def wait_ready(api: str, group: Workers, timeout: float = 60) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if group.procs[0].poll() is not None:
                pytest.fail(f"aura serve exited:\n{group.logs()}")
            if await ready_status(http, api) == 200:
                return
            await asyncio.sleep(0.1)
    pytest.fail(f"aura serve not ready within {timeout}s:\n{group.logs()}")


@contextlib.asynccontextmanager
async def mcp_session(mcp: str, group: Workers) -> AsyncIterator[Client]:
    token = (group.root / "data-0" / "first-mcp.token").read_text().strip()
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    async with http, Client(streamable_http_client(f"{mcp}/mcp", http_client=http)) as client:
        yield client
