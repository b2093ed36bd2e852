"""Per-job archives and the run log under `AURA_SNAPSHOT_DIR/<job-id>/`."""

from __future__ import annotations

import tarfile
from pathlib import Path

from orchestra.runlog import RunLog


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
