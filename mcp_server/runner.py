"""Runs the process: `aura up` (everything), `aura serve` (API + MCP), `aura worker`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn

from governance import director_key
from governance.auditor import Auditor
from governance.policy import GovernanceOff, Policy, load_policy
from mcp_server import embedded_pg
from mcp_server.app import System, build_system
from mcp_server.banner import Readiness, print_banner, seconds_since_process_start
from mcp_server.home import Running, occupy
from mcp_server.logging import configure
from mcp_server.operations import schedule as scheduled_backups
from mcp_server.operations.tools import pg_tool
from mcp_server.ports import ensure_free
from mcp_server.settings import Settings
from mcp_server.stdio import client_for_token, presented_token, serve_stdio
from orchestra import backups, migrations
from orchestra.schedule import parse_schedule
from orchestra.store.db import Database

log = logging.getLogger("mcp_server.runner")
# Longest a clean stop may take before connections are cut (DESIGN: within 10 seconds).
SHUTDOWN_GRACE_S = 5.0


class SignalFreeServer(uvicorn.Server):
    """uvicorn without its own signal handling: the runner owns SIGINT/SIGTERM for all parts."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class DatabaseServer:
    """Where the database is: a URL from settings, or the embedded server this process started
    (stopped again when the process ends)."""

    dsn: str
    embedded: embedded_pg.EmbeddedPostgres | None

    def pg_dump(self) -> str:
        return pg_tool("pg_dump")


def open_database(settings: Settings) -> DatabaseServer:
    if settings.database_url is not None:
        return DatabaseServer(settings.database_url.get_secret_value(), None)
    server = embedded_pg.start(settings.data_dir)
    return DatabaseServer(server.dsn, server)


async def migrate_and_backup(settings: Settings, database: DatabaseServer) -> list[str]:
    applied = await migrations.migrate(database.dsn)
    names = [f"{m.version:03d}_{m.name}" for m in applied]
    if applied and settings.backup_after_migrate:
        path, anchor = await backups.backup(
            database.dsn, settings.backup_dir, database.pg_dump(), label="post-migrate"
        )
        log.info("backup written after migrations", extra={"path": str(path),
                                                           "audit_anchor": anchor.seq})
    return names


FIRST_TOKEN_NAME = "first"


async def record_director_key(system: System) -> None:
    """Only a process that serves the API is given the Director key: it records the key's
    digest, which `aura retention prune --yes` checks (a worker has no key to record)."""
    async with system.db.transaction() as conn:
        await director_key.record(conn, system.director_key, system.auditor)


async def ensure_first_token(system: System) -> Path:
    """On first start, one MCP token for the Director's IDE, written 0600 under data_dir."""
    path = system.settings.data_dir / "first-mcp.token"
    if path.exists() or await system.tokens.list_tokens():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    issued = await system.tokens.create(FIRST_TOKEN_NAME, actor="system:first-start")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(issued.token + "\n")
    return path


async def run(settings: Settings, *, api: bool, mcp: bool, worker: bool) -> None:
    """Run the chosen parts until SIGINT/SIGTERM. Refuses at once, with one line, when a port
    is taken or another process holds this home."""
    started = time.monotonic()
    service = "up" if api and mcp and worker else ("serve" if api else "worker")
    if api:
        ensure_free(settings.api_host, settings.api_port, "AURA_API_PORT")
    if mcp:
        ensure_free(settings.mcp_host, settings.mcp_port, "AURA_MCP_PORT")
    refusal: GovernanceOff | None = None
    try:
        # Checked before anything starts: a bad key or value is one line and exit 2.
        policy = load_policy(settings.policy_file, required=settings.policy_required)
    except GovernanceOff as exc:
        refusal = exc
    with _holding_home(settings, serves=api or mcp):
        configure(service, settings.log_dir, settings.log_level)
        if refusal is not None:
            await _audit_refusal(settings, refusal)
            raise refusal
        await _run(settings, policy, started, api=api, mcp=mcp, worker=worker)


async def _audit_refusal(settings: Settings, refusal: GovernanceOff) -> None:
    """A policy that tries to turn governance off is refused, and the refusal is audited
    before the process exits."""
    database = await asyncio.to_thread(open_database, settings)
    try:
        await migrations.migrate(database.dsn)
        db = Database(database.dsn, min_size=1, max_size=1)
        await db.open()
        try:
            async with db.connection() as conn:
                await Auditor().record(conn, actor="system:start", action="policy.refused",
                                       subject=str(refusal.path),
                                       details={"key": refusal.key, "reason": str(refusal)})
        finally:
            await db.close()
    finally:
        if database.embedded is not None:
            await asyncio.to_thread(database.embedded.stop)


def _holding_home(settings: Settings, *, serves: bool) -> contextlib.AbstractContextManager[None]:
    """A process that serves, or that owns the embedded database, holds its home: a second
    one on the same home is refused instead of starting a second database and key."""
    if not serves and settings.database_url is not None:
        return contextlib.nullcontext()
    running = Running(
        home=settings.data_dir.absolute(), pid=os.getpid(),
        api_url=f"http://{settings.api_host}:{settings.api_port}",
        mcp_url=f"http://{settings.mcp_host}:{settings.mcp_port}/mcp",
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return occupy(running)


async def _run(
    settings: Settings, policy: Policy, started: float, *, api: bool, mcp: bool, worker: bool
) -> None:
    database = await asyncio.to_thread(open_database, settings)
    system: System | None = None
    try:
        applied = await migrate_and_backup(settings, database)
        if applied:
            log.info("migrations applied", extra={"migrations": applied})
        system = await build_system(settings, database.dsn, policy)
        if api:
            await record_director_key(system)
        log.info("policy %s in force", policy.version,
                 extra={"policy_file": str(policy.source or "(shipped defaults)")})
        # Only a process that serves MCP hands out the first token; workers never race for it.
        token_path = (await ensure_first_token(system) if mcp
                      else settings.data_dir / "first-mcp.token")
        employees = len(await system.roster.list_employees()) if api else 1

        def on_ready(parts: list[str]) -> None:
            print_banner(settings, token_path, Readiness(
                parts, seconds_since_process_start(started), settings.workspace_roots,
                employees))

        await _serve(system, settings, api=api, mcp=mcp, worker=worker, on_ready=on_ready)
    finally:
        if system is not None:
            await system.close()
        if database.embedded is not None:
            await asyncio.to_thread(database.embedded.stop)
        log.info("stopped")


async def _serve(
    system: System,
    settings: Settings,
    *,
    api: bool,
    mcp: bool,
    worker: bool,
    on_ready: Callable[[list[str]], None],
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    servers: list[SignalFreeServer] = []
    if api:
        servers.append(_uvicorn(system.api_app(), settings.api_host, settings.api_port))
    if mcp:
        servers.append(_uvicorn(system.mcp_app(), settings.mcp_host, settings.mcp_port))
    tasks = [asyncio.create_task(s.serve(), name=f"http:{s.config.port}") for s in servers]
    if worker:
        tasks.append(asyncio.create_task(system.manager.run(stop), name="worker"))
        plan = backup_schedule(system)
        if plan is not None:
            tasks.append(asyncio.create_task(scheduled_backups.run(plan, stop),
                                             name="backup-schedule"))
    tasks.append(asyncio.create_task(anchor_audit_head(system, stop), name="anchors"))
    tasks.append(asyncio.create_task(prune_events(system, stop), name="events-pruning"))
    tasks.append(asyncio.create_task(expire_approvals(system, stop), name="approvals"))
    if api or mcp:  # the processes that serve `/metrics`
        tasks.append(asyncio.create_task(verify_audit(system, stop), name="audit-verify"))
    while servers and not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)
    parts = [p for p, on in (("api", api), ("mcp", mcp), ("worker", worker)) if on]
    if all(s.started for s in servers):
        on_ready(parts)
    stopper: asyncio.Task[Any] = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({stopper, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    # Live event streams never end by themselves; uvicorn would wait out its grace for them.
    system.feed.close()
    for server in servers:
        server.should_exit = True
    _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S + 2)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in done - {stopper}:
        if task.exception() is not None:
            raise SystemExit(f"{task.get_name()} failed: {task.exception()}")
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)


def backup_schedule(system: System) -> scheduled_backups.BackupSchedule | None:
    """The worker's scheduled backup, or None when AURA_BACKUP_SCHEDULE is off."""
    settings = system.settings
    schedule = parse_schedule(settings.backup_schedule, settings.timezone)
    if schedule is None:
        return None
    dsn = system.db.dsn

    async def take() -> Path:
        path, _ = await backups.backup(dsn, settings.backup_dir, pg_tool("pg_dump"),
                                       label=scheduled_backups.LABEL)
        return path

    return scheduled_backups.BackupSchedule(
        db=system.db, auditor=system.auditor, schedule=schedule, take=take,
        worker=f"{socket.gethostname()}:{os.getpid()}", backup_dir=settings.backup_dir,
        keep=settings.backup_keep, started=datetime.now(UTC))


ANCHOR_EVERY_S = 10.0


async def anchor_audit_head(system: System, stop: asyncio.Event) -> None:
    """Write the audit head outside the database every few seconds. The last anchor is
    `System.close`'s, after the journal's final flush."""
    while not stop.is_set():
        try:
            head = await system.auditor.head(system.db)
            await asyncio.to_thread(system.anchors.record, head)
        except Exception:
            log.exception("could not anchor the audit head; will try again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), ANCHOR_EVERY_S)


PRUNE_EVENTS_EVERY_S = 600.0


async def prune_events(system: System, stop: asyncio.Event) -> None:
    """Keep the live feed's table bounded (AURA_EVENTS_KEEP_DAYS / _ROWS). Every process
    does it; a delete that finds nothing left to delete costs one index probe."""
    keep_for = timedelta(days=system.settings.events_keep_days)
    while not stop.is_set():
        try:
            dropped = await system.feed.prune(keep_for, system.settings.events_keep_rows)
            if dropped:
                log.info("pruned old live events", extra={"events": dropped})
        except Exception:
            log.exception("could not prune the live events; will try again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PRUNE_EVENTS_EVERY_S)


EXPIRE_EVERY_S = 30.0


async def expire_approvals(system: System, stop: asyncio.Event) -> None:
    """Expiry means deny: undecided approvals past their time are expired (and the jobs
    waiting for them rejected) even when nobody reads them."""
    while not stop.is_set():
        try:
            await system.approvals.expire()
        except Exception:
            log.exception("could not expire approvals; will try again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), EXPIRE_EVERY_S)


VERIFY_AUDIT_EVERY_S = 3600.0


async def verify_audit(system: System, stop: asyncio.Event) -> None:
    """Recompute the audit chain against this host's anchors at start and then hourly, for
    `aura_audit_verify_ok` (an alert rule watches it). Hourly, not per scrape: it reads every
    entry. A run the database is down for keeps the last outcome."""
    while not stop.is_set():
        try:
            await verify_audit_once(system)
        except Exception:
            log.exception("could not verify the audit chain; will try again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), VERIFY_AUDIT_EVERY_S)


async def verify_audit_once(system: System) -> None:
    anchors = await asyncio.to_thread(system.anchors.read)
    report = await system.auditor.verify(system.db, anchors=anchors)
    system.metrics.audit_verified(report.ok, time.time())
    if not report.ok:
        log.error("the audit chain does not verify", extra=report.as_dict())


def _uvicorn(app: Any, host: str, port: int) -> SignalFreeServer:
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, lifespan="on", access_log=False,
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE_S), ws="none",
    )
    return SignalFreeServer(config)


async def run_stdio(settings: Settings, env: Mapping[str, str] = os.environ) -> None:
    """The MCP server over stdio for IDEs that spawn it, as the client whose token is in
    `AURA_MCP_TOKEN`; logs go to the file only, since stdout is the protocol's channel.

    A missing token is refused before the database is touched; an unknown or revoked one as
    soon as it can be checked, before the protocol starts (both one line, exit code 2)."""
    presented = presented_token(env)
    configure("mcp-stdio", settings.log_dir, settings.log_level)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "stream", None) is sys.stdout:
            root.removeHandler(handler)
    database = await asyncio.to_thread(open_database, settings)
    system: System | None = None
    try:
        await migrate_and_backup(settings, database)
        system = await build_system(settings, database.dsn)
        client = await client_for_token(system.tokens, presented)
        log.info("serving MCP over stdio", extra={"client": client})
        await serve_stdio(system.mcp_server(), client)
    finally:
        if system is not None:
            await system.close()
        if database.embedded is not None:
            await asyncio.to_thread(database.embedded.stop)
