"""An `ask` over MCP answered by a Gemini employee: the official client against the fake
Gemini API, the call charged at the employee's prices."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from mcp.client.client import Client

from mcp_server.app import System
from tests.fakes.gemini_server import FakeGemini
from tests.integration.helpers import hire, running_worker

MODEL = "gemini-2.5-flash"
KEY = "AIza-integration-not-real"
KEY_ENV = "TEST_GEMINI_KEY"


@pytest.fixture
def gemini(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGemini]:
    monkeypatch.setenv(KEY_ENV, KEY)
    with FakeGemini(KEY, [MODEL]) as fake:
        yield fake


async def _ask(client: Client, **arguments: Any) -> Any:
    result = await client.call_tool("ask", arguments)
    assert not result.is_error, result.content
    return result.structured_content


async def test_ask_is_answered_by_a_gemini_employee_and_charged_at_its_prices(
    system: System, gemini: FakeGemini
) -> None:
    # 0.001 USD per token in, 0.02 out (a worst case under the policy's 1.00 USD approval
    # threshold): five words in, six out, so 0.005 + 0.12.
    await hire(system.db, "gem", "gemini", model=MODEL, base_url=gemini.url,
               api_key_env=KEY_ENV, price_in="1000", price_out="20000",
               max_output_tokens=10)
    async with running_worker(system), Client(system.mcp_server()) as client:
        answer = await _ask(client, prompt="what is two plus two", employee="gem")
        result = await client.call_tool("get_job", {"job_id": answer["job_id"]})
    job = result.structured_content
    assert answer["answered"] and answer["answer"] == "echo: what is two plus two"
    assert job is not None and job["status"] == "succeeded"
    assert (job["tokens_in"], job["tokens_out"]) == (5, 6)
    assert Decimal(job["cost"]) == Decimal("0.125")
    (call,) = gemini.requests
    assert call.body is not None and call.body["generationConfig"] == {"maxOutputTokens": 10}


async def test_a_blocked_prompt_fails_the_job_naming_the_reason(
    system: System, gemini: FakeGemini
) -> None:
    await hire(system.db, "gem", "gemini", model=MODEL, base_url=gemini.url,
               api_key_env=KEY_ENV)
    gemini.block_next("SAFETY")
    async with running_worker(system), Client(system.mcp_server()) as client:
        answer = await _ask(client, prompt="something", employee="gem")
    assert not answer["answered"] and answer["answer"] is None
    assert answer["status"] == "failed"
    assert answer["error"].endswith("gave no answer: the prompt was blocked: SAFETY")
