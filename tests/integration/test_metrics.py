"""`/metrics` cannot be blown up by callers, can be closed with a token, and has the gauges the
alert rules in infra/prometheus/ need."""

from __future__ import annotations

import asyncio
import time

import httpx
from mcp.client.client import Client
from pydantic import SecretStr

from governance.budgets import BudgetSpec
from mcp_server.app import System
from mcp_server.metrics import MAX_SERIES, Metrics
from mcp_server.runner import verify_audit, verify_audit_once
from orchestra.store.db import Database

TOKEN = "metrics-secret"


async def test_unknown_tool_names_are_one_label_and_do_not_grow_the_scrape(
    system: System, api: httpx.AsyncClient
) -> None:
    async with Client(system.mcp_server()) as client:
        await client.call_tool("list_employees", {})
        before = len((await api.get("/metrics")).content)
        for n in range(20):
            result = await client.call_tool(f"{n:02d}" + "x" * 10_000, {})
            assert result.is_error
    text = (await api.get("/metrics")).text
    assert len(text) - before < 2_000  # was 4 MB: every name became a label
    assert 'aura_mcp_tool_calls_total{outcome="error",tool="unknown"} 20.0' in text
    assert 'aura_mcp_tool_calls_total{outcome="ok",tool="list_employees"} 1.0' in text
    assert "xxxxxxxxxx" not in text


async def test_employee_labels_are_bounded_and_totals_kept(db_url: str) -> None:
    db = Database(db_url)
    await db.open()
    try:
        async with db.connection() as conn:
            await conn.execute(
                "INSERT INTO employees (name, adapter) "
                "SELECT 'e' || n, 'ollama' FROM generate_series(1, $1) AS n", MAX_SERIES + 50)
            await conn.execute(
                "INSERT INTO ledger (employee, kind, tokens_in, tokens_out, cost, latency_ms) "
                "SELECT 'e' || n, 'call', 1, 2, 0.5, 1 FROM generate_series(1, $1) AS n",
                MAX_SERIES + 50)
        text = (await Metrics(db, 3).render()).decode()
    finally:
        await db.close()
    cost_lines = [line for line in text.splitlines() if line.startswith("aura_cost_usd_total{")]
    assert len(cost_lines) == MAX_SERIES
    assert 'aura_cost_usd_total{employee="other"} 25.5' in text  # 51 folded employees


async def test_a_metrics_token_closes_metrics_on_both_ports_but_not_the_probes(
    system: System
) -> None:
    system.settings = system.settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    for app in (system.api_app(), system.mcp_app()):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            refused = await http.get("/metrics")
            wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
            allowed = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            health = await http.get("/health")
            ready = await http.get("/ready")
        assert refused.status_code == 401 and wrong.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert allowed.status_code == 200 and "aura_pool_slots" in allowed.text
        assert health.status_code == 200 and ready.status_code == 200


async def test_ops_gauges_a_budget_limit_the_oldest_queued_job_and_worker_heartbeats(
    system: System
) -> None:
    await system.budgets.put(BudgetSpec(name="monthly", scope="global", limit_usd="10"),
                             actor="test")
    async with system.db.connection() as conn:
        await conn.execute(
            "INSERT INTO jobs (kind, prompt, created_at) VALUES ('task', 'old',"
            " now() - interval '90 seconds')")
        await conn.execute(
            "INSERT INTO workers (id, host, pid, concurrency, heartbeat_seconds, heartbeat_at)"
            " VALUES ('w-silent', 'h', 1, 3, 5, now() - interval '40 seconds'),"
            " ('w-live', 'h', 2, 3, 5, now())")
        await conn.execute(
            "INSERT INTO workers (id, host, pid, concurrency, heartbeat_seconds, status)"
            " VALUES ('w-gone', 'h', 3, 3, 5, 'dead')")
    families = _families((await system.metrics.render()).decode())
    assert families["aura_budget_limit_usd"] == {'budget="monthly"': 10.0}
    assert families["aura_budget_remaining_usd"] == {'budget="monthly"': 10.0}
    assert 90 <= families["aura_queue_oldest_seconds"][""] < 120
    ages = families["aura_worker_heartbeat_age_seconds"]
    assert set(ages) == {'worker="w-silent"', 'worker="w-live"'}  # running workers only
    assert ages['worker="w-silent"'] >= 40 > ages['worker="w-live"']
    assert "aura_audit_verify_ok" not in families  # not verified yet: unknown, not failing


async def test_the_periodic_verification_reports_a_broken_chain(system: System) -> None:
    async with system.db.transaction() as conn:
        for i in range(3):
            await system.auditor.record(conn, actor="test", action="x", details={"i": i})
    stop = asyncio.Event()
    task = asyncio.create_task(verify_audit(system, stop))
    families = await _until_family(system, "aura_audit_verify_ok")
    assert families["aura_audit_verify_ok"][""] == 1
    assert abs(families["aura_audit_verify_timestamp_seconds"][""] - time.time()) < 60
    stop.set()
    await task
    async with system.db.transaction() as conn:
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        await conn.execute("UPDATE audit_log SET details = '{\"i\": 99}' WHERE seq = 2")
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    await verify_audit_once(system)
    families = _families((await system.metrics.render()).decode())
    assert families["aura_audit_verify_ok"][""] == 0


async def _until_family(system: System, name: str) -> dict[str, dict[str, float]]:
    for _ in range(100):
        families = _families((await system.metrics.render()).decode())
        if name in families:
            return families
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never appeared")


def _families(text: str) -> dict[str, dict[str, float]]:
    """Sample name → {labels: value} from the exposition text."""
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        series, _, value = line.rpartition(" ")
        name, _, labels = series.partition("{")
        out.setdefault(name, {})[labels.rstrip("}")] = float(value)
    return out
