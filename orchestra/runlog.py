"""A job's run log: everything its employee is sent and says, every command and its output."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path


class RunLog:
    """Everything an employee is sent and says, every command and its output, in order.

    Plain text, one header line per entry (`[time] SECTION`) followed by the body. Appends are
    serialised so concurrent writers (an employee's output pump, the validator) never interleave
    inside an entry.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._dir_ready = False

    def write(self, section: str, body: str = "") -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        text = f"[{stamp}] {section}\n"
        if body:
            text += body if body.endswith("\n") else body + "\n"
        with self._lock:
            # Created on first write, so readers (`wait_job`, resources) leave no directories.
            if not self._dir_ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._dir_ready = True
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(text)

    def last_line(self) -> str:
        """The last non-empty line, for progress messages; empty when nothing is logged yet."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 4096))
                tail = handle.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        lines = [line for line in tail.splitlines() if line.strip()]
        return lines[-1] if lines else ""
