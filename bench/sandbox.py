"""What a job's sandbox steps cost on a large project, against tar and git worktree baselines.

    .venv/bin/python bench/sandbox.py

Builds a git project with a few hundred tracked files and a large ignored `.venv`
(`_project.py`), then for a job that edits one file times `Sandboxes.prepare` (before snapshot
and working copy), the edit, and `finish` (after snapshot and diff), and measures the bytes
the job added to the snapshot store. The first job on a project also stores its files once
("cold"); later jobs cost only what they change ("warm"). In the same run: `tar czf` of the
tree (what each archive cost before), `git worktree add` + `git diff`, and the same job on a
non-git copy of the tree (with `.venv`, left out by the default rules, and with the folder
renamed so that every file is snapshotted and copied). Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _project import build_project, tree_stats

from orchestra.sandbox import Sandboxes


def du(path: Path) -> int:
    """Bytes on disk (allocated blocks) under `path`."""
    total = 0
    for here, _dirs, names in os.walk(path):
        for name in [*names, *_dirs]:
            info = os.lstat(os.path.join(here, name))
            total += info.st_blocks * 512
    return total


async def one_job(boxes: Sandboxes, job: str, project: Path) -> dict[str, float]:
    store = boxes.repo.path.parent / "objects.git"
    stored = du(store) if store.exists() else 0
    t0 = time.perf_counter()
    copy = await boxes.prepare(job, project)
    t1 = time.perf_counter()
    target = copy.path / "src" / "pkg0" / "mod0.py"
    target.write_text(target.read_text() + "\ndef added():\n    return 1\n")
    t2 = time.perf_counter()
    diff = await boxes.finish(copy)
    t3 = time.perf_counter()
    await boxes.remove(job)
    assert "+def added():" in diff and diff.count("diff --git") == 1, diff[:500]
    return {
        "prepare_s": round(t1 - t0, 3), "edit_s": round(t2 - t1, 4),
        "finish_s": round(t3 - t2, 3), "total_s": round(t3 - t0, 3),
        "snapshot_bytes_added": du(store) - stored, "diff_bytes": len(diff.encode()),
    }


def timed(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return round(time.perf_counter() - started, 3)


def baselines(project: Path, scratch: Path) -> dict[str, object]:
    archive = scratch / "tree.tar.gz"
    tar_s = timed(["tar", "czf", str(archive), "-C", str(project), "."], scratch)
    worktree = scratch / "worktree"
    add_s = timed(["git", "worktree", "add", "-q", "--detach", str(worktree)], project)
    (worktree / "src" / "pkg0" / "mod0.py").write_text("changed\n")
    diff_s = timed(["git", "diff"], worktree)
    subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=project,
                   check=True)
    return {"tar_czf_s": tar_s, "tar_czf_bytes": archive.stat().st_size,
            "git_worktree_add_s": add_s, "git_diff_s": diff_s}


async def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="aura-bench-sandbox-"))
    try:
        project = build_project(scratch / "project")
        result: dict[str, object] = {"bench": "sandbox", "project": tree_stats(project)}
        boxes = Sandboxes(scratch / "sandboxes", scratch / "snapshots")
        result["git_cold"] = await one_job(boxes, "job-1", project)
        result["git_warm"] = await one_job(boxes, "job-2", project)
        result["baseline"] = baselines(project, scratch)
        plain = scratch / "plain"
        shutil.copytree(project, plain, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        boxes = Sandboxes(scratch / "sandboxes", scratch / "snapshots-plain")
        result["non_git_cold"] = await one_job(boxes, "job-3", plain)
        result["non_git_warm"] = await one_job(boxes, "job-4", plain)
        # The worst case: a non-git project whose big folder no default rule leaves out, so
        # all of it is snapshotted and copied (what every job paid before this layer).
        (plain / ".venv").rename(plain / "vendor")
        boxes = Sandboxes(scratch / "sandboxes", scratch / "snapshots-vendor")
        result["non_git_all_files_cold"] = await one_job(boxes, "job-5", plain)
        result["non_git_all_files_warm"] = await one_job(boxes, "job-6", plain)
        print(json.dumps(result))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
