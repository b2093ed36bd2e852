"""Backups and restores against the real server: a restore into a fresh database holds the
same rows and the same audit chain, verified against the anchor written beside the dump."""

from __future__ import annotations

import json
import os
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from governance.anchors import Anchor, AnchorFile
from mcp_server.app import System
from mcp_server.operations.restore import HOME_ANCHORS, restore_home
from mcp_server.operations.tools import pg_tool
from mcp_server.settings import Settings
from orchestra import backups
from orchestra.errors import Conflict, InvalidInput
from tests.integration.helpers import add_finished_job, add_job, hire

_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY 1
"""


async def _counts(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        tables = [r["relname"] for r in await conn.fetch(_TABLES)]
        return {t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"')) for t in tables}
    finally:
        await conn.close()


async def _head(dsn: str) -> tuple[int, str]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow("SELECT seq, hash FROM audit_head")
        return int(row["seq"]), str(row["hash"])
    finally:
        await conn.close()


async def _history(system: System) -> None:
    await hire(system.db, "alice")
    await add_finished_job(system.db, "alice", "succeeded", datetime.now(UTC))
    await add_job(system.db, uuid.uuid4(), output="an answer", diff="--- a\n+++ b\n")


async def _backup(dsn: str, backup_dir: Path) -> tuple[Path, backups.BackupAnchor]:
    lines: list[str] = []
    path, anchor = await backups.backup(dsn, backup_dir, pg_tool("pg_dump"),
                                        label="manual", progress=lines.append)
    assert any("dumping contents of table" in line for line in lines)  # progress was shown
    return path, anchor


async def test_restore_into_a_fresh_database_has_every_row_and_the_audit_head(
    system: System, settings: Settings, db_url: str, empty_db_url: str
) -> None:
    await _history(system)
    path, anchor = await _backup(db_url, settings.backup_dir)
    assert json.loads(backups.anchor_path(path).read_text())["seq"] == anchor.seq > 0
    before, head = await _counts(db_url), await _head(db_url)

    restored = await restore_home(empty_db_url, path, settings.data_dir, force=False,
                                  progress=lambda _: None)

    assert restored.report.ok and restored.report.head_seq == head[0] == anchor.seq
    after = await _counts(empty_db_url)
    # Every table, row for row; the restore itself adds its one audit entry.
    assert after == {**before, "audit_log": before["audit_log"] + 1}
    conn = await asyncpg.connect(empty_db_url)
    try:
        assert await conn.fetchval("SELECT hash FROM audit_log WHERE seq = $1",
                                   head[0]) == head[1]
        last = await conn.fetchrow("SELECT action, details FROM audit_log ORDER BY seq DESC")
        assert last["action"] == "backup.restored"
        assert json.loads(last["details"])["verified"] is True
    finally:
        await conn.close()
    # The home's anchor file starts again from the restored history.
    anchored = [json.loads(x) for x in (settings.data_dir / HOME_ANCHORS).read_text()
                .splitlines()]
    assert anchored[0]["seq"] == anchor.seq and anchored[-1]["seq"] == head[0] + 1


async def test_restore_refuses_a_database_that_is_not_empty_without_force(
    system: System, settings: Settings, db_url: str, empty_db_url: str
) -> None:
    await _history(system)
    path, _ = await _backup(db_url, settings.backup_dir)
    await restore_home(empty_db_url, path, settings.data_dir, force=False,
                       progress=lambda _: None)
    with pytest.raises(Conflict, match=r"not empty.*--force"):
        await restore_home(empty_db_url, path, settings.data_dir, force=False,
                           progress=lambda _: None)
    again = await restore_home(empty_db_url, path, settings.data_dir, force=True,
                               progress=lambda _: None)
    assert again.report.ok
    assert (await _counts(empty_db_url))["employees"] == (await _counts(db_url))["employees"]


async def test_a_backup_whose_log_was_rewritten_fails_verification(
    system: System, settings: Settings, db_url: str, empty_db_url: str
) -> None:
    await _history(system)
    conn = await asyncpg.connect(db_url)
    try:  # a superuser's edit of one entry, behind the append-only trigger's back
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        await conn.execute("""UPDATE audit_log SET details = '{"forged": true}' WHERE seq = 1""")
    finally:
        await conn.close()
    path, _ = await _backup(db_url, settings.backup_dir)
    restored = await restore_home(empty_db_url, path, settings.data_dir, force=False,
                                  progress=lambda _: None)
    assert not restored.report.ok
    assert (restored.report.first_bad_seq, restored.report.kind) == (1, "content")


async def test_an_anchor_that_does_not_match_the_dump_fails_verification(
    system: System, settings: Settings, db_url: str, empty_db_url: str
) -> None:
    await _history(system)
    path, anchor = await _backup(db_url, settings.backup_dir)
    backups.write_anchor(path, backups.BackupAnchor(anchor.seq, "f" * 64))
    restored = await restore_home(empty_db_url, path, settings.data_dir, force=False,
                                  progress=lambda _: None)
    assert not restored.report.ok and restored.report.kind == "head_mismatch"


async def test_a_dump_without_its_anchor_is_refused_before_anything_changes(
    settings: Settings, db_url: str, empty_db_url: str
) -> None:
    path, _ = await _backup(db_url, settings.backup_dir)
    backups.anchor_path(path).unlink()
    with pytest.raises(InvalidInput, match=r"anchor\.json is missing"):
        await restore_home(empty_db_url, path, settings.data_dir, force=False,
                           progress=lambda _: None)
    assert await _counts(empty_db_url) == {}


async def test_backups_are_listed_and_only_the_newest_scheduled_ones_kept(
    settings: Settings, db_url: str
) -> None:
    made = [(await backups.backup(db_url, settings.backup_dir, pg_tool("pg_dump"),
                                  label="scheduled"))[0] for _ in range(3)]
    manual, _ = await _backup(db_url, settings.backup_dir)
    listed = backups.list_backups(settings.backup_dir)
    assert [b.path for b in listed] == [*made, manual] and all(b.anchored for b in listed)
    assert backups.keep_last(settings.backup_dir, "scheduled", 2) == [made[0]]
    assert not backups.anchor_path(made[0]).exists()
    assert [b.path for b in backups.list_backups(settings.backup_dir)] == [*made[1:], manual]


async def test_backups_are_private_to_their_owner_whatever_the_umask(
    settings: Settings, db_url: str
) -> None:
    backup_dir = settings.backup_dir / "fresh"
    previous = os.umask(0o000)  # the most permissive: without the fix, everything is 0777/0666
    try:
        path, _ = await backups.backup(db_url, backup_dir, pg_tool("pg_dump"), label="manual")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(backups.anchor_path(path).stat().st_mode) == 0o600


async def test_restore_checks_the_home_anchors_up_to_the_restored_head(
    system: System, settings: Settings, db_url: str, empty_db_url: str
) -> None:
    await _history(system)
    seq, good = await _head(db_url)
    home = AnchorFile(settings.data_dir / HOME_ANCHORS)
    home.record(Anchor(seq, good))
    path, _ = await _backup(db_url, settings.backup_dir)
    # Anchors past the backup's head are of the history the restore replaces: not checked.
    home.record(Anchor(seq + 1000, "e" * 64))
    restored = await restore_home(empty_db_url, path, settings.data_dir, force=False,
                                  progress=lambda _: None)
    assert restored.ok and restored.home_report is not None and restored.home_report.ok


async def test_a_home_anchor_that_disagrees_with_the_restored_chain_fails_the_restore(
    system: System, settings: Settings, db_url: str, empty_db_url: str
) -> None:
    await _history(system)
    seq, _ = await _head(db_url)
    # The home recorded another hash at `seq` than the backup holds (a dump and its
    # anchor.json forged together would look exactly like this).
    AnchorFile(settings.data_dir / HOME_ANCHORS).record(Anchor(seq, "d" * 64))
    path, _ = await _backup(db_url, settings.backup_dir)
    restored = await restore_home(empty_db_url, path, settings.data_dir, force=False,
                                  progress=lambda _: None)
    assert restored.report.ok and not restored.ok  # the backup's own anchor holds
    assert restored.home_report is not None
    assert (restored.home_report.first_bad_seq, restored.home_report.kind) == (
        seq, "head_mismatch")
    # Kept aside, not lost: the evidence of the disagreement.
    assert restored.replaced_anchors is not None
    assert AnchorFile(restored.replaced_anchors).read()[-1] == Anchor(seq, "d" * 64)
    conn = await asyncpg.connect(empty_db_url)
    try:
        details = await conn.fetchval(
            "SELECT details FROM audit_log WHERE action = 'backup.restored'")
        assert json.loads(details)["verified"] is False
    finally:
        await conn.close()


async def test_an_unreadable_home_anchor_file_stops_the_restore_before_it_starts(
    settings: Settings, db_url: str, empty_db_url: str
) -> None:
    path, _ = await _backup(db_url, settings.backup_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / HOME_ANCHORS).write_text("not json\n")
    with pytest.raises(InvalidInput, match=r"audit-anchors\.jsonl is not an anchor file"):
        await restore_home(empty_db_url, path, settings.data_dir, force=False,
                           progress=lambda _: None)
    assert await _counts(empty_db_url) == {}
