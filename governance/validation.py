"""The accountant's validation: a job's acceptance commands, confined by bubblewrap (DESIGN §6.5).

Anyone who may submit a job may submit its acceptance commands, so a command is treated as
hostile. Each runs as `/bin/sh -c COMMAND` inside `bwrap` with:

- every namespace unshared (`--unshare-all`): no network unless the validator allows it, its own
  PID namespace (so nothing it starts outlives it), IPC and UTS;
- all capabilities dropped (`--cap-drop ALL`). This matters when the service runs as root:
  bwrap then keeps the caller's capabilities inside the sandbox, and a command could simply
  remount a bind read-write and write anywhere. Without capabilities the mounts below hold;
- a file system built from nothing: only the system directories (`/usr /bin /sbin /lib /lib32
  /lib64 /etc /opt`, those that exist; symlinks such as a merged-/usr `/bin -> usr/bin` are
  recreated as symlinks) and the validator's `extra_read_paths`, all read-only; a private
  `/dev`, `/proc` and `/tmp`; and the job view (`orchestra.sandbox.view_args`): the job's
  working copy, the only host directory that is writable, bound at the project's own path
  (also the working directory), the project's ignored dependency folders (`.venv`,
  `node_modules`) read-only on top, and the project's toolchain (its virtualenv's interpreter,
  the service's PATH directories outside the system ones) read-only. Nothing else is visible:
  not $HOME, /root, /run, /var, /srv, the service's data directory (keys, the embedded
  database's socket) or other jobs' sandboxes, so a command can neither read a secret file nor
  connect() to a host unix socket (PostgreSQL, docker.sock);
- a memory limit and a time limit (see `BwrapValidator`);
- a reduced environment: a short allow-list of harmless variables, never provider keys or other
  secrets from the service's environment, plus the job view's PATH (the project's `.venv/bin`
  first), VIRTUAL_ENV and `PYTHONDONTWRITEBYTECODE=1`; HOME is the private /tmp.

If bubblewrap is missing or cannot create its sandbox here, `Unavailable` is raised: commands are
never run unconfined. Commands run in order and a failure does not stop the rest, so the report
lists every check. Each command, its exit code, duration and output go to the job's run log.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

from orchestra.errors import InvalidInput, Unavailable
from orchestra.hooks import CheckResult, ValidationReport
from orchestra.process import ProcessResult, ProcessStartError, run_process
from orchestra.runlog import RunLog
from orchestra.sandbox import JobCopy, view_args
from orchestra.sandbox.view import DEFAULT_PATH, SYSTEM_DIRS

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
    killed, the check is `timed_out` with no exit code. `memory_limit_mb` caps each command's
    address space. `allow_network` shares the host's network (default: none at all).
    `extra_read_paths` are host directories (or files) made visible read-only at the same
    place, e.g. a toolchain under $HOME the Director chooses to expose; those that do not exist
    are skipped. Expose nothing holding a secret or a unix socket: a read-only mount does not
    stop connect() on a socket in it.
    """

    def __init__(
        self,
        time_limit_s: float = 120,
        memory_limit_mb: int = 2048,
        allow_network: bool = False,
        bwrap: str = "bwrap",
        extra_read_paths: Sequence[Path] = (),
    ) -> None:
        if time_limit_s <= 0:
            raise InvalidInput("the validation time limit must be positive")
        if memory_limit_mb <= 0:
            raise InvalidInput("the validation memory limit must be positive")
        extra = tuple(Path(os.path.abspath(path)) for path in extra_read_paths)
        if Path("/") in extra:
            raise InvalidInput("extra_read_paths may not expose the whole file system (/)")
        self.time_limit_s = time_limit_s
        self.memory_limit_mb = memory_limit_mb
        self.allow_network = allow_network
        self.bwrap = bwrap
        self.extra_read_paths = extra
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

    def argv(
        self, copy: JobCopy, command: str, system_mounts: Sequence[str] | None = None
    ) -> list[str]:
        """The full command line that runs `command` confined to the job view of `copy`.

        `system_mounts` are the arguments from `system_mounts_args()`, computed here if not
        given.

        Layout: `bwrap --unshare-all [--share-net] --cap-drop ALL --die-with-parent
        --new-session`, then the system directories (`--ro-bind D D`, or `--symlink TARGET D`
        for a symlink into them), entries of /etc others may not read hidden, `--dev /dev
        --proc /proc --tmpfs /tmp`, each existing extra read path (`--ro-bind P P`), the job
        view (`view_args`: toolchain read-only, `--bind COPY PROJECT`, dependency folders
        read-only, `--chdir PROJECT`), `--remount-ro /` (the otherwise empty root), then
        `-- /bin/sh -c SCRIPT aura-check COMMAND`.
        """
        args = [self._executable(), "--unshare-all"]
        if self.allow_network:
            args.append("--share-net")
        args += ["--cap-drop", "ALL", "--die-with-parent", "--new-session"]
        args += system_mounts if system_mounts is not None else system_mounts_args()
        args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        for path in self.extra_read_paths:
            real = os.path.realpath(path)
            if real != "/" and os.path.exists(real):
                args += ["--ro-bind", real, real]
        args += view_args(copy)
        args += [
            # The root itself is bwrap's empty tmpfs: make it read-only too, so only the
            # sandbox and the private /tmp take writes.
            "--remount-ro", "/",
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
    ) -> ProcessResult:
        try:
            return await run_process(
                self.argv(copy, command, mounts),
                env=self._environment(copy),
                timeout_s=timeout_s,
                keep_bytes=RUNLOG_OUTPUT_BYTES,
                keep="tail",
                merge_stderr=True,  # one stream, in the order it was written
                pipe_grace_s=_READ_GRACE_S,
            )
        except ProcessStartError as exc:
            raise Unavailable(f"bubblewrap could not be started: {exc}") from exc

    async def _ensure_works(self, copy: JobCopy, mounts: Sequence[str]) -> None:
        """Fail loudly (once) when bubblewrap cannot create its sandbox on this host."""
        if self._works:
            return
        result = await self._start(copy, "true", _START_CHECK_S, mounts)
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
            f"{total} acceptance command(s) in bubblewrap; network "
            f"{'allowed' if self.allow_network else 'none'}; time limit {self.time_limit_s:g} s; "
            f"memory limit {self.memory_limit_mb} MB",
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
        result = await self._start(copy, command, self.time_limit_s, mounts)
        output = result.stdout.decode("utf-8", errors="replace")
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


def system_mounts_args() -> list[str]:
    """bwrap arguments showing the system directories (`SYSTEM_DIRS`) read-only.

    A system directory that is a symlink (merged /usr: `/bin -> usr/bin`) is recreated as the
    same symlink when it points into a directory shown anyway, else its target is bound in its
    place. Entries of /etc that others may not read (/etc/shadow, /etc/ssl/private…) are
    hidden: a service running as root stays uid 0 inside, and owns them.
    """
    dirs = [d for d in SYSTEM_DIRS if os.path.isdir(d) and not os.path.islink(d)]
    args: list[str] = []
    for d in dirs:
        args += ["--ro-bind", d, d]
    for d in SYSTEM_DIRS:
        if not os.path.islink(d):
            continue
        real = os.path.realpath(d)
        if any(real == shown or real.startswith(shown + "/") for shown in dirs):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(real):
            args += ["--ro-bind", real, d]
    if "/etc" in dirs:
        args += _hidden_entries("/etc")
    return args


def _hidden_entries(top: str) -> list[str]:
    """bwrap arguments covering the files and directories under `top` others cannot read."""
    args: list[str] = []
    for here, subdirs, files in os.walk(top):
        kept = []
        for name in sorted(subdirs):
            path = os.path.join(here, name)
            if _private(path, stat.S_ISDIR):
                args += ["--tmpfs", path, "--remount-ro", path]
            else:
                kept.append(name)
        subdirs[:] = kept  # nothing to look at inside a hidden directory
        for name in sorted(files):
            path = os.path.join(here, name)
            if _private(path, stat.S_ISREG):
                args += ["--ro-bind", "/dev/null", path]
    return args


def _private(path: str, kind: Callable[[int], bool]) -> bool:
    """Whether `path` is of `kind` (not a symlink) and others may not read it."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    return kind(mode) and not mode & stat.S_IROTH


def _real_dir(sandbox: Path) -> Path:
    try:
        root = sandbox.resolve(strict=True)
    except OSError as exc:
        raise InvalidInput(f"sandbox {sandbox} does not exist: {exc}") from exc
    if not root.is_dir():
        raise InvalidInput(f"sandbox {sandbox} is not a directory")
    return root
