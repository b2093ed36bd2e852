"""Small builders shared by the integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from governance.auditor import Auditor
from orchestra.models import Employee
from orchestra.queue import JobQueue
from orchestra.roster import HireRequest, Roster
from orchestra.store.db import Database
from orchestra.workspaces import Workspaces

if TYPE_CHECKING:
    from mcp_server.app import System


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
