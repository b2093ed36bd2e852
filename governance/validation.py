"""The accountant's validation: a job's acceptance commands, confined by bubblewrap (DESIGN §6.5).

Each command runs as `/bin/sh -c COMMAND` inside `bwrap` with:

- every namespace unshared (`--unshare-all`): no network unless the validator allows it, its own
  PID namespace (so nothing it starts outlives it), IPC and UTS;
- all capabilities dropped (`--cap-drop ALL`). This matters when the service runs as root:
  bwrap then keeps the caller's capabilities inside the sandbox, and a command could simply
  `mount -o remount,rw /` and write anywhere. Without capabilities the mounts below hold;
- the whole file system read-only (`--ro-bind / /`), a private `/dev`, `/proc` and `/tmp`, and
  the sandbox the only host directory that is writable (`--bind SANDBOX SANDBOX`, also the
  working directory);
- a memory limit and a time limit (see `BwrapValidator`);
- a reduced environment: a short allow-list of harmless variables, never provider keys or other
  secrets from the service's environment.

If bubblewrap is missing or cannot create its sandbox here, `Unavailable` is raised: commands are
never run unconfined. Commands run in order and a failure does not stop the rest, so the report
lists every check. Each command, its exit code, duration and output go to the job's run log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from orchestra.errors import InvalidInput, Unavailable
from orchestra.hooks import CheckResult, ValidationReport
from orchestra.snapshots import RunLog

OUTPUT_TAIL_CHARS = 4000
RUNLOG_OUTPUT_BYTES = 64 * 1024
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Passed through to the commands; everything else (API keys, tokens, database URLs) is dropped.
_ENV_ALLOW = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "PYENV_ROOT",
              "PYENV_VERSION", "VIRTUAL_ENV", "JAVA_HOME", "GOROOT")
_READ_GRACE_S = 5.0


class _Tail:
    """Keeps only the last `limit` bytes of a stream, and how many bytes were dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        excess = len(self.data) - self.limit
        if excess > 0:
            del self.data[:excess]
            self.dropped += excess

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


class BwrapValidator:
    """Runs acceptance commands confined to the job's sandbox with bubblewrap.

    `time_limit_s` bounds each command's wall time: when it runs out the whole sandbox is
    killed, the check is `timed_out` with no exit code. `memory_limit_mb` caps each command's
    address space. `allow_network` shares the host's network (default: none at all).
    """

    def __init__(
        self,
        time_limit_s: float = 120,
        memory_limit_mb: int = 2048,
        allow_network: bool = False,
        bwrap: str = "bwrap",
    ) -> None:
        if time_limit_s <= 0:
            raise InvalidInput("the validation time limit must be positive")
        if memory_limit_mb <= 0:
            raise InvalidInput("the validation memory limit must be positive")
        self.time_limit_s = time_limit_s
        self.memory_limit_mb = memory_limit_mb
        self.allow_network = allow_network
        self.bwrap = bwrap
        self._works = False

    def _executable(self) -> str:
        found = shutil.which(self.bwrap)
        if found is None:
            raise Unavailable(
                f"bubblewrap ({self.bwrap}) is not installed or not on PATH, so acceptance "
                "checks cannot be confined; install it (e.g. `apt-get install bubblewrap`). "
                "Checks are never run without a sandbox."
            )
        return found

    def argv(self, sandbox: Path, command: str) -> list[str]:
        """The full command line that runs `command` confined to `sandbox`."""
        root = os.path.abspath(sandbox)
        args = [self._executable(), "--unshare-all"]
        if self.allow_network:
            args.append("--share-net")
        args += [
            "--cap-drop", "ALL",
            "--die-with-parent",
            "--new-session",
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            "--tmpfs", "/tmp",
            "--bind", root, root,
            "--chdir", root,
            "--",
        ]
        # Memory: the shell's own `ulimit -v` (RLIMIT_AS) rather than `prlimit`, because /bin/sh
        # is needed anyway and `ulimit` is a builtin of every POSIX shell, so the limit adds no
        # dependency. Given without -H/-S it sets the soft and the hard limit, and with every
        # capability dropped the command cannot raise it again. The command itself is passed as
        # "$1", never spliced into the script, so no quoting is involved. (cgroups would count
        # resident memory instead of address space, but need a delegated cgroup we may not
        # have; RLIMIT_AS is a cruder bound that always works.)
        limit_kb = self.memory_limit_mb * 1024
        script = f'ulimit -v {limit_kb} || exit 125; exec /bin/sh -c "$1"'
        return [*args, "/bin/sh", "-c", script, "aura-check", command]

    def _environment(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in _ENV_ALLOW if name in os.environ}
        env.setdefault("PATH", _DEFAULT_PATH)
        env.setdefault("LANG", "C.UTF-8")
        # HOME stays readable but is read-only inside; caches and temp files go to private /tmp.
        env["TMPDIR"] = "/tmp"
        env["XDG_CACHE_HOME"] = "/tmp/.cache"
        return env

    async def _ensure_works(self, sandbox: Path) -> None:
        """Fail loudly (once) when bubblewrap cannot create its sandbox on this host."""
        if self._works:
            return
        proc = await asyncio.create_subprocess_exec(
            *self.argv(sandbox, "true"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self._environment(),
            start_new_session=True,
        )
        try:
            async with asyncio.timeout(30):
                out, _ = await proc.communicate()
        except TimeoutError:
            _kill_group(proc)
            await proc.wait()
            raise Unavailable("bubblewrap did not start a sandbox within 30 s") from None
        if proc.returncode != 0:
            detail = out.decode("utf-8", errors="replace").strip()
            raise Unavailable(
                f"bubblewrap cannot create a sandbox on this host (exit {proc.returncode}): "
                f"{detail}; acceptance checks are never run unconfined"
            )
        self._works = True

    async def validate(
        self, sandbox: Path, commands: Sequence[str], runlog: RunLog
    ) -> ValidationReport:
        root = _real_dir(sandbox)
        self._executable()
        if commands:
            await self._ensure_works(root)
        total = len(commands)
        runlog.write(
            "VALIDATION",
            f"{total} acceptance command(s) in bubblewrap; network "
            f"{'allowed' if self.allow_network else 'none'}; time limit {self.time_limit_s:g} s; "
            f"memory limit {self.memory_limit_mb} MB",
        )
        checks: list[CheckResult] = []
        for number, command in enumerate(commands, start=1):
            runlog.write(f"CHECK {number}/{total} $ {command}")
            check, output = await self._run(root, command)
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

    async def _run(self, sandbox: Path, command: str) -> tuple[CheckResult, str]:
        """One check, and its output as kept for the run log (up to 64 KiB)."""
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *self.argv(sandbox, command),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self._environment(),
            start_new_session=True,  # bwrap leads its own group, so one killpg ends it all
        )
        tail = _Tail(RUNLOG_OUTPUT_BYTES)

        async def pump() -> None:
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(65536):
                tail.add(chunk)

        reader = asyncio.create_task(pump())
        timed_out = False
        try:
            async with asyncio.timeout(self.time_limit_s):
                await proc.wait()
        except TimeoutError:
            timed_out = True
        finally:
            if proc.returncode is None:  # timed out, or we are being cancelled
                _kill_group(proc)
                # bwrap dies, and with it (--die-with-parent, own PID namespace) everything inside.
                await asyncio.shield(proc.wait())
        try:
            async with asyncio.timeout(_READ_GRACE_S):
                await reader
        except TimeoutError:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        duration_ms = int((time.monotonic() - started) * 1000)
        output = tail.text()
        if tail.dropped:
            output = f"[… {tail.dropped} earlier bytes of output not kept …]\n" + output
        exit_code = None if timed_out else proc.returncode
        check = CheckResult(
            command=command,
            exit_code=exit_code,
            passed=not timed_out and exit_code == 0,
            duration_ms=duration_ms,
            output_tail=output[-OUTPUT_TAIL_CHARS:],
            timed_out=timed_out,
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


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
