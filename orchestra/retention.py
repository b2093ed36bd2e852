"""Manual clean-up of what old jobs left behind (`aura retention prune`).

What goes, for jobs finished before the cutoff: the job rows' bulky fields (output, diff,
validation; the row stays), their run logs in the database, their working copies under
`AURA_SANDBOX_DIR` and their folders under `AURA_SNAPSHOT_DIR`; and backups taken before the
cutoff (never the newest). What never goes: `audit_log` and the `ledger` (append-only by
trigger, and their entries are the record), job rows themselves, approvals, threads.
Nothing here runs by itself: the caller plans, shows the plan, and prunes on request.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestra import backups
from orchestra.store.db import Connection
from orchestra.store.queries import load

_R = load("retention")
Progress = Callable[[str], None]
CopyRemover = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Places:
    """The directories whose per-job entries and backups can be pruned."""

    sandbox_dir: Path
    snapshot_dir: Path
    backup_dir: Path


@dataclass(slots=True)
class Plan:
    """What a prune with this cutoff removes."""

    cutoff: datetime
    old_jobs: int = 0
    jobs_with_output: int = 0
    job_bytes: int = 0
    runlog_entries: int = 0
    runlog_bytes: int = 0
    sandboxes: list[Path] = field(default_factory=list)
    snapshots: list[Path] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(), "old_jobs": self.old_jobs,
            "jobs_with_output": self.jobs_with_output, "job_bytes": self.job_bytes,
            "runlog_entries": self.runlog_entries, "runlog_bytes": self.runlog_bytes,
            "sandboxes": [str(p) for p in self.sandboxes],
            "snapshots": [str(p) for p in self.snapshots],
            "backups": [str(p) for p in self.backups],
            "never": ["audit_log", "ledger", "job rows", "approvals", "threads"],
        }

    def summary(self) -> dict[str, int]:
        """The counts (what the audit entry records; paths would bloat it)."""
        return {"jobs_with_output": self.jobs_with_output, "job_bytes": self.job_bytes,
                "runlog_entries": self.runlog_entries, "sandboxes": len(self.sandboxes),
                "snapshots": len(self.snapshots), "backups": len(self.backups)}


async def plan(conn: Connection, cutoff: datetime, places: Places) -> Plan:
    """Read-only: what `prune` with this cutoff would remove."""
    result = Plan(cutoff)
    old_ids: set[str] = set()
    for row in await conn.fetch(_R["old_jobs"], cutoff):
        old_ids.add(str(row["id"]))
        if row["bulky"]:
            result.jobs_with_output += 1
            result.job_bytes += int(row["bytes"])
    result.old_jobs = len(old_ids)
    runlog = await conn.fetchrow(_R["old_runlog"], cutoff)
    result.runlog_entries, result.runlog_bytes = int(runlog["entries"]), int(runlog["bytes"])
    result.sandboxes = _job_entries(places.sandbox_dir, old_ids, suffixes=("", ".home"))
    result.snapshots = _job_entries(places.snapshot_dir, old_ids, suffixes=("",))
    kept = backups.list_backups(places.backup_dir)
    result.backups = [b.path for b in kept[:-1] if b.taken_at < cutoff]
    return result


def _job_entries(root: Path, job_ids: set[str], *, suffixes: Iterable[str]) -> list[Path]:
    """Entries of `root` named `<job id><suffix>` for one of `job_ids` (one directory scan,
    not a stat per job)."""
    if not root.is_dir():
        return []
    wanted = tuple(suffixes)
    found = []
    for entry in root.iterdir():
        for suffix in wanted:
            stem = entry.name[: len(entry.name) - len(suffix)] if suffix else entry.name
            if entry.name.endswith(suffix) and stem in job_ids and _is_uuid(stem):
                found.append(entry)
                break
    return sorted(found)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


async def prune_rows(conn: Connection, cutoff: datetime) -> tuple[int, int]:
    """In the caller's transaction: clear old jobs' bulky fields and delete their run-log
    entries. Returns (jobs cleared, run-log entries deleted)."""
    cleared = await conn.execute(_R["clear_jobs"], cutoff)
    deleted = await conn.execute(_R["delete_runlog"], cutoff)
    return _count(cleared), _count(deleted)


def _count(status: str) -> int:
    """The row count of an `UPDATE n` / `DELETE n` command tag."""
    return int(status.rsplit(" ", 1)[-1])


async def remove_files(found: Plan, remove_copy: CopyRemover, progress: Progress) -> int:
    """Delete the plan's folders and backups; returns how many entries went. `remove_copy`
    deletes a job's working copy and private home by job id (`Sandboxes.remove`)."""
    gone = 0
    for job_id in sorted({p.name.removesuffix(".home") for p in found.sandboxes}):
        await remove_copy(job_id)
        gone += 1
        if gone % 500 == 0:
            progress(f"removed {gone} folders")
    for path in found.snapshots:
        shutil.rmtree(path, ignore_errors=True)
        gone += 1
        if gone % 500 == 0:
            progress(f"removed {gone} folders")
    for dump_path in found.backups:
        backups.remove_backup(dump_path)
        gone += 1
    return gone
