"""Hiring, editing and firing through the Director API; tokens whose names come back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from mcp_server.app import System
from orchestra.errors import Conflict
from orchestra.models import NewJob
from tests.integration.helpers import add_finished_job, hire

KEY = {"Authorization": "Bearer test-director-key"}
ECHO = {"name": "echo", "adapter": "cli", "command": ["/bin/echo", "{prompt}"]}


async def audit_entries(system: System, action: str) -> list[dict[str, Any]]:
    async with system.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT subject, details::text AS details FROM audit_log WHERE action = $1 "
            "ORDER BY seq", action)
    return [{"subject": r["subject"], "details": json.loads(r["details"])} for r in rows]


async def test_hire_refuses_a_command_that_is_not_on_the_server(
    api: httpx.AsyncClient, system: System
) -> None:
    response = await api.post("/api/v1/employees", headers=KEY, json={
        "name": "coder", "adapter": "cli", "command": ["my-agent", "{prompt_file}"]})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "'my-agent'" in detail and "PATH" in detail and "check_command" in detail
    assert await system.roster.list_employees() == []


@pytest.mark.parametrize("program, says", [
    ("/nonexistent/agent", "not an executable file"),
    ("bin/agent", "relative path"),
])
async def test_hire_refuses_paths_that_cannot_run(
    api: httpx.AsyncClient, program: str, says: str
) -> None:
    response = await api.post("/api/v1/employees", headers=KEY, json={
        "name": "coder", "adapter": "cli", "command": [program]})
    assert response.status_code == 400 and says in response.json()["detail"]


async def test_check_command_false_hires_a_program_that_only_workers_have(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post("/api/v1/employees", headers=KEY, json={
        "name": "remote", "adapter": "cli", "command": ["worker-only-agent"],
        "check_command": False})
    assert response.status_code == 201, response.text
    assert response.json()["command"] == ["worker-only-agent"]


async def test_edit_changes_the_given_fields_and_audits_them(
    api: httpx.AsyncClient, system: System
) -> None:
    assert (await api.post("/api/v1/employees", headers=KEY, json=ECHO)).status_code == 201
    response = await api.patch("/api/v1/employees/echo", headers=KEY, json={
        "command": ["/bin/cat"], "skills": ["python"], "price_in": "0.5"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["command"] == ["/bin/cat"] and body["skills"] == ["python"]
    assert body["price_in"] == "0.500000" and body["status"] == "probation"
    assert (await system.roster.get("echo")).command == ("/bin/cat",)
    [entry] = await audit_entries(system, "employee.edited")
    assert entry["subject"] == "echo"
    assert entry["details"]["changed"]["command"] == {
        "from": ["/bin/echo", "{prompt}"], "to": ["/bin/cat"]}
    assert set(entry["details"]["changed"]) == {"command", "skills", "price_in"}


@pytest.mark.parametrize("body, status, says", [
    ({"command": ["no-such-agent-here"]}, 400, "no-such-agent-here"),
    ({"model": "x", "command": "rm"}, 400, "command"),
    ({"network": "false"}, 400, "network"),
    ({"adapter": "ollama"}, 400, "unknown field"),
    ({}, 400, "nothing to change"),
])
async def test_edit_is_checked_as_strictly_as_a_hire(
    api: httpx.AsyncClient, system: System, body: dict[str, Any], status: int, says: str
) -> None:
    await api.post("/api/v1/employees", headers=KEY, json=ECHO)
    response = await api.patch("/api/v1/employees/echo", headers=KEY, json=body)
    assert response.status_code == status and says in response.json()["detail"]
    assert (await system.roster.get("echo")).command == ("/bin/echo", "{prompt}")
    assert await audit_entries(system, "employee.edited") == []


async def test_editing_nobody_is_a_404(api: httpx.AsyncClient) -> None:
    response = await api.patch("/api/v1/employees/ghost", headers=KEY, json={"model": "m"})
    assert response.status_code == 404 and "ghost" in response.json()["detail"]


async def test_a_fired_employee_is_kept_takes_no_work_and_cannot_be_fired_twice(
    api: httpx.AsyncClient, system: System
) -> None:
    await api.post("/api/v1/employees", headers=KEY, json=ECHO)
    fired = await api.post("/api/v1/employees/echo/terminate", headers=KEY)
    assert fired.status_code == 200 and fired.json()["status"] == "terminated"
    roster = (await api.get("/api/v1/employees", headers=KEY)).json()["employees"]
    assert [(e["name"], e["status"]) for e in roster] == [("echo", "terminated")]
    [entry] = await audit_entries(system, "employee.terminated")
    assert entry == {"subject": "echo", "details": {"was": "probation"}}
    with pytest.raises(Conflict, match="terminated and takes no work"):
        await system.queue.submit(NewJob(prompt="hi", employee="echo"), actor="t")
    again = await api.post("/api/v1/employees/echo/terminate", headers=KEY)
    assert again.status_code == 409 and "already terminated" in again.json()["detail"]
    edit = await api.patch("/api/v1/employees/echo", headers=KEY, json={"model": "m"})
    assert edit.status_code == 409
    rehire = await api.post("/api/v1/employees", headers=KEY, json=ECHO)
    assert rehire.status_code == 409 and "already exists" in rehire.json()["detail"]


async def test_a_revoked_tokens_name_can_be_used_again(
    api: httpx.AsyncClient, system: System
) -> None:
    first = (await api.post("/api/v1/tokens", json={"name": "cursor"}, headers=KEY)).json()
    assert (await api.delete("/api/v1/tokens/cursor", headers=KEY)).status_code == 204
    second = await api.post("/api/v1/tokens", json={"name": "cursor"}, headers=KEY)
    assert second.status_code == 201, second.text
    assert await system.tokens.verify(first["token"]) is None
    assert await system.tokens.verify(second.json()["token"]) == "cursor"
    listed = (await api.get("/api/v1/tokens", headers=KEY)).json()["tokens"]
    # Oldest first: the revoked one is kept for the history, the new one works.
    assert [(t["name"], t["revoked_at"] is None) for t in listed] == [
        ("cursor", False), ("cursor", True)]
    third = await api.post("/api/v1/tokens", json={"name": "cursor"}, headers=KEY)
    assert third.status_code == 409  # unique among working tokens


async def test_the_director_suspends_and_reinstates_with_audit(
    api: httpx.AsyncClient, system: System
) -> None:
    await hire(system.db, "worker-bee", command=["/bin/echo"])
    async with system.db.connection() as conn:
        await conn.execute("UPDATE employees SET failures_in_a_row = 2 WHERE name = 'worker-bee'")
    suspended = await api.post("/api/v1/employees/worker-bee/suspend", headers=KEY)
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    twice = await api.post("/api/v1/employees/worker-bee/suspend", headers=KEY)
    assert twice.status_code == 409 and "suspended" in twice.json()["detail"]
    back = await api.post("/api/v1/employees/worker-bee/reinstate", headers=KEY)
    assert back.status_code == 200 and back.json()["status"] == "probation"
    again = await api.post("/api/v1/employees/worker-bee/reinstate", headers=KEY)
    assert again.status_code == 409
    async with system.db.connection() as conn:
        streak = await conn.fetchval(
            "SELECT failures_in_a_row FROM employees WHERE name = 'worker-bee'")
    assert streak == 0  # a reinstated employee starts afresh
    assert [e["details"]["was"] for e in await audit_entries(system, "employee.suspended")] == [
        "probation"]
    assert len(await audit_entries(system, "employee.reinstated")) == 1


async def test_the_roster_shows_each_employees_scores(
    api: httpx.AsyncClient, system: System
) -> None:
    await hire(system.db, "scored", command=["/bin/echo"])
    await hire(system.db, "fresh", command=["/bin/echo"])
    now = datetime.now(UTC)
    for latency_ms, status in ((1000, "succeeded"), (3000, "succeeded"), (5000, "failed")):
        await add_finished_job(system.db, "scored", status, now, latency_ms=latency_ms,
                               cost=Decimal("0.25"), acceptance=["pytest -q"],
                               validation={"passed": status == "succeeded", "checks": []})
    response = await api.get("/api/v1/employees", headers=KEY)
    assert response.status_code == 200
    scores = {e["name"]: e["score"] for e in response.json()["employees"]}
    assert scores == {
        "fresh": {"window": 50, "jobs": 0, "success_rate": None, "validation_pass_rate": None,
                  "p50_latency_ms": None, "cost_per_success_usd": None},
        "scored": {"window": 50, "jobs": 3, "success_rate": 0.6667,
                   "validation_pass_rate": 0.6667, "p50_latency_ms": 3000,
                   "cost_per_success_usd": "0.37500000"},
    }
