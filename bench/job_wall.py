"""A job's wall time end to end over MCP on a real-size project: submit → succeeded.

    .venv/bin/python bench/job_wall.py [--project DIR] [--jobs 3] [--repo CHECKOUT ...]

Starts `aura up` (embedded PostgreSQL, its own directories and ports) with the project's
parent as the workspace, hires a command-line employee that edits one file, and submits jobs
over MCP (streamable HTTP, the SDK's client) with one acceptance command, waiting with
`wait_job` until each succeeds. Without `--project` it builds one with `bench/_project.py`
(a git repository with an ignored `.venv` of installed packages, ≥ 5,000 files and ≥ 200 MB).
Each `--repo` runs that checkout's `aura up` (e.g. an older commit in a worktree with its own
`.venv`) on the same project in the same run, so before and after compare directly; the
default is this checkout. The first job on a project may pay one-time costs (a snapshot
store's first look); each result gives the first job and the median of the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _support import REPO_ROOT, AuraProcess, mcp_session

EDIT = "#!/bin/sh\necho \"# touched by the benchmark's employee\" >> {file}\necho edited\n"

# An acceptance command the shipped policy allows (its first word is in `commands_allow`).
CHECK = "python3 -c \"import pathlib; assert pathlib.Path('README.md').stat().st_size\""


async def run_jobs(aura: AuraProcess, token: str, project: Path, count: int) -> list[float]:
    seconds = []
    async with mcp_session(aura.mcp, token) as client:
        for _ in range(count):
            started = time.perf_counter()
            submitted = await client.call_tool("submit_job", {
                "prompt": "touch one file", "project": str(project), "employee": "editor",
                "acceptance": [CHECK],
            })
            job_id = (submitted.structured_content or {})["job_id"]
            while True:
                result = await client.call_tool("wait_job", {"job_id": job_id, "timeout_s": 30})
                job = result.structured_content or {}
                if job.get("status") in ("succeeded", "failed", "cancelled", "rejected"):
                    break
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} ended {job['status']}: {job.get('error')}")
            seconds.append(time.perf_counter() - started)
    return seconds


def measure(repo: Path, project: Path, jobs: int) -> list[float]:
    root = Path(tempfile.mkdtemp(prefix="aura-jobwall-", dir="/var/tmp"))
    aura = AuraProcess(repo, root, project.parent)
    try:
        aura.start()
        script = root / "editor.sh"
        script.write_text(EDIT.format(file="README.md"))
        script.chmod(0o755)
        with aura.director() as api:
            hired = api.post("/employees", json={
                "name": "editor", "adapter": "cli", "command": ["/bin/sh", str(script)]})
            hired.raise_for_status()
            token = api.post("/tokens", json={"name": "bench"}).json()["token"]
        return asyncio.run(run_jobs(aura, token, project, jobs))
    finally:
        aura.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="an existing project (default: build one)")
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--repo", type=Path, action="append",
                        help="a checkout whose `aura up` runs; repeat to compare (default: this)")
    args = parser.parse_args(argv)
    scratch = None
    project = args.project
    if project is None:
        from _project import build_project

        scratch = Path(tempfile.mkdtemp(prefix="aura-jobwall-project-", dir="/var/tmp"))
        project = build_project(scratch / "workspace" / "project")
    results = {}
    try:
        for repo in args.repo or [REPO_ROOT]:
            seconds = measure(repo.resolve(), project.resolve(), args.jobs)
            rest = seconds[1:] or seconds
            results[str(repo)] = {
                "first_job_s": round(seconds[0], 3),
                "later_jobs_median_s": round(statistics.median(rest), 3),
                "all_s": [round(s, 3) for s in seconds],
            }
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({"bench": "job_wall", "project": str(project), "jobs": args.jobs,
                      "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
