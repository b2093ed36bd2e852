"""What the benchmarks share: a throw-away database, a server in this loop or Aura's own
processes, a fake provider as a process, an MCP session, and timing in interleaved blocks."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
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


REPO_ROOT = Path(__file__).resolve().parents[1]


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout_s`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class AuraProcess:
    """`aura VERB` (up, serve or worker) from a checkout, on throw-away directories under
    `root`; `extra_env` adds or overrides variables (AURA_DATABASE_URL, a provider's key)."""

    def __init__(self, repo: Path, root: Path, workspace: Path, verb: str = "up",
                 extra_env: dict[str, str] | None = None) -> None:
        self.repo, self.root, self.workspace, self.verb = repo, root, workspace, verb
        self.extra_env = dict(extra_env or {})
        self.api_port, self.mcp_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.root / f"aura-{self.verb}.log"

    def start(self) -> None:
        """Start it; a process that serves is waited for until its `/ready` answers 200."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
        env.update({
            "AURA_DATA_DIR": str(self.root / f"data-{self.verb}"),
            "AURA_BACKUP_DIR": str(self.root / "b"),
            "AURA_SANDBOX_DIR": str(self.root / "sandboxes"),
            "AURA_SNAPSHOT_DIR": str(self.root / "snapshots"),
            "AURA_WORKSPACES": str(self.workspace), "AURA_BACKUP_AFTER_MIGRATE": "false",
            "AURA_API_PORT": str(self.api_port), "AURA_MCP_PORT": str(self.mcp_port),
            **self.extra_env,
        })
        python = self.repo / ".venv" / "bin" / "python"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(python), "-m", "mcp_server.cli", self.verb], cwd=self.repo, env=env,
                stdout=log, stderr=subprocess.STDOUT,
            )
        if self.verb != "worker":
            wait_ready(self.proc, self.api, self.log)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def mcp(self) -> str:
        return f"http://127.0.0.1:{self.mcp_port}/mcp"

    def director(self, key: str | None = None) -> httpx.Client:
        """The Director API with `key`, or the key the process wrote into its home."""
        key = key or (self.root / f"data-{self.verb}" / "director.key").read_text().strip()
        return httpx.Client(base_url=f"{self.api}/api/v1", timeout=60,
                            headers={"Authorization": f"Bearer {key}"})

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


@contextlib.contextmanager
def fake_process(module: str, args: Sequence[str], probe: str, log_path: Path, *,
                 env: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> Iterator[None]:
    """A fake provider (`python -m tests.fakes.…`) as its own process, as the real one would
    be; returns once `probe` (a URL of it, asked with `headers`) answers 200, and stops it
    afterwards."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO_ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{module} exited: {log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(probe, timeout=1, headers=headers).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{module} did not start within 30 s")
            time.sleep(0.05)
        yield
    finally:
        stop_process(proc, timeout_s=10)


Call = Callable[[], Awaitable[float]]


async def measure(
    calls: dict[str, Call], n: int, warmup: int, block: int
) -> dict[str, list[float]]:
    """Warm every side up, then N timed calls each, in blocks, alternating who goes first, so
    a noisy machine hurts every side alike."""
    for call in calls.values():
        for _ in range(warmup):
            await call()
    samples: dict[str, list[float]] = {side: [] for side in calls}
    order = list(calls)
    for index in range(0, n, block):
        size = min(block, n - index)
        for side in order if (index // block) % 2 == 0 else order[::-1]:
            for _ in range(size):
                samples[side].append(await calls[side]())
    return samples


def summary(values: list[float]) -> dict[str, float]:
    """Percentiles and mean of milliseconds, rounded to microseconds."""
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 3), "p95_ms": round(cuts[94], 3),
            "p99_ms": round(cuts[98], 3), "mean_ms": round(statistics.fmean(values), 3)}


def timing_options(parser: argparse.ArgumentParser, *, n: int, warmup: int, block: int,
                   per: str) -> None:
    """`--n`, `--warmup` and `--block` for `measure`, with these defaults; `per` says what
    each count is per ("per tool and server")."""
    parser.add_argument("--n", type=int, default=n, help=f"timed calls {per}")
    parser.add_argument("--warmup", type=int, default=warmup, help="untimed calls first")
    parser.add_argument("--block", type=int, default=block, help="calls per interleaved block")


def print_result(
    parser: argparse.ArgumentParser, args: argparse.Namespace,
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]],
) -> int:
    """Check the timing options, run the benchmark and print its one JSON line on stdout."""
    # Warnings and worse on stderr, before the SDK's MCPServer installs its own INFO handler;
    # stdout carries only the result line.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.n < 2 or args.block < 1 or args.warmup < 0:
        parser.error("--n must be at least 2, --block at least 1, --warmup not negative")
    print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


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
