"""The audit head written outside the database (DESIGN §8).

A database superuser could rewrite the log and recompute every hash after the point they
changed; the chain alone would still verify. Anchors are (seq, hash) pairs appended to a file
in `AURA_DATA_DIR`, out of that superuser's reach: `verify` checks the log still has each
anchored entry with the anchored hash, and that the log has not shrunk below the newest anchor.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Anchor:
    seq: int
    hash: str


class AnchorFile:
    """Append-only JSON lines `{"seq", "hash", "at"}`; a repeated head is not written twice."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._last: Anchor | None = None

    def record(self, anchor: Anchor) -> bool:
        """Append `anchor` unless it is the last one written; True when written."""
        with self._lock:
            if self._last is None:
                existing = self.read()
                self._last = existing[-1] if existing else None
            if anchor == self._last or anchor.seq == 0:
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps({"seq": anchor.seq, "hash": anchor.hash,
                               "at": datetime.now(UTC).isoformat()})
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            self._last = anchor
            return True

    def read(self) -> list[Anchor]:
        try:
            lines = self.path.read_text("utf-8").splitlines()
        except FileNotFoundError:
            return []
        anchors = []
        for line in lines:
            if line.strip():
                entry = json.loads(line)
                anchors.append(Anchor(int(entry["seq"]), str(entry["hash"])))
        return anchors
