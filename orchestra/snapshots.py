"""Per-job metadata and the run log under `AURA_SNAPSHOT_DIR/<job-id>/`.

The job's before and after states themselves are commits in the shared snapshot repository
(`AURA_SNAPSHOT_DIR/objects.git`, see `orchestra/sandbox/`); this directory holds only
`snapshot.json` (project, commits, read-only folders) and `runlog.txt`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestra.runlog import RunLog, Sink


class SnapshotStore:
    """Where one job's metadata and run log live."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def job_dir(self, job_id: object) -> Path:
        return self.root / str(job_id)

    def runlog(self, job_id: object, sink: Sink | None = None) -> RunLog:
        return RunLog(self.job_dir(job_id) / "runlog.txt", sink=sink)

    def metadata(self, job_id: object) -> dict[str, Any]:
        """`snapshot.json` of the job; empty when there is none yet."""
        try:
            data = json.loads((self.job_dir(job_id) / "snapshot.json").read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def update_metadata(self, job_id: object, values: Mapping[str, Any]) -> None:
        """Merge `values` into `snapshot.json` (written beside and renamed: never half)."""
        data = {**self.metadata(job_id), **values}
        target = self.job_dir(job_id) / "snapshot.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".snapshot.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", "utf-8")
        tmp.replace(target)
