"""Shared fixtures: a real PostgreSQL for the session, a fresh database per test.

The server is the embedded one from `pgserver`, or the one at `AURA_TEST_DATABASE_URL`. A
template database gets the migrations once; each test clones it (milliseconds) so no test sees
another's rows.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from orchestra.migrations import migrate
from orchestra.store.db import Database


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    external = os.environ.get("AURA_TEST_DATABASE_URL")
    if external:
        yield external
        return
    import pgserver

    # Not under pytest's tmp_path: pytest re-tightens /tmp/pytest-of-<user> to 0700 whenever
    # another session starts, which locks the embedded server's own user out of its data.
    pgdata = Path(tempfile.mkdtemp(prefix="aura-test-pg-"))
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> str:
    name = f"aura_template_{os.getpid()}"

    async def build() -> None:
        admin = await asyncpg.connect(pg_admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        await migrate(with_database(pg_admin_url, name))

    asyncio.run(build())
    return name


async def _create_from_template(admin_url: str, template: str) -> str:
    name = f"aura_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    return name


async def _drop(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def db_url(pg_admin_url: str, template_db: str) -> AsyncIterator[str]:
    """A migrated database of this test's own."""
    name = await _create_from_template(pg_admin_url, template_db)
    try:
        yield with_database(pg_admin_url, name)
    finally:
        await _drop(pg_admin_url, name)


@pytest.fixture
async def empty_db_url(pg_admin_url: str) -> AsyncIterator[str]:
    """An empty database (no migrations), for the migration runner's tests."""
    name = f"aura_empty_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(pg_admin_url, name)
    finally:
        await _drop(pg_admin_url, name)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url, min_size=1, max_size=5)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    root.mkdir()
    return root
