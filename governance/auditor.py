"""The auditor: an append-only, hash-chained log of every state change (DESIGN §8).

Each entry's hash is sha256 over the previous entry's hash and the canonical JSON of the entry
(sorted keys, no whitespace, UTF-8). `audit_head` holds the tip; taking its row lock hands out
a gap-free `seq` and serialises appenders, so the chain has exactly one order.
"""

from __future__ import annotations

import hashlib
import json
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


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(
    prev_hash: str,
    *,
    seq: int,
    ts: datetime,
    actor: str,
    action: str,
    subject: str | None,
    details: Mapping[str, Any],
) -> str:
    entry = {
        "seq": seq,
        "ts": ts.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
    }
    payload = prev_hash + canonical_json(entry)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


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
        # Round-trip the details through JSON so the hash covers exactly what jsonb stores.
        clean = json.loads(canonical_json(dict(details or {})))
        # Microsecond precision: what timestamptz keeps, so verify recomputes the same text.
        ts = datetime.now(UTC)
        head = await conn.fetchrow(_Q["advance_head"])
        seq, prev_hash = head["seq"], head["hash"]
        digest = entry_hash(
            prev_hash, seq=seq, ts=ts, actor=actor, action=action, subject=subject, details=clean
        )
        await conn.execute(
            _Q["append_entry"], seq, ts, actor, action, subject, clean, prev_hash, digest
        )
        return int(seq)

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
        async with db.connection() as conn:
            head = await conn.fetchrow(_Q["read_head"])
            last_seq = 0
            while True:
                rows = await conn.fetch(_Q["read_entries"], last_seq, batch)
                if not rows:
                    break
                for row in rows:
                    count += 1
                    bad = _check_entry(row, expected_seq, prev_hash)
                    if bad is None and anchored.get(row["seq"], row["hash"]) != row["hash"]:
                        bad = "head_mismatch"
                    if bad is not None:
                        return VerifyReport(False, count, row["seq"], bad, head["seq"])
                    expected_seq, prev_hash = row["seq"] + 1, row["hash"]
                last_seq = rows[-1]["seq"]
        newest_anchor = max(anchored, default=0)
        if head["seq"] != expected_seq - 1 or head["hash"] != prev_hash or (
            newest_anchor > head["seq"]
        ):
            return VerifyReport(False, count, expected_seq, "head_mismatch", head["seq"])
        return VerifyReport(True, count, None, None, head["seq"])


def _check_entry(row: Mapping[str, Any], expected_seq: int, prev_hash: str) -> BreakKind | None:
    if row["seq"] != expected_seq:
        return "gap"
    if row["prev_hash"] != prev_hash:
        return "link"
    recomputed = entry_hash(
        row["prev_hash"],
        seq=row["seq"],
        ts=row["ts"],
        actor=row["actor"],
        action=row["action"],
        subject=row["subject"],
        details=row["details"],
    )
    return None if recomputed == row["hash"] else "content"
