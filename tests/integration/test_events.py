"""The live feed, `GET /api/v1/events`: every change of a job, slot, employee and budget is an
event numbered at commit, streamed as SSE, and a reconnect with Last-Event-ID gets exactly what
was missed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from governance.budgets import BudgetSpec
from mcp_server.api.sse import ServerEvent, read_events
from mcp_server.app import System
from mcp_server.settings import Settings
from orchestra.models import NewJob
from tests.integration.helpers import hire, running_worker, serving

KEY = {"Authorization": "Bearer test-director-key"}
EVENTS = "/api/v1/events"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Quick keep-alives, so a test can see one.
    return settings.model_copy(update={"events_heartbeat_seconds": 0.3})


@pytest.fixture
async def base_url(system: System) -> AsyncIterator[str]:
    async with serving(system.api_app()) as url:
        yield url


async def tip(system: System) -> int:
    async with system.db.connection() as conn:
        return int(await conn.fetchval("SELECT seq FROM events_head"))


@contextlib.asynccontextmanager
async def stream(base_url: str, after: int | None) -> AsyncIterator[AsyncIterator[ServerEvent]]:
    headers = dict(KEY) | ({"Last-Event-ID": str(after)} if after is not None else {})
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client, \
            client.stream("GET", EVENTS, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield read_events(response)


async def take(events: AsyncIterator[ServerEvent], n: int, timeout: float = 10
               ) -> list[ServerEvent]:
    async def gather() -> list[ServerEvent]:
        return [await anext(events) for _ in range(n)]

    return await asyncio.wait_for(gather(), timeout)


async def submit(system: System, prompt: str = "hello", **fields: object) -> str:
    submitted = await system.queue.submit(NewJob(prompt=prompt, **fields),  # type: ignore[arg-type]
                                          actor="test")
    return str(submitted.job.id)


async def test_a_jobs_life_arrives_in_order(system: System, base_url: str) -> None:
    await hire(system.db, "llama", "ollama")
    async with stream(base_url, await tip(system)) as events:
        job_id = await submit(system, employee="llama")
        seen: list[ServerEvent] = []
        async with running_worker(system):
            while not seen or seen[-1].data.get("status") != "succeeded":
                event = (await take(events, 1))[0]
                if event.kind == "job" and event.data["id"] == job_id:
                    seen.append(event)
    assert [e.data["status"] for e in seen] == ["queued", "running", "validating", "succeeded"]
    assert [int(e.id) for e in seen] == sorted(int(e.id) for e in seen)
    assert seen[-1].data["employee"] == "llama" and seen[-1].data["previous"] == "validating"


async def test_slot_employee_and_budget_changes_are_events(
    system: System, base_url: str
) -> None:
    async with stream(base_url, await tip(system)) as events:
        await hire(system.db, "llama", "ollama")
        await system.budgets.put(BudgetSpec("monthly", "global", "10"), actor="director")
        async with system.db.connection() as conn:
            await conn.execute("UPDATE pool_slots SET state = 'idle', employee = 'llama' "
                               "WHERE index = 0")
        got = await take(events, 3)
    assert [(e.kind, e.data["id"], e.data["status"]) for e in got] == [
        ("employee", "llama", "probation"), ("budget", "monthly", "created"),
        ("slot", "0", "idle")]


async def test_an_approval_asked_and_decided_is_two_events(
    system: System, base_url: str
) -> None:
    async with stream(base_url, await tip(system)) as events:
        asked = await system.approvals.require(
            action="apply_diff", subject="job-1", params={"diff": "A"},
            requested_by="client:ide", summary="apply it?")
        await system.approvals.decide(asked.approval.id, approve=False, note="not now")
        got = await take(events, 2)
    assert [(e.kind, e.data["id"], e.data["status"]) for e in got] == [
        ("approval", str(asked.approval.id), "pending"),
        ("approval", str(asked.approval.id), "denied")]
    assert got[0].data["action"] == "apply_diff"


async def test_reconnect_with_last_event_id_gets_exactly_the_missed_ones(
    system: System, base_url: str
) -> None:
    start = await tip(system)
    async with stream(base_url, start) as events:
        for n in range(5):
            await submit(system, f"job {n}")
        first = await take(events, 3)
    # Away: more changes, some while the others commit concurrently.
    jobs = await asyncio.gather(*(submit(system, f"later {n}") for n in range(20)))
    for job_id in jobs[:5]:
        await system.queue.cancel(job_id, actor="test")
    end = await tip(system)
    async with stream(base_url, int(first[-1].id)) as events:
        rest = await take(events, end - int(first[-1].id))
    ids = [int(e.id) for e in first + rest]
    assert ids == list(range(start + 1, end + 1))  # none lost, none twice, in order
    assert [e.data["status"] for e in rest][-5:] == ["cancelled"] * 5


async def test_concurrent_commits_stream_gap_free_in_commit_order(
    system: System, base_url: str
) -> None:
    start = await tip(system)

    async def submitter(k: int) -> None:
        for n in range(25):
            await submit(system, f"w{k} {n}")

    async with stream(base_url, start) as events:
        reader = asyncio.create_task(take(events, 100, timeout=30))
        await asyncio.gather(*(submitter(k) for k in range(4)))
        got = await reader
    assert [int(e.id) for e in got] == list(range(start + 1, start + 101))
    assert len({e.data["id"] for e in got}) == 100


async def test_heartbeats_and_hr_counters_make_no_events(system: System) -> None:
    await hire(system.db, "llama", "ollama")
    job_id = await submit(system, employee="llama")
    before = await tip(system)
    async with system.db.connection() as conn:
        await conn.execute("UPDATE jobs SET lease_expires_at = now() WHERE id = $1::uuid",
                           job_id)
        await conn.execute("UPDATE employees SET good_jobs = good_jobs + 1")
    assert await tip(system) == before


async def test_a_quiet_stream_sends_keep_alive_comments(system: System, base_url: str) -> None:
    lines: list[str] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client, \
            client.stream("GET", EVENTS, headers=KEY) as response:
        async for line in response.aiter_lines():
            lines.append(line)
            if line == ": ping":
                break
    assert lines[0] == "retry: 2000" and ": ping" in lines


async def test_the_stream_ends_when_the_server_stops(system: System, base_url: str) -> None:
    async with stream(base_url, None) as events:
        system.feed.close()
        rest = await asyncio.wait_for(_drain(events), 5)
    assert rest == []


async def _drain(events: AsyncIterator[ServerEvent]) -> list[ServerEvent]:
    return [event async for event in events]


async def test_pruned_events_are_announced_as_a_reset(system: System, base_url: str) -> None:
    for n in range(3):
        await submit(system, f"old {n}")
    assert await system.feed.prune(timedelta(0), 1000) == 3
    newer = await submit(system, "new")
    async with stream(base_url, 1) as events:
        reset, event = await take(events, 2)
    assert reset.kind == "reset" and reset.id == "3" and reset.data["after"] == 1
    assert event.id == "4" and event.data["id"] == newer


async def test_pruning_keeps_the_newest_rows(system: System) -> None:
    for n in range(5):
        await submit(system, f"job {n}")
    assert await system.feed.prune(timedelta(days=7), 2) == 3
    async with system.db.connection() as conn:
        assert await conn.fetchval("SELECT array_agg(id ORDER BY id) FROM events") == [4, 5]


async def test_emit_event_publishes_at_commit_and_never_on_rollback(
    system: System, base_url: str
) -> None:
    start = await tip(system)
    async with stream(base_url, start) as events:
        with contextlib.suppress(RuntimeError):
            async with system.db.transaction() as conn:
                await conn.execute("SELECT emit_event('approval', 'a-1', 'pending')")
                raise RuntimeError("rolled back")
        async with system.db.transaction() as conn:
            await conn.execute("SELECT emit_event('approval', 'a-2', 'pending', $1::jsonb)",
                               {"action": "hire", "status": "not this"})
            assert await tip(system) == start  # numbered only at commit
        [event] = await take(events, 1)
    assert event.id == str(start + 1) and event.kind == "approval"
    assert event.data["id"] == "a-2" and event.data["status"] == "pending"
    assert event.data["action"] == "hire"


async def test_events_need_the_director_key(api: httpx.AsyncClient) -> None:
    assert (await api.get(EVENTS)).status_code == 401
    response = await api.get(EVENTS, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_bad_last_event_id_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.get(EVENTS, headers={**KEY, "Last-Event-ID": "abc"})
    assert response.status_code == 400 and "Last-Event-ID" in response.json()["detail"]


async def test_the_document_lists_the_event_stream(api: httpx.AsyncClient) -> None:
    document = (await api.get("/api/v1/openapi.json", headers=KEY)).json()
    answers = document["paths"][EVENTS]["get"]["responses"]["200"]["content"]
    assert set(answers) == {"text/event-stream"}

