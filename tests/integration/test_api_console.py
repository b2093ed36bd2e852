"""What the console reads besides the resources themselves: the queue's depth by status, a
job's status history, and the newest events with the id to follow on from."""

from __future__ import annotations

import uuid

import httpx

from mcp_server.app import System
from tests.integration.helpers import add_job

KEY = {"Authorization": "Bearer test-director-key"}
FIRST = uuid.UUID("c0de0000-0000-4000-8000-000000000001")
SECOND = uuid.UUID("d0de0000-0000-4000-8000-000000000002")


async def _two_jobs_one_cancelled(system: System) -> None:
    await add_job(system.db, FIRST)
    await add_job(system.db, SECOND)
    await system.queue.cancel(SECOND, actor="director")


async def test_queue_counts_every_status_zeros_included(
        api: httpx.AsyncClient, system: System) -> None:
    await _two_jobs_one_cancelled(system)
    body = (await api.get("/api/v1/queue", headers=KEY)).json()
    assert body["total"] == 2
    assert body["counts"]["queued"] == 1 and body["counts"]["cancelled"] == 1
    assert body["counts"]["running"] == 0 and len(body["counts"]) == 8


async def test_job_history_lists_its_status_changes_oldest_first(
        api: httpx.AsyncClient, system: System) -> None:
    await _two_jobs_one_cancelled(system)
    response = await api.get(f"/api/v1/jobs/{str(SECOND)[:12]}/history", headers=KEY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["job_id"] == str(SECOND)
    assert [c["status"] for c in body["changes"]] == ["queued", "cancelled"]
    assert body["changes"][1]["data"]["previous"] == "queued"
    assert all(c["subject"] == str(SECOND) for c in body["changes"])


async def test_recent_events_are_the_newest_oldest_first_with_the_id_to_follow_from(
        api: httpx.AsyncClient, system: System) -> None:
    await _two_jobs_one_cancelled(system)
    body = (await api.get("/api/v1/events/recent?limit=2", headers=KEY)).json()
    ids = [e["id"] for e in body["events"]]
    assert len(ids) == 2 and ids == sorted(ids) and ids[-1] == body["last_id"]
    newest = body["events"][-1]
    assert (newest["kind"], newest["subject"], newest["status"]) == (
        "job", str(SECOND), "cancelled")
    assert newest["data"]["id"] == str(SECOND) and newest["data"]["status"] == "cancelled"


async def test_recent_events_refuse_a_limit_out_of_range(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/events/recent?limit=0", headers=KEY)
    assert response.status_code == 400
    assert "limit" in response.text
