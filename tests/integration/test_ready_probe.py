"""The readiness probe's database check answers in bounded time, up or not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from orchestra.store.db import Database


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never says a word, like a server behind a
    network path that has gone quiet."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_silent_database_is_not_ready_within_the_bound(silent_port: int) -> None:
    db = Database(f"postgresql://aura:x@127.0.0.1:{silent_port}/aura", min_size=0)
    await db.open()  # no connection made yet
    try:
        started = time.monotonic()
        assert await db.is_reachable(timeout=0.5) is False
        assert time.monotonic() - started < 2.0
    finally:
        await db.close(timeout=1)


async def test_a_live_database_is_reachable(db: Database) -> None:
    assert await db.is_reachable(timeout=0.5) is True
