"""A whole System (the composition root's graph) on this test's own database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from mcp_server.app import System, build_system
from mcp_server.settings import Settings
from tests.fakes.ollama_server import FakeOllama
from tests.integration.helpers import TEST_POLICY


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(("llama", "qwen")) as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, workspace: Path, ollama: FakeOllama) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", sandbox_dir=tmp_path / "sandboxes",
        snapshot_dir=tmp_path / "snapshots", backup_dir=tmp_path / "backups",
        workspaces=str(workspace), ollama_url=ollama.url, director_key="test-director-key",
        lease_seconds=5, heartbeat_seconds=1, poll_seconds=0.5, policy_file=TEST_POLICY,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
async def api(system: System) -> AsyncIterator[httpx.AsyncClient]:
    """The Director API in process. An unexpected error is answered (500 problem+json) and,
    by Starlette, re-raised after; here the answer is what a test reads."""
    transport = httpx.ASGITransport(app=system.api_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://aura") as client:
        yield client


@pytest.fixture
async def system(settings: Settings, db_url: str) -> AsyncIterator[System]:
    built = await build_system(settings, db_url)
    try:
        yield built
    finally:
        await built.close()
