"""The embedded PostgreSQL lets in only who has its password, including data made with trust."""

from __future__ import annotations

import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from mcp_server import embedded_pg


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path (see tests/conftest.py: pgserver's user must reach it).
    path = Path(tempfile.mkdtemp(prefix="aura-test-embedded-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _without_password(dsn: str) -> str:
    return embedded_pg.with_password(dsn, "").replace(":@", "@", 1)


async def _refused(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn)
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        return True
    await conn.close()
    return False


async def test_the_embedded_server_needs_its_password(data_dir: Path) -> None:
    server = embedded_pg.start(data_dir)
    try:
        password_file = data_dir / embedded_pg.PASSWORD_FILE
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        conn = await asyncpg.connect(server.dsn)
        assert await conn.fetchval("SELECT current_user") == "postgres"
        await conn.close()
        assert await _refused(_without_password(server.dsn))
        assert await _refused(embedded_pg.with_password(server.dsn, "guess"))
    finally:
        server.stop()
    again = embedded_pg.start(data_dir)  # a second start reuses the password
    try:
        assert again.dsn == server.dsn
        conn = await asyncpg.connect(again.dsn)
        await conn.close()
    finally:
        again.stop()


async def test_a_data_directory_made_with_trust_is_secured_on_start(data_dir: Path) -> None:
    import pgserver

    old = pgserver.get_server(data_dir / "pg", cleanup_mode="stop")
    trusting = old.get_uri()
    conn = await asyncpg.connect(trusting)  # as pgserver leaves it: anyone gets in
    await conn.close()
    old.cleanup()
    server = embedded_pg.start(data_dir)
    try:
        assert "scram-sha-256" in (data_dir / "pg" / "pg_hba.conf").read_text()
        assert await _refused(trusting)
        conn = await asyncpg.connect(server.dsn)
        await conn.close()
    finally:
        server.stop()
