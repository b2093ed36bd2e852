"""Checks of what Aura talks to: its PostgreSQL (reachable, migrations current) and Ollama."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import ollama

from mcp_server.doctor.result import CheckResult, fail, ok, warn
from mcp_server.settings import Settings
from orchestra import migrations
from orchestra.errors import AuraError

CONNECT_TIMEOUT_S = 5.0
_EMBEDDED = "embedded PostgreSQL under AURA_DATA_DIR/pg (no AURA_DATABASE_URL); `aura up` starts it"


def _where(dsn: str) -> str:
    """The database's address without its credentials (never print a password)."""
    parts = urlsplit(dsn)
    # A unix socket comes as `?host=/run/postgresql`.
    socket_dir = parse_qs(parts.query).get("host", [""])[0]
    where = socket_dir or f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    return f"{where}{parts.path or ''}"


async def check_database(settings: Settings) -> list[CheckResult]:
    """`database` (reachable, with the server's version) and `migrations` (none pending, none
    unknown to this code, none changed since applied)."""
    if settings.database_url is None:
        return [ok("database", _EMBEDDED),
                ok("migrations", "applied by `aura up` when it starts the embedded database")]
    dsn = settings.database_url.get_secret_value()
    where = _where(dsn)
    try:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        # asyncpg may echo the DSN in a parse error; keep any password out of the report.
        password = urlsplit(dsn).password
        if password:
            reason = reason.replace(password, "***")
        return [
            fail("database", f"cannot connect to {where}: {reason}",
                 "start PostgreSQL (`systemctl start postgresql`, `docker compose up -d "
                 "postgres`) and check AURA_DATABASE_URL / AURA_DATABASE_URL_FILE: host, port, "
                 "user, password, database name"),
            fail("migrations", "not checked: the database is unreachable",
                 "fix the database check first"),
        ]
    try:
        version = await conn.fetchval("SHOW server_version")
        return [ok("database", f"{where} (PostgreSQL {version})"), await _migrations(conn)]
    finally:
        await conn.close()


async def _migrations(conn: asyncpg.Connection) -> CheckResult:
    shipped = migrations.discover()
    try:
        todo = await migrations.pending(conn, shipped)
    except AuraError as exc:
        return fail("migrations", str(exc),
                    "restore the shipped migration files (reinstall this version of Aura); an "
                    "applied migration is never edited")
    newest = max((m.version for m in shipped), default=0)
    applied = await _applied_versions(conn)
    unknown = sorted(v for v in applied if v > newest)
    if unknown:
        return fail("migrations", "the database has migrations this Aura does not know: "
                    + ", ".join(f"{v:03d}" for v in unknown),
                    "this Aura is older than its database: install the newer version (or "
                    "restore a backup made before the upgrade)")
    if todo:
        names = ", ".join(f"{m.version:03d}_{m.name}" for m in todo)
        return fail("migrations", f"{len(todo)} pending: {names} (`/ready` is false until "
                    "they are applied)",
                    "run `aura migrate` (it backs up afterwards), or restart `aura serve`, "
                    "which applies them on start")
    return ok("migrations", f"current ({len(shipped)} applied, newest {newest:03d})")


async def _applied_versions(conn: asyncpg.Connection) -> list[int]:
    if not await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        return []
    return [row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")]


async def check_ollama(settings: Settings) -> CheckResult:
    """Ollama answers at AURA_OLLAMA_URL (through its official client); warn with no model."""
    client = ollama.AsyncClient(host=settings.ollama_url, timeout=CONNECT_TIMEOUT_S)
    try:
        listed = await client.list()
    except (TimeoutError, httpx.HTTPError, ollama.ResponseError, ConnectionError) as exc:
        return fail("ollama", f"no answer from {settings.ollama_url}: {exc}",
                    "start Ollama (`systemctl start ollama`, `ollama serve`, or `docker compose "
                    "up -d ollama`) or set AURA_OLLAMA_URL; skip this check with "
                    "`--skip ollama` when no employee uses Ollama")
    names = [m.model or "?" for m in listed.models]
    if not names:
        return warn("ollama", f"{settings.ollama_url} answers but has no model",
                    "pull one for your employees, e.g. `ollama pull llama3.2:3b`")
    shown = ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")
    return ok("ollama", f"{settings.ollama_url}: {shown}")
