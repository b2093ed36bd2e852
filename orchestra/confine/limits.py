"""A job's resource limits, held for the job as a whole by a cgroup of its own.

Per-process rlimits do not bound a job: three processes may each take the whole memory limit
and a fork storm is limited only per user. So each confined run gets a cgroup with a memory
limit (the private /tmp is a tmpfs, whose pages count there too) and a process limit, and the
command joins it before bubblewrap starts (`JobCgroup.wrap`: a shell writes its own pid to
`cgroup.procs`, then `exec`s bwrap), so nothing the command starts is ever outside it.

cgroup v2 is used when its root is writable and offers the memory and pids controllers;
otherwise cgroup v1 (the `memory` and `pids` hierarchies); otherwise, loudly, per-process
rlimits (`RLIMIT_AS` for memory; `RLIMIT_NPROC` only for a non-root service, where it counts
the whole user's processes), which bound each process, not the job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import signal
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from orchestra.errors import InvalidInput

log = logging.getLogger("orchestra.confine")

CGROUP_ROOT = Path("/sys/fs/cgroup")
_PREFIX = "aura-"
_NAME = re.compile(r"[^A-Za-z0-9_.-]")
# Removal retries briefly (on the event loop's thread, so briefly); a cgroup still busy then is
# retried on later runs: its last processes are killed but may not be reaped yet.
_REMOVE_TRIES = 5
_REMOVE_PAUSE_S = 0.01
JOIN_FAILED_EXIT = 125  # the wrapper's exit code when it cannot join the cgroup

Mechanism = Literal["cgroup2", "cgroup1", "rlimit"]


@dataclass(frozen=True, slots=True)
class JobLimits:
    """What one job may use at once, in total: memory (MiB, including its /tmp), the size of
    its private /tmp (MiB), and the number of processes and threads."""

    memory_mb: int = 2048
    tmp_mb: int = 512
    pids: int = 256

    def __post_init__(self) -> None:
        for name in ("memory_mb", "tmp_mb", "pids"):
            if getattr(self, name) <= 0:
                raise InvalidInput(f"the job limit {name} must be positive")


class JobCgroup:
    """The cgroup(s) of one confined run: one directory for v2, one per hierarchy for v1."""

    def __init__(self, mechanism: Mechanism, dirs: Sequence[Path], limits: JobLimits) -> None:
        self.mechanism = mechanism
        self.dirs = tuple(dirs)
        self.limits = limits

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """`argv` started inside the cgroup (or under the rlimits): a shell joins, then execs."""
        steps = [f"echo $$ > {shlex.quote(str(d / 'cgroup.procs'))} || exit {JOIN_FAILED_EXIT}"
                 for d in self.dirs]
        if self.mechanism == "rlimit":
            steps.append(f"ulimit -v {self.limits.memory_mb * 1024} || exit {JOIN_FAILED_EXIT}")
            if os.geteuid() != 0:
                steps.append(f"ulimit -u {self.limits.pids} || exit {JOIN_FAILED_EXIT}")
        script = "; ".join([*steps, 'exec "$@"'])
        return ["/bin/sh", "-c", script, "aura-limits", *argv]

    def events(self) -> list[str]:
        """What the limits stopped, for the run log: 'memory' and/or 'pids'."""
        hit: list[str] = []
        for d in self.dirs:
            if _counter(d / "memory.events", "oom_kill") or _counter(
                    d / "memory.oom_control", "oom_kill"):
                hit.append("memory")
            if _counter(d / "pids.events", "max"):
                hit.append("pids")
        return hit

    def close(self) -> list[Path]:
        """Kill whatever is still in the cgroup and remove it; return the directories that
        could not be removed yet (a killed process not reaped so far still counts)."""
        for d in self.dirs:
            _kill_all(d)
        return remove_dirs(self.dirs)


def remove_dirs(dirs: Sequence[Path]) -> list[Path]:
    """rmdir each cgroup, retrying briefly; the ones still busy are returned."""
    left = list(dirs)
    for attempt in range(_REMOVE_TRIES):
        busy = []
        for d in left:
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                _kill_all(d)
                busy.append(d)
        left = busy
        if not left:
            break
        if attempt + 1 < _REMOVE_TRIES:
            time.sleep(_REMOVE_PAUSE_S)
    return left


def _counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _kill_all(directory: Path) -> None:
    kill = directory / "cgroup.kill"  # v2 (Linux 5.14+): the kernel kills them all at once
    if kill.exists():
        with contextlib.suppress(OSError):
            kill.write_text("1")
        return
    try:
        pids = [int(p) for p in (directory / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


class Cgroups:
    """Creates a cgroup per confined run under `root` (default `/sys/fs/cgroup`).

    Which mechanism works is found once, by trying (`mechanism`); `force` picks one (tests).
    """

    def __init__(self, root: Path = CGROUP_ROOT, *, force: Mechanism | None = None) -> None:
        self.root = root
        self._mechanism: Mechanism | None = force
        self._stale: list[Path] = []

    @property
    def mechanism(self) -> Mechanism:
        if self._mechanism is None:
            self._mechanism = self._probe()
            if self._mechanism == "rlimit":
                log.warning(
                    "no writable cgroup (v2 with memory and pids, or v1 memory and pids "
                    "hierarchies) under %s: job limits fall back to per-process rlimits, which "
                    "bound each process, not the job as a whole", self.root)
            else:
                log.info("job limits are held by %s under %s", self._mechanism, self.root)
        return self._mechanism

    def _v2_root(self) -> Path | None:
        for candidate in (self.root, self.root / "unified"):
            controllers = candidate / "cgroup.controllers"
            try:
                offered = controllers.read_text().split()
            except OSError:
                continue
            if {"memory", "pids"} <= set(offered):
                return candidate
        return None

    def _probe(self) -> Mechanism:
        for mechanism in ("cgroup2", "cgroup1"):
            try:
                probe = self._create(mechanism, f"probe-{uuid.uuid4().hex[:8]}",  # type: ignore[arg-type]
                                     JobLimits())
            except OSError:
                continue
            if probe is not None:
                self._stale += probe.close()
                return mechanism  # type: ignore[return-value]
        return "rlimit"

    def release(self, cgroup: JobCgroup) -> None:
        """Close `cgroup`; what cannot be removed yet is retried on the next release."""
        self._stale = remove_dirs(self._stale) + cgroup.close()
        if self._stale:
            log.info("cgroups not yet empty, removal retried later: %s",
                     ", ".join(map(str, self._stale)))

    def create(self, job: str, limits: JobLimits) -> JobCgroup:
        """A fresh cgroup for one run of `job` with `limits` (or the rlimit stand-in)."""
        mechanism = self.mechanism
        name = f"{_NAME.sub('_', job)[:80]}-{uuid.uuid4().hex[:8]}"
        if mechanism != "rlimit":
            try:
                made = self._create(mechanism, name, limits)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot create the job's {mechanism} cgroup: "
                              f"{exc.strerror}", exc.filename) from exc
            if made is not None:
                return made
        return JobCgroup("rlimit", (), limits)

    def _create(self, mechanism: Mechanism, name: str, limits: JobLimits) -> JobCgroup | None:
        memory = limits.memory_mb * 1024 * 1024
        if mechanism == "cgroup2":
            root = self._v2_root()
            if root is None:
                return None
            control = root / "cgroup.subtree_control"
            if not {"memory", "pids"} <= set(control.read_text().split()):
                control.write_text("+memory +pids")
            group = root / (_PREFIX + name)
            group.mkdir()
            made = JobCgroup("cgroup2", (group,), limits)
            try:
                (group / "memory.max").write_text(str(memory))
                with contextlib.suppress(FileNotFoundError):  # no swap accounting: no swap
                    (group / "memory.swap.max").write_text("0")
                (group / "pids.max").write_text(str(limits.pids))
            except OSError:
                made.close()
                raise
            return made
        memory_dir, pids_dir = self.root / "memory", self.root / "pids"
        if not (memory_dir / "cgroup.procs").exists() or not (pids_dir / "cgroup.procs").exists():
            return None
        dirs = [memory_dir / (_PREFIX + name), pids_dir / (_PREFIX + name)]
        made = JobCgroup("cgroup1", [], limits)
        try:
            for d in dirs:
                d.mkdir()
                made.dirs += (d,)
            (dirs[0] / "memory.limit_in_bytes").write_text(str(memory))
            # With swap accounting, memory + swap is capped too, so swap is no way around.
            memsw = dirs[0] / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                memsw.write_text(str(memory))
            (dirs[1] / "pids.max").write_text(str(limits.pids))
        except OSError:
            made.close()
            raise
        return made
