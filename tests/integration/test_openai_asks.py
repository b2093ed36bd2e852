"""Asks answered end to end by an openai employee: MCP in-memory client → queue → worker →
the official `openai` client → the fake OpenAI-compatible server, with the accountant
charging its price and budgets admitting or refusing the call."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from mcp.client.client import Client

from governance.budgets import BudgetSpec
from mcp_server.app import System
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.helpers import hire, running_worker
from tests.integration.test_mcp_tools import call, tool_error

MODEL = "gpt-test"
KEY = "sk-integration-0123456789"
KEY_ENV = "TEST_OPENAI_KEY"
# 0.0001 USD a token in, 0.05 USD a token out; the reply is cut at 10 tokens. The worst case
# stays under the policy's 1.00 USD above which a job waits for the Director.
PRICE_IN, PRICE_OUT, CAP = "100", "50000", 10
LONG_REPLY = " ".join(f"w{i}" for i in range(50))


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv(KEY_ENV, KEY)
    with FakeOpenAI([MODEL], api_key=KEY) as fake:
        fake.script(MODEL, LONG_REPLY)
        yield fake


async def _hire_gpt(system: System, fake: FakeOpenAI) -> None:
    await hire(system.db, "gpt", "openai", model=MODEL, base_url=fake.url, api_key_env=KEY_ENV,
               price_in=PRICE_IN, price_out=PRICE_OUT, max_output_tokens=CAP)


async def _spent(system: System) -> Decimal:
    async with system.db.connection() as conn:
        spent = await conn.fetchval(
            "SELECT coalesce(sum(cost), 0) FROM ledger WHERE kind = 'call'")
    assert isinstance(spent, Decimal)
    return spent


async def test_ask_is_answered_by_the_openai_employee_and_charged_its_price(
    system: System, openai_server: FakeOpenAI
) -> None:
    await _hire_gpt(system, openai_server)
    await system.budgets.put(BudgetSpec("monthly", "global", "10"), actor="director")
    async with running_worker(system), Client(system.mcp_server()) as client:
        answer = await call(client, "ask", prompt="what is two plus two", employee="gpt")
        job = await call(client, "get_job", job_id=answer["job_id"])
    assert answer["answered"], (answer, job)
    assert answer["answer"] == " ".join(LONG_REPLY.split()[:CAP])
    assert job["status"] == "succeeded"
    assert (job["tokens_in"], job["tokens_out"]) == (5, CAP)
    # 5 tokens in at 0.0001 and 10 out at 0.05: what the usage chunk said, at the hire's price.
    assert await _spent(system) == Decimal("0.5005")
    (sent,) = openai_server.completions()
    assert sent.key == KEY and sent.body is not None and sent.body["max_tokens"] == CAP


async def test_a_budget_too_small_for_the_worst_case_refuses_before_any_call(
    system: System, openai_server: FakeOpenAI
) -> None:
    await _hire_gpt(system, openai_server)
    # The worst case is at least the output cap's 0.50 USD.
    await system.budgets.put(BudgetSpec("tight", "global", "0.40"), actor="director")
    async with running_worker(system), Client(system.mcp_server()) as client:
        message = await tool_error(client, "ask", prompt="hello", employee="gpt")
    assert "budget_exceeded" in message and "'tight' (global)" in message
    assert openai_server.completions() == []
    assert await _spent(system) == 0


async def test_a_provider_failure_reaches_the_caller_with_host_status_and_message(
    system: System, openai_server: FakeOpenAI
) -> None:
    await _hire_gpt(system, openai_server)
    openai_server.fail_next(401, message="Incorrect API key provided: sk-***6789.")
    async with running_worker(system), Client(system.mcp_server()) as client:
        answer = await call(client, "ask", prompt="hello", employee="gpt")
        job = await call(client, "get_job", job_id=answer["job_id"])
    assert job["status"] == "failed"
    assert f"127.0.0.1:{openai_server.port} answered HTTP 401: Incorrect API key" \
        in str(job["error"])
