"""Backup, restore and prune dry-run times on a big database.

    .venv/bin/python bench/backup_restore.py [--jobs 100000] [--audit 500000]
                                             [--database-url postgresql://…]

Seeds a throw-away embedded PostgreSQL (or a fresh database on `--database-url`'s server) with
N finished jobs (output, diff, validation, one run-log entry each, finished over the last two
years) and M audit entries whose chain is valid: the hashes are computed in Python with the
auditor's own rule (`governance.auditor.canonical_entry`/`entry_hash`) and the rows COPYed in.
Then times `aura backup` (pg_dump custom format and its anchor), `aura restore` into a fresh
database (pg_restore, then the whole chain verified against the anchor) and `aura retention
prune --older-than 365d`'s dry run. Prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from _support import database

from governance.auditor import canonical_entry, entry_hash
from mcp_server.operations.restore import restore_home
from mcp_server.operations.tools import pg_tool
from orchestra import backups, retention

SEED_JOBS = """
INSERT INTO jobs (kind, prompt, status, output, diff, validation, created_at, finished_at)
SELECT 'task', 'seeded job ' || g, 'succeeded', repeat('output ', 40), repeat('+ line\n', 20),
       '{"ok": true, "checks": []}', now() - make_interval(hours => g * 17520 / $1),
       now() - make_interval(hours => g * 17520 / $1)
FROM generate_series(1, $1) AS g
"""
SEED_RUNLOG = """
INSERT INTO job_runlog (job_id, ts, section, body)
SELECT id, finished_at, 'output', repeat('log ', 30) FROM jobs
"""


def audit_rows(start_seq: int, prev: str, count: int) -> tuple[list[tuple[object, ...]], str]:
    """`count` chained entries after (`start_seq`, `prev`), as audit_log rows."""
    rows: list[tuple[object, ...]] = []
    base = datetime.now(UTC) - timedelta(days=730)
    for n in range(count):
        seq = start_seq + n + 1
        ts = base + timedelta(microseconds=seq * 100_003)
        details = json.dumps({"n": seq})  # jsonb renders this flat object identically
        subject = f"job-{seq % 100_000}"
        digest = entry_hash(prev, canonical_entry(seq=seq, ts=ts, actor="bench",
                                                  action="job.submitted", subject=subject,
                                                  details_text=details))
        rows.append((seq, ts, "bench", "job.submitted", subject, details, prev, digest))
        prev = digest
    return rows, prev


async def seed(dsn: str, jobs: int, audit: int) -> float:
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        # Seeding only: the triggers (events, notifications) would add nothing measured here.
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(SEED_JOBS, jobs)
        await conn.execute(SEED_RUNLOG)
        head = await conn.fetchrow("SELECT seq, hash FROM audit_head")
        rows, last = await asyncio.to_thread(audit_rows, head["seq"], head["hash"], audit)
        await conn.copy_records_to_table(
            "audit_log", records=rows,
            columns=["seq", "ts", "actor", "action", "subject", "details", "prev_hash", "hash"])
        await conn.execute("UPDATE audit_head SET seq = $1, hash = $2",
                           head["seq"] + audit, last)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - started


def other_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


async def main(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="aura-bench-backup-") as tmp:
        work = Path(tmp)
        async with database(args.database_url, work) as dsn:
            seed_s = await seed(dsn, args.jobs, args.audit)
            t0 = time.perf_counter()
            path, anchor = await backups.backup(dsn, work / "backups", pg_tool("pg_dump"),
                                                label="bench")
            backup_s = time.perf_counter() - t0
            dump_mb = path.stat().st_size / 1_048_576
            admin = await asyncpg.connect(dsn)
            try:
                await admin.execute("CREATE DATABASE aura_bench_restore")
            finally:
                await admin.close()
            target = other_database(dsn, "aura_bench_restore")
            marks: dict[str, float] = {}

            def mark(line: str) -> None:
                if line.startswith("verifying"):  # pg_restore is done; the verify starts
                    marks["verify"] = time.perf_counter()

            t0 = time.perf_counter()
            restored = await restore_home(target, path, work / "home", force=False,
                                          progress=mark)
            restore_s = time.perf_counter() - t0
            pg_restore_s = marks["verify"] - t0
            places = retention.Places(work / "sandboxes", work / "snapshots", work / "backups")
            conn = await asyncpg.connect(dsn)
            try:
                t0 = time.perf_counter()
                plan = await retention.plan(conn, datetime.now(UTC) - timedelta(days=365),
                                            places)
                prune_dry_run_s = time.perf_counter() - t0
            finally:
                await conn.close()
            admin = await asyncpg.connect(dsn)
            try:
                await admin.execute("DROP DATABASE aura_bench_restore WITH (FORCE)")
            finally:
                await admin.close()
    return {
        "bench": "backup_restore", "jobs": args.jobs, "audit_entries": args.audit,
        "seed_s": round(seed_s, 2), "backup_s": round(backup_s, 2),
        "dump_mb": round(dump_mb, 1),
        "restore_and_verify_s": round(restore_s, 2), "pg_restore_s": round(pg_restore_s, 2),
        "verified": restored.report.ok,
        "verified_entries": restored.report.entries, "anchor_seq": anchor.seq,
        "prune_dry_run_s": round(prune_dry_run_s, 3),
        "prune_would_clear_jobs": plan.jobs_with_output,
        "prune_would_delete_runlog": plan.runlog_entries,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--audit", type=int, default=500_000)
    parser.add_argument("--database-url", default=None)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
