"""Start-up chores: migrations with a backup after, the first MCP token, JSON logs."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

from mcp_server.app import System
from mcp_server.logging import configure
from mcp_server.runner import DatabaseServer, ensure_first_token, migrate_and_backup
from mcp_server.settings import Settings


async def test_migrating_a_new_database_writes_a_backup(
    settings: Settings, empty_db_url: str
) -> None:
    applied = await migrate_and_backup(settings, DatabaseServer(empty_db_url, None))
    assert applied and applied[0].startswith("001_")
    dumps = list(settings.backup_dir.glob("aura-post-migrate-*.dump"))
    assert len(dumps) == 1 and dumps[0].stat().st_size > 0
    assert dumps[0].read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    anchor = json.loads(dumps[0].with_name(dumps[0].name + ".anchor.json").read_text())
    assert anchor == {"seq": 0, "hash": "0" * 64, "dump": dumps[0].name}
    # Up to date: nothing applied, no new backup.
    assert await migrate_and_backup(settings, DatabaseServer(empty_db_url, None)) == []
    assert len(list(settings.backup_dir.glob("*.dump"))) == 1


async def test_first_start_creates_one_private_mcp_token(system: System) -> None:
    path = await ensure_first_token(system)
    token = path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert await system.tokens.verify(token) == "first"
    # A second start keeps the same token.
    assert await ensure_first_token(system) == path and path.read_text().strip() == token


def test_logs_are_json_lines_on_stdout_and_in_the_service_file(
    tmp_path: Path, capsys: object
) -> None:
    path = configure("testsvc", tmp_path / "logs")
    logging.getLogger("aura.test").info("job done", extra={"job_id": "j1"})
    for handler in logging.getLogger().handlers:
        handler.flush()
    line = path.read_text().strip().splitlines()[-1]
    entry = json.loads(line)
    assert path == tmp_path / "logs" / "testsvc" / "latest.log"
    assert entry["message"] == "job done" and entry["level"] == "INFO"
    assert entry["logger"] == "aura.test" and entry["context"] == {"job_id": "j1"}
    assert "time" in entry
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert json.loads(out.strip().splitlines()[-1])["message"] == "job done"
    logging.getLogger().handlers.clear()
