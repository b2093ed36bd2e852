"""Real `aura worker` processes on this test's own database, as on several hosts, and the
`aura serve` process (API and MCP endpoint) in front of them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.integration.helpers import TEST_POLICY

REPO_ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_S = 0.5
LEASE_S = 3.0  # longer than three heartbeats: a rescue below is the dead-worker path's doing
STOP_WITHIN_S = 10.0
READY_WITHIN_S = 60.0
DIRECTOR_KEY = "test-director-key"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Ports:
    """A server's two ports, free on loopback when chosen: the API's and the MCP endpoint's.
    `host` is the address it serves on (another network namespace's, in the several-hosts
    test)."""

    api_port: int = field(default_factory=free_port, kw_only=True)
    mcp_port: int = field(default_factory=free_port, kw_only=True)
    host: str = field(default="127.0.0.1", kw_only=True)

    @property
    def api(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def mcp(self) -> str:
        return f"http://{self.host}:{self.mcp_port}"


@dataclass
class Workers(Ports):
    """`aura worker` processes sharing one database and one set of directories."""

    root: Path
    db_url: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    server: subprocess.Popen[bytes] | None = None  # `aura serve`, once `serve()` ran

    def env(self, index: int | str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
        env.update({
            "AURA_DATABASE_URL": self.db_url,
            "AURA_DATA_DIR": str(self.root / f"data-{index}"),
            "AURA_SANDBOX_DIR": str(self.root / "sandboxes"),
            "AURA_SNAPSHOT_DIR": str(self.root / "snapshots"),
            "AURA_BACKUP_DIR": str(self.root / "backups"),
            "AURA_WORKSPACES": str(self.root / "workspace"),
            "AURA_DIRECTOR_KEY": DIRECTOR_KEY,
            "AURA_POLICY_FILE": str(TEST_POLICY),
            "AURA_POLL_SECONDS": "0.5",
            "AURA_LEASE_SECONDS": str(LEASE_S),
            "AURA_HEARTBEAT_SECONDS": str(HEARTBEAT_S),
            "AURA_BACKUP_AFTER_MIGRATE": "false",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self, count: int, prefix: Sequence[str] = (), **env: str) -> None:
        """`count` more workers; `prefix` runs each inside something (another network
        namespace), `env` adds settings."""
        for _ in range(count):
            index = len(self.procs)
            with (self.root / f"worker-{index}.log").open("wb") as log:
                self.procs.append(subprocess.Popen(
                    [*prefix, sys.executable, "-m", "mcp_server.cli", "worker"],
                    cwd=REPO_ROOT, env={**self.env(index), **env}, stdout=log,
                    stderr=subprocess.STDOUT,
                ))

    def serve(self, prefix: Sequence[str] = ()) -> None:
        """Start `aura serve` (the API and the MCP endpoint, no worker) on this database and
        return once its `/ready` answers 200; `prefix` as for `start`."""
        env = {**self.env("serve"), "AURA_API_PORT": str(self.api_port),
               "AURA_MCP_PORT": str(self.mcp_port), "AURA_API_HOST": self.host,
               "AURA_MCP_HOST": self.host}
        log_path = self.root / "worker-serve.log"  # a name `logs()` shows with the workers'
        with log_path.open("wb") as log:
            self.server = subprocess.Popen(
                [*prefix, sys.executable, "-m", "mcp_server.cli", "serve"],
                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_WITHIN_S
        with httpx.Client(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.server.poll() is not None:
                    pytest.fail(f"aura serve exited with {self.server.returncode}:\n"
                                f"{self.logs()}")
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{self.api}/ready").status_code == 200:
                        return
                time.sleep(0.05)
        pytest.fail(f"aura serve was not ready within {READY_WITHIN_S}s:\n{self.logs()}")

    def director(self) -> httpx.Client:
        """The Director's side: the HTTP API with the Director key."""
        return httpx.Client(base_url=f"{self.api}/api/v1", timeout=30,
                            headers={"Authorization": f"Bearer {DIRECTOR_KEY}"})

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`aura ARGS…` as the Director runs it against the serving process."""
        env = {**self.env("cli"), "AURA_API_URL": self.api}
        return subprocess.run([sys.executable, "-m", "mcp_server.cli", *args], cwd=REPO_ROOT,
                              env=env, capture_output=True, text=True, timeout=60)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:])
            for p in sorted(self.root.glob("worker-*.log"))
        )

    def stop_all(self) -> None:
        everyone = [*self.procs, *([self.server] if self.server is not None else [])]
        for proc in everyone:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in everyone:
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
