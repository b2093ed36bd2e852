"""The openai employee, through the official `openai` client, against the fake
OpenAI-compatible server on loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from orchestra.employees.base import EmployeeFailed, EmployeeTimeout, WorkRequest
from orchestra.employees.factory import build_adapter
from orchestra.employees.openai_compat import DEFAULT_BASE_URL, OpenAIEmployee
from orchestra.errors import InvalidInput
from orchestra.models import Adapter, Employee
from orchestra.runlog import RunLog
from tests.fakes.openai_server import FakeOpenAI

MODEL = "gpt-test"
KEY = "sk-test-0123456789abcdef"
KEY_ENV = "TEST_OPENAI_KEY"


@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI([MODEL], api_key=KEY) as fake:
        yield fake


@pytest.fixture
def fake(openai_server: FakeOpenAI) -> FakeOpenAI:
    openai_server.reset()
    return openai_server


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


def employee_at(url: str, key_env: str | None = KEY_ENV) -> Employee:
    return Employee(name="gpt", adapter=Adapter.OPENAI, model=MODEL, base_url=url,
                    api_key_env=key_env)


@pytest.fixture
async def gpt(fake: FakeOpenAI, key: str) -> AsyncIterator[OpenAIEmployee]:
    adapter = OpenAIEmployee(employee_at(fake.url), backoff_s=0.01)
    yield adapter
    await adapter.aclose()


@pytest.fixture
def runlog(tmp_path: Path) -> RunLog:
    return RunLog(tmp_path / "job" / "runlog.txt")


def logged(runlog: RunLog) -> str:
    return runlog.path.read_text()


def ask(prompt: str, timeout_s: float = 10.0, cap: int = 4096) -> WorkRequest:
    return WorkRequest(prompt=prompt, copy=None, timeout_s=timeout_s, max_output_tokens=cap)


async def test_work_returns_the_streamed_reply_and_the_usage_chunk(
    gpt: OpenAIEmployee, runlog: RunLog
) -> None:
    result = await gpt.work(ask("add two numbers please"), runlog)

    assert result.text == "echo: add two numbers please"
    assert (result.usage.tokens_in, result.usage.tokens_out) == (4, 5)
    assert result.metered and result.exit_code is None
    assert "REPLY from gpt" in logged(runlog)


async def test_work_streams_with_usage_sends_the_cap_and_the_key_from_the_environment(
    gpt: OpenAIEmployee, fake: FakeOpenAI, runlog: RunLog
) -> None:
    await gpt.work(ask("hello", cap=77), runlog)

    (call,) = fake.completions()
    assert call.key == KEY and call.body is not None
    assert call.body["messages"] == [{"role": "user", "content": "hello"}]
    assert call.body["stream"] is True
    assert call.body["stream_options"] == {"include_usage": True}
    # A compatible server, not api.openai.com: the field every such server reads.
    assert call.body["max_tokens"] == 77 and "max_completion_tokens" not in call.body
    assert KEY not in logged(runlog)


async def test_a_multi_line_reply_is_assembled_from_its_chunks(
    gpt: OpenAIEmployee, fake: FakeOpenAI, runlog: RunLog
) -> None:
    fake.script(MODEL, "def add(a, b):\n    return a + b\n")
    result = await gpt.work(ask("write add"), runlog)
    assert result.text == "def add(a, b):\n    return a + b\n"
    assert result.usage.tokens_out == 7


async def test_a_reply_cut_at_the_output_cap_is_noted_in_the_run_log(
    gpt: OpenAIEmployee, fake: FakeOpenAI, runlog: RunLog
) -> None:
    fake.script(MODEL, " ".join(f"w{i}" for i in range(20)))
    result = await gpt.work(ask("long", cap=5), runlog)
    assert result.text == "w0 w1 w2 w3 w4" and result.usage.tokens_out == 5
    assert "REPLY CUT from gpt" in logged(runlog)
    assert "output cap of 5 tokens" in logged(runlog)


async def test_a_429_with_retry_after_is_waited_out_and_retried(
    gpt: OpenAIEmployee, fake: FakeOpenAI, runlog: RunLog
) -> None:
    fake.fail_next(429, retry_after=0.3)
    started = time.monotonic()
    result = await gpt.work(ask("busy?"), runlog)
    assert result.text == "echo: busy?"
    assert time.monotonic() - started >= 0.3
    assert len(fake.completions()) == 2
    assert "answered HTTP 429: Rate limit reached for requests; attempt 2 of 4 in 0.3s" \
        in logged(runlog)


async def test_a_server_error_is_retried_three_times_then_named_with_host_status_and_message(
    gpt: OpenAIEmployee, fake: FakeOpenAI, runlog: RunLog
) -> None:
    fake.fail_next(500, message="the GPU caught fire", times=10)
    with pytest.raises(EmployeeFailed) as caught:
        await gpt.work(ask("hello"), runlog)
    message = str(caught.value)
    host = f"127.0.0.1:{fake.port}"
    assert f"{host} answered HTTP 500: the GPU caught fire (after 4 attempts)" in message
    assert "employee 'gpt'" in message
    assert len(fake.completions()) == 4
    assert "ERROR from gpt" in logged(runlog)


async def test_a_retry_after_past_the_timeout_gives_up_at_once(
    gpt: OpenAIEmployee, fake: FakeOpenAI, runlog: RunLog
) -> None:
    fake.fail_next(429, retry_after=60)
    started = time.monotonic()
    with pytest.raises(EmployeeFailed, match="HTTP 429: Rate limit reached"):
        await gpt.work(ask("hello", timeout_s=5), runlog)
    assert time.monotonic() - started < 2 and len(fake.completions()) == 1


async def test_a_wrong_key_is_refused_once_with_the_providers_words_and_not_the_key(
    fake: FakeOpenAI, runlog: RunLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "sk-wrong-key-that-must-not-leak"
    monkeypatch.setenv(KEY_ENV, wrong)
    adapter = OpenAIEmployee(employee_at(fake.url))
    try:
        with pytest.raises(EmployeeFailed) as caught:
            await adapter.work(ask("hello"), runlog)
    finally:
        await adapter.aclose()
    message = str(caught.value)
    assert "HTTP 401: Incorrect API key provided" in message
    assert wrong not in message and wrong not in logged(runlog)
    assert len(fake.completions()) == 1  # not retried


async def test_a_missing_key_variable_is_named_and_nothing_is_sent(
    fake: FakeOpenAI, runlog: RunLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    adapter = OpenAIEmployee(employee_at(fake.url))
    try:
        with pytest.raises(EmployeeFailed, match=f"environment variable {KEY_ENV}, which is "
                           "not set"):
            await adapter.work(ask("hello"), runlog)
    finally:
        await adapter.aclose()
    assert fake.completions() == []


async def test_a_key_in_a_service_variable_is_refused_and_nothing_is_sent(
    fake: FakeOpenAI, runlog: RunLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A row hired before the hire refused AURA_* names must not send the Director key away.
    monkeypatch.setenv("AURA_DIRECTOR_KEY", "director-secret")
    adapter = OpenAIEmployee(employee_at(fake.url, key_env="AURA_DIRECTOR_KEY"))
    try:
        with pytest.raises(EmployeeFailed, match="AURA_DIRECTOR_KEY, a variable of the service "
                           "itself") as caught:
            await adapter.work(ask("hello"), runlog)
    finally:
        await adapter.aclose()
    assert "director-secret" not in str(caught.value)
    assert fake.completions() == []


async def test_a_slow_provider_raises_employee_timeout(
    gpt: OpenAIEmployee, fake: FakeOpenAI, runlog: RunLog
) -> None:
    fake.delay(MODEL, 3)
    with pytest.raises(EmployeeTimeout, match=r"did not answer within 0\.3s"):
        await gpt.work(ask("slow", timeout_s=0.3), runlog)
    assert "TIMEOUT gpt" in logged(runlog)


async def test_an_unknown_model_is_named_in_the_providers_words(
    fake: FakeOpenAI, key: str, runlog: RunLog
) -> None:
    employee = Employee(name="gpt", adapter=Adapter.OPENAI, model="gpt-missing",
                        base_url=fake.url, api_key_env=KEY_ENV)
    adapter = OpenAIEmployee(employee)
    try:
        with pytest.raises(EmployeeFailed, match="HTTP 404: The model `gpt-missing` does not"):
            await adapter.work(ask("hello"), runlog)
    finally:
        await adapter.aclose()


async def test_a_server_without_usage_leaves_the_call_unmetered(
    runlog: RunLog, key: str
) -> None:
    with FakeOpenAI([MODEL], api_key=KEY, usage=False) as bare:
        adapter = OpenAIEmployee(employee_at(bare.url))
        try:
            result = await adapter.work(ask("hello there"), runlog)
        finally:
            await adapter.aclose()
    assert result.text == "echo: hello there" and not result.metered
    assert "UNMETERED gpt" in logged(runlog)


async def test_a_server_that_needs_no_key_is_called_without_one(runlog: RunLog) -> None:
    with FakeOpenAI([MODEL]) as local:
        adapter = OpenAIEmployee(employee_at(local.url, key_env=None))
        try:
            result = await adapter.work(ask("hi"), runlog)
        finally:
            await adapter.aclose()
    assert result.text == "echo: hi"


async def test_load_and_unload_send_nothing(gpt: OpenAIEmployee, fake: FakeOpenAI) -> None:
    await gpt.load()
    await gpt.unload()
    assert fake.requests == []


def test_factory_builds_openai_employees_defaulting_to_openais_api() -> None:
    employee = Employee(name="g", adapter=Adapter.OPENAI, model="gpt-4o-mini",
                        api_key_env="OPENAI_API_KEY")
    adapter = build_adapter(employee, ollama_url="http://x")
    assert isinstance(adapter, OpenAIEmployee)
    assert adapter.base_url == DEFAULT_BASE_URL and adapter.host == "api.openai.com"


def test_an_openai_employee_without_a_model_is_refused() -> None:
    with pytest.raises(InvalidInput, match="names no model"):
        OpenAIEmployee(Employee(name="g", adapter=Adapter.OPENAI))
