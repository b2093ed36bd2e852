"""The console against a real `aura up` (embedded PostgreSQL, two command-line employees),
driven with Textual's Pilot as the Director would: approve, deny with a note, cancel, apply
after confirming; an approval made here unblocks a job an IDE submitted over MCP; the
Dashboard follows a job through its states from the live feed alone. No Ollama: the
employees are scripts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot

from tests.e2e.test_spine import Aura, mcp_client
from tui.app import AuraConsole
from tui.client import ApiClient
from tui.screens.approvals import ApprovalsScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.deny_note import DenyNoteScreen
from tui.screens.job_detail import JobDetailScreen
from tui.screens.jobs import JobsScreen

pytestmark = pytest.mark.e2e

WORKER = "scribe"
SLEEPER = "sleeper"
# Outside the test policy's allow-list: a job with this check waits for the Director.
NEEDS_APPROVAL = "uname -a"
SCRIBE = "#!/bin/sh\nsleep 1\necho line >> notes.txt\necho done\n"
SLEEPY = "#!/bin/sh\nsleep 60\n"
WITHIN_S = 30.0


@pytest.fixture(scope="module")
def aura(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aura]:
    root = tmp_path_factory.mktemp("console")
    system = Aura(root=root, ollama_url="http://127.0.0.1:9")  # command-line employees only
    project = system.workspace / "project"
    project.mkdir(parents=True)
    (project / "notes.txt").write_text("first\n", encoding="utf-8")
    for name, body in ((WORKER, SCRIBE), (SLEEPER, SLEEPY)):
        script = root / f"{name}.sh"
        script.write_text(body, encoding="utf-8")
        script.chmod(0o755)
    system.start()
    with httpx.Client(base_url=f"{system.api}/api/v1", timeout=30, headers={
            "Authorization": f"Bearer {system.director_key}"}) as http:
        for name in (WORKER, SLEEPER):
            hired = http.post("/employees", json={
                "name": name, "adapter": "cli",
                "command": ["/bin/sh", str(root / f"{name}.sh"), "{prompt}"]})
            assert hired.status_code == 201, hired.text
    try:
        yield system
    finally:
        system.stop_and_check()


@pytest.fixture(scope="module")
def token(aura: Aura) -> str:
    answer = httpx.post(f"{aura.api}/api/v1/tokens", json={"name": "console-ide"},
                        headers={"Authorization": f"Bearer {aura.director_key}"}, timeout=30)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


def console(aura: Aura) -> AuraConsole:
    return AuraConsole(ApiClient(f"{aura.api}/api/v1", aura.director_key))


async def until(pilot: Pilot[Any], ok: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WITHIN_S
    while not ok():
        assert time.monotonic() < deadline, f"not within {WITHIN_S}s: {what}"
        await pilot.pause(0.1)


async def submit(aura: Aura, token: str, employee: str, checks: list[str]) -> str:
    async with mcp_client(aura, token) as client:
        answer = await client.call_tool("submit_job", {
            "prompt": "append a line", "project": str(aura.workspace / "project"),
            "employee": employee, "acceptance": checks})
        assert not answer.is_error, answer.content
        return str((answer.structured_content or {})["job_id"])


async def job_status(aura: Aura, job_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30, headers={
            "Authorization": f"Bearer {aura.director_key}"}) as http:
        answer = await http.get(f"{aura.api}/api/v1/jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


async def wait_status(aura: Aura, job_id: str, done: Callable[[str], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + WITHIN_S
    while True:
        job = await job_status(aura, job_id)
        if done(job["status"]):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        await asyncio.sleep(0.2)


async def with_inbox_row(pilot: Pilot[Any], job_id: str) -> ApprovalsScreen:
    """The Approvals screen with the approval for `job_id` selected."""
    await pilot.press("3")
    screen = pilot.app.screen
    assert isinstance(screen, ApprovalsScreen)
    await until(pilot, lambda: any(a.subject == job_id for a in screen.pending.values()),
                "the approval reaches the inbox")
    table = screen.query_one("#inbox")
    wanted = next(a.id for a in screen.pending.values() if a.subject == job_id)
    table.move_cursor(row=table.get_row_index(wanted))  # type: ignore[attr-defined]
    return screen


async def with_jobs_row(pilot: Pilot[Any], job_id: str) -> JobsScreen:
    """The Jobs screen with `job_id`'s row selected."""
    await pilot.press("2")
    screen = pilot.app.screen
    assert isinstance(screen, JobsScreen)
    await until(pilot, lambda: job_id in screen.jobs, "the job reaches the table")
    table = screen.query_one("#jobs")
    table.move_cursor(row=table.get_row_index(job_id))  # type: ignore[attr-defined]
    return screen


async def test_an_approval_in_the_console_unblocks_a_job_submitted_over_mcp(
        aura: Aura, token: str) -> None:
    job_id = await submit(aura, token, WORKER, [NEEDS_APPROVAL])
    assert (await job_status(aura, job_id))["status"] == "pending_approval"
    app = console(aura)
    async with app.run_test(size=(80, 24)) as pilot:
        await with_inbox_row(pilot, job_id)
        await pilot.press("a")
        job = await wait_status(aura, job_id, lambda s: s in ("succeeded", "failed"))
    assert job["status"] == "succeeded", job


async def test_a_denial_needs_a_note_and_rejects_the_job_with_it(
        aura: Aura, token: str) -> None:
    job_id = await submit(aura, token, WORKER, [NEEDS_APPROVAL])
    app = console(aura)
    async with app.run_test(size=(80, 24)) as pilot:
        await with_inbox_row(pilot, job_id)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DenyNoteScreen), "the note dialog")
        await pilot.press("enter")  # no note: refused on the spot
        await pilot.pause(0.2)
        assert isinstance(app.screen, DenyNoteScreen)
        await pilot.press(*"not on a Friday", "enter")
        job = await wait_status(aura, job_id, lambda s: s != "pending_approval")
    assert job["status"] == "rejected"
    assert "not on a Friday" in (job["error"] or ""), job


async def test_cancel_from_the_jobs_table_cancels_a_running_job(
        aura: Aura, token: str) -> None:
    job_id = await submit(aura, token, SLEEPER, ["true"])
    await wait_status(aura, job_id, lambda s: s == "running")
    app = console(aura)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await with_jobs_row(pilot, job_id)
        await pilot.press("c")
        await until(pilot, lambda: screen.jobs[job_id].status == "cancelled",
                    "the row shows the cancellation (from the live feed)")
    assert (await job_status(aura, job_id))["status"] == "cancelled"


async def test_the_dashboard_follows_a_job_through_its_states_without_a_refresh(
        aura: Aura, token: str) -> None:
    app = console(aura)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await until(pilot, lambda: app.link_state.online, "the console is live")
        job_id = await submit(aura, token, WORKER, ["true"])
        seen: list[str] = []
        slot_jobs: set[str] = set()

        def watch() -> bool:
            for event in screen.recent:
                if event.subject == job_id and event.status and event.status not in seen:
                    seen.append(event.status)
            slot_jobs.update(s.job_id for s in screen.slots.values() if s.job_id)
            return "succeeded" in seen

        await until(pilot, watch, "the dashboard sees the job succeed")
    assert seen == ["queued", "running", "validating", "succeeded"], seen
    assert job_id in slot_jobs, "a slot showed the job while it ran"




async def test_apply_writes_a_succeeded_jobs_change_only_after_the_director_confirms(
        aura: Aura, token: str) -> None:
    notes = aura.workspace / "project" / "notes.txt"
    job_id = await submit(aura, token, WORKER, ["true"])
    await wait_status(aura, job_id, lambda s: s == "succeeded")
    before = notes.read_text("utf-8")
    app = console(aura)
    async with app.run_test(size=(80, 24)) as pilot:
        await with_jobs_row(pilot, job_id)
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, JobDetailScreen)
        await until(pilot, lambda: detail.job is not None, "the job's detail")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")
        await pilot.pause(0.5)
        assert notes.read_text("utf-8") == before, "declined, yet the project changed"
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await until(pilot, lambda: notes.read_text("utf-8") != before, "the change applied")
    assert notes.read_text("utf-8") == before + "line\n"
