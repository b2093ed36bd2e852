"""Applies `infra/migrations/NNN_name.sql` in order, each once, under an advisory lock.

The files live in `infra/migrations/` (DESIGN §5); `orchestra/sql_migrations` is a symlink to
that folder, so the build copies them into the wheel as package data and an installed Aura
finds them beside its code (docs/decisions.md, "Migrations ship inside the package").
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

from orchestra.errors import Conflict, InvalidInput


def _shipped_dir() -> Path:
    """The migrations inside the installed package (a checkout resolves the symlink)."""
    shipped = resources.files("orchestra").joinpath("sql_migrations")
    # A package installed from a wheel or a checkout is a directory on disk, never a zip.
    return Path(str(shipped))


DEFAULT_MIGRATIONS_DIR = _shipped_dir()
# Any constant works; it only has to be the same for every runner of this schema.
_ADVISORY_LOCK_KEY = 0x4155_5241  # "AURA"
_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def discover(directory: Path = DEFAULT_MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order; a malformed or repeated number is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise InvalidInput(f"migration file {path.name} is not named NNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise InvalidInput(f"two migrations share version {version:03d}")
        found[version] = Migration(version, match.group(2), path.read_text("utf-8"))
    return [found[v] for v in sorted(found)]


async def pending(conn: asyncpg.Connection, migrations: list[Migration]) -> list[Migration]:
    """Migrations not yet recorded in `schema_migrations` (all of them on a new database)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return list(migrations)
    applied = {
        row["version"]: row["checksum"]
        for row in await conn.fetch("SELECT version, checksum FROM schema_migrations")
    }
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            raise Conflict(
                f"migration {migration.version:03d}_{migration.name} changed after it was applied"
            )
    return [m for m in migrations if m.version not in applied]


async def migrate(dsn: str, directory: Path = DEFAULT_MIGRATIONS_DIR) -> list[Migration]:
    """Apply what is pending; return what this call applied (empty when up to date).

    Runners on several hosts serialise on one advisory lock, so each migration runs once.
    """
    migrations = discover(directory)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _ADVISORY_LOCK_KEY)
        try:
            await conn.execute(_CREATE_TABLE)
            todo = await pending(conn, migrations)
            for migration in todo:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
            return todo
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _ADVISORY_LOCK_KEY)
    finally:
        await conn.close()


async def is_current(conn: asyncpg.Connection, directory: Path = DEFAULT_MIGRATIONS_DIR) -> bool:
    """True when every migration file is applied (used by `/ready`)."""
    return not await pending(conn, discover(directory))
