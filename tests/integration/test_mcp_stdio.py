"""`aura mcp --stdio` spawned the way an IDE spawns it: identified by `AURA_MCP_TOKEN`, refused
at start (one line on stderr, exit code 2, nothing on stdout) without a valid token."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from mcp_server.app import System
from orchestra.models import NewJob
from tests.integration.helpers import TEST_POLICY, hire

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "mcp_server.cli", "mcp", "--stdio"]


def stdio_env(tmp_path: Path, db_url: str, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
    env.update({
        "AURA_DATABASE_URL": db_url,
        "AURA_DATA_DIR": str(tmp_path / "stdio-data"),
        "AURA_SANDBOX_DIR": str(tmp_path / "sandboxes"),
        "AURA_SNAPSHOT_DIR": str(tmp_path / "snapshots"),
        "AURA_BACKUP_DIR": str(tmp_path / "backups"),
        "AURA_WORKSPACES": str(tmp_path / "workspace"),
        "AURA_DIRECTOR_KEY": "test-director-key",
        "AURA_POLICY_FILE": str(TEST_POLICY),
        "AURA_BACKUP_AFTER_MIGRATE": "false",
        "PYTHONUNBUFFERED": "1",
    })
    if token is not None:
        env["AURA_MCP_TOKEN"] = token
    return env


async def _tool_call_actors(db_url: str) -> list[str]:
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT actor FROM audit_log WHERE action = 'mcp.tool_call' ORDER BY seq")
    finally:
        await conn.close()
    return [r["actor"] for r in rows]


async def test_a_spawned_stdio_server_speaks_as_its_tokens_client(
    system: System, db_url: str, tmp_path: Path
) -> None:
    issued = await system.tokens.create("zed", actor="test")
    await hire(system.db, "echo")
    mine = await system.queue.submit(NewJob(prompt="mine", client="zed"), actor="client:zed")
    theirs = await system.queue.submit(NewJob(prompt="theirs", client="other-ide"),
                                       actor="client:other-ide")
    params = StdioServerParameters(command=COMMAND[0], args=COMMAND[1:], cwd=str(REPO_ROOT),
                                   env=stdio_env(tmp_path, db_url, issued.token))
    with (tmp_path / "stdio.err").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            listed: Any = (await client.call_tool("list_jobs", {})).structured_content
            own: Any = (await client.call_tool("audit_log", {"limit": 10})).structured_content
            refused = await client.call_tool("cancel_job", {"job_id": str(theirs.job.id)})
            cancelled: Any = (await client.call_tool(
                "cancel_job", {"job_id": str(mine.job.id)})).structured_content
    assert {"submit_job", "wait_job", "list_jobs", "cancel_job"} <= names
    assert [j["job_id"] for j in listed["jobs"]] == [str(mine.job.id)]  # its own jobs only
    assert own is not None
    assert refused.is_error and "another client" in str(refused.content)
    assert cancelled["status"] == "cancelled"
    # The journal is flushed when the process ends, which the client's exit waits for.
    actors: list[str] = []
    for _ in range(50):
        actors = await _tool_call_actors(db_url)
        if len(actors) >= 4:
            break
        await asyncio.sleep(0.1)
    assert actors and set(actors) == {"client:zed"}, actors


def _refused(tmp_path: Path, db_url: str, token: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(COMMAND, cwd=REPO_ROOT, env=stdio_env(tmp_path, db_url, token),
                          input="", capture_output=True, text=True, timeout=60, check=False)


def _assert_one_line_refusal(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aura: "), done.stderr
    assert words in lines[0] and "Traceback" not in done.stderr


@pytest.mark.parametrize("token", [None, "", "aura_mcp_forged"])
async def test_a_missing_or_wrong_token_stops_it_at_start(
    system: System, db_url: str, tmp_path: Path, token: str | None
) -> None:
    done = await asyncio.to_thread(_refused, tmp_path, db_url, token)
    words = "unknown or revoked" if token else "AURA_MCP_TOKEN is not set"
    _assert_one_line_refusal(done, words)


async def test_a_revoked_token_stops_it_at_start(
    system: System, db_url: str, tmp_path: Path
) -> None:
    issued = await system.tokens.create("gone", actor="test")
    await system.tokens.revoke("gone", actor="test")
    done = await asyncio.to_thread(_refused, tmp_path, db_url, issued.token)
    _assert_one_line_refusal(done, "unknown or revoked")
