"""The Director API over ASGI: auth, shapes from DESIGN §10, problem+json errors."""

from __future__ import annotations

import httpx
import pytest

from mcp_server.app import System

KEY = {"Authorization": "Bearer test-director-key"}


async def test_requests_without_the_director_key_get_401(api: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await api.get("/api/v1/employees", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert "WWW-Authenticate" in response.headers


async def test_token_is_created_once_and_shown_once(
    api: httpx.AsyncClient, system: System
) -> None:
    created = await api.post("/api/v1/tokens", json={"name": "cursor"}, headers=KEY)
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"name", "token"} and body["name"] == "cursor"
    assert await system.tokens.verify(body["token"]) == "cursor"
    listed = (await api.get("/api/v1/tokens", headers=KEY)).json()["tokens"]
    assert [t["name"] for t in listed] == ["cursor"] and "token" not in listed[0]
    async with system.db.connection() as conn:
        stored = await conn.fetchval("SELECT token_hash FROM api_tokens WHERE name = 'cursor'")
    assert stored != body["token"] and body["token"] not in stored
    again = await api.post("/api/v1/tokens", json={"name": "cursor"}, headers=KEY)
    assert again.status_code == 409 and "already exists" in again.json()["detail"]


async def test_revoked_token_stops_working(api: httpx.AsyncClient, system: System) -> None:
    token = (await api.post("/api/v1/tokens", json={"name": "old"}, headers=KEY)).json()["token"]
    assert (await api.delete("/api/v1/tokens/old", headers=KEY)).status_code == 204
    assert await system.tokens.verify(token) is None


async def test_hiring_returns_the_employee(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/employees", headers=KEY, json={
        "name": "llama", "adapter": "ollama", "model": "llama3.2:3b", "skills": ["python"],
        "price_in": 0.1, "price_out": "0.2"})
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["adapter"], body["status"]) == ("llama", "ollama", "probation")
    assert body["price_in"] == "0.100000" and body["skills"] == ["python"]
    roster = (await api.get("/api/v1/employees", headers=KEY)).json()["employees"]
    assert [e["name"] for e in roster] == ["llama"]


@pytest.mark.parametrize("body, detail", [
    ({"name": "Bad Name", "adapter": "cli", "command": ["x"]}, "name must be"),
    ({"name": "x", "adapter": "martian"}, "adapter must be one of"),
    ({"name": "x", "adapter": "gemini", "model": "g"}, "needs api_key_env"),
    ({"name": "x", "adapter": "openai"}, "needs a model"),
    ({"name": "x", "adapter": "openai", "model": "gpt-4o-mini"}, "needs api_key_env"),
    ({"name": "x", "adapter": "ollama"}, "needs a model"),
    ({"name": "x", "adapter": "cli"}, "needs command"),
    ({"name": "x", "adapter": "cli", "command": "rm -rf /"}, "needs command"),
    ({"name": "x", "adapter": "ollama", "model": "m", "api_key_env": "sk-abc123!"},
     "name an environment variable"),
    ({"name": "x", "adapter": "ollama", "model": "m", "price_in": -1}, "non-negative"),
    ({"name": "x", "adapter": "ollama", "model": "m", "salary": 3}, "unknown field"),
])
async def test_bad_hire_says_what_is_wrong_and_writes_nothing(
    api: httpx.AsyncClient, system: System, body: dict[str, object], detail: str
) -> None:
    response = await api.post("/api/v1/employees", headers=KEY, json=body)
    assert response.status_code == 400
    assert detail in response.json()["detail"]
    async with system.db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM employees") == 0
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 0


async def test_body_that_is_not_json_is_a_400(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/employees", headers=KEY, content=b"{nope")
    assert response.status_code == 400 and "not valid JSON" in response.json()["detail"]


async def test_pool_shape_has_one_entry_per_slot(api: httpx.AsyncClient) -> None:
    slots = (await api.get("/api/v1/pool", headers=KEY)).json()["slots"]
    assert len(slots) == 3
    assert all(set(s) == {"index", "state", "employee", "job_id", "since"} for s in slots)


async def test_audit_verify_shape(api: httpx.AsyncClient) -> None:
    await api.post("/api/v1/tokens", json={"name": "a"}, headers=KEY)
    report = (await api.get("/api/v1/audit/verify", headers=KEY)).json()
    assert {"ok", "entries", "first_bad_seq"} <= set(report)
    assert report["ok"] is True and report["entries"] == 1


async def test_unknown_job_is_a_404_and_a_malformed_id_a_400(api: httpx.AsyncClient) -> None:
    missing = await api.get("/api/v1/jobs/00000000-0000-0000-0000-000000000000", headers=KEY)
    malformed = await api.get("/api/v1/jobs/banana", headers=KEY)
    assert (missing.status_code, malformed.status_code) == (404, 400)


async def test_health_ready_and_metrics_answer_without_a_key(api: httpx.AsyncClient) -> None:
    assert (await api.get("/health")).json() == {"status": "ok"}
    ready = await api.get("/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    metrics = (await api.get("/metrics")).text
    assert 'aura_pool_slots{state="empty"} 3.0' in metrics
    assert "aura_jobs_finished_total" in metrics


async def test_metrics_include_the_job_duration_histogram(
    api: httpx.AsyncClient, system: System
) -> None:
    from orchestra.models import JobStatus, NewJob
    from tests.integration.helpers import hire

    await hire(system.db, "echo")
    await system.queue.submit(NewJob(prompt="x"), actor="t")
    claim = await system.manager.claim()
    assert claim is not None
    job = await system.queue.start_validating(claim.job, claim.lease)
    await system.queue.finish(job, claim.lease, JobStatus.SUCCEEDED, output="ok", diff=None,
                              validation=None, error=None)
    metrics = (await api.get("/metrics")).text
    assert "aura_job_duration_seconds_count 1.0" in metrics
    assert 'aura_job_duration_seconds_bucket{le="0.5"} 1.0' in metrics
    assert 'aura_job_duration_seconds_bucket{le="+Inf"} 1.0' in metrics
    assert 'aura_jobs_finished_total{status="succeeded"} 1.0' in metrics


async def test_metrics_count_workers_by_status(api: httpx.AsyncClient, system: System) -> None:
    from orchestra.manager import WorkerRegistry

    registry = WorkerRegistry(system.db)
    await registry.register("host:1:a", concurrency=3, heartbeat_seconds=5)
    await registry.register("host:2:b", concurrency=3, heartbeat_seconds=5)
    await registry.stop("host:2:b")
    metrics = (await api.get("/metrics")).text
    assert 'aura_workers{status="running"} 1.0' in metrics
    assert 'aura_workers{status="stopped"} 1.0' in metrics
