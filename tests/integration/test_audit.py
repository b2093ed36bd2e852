"""The hash-chained audit log: append, verify, and tamper detection."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from governance.anchors import Anchor, AnchorFile
from governance.auditor import Auditor, canonical_entry, entry_hash
from orchestra.store.db import Database


async def _append(db: Database, auditor: Auditor, n: int) -> None:
    for i in range(n):
        async with db.transaction() as conn:
            await auditor.record(conn, actor="test", action="thing.done", subject=f"s{i}",
                                 details={"i": i, "note": "héllo", "nested": {"b": 1, "a": [1.5]}})


async def test_awkward_text_hashes_the_same_in_python_and_postgresql(db: Database) -> None:
    auditor = Auditor()
    awkward = 'quote " backslash \\ newline \n tab \t bell \x07 del \x7f é 漢 😀 \u2028'
    async with db.transaction() as conn:
        await auditor.record(conn, actor=awkward, action="a", subject=awkward,
                             details={awkward: [awkward, 1.5, 1e-7, 10**20, None, True]})
        await auditor.record(conn, actor="b", action="b", subject=None, details={})
    report = await auditor.verify(db)
    assert report.ok, report


async def test_intact_chain_verifies(db: Database) -> None:
    auditor = Auditor()
    await _append(db, auditor, 5)
    report = await auditor.verify(db)
    assert report.ok and report.entries == 5 and report.first_bad_seq is None


async def test_sequence_numbers_are_gap_free_under_concurrency(db: Database) -> None:
    import asyncio

    auditor = Auditor()
    await asyncio.gather(*(_append(db, auditor, 5) for _ in range(4)))
    async with db.connection() as conn:
        seqs = [r["seq"] for r in await conn.fetch("SELECT seq FROM audit_log ORDER BY seq")]
    assert seqs == list(range(1, 21))
    assert (await auditor.verify(db)).ok


async def test_rolled_back_transaction_leaves_no_entry(db: Database) -> None:
    auditor = Auditor()
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await auditor.record(conn, actor="test", action="doomed")
            raise RuntimeError("abort")
    await _append(db, auditor, 1)
    report = await auditor.verify(db)
    assert report.ok and report.entries == 1


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
    "DELETE FROM audit_log WHERE seq = 2",
    "TRUNCATE audit_log",
])
async def test_direct_rewrite_of_the_log_is_refused(db: Database, statement: str) -> None:
    await _append(db, Auditor(), 3)
    async with db.connection() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(statement)


async def _tamper(db: Database, statement: str) -> None:
    # A superuser can switch the trigger off; the chain must still catch what they did.
    async with db.transaction() as conn:
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        await conn.execute(statement)
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")


async def test_edited_entry_is_named_as_content_break(db: Database) -> None:
    auditor = Auditor()
    await _append(db, auditor, 5)
    await _tamper(db, "UPDATE audit_log SET details = '{\"i\": 99}' WHERE seq = 3")
    report = await auditor.verify(db)
    assert (report.ok, report.first_bad_seq, report.kind) == (False, 3, "content")


async def test_deleted_entry_is_named_as_gap(db: Database) -> None:
    auditor = Auditor()
    await _append(db, auditor, 5)
    await _tamper(db, "DELETE FROM audit_log WHERE seq = 2")
    report = await auditor.verify(db)
    assert (report.ok, report.first_bad_seq, report.kind) == (False, 3, "gap")


async def test_rehashed_entry_breaks_the_next_link(db: Database) -> None:
    auditor = Auditor()
    await _append(db, auditor, 4)
    await _tamper(db, "UPDATE audit_log SET hash = repeat('f', 64) WHERE seq = 2")
    report = await auditor.verify(db)
    # Entry 2's own content no longer matches its stored hash.
    assert (report.ok, report.first_bad_seq, report.kind) == (False, 2, "content")


async def test_truncated_tail_is_a_head_mismatch(db: Database) -> None:
    auditor = Auditor()
    await _append(db, auditor, 4)
    await _tamper(db, "DELETE FROM audit_log WHERE seq = 4")
    report = await auditor.verify(db)
    assert (report.ok, report.kind, report.entries) == (False, "head_mismatch", 3)


async def test_consistent_rewrite_is_caught_by_the_anchor(db: Database, tmp_path: Path) -> None:
    auditor = Auditor()
    await _append(db, auditor, 3)
    anchors = AnchorFile(tmp_path / "anchors.jsonl")
    assert anchors.record(await auditor.head(db))
    assert not anchors.record(await auditor.head(db))  # the same head is written once
    # A superuser rewrites entry 2 and recomputes every hash after it, and the head.
    async with db.transaction() as conn:
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        rows = await conn.fetch("SELECT * FROM audit_log ORDER BY seq")
        prev = rows[0]["hash"]
        for row in rows[1:]:
            details = {"i": 42} if row["seq"] == 2 else row["details"]
            details_text = await conn.fetchval("SELECT $1::jsonb::text", details)
            digest = entry_hash(prev, canonical_entry(
                seq=row["seq"], ts=row["ts"], actor=row["actor"], action=row["action"],
                subject=row["subject"], details_text=details_text))
            await conn.execute("UPDATE audit_log SET details=$2, prev_hash=$3, hash=$4"
                               " WHERE seq=$1", row["seq"], details, prev, digest)
            prev = digest
        await conn.execute("UPDATE audit_head SET hash = $1", prev)
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    assert (await auditor.verify(db)).ok  # the chain alone cannot tell
    report = await auditor.verify(db, anchors=anchors.read())
    assert (report.ok, report.first_bad_seq, report.kind) == (False, 3, "head_mismatch")


async def test_log_shorter_than_its_newest_anchor_is_a_head_mismatch(
    db: Database, tmp_path: Path
) -> None:
    auditor = Auditor()
    await _append(db, auditor, 3)
    anchors = [Anchor(5, "f" * 64)]  # the log once reached seq 5
    report = await auditor.verify(db, anchors=anchors)
    assert (report.ok, report.kind) == (False, "head_mismatch")
