"""The worker loop: claim → employee → slot → sandbox → work → validate → finish.

A worker runs as many jobs at once as the pool has slots. It wakes on NOTIFY and also looks
for work every `poll_seconds`, heartbeats each job's lease, and rescues jobs whose worker died.
No database connection is held while an employee or a command runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from orchestra.aio import complete_despite_cancel, first_of
from orchestra.edits import apply_edits, parse_edits
from orchestra.employees.base import EmployeeFailed, WorkRequest, WorkResult
from orchestra.employees.cache import AdapterCache
from orchestra.errors import AuraError
from orchestra.events import JobEvents
from orchestra.hooks import CallLedger, ValidationReport, Validator
from orchestra.models import Adapter, Employee, Job, JobStatus
from orchestra.pool import NoFreeSlot, Pool
from orchestra.prompting import compose_prompt
from orchestra.queue import JobQueue, LeaseLost
from orchestra.roster import Roster
from orchestra.runlog import RunLog
from orchestra.sandbox import JobCopy, Sandboxes
from orchestra.snapshots import SnapshotStore

log = logging.getLogger("orchestra.manager")


@dataclass(frozen=True, slots=True)
class ManagerConfig:
    worker_id: str
    lease_seconds: float = 30.0
    poll_seconds: float = 5.0
    job_timeout_seconds: float = 600.0
    retry_backoff_seconds: float = 5.0
    concurrency: int = 3


@dataclass(frozen=True, slots=True)
class Outcome:
    output: str | None
    diff: str | None
    report: ValidationReport
    error: str | None = None


class Manager:
    """Runs jobs from the queue. Collaborators come in through the constructor."""

    def __init__(
        self,
        *,
        queue: JobQueue,
        roster: Roster,
        pool: Pool,
        adapters: AdapterCache,
        sandboxes: Sandboxes,
        snapshots: SnapshotStore,
        ledger: CallLedger,
        validator: Validator,
        events: JobEvents,
        config: ManagerConfig,
    ) -> None:
        self.queue = queue
        self.roster = roster
        self.pool = pool
        self.adapters = adapters
        self.sandboxes = sandboxes
        self.snapshots = snapshots
        self.ledger = ledger
        self.validator = validator
        self.events = events
        self.config = config
        self._running: set[asyncio.Task[None]] = set()

    @property
    def worker(self) -> str:
        return self.config.worker_id

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run jobs until `stop` is set; then hand running jobs back to the queue."""
        rescuer = asyncio.create_task(self._rescue_loop(stop))
        capacity = asyncio.Semaphore(self.config.concurrency)
        try:
            while not stop.is_set():
                await capacity.acquire()
                job = await self._claim_or_wait(stop)
                if job is None:
                    capacity.release()
                    continue
                task = asyncio.create_task(self._run_guarded(job, capacity))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
        finally:
            rescuer.cancel()
            for task in list(self._running):
                task.cancel()
            await asyncio.gather(rescuer, *self._running, return_exceptions=True)

    async def _claim_or_wait(self, stop: asyncio.Event) -> Job | None:
        try:
            job = await self.queue.claim(self.worker, self.config.lease_seconds)
        except Exception:
            # The database restarting must not end the worker: wait, then look again.
            log.exception("claiming a job failed; trying again")
            job = None
        if job is None and not stop.is_set():
            await first_of(self.events.wait_for_work(self.config.poll_seconds), stop.wait())
        return job

    async def _run_guarded(self, job: Job, capacity: asyncio.Semaphore) -> None:
        try:
            await self.run_job(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s could not be concluded; its lease will return it", job.id)
        finally:
            capacity.release()

    async def _rescue_loop(self, stop: asyncio.Event) -> None:
        interval = max(0.5, self.config.lease_seconds / 3)
        actor = f"worker:{self.worker}"
        while not stop.is_set():
            try:
                for job in await self.queue.requeue_expired(actor=actor):
                    log.warning("rescued job %s from a lost worker (now %s)", job.id, job.status)
                await self.pool.free_orphans(actor=actor)
            except Exception:
                log.exception("lease rescue failed; will try again")
            await first_of(asyncio.sleep(interval), stop.wait())

    async def run_job(self, job: Job) -> Job:
        """One attempt of a claimed job, start to finish, under a heartbeated lease."""
        runlog = self.snapshots.runlog(job.id)
        runlog.write(f"ATTEMPT {job.attempts} under lease {_lease(job)}", job.prompt)
        work = asyncio.create_task(self._attempt(job, runlog))
        beat = asyncio.create_task(self._heartbeat(job, work))
        try:
            outcome = await work
        except NoFreeSlot as exc:
            # Waiting longer is not the job's fault: it goes back to the queue, not counted.
            await complete_despite_cancel(self._hand_back(job, runlog, str(exc)))
            return job
        except LeaseLost:
            runlog.write("LEASE LOST", "another worker took over this job")
            return job
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # This worker is stopping: give the job back now rather than after its lease.
                await complete_despite_cancel(
                    self._hand_back(job, runlog, "the worker stopped")
                )
                raise
            runlog.write("LEASE LOST", "the lease expired; another worker took over")
            return job
        finally:
            beat.cancel()
        return await self._conclude(job, outcome, runlog)

    async def _hand_back(self, job: Job, runlog: RunLog, reason: str) -> None:
        try:
            if await self.queue.hand_back(job, _lease(job), reason=reason):
                runlog.write("HANDED BACK", f"{reason}; the job is queued again")
                await self.sandboxes.remove(job.id)
        except Exception:
            log.exception("could not hand job %s back; its lease will return it", job.id)

    async def _heartbeat(self, job: Job, work: asyncio.Task[Outcome]) -> None:
        interval = self.config.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                alive = await self.queue.heartbeat(job.id, _lease(job), self.config.lease_seconds)
            except Exception:
                log.exception("heartbeat for job %s failed; retrying", job.id)
                continue
            if not alive:
                work.cancel()
                return

    async def _attempt(self, job: Job, runlog: RunLog) -> Outcome:
        try:
            employee = await self.roster.pick(job.requested_employee)
            copy = await self._prepare_sandbox(job)
            result = await self._work(job, employee, copy, runlog)
        except (LeaseLost, NoFreeSlot):
            raise
        except Exception as exc:
            return self._failed(exc, runlog)
        await self.queue.start_validating(job, _lease(job))
        try:
            error = None
            if copy is not None and employee.adapter is not Adapter.CLI:
                error = await asyncio.to_thread(self._apply_edits, copy.path, result.text, runlog)
            report = ValidationReport()
            if error is None and job.acceptance and copy is not None:
                report = await self.validator.validate(copy, job.acceptance, runlog)
            diff = None
            if copy is not None:
                # Against the before commit, not the live project: edits the Director makes
                # meanwhile must not show up reverted in this job's diff.
                diff = await self.sandboxes.finish(copy)
        except Exception as exc:
            return self._failed(exc, runlog, output=result.text)
        return Outcome(result.text, diff, report, error)

    def _failed(self, exc: Exception, runlog: RunLog, output: str | None = None) -> Outcome:
        if not isinstance(exc, EmployeeFailed | AuraError):
            log.exception("unexpected error in a job attempt")
        message = str(exc) or type(exc).__name__
        runlog.write("ERROR", message)
        return Outcome(output, None, ValidationReport(), error=message)

    async def _prepare_sandbox(self, job: Job) -> JobCopy | None:
        if job.project is None:
            return None
        return await self.sandboxes.prepare(job.id, Path(job.project))

    async def _work(
        self, job: Job, employee: Employee, copy: JobCopy | None, runlog: RunLog
    ) -> WorkResult:
        adapter = await self.adapters.get(employee.name)
        workdir = copy.path if copy is not None else None
        prompt = await asyncio.to_thread(compose_prompt, job.prompt, employee, workdir)
        lease = await self.pool.acquire(
            employee, job.id, _lease(job), timeout=self.config.job_timeout_seconds
        )
        try:
            await self.queue.assign(job, _lease(job), employee.name, lease.index)
            started = time.perf_counter()
            result = await adapter.work(
                WorkRequest(prompt, copy, self.config.job_timeout_seconds), runlog
            )
            latency_ms = int((time.perf_counter() - started) * 1000)
        finally:
            await complete_despite_cancel(self.pool.release(lease, _lease(job)))
        await self.queue.charge(job, employee, result.usage, latency_ms, self.ledger)
        return result

    def _apply_edits(self, sandbox: Path, reply: str, runlog: RunLog) -> str | None:
        try:
            changed = apply_edits(sandbox, parse_edits(reply))
        except AuraError as exc:
            runlog.write("EDITS REFUSED", str(exc))
            return f"the reply's edits were refused: {exc}"
        runlog.write("EDITS APPLIED", "\n".join(changed) or "(none)")
        return None

    async def _conclude(self, job: Job, outcome: Outcome, runlog: RunLog) -> Job:
        report = outcome.report.as_dict()
        error = outcome.error
        if error is None and not outcome.report.passed:
            failed = [c.command for c in outcome.report.checks if not c.passed]
            error = "acceptance failed: " + "; ".join(failed)
        try:
            if error is not None and job.attempts < job.max_attempts:
                runlog.write("RETRY", error)
                concluded = await self.queue.retry(
                    job, _lease(job), backoff_seconds=self.config.retry_backoff_seconds,
                    output=outcome.output, validation=report, error=error,
                )
            else:
                status = JobStatus.SUCCEEDED if error is None else JobStatus.FAILED
                runlog.write(f"FINISHED {status.value}", error or "")
                concluded = await self.queue.finish(
                    job, _lease(job), status, output=outcome.output, diff=outcome.diff,
                    validation=report, error=error,
                )
        except LeaseLost:
            runlog.write("LEASE LOST", "the job was rescued before it could finish")
            return job
        await self.sandboxes.remove(job.id)
        return concluded


def _lease(job: Job) -> str:
    """The claim's own lease (`<worker>/<attempt>`), which every later move must present."""
    if job.lease_owner is None:
        raise LeaseLost(job.id, "(no lease)")
    return job.lease_owner
