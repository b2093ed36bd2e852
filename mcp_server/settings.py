"""Settings from the environment (prefix `AURA_`), then `.env`; `*_FILE` variants read secrets."""

from __future__ import annotations

import os
import secrets
import zoneinfo
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mcp_server.home import locate_home, project_local
from orchestra.errors import InvalidInput
from orchestra.schedule import parse_schedule

# Secrets that may also arrive as `<NAME>_FILE` (docker secrets).
_FILE_SECRETS = ("director_key", "database_url", "metrics_token")


class Settings(BaseSettings):
    """Everything the process needs to know, with DESIGN §4's defaults."""

    model_config = SettingsConfigDict(
        env_prefix="AURA_", env_file=".env", extra="ignore", populate_by_name=True
    )

    database_url: SecretStr | None = None
    database_url_file: Path | None = None
    # The home (AURA_HOME; AURA_DATA_DIR is its older name): the embedded database, keys, logs.
    # Unset, it is found by the rules in `mcp_server/home.py`; the three directories below
    # default to places beside a project-local `.aura` home (today's layout) or inside any
    # other home.
    home: Path | None = None
    data_dir: Path = Path(".aura")
    sandbox_dir: Path = Path("sandboxes")
    snapshot_dir: Path = Path("snapshots")
    backup_dir: Path = Path("infra/backups")
    workspaces: str = ""
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=0, le=65535)
    mcp_host: str = "127.0.0.1"
    mcp_port: int = Field(9000, ge=0, le=65535)
    ui_port: int = Field(5173, ge=0, le=65535)
    director_key: SecretStr | None = None
    director_key_file: Path | None = None
    pool_slots: int = Field(3, ge=1, le=3)
    ollama_url: str = "http://127.0.0.1:11434"
    policy_file: Path = Path("infra/policy.toml")
    mcp_tools: Literal["core", "all"] = "all"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # How long a claimed job's lease lasts without a heartbeat, and how often workers look for
    # work when no notification arrives (a lost NOTIFY delays a job, never strands it).
    lease_seconds: float = Field(30.0, gt=0)
    # How often a worker heartbeats (its row and its leases); silent for three of these, it is
    # declared dead and its jobs are rescued. The lease must last at least two heartbeats.
    heartbeat_seconds: float = Field(5.0, gt=0)
    poll_seconds: float = Field(5.0, gt=0)
    job_timeout_seconds: float = Field(600.0, gt=0)
    validation_timeout_seconds: float = Field(300.0, gt=0)
    # What one job's commands (a command-line employee's, then its acceptance checks) may use
    # at once, in total: memory in MiB (its private /tmp counts), /tmp in MiB, processes.
    job_memory_mb: int = Field(2048, ge=64)
    job_tmp_mb: int = Field(512, ge=1)
    job_pids: int = Field(256, ge=8)
    backup_after_migrate: bool = True
    # The worker's daily backup: `daily@HH:MM` in AURA_TIMEZONE, or `off`; the newest
    # AURA_BACKUP_KEEP scheduled dumps are kept (docs/decisions.md, "Backups and restore").
    backup_schedule: str = "daily@03:00"
    backup_keep: int = Field(7, ge=1, le=1000)
    # Where approval notices are POSTed (ntfy, a chat webhook); unset: none are sent.
    notify_url: str | None = None
    # Budget periods are calendar months in this IANA time zone (DESIGN §8).
    timezone: str = "UTC"
    # Extra directories a job's confined commands (acceptance checks and command-line
    # employees) may read (a toolchain under $HOME, say); colon-separated. Only the system
    # directories, the job view and the files an employee's command names are visible otherwise.
    validation_read_paths: str = ""
    # Names of ignored folders shown read-only to jobs besides the built-in dependency folders
    # (`.venv`, `node_modules`, `target`…); colon-separated. Other ignored folders stay hidden.
    dependency_dirs: str = ""
    # The live feed (`GET /api/v1/events`): a keep-alive comment after this many quiet seconds,
    # and events kept this many days, at most this many (docs/decisions.md, "Live events").
    events_heartbeat_seconds: float = Field(15.0, gt=0, le=300)
    events_keep_days: float = Field(7.0, gt=0)
    events_keep_rows: int = Field(100_000, ge=1000)
    # When set, `/metrics` on both ports wants `Authorization: Bearer <token>`.
    metrics_token: SecretStr | None = None
    metrics_token_file: Path | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"AURA_TIMEZONE {value!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)"
            ) from None
        return value

    @model_validator(mode="after")
    def _known_schedule(self) -> Settings:
        try:
            parse_schedule(self.backup_schedule, self.timezone)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name in _FILE_SECRETS:
            file_value = data.get(f"{name}_file") or os.environ.get(f"AURA_{name.upper()}_FILE")
            if file_value and not data.get(name):
                path = Path(file_value)
                try:
                    data[name] = path.read_text("utf-8").strip()
                except OSError as exc:
                    raise ValueError(f"AURA_{name.upper()}_FILE={path}: {exc.strerror}") from exc
        return data

    @model_validator(mode="before")
    @classmethod
    def _place_the_home(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if not data.get("data_dir"):
            data["data_dir"] = Path(data["home"]) if data.get("home") else locate_home()
        home = Path(data["data_dir"])
        beside = home.parent if project_local(home) else home
        defaults = {"sandbox_dir": beside / "sandboxes", "snapshot_dir": beside / "snapshots",
                    "backup_dir": (beside / "infra" / "backups") if project_local(home)
                    else home / "backups"}
        for name, default in defaults.items():
            if not data.get(name):
                data[name] = default
        return data

    @field_validator("database_url", "director_key", "metrics_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _lease_outlasts_heartbeats(self) -> Settings:
        if self.lease_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                f"AURA_LEASE_SECONDS ({self.lease_seconds:g}) must be at least twice "
                f"AURA_HEARTBEAT_SECONDS ({self.heartbeat_seconds:g})"
            )
        return self

    @property
    def workspace_roots(self) -> list[Path]:
        return [Path(p).expanduser() for p in self.workspaces.split(":") if p.strip()]

    @property
    def validation_read_roots(self) -> list[Path]:
        return [Path(p).expanduser() for p in self.validation_read_paths.split(":") if p.strip()]

    @property
    def dependency_dir_names(self) -> list[str]:
        return [name.strip() for name in self.dependency_dirs.split(":") if name.strip()]

    @property
    def policy_required(self) -> bool:
        """A policy file the Director named must exist; the default path may be absent (the
        shipped defaults then apply)."""
        return "policy_file" in self.model_fields_set

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def ensure_director_key(self) -> str:
        """The Director key: given, or generated once into `data_dir/director.key` (0600)."""
        if self.director_key is not None:
            return self.director_key.get_secret_value()
        path = self.data_dir / "director.key"
        if path.exists():
            return path.read_text("utf-8").strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = "aura_dk_" + secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
        return key

    @property
    def director_key_path(self) -> Path:
        return self.data_dir / "director.key"
