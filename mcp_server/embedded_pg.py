"""The embedded PostgreSQL (the `pgserver` package) used when no database URL is set.

pgserver creates its cluster with `trust` authentication, and as root it runs the server as
its own `pgserver` user with the socket directory open to everyone: any local process could
connect as the superuser. So Aura secures it on every start: a password for the `postgres`
role is generated once into `data_dir/pg.password` (0600), set on the role, and `pg_hba.conf`
is rewritten to require it (`scram-sha-256`) for every connection; a data directory created
with trust (by pgserver, or by an older Aura) is migrated the same way on its next start.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

PASSWORD_FILE = "pg.password"
# Every connection needs the password; nothing is trusted, local or not.
HBA = """\
# Written by Aura Orchestra (mcp_server/embedded_pg.py): password authentication only.
local   all             all                                     scram-sha-256
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
"""


class EmbeddedDatabaseLocked(RuntimeError):
    """The cluster requires a password that Aura no longer has."""


@dataclass
class EmbeddedPostgres:
    """A running embedded server under `data_dir/pg`; `stop()` stops it."""

    dsn: str
    bin_dir: Path
    _server: Any

    def stop(self) -> None:
        self._server.cleanup()


def pg_bin_dir() -> Path:
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def start(data_dir: Path) -> EmbeddedPostgres:
    """Start (or attach to) the server for `data_dir/pg`; a second start reuses the data."""
    with warnings.catch_warnings():
        # platformdirs warns on every start where XDG_RUNTIME_DIR is unset (servers, SSH);
        # pgserver then uses its /tmp fallback, which is fine.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        return _start(data_dir)


def _start(data_dir: Path) -> EmbeddedPostgres:
    import pgserver

    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    trusting_uri = server.get_uri()
    try:
        password = secure(pgdata, data_dir / PASSWORD_FILE, trusting_uri)
    except BaseException:
        server.cleanup()
        raise
    return EmbeddedPostgres(with_password(trusting_uri, password), pg_bin_dir(), server)


def with_password(uri: str, password: str) -> str:
    """`postgresql://postgres:@/postgres?host=…` with the password in it."""
    parts = urlsplit(uri)
    user = parts.username or "postgres"
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def secure(pgdata: Path, password_file: Path, uri: str) -> str:
    """Make the running cluster at `pgdata` require the password in `password_file` (made
    if missing); return the password. Idempotent: a secured cluster is left as it is."""
    hba = pgdata / "pg_hba.conf"
    secured = hba.read_text("utf-8") == HBA
    password = _read_password(password_file)
    if secured and password is not None:
        return password
    if secured:
        raise EmbeddedDatabaseLocked(
            f"the embedded database in {pgdata} requires a password but {password_file} is "
            "missing; restore that file (from a backup of the data directory) or set "
            "AURA_DATABASE_URL")
    if password is None:
        password = _new_password(password_file)
    # Still trusted here: set the password first, then require it, then reload.
    _psql(uri, f"ALTER ROLE postgres PASSWORD '{password}'")
    _write_keeping_owner(hba, HBA)
    _psql(uri, "SELECT pg_reload_conf()")
    return password


def _read_password(path: Path) -> str | None:
    try:
        return path.read_text("utf-8").strip() or None
    except FileNotFoundError:
        return None


def _new_password(path: Path) -> str:
    # URL-safe characters only: no quoting in SQL or in the URI can go wrong.
    password = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    return password


def _write_keeping_owner(path: Path, text: str) -> None:
    """Rewrite in place: the server's own user (pgserver's, when we are root) keeps owning
    the file and can read it on reload."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)


def _psql(uri: str, sql: str) -> None:
    # The SQL goes on stdin, never on the command line, where `ps` would show the password.
    subprocess.run(
        [str(pg_bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", uri],
        input=sql + ";\n", text=True, check=True, capture_output=True, timeout=30,
    )
