"""The worker loop: register, claim jobs with their slots, run attempts, stop cleanly.

A worker claims a job only together with a pool slot (`JobQueue.claim`), so it never holds a
job it cannot run and the three-slot limit and queue order hold across every worker and host.
It runs at most `concurrency` attempts at once, wakes on NOTIFY (a job queued, a slot freed)
and also looks every `poll_seconds`. Side tasks, supervised: the heartbeat (the worker's row
and all its leases in one round trip), the rescue (dead workers, expired leases, orphaned
slots) and the run-log shipper. On stop, running attempts are cancelled and hand their jobs
back. Each database step of a stop is bounded (5 s) and the runner cancels what is left after
7 s, so a stop ends in about a second normally and in bounded time when PostgreSQL hangs.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field

from orchestra.aio import complete_despite_cancel, first_of
from orchestra.events import JobEvents
from orchestra.manager.attempt import AttemptRunner
from orchestra.manager.registry import WorkerRegistry, new_worker_id
from orchestra.models import Claim, Job
from orchestra.pool import Pool
from orchestra.queue import JobQueue
from orchestra.runlog import RunLogShipper
from orchestra.supervisor import Supervisor

log = logging.getLogger("orchestra.manager")
# How long stopping waits for the side tasks' last round (the final run-log flush) at most.
SIDE_TASKS_GRACE_S = 2.0


@dataclass(frozen=True, slots=True)
class ManagerConfig:
    worker_id: str = field(default_factory=new_worker_id)
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    poll_seconds: float = 5.0
    concurrency: int = 3

    def __post_init__(self) -> None:
        if self.lease_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                f"the lease ({self.lease_seconds:g} s) must last at least two heartbeats "
                f"({self.heartbeat_seconds:g} s each)"
            )


@dataclass(slots=True)
class _Running:
    claim: Claim
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    started: bool = False  # a task cancelled before its first step never ran its hand-back
    cancelled: bool = False  # the job was cancelled (not rescued): its copy can go
    task: asyncio.Task[Job] = field(init=False)

    @property
    def lease(self) -> str:
        return self.claim.lease


class Manager:
    """One worker: the claim loop and its supervised side tasks."""

    def __init__(
        self,
        *,
        queue: JobQueue,
        pool: Pool,
        registry: WorkerRegistry,
        attempts: AttemptRunner,
        shipper: RunLogShipper,
        events: JobEvents,
        config: ManagerConfig,
    ) -> None:
        self.queue = queue
        self.pool = pool
        self.registry = registry
        self.attempts = attempts
        self.shipper = shipper
        self.events = events
        self.config = config
        self._running: dict[uuid.UUID, _Running] = {}  # by job id

    @property
    def worker(self) -> str:
        return self.config.worker_id

    @property
    def actor(self) -> str:
        return f"worker:{self.worker}"

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run jobs until `stop` is set; then hand running jobs back to the queue.

        Raises `SideTaskFailed` when a side task died (the worker stopped because of it)."""
        await self._register()
        await self._sweep()
        self.events.on_cancel(self._cancelled)
        side_stop = asyncio.Event()
        supervisor = Supervisor()
        supervisor.start("heartbeat", self._heartbeat_loop(side_stop))
        supervisor.start("rescue", self._rescue_loop(side_stop))
        supervisor.start("runlog", self.shipper.run(side_stop))
        halt = asyncio.Event()
        watcher = asyncio.create_task(first_of(stop.wait(), supervisor.failed.wait()))
        watcher.add_done_callback(lambda _: halt.set())
        try:
            await self._claim_loop(halt)
        finally:
            watcher.cancel()
            await self._stop_attempts()
            side_stop.set()
            await supervisor.stop(SIDE_TASKS_GRACE_S)
            await complete_despite_cancel(self._deregister())
        supervisor.raise_if_failed()

    async def _sweep(self) -> None:
        try:
            found = await asyncio.to_thread(self.attempts.sandboxes.sweep)
        except OSError:
            log.exception("could not sweep the sandbox directory")
            return
        if found:
            log.info("deleting %d working copies left by interrupted work", found)

    async def _register(self) -> None:
        await self.registry.register(
            self.worker, concurrency=self.config.concurrency,
            heartbeat_seconds=self.config.heartbeat_seconds,
        )

    async def _deregister(self) -> None:
        try:
            await self.registry.stop(self.worker)
        except Exception:
            log.exception("could not mark worker %s stopped; peers will find it silent",
                          self.worker)

    async def _claim_loop(self, halt: asyncio.Event) -> None:
        while not halt.is_set():
            if len(self._running) >= self.config.concurrency:
                tasks = [r.task for r in self._running.values()]
                await first_of(asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED),
                               halt.wait())
                continue
            claim = await self._claim()
            if claim is not None:
                self._start(claim)
                continue
            await first_of(self.events.wait_for_work(self.config.poll_seconds), halt.wait())

    async def claim(self) -> Claim | None:
        """The next job with its slot, for this worker (None when there is none)."""
        return await self.queue.claim(self.worker, self.config.lease_seconds, self.pool.size)

    async def _claim(self) -> Claim | None:
        try:
            return await self.claim()
        except Exception:
            # The database restarting must not end the worker: wait, then look again.
            log.exception("claiming a job failed; trying again")
            return None

    def _start(self, claim: Claim) -> None:
        job_id = claim.job.id
        older = self._running.get(job_id)
        if older is not None:
            # This worker claimed the job again after its earlier attempt lost the lease
            # (declared dead while cut off, say): that attempt must stop, not run on unwatched.
            older.lost.set()
            older.task.cancel()
        entry = _Running(claim)
        entry.task = asyncio.create_task(self._run_guarded(entry), name=f"job:{job_id}")
        self._running[job_id] = entry

        def forget(_: asyncio.Task[Job]) -> None:
            if self._running.get(job_id) is entry:  # not a newer attempt's entry
                del self._running[job_id]

        entry.task.add_done_callback(forget)

    async def run_attempt(self, claim: Claim) -> Job:
        """One attempt outside the loop (no heartbeat): for tests and tools."""
        return await self.attempts.run(claim, asyncio.Event())

    async def _run_guarded(self, entry: _Running) -> Job:
        entry.started = True
        claim = entry.claim
        try:
            job = await self.attempts.run(claim, entry.lost)
            if entry.cancelled:  # nobody else will use this copy: it goes now
                await self.attempts.sandboxes.remove(claim.job.id, wait=False)
            return job
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s could not be concluded; its lease will return it",
                          claim.job.id)
            return claim.job

    async def _stop_attempts(self) -> None:
        """Cancel running attempts; each hands its job back (bounded) before it ends. A job
        claimed just as the stop came, whose attempt never started, is handed back here."""
        entries = list(self._running.values())
        for entry in entries:
            entry.task.cancel()
        await asyncio.gather(*(e.task for e in entries), return_exceptions=True)
        for entry in entries:
            if not entry.started and not entry.lost.is_set():
                await complete_despite_cancel(self._hand_back_unstarted(entry.claim))

    async def _hand_back_unstarted(self, claim: Claim) -> None:
        try:
            await self.queue.hand_back(claim.job, claim.lease, reason="the worker stopped")
        except Exception:
            log.exception("could not hand job %s back; peers will rescue it", claim.job.id)

    def _cancelled(self, job_id: uuid.UUID) -> None:
        """A job this worker runs was cancelled: stop its attempt now (its process group is
        killed on the way out); the cancel already freed the slot and ended the lease."""
        running = self._running.get(job_id)
        if running is not None and not running.lost.is_set():
            log.info("job %s cancelled: stopping its attempt", str(job_id)[:8],
                     extra={"event": "job.cancelled", "job_id": str(job_id), "tone": "warn"})
            running.cancelled = True
            running.lost.set()
            running.task.cancel()

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._beat()
            except Exception:
                log.exception("heartbeat failed; retrying (leases expire if this persists)")
            await first_of(asyncio.sleep(self.config.heartbeat_seconds), stop.wait())

    async def _beat(self) -> None:
        leases = {job_id: running.lease for job_id, running in self._running.items()}
        beat = await self.registry.heartbeat(self.worker, leases, self.config.lease_seconds)
        if not beat.alive:
            # Declared dead while paused or cut off. Count again as alive, then beat once more:
            # the attempts whose jobs peers have not rescued yet keep going.
            log.warning("worker %s was declared dead by its peers; registering again",
                        self.worker)
            await self._register()
            beat = await self.registry.heartbeat(self.worker, leases, self.config.lease_seconds)
        for job_id, lease in leases.items():
            running = self._running.get(job_id)
            if job_id not in beat.held and running is not None and running.lease == lease:
                log.warning("lease %s on job %s was lost; stopping that attempt", lease, job_id)
                running.lost.set()
                running.task.cancel()

    async def _rescue_loop(self, stop: asyncio.Event) -> None:
        interval = self.config.heartbeat_seconds / 2
        while not stop.is_set():
            try:
                await self.rescue()
            except Exception:
                log.exception("rescue pass failed; will try again")
            await first_of(asyncio.sleep(interval), stop.wait())

    async def rescue(self) -> None:
        """Declare silent workers dead, requeue their jobs and expired leases, free slots."""
        for dead in await self.registry.declare_dead(self.worker, actor=self.actor):
            log.warning("worker %s declared dead (last heartbeat %s)", dead.id,
                        dead.last_heartbeat.isoformat())
        for job in await self.queue.requeue_expired(actor=self.actor):
            log.warning("rescued job %s from a lost worker (now %s)", job.id, job.status)
        await self.pool.free_orphans(actor=self.actor)
