"""The console's live view: how long a job's status change takes to show in its Jobs row, and
the console's memory once it has heard 10,000 events.

    .venv/bin/python bench/tui_live.py [--n 100] [--warmup 10] [--events 10000]

The Director API runs in this process on a throw-away database (no worker); the console runs
as its own process (`--probe`, headless, the Jobs screen open), as `aura tui` would. Latency:
`--n` queued jobs are cancelled one at a time through `JobQueue` (as the API does); each sample
runs from just before the cancelling statement until the console has updated the job's row
and Textual has refreshed the screen after it (`call_after_refresh`), both read on the
machine's monotonic clock. Memory: more jobs are submitted and cancelled until the console has
received `--events` events; then it collects garbage and reports its resident set (VmRSS).
Prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _console import KEY, director_api

from mcp_server.api.models import Event
from orchestra.models import NewJob

REPO_ROOT = Path(__file__).resolve().parents[1]


def summary(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 2), "p99_ms": round(cuts[98], 2),
            "max_ms": round(max(values), 2)}


# ---- the console's side (a child process) -------------------------------------------------


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def probe(url: str, jobs: int, events: int) -> None:
    """Run the console headless on its Jobs screen and report on stdout: `ready <kB>` once
    `jobs` rows are shown (its resident set then), `row <job id> <monotonic s>` as a row turns
    cancelled on screen, and `memory <kB> <events>` after `events` events (then exit)."""
    from textual.widgets import DataTable

    from tui.app import AuraConsole
    from tui.client import ApiClient
    from tui.live import Reset
    from tui.screens.jobs import JobsScreen

    def say(*words: object) -> None:
        print(*words, flush=True)

    class Probe(AuraConsole):
        # A subclass's CSS_PATH is relative to its own module: point back at the console's.
        CSS_PATH = str(Path(sys.modules[AuraConsole.__module__].__file__ or "").parent
                       / "app.tcss")
        probe_heard = 0

        def on_mount(self) -> None:
            super().on_mount()
            self.switch_mode("jobs")
            self.set_interval(0.05, self._check_rows)
            self.start_feed(None)

        def _check_rows(self) -> None:
            screen = self.screen
            if isinstance(screen, JobsScreen) and len(screen.jobs) >= jobs and not self.probe_heard:
                self.probe_heard = -1  # said once
                # After the screen's own subscription: its row is updated when this runs.
                self.events.subscribe(self, self._probe_event)
                gc.collect()
                say("ready", rss_kb())

        def _when_shown(self, job: str) -> None:
            """Say when `job`'s row reads cancelled and the screen has been refreshed since.
            The screen hears the event through its own queue, so it may not have yet."""
            table = self.screen.query_one("#jobs", DataTable)
            if job not in table.rows:
                return
            if str(table.get_cell(job, "status")) == "cancelled":
                self.call_after_refresh(lambda: say("row", job, time.monotonic()))
            else:
                self.set_timer(0.001, lambda: self._when_shown(job))

        def _probe_event(self, event: Event | Reset) -> None:
            self.probe_heard = max(self.probe_heard, 0) + 1
            if isinstance(event, Event) and event.kind == "job" and event.status == "cancelled":
                self._when_shown(event.subject)
            if self.probe_heard >= events:
                gc.collect()
                say("memory", rss_kb(), self.probe_heard)
                self.exit()

    Probe(ApiClient(url + "/api/v1", KEY)).run(headless=True, size=(160, 48))


# ---- the bench's side ---------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with director_api(args.database_url) as (system, url):
        total = args.n + args.warmup
        jobs = [str((await system.queue.submit(NewJob(prompt=f"row {i}"), actor="bench")).job.id)
                for i in range(total)]
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--probe", url, "--n", str(total),
            "--events", str(args.events), cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE)
        assert child.stdout is not None
        lines = child.stdout

        async def line() -> list[str]:
            text = await asyncio.wait_for(lines.readline(), 120)
            if not text:
                raise RuntimeError("the console probe exited early")
            return text.decode().split()

        ready = await line()
        if ready[0] != "ready":
            raise RuntimeError("the console probe did not get ready")
        samples: list[float] = []
        for i, job in enumerate(jobs):
            started = time.monotonic()
            await system.queue.cancel(job, actor="bench")
            word, shown_job, at = await line()
            if (word, shown_job) != ("row", job):
                raise RuntimeError(f"expected {job}'s row, got {word} {shown_job}")
            if i >= args.warmup:
                samples.append((float(at) - started) * 1000)
        # More events until the console has heard `--events` (each job: queued, cancelled).
        memory: list[str] = []

        async def churn() -> None:
            n = 0
            while not memory:
                made = await system.queue.submit(NewJob(prompt=f"churn {n}"), actor="bench")
                await system.queue.cancel(str(made.job.id), actor="bench")
                n += 1

        churning = asyncio.create_task(churn())
        while not memory:
            words = await asyncio.wait_for(lines.readline(), 600)
            if not words:
                raise RuntimeError("the console probe exited before reporting its memory")
            if words.startswith(b"memory"):
                memory = words.decode().split()
        await churning
        await child.wait()
    return {"bench": "tui_live", "rows": args.n, "warmup": args.warmup,
            "measured": "a job's cancel statement to its Jobs row repainted in a separate "
                        "console process (headless, 160x48)", **summary(samples),
            "events_heard": int(memory[2]),
            "console_rss_mb_before": round(int(ready[1]) / 1024, 1),
            "console_rss_mb_after": round(int(memory[1]) / 1024, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="timed row changes")
    parser.add_argument("--warmup", type=int, default=10, help="untimed row changes first")
    parser.add_argument("--events", type=int, default=10_000,
                        help="events the console hears before its memory is read")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server to create a throw-away database on "
                        "(default: an embedded one in a temporary directory)")
    parser.add_argument("--probe", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        probe(args.probe, args.n, args.events)
        return 0
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.n < 2 or args.warmup < 0:
        parser.error("--n must be at least 2, --warmup not negative")
    print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
