"""How long `aura up` takes to be ready, on a fresh data directory and on a restart.

    .venv/bin/python bench/startup.py [--runs 3]

Starts `aura up` as a subprocess (embedded PostgreSQL, migrations, backup, API, MCP, worker)
with its own temporary directories and free ports, times the spawn until `GET /ready` answers
200, then times SIGTERM until the process exits. The first start of each run is on an empty
data directory (initdb, every migration, a pg_dump); the second reuses it. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _support import free_port, wait_ready

REPO_ROOT = Path(__file__).resolve().parents[1]


def start_and_stop(root: Path, api_port: int, mcp_port: int) -> tuple[float, float]:
    """Seconds from spawn to /ready, and from SIGTERM to exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
    env.update({
        "AURA_DATA_DIR": str(root / "data"), "AURA_BACKUP_DIR": str(root / "backups"),
        "AURA_SANDBOX_DIR": str(root / "sandboxes"), "AURA_SNAPSHOT_DIR": str(root / "snapshots"),
        "AURA_API_PORT": str(api_port), "AURA_MCP_PORT": str(mcp_port),
    })
    started = time.perf_counter()
    with (root / "aura.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mcp_server.cli", "up"], cwd=REPO_ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(proc, f"http://127.0.0.1:{api_port}", root / "aura.log", poll_s=0.02)
        ready = time.perf_counter() - started
    finally:
        stopping = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return ready, time.perf_counter() - stopping


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    fresh, restart, stops = [], [], []
    for _ in range(args.runs):
        # Not under /tmp's pytest dirs, and short enough for the embedded server's socket path.
        root = Path(tempfile.mkdtemp(prefix="aura-startup-", dir="/var/tmp"))
        try:
            api_port, mcp_port = free_port(), free_port()
            for bucket in (fresh, restart):
                ready, stop = start_and_stop(root, api_port, mcp_port)
                bucket.append(ready)
                stops.append(stop)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({
        "bench": "startup", "runs": args.runs,
        "fresh_ready_s": {"median": round(statistics.median(fresh), 3),
                          "max": round(max(fresh), 3)},
        "restart_ready_s": {"median": round(statistics.median(restart), 3),
                            "max": round(max(restart), 3)},
        "sigterm_exit_s": {"median": round(statistics.median(stops), 3),
                           "max": round(max(stops), 3)},
        "target_stop_s": 10,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
