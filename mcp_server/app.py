"""The composition root: Settings → Database → Auditor → Accountant → Pool → Manager → tools →
Starlette apps, built in one visible place. Tests build the same graph with their own settings.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from governance.access import TokenRegistry
from governance.accountant import Accountant
from governance.anchors import AnchorFile
from governance.approvals import Approvals
from governance.auditor import Auditor
from governance.budgets import Budgets
from governance.hiring import HIRE, hire_performer
from governance.job_gate import JobApprovals
from governance.journal import AuditJournal
from governance.middleware import GovernanceMiddleware
from governance.notify import Notifier
from governance.policy import Policy, load_policy
from governance.validation import BwrapValidator
from mcp_server.api.app import ApiServices, build_api
from mcp_server.mcp import build_mcp_app, build_mcp_server
from mcp_server.metrics import Metrics
from mcp_server.settings import Settings
from orchestra import migrations
from orchestra.changes import ChangeApplier
from orchestra.confine import Confiner, JobLimits
from orchestra.consensus import Consensuses
from orchestra.employees.cache import AdapterCache
from orchestra.events import JobEvents
from orchestra.feed import EventFeed
from orchestra.manager import AttemptConfig, AttemptRunner, Manager, ManagerConfig, WorkerRegistry
from orchestra.pool import Pool
from orchestra.queue import HrRules, JobQueue
from orchestra.roster import Roster
from orchestra.runlog import RunLogReader, RunLogShipper
from orchestra.sandbox import Sandboxes
from orchestra.store.db import Database
from orchestra.threads import Threads
from orchestra.workspaces import Workspaces
from tools.services import ToolServices

log = logging.getLogger("mcp_server.app")


@dataclass
class System:
    """Every long-lived object of one process, wired together."""

    settings: Settings
    db: Database
    events: JobEvents
    auditor: Auditor
    tokens: TokenRegistry
    queue: JobQueue
    roster: Roster
    pool: Pool
    manager: Manager
    sandboxes: Sandboxes
    metrics: Metrics
    tools: ToolServices
    director_key: str
    anchors: AnchorFile
    journal: AuditJournal
    accountant: Accountant
    budgets: Budgets
    feed: EventFeed
    policy: Policy
    approvals: Approvals

    async def close(self) -> None:
        """End the live streams, flush the audit journal, anchor the final head, then let go
        of the database."""
        self.feed.close()
        try:
            await self.approvals.notifier.close()
            await self.journal.close()
            await asyncio.to_thread(self.anchors.record, await self.auditor.head(self.db))
        except Exception:
            log.exception("closing: the audit journal or the final anchor could not be written")
        finally:
            await self.events.stop()
            await self.db.close()

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready when PostgreSQL answers and every migration is applied."""
        database = await self.db.is_reachable()
        current = False
        if database:
            async with self.db.connection() as conn:
                current = await migrations.is_current(conn)
        return database and current, {"database": database, "migrations_current": current}

    def api_app(self) -> Starlette:
        services = ApiServices(
            db=self.db, director_key=self.director_key, queue=self.queue, roster=self.roster,
            tokens=self.tokens, auditor=self.auditor, accountant=self.accountant,
            budgets=self.budgets, tools=self.tools, approvals=self.approvals,
            changes=ChangeApplier(self.db, self.auditor, self.sandboxes),
            anchors=self.anchors, sandboxes=self.sandboxes, feed=self.feed,
            events_heartbeat_s=self.settings.events_heartbeat_seconds,
        )
        return build_api(services, self.readiness, self.metrics.render, self._metrics_token())

    def mcp_server(self) -> Any:
        governance = GovernanceMiddleware(self.journal, self.metrics.observe_tool_call)
        server = build_mcp_server(self.tools, governance, tool_set=self.settings.mcp_tools)
        # Only these names become metric labels; any other a client sends counts as `unknown`.
        self.metrics.know_tools(tool.name for tool in server._tool_manager.list_tools())
        return server

    def mcp_app(self) -> Starlette:
        return build_mcp_app(
            self.mcp_server(), self.tokens, host=self.settings.mcp_host,
            port=self.settings.mcp_port, ready=self.readiness, metrics=self.metrics.render,
            metrics_token=self._metrics_token(),
        )

    def _metrics_token(self) -> str | None:
        token = self.settings.metrics_token
        return token.get_secret_value() if token is not None else None


async def build_system(settings: Settings, dsn: str, policy: Policy | None = None) -> System:
    """Open the database and the event listener and wire the graph. Call `close()` after.
    The policy is read from `settings.policy_file` unless given (the runner reads it first)."""
    if policy is None:
        policy = load_policy(settings.policy_file, required=settings.policy_required)
    db = Database(dsn, min_size=2, max_size=20)
    await db.open()
    events = JobEvents(dsn)
    await events.start()
    auditor = Auditor()
    accountant = Accountant(settings.timezone)
    budgets = Budgets(db, auditor, settings.timezone)
    await budgets.check_timezone()
    roster = Roster(db, auditor)
    approvals = Approvals(db, policy, Notifier(settings.notify_url))
    approvals.performers[HIRE] = hire_performer(roster)
    gate = JobApprovals(approvals, accountant)
    approvals.job_check = gate.check_job
    # One confinement for every command a job runs: its employee's and its checks'.
    confiner = Confiner(
        JobLimits(memory_mb=settings.job_memory_mb, tmp_mb=settings.job_tmp_mb,
                  pids=settings.job_pids),
        extra_read_paths=settings.validation_read_roots,
        hidden=[settings.data_dir.resolve(), settings.sandbox_dir.resolve(),
                settings.snapshot_dir.resolve(), settings.backup_dir.resolve()],
    )
    adapters = AdapterCache(roster, ollama_url=settings.ollama_url, confiner=confiner)
    pool = Pool(db, adapters.get, size=settings.pool_slots)
    reserved = [settings.data_dir, settings.sandbox_dir, settings.snapshot_dir,
                settings.backup_dir]
    queue = JobQueue(
        db, auditor, Workspaces(settings.workspace_roots, reserved=reserved),
        hr=HrRules(policy.hr.probation_jobs, policy.hr.failures_to_suspend), gate=gate,
    )
    shipper = RunLogShipper(db, host=socket.gethostname())
    sandboxes = Sandboxes(
        settings.sandbox_dir.resolve(), settings.snapshot_dir.resolve(),
        hidden=[settings.data_dir.resolve(), settings.backup_dir.resolve()],
        extra_dependency_dirs=settings.dependency_dir_names,
    )
    threads = Threads(db)
    attempts = AttemptRunner(
        queue=queue, roster=roster, pool=pool, adapters=adapters,
        sandboxes=sandboxes,
        ledger=accountant,
        validator=BwrapValidator(
            time_limit_s=settings.validation_timeout_seconds, confiner=confiner),
        shipper=shipper,
        threads=threads,
        config=AttemptConfig(job_timeout_seconds=settings.job_timeout_seconds),
    )
    manager = Manager(
        queue=queue, pool=pool, registry=WorkerRegistry(db), attempts=attempts,
        shipper=shipper, events=events,
        config=ManagerConfig(
            lease_seconds=settings.lease_seconds, heartbeat_seconds=settings.heartbeat_seconds,
            poll_seconds=settings.poll_seconds, concurrency=settings.pool_slots,
        ),
    )
    tools = ToolServices(queue=queue, roster=roster, pool=pool, events=events,
                         runlogs=RunLogReader(db), auditor=auditor, db=db, budgets=budgets,
                         approvals=approvals, threads=threads,
                         consensus=Consensuses(db, queue, auditor, pool_size=pool.size))
    return System(
        settings=settings, db=db, events=events, auditor=auditor,
        tokens=TokenRegistry(db, auditor), queue=queue, roster=roster, pool=pool,
        manager=manager, sandboxes=sandboxes,
        metrics=Metrics(db, settings.pool_slots, settings.timezone),
        tools=tools,
        director_key=settings.ensure_director_key(),
        anchors=AnchorFile(settings.data_dir / "audit-anchors.jsonl"),
        journal=AuditJournal(db), accountant=accountant, budgets=budgets,
        feed=EventFeed(db, events), policy=policy, approvals=approvals,
    )
