"""Real `aura worker` processes on this test's own database, as on several hosts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.helpers import TEST_POLICY

REPO_ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_S = 0.5
LEASE_S = 3.0  # longer than three heartbeats: a rescue below is the dead-worker path's doing
STOP_WITHIN_S = 10.0


@dataclass
class Workers:
    """`aura worker` processes sharing one database and one set of directories."""

    root: Path
    db_url: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, index: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
        env.update({
            "AURA_DATABASE_URL": self.db_url,
            "AURA_DATA_DIR": str(self.root / f"data-{index}"),
            "AURA_SANDBOX_DIR": str(self.root / "sandboxes"),
            "AURA_SNAPSHOT_DIR": str(self.root / "snapshots"),
            "AURA_BACKUP_DIR": str(self.root / "backups"),
            "AURA_WORKSPACES": str(self.root / "workspace"),
            "AURA_DIRECTOR_KEY": "test-director-key",
            "AURA_POLICY_FILE": str(TEST_POLICY),
            "AURA_POLL_SECONDS": "0.5",
            "AURA_LEASE_SECONDS": str(LEASE_S),
            "AURA_HEARTBEAT_SECONDS": str(HEARTBEAT_S),
            "AURA_BACKUP_AFTER_MIGRATE": "false",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self, count: int) -> None:
        for _ in range(count):
            index = len(self.procs)
            with (self.root / f"worker-{index}.log").open("wb") as log:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "mcp_server.cli", "worker"],
                    cwd=REPO_ROOT, env=self.env(index), stdout=log, stderr=subprocess.STDOUT,
                ))

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:])
            for p in sorted(self.root.glob("worker-*.log"))
        )

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=STOP_WITHIN_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(tmp_path: Path, db_url: str) -> Iterator[Workers]:
    (tmp_path / "workspace").mkdir()
    group = Workers(tmp_path, db_url)
    try:
        yield group
    finally:
        group.stop_all()
