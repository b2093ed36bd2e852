"""The migration runner against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from orchestra import migrations
from orchestra.errors import Conflict, InvalidInput


async def test_fresh_database_gets_every_migration_recorded(empty_db_url: str) -> None:
    applied = await migrations.migrate(empty_db_url)
    assert [m.version for m in applied] == [m.version for m in migrations.discover()]
    conn = await asyncpg.connect(empty_db_url)
    try:
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        slots = await conn.fetchval("SELECT count(*) FROM pool_slots")
        assert migrations.discover() and await migrations.is_current(conn)
    finally:
        await conn.close()
    assert [r["version"] for r in versions] == [m.version for m in applied]
    assert slots == 3


async def test_second_run_applies_nothing(empty_db_url: str) -> None:
    await migrations.migrate(empty_db_url)
    assert await migrations.migrate(empty_db_url) == []


async def test_concurrent_runners_apply_each_migration_once(empty_db_url: str) -> None:
    results = await asyncio.gather(*(migrations.migrate(empty_db_url) for _ in range(4)))
    applied_counts = sorted(len(r) for r in results)
    assert applied_counts == [0, 0, 0, len(migrations.discover())]
    conn = await asyncpg.connect(empty_db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(
            migrations.discover()
        )
    finally:
        await conn.close()


async def test_changed_migration_after_apply_is_refused(
    empty_db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "001_first.sql").write_text("CREATE TABLE t (x int);")
    await migrations.migrate(empty_db_url, tmp_path)
    (tmp_path / "001_first.sql").write_text("CREATE TABLE t (x bigint);")
    with pytest.raises(Conflict, match="changed after it was applied"):
        await migrations.migrate(empty_db_url, tmp_path)


async def test_failing_migration_leaves_nothing_half_applied(
    empty_db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE ok_table (x int);")
    (tmp_path / "002_bad.sql").write_text("CREATE TABLE half (x int); SELECT broken syntax here;")
    with pytest.raises(asyncpg.PostgresSyntaxError):
        await migrations.migrate(empty_db_url, tmp_path)
    conn = await asyncpg.connect(empty_db_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == 1
    finally:
        await conn.close()


def test_badly_named_migration_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_first.sql").write_text("SELECT 1;")
    with pytest.raises(InvalidInput, match=r"NNN_name\.sql"):
        migrations.discover(tmp_path)
