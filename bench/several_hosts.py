"""The several-hosts run: `aura serve` and two workers in their own network namespaces
against one PostgreSQL, two workers killed with SIGKILL mid-job (needs root and iproute2).

    .venv/bin/python bench/several_hosts.py

Runs tests/e2e/test_several_hosts.py, which asserts the figures (no job lost or finished twice,
never more than three busy slots), and prints its one JSON line: jobs, kills, the most busy
slots the sampler saw, duplicates, lost, rescued attempts, and the wall time of the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST = ("tests/e2e/test_several_hosts.py::"
        "test_serve_and_workers_on_three_hosts_share_three_slots_and_survive_kills")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="aura-bench-hosts-") as tmp:
        out = Path(tmp) / "figures.json"
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST],
            cwd=REPO_ROOT, env={**os.environ, "AURA_SEVERAL_HOSTS_OUT": str(out)},
            capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        if done.returncode != 0 or not out.exists():
            sys.exit(f"the several-hosts run failed or was skipped:\n{done.stdout[-3000:]}")
        figures = json.loads(out.read_text())
    print(json.dumps({**figures, "wall_s": round(wall, 1)}))


if __name__ == "__main__":
    main()
