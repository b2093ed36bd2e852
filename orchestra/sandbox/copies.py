"""Working copies under `AURA_SANDBOX_DIR/<job-id>/`, made from a snapshot commit.

A copy is checked out beside its final place and renamed into it, so a half-made copy is never
visible under the job's name; an earlier attempt's copy is moved aside first. Deleting a copy
(which may be large) happens in a subprocess: renaming it away is instant, so the job's name is
free at once, and the event loop never waits on a big `rmtree`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import uuid
from pathlib import Path

from orchestra.process import run_process
from orchestra.sandbox.repo import GIT_TIMEOUT_S, SnapshotRepo

# Make every directory writable first (a job may have chmod-ed one), then delete; `chmod -R`
# does not follow symlinks met inside the tree.
_REMOVE_SCRIPT = 'chmod -R u+rwX -- "$1" 2>/dev/null; rm -rf -- "$1"'


def staging_dir(root: Path, name: str) -> Path:
    return root / f".{name}.{uuid.uuid4().hex}.tmp"


async def check_out(repo: SnapshotRepo, tree: str, index: Path, staging: Path) -> None:
    """Write `tree` into the empty directory `staging`; `index` then matches its files' stat
    data, so the after snapshot rehashes only what the job touched."""
    staging.mkdir(parents=True)
    await repo.git(["read-tree", tree], index=index)
    await repo.git(["checkout-index", "--all", "--force", "-u"], index=index, work_tree=staging)


def make_mount_points(staging: Path, rel_dirs: list[str]) -> None:
    """Empty directories where read-only folders will be mounted, so bwrap need not make them
    (and the copy's own file at such a place is not silently covered)."""
    for rel in rel_dirs:
        with contextlib.suppress(OSError):
            (staging / rel).mkdir(parents=True, exist_ok=True)


def move_into_place(staging: Path, target: Path) -> Path | None:
    """Rename `staging` to `target`; a directory already there is moved aside and returned
    (for the caller to delete)."""
    aside = None
    if target.exists() or target.is_symlink():
        aside = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
        target.rename(aside)
    staging.rename(target)
    return aside


def move_aside(target: Path) -> Path | None:
    """Rename `target` away (instant); the returned path is to be deleted."""
    if not (target.exists() or target.is_symlink()):
        return None
    aside = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
    target.rename(aside)
    return aside


async def delete_tree(path: Path) -> None:
    """Delete a directory tree in a subprocess (killed if we are cancelled)."""
    if path.is_symlink():
        path.unlink()
        return
    if not path.exists():
        return
    await run_process(
        ["/bin/sh", "-c", _REMOVE_SCRIPT, "aura-remove", str(path)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
        timeout_s=GIT_TIMEOUT_S, keep_bytes=4096,
    )


def delete_tree_detached(path: Path) -> None:
    """Start deleting `path` without waiting: for clean-up on cancellation, which must be
    quick. The path is already out of the way (a dot-name nobody looks up)."""
    if not (path.exists() or path.is_symlink()):
        return
    try:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", _REMOVE_SCRIPT, "aura-remove", str(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return
    threading.Thread(target=proc.wait, name="aura-remove-reaper", daemon=True).start()
