"""MCP tool-call latency through governance, against a bare MCPServer doing the same query.

    .venv/bin/python bench/mcp_latency.py [--n 500] [--warmup 50] [--block 25] [--budgets]

Starts a throw-away embedded PostgreSQL (or uses a fresh database on `--database-url`), builds
the real System (`mcp_server.app.build_system`) without starting its worker, so submitted jobs
stay queued, and serves in this process, under uvicorn on two free loopback ports:

- governed: `system.mcp_app()` — bearer-token auth, the governance middleware (an audited,
  hash-chained entry per call), the real `get_job` / `submit_job` tools;
- bare: an `MCPServer` with no auth and no middleware whose `get_job` runs the same single
  query (`SELECT * FROM jobs WHERE id = $1`) and whose `submit_job` is a plain INSERT of a job
  row, both on an asyncpg pool. Both return the same result models (`JobResult`,
  `SubmitResult`), so the client does the same work for each and the difference is the
  governed path itself.

One streamable-HTTP session per server (the SDK's client). After a warm-up, N calls of each
tool per server are timed, interleaving the two servers in blocks (alternating which goes
first) so a noisy machine hurts both alike. Prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, cast

import asyncpg
from _support import (
    Call,
    add_budgets,
    database,
    free_port,
    mcp_session,
    measure,
    print_result,
    serve,
    summary,
    timing_options,
)
from mcp.client.client import Client
from mcp.server.mcpserver import MCPServer
from pydantic import Field

from mcp_server.app import System, build_system
from mcp_server.settings import Settings
from orchestra.roster import HireRequest
from orchestra.store.rows import job_from_row
from tools.shaping import JobResult, SubmitResult, job_result

TARGET_RATIO = 1.25
EMPLOYEE = "llama"


def bare_server(pool: asyncpg.Pool) -> MCPServer:
    """The same queries as the governed tools, with nothing around them."""
    server: MCPServer = MCPServer(name="bare")

    @server.tool()
    async def get_job(job_id: Annotated[str, Field(description="id")]) -> JobResult:
        """A job by id."""
        row = await pool.fetchrow("SELECT * FROM jobs WHERE id = $1", uuid.UUID(job_id))
        if row is None:
            raise ValueError(f"no job {job_id}")
        return job_result(job_from_row(cast(Mapping[str, Any], row)))

    @server.tool()
    async def submit_job(
        prompt: Annotated[str, Field(description="what to do")],
        employee: Annotated[str | None, Field(description="employee")] = None,
    ) -> SubmitResult:
        """Queue a job."""
        row = await pool.fetchrow(
            "INSERT INTO jobs (kind, status, prompt, requested_employee) "
            "VALUES ('task', 'queued', $1, $2) RETURNING id, status",
            prompt, employee,
        )
        assert row is not None
        return SubmitResult(job_id=str(row["id"]), status=str(row["status"]), created=True)

    return server


async def _init_connection(conn: Any) -> None:
    # The same jsonb codec the product's pool uses, so `job_from_row` sees the same values.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads,
                              schema="pg_catalog")


def timed(client: Client, tool: str, arguments: Callable[[int], dict[str, Any]]) -> Call:
    counter = iter(range(10**9))

    async def call() -> float:
        args = arguments(next(counter))
        started = time.perf_counter()
        result = await client.call_tool(tool, args)
        elapsed = (time.perf_counter() - started) * 1000
        if result.is_error:
            text = " ".join(getattr(p, "text", "") for p in result.content)
            raise RuntimeError(f"{tool} failed: {text}")
        return elapsed

    return call


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="aura-bench-latency-"))
    try:
        async with database(args.database_url, workdir) as dsn:
            return await _bench(args, workdir, dsn)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _bench(args: argparse.Namespace, workdir: Path, dsn: str) -> dict[str, Any]:
    governed_port, bare_port = free_port(), free_port()
    settings = Settings(
        data_dir=workdir / "data", sandbox_dir=workdir / "sandboxes",
        snapshot_dir=workdir / "snapshots", backup_dir=workdir / "backups",
        workspaces=str(workdir), mcp_port=governed_port, log_level="WARNING",
    )
    system: System = await build_system(settings, dsn)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10, init=_init_connection)
    try:
        await system.roster.hire(
            HireRequest(name=EMPLOYEE, adapter="ollama", model="llama3.2"), actor="bench"
        )
        if args.budgets:
            await add_budgets(system, EMPLOYEE)
        token = (await system.tokens.create("bench", actor="bench")).token
        async with (
            serve(system.mcp_app(), governed_port) as governed_url,
            serve(bare_server(pool).streamable_http_app(), bare_port) as bare_url,
            mcp_session(governed_url, token) as governed,
            mcp_session(bare_url, None) as bare,
        ):
            first = await governed.call_tool(
                "submit_job", {"prompt": "the job get_job reads", "employee": EMPLOYEE}
            )
            job_id = (first.structured_content or {})["job_id"]

            def get_args(_: int) -> dict[str, Any]:
                return {"job_id": job_id}

            def submit_args(i: int) -> dict[str, Any]:
                return {"prompt": f"benchmark job {i}", "employee": EMPLOYEE}

            results: dict[str, dict[str, Any]] = {"governed": {}, "bare": {}}
            for tool, arguments in (("get_job", get_args), ("submit_job", submit_args)):
                samples = await measure(
                    {"governed": timed(governed, tool, arguments),
                     "bare": timed(bare, tool, arguments)},
                    args.n, args.warmup, args.block,
                )
                for side, values in samples.items():
                    results[side][tool] = summary(values)
    finally:
        await pool.close()
        await system.close()

    def ratio(key: str) -> dict[str, float]:
        return {tool: round(results["governed"][tool][key] / results["bare"][tool][key], 3)
                for tool in ("get_job", "submit_job")}

    return {
        "bench": "mcp_latency", "n": args.n, "warmup": args.warmup, "block": args.block,
        "governed": results["governed"], "bare": results["bare"],
        "ratio_p50": ratio("p50_ms"), "ratio_p99": ratio("p99_ms"),
        "target_ratio": TARGET_RATIO,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    timing_options(parser, n=500, warmup=50, block=25, per="per tool and server")
    parser.add_argument("--budgets", action="store_true",
                        help="priced employee under an overall and an employee budget, so "
                        "every call is admitted against two budgets")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server to create a throw-away database on "
                        "(default: an embedded one in a temporary directory)")
    return print_result(parser, parser.parse_args(argv), run)


if __name__ == "__main__":
    sys.exit(main())
