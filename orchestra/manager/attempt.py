"""One attempt of a claimed job: load → sandbox → work → validate → conclude.

The job arrives claimed together with its slot (`Claim`). The slot is loaded if it must be,
the project's working copy is prepared, the employee works (an API model's edits are applied
to the copy then, and edits that cannot be applied are fed back to it once), and the job moves
to `validating` in the same statement that gives the slot back; then the acceptance checks
run, the diff is taken and the attempt concludes (succeeded, failed, or queued again for a
retry). No database connection is held while an employee or a command runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from orchestra.aio import complete_despite_cancel
from orchestra.edits import apply_edits, parse_edits
from orchestra.employees.base import EmployeeFailed, WorkRequest, WorkResult, spent_by
from orchestra.employees.cache import AdapterCache
from orchestra.errors import AuraError, BudgetExceeded, SpendUnreadable
from orchestra.hooks import CallLedger, ValidationReport, Validator
from orchestra.models import Adapter, Claim, Employee, Job, JobStatus
from orchestra.pool import Pool
from orchestra.prompting import compose_prompt, compose_retry
from orchestra.queue import JobQueue, LeaseLost
from orchestra.roster import Roster
from orchestra.runlog import RunLog, RunLogShipper
from orchestra.sandbox import JobCopy, Sandboxes
from orchestra.threads import Threads

log = logging.getLogger("orchestra.manager")


@dataclass(frozen=True, slots=True)
class AttemptConfig:
    job_timeout_seconds: float = 600.0
    retry_backoff_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an attempt ended. `report` is None when the attempt never reached validation (the
    job then reports `validation: null`, not an empty passing report)."""

    output: str | None
    diff: str | None
    report: ValidationReport | None
    error: str | None = None
    refusal: BudgetExceeded | SpendUnreadable | None = None


def _event(job: Job, event: str, text: str, tone: str) -> None:
    """One line of the terminal's job feed, `job <id8> <text>` (JSON in the log file)."""
    log.info("job %s %s", str(job.id)[:8], text,
             extra={"event": f"job.{event}", "job_id": str(job.id), "tone": tone})


def _concluded_event(job: Job, seconds: float) -> None:
    if job.status is JobStatus.SUCCEEDED:
        _event(job, "succeeded", f"succeeded in {seconds:.1f}s", "ok")
    elif job.status is JobStatus.QUEUED:
        _event(job, "retry", f"failed, will retry: {_first_line(job.error)}", "warn")
    else:
        _event(job, job.status.value, f"{job.status.value}: {_first_line(job.error)}", "bad")


def _first_line(text: str | None) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else "(no detail)"
    return line if len(line) <= 160 else line[:157] + "..."


class AttemptRunner:
    """Runs one attempt of a claimed job. Collaborators come in through the constructor."""

    def __init__(
        self,
        *,
        queue: JobQueue,
        roster: Roster,
        pool: Pool,
        adapters: AdapterCache,
        sandboxes: Sandboxes,
        ledger: CallLedger,
        validator: Validator,
        shipper: RunLogShipper,
        threads: Threads,
        config: AttemptConfig,
    ) -> None:
        self.queue = queue
        self.roster = roster
        self.pool = pool
        self.adapters = adapters
        self.sandboxes = sandboxes
        self.ledger = ledger
        self.validator = validator
        self.shipper = shipper
        self.threads = threads
        self.config = config

    def runlog(self, job: Job) -> RunLog:
        return self.sandboxes.snapshots.runlog(job.id, sink=self.shipper.sink_for(job.id))

    async def run(self, claim: Claim, lost: asyncio.Event) -> Job:
        """The attempt start to finish. `lost` is set by the heartbeat when the lease was
        rescued; the attempt is then cancelled and leaves the job alone. Any other
        cancellation means the worker is stopping: the job is handed back, then the
        cancellation goes on."""
        job = claim.job
        runlog = self.runlog(job)
        runlog.write(
            f"ATTEMPT {job.attempts} under lease {claim.lease} in slot {claim.slot.index}",
            job.prompt,
        )
        started = time.monotonic()
        again = f", attempt {job.attempts}" if job.attempts > 1 else ""
        _event(job, "started", f"started: {job.employee} in slot {claim.slot.index}{again}",
               "note")
        # The working copy goes before the job is let go of (concluded or handed back): once
        # it is, another attempt on this host may prepare a copy under the same name. After a
        # lost lease the copy is left alone for the same reason.
        try:
            outcome, job = await self._attempt(claim, runlog)
            await self.sandboxes.remove(job.id)
            concluded = await self._conclude(job, claim.lease, outcome, runlog)
            _concluded_event(concluded, time.monotonic() - started)
            return concluded
        except LeaseLost:
            runlog.write("LEASE LOST", "another worker took over this job")
            _event(job, "lease_lost", "lost its lease: another worker took it over", "warn")
            return job
        except asyncio.CancelledError:
            if lost.is_set():
                runlog.write("STOPPED", "the job was cancelled, or rescued by another worker")
                _event(job, "stopped", "stopped: cancelled, or rescued by another worker",
                       "warn")
                return job
            await complete_despite_cancel(self._hand_back(job, claim.lease, runlog))
            _event(job, "handed_back", "handed back: the worker stopped; queued again", "warn")
            raise
        finally:
            await complete_despite_cancel(self._ship_rest(job))

    async def _ship_rest(self, job: Job) -> None:
        try:
            await self.shipper.flush()
        except Exception:
            log.exception("run log of job %s not shipped yet; the next flush retries", job.id)
        self.shipper.forget(job.id)

    async def _hand_back(self, job: Job, lease: str, runlog: RunLog) -> None:
        # A stop must be quick: the copy is renamed away now and deleted in the background.
        await self.sandboxes.remove(job.id, wait=False)
        try:
            if await self.queue.hand_back(job, lease, reason="the worker stopped"):
                runlog.write("HANDED BACK", "the worker stopped; the job is queued again")
        except Exception:
            log.exception("could not hand job %s back; its lease will return it", job.id)

    async def _attempt(self, claim: Claim, runlog: RunLog) -> tuple[Outcome, Job]:
        job = claim.job
        try:
            employee = await self.roster.get(job.employee or "")
            await self.pool.make_resident(claim.slot, employee.name, job.id, claim.lease)
            copy = await self._prepare_sandbox(job)
            result, edit_error = await self._work(job, claim.lease, employee, copy, runlog)
        except LeaseLost:
            raise
        except Exception as exc:
            return self._failed(exc, runlog), job
        job = await self.queue.start_validating(job, claim.lease)
        try:
            outcome = await self._validate(job, copy, result, edit_error, runlog)
        except LeaseLost:
            raise
        except Exception as exc:
            return self._failed(exc, runlog, output=result.text), job
        return outcome, job

    async def _validate(
        self, job: Job, copy: JobCopy | None, result: WorkResult, error: str | None,
        runlog: RunLog,
    ) -> Outcome:
        if copy is None:
            return Outcome(result.text, None, ValidationReport())
        report = ValidationReport()
        if error is None and job.acceptance:
            report = await self.validator.validate(copy, job.acceptance, runlog)
        # Against the before commit, not the live project: edits the Director makes meanwhile
        # must not show up reverted in this job's diff.
        diff = await self.sandboxes.finish(copy)
        return Outcome(result.text, diff, report, error)

    def _failed(self, exc: Exception, runlog: RunLog, output: str | None = None) -> Outcome:
        if not isinstance(exc, AuraError):
            log.exception("unexpected error in a job attempt")
        message = str(exc) or type(exc).__name__
        refusal = exc if isinstance(exc, BudgetExceeded | SpendUnreadable) else None
        runlog.write("REFUSED" if refusal is not None else "ERROR", message)
        return Outcome(output, None, None, error=message, refusal=refusal)

    async def _prepare_sandbox(self, job: Job) -> JobCopy | None:
        """The before state and the working copy (`Sandboxes.prepare`, cancellable)."""
        if job.project is None:
            return None
        return await self.sandboxes.prepare(job.id, Path(job.project))

    async def _work(
        self, job: Job, lease: str, employee: Employee, copy: JobCopy | None, runlog: RunLog
    ) -> tuple[WorkResult, str | None]:
        """The employee's work, and why its edits could not be applied (None when they were,
        or when it edits the copy itself). An API model whose edits fail is told why once,
        in a second call, while it is still resident; its second reply's edits stand or
        fail the attempt."""
        workdir = copy.path if copy is not None else None
        asked = await self.threads.prompt_for(job, employee)
        if asked.shown or asked.left_out:
            runlog.write("THREAD", f"{asked.shown} earlier messages of thread {job.thread_id} "
                         f"sent, {asked.left_out} left out to fit the context window")
        prompt = await asyncio.to_thread(compose_prompt, asked.prompt, employee, workdir)
        result = await self._call(job, lease, employee, copy, prompt, runlog)
        if copy is None or employee.adapter is Adapter.CLI:
            return result, None
        error = await asyncio.to_thread(self._apply_edits, copy.path, result.text, runlog)
        if error is None:
            return result, None
        # Edits apply all or nothing, so the copy (and the files in `prompt`) are unchanged.
        runlog.write("EDITS FED BACK", error)
        retry = compose_retry(prompt, result.text, error)
        result = await self._call(job, lease, employee, copy, retry, runlog)
        error = await asyncio.to_thread(self._apply_edits, copy.path, result.text, runlog)
        return result, error

    async def _call(
        self, job: Job, lease: str, employee: Employee, copy: JobCopy | None, prompt: str,
        runlog: RunLog,
    ) -> WorkResult:
        """One model call, admitted first: its worst case is reserved under every budget that
        applies, and settled to the actual cost when it answers. A call that fails having
        spent (a coding agent killed or exiting non-zero) is settled too, then fails; one that
        spent nothing leaves its reservation to be released with the lease."""
        adapter = await self.adapters.get(employee.name)
        worst_case = self.ledger.worst_case(employee, prompt)
        reservation = await self.queue.admit(job, lease, employee, worst_case, self.ledger)
        started = time.perf_counter()
        request = WorkRequest(prompt, copy, self.config.job_timeout_seconds,
                              max_output_tokens=employee.max_output_tokens)
        try:
            result = await adapter.work(request, runlog)
        except EmployeeFailed as exc:
            spent = spent_by(exc)
            if spent is not None:
                await self._settle(job, employee, spent, started, reservation, worst_case,
                                   runlog)
            raise
        await self._settle(job, employee, result, started, reservation, worst_case, runlog)
        return result

    async def _settle(
        self, job: Job, employee: Employee, result: WorkResult, started: float,
        reservation: int | None, worst_case: Decimal, runlog: RunLog,
    ) -> None:
        """Charge one call what it used: its usage, its reported cost, or (unmetered) its
        worst case; unpriced when the employee has no rate card (see `price_call`)."""
        latency_ms = int((time.perf_counter() - started) * 1000)
        charge = await self.queue.charge(
            job, employee, result.usage, latency_ms, self.ledger, reservation,
            cost=None if result.metered else worst_case, reported_cost=result.reported_cost,
        )
        runlog.write(f"CHARGE {employee.name}",
                     f"{charge.cost if charge.cost is not None else 'no price'} USD "
                     f"({charge.pricing.value}) for {result.usage.tokens_in} tokens in, "
                     f"{result.usage.tokens_out} out")
        if charge.cost is not None and charge.cost > worst_case:
            # For an API model the rule says this cannot happen (a provider that reports more
            # tokens than the cap it was sent is worth a loud line); a coding agent makes many
            # model calls, and its reported cost may pass the reservation (docs/decisions.md).
            log.warning("job %s: the call cost %s USD, above its reserved worst case %s",
                        job.id, charge.cost, worst_case)

    def _apply_edits(self, sandbox: Path, reply: str, runlog: RunLog) -> str | None:
        try:
            changed = apply_edits(sandbox, parse_edits(reply))
        except AuraError as exc:
            runlog.write("EDITS REFUSED", str(exc))
            return f"the reply's edits were refused: {exc}"
        runlog.write("EDITS APPLIED", "\n".join(changed) or "(none)")
        return None

    async def _conclude(self, job: Job, lease: str, outcome: Outcome, runlog: RunLog) -> Job:
        if outcome.refusal is not None:
            await self._ship(job)
            return await self.queue.refuse(job, lease, outcome.refusal)
        report = outcome.report.as_dict() if outcome.report is not None else None
        error = outcome.error
        if error is None and outcome.report is not None and not outcome.report.passed:
            failed = [c.command for c in outcome.report.checks if not c.passed]
            error = "acceptance failed: " + "; ".join(failed)
        if error is not None and job.attempts < job.max_attempts:
            runlog.write("RETRY", error)
            await self._ship(job)
            return await self.queue.retry(
                job, lease, backoff_seconds=self.config.retry_backoff_seconds,
                output=outcome.output, validation=report, error=error,
            )
        status = JobStatus.SUCCEEDED if error is None else JobStatus.FAILED
        runlog.write(f"FINISHED {status.value}", error or "")
        await self._ship(job)
        return await self.queue.finish(
            job, lease, status, output=outcome.output, diff=outcome.diff,
            validation=report, error=error,
        )

    async def _ship(self, job: Job) -> None:
        """The run log reaches the database before the outcome does, so a caller that sees the
        job end also sees its whole log."""
        try:
            await self.shipper.flush()
        except Exception:
            log.exception("run log of job %s not shipped before its outcome", job.id)
