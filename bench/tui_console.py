"""The console's figures (issue 11): first paint of the Dashboard, a job's status change to its
row changing in the Jobs table (p50/p99), and the console's memory after 10,000 events.

    .venv/bin/python bench/tui_console.py [--n 100] [--warmup 10] [--events 10000]
                                          [--database-url URL]

A throw-away database and the real System's API under uvicorn, in this process (as
`event_latency.py`), and the real console (`tui.app.AuraConsole`, headless through Textual's
`run_test`, 160x48) in the same event loop, talking HTTP to it. Figures:

- `import_ms`: importing the console (Textual and its screens), as `aura tui` does first.
- `first_paint_ms`: from the app's start to the Dashboard showing the pool's slots (its
  first picture: pool, queue, budgets, approvals and recent events over HTTP).
- row latency: from just before the statement that cancels a queued job until the Jobs
  table's status cell for it reads `cancelled` (commit, NOTIFY, SSE, the console's handler;
  the terminal repaint follows within a frame and is not included).
- memory: this process's resident memory before and after `--events` job events went
  through the console. The server shares the process, so the growth is an upper bound on
  what the console kept (tracemalloc would separate them but slows the flood twentyfold).

Prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from _support import api_system, free_port, latency_summary, scratch, serve

from mcp_server.app import System
from orchestra.models import NewJob

KEY = "bench-director-key"
log = logging.getLogger("bench.tui_console")
SIZE = (160, 48)


async def until(ok: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    while not ok():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.0005)


def rss_kib() -> int:
    """This process's resident memory now (Linux), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with scratch("aura-bench-tui-", args.database_url) as (workdir, dsn):
        return await _bench(args, workdir, dsn)


async def _bench(args: argparse.Namespace, workdir: Path, dsn: str) -> dict[str, Any]:
    started = time.perf_counter()
    from tui.app import AuraConsole
    from tui.client import ApiClient
    from tui.screens.dashboard import DashboardScreen
    from tui.screens.jobs import JobsScreen

    import_ms = (time.perf_counter() - started) * 1000
    port = free_port()
    system: System = await api_system(workdir, dsn, port, KEY)
    samples: list[float] = []
    try:
        async with serve(system.api_app(), port):
            timed = [str((await system.queue.submit(NewJob(prompt=f"tui bench {i}"),
                                                    actor="bench")).job.id)
                     for i in range(args.warmup + args.n)]
            started = time.perf_counter()
            app = AuraConsole(ApiClient(f"http://127.0.0.1:{port}/api/v1", KEY))
            async with app.run_test(size=SIZE) as pilot:
                dashboard = app.screen
                assert isinstance(dashboard, DashboardScreen)
                await until(lambda: bool(dashboard.slots), "the Dashboard's first picture")
                first_paint_ms = (time.perf_counter() - started) * 1000
                log.info("first paint after %.0f ms", first_paint_ms)
                await until(lambda: app.link_state.online, "the live feed")
                await pilot.press("2")
                jobs = app.screen
                assert isinstance(jobs, JobsScreen)
                await until(lambda: all(j in jobs.jobs for j in timed), "the Jobs table")
                table = jobs.query_one("#jobs")

                def status_of(job_id: str) -> str:
                    return str(table.get_cell(job_id, "status"))  # type: ignore[attr-defined]

                for i, job_id in enumerate(timed):
                    began = time.perf_counter()
                    await system.queue.cancel(job_id, actor="bench")
                    await until(lambda j=job_id: status_of(j) == "cancelled", "the row")
                    if i >= args.warmup:
                        samples.append((time.perf_counter() - began) * 1000)

                log.info("row latency: %d samples", len(samples))
                rss_before = rss_kib()
                for i in range(args.events // 2):  # two events each: queued, cancelled
                    job = (await system.queue.submit(NewJob(prompt=f"tui flood {i}"),
                                                     actor="bench")).job
                    await system.queue.cancel(job.id, actor="bench")
                _, newest = await system.feed.window()
                log.info("flood sent up to event %d", newest)
                await until(lambda: (app.last_event_id or 0) >= newest,
                            "the console catching up", timeout=600)
                await pilot.pause(1.0)  # the debounced reloads the flood set off
                gc.collect()
                rss_after = rss_kib()
            system.feed.close()
    finally:
        await system.close()
    return {"bench": "tui_console", "size": f"{SIZE[0]}x{SIZE[1]}",
            "import_ms": round(import_ms, 1), "first_paint_ms": round(first_paint_ms, 1),
            "row_latency": {"events": args.n, "warmup": args.warmup,
                            "measured": "job cancel statement start to the Jobs table's "
                                        "status cell reading cancelled",
                            **latency_summary(samples)},
            "memory": {"events": args.events, "rss_before_kib": rss_before,
                       "rss_after_kib": rss_after, "growth_kib": rss_after - rss_before,
                       "measured": "resident memory of this process (console and server) "
                                   "before and after the flood: the growth bounds what the "
                                   "console kept"}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="timed status changes")
    parser.add_argument("--warmup", type=int, default=10, help="untimed changes first")
    parser.add_argument("--events", type=int, default=10_000, help="events for the memory figure")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server to create a throw-away database on "
                        "(default: an embedded one in a temporary directory)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    log.setLevel(logging.INFO)
    if args.n < 2 or args.warmup < 0 or args.events < 2:
        parser.error("--n and --events must be at least 2, --warmup not negative")
    print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
