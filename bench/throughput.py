"""Jobs per second through one worker, governance on, submit to `succeeded`.

    .venv/bin/python bench/throughput.py [--n 500] [--submit-via mcp|mcp-inprocess|queue]
                                         [--backlog] [--budgets] [--profile FILE]

Starts the fake Ollama (`tests/fakes/ollama_server.py`, a subprocess: it answers at once) and a
throw-away embedded PostgreSQL (or a fresh database on `--database-url`), builds the real
System (`mcp_server.app.build_system`), hires one Ollama employee, serves the governed MCP app
under uvicorn on a free loopback port and starts exactly one worker
(`system.manager.run(stop)`), all in this process's event loop, as `aura up` does.

Then N jobs without a project (a question to the Ollama employee) are submitted one after the
other through the `submit_job` MCP tool over streamable HTTP with a client token (bearer auth,
the governance middleware, the audit chain: the whole governed path) by the SDK's client in a
process of its own, as an IDE would be (`--submit-via mcp-inprocess`: in this process, so the
client's CPU is charged too; `--submit-via queue`: straight through `JobQueue.submit`, as the
tool does, without HTTP). The clock runs from the first submit until every job has reached a
terminal status (seen through LISTEN/NOTIFY on the jobs channel). The MCP endpoint and the
worker share one event loop, as in `aura up`, so while one client submits the figure is bounded
by both; `--backlog` submits everything first and then times the worker alone. Prints one JSON
line on stdout.

`--profile FILE` runs everything under cProfile, writes the stats to FILE (read them with
`python -m pstats FILE`) and prints the top entries by cumulative time on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
from _support import add_budgets, database, fake_process, free_port, mcp_session, serve
from mcp.client.client import Client

from mcp_server.app import System, build_system
from mcp_server.settings import Settings
from orchestra.events import CHANNEL
from orchestra.models import JobKind, NewJob
from orchestra.roster import HireRequest

REPO_ROOT = Path(__file__).resolve().parents[1]
EMPLOYEE = "llama"
MODEL = "llama3.2"
REPLY = "42"
TERMINAL = ("succeeded", "failed", "cancelled", "rejected")
_TOKEN_ENV = "AURA_BENCH_TOKEN"  # hands the MCP token to the submitting process


@contextlib.contextmanager
def fake_ollama(log_path: Path) -> Iterator[str]:
    """The fake Ollama as its own process, as the real one would be; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with fake_process("tests.fakes.ollama_server",
                      ["--port", str(port), "--models", MODEL, "--reply", REPLY],
                      f"{url}/api/version", log_path):
        yield url


class Finished:
    """Counts jobs reaching a terminal status, from the jobs channel's notifications."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.done: set[str] = set()
        self.all_done = asyncio.Event()
        self.done_at = 0.0

    def on_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        job_id, _, status = str(payload).partition(" ")
        if status in TERMINAL:
            self.done.add(job_id)
            if len(self.done) >= self.expected and not self.all_done.is_set():
                self.done_at = time.monotonic()
                self.all_done.set()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="aura-bench-throughput-"))
    try:
        with fake_ollama(workdir / "fake-ollama.log") as ollama_url:
            async with database(args.database_url, workdir) as dsn:
                return await _bench(args, workdir, dsn, ollama_url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _bench(
    args: argparse.Namespace, workdir: Path, dsn: str, ollama_url: str
) -> dict[str, Any]:
    port = free_port()
    settings = Settings(
        data_dir=workdir / "data", sandbox_dir=workdir / "sandboxes",
        snapshot_dir=workdir / "snapshots", backup_dir=workdir / "backups",
        workspaces=str(workdir), mcp_port=port, ollama_url=ollama_url, log_level="WARNING",
    )
    system: System = await build_system(settings, dsn)
    finished = Finished(args.n)
    listener = await asyncpg.connect(dsn)
    await listener.add_listener(CHANNEL, finished.on_notify)
    stop = asyncio.Event()
    worker: asyncio.Task[None] | None = None
    try:
        await system.roster.hire(
            HireRequest(name=EMPLOYEE, adapter="ollama", model=MODEL), actor="bench"
        )
        if args.budgets:
            await add_budgets(system, EMPLOYEE)
        token = (await system.tokens.create("bench", actor="bench")).token
        async with serve(system.mcp_app(), port) as url:
            if not args.backlog:
                worker = asyncio.create_task(system.manager.run(stop), name="worker")
            if args.submit_via == "mcp":
                first, last = await _submit_from_another_process(url, token, args.n)
            elif args.submit_via == "mcp-inprocess":
                async with mcp_session(url, token) as client:
                    first, last = await submit_over_mcp(client, args.n)
            else:
                first, last = await _submit_to_queue(system, args.n)
            submit_seconds = last - first
            if args.backlog:  # the queue is full; now time the worker alone
                first = time.monotonic()
                worker = asyncio.create_task(system.manager.run(stop), name="worker")
            try:
                await asyncio.wait_for(finished.all_done.wait(), args.timeout)
            except TimeoutError:
                raise RuntimeError(
                    f"only {len(finished.done)} of {args.n} jobs finished in {args.timeout} s"
                ) from None
            seconds = finished.done_at - first
            stop.set()
            assert worker is not None
            await asyncio.wait_for(worker, 30)
        async with system.db.connection() as conn:
            rows = await conn.fetch("SELECT status::text AS status, count(*) AS n FROM jobs "
                                    "GROUP BY status")
        counts = {r["status"]: int(r["n"]) for r in rows}
    finally:
        stop.set()
        if worker is not None and not worker.done():
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        await listener.close()
        await system.close()
    return {
        "bench": "throughput", "jobs": args.n, "seconds": round(seconds, 3),
        "jobs_per_second": round(args.n / seconds, 2),
        "failed": args.n - counts.get("succeeded", 0),
        "statuses": counts, "submit_via": args.submit_via,
        "submit_seconds": round(submit_seconds, 3),
        "backlog": args.backlog, "workers": 1, "pool_slots": settings.pool_slots,
    }


def _prompt(i: int) -> str:
    return f"question {i}: what is six times seven?"


async def submit_over_mcp(client: Client, n: int) -> tuple[float, float]:
    """Submit n jobs one after the other; (monotonic time of the first, of the last reply)."""
    first = time.monotonic()
    for i in range(n):
        result = await client.call_tool("submit_job", {"prompt": _prompt(i), "employee": EMPLOYEE})
        if result.is_error:
            text = " ".join(getattr(p, "text", "") for p in result.content)
            raise RuntimeError(f"submit_job failed: {text}")
    return first, time.monotonic()


async def _submit_to_queue(system: System, n: int) -> tuple[float, float]:
    first = time.monotonic()
    for i in range(n):
        await system.queue.submit(
            NewJob(prompt=_prompt(i), kind=JobKind.TASK, employee=EMPLOYEE, client="bench"),
            actor="client:bench",
        )
    return first, time.monotonic()


async def _submit_from_another_process(url: str, token: str, n: int) -> tuple[float, float]:
    """The IDE's side in a process of its own, so its CPU is not charged to the server.

    CLOCK_MONOTONIC is system-wide on Linux, so the child's timestamps compare with ours.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).resolve()), "--submitter", url, "--n", str(n),
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, env={**os.environ, _TOKEN_ENV: token},
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the submitting process exited with {proc.returncode}")
    times = json.loads(out.decode().strip().splitlines()[-1])
    return float(times["first"]), float(times["last"])


async def _submitter(url: str, n: int) -> None:
    async with mcp_session(url, os.environ[_TOKEN_ENV]) as client:
        first, last = await submit_over_mcp(client, n)
    print(json.dumps({"first": first, "last": last}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="jobs to submit")
    parser.add_argument(
        "--submit-via", choices=["mcp", "mcp-inprocess", "queue"], default="mcp",
        help="the submit_job MCP tool over HTTP from another process (default, as an IDE), "
        "from a client in this process, or JobQueue.submit directly")
    parser.add_argument("--submitter", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--backlog", action="store_true",
                        help="submit everything first, then start the worker and time only it")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this long")
    parser.add_argument("--profile", metavar="FILE", default=None,
                        help="run under cProfile and write the stats to FILE")
    parser.add_argument("--top", type=int, default=15,
                        help="entries of the profile printed on stderr")
    parser.add_argument("--budgets", action="store_true",
                        help="priced employee under an overall and an employee budget, so "
                        "every call is admitted against two budgets")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server to create a throw-away database on "
                        "(default: an embedded one in a temporary directory)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    if args.submitter:  # the child process of `--submit-via mcp`
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        asyncio.run(_submitter(args.submitter, args.n))
        return 0
    # Warnings and worse on stderr, before the SDK's MCPServer installs its own INFO handler;
    # stdout carries only the result line.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.profile is None:
        result = asyncio.run(run(args))
    else:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            result = asyncio.run(run(args))
        finally:
            profiler.disable()
            profiler.dump_stats(args.profile)
        report = io.StringIO()
        stats = pstats.Stats(profiler, stream=report)
        stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(args.top)
        print(report.getvalue(), file=sys.stderr)
        result["profile"] = args.profile
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
