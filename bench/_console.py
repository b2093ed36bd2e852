"""What the console benchmarks share: a throw-away database with the real System and its
Director API served on loopback in this process (no worker: jobs stay where they are put)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from _support import database, free_port, serve

from mcp_server.app import System, build_system
from mcp_server.settings import Settings

KEY = "bench-director-key"


@contextlib.asynccontextmanager
async def director_api(database_url: str | None) -> AsyncIterator[tuple[System, str]]:
    """The System and its API's root (`http://127.0.0.1:PORT`)."""
    workdir = Path(tempfile.mkdtemp(prefix="aura-bench-tui-", dir="/var/tmp"))
    try:
        async with database(database_url, workdir) as dsn:
            port = free_port()
            settings = Settings(
                data_dir=workdir / "data", sandbox_dir=workdir / "sandboxes",
                snapshot_dir=workdir / "snapshots", backup_dir=workdir / "backups",
                workspaces=str(workdir), api_port=port, director_key=KEY,
                log_level="WARNING",
            )
            system = await build_system(settings, dsn)
            try:
                async with serve(system.api_app(), port):
                    yield system, f"http://127.0.0.1:{port}"
                    system.feed.close()  # ends the consoles' streams so the server can stop
            finally:
                await system.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
