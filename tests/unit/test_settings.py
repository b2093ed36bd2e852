"""Settings: defaults, secrets from *_FILE, and the Director key generated once."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from mcp_server.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_defaults_follow_the_design(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AURA_API_PORT", "AURA_MCP_PORT", "AURA_POOL_SLOTS", "AURA_DATA_DIR",
                 "AURA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = _settings()
    assert (settings.api_port, settings.mcp_port, settings.ui_port) == (8000, 9000, 5173)
    assert settings.pool_slots == 3 and settings.database_url is None
    assert settings.mcp_host == "127.0.0.1"
    # No .aura here and nothing running: the per-user home, with everything inside it.
    home = tmp_path / "user" / ".local" / "share" / "aura"
    assert settings.data_dir == home and settings.sandbox_dir == home / "sandboxes"
    assert settings.backup_dir == home / "backups"


def test_a_project_local_home_keeps_todays_layout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AURA_DATA_DIR", "AURA_HOME"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".aura").mkdir()
    monkeypatch.chdir(tmp_path)
    settings = _settings()
    assert settings.data_dir == tmp_path / ".aura"
    assert settings.sandbox_dir == tmp_path / "sandboxes"
    assert settings.snapshot_dir == tmp_path / "snapshots"
    assert settings.backup_dir == tmp_path / "infra" / "backups"
    monkeypatch.setenv("AURA_HOME", str(tmp_path / "elsewhere"))
    assert _settings().data_dir == tmp_path / "elsewhere"


def test_pool_slots_above_three_are_refused() -> None:
    with pytest.raises(ValidationError, match="pool_slots"):
        _settings(pool_slots=4)


def test_secret_is_read_from_its_file_variant(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "db_url"
    secret.write_text("postgresql://u:p@db/aura\n")
    monkeypatch.setenv("AURA_DATABASE_URL_FILE", str(secret))
    monkeypatch.delenv("AURA_DATABASE_URL", raising=False)
    settings = _settings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgresql://u:p@db/aura"
    assert "p@db" not in repr(settings)  # secrets never show in logs or reprs


def test_missing_secret_file_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AURA_DIRECTOR_KEY_FILE", str(tmp_path / "absent"))
    monkeypatch.delenv("AURA_DIRECTOR_KEY", raising=False)
    with pytest.raises(ValidationError, match="AURA_DIRECTOR_KEY_FILE"):
        _settings()


def test_director_key_is_generated_once_with_mode_0600(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AURA_DIRECTOR_KEY", raising=False)
    monkeypatch.delenv("AURA_DIRECTOR_KEY_FILE", raising=False)
    settings = _settings(data_dir=tmp_path / "data")
    key = settings.ensure_director_key()
    path = tmp_path / "data" / "director.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) > 30 and settings.ensure_director_key() == key


def test_given_director_key_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    settings = _settings(data_dir=tmp_path, director_key="from-env")
    assert settings.ensure_director_key() == "from-env"
    assert not (tmp_path / "director.key").exists()


def test_workspaces_split_on_colons() -> None:
    assert _settings(workspaces="/a:/b/c:").workspace_roots == [Path("/a"), Path("/b/c")]


def test_job_limits_default_and_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AURA_JOB_MEMORY_MB", "AURA_JOB_TMP_MB", "AURA_JOB_PIDS"):
        monkeypatch.delenv(name, raising=False)
    settings = _settings(data_dir=tmp_path)
    assert (settings.job_memory_mb, settings.job_tmp_mb, settings.job_pids) == (2048, 512, 256)
    monkeypatch.setenv("AURA_JOB_MEMORY_MB", "1024")
    monkeypatch.setenv("AURA_JOB_PIDS", "64")
    settings = _settings(data_dir=tmp_path)
    assert (settings.job_memory_mb, settings.job_pids) == (1024, 64)
    with pytest.raises(ValidationError):
        _settings(data_dir=tmp_path, job_pids=0)
