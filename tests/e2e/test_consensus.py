"""`consensus` end to end: `aura serve` and `aura worker` processes on this test's database, an
IDE's MCP client over streamable HTTP with a token, and three employees behind their official
clients (Ollama, an OpenAI-compatible server, Gemini), each a fake on 127.0.0.1. One is
late: the call comes back within its time budget with the others' answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from governance.access import TokenRegistry
from governance.auditor import Auditor
from orchestra.store.db import Database
from tests.e2e.conftest import REPO_ROOT, Workers
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.ollama_server import FakeOllama
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.helpers import hire

pytestmark = pytest.mark.e2e

OPENAI_KEY, OPENAI_KEY_ENV = "sk-e2e-consensus-0123456789", "TEST_OPENAI_KEY"
GEMINI_KEY, GEMINI_KEY_ENV = "AIza-e2e-consensus-not-real", "TEST_GEMINI_KEY"
GEMINI_MODEL = "gemini-2.5-flash"
BUDGET_S = 2.0
LATE_S = 6.0  # the Gemini member's delay: well past the budget
# Beyond the budget: the last look at the jobs and the answer over HTTP.
MARGIN_S = 1.5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_serve(workers: Workers) -> str:
    """`aura serve` (API and MCP, no worker) as a process of the group; its MCP base URL."""
    api_port, mcp_port = _free_port(), _free_port()
    env = workers.env(len(workers.procs)) | {
        "AURA_API_PORT": str(api_port), "AURA_MCP_PORT": str(mcp_port)}
    with (workers.root / "serve.log").open("wb") as log:
        workers.procs.append(subprocess.Popen(
            [sys.executable, "-m", "mcp_server.cli", "serve"], cwd=REPO_ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT))
    return f"http://127.0.0.1:{mcp_port}"


async def _ready(workers: Workers, url: str) -> str:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/ready")).status_code == 200:
                    return url
            await asyncio.sleep(0.1)
    pytest.fail(f"aura serve was not ready:\n{(workers.root / 'serve.log').read_text()}")


@contextlib.asynccontextmanager
async def _ide(url: str, token: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        yield client


async def _call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return dict(result.structured_content or {})


async def test_consensus_across_three_providers_returns_partial_answers_in_time(
    workers: Workers, db: Database
) -> None:
    with FakeOllama(["llama"]) as ollama, \
            FakeOpenAI(["gpt-test"], api_key=OPENAI_KEY) as openai_server, \
            FakeGemini(GEMINI_KEY, [GEMINI_MODEL]) as gemini:
        gemini.delay(GEMINI_MODEL, LATE_S)
        await hire(db, "llama", "ollama")
        await hire(db, "gpt", "openai", model="gpt-test", base_url=openai_server.url,
                   api_key_env=OPENAI_KEY_ENV)
        await hire(db, "gem", "gemini", model=GEMINI_MODEL, base_url=gemini.url,
                   api_key_env=GEMINI_KEY_ENV)
        token = (await TokenRegistry(db, Auditor()).create("e2e-ide", actor="test")).token
        workers.extra_env.update({"AURA_OLLAMA_URL": ollama.url, OPENAI_KEY_ENV: OPENAI_KEY,
                                  GEMINI_KEY_ENV: GEMINI_KEY})
        workers.start(1)
        url = await _ready(workers, _start_serve(workers))
        async with _ide(url, token) as client:
            # A first question loads each employee, so the timed one measures answering.
            warm = await _call(client, "consensus", prompt="warm up",
                               employees=["llama", "gpt"], timeout_s=30)
            assert warm["complete"], (warm, workers.logs())
            started = time.monotonic()
            result = await _call(client, "consensus", prompt="two plus two",
                                 employees=["llama", "gpt", "gem"], timeout_s=BUDGET_S)
            elapsed = time.monotonic() - started
            answers = {a["employee"]: a for a in result["answers"]}
            late = await _call(client, "wait_job", job_id=answers["gem"]["job_id"],
                               timeout_s=30)
            reread = await client.read_resource(f"aura://consensus/{result['consensus_id']}")
    print(f"\nconsensus over streamable HTTP, budget {BUDGET_S}s: returned in {elapsed:.2f}s")
    assert BUDGET_S <= elapsed < BUDGET_S + MARGIN_S, (elapsed, workers.logs())
    assert result["complete"] is False
    assert answers["llama"]["status"] == answers["gpt"]["status"] == "succeeded", answers
    assert answers["llama"]["answer"] and answers["gpt"]["answer"]
    assert answers["gem"]["status"] in ("queued", "running") and answers["gem"]["answer"] is None
    assert late["status"] == "succeeded" and late["output"] == "echo: two plus two"
    whole = {a["employee"]: a for a in json.loads(reread.contents[0].text)["answers"]}
    assert whole["gem"]["answer"] == "echo: two plus two"
    assert whole["gem"]["latency_ms"] >= LATE_S * 1000
