"""MCP Tasks (SEP-2663) end to end: `aura up` as a subprocess, a Tasks-capable client over
streamable HTTP. A task is created and polled to completion, another is cancelled with
tasks/cancel (its job ends cancelled), a consensus with a late member is a task too, and all
are read again after the process restarts.

The module reuses the spine's `aura up` harness (its fixtures are module-scoped, so this module
gets its own process and data).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.e2e import test_spine as spine
from tests.integration.tasks_client import TasksClient, cancel_task, get_task, poll_task

pytestmark = pytest.mark.e2e

# The spine's fixtures, registered here under the same names: one `aura up` for this module.
fake_ollama = spine.fake_ollama
aura = spine.aura
director = spine.director
token = spine.token
hired = spine.hired

SLEEPER = "sleeper"
NODE_CLIENT = Path(__file__).resolve().parent / "node_tasks"


@contextlib.asynccontextmanager
async def tasks_client(aura: spine.Aura, token: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    transport = streamable_http_client(f"{aura.mcp}/mcp", http_client=http)
    async with http, Client(transport, extensions=[TasksClient()]) as client:
        yield client


@pytest.fixture(scope="module")
def sleeper(director: httpx.Client) -> str:
    """A command-line employee that works for a minute: long enough to be cancelled."""
    body = {"name": SLEEPER, "adapter": "cli", "command": ["/bin/sleep", "60"]}
    response = director.post("/employees", json=body)
    assert response.status_code == 201, response.text
    return SLEEPER


@pytest.fixture(scope="module")
def tasks() -> dict[str, str]:
    """Task ids the tests below pass on, in order, to the restart test."""
    return {}


async def test_a_task_is_created_and_polled_to_completion(
    aura: spine.Aura, token: str, hired: dict[str, dict[str, Any]], tasks: dict[str, str]
) -> None:
    async with tasks_client(aura, token) as client:
        created = await client.session.call_tool("submit_job", {
            "prompt": "add a line", "employee": spine.CLI_EMPLOYEE,
            "project": str(spine._project(aura)), "acceptance": ["grep -q scribe notes.txt"],
        }, allow_claimed=True)
        assert getattr(created, "result_type", None) == "task", created
        task = await poll_task(client.session, created.task_id)
    assert task["status"] == "completed", task
    job = task["result"]["structuredContent"]
    assert job["job_id"] == created.task_id and job["status"] == "succeeded"
    assert job["validation"]["passed"] is True and spine.ADDED_LINE in job["diff"]
    tasks["completed"] = created.task_id


async def test_a_task_cancelled_with_tasks_cancel_cancels_its_job(
    aura: spine.Aura, token: str, sleeper: str, tasks: dict[str, str]
) -> None:
    async with tasks_client(aura, token) as client:
        created = await client.session.call_tool("submit_job", {
            "prompt": "sleep", "employee": sleeper, "project": str(spine._project(aura)),
        }, allow_claimed=True)
        task_id = created.task_id
        # Let it start: a running job's command is killed, not only its row moved.
        for _ in range(150):
            if (await get_task(client.session, task_id))["statusMessage"].startswith("running"):
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail(f"task {task_id} did not start running within 30 s")
        await cancel_task(client.session, task_id)
        task = await poll_task(client.session, task_id, within_s=20)
    assert task["status"] == "cancelled", task
    async with spine.director_api(aura) as api:
        job = (await api.get(f"/jobs/{task_id}")).json()
    assert job["status"] == "cancelled"
    tasks["cancelled"] = task_id


async def test_a_consensus_with_a_late_member_is_a_task(
    aura: spine.Aura, token: str, hired: dict[str, dict[str, Any]], sleeper: str,
    tasks: dict[str, str],
) -> None:
    async with tasks_client(aura, token) as client:
        created = await client.session.call_tool("consensus", {
            "prompt": "two views", "employees": [spine.OLLAMA_EMPLOYEE, sleeper],
            "timeout_s": 0.5,
        }, allow_claimed=True)
        assert getattr(created, "result_type", None) == "task", created
        await cancel_task(client.session, created.task_id)
        task = await poll_task(client.session, created.task_id, within_s=20)
    assert task["status"] == "cancelled", task
    tasks["consensus"] = created.task_id


@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                    reason="node or npm is not installed")
def test_a_node_client_with_the_ext_tasks_package_drives_a_task(
    aura: spine.Aura, token: str, hired: dict[str, dict[str, Any]], sleeper: str
) -> None:
    # Installed by scripts/test.sh, not here: tests talk only to 127.0.0.1, npm to its registry.
    if not (NODE_CLIENT / "node_modules" / "@modelcontextprotocol" / "ext-tasks").is_dir():
        pytest.fail(f"the Node client's packages are missing: run `npm ci --prefix "
                    f"{NODE_CLIENT}` (scripts/test.sh does)")
    run = subprocess.run(
        ["node", str(NODE_CLIENT / "client.mjs"), f"{aura.mcp}/mcp", token, spine.CLI_EMPLOYEE,
         sleeper, str(spine._project(aura))],
        capture_output=True, text=True, timeout=90, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines() == [
        "completed succeeded", "cancelled", "plain without the extension"], run.stdout


# Last: stops the module's process and starts another one on the same data.
async def test_tasks_are_read_after_a_restart(
    aura: spine.Aura, token: str, tasks: dict[str, str]
) -> None:
    assert set(tasks) == {"completed", "cancelled", "consensus"}, \
        "the tests above did not all pass"
    aura.stop_and_check()
    await asyncio.to_thread(aura.start)
    async with tasks_client(aura, token) as client:
        completed = await get_task(client.session, tasks["completed"])
        cancelled = await get_task(client.session, tasks["cancelled"])
        consensus = await get_task(client.session, tasks["consensus"])
        # Unknown ids stay unknown after a restart too.
        with pytest.raises(Exception, match="Task not found"):
            await get_task(client.session, str(uuid.uuid4()))
    assert completed["status"] == "completed"
    assert completed["result"]["structuredContent"]["status"] == "succeeded"
    assert cancelled["status"] == "cancelled"
    assert consensus["status"] == "cancelled" and "2 of 2 done" in consensus["statusMessage"]
