"""The asyncpg pool and how the rest of the core borrows connections from it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from orchestra.errors import Unavailable

Connection = Any  # asyncpg.Connection or a pool proxy; asyncpg ships no usable stubs.


async def _init_connection(conn: Connection) -> None:
    # jsonb columns come back as Python objects and go in from Python objects.
    await conn.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


class Database:
    """Owns the asyncpg pool. `transaction()` is the one way state changes are written."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                init=_init_connection,
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise Unavailable(f"cannot connect to PostgreSQL: {exc}") from exc

    async def close(self, *, timeout: float = 5.0) -> None:
        """Close gracefully, or terminate the connections if that takes over `timeout` s."""
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), timeout)
            except TimeoutError:
                self._pool.terminate()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise Unavailable("the database is not open")
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A connection inside a transaction that commits on success and rolls back on error."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def is_reachable(self, timeout: float = 2.0) -> bool:
        """Whether PostgreSQL answers within `timeout` s. A server behind a broken network
        path accepts nothing and refuses nothing: without the bound, a probe would hang for
        the driver's connect timeout (a minute) instead of saying "not ready"."""
        try:
            async with asyncio.timeout(timeout), self.connection() as conn:
                await conn.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError, Unavailable, TimeoutError):
            return False
        return True
