"""`/metrics` cannot be blown up by callers, and can be closed with a token."""

from __future__ import annotations

import httpx
from mcp.client.client import Client
from pydantic import SecretStr

from mcp_server.app import System
from mcp_server.metrics import MAX_SERIES, Metrics
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
