"""Applying a job's change to the real project: every file the job touched is given its after
state, but only when each of those files is still exactly as the job found it.

The before and after states are commits in the private snapshot repository; `diff-tree` between
them names the touched files with their before and after blob ids and modes. A file's current
state in the project is hashed the way git hashes a blob (the repository keeps raw bytes: no
filters), so "unchanged since the job began" is an exact comparison, not a heuristic. The new
contents are staged beside their targets first and renamed into place together, so a failure
while writing leaves the project as it was for every file not yet renamed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from orchestra.errors import Conflict, InvalidInput, NotFound
from orchestra.sandbox.diff import Change, parse_raw
from orchestra.sandbox.repo import LIST_LIMIT, SnapshotRepo, complete, job_ref

_NULL_ID = "0" * 40
_REGULAR, _EXECUTABLE, _SYMLINK = "100644", "100755", "120000"
# At most this many files are named in a refusal; the rest are counted.
_NAMED = 10


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying did: the files written or deleted, or none when the project already
    held the job's after state (`already`)."""

    files: tuple[str, ...]
    already: bool = False
    after: str = ""


@dataclass(frozen=True, slots=True)
class _State:
    mode: str | None  # None: the file does not exist
    blob: str | None


async def apply_job(repo: SnapshotRepo, name: str, project: Path) -> Applied:
    """Write the job's after state of every file it touched into `project`.

    `Conflict` names the files changed in the project since the job's before state; nothing is
    written then. Applying twice is harmless: the second time finds the after state in place.
    """
    await repo.ensure()
    before, after = await _commit(repo, name, "before"), await _commit(repo, name, "after")
    raw = await repo.git(["diff-tree", "-r", "-z", "--raw", "--no-abbrev", "--no-renames",
                          before, after], limit=LIST_LIMIT)
    changes = parse_raw(complete(raw, "the list of changed files"))
    root = project.resolve()
    for change in changes:
        _check_target(root, change.new_path)
    current = await asyncio.to_thread(_states, root, [c.new_path for c in changes])
    if all(current[c.new_path] == _after(c) for c in changes):
        return Applied(tuple(c.new_path for c in changes), already=True, after=after)
    moved = [c.new_path for c in changes if current[c.new_path] != _before(c)]
    if moved:
        raise Conflict(_refusal(name, moved))
    contents = await _contents(repo, [c for c in changes if c.new_id != _NULL_ID])
    await asyncio.to_thread(_write, root, changes, contents)
    return Applied(tuple(c.new_path for c in changes), after=after)


async def _commit(repo: SnapshotRepo, name: str, state: str) -> str:
    ref = f"{job_ref(name, state)}^{{commit}}"
    found = await repo.git(["rev-parse", "--verify", "--quiet", ref], ok_codes=(0, 1))
    if found.exit_code != 0:
        raise NotFound(f"job {name} has no {state} state to apply (it never reached validation)")
    return found.stdout.decode().strip()


def _before(change: Change) -> _State:
    if change.old_id == _NULL_ID:
        return _State(None, None)
    return _State(change.old_mode, change.old_id)


def _after(change: Change) -> _State:
    if change.new_id == _NULL_ID:
        return _State(None, None)
    return _State(change.new_mode, change.new_id)


def _check_target(root: Path, relative: str) -> None:
    """A path from the job's tree lands inside the project: no directory on the way may be a
    symbolic link (one pointing out of the project would carry the write with it)."""
    parts = Path(relative).parts
    if not parts or ".." in parts or Path(relative).is_absolute():
        raise InvalidInput(f"the job's change names an unusable path: {relative!r}")
    here = root
    for part in parts[:-1]:
        here = here / part
        if here.is_symlink():
            raise Conflict(f"cannot apply: {here.relative_to(root)} in the project is a "
                           "symbolic link, and the job's change writes through it")


def _states(root: Path, paths: Iterable[str]) -> dict[str, _State]:
    return {path: _state(root / path) for path in paths}


def _state(path: Path) -> _State:
    """The file as git would record it: mode and blob id, or absent."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return _State(None, None)
    if stat.S_ISLNK(info.st_mode):
        return _State(_SYMLINK, _blob_id(os.readlink(path).encode("utf-8", "surrogateescape")))
    if not stat.S_ISREG(info.st_mode):
        return _State("other", None)  # a directory where the job had a file: changed
    mode = _EXECUTABLE if info.st_mode & stat.S_IXUSR else _REGULAR
    return _State(mode, _blob_id(path.read_bytes()))


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _refusal(name: str, moved: list[str]) -> str:
    shown = ", ".join(moved[:_NAMED]) + (f" and {len(moved) - _NAMED} more"
                                         if len(moved) > _NAMED else "")
    return (f"cannot apply job {name}: the project changed since the job began in "
            f"{len(moved)} file(s) its change touches: {shown}; apply its diff by hand, or "
            "run the job again on the project as it is now")


async def _contents(repo: SnapshotRepo, changes: list[Change]) -> dict[str, bytes]:
    contents: dict[str, bytes] = {}
    for change in changes:
        if change.new_id in contents:
            continue
        result = await repo.git(["cat-file", "blob", change.new_id], limit=1 << 34)
        contents[change.new_id] = complete(result, f"the after state of {change.new_path}")
    return contents


def _write(root: Path, changes: list[Change], contents: dict[str, bytes]) -> None:
    """Stage every new file beside its target, then rename all into place, then delete."""
    staged: list[tuple[Path, Path]] = []
    try:
        for change in changes:
            if change.new_id == _NULL_ID:
                continue
            target = root / change.new_path
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{target.name}.aura-apply-{uuid.uuid4().hex[:12]}")
            _stage(temp, change.new_mode, contents[change.new_id], _permissions(target))
            staged.append((temp, target))
        for temp, target in staged:
            if target.is_dir() and not target.is_symlink():
                raise Conflict(f"cannot apply: {target.relative_to(root)} is a directory")
            os.replace(temp, target)
    finally:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
    for change in changes:
        if change.new_id == _NULL_ID:
            (root / change.new_path).unlink(missing_ok=True)


def _permissions(target: Path) -> int | None:
    """A regular file's permission bits, to keep them (a group-writable file stays so)."""
    try:
        info = target.lstat()
    except FileNotFoundError:
        return None
    return stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else None


def _stage(temp: Path, mode: str, data: bytes, kept: int | None) -> None:
    if mode == _SYMLINK:
        os.symlink(data.decode("utf-8", "surrogateescape"), temp)
        return
    if mode not in (_REGULAR, _EXECUTABLE):
        raise InvalidInput(f"cannot apply a file of git mode {mode} (a submodule?)")
    with open(temp, "xb") as out:
        out.write(data)
    permissions = 0o644 if kept is None else kept
    if mode == _EXECUTABLE:
        permissions |= (permissions & 0o444) >> 2  # executable wherever readable
    else:
        permissions &= ~0o111
    temp.chmod(permissions)
