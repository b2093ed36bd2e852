"""Per-job working copies under `AURA_SANDBOX_DIR/<job-id>/`, and their diff against the project.

`SandboxStore.prepare` copies a project into a fresh sandbox; the employee and the acceptance
checks work there and the project itself is never written. Symlinks are copied as symlinks and
never followed, so a link that points outside the project stays a link (its target is not
copied). Sockets, FIFOs and device files are skipped.

`unified_diff` compares a project with its sandbox in pure Python (difflib), in the shape of
`git diff`: a `diff --git` line per file, `--- a/path` / `+++ b/path` headers, `/dev/null` for
added and deleted files, mode lines for executable-bit changes, and
`Binary files a/x and b/x differ` for files that are not UTF-8 text. As in git, a symlink is
compared as a file whose content is its target. `.git` directories are left out of the diff
(the diff is meant to be applied to the project's working tree).

Everything here is synchronous and does file I/O; async callers run it in a thread.
"""

from __future__ import annotations

import difflib
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestra.errors import InvalidInput, NotFound

_BINARY_SNIFF = 8000  # like git: a NUL byte in the first 8000 bytes means binary
_MODE_FILE = "100644"
_MODE_EXEC = "100755"
_MODE_LINK = "120000"


class SandboxStore:
    """Where jobs' working copies live."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, job_id: object) -> Path:
        """The sandbox directory of a job (it may not exist yet)."""
        name = str(job_id)
        if not name or name in {".", ".."} or "/" in name or "\x00" in name:
            raise InvalidInput(f"job id {name!r} cannot name a sandbox")
        return self.root / name

    def prepare(self, job_id: object, project: Path) -> Path:
        """Copy `project` into a fresh sandbox for the job and return its path.

        An existing sandbox of the same job (an earlier attempt) is replaced. The copy is made
        beside the target and renamed into place, so a half-made sandbox is never visible.
        """
        if not project.is_dir():
            raise NotFound(f"project {project} is not an existing directory")
        target = self.path(job_id)
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".{target.name}.{uuid.uuid4().hex}.tmp"
        try:
            shutil.copytree(project, staging, symlinks=True, ignore=_skip_special_files)
            if target.exists() or target.is_symlink():
                _rmtree(target)
            staging.rename(target)
        finally:
            if staging.exists():
                _rmtree(staging)
        return target

    def remove(self, job_id: object) -> None:
        """Delete the job's sandbox; nothing happens if there is none."""
        target = self.path(job_id)
        if target.is_symlink():
            target.unlink()
        elif target.exists():
            _rmtree(target)


def _skip_special_files(directory: str, names: list[str]) -> set[str]:
    skipped: set[str] = set()
    for name in names:
        try:
            mode = os.lstat(os.path.join(directory, name)).st_mode
        except OSError:
            skipped.add(name)
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            skipped.add(name)
    return skipped


def _rmtree(path: Path) -> None:
    """Remove a tree even where the copy kept read-only directory modes."""

    def retry(func: Callable[..., Any], failed: str, _info: Any) -> None:
        parent = os.path.dirname(failed)
        if parent:
            os.chmod(parent, stat.S_IRWXU)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, stat.S_IRWXU)
        func(failed)

    shutil.rmtree(path, onerror=retry)


@dataclass(frozen=True, slots=True)
class _Entry:
    mode: str
    data: bytes


def _scan(top: Path, exclude: Collection[str]) -> dict[str, _Entry]:
    """Every regular file and symlink under `top`, keyed by POSIX relative path."""
    found: dict[str, _Entry] = {}
    if not top.is_dir():
        return found

    def walk(directory: Path, prefix: str) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name in exclude:
                    continue
                rel = f"{prefix}{entry.name}"
                if entry.is_symlink():
                    target = os.readlink(entry.path)
                    found[rel] = _Entry(_MODE_LINK, os.fsencode(target))
                elif entry.is_dir(follow_symlinks=False):
                    walk(Path(entry.path), f"{rel}/")
                elif entry.is_file(follow_symlinks=False):
                    mode = entry.stat(follow_symlinks=False).st_mode
                    executable = bool(mode & stat.S_IXUSR)
                    found[rel] = _Entry(
                        _MODE_EXEC if executable else _MODE_FILE, Path(entry.path).read_bytes()
                    )

    walk(top, "")
    return found


def _as_text(data: bytes) -> str | None:
    if b"\x00" in data[:_BINARY_SNIFF]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _lines(text: str) -> list[str]:
    """Split on `\\n` only (not on `\\r` or other separators), keeping the line ends."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _body(rel: str, old: _Entry | None, new: _Entry | None) -> list[str]:
    """The `---`/`+++` headers and hunks (or binary note) for one file; empty if no content
    change."""
    old_data = old.data if old else b""
    new_data = new.data if new else b""
    if old is not None and new is not None and old_data == new_data:
        return []
    if not old_data and not new_data:
        return []  # an empty file added or deleted: the header lines say it all
    old_name = f"a/{rel}" if old else "/dev/null"
    new_name = f"b/{rel}" if new else "/dev/null"
    old_text, new_text = _as_text(old_data), _as_text(new_data)
    if old_text is None or new_text is None:
        return [f"Binary files {old_name} and {new_name} differ\n"]
    out: list[str] = []
    for line in difflib.unified_diff(
        _lines(old_text), _lines(new_text), fromfile=old_name, tofile=new_name, lineterm="\n"
    ):
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n")
            out.append("\\ No newline at end of file\n")
    return out


def _file_diff(rel: str, old: _Entry | None, new: _Entry | None) -> list[str]:
    head = f"diff --git a/{rel} b/{rel}\n"
    if old is None and new is not None:
        return [head, f"new file mode {new.mode}\n", *_body(rel, None, new)]
    if new is None and old is not None:
        return [head, f"deleted file mode {old.mode}\n", *_body(rel, old, None)]
    assert old is not None and new is not None
    if (old.mode == _MODE_LINK) != (new.mode == _MODE_LINK):
        # A file became a symlink or the other way round: git shows a deletion and an addition.
        return _file_diff(rel, old, None) + _file_diff(rel, None, new)
    lines: list[str] = []
    if old.mode != new.mode:
        lines += [f"old mode {old.mode}\n", f"new mode {new.mode}\n"]
    lines += _body(rel, old, new)
    return [head, *lines] if lines else []


def unified_diff(project: Path, sandbox: Path, *, exclude: Collection[str] = (".git",)) -> str:
    """A git-style unified diff from `project` to `sandbox`, files sorted by path.

    Empty when nothing differs. Entries named in `exclude` (at any depth) are ignored.
    """
    before = _scan(project, exclude)
    after = _scan(sandbox, exclude)
    out: list[str] = []
    for rel in sorted(before.keys() | after.keys()):
        out += _file_diff(rel, before.get(rel), after.get(rel))
    return "".join(out)
