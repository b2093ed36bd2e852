"""The auditor: an append-only, hash-chained log of every state change (DESIGN §8).

Each entry's hash is sha256 over the previous entry's hash followed by the canonical JSON of the
entry: the array `[seq, ts, actor, action, subject, details]` as PostgreSQL renders jsonb (UTC
time with microseconds, `details` in jsonb's own key order). The database function
`audit_append` (migration 001) writes an entry in one round trip under the `audit_head` row
lock, which hands out a gap-free `seq`; `verify` rebuilds the same text here, in Python, from
the stored columns, so a rewritten row cannot hide behind the database's own arithmetic.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from governance.anchors import Anchor
from orchestra.store.db import Connection, Database
from orchestra.store.queries import load

GENESIS_HASH = "0" * 64
_Q = load("audit")

BreakKind = Literal["gap", "link", "content", "head_mismatch"]

# PostgreSQL's escape_json: these escapes, other control characters as \u00XX, the rest as is.
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
            "\r": "\\r", "\t": "\\t"}


def pg_json_string(text: str) -> str:
    out = [_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if c < " " else c) for c in text]
    return '"' + "".join(out) + '"'


def canonical_entry(
    *, seq: int, ts: datetime, actor: str, action: str, subject: str | None, details_text: str
) -> str:
    """The text `audit_append` hashes, rebuilt from stored columns (`details_text` is the
    column's jsonb text, i.e. `details::text`)."""
    stamp = ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    subject_json = "null" if subject is None else pg_json_string(subject)
    parts = [str(seq), pg_json_string(stamp), pg_json_string(actor), pg_json_string(action),
             subject_json, details_text]
    return "[" + ", ".join(parts) + "]"


def entry_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What `verify` found: ok, how many entries it read, and the first break if any."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    kind: BreakKind | None = None
    head_seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad_seq": self.first_bad_seq,
            "kind": self.kind,
            "head_seq": self.head_seq,
        }


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which entries `Auditor.tail` reads: every filter optional, `limit` the newest."""

    actor: str | None = None
    action: str | None = None
    subject: str | None = None
    before_seq: int | None = None
    seq: int | None = None
    limit: int = 50


class Auditor:
    """Appends audit entries inside the caller's transaction and verifies the chain."""

    async def record(
        self,
        conn: Connection,
        *,
        actor: str,
        action: str,
        subject: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Append an entry inside the caller's transaction (or alone, in autocommit)."""
        seq = await conn.fetchval(_Q["append_entry"], actor, action, subject, dict(details or {}))
        return int(seq)

    async def entries_of(
        self, db: Database, actor: str, *, before_seq: int | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """One actor's entries, newest first (`before_seq` pages on)."""
        async with db.connection() as conn:
            rows = await conn.fetch(_Q["entries_of_actor"], actor, before_seq, limit)
        return [dict(r) for r in rows]

    async def tail(self, db: Database, query: AuditQuery) -> list[dict[str, Any]]:
        """The newest entries matching `query`, newest first (`before_seq` pages on)."""
        async with db.connection() as conn:
            rows = await conn.fetch(_Q["tail"], query.actor, query.action, query.subject,
                                    query.before_seq, query.limit, query.seq)
        return [dict(r) for r in rows]

    async def head(self, db: Database) -> Anchor:
        async with db.connection() as conn:
            row = await conn.fetchrow(_Q["read_head"])
        return Anchor(int(row["seq"]), str(row["hash"]))

    async def verify(
        self, db: Database, *, anchors: Sequence[Anchor] = (), batch: int = 5000
    ) -> VerifyReport:
        """Recompute the whole chain; name the first entry that does not hold and why.

        `anchors` (from `AnchorFile.read`) catch what an internally consistent rewrite hides:
        an anchored entry whose hash changed, or a log shorter than the newest anchor.
        """
        anchored = {a.seq: a.hash for a in anchors}
        expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
        # One snapshot: entries appended while this runs (every tool call adds one) must not look
        # like a head that ran ahead of its chain.
        async with db.connection() as conn, conn.transaction(
            isolation="repeatable_read", readonly=True
        ):
            head = await conn.fetchrow(_Q["read_head"])
            last_seq = 0
            while True:
                rows = await conn.fetch(_Q["read_entries"], last_seq, batch)
                if not rows:
                    break
                # Hashing is CPU work: off the event loop, so a server verifying a long log
                # (the hourly check in `aura serve`) keeps answering meanwhile.
                checked, bad_seq, bad, expected_seq, prev_hash = await asyncio.to_thread(
                    _check_batch, rows, expected_seq, prev_hash, anchored)
                count += checked
                if bad is not None:
                    return VerifyReport(False, count, bad_seq, bad, head["seq"])
                last_seq = rows[-1]["seq"]
        newest_anchor = max(anchored, default=0)
        if head["seq"] != expected_seq - 1 or head["hash"] != prev_hash or (
            newest_anchor > head["seq"]
        ):
            return VerifyReport(False, count, expected_seq, "head_mismatch", head["seq"])
        return VerifyReport(True, count, None, None, head["seq"])


def _check_batch(
    rows: Sequence[Mapping[str, Any]], expected_seq: int, prev_hash: str,
    anchored: Mapping[int, str],
) -> tuple[int, int | None, BreakKind | None, int, str]:
    """Check `rows` in order, following on from `expected_seq` and `prev_hash`: how many were
    read, the first bad entry's seq and kind (None when all hold), and where the chain got to."""
    for index, row in enumerate(rows, start=1):
        bad = _check_entry(row, expected_seq, prev_hash)
        if bad is None and anchored.get(row["seq"], row["hash"]) != row["hash"]:
            bad = "head_mismatch"
        if bad is not None:
            return index, row["seq"], bad, expected_seq, prev_hash
        expected_seq, prev_hash = row["seq"] + 1, row["hash"]
    return len(rows), None, None, expected_seq, prev_hash


def _check_entry(row: Mapping[str, Any], expected_seq: int, prev_hash: str) -> BreakKind | None:
    if row["seq"] != expected_seq:
        return "gap"
    if row["prev_hash"] != prev_hash:
        return "link"
    canonical = canonical_entry(
        seq=row["seq"], ts=row["ts"], actor=row["actor"], action=row["action"],
        subject=row["subject"], details_text=row["details_text"],
    )
    return None if entry_hash(row["prev_hash"], canonical) == row["hash"] else "content"
