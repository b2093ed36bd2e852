"""`aura doctor`: each check passing on a ready host and failing, with its fix, on a broken one.

Real PostgreSQL (the session's), the fake Ollama over its official client, real sockets and
files; bubblewrap missing or broken is made by what PATH finds."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr

from mcp_server.cli import EXIT_USAGE, main
from mcp_server.doctor import CHECKS, CheckResult, Status, diagnose, host
from mcp_server.home import Running, occupy
from mcp_server.settings import Settings
from orchestra import migrations
from tests.fakes.ollama_server import FakeOllama


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def ready(settings: Settings, db_url: str, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A host that passes: a migrated database, the fake Ollama, free ports, private keys."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    settings.data_dir.mkdir(parents=True)
    key = settings.director_key_path
    key.write_text("aura_dk_test\n")
    key.chmod(0o600)
    return settings.model_copy(update={"database_url": SecretStr(db_url),
                                       "api_port": _closed_port(), "mcp_port": _closed_port()})


def _one(results: list[CheckResult], name: str) -> CheckResult:
    return next(r for r in results if r.name == name)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
async def test_a_ready_host_passes_every_check(ready: Settings) -> None:
    results = await diagnose(ready, min_free_gib=0)
    assert [r.name for r in results] == list(CHECKS)
    assert {r.name: r.status for r in results} == dict.fromkeys(CHECKS, Status.OK), results
    assert "llama" in _one(results, "ollama").detail
    assert "current" in _one(results, "migrations").detail


async def test_bwrap_missing_from_path_fails_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = host.check_bwrap()
    assert result.status is Status.FAIL
    assert "not on PATH" in result.detail and "apt-get install bubblewrap" in result.fix


async def test_a_bwrap_that_cannot_make_a_sandbox_fails_with_the_container_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a container without user namespaces answers, from a real executable on PATH.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    result = host.check_bwrap()
    assert result.status is Status.FAIL
    assert "No permissions to creating new namespace" in result.detail
    assert "seccomp=unconfined" in result.fix


async def test_an_unreachable_database_fails_both_database_checks_without_its_password(
    ready: Settings,
) -> None:
    url = f"postgresql://aura:s3cret-pw@127.0.0.1:{_closed_port()}/aura"
    broken = ready.model_copy(update={"database_url": SecretStr(url)})
    results = await diagnose(broken, ["database", "migrations"])
    database, behind = results
    assert (database.status, behind.status) == (Status.FAIL, Status.FAIL)
    assert "cannot connect to 127.0.0.1:" in database.detail and "AURA_DATABASE_URL" in database.fix
    assert "unreachable" in behind.detail
    assert not any("s3cret-pw" in r.detail + r.fix for r in results)


async def test_migrations_behind_fail_naming_the_pending_ones(
    ready: Settings, empty_db_url: str, tmp_path: Path
) -> None:
    shipped = migrations.discover()
    older = tmp_path / "older"
    older.mkdir()
    for path in sorted(migrations.DEFAULT_MIGRATIONS_DIR.glob("*.sql"))[:3]:
        shutil.copy(path, older / path.name)
    await migrations.migrate(empty_db_url, older)
    on_old = ready.model_copy(update={"database_url": SecretStr(empty_db_url)})

    behind = _one(await diagnose(on_old, ["migrations"]), "migrations")
    assert behind.status is Status.FAIL
    assert f"{len(shipped) - 3} pending" in behind.detail
    assert f"{shipped[3].version:03d}_{shipped[3].name}" in behind.detail
    assert "aura migrate" in behind.fix

    await migrations.migrate(empty_db_url)
    assert _one(await diagnose(on_old, ["migrations"]), "migrations").status is Status.OK


async def test_a_migration_edited_after_it_was_applied_fails(
    ready: Settings, db_url: str
) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    finally:
        await conn.close()
    result = _one(await diagnose(ready, ["migrations"]), "migrations")
    assert result.status is Status.FAIL
    assert "changed after it was applied" in result.detail and "reinstall" in result.fix


async def test_a_database_newer_than_this_aura_fails(ready: Settings, db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("INSERT INTO schema_migrations (version, name, checksum)"
                           " VALUES (999, 'from_the_future', 'x')")
    finally:
        await conn.close()
    result = _one(await diagnose(ready, ["migrations"]), "migrations")
    assert result.status is Status.FAIL
    assert "999" in result.detail and "older than its database" in result.fix


async def test_ollama_unreachable_fails_and_an_ollama_without_models_warns(
    ready: Settings,
) -> None:
    gone = ready.model_copy(update={"ollama_url": f"http://127.0.0.1:{_closed_port()}"})
    down = _one(await diagnose(gone, ["ollama"]), "ollama")
    assert down.status is Status.FAIL and "--skip ollama" in down.fix
    with FakeOllama(()) as empty:
        bare = ready.model_copy(update={"ollama_url": empty.url})
        result = _one(await diagnose(bare, ["ollama"]), "ollama")
    assert result.status is Status.WARN and "ollama pull" in result.fix


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


async def test_a_port_held_by_another_program_fails_naming_its_setting(
    ready: Settings, listening: int
) -> None:
    clash = ready.model_copy(update={"mcp_port": listening})
    result = host.check_ports(clash)
    assert result.status is Status.FAIL
    assert f"127.0.0.1:{listening} (AURA_MCP_PORT)" in result.detail
    assert host.check_ports(ready).status is Status.OK


async def test_ports_held_by_this_homes_running_aura_pass(
    ready: Settings, listening: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURA_DATA_DIR", str(ready.data_dir))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    mine = ready.model_copy(update={"api_port": listening})
    running = Running(home=ready.data_dir.absolute(), pid=os.getpid(),
                      api_url=f"http://127.0.0.1:{listening}",
                      mcp_url=f"http://127.0.0.1:{ready.mcp_port}/mcp", started_at="now")
    with occupy(running):
        result = host.check_ports(mine)
    assert result.status is Status.OK and f"pid {os.getpid()}" in result.detail
    assert host.check_ports(mine).status is Status.FAIL  # no longer running: someone else's


async def test_a_key_file_others_can_read_fails_and_0600_passes(
    ready: Settings, tmp_path: Path
) -> None:
    key = ready.director_key_path
    key.chmod(0o644)
    result = host.check_key_files(ready, tmp_path / "no.env")
    assert result.status is Status.FAIL
    assert f"{key} is 0644" in result.detail and f"chmod 600 {key}" in result.fix
    key.chmod(0o600)
    assert host.check_key_files(ready, tmp_path / "no.env").status is Status.OK


async def test_a_secret_file_others_can_read_warns_and_one_they_can_write_fails(
    ready: Settings, tmp_path: Path
) -> None:
    secret = tmp_path / "database_url"
    secret.write_text("postgresql://x")
    with_file = ready.model_copy(update={"database_url_file": secret})
    secret.chmod(0o644)  # a docker secret must be readable in the container: a warning
    assert host.check_key_files(with_file, tmp_path / "no.env").status is Status.WARN
    secret.chmod(0o666)
    failed = host.check_key_files(with_file, tmp_path / "no.env")
    assert failed.status is Status.FAIL and "others may write it" in failed.detail


async def test_disk_below_the_threshold_fails_and_near_it_warns(ready: Settings) -> None:
    free_gib = shutil.disk_usage(ready.data_dir).free / host.GIB
    assert host.check_disk(ready, free_gib * 2).status is Status.FAIL
    near = host.check_disk(ready, free_gib / 2)
    assert near.status is Status.WARN and "AURA_DATA_DIR" in near.detail
    assert host.check_disk(ready, 0).status is Status.OK


def _aura_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name, value in {"AURA_DATA_DIR": settings.data_dir, "AURA_OLLAMA_URL":
                        settings.ollama_url, "AURA_DATABASE_URL": settings.database_url
                        and settings.database_url.get_secret_value()}.items():
        monkeypatch.setenv(name, str(value))


def test_the_cli_prints_json_and_exits_1_only_on_a_failure(
    ready: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _aura_env(monkeypatch, ready)
    args = ["doctor", "--json", "--only", "key-files", "--only", "ollama",
            "--min-free-gb", "0"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "ok"
    assert [c["name"] for c in report["checks"]] == ["ollama", "key files"]

    monkeypatch.setenv("AURA_OLLAMA_URL", f"http://127.0.0.1:{_closed_port()}")
    assert main(args) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "fail"
    assert main([*args, "--skip", "ollama"]) == 0


def test_the_cli_table_shows_each_fix_and_refuses_an_unknown_check(
    ready: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _aura_env(monkeypatch, ready)
    monkeypatch.setenv("COLUMNS", "200")
    ready.director_key_path.chmod(0o640)
    assert main(["doctor", "--human", "--only", "key-files"]) == 1
    out = capsys.readouterr().out
    assert "key files" in out and "fail" in out and "chmod 600" in out
    assert main(["doctor", "--only", "kidneys"]) == EXIT_USAGE
    assert "unknown check 'kidneys'" in capsys.readouterr().err
