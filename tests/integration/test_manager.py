"""The worker's whole path: employee, sandbox, edits, validation, retries, archives."""

from __future__ import annotations

import dataclasses
import tarfile
from pathlib import Path

from mcp_server.app import System
from orchestra.models import Job, JobStatus, NewJob
from tests.fakes.ollama_server import FakeOllama
from tests.integration.helpers import hire


async def _run_next(system: System) -> Job:
    claim = await system.manager.claim()
    assert claim is not None
    return await system.manager.run_attempt(claim)


GREET_FIX = ("greet.py\n```python\n<<<<<<< SEARCH\nprint('hi')\n=======\nprint('hello')\n"
             ">>>>>>> REPLACE\n```\n")
GREET_MISS = "greet.py\n<<<<<<< SEARCH\nprint('hey')\n=======\nprint('hello')\n>>>>>>> REPLACE\n"


def _chats(ollama: FakeOllama) -> list[str]:
    """The prompts of the model calls (not the loads, which send no messages)."""
    bodies = [r.body or {} for r in ollama.requests if r.path == "/api/chat"]
    return ["\n".join(str(m.get("content")) for m in b["messages"])
            for b in bodies if b.get("messages")]


async def _ledger_kinds(system: System, job: Job) -> list[str]:
    async with system.db.connection() as conn:
        rows = await conn.fetch("SELECT kind FROM ledger WHERE job_id = $1 ORDER BY id", job.id)
    return [r["kind"] for r in rows]


async def _submit_greet(system: System, workspace: Path) -> None:
    (workspace / "greet.py").write_text("print('hi')\n")
    await hire(system.db, "llama", "ollama")
    await system.queue.submit(
        NewJob(prompt="make greet.py say hello", employee="llama", project=str(workspace),
               acceptance=("python3 greet.py | grep -q hello",)), actor="t")


async def test_api_model_edits_arrive_through_the_edit_format(
    system: System, ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "greet.py").write_text("print('hi')\n")
    ollama.script("llama", "Done.\n<<<FILE greet.py\nprint('hello')\n>>>FILE\n")
    await hire(system.db, "llama", "ollama")
    submitted = await system.queue.submit(
        NewJob(prompt="say hello", employee="llama", project=str(workspace),
               acceptance=("python3 greet.py | grep -q hello",)), actor="t")
    job = await _run_next(system)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert "-print('hi')\n+print('hello')" in (job.diff or "")
    assert (workspace / "greet.py").read_text() == "print('hi')\n"  # the project is untouched
    sent = _chats(ollama)[-1]
    assert "<<<FILE" in sent and "print('hi')" in sent
    exported = await system.sandboxes.export(
        submitted.job.id, "after", system.settings.sandbox_dir.parent / "after.tar")
    with tarfile.open(exported) as tar:
        member = tar.extractfile("greet.py")
        assert member is not None and member.read() == b"print('hello')\n"


async def test_a_search_replace_reply_changes_the_file_and_passes_acceptance(
    system: System, ollama: FakeOllama, workspace: Path
) -> None:
    ollama.script("llama", "Changed the greeting.\n" + GREET_FIX)
    await _submit_greet(system, workspace)
    job = await _run_next(system)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert "-print('hi')\n+print('hello')" in (job.diff or "")
    assert len(_chats(ollama)) == 1


async def test_a_bad_edit_is_fed_back_once_and_the_corrected_reply_applies(
    system: System, ollama: FakeOllama, workspace: Path
) -> None:
    ollama.script_sequence("llama", [GREET_MISS, GREET_FIX])
    await _submit_greet(system, workspace)
    job = await _run_next(system)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert "+print('hello')" in (job.diff or "")
    first, retry = _chats(ollama)
    # The retry carries the first prompt, the reply it made and why its edits failed.
    assert "make greet.py say hello" in first and "make greet.py say hello" in retry
    assert "print('hey')" in retry and "no match" in retry and "corrected edits" in retry
    assert await _ledger_kinds(system, job) == ["reservation", "call"] * 2


async def test_a_reply_bad_twice_fails_the_job_with_the_reason_in_the_run_log(
    system: System, ollama: FakeOllama, workspace: Path
) -> None:
    ollama.script("llama", GREET_MISS)
    await _submit_greet(system, workspace)
    job = await _run_next(system)
    assert job.status is JobStatus.FAILED
    assert "greet.py has no match" in (job.error or "")
    assert len(_chats(ollama)) == 2  # fed back once, not again
    assert await _ledger_kinds(system, job) == ["reservation", "call"] * 2
    runlog = (system.settings.snapshot_dir.resolve() / str(job.id) / "runlog.txt").read_text()
    assert "EDITS FED BACK" in runlog and "greet.py has no match" in runlog
    assert (workspace / "greet.py").read_text() == "print('hi')\n"


async def test_edits_escaping_the_sandbox_fail_the_job(
    system: System, ollama: FakeOllama, workspace: Path
) -> None:
    ollama.script("llama", "<<<FILE ../../escape.txt\npwned\n>>>FILE\n")
    await hire(system.db, "llama", "ollama")
    await system.queue.submit(
        NewJob(prompt="x", employee="llama", project=str(workspace)), actor="t")
    job = await _run_next(system)
    assert job.status is JobStatus.FAILED and "refused" in (job.error or "")
    assert not (workspace.parent / "escape.txt").exists()


async def test_failure_with_attempts_left_goes_back_to_the_queue(
    system: System, workspace: Path, tmp_path: Path
) -> None:
    # Fails on the first run, succeeds on the second. The employee cannot keep a counter
    # outside its sandbox (it is confined), so the test changes its script in between.
    script = tmp_path / "flaky.sh"
    script.write_text("#!/bin/sh\nexit 1\n")
    script.chmod(0o755)
    await hire(system.db, "flaky", command=[str(script)])
    system.manager.attempts.config = dataclasses.replace(
        system.manager.attempts.config, retry_backoff_seconds=0)
    await system.queue.submit(
        NewJob(prompt="x", employee="flaky", project=str(workspace), max_attempts=2), actor="t")
    first = await _run_next(system)
    assert first.status is JobStatus.QUEUED and "exit" in (first.error or "")
    script.write_text("#!/bin/sh\nexit 0\n")
    second = await _run_next(system)
    assert second.status is JobStatus.SUCCEEDED and second.attempts == 2


async def test_every_model_call_is_reserved_then_charged_once(
    system: System, workspace: Path
) -> None:
    await hire(system.db, "llama", "ollama", price_in="1.5", price_out="3")
    for prompt in ("one two three", "four five"):
        await system.queue.submit(NewJob(prompt=prompt, employee="llama"), actor="t")
        await _run_next(system)
    async with system.db.connection() as conn:
        rows = await conn.fetch("SELECT id, kind, tokens_in, tokens_out, cost, latency_ms,"
                                " reservation_id FROM ledger ORDER BY id")
        open_holds = await conn.fetchval("SELECT count(*) FROM reservations")
    assert [r["kind"] for r in rows] == ["reservation", "call"] * 2
    calls = [r for r in rows if r["kind"] == "call"]
    assert [r["tokens_in"] for r in calls] == [3, 2]
    # Each charge closes the reservation made just before it; none stays open.
    assert [r["reservation_id"] for r in calls] == [rows[0]["id"], rows[2]["id"]]
    assert open_holds == 0
    first = calls[0]
    expected = (first["tokens_in"] * 1.5 + first["tokens_out"] * 3) / 1_000_000
    assert float(first["cost"]) == expected and first["latency_ms"] >= 0
    # The reservation held the worst case: more than the call turned out to cost.
    assert rows[0]["cost"] > first["cost"]


async def test_whole_job_life_leaves_a_verifiable_audit_chain(
    system: System, workspace: Path
) -> None:
    (workspace / "f.txt").write_text("a\n")
    await hire(system.db, "writer", command=["sh", "-c", "echo b >> f.txt"])
    submitted = await system.queue.submit(
        NewJob(prompt="x", employee="writer", project=str(workspace),
               acceptance=("grep -q b f.txt",)), actor="t")
    job = await _run_next(system)
    assert job.status is JobStatus.SUCCEEDED
    async with system.db.connection() as conn:
        actions = [r["action"] for r in await conn.fetch(
            "SELECT action FROM audit_log WHERE subject = $1 ORDER BY seq",
            str(submitted.job.id))]
    assert actions == ["job.submitted", "job.claimed", "job.validating", "job.succeeded"]
    assert (await system.auditor.verify(system.db)).ok
    runlog = (system.settings.snapshot_dir.resolve() / str(job.id) / "runlog.txt").read_text()
    assert "grep -q b f.txt" in runlog and "exit" in runlog.lower()
