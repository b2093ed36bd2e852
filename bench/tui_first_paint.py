"""First paint: how long from starting `aura tui` until the Dashboard shows the slots and the
live mark, in a real terminal (tmux, 80x24).

    .venv/bin/python bench/tui_first_paint.py [--runs 5]

The Director API runs in this process on a throw-away database; each run starts `python -m
mcp_server.cli tui --url …` (the `aura tui` entry point, imports and all) in a private tmux
server and polls the pane (every 10 ms) until it holds the slot rows and `● live`. The figure
includes the poll's granularity and tmux's own redraw. Prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _console import KEY, director_api

REPO_ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.01
WITHIN_S = 60.0


def tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True,
                          timeout=30, check=False)


async def first_paint(url: str, run: int) -> float:
    socket = f"aura-bench-paint-{os.getpid()}-{run}"
    command = shlex.join([sys.executable, "-m", "mcp_server.cli", "tui", "--url", url])
    started = time.monotonic()
    tmux(socket, "new-session", "-d", "-s", "paint", "-x", "80", "-y", "24", "-c",
         str(REPO_ROOT), "-e", f"AURA_DIRECTOR_KEY={KEY}", "-e", "TERM=xterm-256color", command)
    try:
        while True:
            # The pane is read in a thread so the API in this loop keeps answering.
            shown = (await asyncio.to_thread(tmux, socket, "capture-pane", "-p", "-t",
                                             "paint")).stdout
            if "#0" in shown and "● live" in shown:
                return time.monotonic() - started
            if time.monotonic() - started > WITHIN_S:
                raise RuntimeError(f"no first paint within {WITHIN_S}s:\n{shown}")
            await asyncio.sleep(POLL_S)
    finally:
        tmux(socket, "kill-server")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with director_api(args.database_url) as (_, url):
        seconds = [await first_paint(url, run) for run in range(args.runs)]
    return {"bench": "tui_first_paint", "runs": args.runs, "terminal": "tmux 80x24",
            "measured": "spawn of `aura tui` to the Dashboard showing its slots and live mark",
            "median_s": round(statistics.median(seconds), 3), "max_s": round(max(seconds), 3),
            "min_s": round(min(seconds), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server to create a throw-away database on "
                        "(default: an embedded one in a temporary directory)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
