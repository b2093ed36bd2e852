"""`POST /api/v1/jobs/{id}/apply` and `aura apply`: a succeeded job's change written into its
project, audited; refused with the files named when the project moved; harmless twice."""

from __future__ import annotations

from pathlib import Path

import httpx

from mcp_server.app import System
from orchestra.models import Job, JobStatus, NewJob
from tests.fakes.ollama_server import FakeOllama
from tests.integration.helpers import hire

KEY = {"Authorization": "Bearer test-director-key"}


async def _edit_greet(system: System, ollama: FakeOllama, workspace: Path) -> Job:
    (workspace / "greet.py").write_text("print('hi')\n")
    (workspace / "keep.txt").write_text("not touched\n")
    ollama.script("llama", "Done.\n<<<FILE greet.py\nprint('hello')\n>>>FILE\n"
                           "<<<FILE new/mod.py\nX = 1\n>>>FILE\n")
    await hire(system.db, "llama", "ollama")
    await system.queue.submit(
        NewJob(prompt="greet louder", employee="llama", project=str(workspace)), actor="t")
    claim = await system.manager.claim()
    assert claim is not None
    job = await system.manager.run_attempt(claim)
    assert job.status is JobStatus.SUCCEEDED, job.error
    return job


async def test_a_succeeded_jobs_change_is_applied_once_and_audited(
    api: httpx.AsyncClient, system: System, ollama: FakeOllama, workspace: Path
) -> None:
    job = await _edit_greet(system, ollama, workspace)
    assert (workspace / "greet.py").read_text() == "print('hi')\n"  # untouched until applied
    first = await api.post(f"/api/v1/jobs/{str(job.id)[:8]}/apply", headers=KEY)
    assert first.status_code == 200, first.text
    assert first.json() == {"job_id": str(job.id), "project": str(workspace), "applied": True,
                            "already_applied": False, "files": ["greet.py", "new/mod.py"]}
    assert (workspace / "greet.py").read_text() == "print('hello')\n"
    assert (workspace / "new" / "mod.py").read_text() == "X = 1\n"
    assert (workspace / "keep.txt").read_text() == "not touched\n"
    again = await api.post(f"/api/v1/jobs/{job.id}/apply", headers=KEY)
    assert again.json()["already_applied"] is True and again.json()["applied"] is False
    async with system.db.connection() as conn:
        entries = await conn.fetch(
            "SELECT actor, details FROM audit_log WHERE action = 'job.applied'")
    assert len(entries) == 1 and entries[0]["actor"] == "director"
    assert entries[0]["details"]["paths"] == ["greet.py", "new/mod.py"]
    [approval] = await system.approvals.list_approvals()
    assert (approval.action, approval.subject, approval.status, approval.decided_by) == (
        "apply_diff", str(job.id), "approved", "director")


async def test_a_project_that_moved_refuses_the_apply_naming_the_file(
    api: httpx.AsyncClient, system: System, ollama: FakeOllama, workspace: Path
) -> None:
    job = await _edit_greet(system, ollama, workspace)
    (workspace / "greet.py").write_text("print('the Director was here')\n")
    refused = await api.post(f"/api/v1/jobs/{job.id}/apply", headers=KEY)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert "greet.py" in refused.json()["detail"] and "changed since the job began" in \
        refused.json()["detail"]
    assert not (workspace / "new").exists()  # nothing written


async def test_only_a_succeeded_job_with_a_project_is_applied(
    api: httpx.AsyncClient, system: System
) -> None:
    await hire(system.db, "echo")
    queued = (await system.queue.submit(NewJob(prompt="x", employee="echo"), actor="t")).job
    refused = await api.post(f"/api/v1/jobs/{queued.id}/apply", headers=KEY)
    assert refused.status_code == 400 and "no project" in refused.json()["detail"]
