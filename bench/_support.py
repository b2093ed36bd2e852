"""What both benchmarks need: a throw-away database, a server in this loop, an MCP session."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import httpx2
import uvicorn
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_server.runner import SignalFreeServer
from orchestra.migrations import migrate


def wait_ready(proc: subprocess.Popen[bytes], api: str, log: Path, poll_s: float = 0.05) -> None:
    """Return once `api`/ready answers 200; raise if the process exits first."""
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"aura exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"{api}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(poll_s)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(app: Any, port: int) -> AsyncIterator[str]:
    """Serve an ASGI app on 127.0.0.1:port in this event loop; yields the `/mcp` URL."""
    server = SignalFreeServer(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on",
        ws="none",
    ))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError(f"the server on port {port} stopped while starting")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def mcp_session(url: str, token: str | None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=60)
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        yield client


@contextlib.asynccontextmanager
async def database(admin_url: str | None, workdir: Path) -> AsyncIterator[str]:
    """A fresh, migrated database: on `admin_url`'s server, or an embedded one in `workdir`."""
    if admin_url is None:
        import pgserver

        server = await asyncio.to_thread(
            pgserver.get_server,  # type: ignore[attr-defined]
            workdir / "pg", cleanup_mode="stop",
        )
        try:
            dsn = server.get_uri()
            await migrate(dsn)
            yield dsn
        finally:
            await asyncio.to_thread(server.cleanup)
        return
    name = f"aura_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = urlunsplit(urlsplit(admin_url)._replace(path="/" + name))
    try:
        await migrate(dsn)
        yield dsn
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def add_budgets(system: Any, employee: str) -> None:
    """Budgets that apply to every call (one overall, one for `employee`), far from their
    limits, and a price, so every call's admission locks two budget rows and reserves money."""
    from governance.budgets import BudgetSpec

    await system.roster.edit(employee, {"price_in": "0.15", "price_out": "0.60"}, actor="bench")
    await system.budgets.put(BudgetSpec("bench-monthly", "global", "100000"), actor="bench")
    await system.budgets.put(
        BudgetSpec("bench-employee", "employee", "100000", employee=employee), actor="bench")


def latency_summary(values: list[float]) -> dict[str, float]:
    """p50, p99, mean and max of samples in milliseconds."""
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 3), "p99_ms": round(cuts[98], 3),
            "mean_ms": round(statistics.fmean(values), 3), "max_ms": round(max(values), 3)}


@contextlib.asynccontextmanager
async def scratch(prefix: str, admin_url: str | None) -> AsyncIterator[tuple[Path, str]]:
    """A temporary directory and a fresh database (`database`), both gone afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        async with database(admin_url, workdir) as dsn:
            yield workdir, dsn
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def api_system(workdir: Path, dsn: str, api_port: int, director_key: str) -> Any:
    """The real System (`mcp_server.app.build_system`, no worker) on `dsn`, with its
    directories under `workdir`, for serving the Director API on `api_port`."""
    from mcp_server.app import build_system
    from mcp_server.settings import Settings

    settings = Settings(
        data_dir=workdir / "data", sandbox_dir=workdir / "sandboxes",
        snapshot_dir=workdir / "snapshots", backup_dir=workdir / "backups",
        workspaces=str(workdir), api_port=api_port, director_key=director_key,
        log_level="WARNING",
    )
    return await build_system(settings, dsn)
