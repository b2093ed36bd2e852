"""Small builders shared by the integration tests."""

from __future__ import annotations

from pathlib import Path

from governance.auditor import Auditor
from orchestra.models import Employee
from orchestra.queue import JobQueue
from orchestra.roster import HireRequest, Roster
from orchestra.store.db import Database
from orchestra.workspaces import Workspaces


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
