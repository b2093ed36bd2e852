"""`Sandboxes`: prepare a job's working copy and before state, finish with its after state and
diff, export either state, remove the copy.

Cost grows with what a job changes: the before state is a commit of the project's working tree
made through a cached index (only files whose stat data changed are read again), the copy is
a checkout of that commit, and the after state rehashes only what the job touched. Ignored
dependency folders are not copied at all but shown read-only (`view.py`). Heavy work runs in
git subprocesses, so cancelling `prepare` or `finish` kills it and returns at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from pathlib import Path
from typing import Literal

from orchestra.errors import InvalidInput, NotFound
from orchestra.sandbox import copies, selection, states
from orchestra.sandbox.apply import Applied, apply_job
from orchestra.sandbox.diff import job_diff
from orchestra.sandbox.jobcopy import JobCopy
from orchestra.sandbox.repo import GitFailed, SnapshotRepo, job_ref
from orchestra.sandbox.view import Toolchain, command_env
from orchestra.snapshots import SnapshotStore

_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")


def job_name(job_id: object) -> str:
    """The job id as a directory and ref name; anything else is refused."""
    name = str(job_id)
    if not _JOB_NAME.fullmatch(name) or name.endswith(".lock") or len(name) > 200:
        raise InvalidInput(f"job id {name!r} cannot name a sandbox")
    return name


class Sandboxes:
    """Job working copies under `sandbox_root`, their states in `snapshot_root/objects.git`.

    `hidden` are further directories never to show to a job's commands (Aura's data and
    backup directories); the sandbox and snapshot roots are always hidden.
    `extra_dependency_dirs` names ignored folders to show read-only besides
    `selection.DEPENDENCY_DIRS`.
    """

    def __init__(
        self, sandbox_root: Path, snapshot_root: Path, *, git: str = "git",
        hidden: Sequence[Path] = (), extra_dependency_dirs: Collection[str] = (),
    ) -> None:
        self.root = sandbox_root
        self.dependency_dirs = selection.DEPENDENCY_DIRS | frozenset(extra_dependency_dirs)
        self.repo = SnapshotRepo(snapshot_root, git=git)
        self.snapshots = SnapshotStore(snapshot_root)
        self.toolchain = Toolchain([sandbox_root, snapshot_root, *hidden])

    def path(self, job_id: object) -> Path:
        """The working copy of a job (it may not exist)."""
        return self.root / job_name(job_id)

    def _job_index(self, name: str) -> Path:
        return self.repo.scratch / "jobs" / f"{name}.index"

    def _project_index(self, project: Path) -> Path:
        key = hashlib.sha256(os.fsencode(project)).hexdigest()[:32]
        return self.repo.scratch / "projects" / f"{key}.index"

    @contextlib.asynccontextmanager
    async def _scratch(self) -> AsyncIterator[Path]:
        """A private directory for temporary index files, gone afterwards."""
        await self.repo.ensure()
        scratch = self.repo.scratch / "tmp" / uuid.uuid4().hex
        scratch.mkdir(parents=True)
        try:
            yield scratch
        finally:
            shutil.rmtree(scratch, ignore_errors=True)  # a few index files: quick

    async def prepare(self, job_id: object, project: Path) -> JobCopy:
        """Record the project's before state and make the job's working copy of it."""
        name = job_name(job_id)
        real = _project_dir(project)
        async with self._scratch() as scratch:
            found = await selection.probe(self.repo, real)
            empty = scratch / "empty.index"  # never written: an index with nothing in it
            read_only = await selection.read_only_dirs(
                self.repo, found, empty, self.dependency_dirs)
            before = await self._record_before(name, found, scratch)
            await self._make_copy(name, before, read_only, scratch)
        return self._describe(name, found, before, read_only)

    async def _record_before(self, name: str, project: selection.Project, scratch: Path) -> str:
        """The before commit; the project's cached index is refreshed as a side effect."""
        paths = await selection.before_paths(self.repo, project, scratch / "empty.index")
        cache = self._project_index(project.path)
        index = scratch / "project.index"
        if cache.exists():
            shutil.copy2(cache, index)  # copy2: keeps the mtime git's racy check relies on
        await states.update(self.repo, index, project.path, paths, prune=True)
        before = await states.commit(
            self.repo, index, job_ref(name, "before"), f"job {name}: before ({project.path})"
        )
        index.replace(cache)  # atomic: a concurrent job reads the old or the new cache
        return before

    async def _make_copy(
        self, name: str, before: str, read_only: list[str], scratch: Path
    ) -> None:
        staging = copies.staging_dir(self.root, name)
        index = scratch / "job.index"
        try:
            await copies.check_out(self.repo, f"{before}^{{tree}}", index, staging)
            copies.make_mount_points(staging, read_only)
            aside = copies.move_into_place(staging, self.path(name))
            index.replace(self._job_index(name))
        finally:
            copies.delete_tree_detached(staging)  # only if it never made it into place
        if aside is not None:
            copies.delete_tree_detached(aside)

    def _describe(
        self, name: str, found: selection.Project, before: str, read_only: list[str]
    ) -> JobCopy:
        project = found.path
        shown = tuple(project / rel for rel in read_only)
        service_path = os.environ.get("PATH", "")
        toolchain = self.toolchain.for_project(project, shown, service_path)
        copy = JobCopy(
            job_id=name, project=project, path=self.path(name), before=before,
            read_only=shown, toolchain=toolchain,
            env=command_env(project, shown, service_path),
        )
        self.snapshots.update_metadata(name, {
            "project": str(project), "git_project": found.in_git, "git_prefix": found.prefix,
            "before": before, "after": None,
            "read_only": read_only, "toolchain": [str(p) for p in toolchain],
        })
        return copy

    async def finish(self, copy: JobCopy) -> str:
        """Record the working copy as the after state; return the diff from before to after."""
        name = job_name(copy.job_id)
        if not copy.path.is_dir():
            raise NotFound(f"the working copy of job {name} is gone")
        read_only = [p.relative_to(copy.project).as_posix() for p in copy.read_only]
        async with self._scratch() as scratch:
            index = scratch / "after.index"
            await self._after_index(name, copy, index)
            project = await self._project_kind(name, copy.project)
            paths = await selection.indexed_paths(self.repo, index, copy.path)
            paths += await selection.new_paths(self.repo, project, copy.path, index, read_only)
            await states.update(self.repo, index, copy.path, paths, prune=False)
            after = await states.commit(self.repo, index, job_ref(name, "after"),
                                        f"job {name}: after", parent=copy.before)
        self.snapshots.update_metadata(name, {"after": after})
        return await job_diff(self.repo, copy.before, after, project.prefix)

    async def _project_kind(self, name: str, project: Path) -> selection.Project:
        """Whether git owned the project when the job began (asked again if not recorded)."""
        meta = self.snapshots.metadata(name)
        in_git, prefix = meta.get("git_project"), meta.get("git_prefix", "")
        if isinstance(in_git, bool) and isinstance(prefix, str):
            return selection.Project(project, in_git, prefix)
        return await selection.probe(self.repo, project)

    async def _after_index(self, name: str, copy: JobCopy, index: Path) -> None:
        """Start from the job's index (stat data of the fresh copy), or from the before tree
        (everything rehashed) when it is missing."""
        kept = self._job_index(name)
        if kept.exists():
            shutil.copy2(kept, index)
        else:
            await self.repo.git(["read-tree", f"{copy.before}^{{tree}}"], index=index)

    async def export(
        self, job_id: object, state: Literal["before", "after"], dest: Path
    ) -> Path:
        """Write the job's before or after state as a tar file at `dest`; return `dest`."""
        name = job_name(job_id)
        if state not in ("before", "after"):
            raise InvalidInput(f"state must be 'before' or 'after', not {state!r}")
        if not dest.parent.is_dir():
            raise InvalidInput(f"cannot write {dest}: {dest.parent} is not a directory")
        await self.repo.ensure()
        ref = job_ref(name, state)
        found = await self.repo.git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                                    ok_codes=(0, 1))
        if found.exit_code != 0:
            raise NotFound(f"job {name} has no {state} state")
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        try:
            # git writes the file itself: the content never passes through this process.
            await self.repo.git(["archive", "--format=tar", "-o", str(tmp), ref])
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    async def apply(self, job_id: object, project: Path) -> Applied:
        """Write the job's change into the real project (see `orchestra.sandbox.apply`)."""
        return await apply_job(self.repo, job_name(job_id), project)

    async def remove(self, job_id: object, *, wait: bool = True) -> None:
        """Delete the job's working copy and private home (its refs and metadata stay).

        The copy is renamed away at once, so the job's name is free; with `wait=False` the
        deletion goes on in the background (for a stop, which must be quick)."""
        name = job_name(job_id)
        self._job_index(name).unlink(missing_ok=True)
        # The copy and the private home a command-line employee had (`<job>.home`).
        for path in (self.path(name), self.root / f"{name}.home"):
            aside = copies.move_aside(path)
            if aside is None:
                continue
            if wait:
                await copies.delete_tree(aside)
            else:
                copies.delete_tree_detached(aside)

    def sweep(self, *, staging_older_than_s: float = 3600.0) -> int:
        """Start deleting what interrupted work left in the sandbox root: every copy moved
        aside (`.<job>.<hex>.old`), and staging directories (`.tmp`) old enough that no live
        `prepare` can own them. Returns how many were found."""
        if not self.root.is_dir():
            return 0
        found = 0
        now = time.time()
        for entry in self.root.iterdir():
            if not entry.name.startswith("."):
                continue
            stale_staging = entry.name.endswith(".tmp") and (
                now - entry.lstat().st_mtime > staging_older_than_s)
            if entry.name.endswith(".old") or stale_staging:
                copies.delete_tree_detached(entry)
                found += 1
        return found


def _project_dir(project: Path) -> Path:
    try:
        real = project.resolve(strict=True)
    except OSError as exc:
        raise NotFound(f"project {project} does not exist: {exc.strerror}") from exc
    if not real.is_dir():
        raise NotFound(f"project {project} is not a directory")
    return real


__all__ = ["GitFailed", "Sandboxes", "job_name"]
