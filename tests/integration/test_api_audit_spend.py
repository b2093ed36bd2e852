"""`/api/v1/audit` (the log's tail the console shows) and `/api/v1/ledger/spend` (the
Ledger screen's sums per employee and per day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from mcp_server.app import System
from tests.integration.helpers import hire

KEY = {"Authorization": "Bearer test-director-key"}


async def test_audit_tail_filters_pages_and_finds_one_entry(
    api: httpx.AsyncClient, system: System
) -> None:
    async with system.db.connection() as conn:
        for n in range(5):
            await system.auditor.record(conn, actor="alice" if n % 2 else "bob",
                                        action="poke", subject=f"s{n}", details={"n": n})
    newest = (await api.get("/api/v1/audit?limit=2", headers=KEY)).json()
    seqs = [e["seq"] for e in newest["entries"]]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 2
    older = (await api.get(f"/api/v1/audit?limit=2&cursor={newest['next_cursor']}",
                           headers=KEY)).json()
    assert max(e["seq"] for e in older["entries"]) < min(seqs)
    alice = (await api.get("/api/v1/audit?actor=alice&action=poke", headers=KEY)).json()
    assert [e["details"]["n"] for e in alice["entries"]] == [3, 1]
    assert alice["next_cursor"] is None
    one = (await api.get(f"/api/v1/audit?seq={seqs[0]}", headers=KEY)).json()["entries"]
    assert [(e["seq"], e["actor"], e["subject"]) for e in one] == [(seqs[0], "bob", "s4")]
    assert set(one[0]) == {"seq", "ts", "actor", "action", "subject", "details"}


async def test_audit_tail_refuses_a_bad_filter_by_name(api: httpx.AsyncClient) -> None:
    refused = await api.get("/api/v1/audit?seq=zero", headers=KEY)
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert "seq" in refused.text


async def test_spend_sums_charges_per_employee_and_per_day(
    api: httpx.AsyncClient, system: System
) -> None:
    await hire(system.db, "llama", "ollama")
    await hire(system.db, "qwen", "ollama", model="qwen")
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    async with system.db.connection() as conn:
        # Today: llama 2 calls, qwen 1; yesterday: llama 1; 40 days ago: outside the window;
        # a reservation is not a charge.
        for when, who, cost in ((today, "llama", "0.5"), (today, "llama", "0.25"),
                                (today, "qwen", "2"), (today - timedelta(days=1), "llama", "1"),
                                (today - timedelta(days=40), "qwen", "9")):
            await conn.execute("INSERT INTO ledger (ts, employee, kind, tokens_in, tokens_out,"
                               " cost, latency_ms) VALUES ($1, $2, 'call', 10, 5, $3, 1)",
                               when, who, cost)
        await conn.execute("INSERT INTO ledger (employee, kind, cost, latency_ms)"
                           " VALUES ('llama', 'reservation', 7, 0)")
        # An unpriced call (cost NULL) is counted apart, never summed as $0.
        await conn.execute("INSERT INTO ledger (ts, employee, kind, tokens_in, tokens_out,"
                           " cost, latency_ms, pricing) VALUES ($1, 'qwen', 'call', 10, 5,"
                           " NULL, 1, 'unpriced')", today)
    spend = (await api.get("/api/v1/ledger/spend?days=30", headers=KEY)).json()
    assert spend["total_usd"] == "3.75"
    assert [(e["employee"], e["calls"], e["tokens_in"], e["spent_usd"], e["unpriced_calls"])
            for e in spend["by_employee"]] == [("qwen", 2, 20, "2.00", 1),
                                               ("llama", 3, 30, "1.75", 0)]
    assert [(d["day"], d["calls"], d["spent_usd"], d["unpriced_calls"])
            for d in spend["by_day"]] == [
        ((today - timedelta(days=1)).date().isoformat(), 1, "1.00", 0),
        (today.date().isoformat(), 4, "2.75", 1)]
    assert spend["until"] == today.date().isoformat()
    one_day = (await api.get("/api/v1/ledger/spend?days=1", headers=KEY)).json()
    assert one_day["total_usd"] == "2.75" and len(one_day["by_day"]) == 1
    refused = await api.get("/api/v1/ledger/spend?days=0", headers=KEY)
    assert refused.status_code == 400 and "days" in refused.text
