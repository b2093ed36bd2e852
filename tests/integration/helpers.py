"""Small builders shared by the integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.auditor import Auditor
from orchestra.models import Employee, Job
from orchestra.queue import JobQueue
from orchestra.roster import HireRequest, Roster
from orchestra.store.db import Database
from orchestra.workspaces import Workspaces

if TYPE_CHECKING:
    from mcp_server.app import System

# The shipped policy with the shell tools tests use as acceptance commands allowed.
TEST_POLICY = Path(__file__).resolve().parent.parent / "fixtures" / "policy.toml"


async def hire(db: Database, name: str, adapter: str = "cli", **fields: object) -> Employee:
    if adapter == "cli" and "command" not in fields:
        fields["command"] = ["/bin/echo", "{prompt}"]
    if adapter == "ollama" and "model" not in fields:
        fields["model"] = "llama"
    request = HireRequest(name=name, adapter=adapter, **fields)  # type: ignore[arg-type]
    return await Roster(db, Auditor()).hire(request, actor="test")


def queue_for(db: Database, workspace: Path | None = None) -> JobQueue:
    roots = [workspace] if workspace is not None else []
    return JobQueue(db, Auditor(), Workspaces(roots))


@contextlib.asynccontextmanager
async def running_worker(system: System, **config: float) -> AsyncIterator[None]:
    """The system's worker loop, as `aura up` runs it, with `config` overrides."""
    if "lease_seconds" in config and "heartbeat_seconds" not in config:
        config["heartbeat_seconds"] = config["lease_seconds"] / 3
    if config:
        system.manager.config = dataclasses.replace(system.manager.config, **config)
    stop = asyncio.Event()
    task = asyncio.create_task(system.manager.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def until_done(system: System, job_id: uuid.UUID) -> Job:
    """The job once it has ended (a worker must be running); fails after 20 s."""
    for _ in range(400):
        job = await system.queue.get(job_id)
        if job.status.is_terminal:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job.status}")


async def add_job(
    db: Database, job_id: uuid.UUID, prompt: str = "do it", **fields: Any
) -> None:
    """A job row with a chosen id (prefix tests need known ids) and the given outcome columns
    (`output`, `diff`, `error`, `validation`, `status`), written directly."""
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO jobs (id, kind, prompt, output, diff, error, validation) "
            "VALUES ($1, 'task', $2, $3, $4, $5, $6)",
            job_id, prompt, fields.get("output"), fields.get("diff"), fields.get("error"),
            fields.get("validation"),
        )


async def add_finished_job(
    db: Database, employee: str, status: str, finished_at: datetime, *, latency_ms: int = 100,
    cost: Decimal = Decimal(0), acceptance: Sequence[str] = (),
    validation: dict[str, Any] | None = None, budget_refusal: dict[str, Any] | None = None,
) -> None:
    """A job of `employee` that ended as `status` at `finished_at` after `latency_ms`, written
    directly: a history for HR's scores with exact times and costs."""
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO jobs (kind, prompt, status, employee, finished_at, started_at, cost,"
            " acceptance, validation, budget_refusal) VALUES ('task', 'seed', $2, $1,"
            " $3::timestamptz, $3::timestamptz - make_interval(secs => $4::integer / 1000.0),"
            " $5, $6, $7, $8)",
            employee, status, finished_at, latency_ms, cost, list(acceptance), validation,
            budget_refusal,
        )


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """`app` under a real uvicorn on a free loopback port, in this event loop; yields its base
    URL. For what the in-process transport cannot do: stream a response as it is written."""
    import socket

    import uvicorn

    from mcp_server.runner import SignalFreeServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = SignalFreeServer(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off",
        ws="none", timeout_graceful_shutdown=2,
    ))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the test server stopped while starting")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
