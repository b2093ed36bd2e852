"""Live-event latency: a job's status change, committed, to the SSE client reading
`GET /api/v1/events`.

    .venv/bin/python bench/event_latency.py [--n 200] [--warmup 20] [--database-url URL]

Starts a throw-away embedded PostgreSQL (or a fresh database on `--database-url`), builds the
real System (`mcp_server.app.build_system`) without its worker and serves the Director API
under uvicorn on a free loopback port, in this process. One client (httpx, streaming) follows
the feed from the current tip. Then, one at a time, a job is submitted (→ `queued`) or the
previous one cancelled (→ `cancelled`) through `JobQueue`, as the API and the MCP tools do;
each sample runs from just before the statement that commits the change until the client has
parsed the event (so it includes the statement itself: an upper bound on the feed's own
delay). The next change waits for the previous event, so the figure is the unloaded latency:
commit, the deferred trigger, NOTIFY, the listener, the table read, SSE framing, HTTP. Prints
one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from _support import api_system, free_port, latency_summary, scratch, serve

from mcp_server.api.sse import read_events
from mcp_server.app import System
from orchestra.models import NewJob

KEY = "bench-director-key"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with scratch("aura-bench-events-", args.database_url) as (workdir, dsn):
        return await _bench(args, workdir, dsn)


async def _bench(args: argparse.Namespace, workdir: Path, dsn: str) -> dict[str, Any]:
    port = free_port()
    system: System = await api_system(workdir, dsn, port, KEY)
    samples: list[float] = []
    try:
        async with (
            serve(system.api_app(), port),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
            client.stream("GET", "/api/v1/events",
                          headers={"Authorization": f"Bearer {KEY}"}) as response,
        ):
            response.raise_for_status()
            events = read_events(response)
            pending: str | None = None
            for i in range(args.warmup + args.n):
                started = time.perf_counter()
                if pending is None:
                    submitted = await system.queue.submit(
                        NewJob(prompt=f"event bench {i}"), actor="bench")
                    pending, expected = str(submitted.job.id), "queued"
                else:
                    await system.queue.cancel(pending, actor="bench")
                    expected, pending = "cancelled", None
                event = await asyncio.wait_for(anext(events), 10)
                elapsed = (time.perf_counter() - started) * 1000
                if event.kind != "job" or event.data["status"] != expected:
                    raise RuntimeError(f"expected a {expected} job event, got {event}")
                if i >= args.warmup:
                    samples.append(elapsed)
            system.feed.close()  # ends the stream, so the server can stop at once
    finally:
        await system.close()
    return {"bench": "event_latency", "events": args.n, "warmup": args.warmup,
            "measured": "statement start (the commit of a job status change) to the SSE "
                        "client's parsed event, one change at a time",
            **latency_summary(samples)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="timed events")
    parser.add_argument("--warmup", type=int, default=20, help="untimed events first")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server to create a throw-away database on "
                        "(default: an embedded one in a temporary directory)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.n < 2 or args.warmup < 0:
        parser.error("--n must be at least 2, --warmup not negative")
    print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
