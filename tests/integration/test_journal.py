"""The audit journal: tool-call entries appended in batches, in order, never dropped."""

from __future__ import annotations

import asyncio

from governance.auditor import Auditor
from governance.journal import AuditJournal, PendingEntry
from orchestra.store.db import Database


def _entry(i: int) -> PendingEntry:
    return PendingEntry(actor="client:t", action="mcp.tool_call", subject=f"tool{i}",
                        details={"i": i})


async def _subjects(db: Database) -> list[str]:
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT subject FROM audit_log ORDER BY seq")
    return [r["subject"] for r in rows]


async def test_a_burst_is_appended_in_order_soon_after(db: Database) -> None:
    journal = AuditJournal(db, max_delay_s=0.01)
    for i in range(50):
        journal.add(_entry(i))
    assert await _subjects(db) == []  # nothing on the caller's path
    for _ in range(100):
        await asyncio.sleep(0.02)
        if len(await _subjects(db)) == 50:
            break
    assert await _subjects(db) == [f"tool{i}" for i in range(50)]
    assert (await Auditor().verify(db)).ok
    await journal.close()


async def test_close_flushes_what_is_left(db: Database) -> None:
    journal = AuditJournal(db, max_delay_s=10)
    journal.add(_entry(1))
    journal.add(_entry(2))
    await journal.close()
    assert await _subjects(db) == ["tool1", "tool2"]


async def test_failed_flush_keeps_entries_and_retries(db: Database, db_url: str) -> None:
    broken = Database(db_url)  # never opened: every flush fails until it is
    journal = AuditJournal(broken, max_delay_s=0.01, retry_s=0.05)
    journal.add(_entry(1))
    await asyncio.sleep(0.1)
    journal.add(_entry(2))
    await broken.open()
    try:
        for _ in range(100):
            await asyncio.sleep(0.02)
            if len(await _subjects(db)) == 2:
                break
        assert await _subjects(db) == ["tool1", "tool2"]
        await journal.close()
    finally:
        await broken.close()


async def test_an_unstorable_entry_does_not_block_the_others(db: Database) -> None:
    journal = AuditJournal(db, max_delay_s=10)
    journal.add(_entry(1))
    # Built without `PendingEntry.of`, as a careless caller might: PostgreSQL refuses NUL.
    journal.add(PendingEntry("client:t", "mcp.tool_call", "bad\x00name", {}))
    journal.add(_entry(3))
    await journal.flush()
    assert await _subjects(db) == ["tool1", None, "tool3"]
    async with db.connection() as conn:
        marked = await conn.fetchval("SELECT details FROM audit_log WHERE seq = 2")
    assert marked["unstorable"] is True
    assert (await Auditor().verify(db)).ok


def test_client_chosen_text_is_made_storable() -> None:
    entry = PendingEntry.of("client:\x00x", "mcp.tool_call", "t\x00\ud800" + "y" * 500, {})
    assert "\x00" not in entry.actor and entry.subject is not None
    assert "\x00" not in entry.subject and len(entry.subject) <= 201
    entry.subject.encode("utf-8")  # no lone surrogate left


async def test_big_backlog_is_written_in_bounded_batches(db: Database) -> None:
    journal = AuditJournal(db, max_delay_s=10)
    for i in range(1200):
        journal.add(_entry(i))
    await journal.close()
    assert len(await _subjects(db)) == 1200
