"""Per-job archives and the run log under `AURA_SNAPSHOT_DIR/<job-id>/`."""

from __future__ import annotations

import os
import tarfile
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


class SnapshotStore:
    """Where one job's archives and run log live."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def job_dir(self, job_id: object) -> Path:
        return self.root / str(job_id)

    def runlog(self, job_id: object) -> RunLog:
        return RunLog(self.job_dir(job_id) / "runlog.txt")

    def archive(self, job_id: object, name: str, source: Path) -> Path:
        """Write `source` (a directory) as `<job>/<name>.tar.gz`; returns the archive path."""
        target = self.job_dir(job_id) / f"{name}.tar.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
            tar.add(source, arcname=name)
        tmp.replace(target)
        return target

    def extract(self, job_id: object, name: str, destination: Path) -> Path:
        """Unpack `<job>/<name>.tar.gz` under `destination`; returns the unpacked directory."""
        with tarfile.open(self.job_dir(job_id) / f"{name}.tar.gz", "r:gz") as tar:
            # Our own archive, but still: no absolute paths, no `..`, no device files.
            tar.extractall(destination, filter="tar")
        return destination / name
