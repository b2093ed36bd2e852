"""The private snapshot store (`AURA_SNAPSHOT_DIR/objects.git`) and running git against it.

Every job's before and after states are commits in one bare repository that only Aura writes:
`refs/aura/jobs/<job-id>/before` and `.../after`. Identical files are stored once, so a job
costs what it changes. Git runs as a subprocess through `run_process`, so a cancelled job kills
it (and everything it started) at once; its output is read with a byte limit.

Two kinds of git command run here:

- against the private repository (`SnapshotRepo.git`): the user's and the system's git
  configuration are not read (a `diff.noprefix` or `core.autocrlf` there would change our
  snapshots and diffs), and `info/attributes` switches off every attribute that would rewrite
  file contents (eol conversion, clean/smudge filters, `export-ignore`), so states are exact;
- read-only questions to a project's own repository (`project_git`): `GIT_OPTIONAL_LOCKS=0`
  and `core.fsmonitor=false`, and only commands that never write (ls-files, check-ignore,
  rev-parse). The project's repository is never written: no objects, index, refs or locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestra.errors import InvalidInput, Unavailable
from orchestra.process import ProcessResult, ProcessStartError, run_process

# Path lists and other small outputs; a project with more than this in paths is refused.
LIST_LIMIT = 64 * 1024 * 1024
# Hashing or checking out a very large project may take long, but never forever.
GIT_TIMEOUT_S = 3600.0
# Over this size git streams a blob instead of reading it whole (and skips delta search).
BIG_FILE_THRESHOLD = "8m"
_ATTRIBUTES = "* -text -eol -filter -ident -working-tree-encoding -export-ignore -export-subst\n"
_CONFIG = (
    ("gc.auto", "0"),  # never repack on our own: pruning is an explicit, later step
    ("core.bigFileThreshold", BIG_FILE_THRESHOLD),
    ("core.autocrlf", "false"),
    ("core.filemode", "true"),
    ("core.symlinks", "true"),
    ("core.excludesFile", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("diff.renames", "true"),
)
_IDENTITY = {
    "GIT_AUTHOR_NAME": "Aura Orchestra",
    "GIT_AUTHOR_EMAIL": "aura@localhost",
    "GIT_COMMITTER_NAME": "Aura Orchestra",
    "GIT_COMMITTER_EMAIL": "aura@localhost",
}


class GitFailed(InvalidInput):
    """A git command exited with an error; the message carries git's own explanation."""


def _base_env() -> dict[str, str]:
    """The service's environment without git's own variables (GIT_DIR and friends)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["LC_ALL"] = "C"  # git's messages and quoting in one predictable form
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


async def run_git(
    git: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    stdin: bytes | None = None,
    limit: int = LIST_LIMIT,
    ok_codes: Sequence[int] = (0,),
) -> ProcessResult:
    """Run `git ARGS`; raise `GitFailed` on an exit code not in `ok_codes`.

    Standard output is kept up to `limit` bytes (`stdout_dropped` says how much more there
    was); callers that cannot use a cut list check it.
    """
    try:
        result = await run_process(
            [git, *args], env=env, stdin=stdin, timeout_s=GIT_TIMEOUT_S, keep_bytes=limit,
        )
    except ProcessStartError as exc:
        raise Unavailable(
            f"git ({git}) could not be started: {exc.strerror or exc}; snapshots and job "
            "sandboxes need git (e.g. `apt-get install git`)"
        ) from exc
    if result.timed_out or result.exit_code not in ok_codes:
        detail = result.stderr.decode("utf-8", "replace").strip()[-2000:]
        status = "timed out" if result.timed_out else f"exit {result.exit_code}"
        raise GitFailed(f"git {args[0] if args else ''} failed ({status}): {detail}")
    return result


def complete(result: ProcessResult, what: str) -> bytes:
    """`result.stdout`, refusing a list that was cut at the byte limit."""
    if result.stdout_dropped:
        raise InvalidInput(f"{what} is too large (over {LIST_LIMIT} bytes of paths)")
    return result.stdout


def split_z(data: bytes) -> list[str]:
    """NUL-separated git output as paths (bytes that are not UTF-8 kept via surrogates)."""
    return [os.fsdecode(item) for item in data.split(b"\0") if item]


def join_z(paths: Sequence[str]) -> bytes:
    return b"".join(os.fsencode(path) + b"\0" for path in paths)


class SnapshotRepo:
    """The bare repository under `AURA_SNAPSHOT_DIR/objects.git`, created on first use."""

    def __init__(self, root: Path, *, git: str = "git") -> None:
        self.path = root / "objects.git"
        self.git_exe = git
        self.scratch = self.path / "aura"  # our own files: cached and per-job index files
        self._ready = False

    async def ensure(self) -> None:
        """Create the repository once: made beside and renamed into place, so two processes
        starting together never see a half-configured one."""
        if self._ready:
            return
        if not (self.path / "HEAD").exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            staging = self.path.with_name(f".objects.git.{uuid.uuid4().hex}.tmp")
            try:
                await self._create(staging)
                with contextlib.suppress(OSError):  # another process made it first
                    staging.rename(self.path)
            finally:
                await asyncio.to_thread(shutil.rmtree, staging, True)
        for sub in ("projects", "jobs", "tmp"):
            (self.scratch / sub).mkdir(parents=True, exist_ok=True)
        self._ready = True

    async def _create(self, where: Path) -> None:
        env = _base_env()
        env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null")
        await run_git(self.git_exe, ["init", "--bare", "--quiet", str(where)], env=env)
        # One `git config` per setting would be nine processes; the file format is simple.
        with (where / "config").open("a") as config:
            for key, value in _CONFIG:
                section, name = key.split(".")
                config.write(f"[{section}]\n\t{name} = {value}\n")
        (where / "info").mkdir(exist_ok=True)
        (where / "info" / "attributes").write_text(_ATTRIBUTES)

    def env(
        self, *, index: Path | None = None, work_tree: Path | None = None
    ) -> dict[str, str]:
        env = _base_env()
        env.update(_IDENTITY)
        env["GIT_DIR"] = str(self.path)
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        env["GIT_CONFIG_GLOBAL"] = "/dev/null"
        env["GIT_ATTR_NOSYSTEM"] = "1"
        if index is not None:
            env["GIT_INDEX_FILE"] = str(index)
        if work_tree is not None:
            env["GIT_WORK_TREE"] = str(work_tree)
        return env

    async def git(
        self,
        args: Sequence[str],
        *,
        index: Path | None = None,
        work_tree: Path | None = None,
        stdin: bytes | None = None,
        limit: int = LIST_LIMIT,
        ok_codes: Sequence[int] = (0,),
    ) -> ProcessResult:
        """Run git in the private repository, optionally with an index file and a work tree."""
        return await run_git(
            self.git_exe, args, env=self.env(index=index, work_tree=work_tree), stdin=stdin,
            limit=limit, ok_codes=ok_codes,
        )

    async def rev(self, args: Sequence[str], *, index: Path | None = None) -> str:
        """A command that prints one object id (write-tree, commit-tree, rev-parse)."""
        result = await self.git(args, index=index)
        return result.stdout.decode().strip()

    async def update_ref(self, ref: str, commit: str) -> None:
        # A lock left by an attempt killed mid-update would block the next one; refs under a
        # job's name are only written by the one worker that holds the job's lease.
        lock = self.path / f"{ref}.lock"
        lock.unlink(missing_ok=True)
        await self.git(["update-ref", ref, commit])

    async def project_git(
        self, project: Path, args: Sequence[str], *, stdin: bytes | None = None,
        ok_codes: Sequence[int] = (0,),
    ) -> ProcessResult:
        """A read-only git command in the project's own repository."""
        return await run_git(
            self.git_exe, ["-C", str(project), "-c", "core.fsmonitor=false", *args],
            env=_base_env(), stdin=stdin, ok_codes=ok_codes,
        )


def job_ref(job_id: str, state: str) -> str:
    return f"refs/aura/jobs/{job_id}/{state}"
