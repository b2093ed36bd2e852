"""`aura retention prune`: the dry run lists and changes nothing; the prune takes only what is
older than the cutoff, never the audit log or the ledger, and is approved and audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from governance import director_key
from mcp_server.app import System
from mcp_server.operations.prune import Pruner, parse_age
from mcp_server.runner import record_director_key
from mcp_server.settings import Settings
from orchestra import retention
from orchestra.errors import InvalidInput
from tests.integration.helpers import hire

NOW = datetime.now(UTC)
CUTOFF = NOW - timedelta(days=365)


async def _job(system: System, finished: datetime) -> uuid.UUID:
    job_id = uuid.uuid4()
    async with system.db.connection() as conn:
        await conn.execute(
            "INSERT INTO jobs (id, kind, prompt, status, employee, output, diff, validation,"
            " finished_at) VALUES ($1, 'task', 'p', 'succeeded', 'alice', 'out', 'diff',"
            " '{\"ok\": true}', $2)", job_id, finished)
        await conn.execute("INSERT INTO job_runlog (job_id, ts, section, body) "
                           "VALUES ($1, now(), 'prompt', 'words')", job_id)
        await conn.execute("INSERT INTO ledger (job_id, employee, kind, latency_ms) "
                           "VALUES ($1, 'alice', 'call', 5)", job_id)
    return job_id


def _leftovers(settings: Settings, job_id: uuid.UUID) -> list[Path]:
    made = [settings.sandbox_dir / str(job_id), settings.sandbox_dir / f"{job_id}.home",
            settings.snapshot_dir / str(job_id)]
    for path in made:
        path.mkdir(parents=True)
        (path / "file.txt").write_text("x")
    return made


def _backup_file(settings: Settings, stamp: str) -> Path:
    settings.backup_dir.mkdir(parents=True, exist_ok=True)
    path = settings.backup_dir / f"aura-manual-{stamp}.dump"
    path.write_bytes(b"PGDMP")
    path.with_name(path.name + ".anchor.json").write_text("{}")
    return path


@pytest.fixture
def pruner(system: System, settings: Settings) -> Pruner:
    return Pruner(system.db, system.auditor, system.approvals, retention.Places(
        settings.sandbox_dir, settings.snapshot_dir, settings.backup_dir))


async def _counts(system: System) -> dict[str, int]:
    async with system.db.connection() as conn:
        return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}"))
                for t in ("jobs", "job_runlog", "ledger", "audit_log", "approvals")}


async def _world(system: System, settings: Settings) -> tuple[uuid.UUID, uuid.UUID,
                                                               list[Path], list[Path]]:
    await hire(system.db, "alice")
    old = await _job(system, NOW - timedelta(days=400))
    new = await _job(system, NOW - timedelta(days=30))
    old_files = _leftovers(settings, old)
    new_files = _leftovers(settings, new)
    old_backups = [_backup_file(settings, "20200101T000000000000Z"),
                   _backup_file(settings, "20200102T000000000000Z")]
    new_backups = [_backup_file(settings, NOW.strftime("%Y%m%dT%H%M%S%fZ"))]
    return old, new, [*old_files, *old_backups], [*new_files, *new_backups]


async def test_the_dry_run_lists_what_would_go_and_prunes_nothing(
    system: System, settings: Settings, pruner: Pruner
) -> None:
    _, _, old_files, new_files = await _world(system, settings)
    before = await _counts(system)
    found = await pruner.dry_run(CUTOFF)
    assert (found.old_jobs, found.jobs_with_output, found.runlog_entries) == (1, 1, 1)
    assert sorted([*found.sandboxes, *found.snapshots, *found.backups]) == sorted(old_files)
    assert "audit_log" in found.as_dict()["never"]
    assert await _counts(system) == before
    assert all(p.exists() for p in [*old_files, *new_files])


async def test_yes_prunes_only_what_is_older_and_never_the_audit_log_or_ledger(
    system: System, settings: Settings, pruner: Pruner
) -> None:
    old, new, old_files, new_files = await _world(system, settings)
    before = await _counts(system)
    lines: list[str] = []
    done = await pruner.prune(CUTOFF, system.sandboxes.remove, lines.append)
    assert (done.jobs_cleared, done.runlog_deleted, done.files_removed) == (1, 1, 4)
    assert lines  # progress was shown
    after = await _counts(system)
    assert after["jobs"] == before["jobs"] and after["ledger"] == before["ledger"]
    assert after["job_runlog"] == before["job_runlog"] - 1
    assert after["audit_log"] > before["audit_log"]  # added to, never taken from
    async with system.db.connection() as conn:
        rows = {r["id"]: r for r in await conn.fetch(
            "SELECT id, output, diff, validation, prompt FROM jobs")}
        assert (rows[old]["output"], rows[old]["diff"], rows[old]["validation"]) == (
            None, None, None)
        assert rows[old]["prompt"] == "p" and rows[new]["output"] == "out"
        approval = await conn.fetchrow("SELECT action, status, decided_by FROM approvals")
        audited = await conn.fetchrow(
            "SELECT actor, details FROM audit_log WHERE action = 'retention.pruned'")
    assert dict(approval) == {"action": "retention_prune", "status": "approved",
                              "decided_by": "director"}
    assert audited["actor"] == "director"
    assert not any(p.exists() for p in old_files)
    assert all(p.exists() for p in new_files)
    assert (await system.auditor.verify(system.db)).ok
    # A second run finds nothing left.
    again = await pruner.dry_run(CUTOFF)
    assert (again.jobs_with_output, again.runlog_entries, len(again.sandboxes),
            len(again.snapshots), len(again.backups)) == (0, 0, 0, 0, 0)


async def test_the_newest_backup_is_kept_however_old(
    settings: Settings, pruner: Pruner
) -> None:
    only = _backup_file(settings, "20200101T000000000000Z")
    assert (await pruner.dry_run(CUTOFF)).backups == []
    assert only.exists()


def test_ages_are_whole_hours_days_or_weeks() -> None:
    assert parse_age("365d") == timedelta(days=365)
    assert parse_age("2w") == timedelta(weeks=2) and parse_age("36h") == timedelta(hours=36)
    for bad in ("365", "1y", "-3d", "0d", "d"):
        with pytest.raises(InvalidInput, match=r"not an age.*365d"):
            parse_age(bad)


async def test_the_director_key_record_is_a_salted_digest_rewritten_only_on_change(
    system: System,
) -> None:
    async with system.db.transaction() as conn:
        assert await director_key.verified(conn, "k1") is None  # nothing recorded yet
        assert await director_key.record(conn, "k1", system.auditor) is True
        assert await director_key.record(conn, "k1", system.auditor) is False  # a restart
        stored = await conn.fetchval("SELECT digest FROM director_key_record")
        assert "k1" not in stored and stored.startswith("scrypt$")
        assert await director_key.verified(conn, "k1") is True
        assert await director_key.verified(conn, "k2") is False
        assert await director_key.record(conn, "k2", system.auditor) is True  # key rotated
        assert await director_key.verified(conn, "k1") is False
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'director_key.recorded'")
    assert audited == 2


async def test_the_process_serving_the_api_records_its_director_key(system: System) -> None:
    await record_director_key(system)  # what `aura serve` does at start, before serving
    async with system.db.connection() as conn:
        assert await director_key.verified(conn, system.director_key) is True
