"""`Confiner`: a command run in the job view under bubblewrap, inside the job's limits.

Anyone who may submit a job may submit its acceptance commands, and a command-line employee
runs whatever its agent decides, so every command is treated as hostile:

- every namespace unshared (`--unshare-all`): no network unless asked (`--share-net`), its own
  PID namespace (it sees no other process, and everything in it dies with it), IPC and UTS;
- all capabilities dropped (`--cap-drop ALL`): a service running as root keeps its
  capabilities inside otherwise, and a command could remount a bind read-write;
- `--die-with-parent` and `--new-session` (no TIOCSTI into the service's terminal);
- a file system built from nothing: the system directories read-only (`mounts.py`), a private
  `/dev`, `/proc` and a size-capped `/tmp` (`--size`), the extra read paths, the job view
  (`orchestra.sandbox.view_args`), the files a command names, a private home when given,
  and the otherwise empty root read-only. Not visible: the host's home, /run, /var, Aura's data
  directory (keys, tokens, the embedded database's socket), other jobs' sandboxes, snapshots;
- the job's limits for the whole run (`limits.py`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestra.confine.limits import Cgroups, JobLimits
from orchestra.confine.mounts import system_mounts_args
from orchestra.errors import InvalidInput
from orchestra.process import Keep, OnOutput, ProcessResult, run_process
from orchestra.sandbox import JobCopy, view_args


@dataclass(frozen=True, slots=True)
class ConfinedRun:
    """How a confined command ended, and which limits stopped something ('memory', 'pids')."""

    result: ProcessResult
    limits_hit: tuple[str, ...]


class Confiner:
    """Builds bwrap command lines for the job view and runs them inside the job's limits.

    `extra_read_paths` are host paths shown read-only at their own place (a toolchain under
    $HOME the Director chooses to expose); those that do not exist are skipped. Expose nothing
    holding a secret or a unix socket: a read-only mount does not stop connect() on a socket.
    `hidden` are Aura's own directories (data, sandboxes, snapshots, backups): a file a command
    names inside them is never shown.
    """

    def __init__(
        self,
        limits: JobLimits | None = None,
        *,
        bwrap: str = "bwrap",
        extra_read_paths: Sequence[Path] = (),
        cgroups: Cgroups | None = None,
        hidden: Sequence[Path] = (),
    ) -> None:
        extra = tuple(Path(os.path.abspath(path)) for path in extra_read_paths)
        if Path("/") in extra:
            raise InvalidInput("extra read paths may not expose the whole file system (/)")
        self.limits = limits or JobLimits()
        self.bwrap = bwrap
        self.extra_read_paths = extra
        self.cgroups = cgroups or Cgroups()
        self.hidden = tuple(os.path.realpath(path) for path in hidden)

    def executable(self) -> str | None:
        return shutil.which(self.bwrap)

    def argv(
        self,
        copy: JobCopy,
        command: Sequence[str],
        *,
        network: bool = False,
        home: Path | None = None,
        read_files: Sequence[Path] = (),
        toolchain: bool = True,
        system_mounts: Sequence[str] | None = None,
        masks: Sequence[str] = (),
    ) -> list[str]:
        """The bwrap command line running `command` in the job view of `copy`.

        `home` (a host directory) is bound read-write at its own path; `read_files` are host
        files (or directories) shown read-only at their own path, after /tmp, so a file under
        the host's /tmp stays visible; those inside a `hidden` directory are left out. `masks`
        are further bwrap arguments applied last (hiding paths inside the view).
        """
        bwrap = self.executable() or self.bwrap
        args = [bwrap, "--unshare-all"]
        if network:
            args.append("--share-net")
        args += ["--cap-drop", "ALL", "--die-with-parent", "--new-session"]
        args += system_mounts if system_mounts is not None else system_mounts_args()
        tmp_bytes = self.limits.tmp_mb * 1024 * 1024
        args += ["--dev", "/dev", "--proc", "/proc", "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
        for path in self.extra_read_paths:
            real = os.path.realpath(path)
            if real != "/" and os.path.exists(real):
                args += ["--ro-bind", real, real]
        args += view_args(copy, toolchain=toolchain)
        for path in read_files:
            real = os.path.realpath(path)
            if not any(_inside(real, h) or _inside(str(path), h) for h in self.hidden):
                args += ["--ro-bind", real, str(path)]
        if home is not None:
            args += ["--bind", str(home), str(home)]
        args += masks
        # The root itself is bwrap's empty tmpfs: read-only too, so only the sandbox, the home
        # and the private /tmp take writes.
        args += ["--remount-ro", "/", "--", *command]
        return args

    async def run(
        self,
        argv: Sequence[str],
        *,
        job: str,
        env: Mapping[str, str],
        timeout_s: float,
        keep_bytes: int,
        keep: Keep = "head",
        stdin: bytes | None = None,
        on_output: OnOutput | None = None,
        merge_stderr: bool = False,
        pipe_grace_s: float = 2.0,
    ) -> ConfinedRun:
        """Run a command line from `argv()` in a fresh cgroup with the job's limits.

        Whatever way it ends, everything left in the cgroup is killed and the cgroup removed
        (bwrap's PID namespace already takes its processes with it; this is the second lock).
        Raises `ProcessStartError` when it cannot start, `OSError` when the cgroup cannot be
        made.
        """
        cgroup = self.cgroups.create(job, self.limits)
        try:
            result = await run_process(
                cgroup.wrap(argv), env=env, timeout_s=timeout_s, keep_bytes=keep_bytes,
                keep=keep, stdin=stdin, on_output=on_output, merge_stderr=merge_stderr,
                pipe_grace_s=pipe_grace_s,
            )
            hit = tuple(cgroup.events())
        finally:
            self.cgroups.release(cgroup)
        return ConfinedRun(result, hit)

    def describe(self, network: bool) -> str:
        """One line for the run log: network, limits and how they are held."""
        mechanism = self.cgroups.mechanism
        held = ("for the whole job" if mechanism != "rlimit"
                else "PER PROCESS ONLY (no writable cgroup)")
        return (
            f"network {'shared' if network else 'none'}; memory {self.limits.memory_mb} MB, "
            f"/tmp {self.limits.tmp_mb} MB, {self.limits.pids} processes, held by {mechanism} "
            f"{held}"
        )


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")
