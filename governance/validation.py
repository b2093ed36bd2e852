"""The accountant's validation: a job's acceptance commands, confined by bubblewrap (DESIGN §6.5).

Anyone who may submit a job may submit its acceptance commands, so a command is treated as
hostile. Each runs as `/bin/sh -c COMMAND` through `orchestra.confine.Confiner`, the same
confinement as a command-line employee's (see there): every namespace unshared (no network
unless the validator allows it), all capabilities dropped, a file system of the system
directories read-only, a private `/dev`, `/proc` and size-capped `/tmp`, and the job view (the
working copy writable at the project's own path, dependency folders and toolchain read-only);
and the job's limits (memory including /tmp, process count) held for the whole run by a cgroup.
The environment is a short allow-list of harmless variables plus the job view's PATH; HOME is
the private /tmp.

If bubblewrap is missing or cannot create its sandbox here, `Unavailable` is raised: commands are
never run unconfined. Commands run in order and a failure does not stop the rest, so the report
lists every check. Each command, its exit code, duration and output go to the job's run log.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from orchestra.confine import Confiner, JobLimits, system_mounts_args
from orchestra.errors import InvalidInput, Unavailable
from orchestra.hooks import CheckResult, ValidationReport
from orchestra.process import ProcessResult, ProcessStartError
from orchestra.runlog import RunLog
from orchestra.sandbox import JobCopy
from orchestra.sandbox.view import DEFAULT_PATH

OUTPUT_TAIL_CHARS = 4000
RUNLOG_OUTPUT_BYTES = 64 * 1024
# Passed through to the commands; everything else (API keys, tokens, database URLs) is dropped.
# HOME is not among them: the host's home is not visible inside, HOME is the private /tmp.
_ENV_ALLOW = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "PYENV_ROOT",
              "PYENV_VERSION", "VIRTUAL_ENV", "JAVA_HOME", "GOROOT")
_READ_GRACE_S = 5.0
_START_CHECK_S = 30.0


class BwrapValidator:
    """Runs acceptance commands confined to the job's sandbox with bubblewrap.

    `time_limit_s` bounds each command's wall time: when it runs out the whole sandbox is
    killed, the check is `timed_out` with no exit code. `limits` (memory including /tmp, /tmp
    size, processes) hold for each check as a whole; checks run one after another, so they
    are also what the job's checks use at any moment. `allow_network` shares the host's
    network (default: none at all). `extra_read_paths`: see `Confiner`.
    """

    def __init__(
        self,
        time_limit_s: float = 120,
        limits: JobLimits | None = None,
        allow_network: bool = False,
        bwrap: str = "bwrap",
        extra_read_paths: Sequence[Path] = (),
        confiner: Confiner | None = None,
    ) -> None:
        if time_limit_s <= 0:
            raise InvalidInput("the validation time limit must be positive")
        self.time_limit_s = time_limit_s
        self.allow_network = allow_network
        self.confiner = confiner or Confiner(
            limits, bwrap=bwrap, extra_read_paths=extra_read_paths)
        self.bwrap = self.confiner.bwrap
        self._works = False

    def _executable(self) -> str:
        found = self.confiner.executable()
        if found is None:
            raise Unavailable(
                f"bubblewrap ({self.bwrap}) is not installed or not on PATH, so acceptance "
                "checks cannot be confined; install it (e.g. `apt-get install bubblewrap`). "
                "Checks are never run without a sandbox."
            )
        return found

    def argv(
        self, copy: JobCopy, command: str, system_mounts: Sequence[str] | None = None
    ) -> list[str]:
        """The bwrap command line that runs `command` confined to the job view of `copy`
        (`Confiner.argv` with `/bin/sh -c COMMAND`; the command is passed as an argument,
        never spliced into a script, so no quoting is involved)."""
        self._executable()
        return self.confiner.argv(
            copy, ["/bin/sh", "-c", command], network=self.allow_network,
            system_mounts=system_mounts)

    def _environment(self, copy: JobCopy) -> dict[str, str]:
        env = {name: os.environ[name] for name in _ENV_ALLOW if name in os.environ}
        env.update(copy.env)  # PATH with the project's .venv/bin first, VIRTUAL_ENV…
        env.setdefault("PATH", DEFAULT_PATH)
        env.setdefault("LANG", "C.UTF-8")
        # The host's home is not visible; home, caches and temp files go to the private /tmp.
        env["HOME"] = "/tmp"
        env["TMPDIR"] = "/tmp"
        env["XDG_CACHE_HOME"] = "/tmp/.cache"
        return env

    async def _start(
        self, copy: JobCopy, command: str, timeout_s: float, mounts: Sequence[str]
    ) -> tuple[ProcessResult, tuple[str, ...]]:
        try:
            run = await self.confiner.run(
                self.argv(copy, command, mounts),
                job=copy.job_id,
                env=self._environment(copy),
                timeout_s=timeout_s,
                keep_bytes=RUNLOG_OUTPUT_BYTES,
                keep="tail",
                merge_stderr=True,  # one stream, in the order it was written
                pipe_grace_s=_READ_GRACE_S,
            )
        except ProcessStartError as exc:
            raise Unavailable(f"bubblewrap could not be started: {exc}") from exc
        except OSError as exc:
            raise Unavailable(f"the job's limits could not be set up: {exc}") from exc
        return run.result, run.limits_hit

    async def _ensure_works(self, copy: JobCopy, mounts: Sequence[str]) -> None:
        """Fail loudly (once) when bubblewrap cannot create its sandbox on this host."""
        if self._works:
            return
        result, _ = await self._start(copy, "true", _START_CHECK_S, mounts)
        if result.timed_out:
            raise Unavailable(f"bubblewrap did not start a sandbox within {_START_CHECK_S:g} s")
        if result.exit_code != 0:
            detail = result.stdout.decode("utf-8", errors="replace").strip()
            raise Unavailable(
                f"bubblewrap cannot create a sandbox on this host (exit {result.exit_code}): "
                f"{detail}; acceptance checks are never run unconfined"
            )
        self._works = True

    async def validate(
        self, copy: JobCopy, commands: Sequence[str], runlog: RunLog
    ) -> ValidationReport:
        _real_dir(copy.path)
        self._executable()
        # Looked at afresh for each validation (the host's /etc may change), off the loop.
        mounts = await asyncio.to_thread(system_mounts_args) if commands else []
        if commands:
            await self._ensure_works(copy, mounts)
        total = len(commands)
        runlog.write(
            "VALIDATION",
            f"{total} acceptance command(s) in bubblewrap; time limit {self.time_limit_s:g} s;"
            f" {self.confiner.describe(self.allow_network)}",
        )
        checks: list[CheckResult] = []
        for number, command in enumerate(commands, start=1):
            runlog.write(f"CHECK {number}/{total} $ {command}")
            check, output = await self._run(copy, command, mounts)
            checks.append(check)
            status = (
                f"timed out after {self.time_limit_s:g} s"
                if check.timed_out
                else f"exit {check.exit_code}"
            )
            runlog.write(
                f"CHECK {number}/{total} {'passed' if check.passed else 'failed'}: {status}; "
                f"{check.duration_ms} ms",
                output,
            )
        report = ValidationReport(tuple(checks))
        runlog.write("VALIDATION " + ("passed" if report.passed else "failed"))
        return report

    async def _run(
        self, copy: JobCopy, command: str, mounts: Sequence[str]
    ) -> tuple[CheckResult, str]:
        """One check, and its output as kept for the run log (up to 64 KiB)."""
        # bwrap leads its own process group and, with --die-with-parent and its own PID
        # namespace, takes everything inside with it when that group is killed.
        result, hit = await self._start(copy, command, self.time_limit_s, mounts)
        output = result.stdout.decode("utf-8", errors="replace")
        if hit:
            output += f"\n[aura: the job's {' and '.join(hit)} limit stopped this command]\n"
        if result.stdout_dropped:
            output = f"[… {result.stdout_dropped} earlier bytes of output not kept …]\n" + output
        check = CheckResult(
            command=command,
            exit_code=result.exit_code,
            passed=not result.timed_out and result.exit_code == 0,
            duration_ms=int(result.duration_s * 1000),
            output_tail=output[-OUTPUT_TAIL_CHARS:],
            timed_out=result.timed_out,
        )
        return check, output


def _real_dir(sandbox: Path) -> Path:
    try:
        root = sandbox.resolve(strict=True)
    except OSError as exc:
        raise InvalidInput(f"sandbox {sandbox} does not exist: {exc}") from exc
    if not root.is_dir():
        raise InvalidInput(f"sandbox {sandbox} is not a directory")
    return root
