"""`aura backup`, `aura backup list`, `aura restore`, `aura retention prune` as a user runs
them: on the host, against the home's database (here AURA_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from governance import director_key
from governance.auditor import Auditor
from mcp_server.cli.app import main
from orchestra.store.db import Database
from tests.integration.helpers import TEST_POLICY


async def _aura(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in {"HOME": tmp_path / "home", "BACKUP_DIR": tmp_path / "backups",
                        "SANDBOX_DIR": tmp_path / "sandboxes",
                        "SNAPSHOT_DIR": tmp_path / "snapshots",
                        "POLICY_FILE": TEST_POLICY}.items():
        monkeypatch.setenv(f"AURA_{name}", str(value))
    monkeypatch.setenv("AURA_DIRECTOR_KEY", "test-director-key")
    return tmp_path


async def _record_director_key(dsn: str, key: str) -> None:
    """What `aura serve` does at start: record the digest of the key the API checks."""
    db = Database(dsn, min_size=1, max_size=1)
    await db.open()
    try:
        async with db.transaction() as conn:
            await director_key.record(conn, key, Auditor())
    finally:
        await db.close()


async def _pruned_count(dsn: str) -> int:
    db = Database(dsn, min_size=1, max_size=1)
    await db.open()
    try:
        async with db.connection() as conn:
            return int(await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'retention.pruned'"))
    finally:
        await db.close()


async def _backed_up(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """`aura backup --json` on AURA_DATABASE_URL; what it wrote."""
    code, out, err = await _aura(capsys, "backup", "--json")
    assert code == 0 and "dumping contents of table" in err  # progress on stderr
    written: dict[str, Any] = json.loads(out)
    assert Path(written["path"]).exists() and Path(written["anchor"]).exists()
    return written


async def test_backup_list_and_restore_say_what_happened(
    home: Path, db_url: str, empty_db_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AURA_DATABASE_URL", db_url)
    written = await _backed_up(capsys)

    code, out, _ = await _aura(capsys, "backup", "list", "--json")
    assert code == 0 and [b["path"] for b in json.loads(out)] == [written["path"]]

    # Into the same, non-empty database: refused in one line, exit code 2.
    code, _, err = await _aura(capsys, "restore", written["path"])
    assert code == 2 and "not empty" in err and "--force" in err

    monkeypatch.setenv("AURA_DATABASE_URL", empty_db_url)
    code, out, _ = await _aura(capsys, "restore", written["path"], "--human")
    assert code == 0 and "audit chain verified against the backup's anchor" in out


async def test_a_restore_that_does_not_verify_exits_1_and_says_so(
    home: Path, db_url: str, empty_db_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AURA_DATABASE_URL", db_url)
    anchor = Path((await _backed_up(capsys))["anchor"])
    anchor.write_text(json.dumps({"seq": 0, "hash": "f" * 64}))
    monkeypatch.setenv("AURA_DATABASE_URL", empty_db_url)
    code, out, _ = await _aura(capsys, "restore", str(anchor).removesuffix(".anchor.json"),
                               "--human")
    assert code == 1 and "does NOT verify" in out


async def test_prune_is_a_dry_run_unless_yes(
    home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AURA_DATABASE_URL", db_url)
    await _record_director_key(db_url, "test-director-key")
    code, out, _ = await _aura(capsys, "retention", "prune", "--older-than", "365d", "--human")
    assert code == 0 and "dry run" in out and "never pruned: the audit log, the ledger" in out
    code, out, _ = await _aura(capsys, "retention", "prune", "--older-than", "365d", "--yes",
                               "--json")
    assert code == 0 and json.loads(out)["pruned"] is True
    code, _, err = await _aura(capsys, "retention", "prune", "--older-than", "a year")
    assert code == 2 and "not an age" in err


async def test_a_restore_the_home_anchors_disagree_with_exits_1_naming_the_anchor(
    home: Path, db_url: str, empty_db_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AURA_DATABASE_URL", db_url)
    db = Database(db_url, min_size=1, max_size=1)
    await db.open()
    try:  # a history to anchor: seq 0 is never anchored
        async with db.transaction() as conn:
            await Auditor().record(conn, actor="director", action="test.history")
    finally:
        await db.close()
    written = await _backed_up(capsys)
    seq = json.loads(Path(written["anchor"]).read_text())["seq"]
    assert seq > 0
    (home / "home").mkdir(parents=True, exist_ok=True)
    (home / "home" / "audit-anchors.jsonl").write_text(
        json.dumps({"seq": seq, "hash": "d" * 64, "at": "2026-01-01T00:00:00+00:00"}) + "\n")
    monkeypatch.setenv("AURA_DATABASE_URL", empty_db_url)
    code, out, _ = await _aura(capsys, "restore", written["path"], "--human")
    assert code == 1 and f"home's anchor at entry {seq}" in out, out


async def test_prune_yes_without_the_director_key_prunes_nothing_and_exits_2(
    home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AURA_DATABASE_URL", db_url)
    prune = ("retention", "prune", "--older-than", "365d", "--yes")
    # Database credentials only (the worker's container): no key, no key file.
    monkeypatch.delenv("AURA_DIRECTOR_KEY")
    code, _, err = await _aura(capsys, *prune)
    assert code == 2 and "cannot read the Director key" in err
    # A key, but no API ever recorded one to check it against.
    monkeypatch.setenv("AURA_DIRECTOR_KEY", "test-director-key")
    code, _, err = await _aura(capsys, *prune)
    assert code == 2 and "no Director key is recorded" in err and "nothing was pruned" in err
    # A key the worker's process made up (its own key file) is not the API's.
    await _record_director_key(db_url, "the-real-director-key")
    code, _, err = await _aura(capsys, *prune)
    assert code == 2 and "from AURA_DIRECTOR_KEY is not the one the API uses" in err
    assert await _pruned_count(db_url) == 0
    monkeypatch.setenv("AURA_DIRECTOR_KEY", "the-real-director-key")
    code, out, _ = await _aura(capsys, *prune, "--json")
    assert code == 0 and json.loads(out)["pruned"] is True
    assert await _pruned_count(db_url) == 1
