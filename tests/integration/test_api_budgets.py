"""`/api/v1/budgets` and `/api/v1/ledger`: DESIGN §10's shapes, money as decimal strings."""

from __future__ import annotations

import httpx

from mcp_server.app import System
from tests.integration.helpers import hire

KEY = {"Authorization": "Bearer test-director-key"}


async def test_budgets_are_created_changed_listed_and_deleted(
    api: httpx.AsyncClient, system: System
) -> None:
    await hire(system.db, "llama", "ollama")
    created = await api.put("/api/v1/budgets/monthly", headers=KEY,
                            json={"scope": "global", "limit_usd": "12.50", "period": "month"})
    changed = await api.put("/api/v1/budgets/monthly", headers=KEY,
                            json={"scope": "global", "limit_usd": 20})
    mine = await api.put("/api/v1/budgets/llama-cap", headers=KEY,
                         json={"scope": "employee", "employee": "llama", "limit_usd": "5"})
    assert (created.status_code, changed.status_code, mine.status_code) == (201, 200, 201)
    assert created.json()["limit_usd"] == "12.50" and changed.json()["limit_usd"] == "20.00"
    async with system.db.connection() as conn:
        await conn.execute("INSERT INTO ledger (employee, kind, cost, latency_ms)"
                           " VALUES ('llama', 'call', 1.5, 0), ('llama', 'reservation', 0.25, 0)")
        reservation = await conn.fetchval("SELECT max(id) FROM ledger")
        await conn.execute("INSERT INTO reservations (id, job_id, lease, employee, amount)"
                           " VALUES ($1, gen_random_uuid(), 'w/1', 'llama', 0.25)", reservation)
    listed = (await api.get("/api/v1/budgets", headers=KEY)).json()["budgets"]
    assert [b["name"] for b in listed] == ["llama-cap", "monthly"]
    cap = listed[0]
    assert set(cap) == {"name", "scope", "employee", "limit_usd", "spent_usd", "reserved_usd",
                        "remaining_usd", "period", "period_start", "period_end"}
    assert (cap["scope"], cap["employee"], cap["spent_usd"], cap["reserved_usd"],
            cap["remaining_usd"]) == ("employee", "llama", "1.50", "0.25", "3.25")
    assert cap["period_start"] < cap["period_end"]
    gone = await api.delete("/api/v1/budgets/llama-cap", headers=KEY)
    again = await api.delete("/api/v1/budgets/llama-cap", headers=KEY)
    assert (gone.status_code, again.status_code) == (204, 404)
    assert again.headers["content-type"] == "application/problem+json"
    assert [b["name"] for b in (await api.get("/api/v1/budgets", headers=KEY)).json()[
        "budgets"]] == ["monthly"]


async def test_ledger_filters_pages_and_totals(api: httpx.AsyncClient, system: System) -> None:
    await hire(system.db, "llama", "ollama")
    await hire(system.db, "qwen", "ollama", model="qwen")
    async with system.db.connection() as conn:
        await conn.execute(
            "INSERT INTO ledger (ts, employee, kind, tokens_in, tokens_out, cost, latency_ms)"
            " SELECT '2026-11-01T00:00:00Z'::timestamptz + n * interval '1 hour',"
            "        CASE WHEN n % 2 = 0 THEN 'llama' ELSE 'qwen' END, 'call', 10, 5, 0.01, 7"
            " FROM generate_series(0, 9) AS n")
    first = (await api.get("/api/v1/ledger?employee=llama&limit=2", headers=KEY)).json()
    assert [e["employee"] for e in first["entries"]] == ["llama", "llama"]
    assert first["totals"] == {"calls": 5, "tokens_in": 50, "tokens_out": 25,
                               "spent_usd": "0.05", "reserved_usd": "0.00",
                               "unpriced_calls": 0}
    pages, cursor = [first["entries"]], first["next_cursor"]
    while cursor:
        page = (await api.get(f"/api/v1/ledger?employee=llama&limit=2&cursor={cursor}",
                              headers=KEY)).json()
        pages.append(page["entries"])
        cursor = page["next_cursor"]
    ids = [e["id"] for page in pages for e in page]
    assert len(ids) == 5 and ids == sorted(ids, reverse=True)  # no gap, no repeat
    window = (await api.get(
        "/api/v1/ledger?since=2026-11-01T02:00:00Z&until=2026-11-01T05:00:00Z",
        headers=KEY)).json()
    assert window["totals"]["calls"] == 3 and window["totals"]["spent_usd"] == "0.03"
    entry = window["entries"][0]
    assert set(entry) == {"id", "ts", "kind", "job_id", "employee", "tokens_in", "tokens_out",
                          "cost_usd", "pricing", "latency_ms", "reservation_id"}
