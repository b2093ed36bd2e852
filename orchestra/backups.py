"""Database dumps with `pg_dump` into the backup directory, their audit anchors, and restores.

A backup is two files: `aura-<label>-<UTC time>.dump` (pg_dump's custom format) and beside it
`<dump>.anchor.json`, the audit head `{"seq", "hash", "dump"}` read *before* the dump started,
so the dump always holds the anchored entry (DESIGN §8). Restoring checks the restored chain
against that anchor (the caller does, with the auditor).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import asyncpg

from orchestra.errors import Conflict, InvalidInput, Unavailable
from orchestra.store.queries import load

Progress = Callable[[str], None]
ANCHOR_SUFFIX = ".anchor.json"
_NAME = re.compile(r"^aura-(?P<label>[a-z0-9-]+?)-(?P<stamp>\d{8}T\d{12}Z)\.dump$")


def _quiet(_: str) -> None:
    return None


def find_pg_tool(name: str, extra_dirs: list[Path] | None = None) -> str:
    """`name` (pg_dump, pg_restore) from the given directories first (the embedded
    server's), then PATH."""
    for directory in extra_dirs or []:
        candidate = directory / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise Unavailable(f"{name} is not installed; install the PostgreSQL client tools")
    return found


def find_pg_dump(extra_dirs: list[Path] | None = None) -> str:
    return find_pg_tool("pg_dump", extra_dirs)


def split_password(dsn: str) -> tuple[str, str | None]:
    """A connection URL without its password, and the password (None when there is none)."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn, None
    userinfo = quote(unquote(parts.username or ""), safe="")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}")), unquote(parts.password)


async def _run_tool(tool: str, args: list[str], dsn: str, progress: Progress) -> None:
    """Run pg_dump/pg_restore with `--verbose`, each of its lines handed to `progress`."""
    dbname, password = split_password(dsn)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password  # not on the command line, where `ps` would show it
    proc = await asyncio.create_subprocess_exec(
        tool, "--verbose", *args, f"--dbname={dbname}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
    )
    assert proc.stderr is not None
    tail: list[str] = []
    async for raw in proc.stderr:
        line = raw.decode(errors="replace").rstrip()
        tail = [*tail[-20:], line]
        progress(line)
    if await proc.wait() != 0:
        errors = [t for t in tail if "error" in t.lower()] or tail[-3:]
        raise Unavailable(f"{Path(tool).name} failed ({proc.returncode}): {' | '.join(errors)}")


# A dump holds every prompt, output and token name: only the owner may read it, whatever the
# umask of the process that wrote it.
DIR_MODE = 0o700
FILE_MODE = 0o600


def _private_dir(path: Path) -> None:
    """Create the backup directory owner-only; one that exists already is left as the
    operator made it (it may be a mount they manage)."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask; chmod is not


def _private_file(path: Path) -> int:
    """Open `path` for writing, created owner-only; the descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # O_CREAT's mode is filtered by the umask; an old file kept its own
    return fd


async def dump(dsn: str, backup_dir: Path, pg_dump: str, *, label: str = "backup",
               progress: Progress = _quiet) -> Path:
    """Write a custom-format dump named `aura-<label>-<UTC time>.dump`; returns its path."""
    _private_dir(backup_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = backup_dir / f"aura-{label}-{stamp}.dump"
    partial = target.with_suffix(".partial")
    # Created 0600 before pg_dump opens it: pg_dump truncates it and keeps its mode.
    os.close(_private_file(partial))
    try:
        await _run_tool(pg_dump, ["--format=custom", f"--file={partial}"], dsn, progress)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return target


@dataclass(frozen=True, slots=True)
class BackupAnchor:
    """The audit head a dump holds."""

    seq: int
    hash: str


async def read_audit_head(dsn: str) -> BackupAnchor:
    conn = await asyncpg.connect(dsn)
    try:
        head = await conn.fetchrow(load("audit")["read_head"])
    finally:
        await conn.close()
    if head is None:
        raise Unavailable("the database has no audit head; are the migrations applied?")
    return BackupAnchor(int(head["seq"]), str(head["hash"]))


def anchor_path(dump_path: Path) -> Path:
    return dump_path.with_name(dump_path.name + ANCHOR_SUFFIX)


def write_anchor(dump_path: Path, anchor: BackupAnchor) -> Path:
    target = anchor_path(dump_path)
    with os.fdopen(_private_file(target), "w", encoding="utf-8") as handle:
        handle.write(json.dumps({"seq": anchor.seq, "hash": anchor.hash,
                                 "dump": dump_path.name}) + "\n")
    return target


def read_anchor(dump_path: Path) -> BackupAnchor:
    """The anchor beside a dump; a clear error when it is missing or unreadable."""
    path = anchor_path(dump_path)
    try:
        data = json.loads(path.read_text("utf-8"))
        return BackupAnchor(int(data["seq"]), str(data["hash"]))
    except FileNotFoundError:
        raise InvalidInput(f"{path} is missing: a backup is the dump and its audit anchor "
                           "beside it; without the anchor the restore cannot be verified"
                           ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"{path} is not an audit anchor ({exc})") from None


async def write_audit_anchor(dsn: str, dump_path: Path) -> Path:
    """Beside a dump, the database's audit head now (for a dump just written with nothing
    appended since, as after migrations). `backup` reads the head before dumping instead."""
    return write_anchor(dump_path, await read_audit_head(dsn))


async def backup(dsn: str, backup_dir: Path, pg_dump: str, *, label: str = "backup",
                 progress: Progress = _quiet) -> tuple[Path, BackupAnchor]:
    """A dump and its anchor. The head is read first: entries appended while pg_dump runs are
    in the dump or not, but the anchored one always is."""
    anchor = await read_audit_head(dsn)
    path = await dump(dsn, backup_dir, pg_dump, label=label, progress=progress)
    write_anchor(path, anchor)
    return path, anchor


@dataclass(frozen=True, slots=True)
class BackupFile:
    path: Path
    label: str
    taken_at: datetime
    size: int
    anchored: bool


def list_backups(backup_dir: Path) -> list[BackupFile]:
    """Aura's dumps in `backup_dir`, oldest first (other files are ignored)."""
    found = []
    for path in backup_dir.glob("aura-*.dump") if backup_dir.is_dir() else []:
        match = _NAME.match(path.name)
        if match is None:
            continue
        taken = datetime.strptime(match["stamp"], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
        found.append(BackupFile(path, match["label"], taken, path.stat().st_size,
                                anchor_path(path).exists()))
    return sorted(found, key=lambda b: b.taken_at)


def remove_backup(path: Path) -> None:
    path.unlink(missing_ok=True)
    anchor_path(path).unlink(missing_ok=True)


def keep_last(backup_dir: Path, label: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` dumps with `label` (and their anchors); the removed."""
    ours = [b.path for b in list_backups(backup_dir) if b.label == label]
    doomed = ours[:-keep] if keep > 0 else ours
    for path in doomed:
        remove_backup(path)
    return doomed


_USER_TABLES = """
SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
"""


async def restore(dsn: str, dump_path: Path, pg_restore: str, *, force: bool = False,
                  progress: Progress = _quiet) -> None:
    """Load a dump into the database at `dsn`. A database that has any table is refused
    unless `force`, which drops the `public` schema (everything Aura keeps) first."""
    if not dump_path.is_file():
        raise InvalidInput(f"{dump_path} is not a file")
    conn = await asyncpg.connect(dsn)
    try:
        tables = int(await conn.fetchval(_USER_TABLES))
        if tables and not force:
            raise Conflict(f"the database is not empty ({tables} tables); restoring would mix "
                           "two histories. Use --force to replace everything in it")
        if tables:
            progress("dropping the database's current contents (--force)")
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    # One transaction: a restore that fails leaves the (now empty) database empty, not half.
    await _run_tool(pg_restore, ["--no-owner", "--exit-on-error", "--single-transaction",
                                 str(dump_path)], dsn, progress)
