"""Database dumps with `pg_dump` into the backup directory."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import asyncpg

from orchestra.errors import Unavailable
from orchestra.store.queries import load


def find_pg_dump(extra_dirs: list[Path] | None = None) -> str:
    """`pg_dump` from the given directories first (the embedded server's), then PATH."""
    for directory in extra_dirs or []:
        candidate = directory / "pg_dump"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("pg_dump")
    if found is None:
        raise Unavailable("pg_dump is not installed; cannot write a backup")
    return found


def split_password(dsn: str) -> tuple[str, str | None]:
    """A connection URL without its password, and the password (None when there is none)."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn, None
    userinfo = quote(unquote(parts.username or ""), safe="")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}")), unquote(parts.password)


async def dump(dsn: str, backup_dir: Path, pg_dump: str, *, label: str = "backup") -> Path:
    """Write a custom-format dump named `aura-<label>-<UTC time>.dump`; returns its path."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = backup_dir / f"aura-{label}-{stamp}.dump"
    partial = target.with_suffix(".partial")
    dbname, password = split_password(dsn)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password  # not on the command line, where `ps` would show it
    proc = await asyncio.create_subprocess_exec(
        pg_dump, "--format=custom", f"--file={partial}", f"--dbname={dbname}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        raise Unavailable(f"pg_dump failed ({proc.returncode}): {err.decode(errors='replace')}")
    os.replace(partial, target)
    return target


async def write_audit_anchor(dsn: str, dump_path: Path) -> Path:
    """Beside a dump, the audit head `(seq, hash)` it holds (DESIGN §8): restoring an old dump
    over a newer log, or a dump whose log was rewritten, shows against this record."""
    conn = await asyncpg.connect(dsn)
    try:
        head = await conn.fetchrow(load("audit")["read_head"])
    finally:
        await conn.close()
    if head is None:
        raise Unavailable("the database has no audit head; are the migrations applied?")
    target = dump_path.with_name(dump_path.name + ".anchor.json")
    target.write_text(json.dumps({"seq": head["seq"], "hash": head["hash"],
                                  "dump": dump_path.name}) + "\n", "utf-8")
    return target
