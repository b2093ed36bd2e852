"""The Gemini employee, through the official `google-genai` client, against the fake Gemini
API on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from google import genai
from google.genai import types

from orchestra.employees.base import EmployeeFailed, EmployeeTimeout, WorkRequest
from orchestra.employees.factory import build_adapter
from orchestra.employees.gemini import DEFAULT_BASE_URL, GeminiEmployee
from orchestra.errors import InvalidInput
from orchestra.models import Adapter, Employee
from orchestra.roster import HireRequest, validate_hire
from orchestra.runlog import RunLog
from tests.fakes.gemini_server import FakeGemini

MODEL = "gemini-2.5-flash"
KEY = "AIza-test-key-not-real"
KEY_ENV = "TEST_GEMINI_KEY"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGemini]:
    with FakeGemini(KEY, [MODEL]) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> FakeGemini:
    server.reset()
    monkeypatch.setenv(KEY_ENV, KEY)
    return server


def employee(url: str, *, model: str = MODEL, key_env: str | None = KEY_ENV) -> Employee:
    return Employee(name="gem", adapter=Adapter.GEMINI, model=model, base_url=url,
                    api_key_env=key_env)


@pytest.fixture
async def gem(fake: FakeGemini) -> AsyncIterator[GeminiEmployee]:
    adapter = GeminiEmployee(employee(fake.url))
    yield adapter
    await adapter.aclose()


@pytest.fixture
def runlog(tmp_path: Path) -> RunLog:
    return RunLog(tmp_path / "job" / "runlog.txt")


def ask(prompt: str, *, timeout_s: float = 10.0, cap: int = 4096) -> WorkRequest:
    return WorkRequest(prompt=prompt, copy=None, timeout_s=timeout_s, max_output_tokens=cap)


async def test_work_returns_the_reply_and_the_token_counts(
    gem: GeminiEmployee, fake: FakeGemini, runlog: RunLog
) -> None:
    result = await gem.work(ask("add two numbers please"), runlog)

    assert result.text == "echo: add two numbers please"
    assert (result.usage.tokens_in, result.usage.tokens_out) == (4, 5)
    assert result.metered and result.exit_code is None
    log = runlog.path.read_text()
    assert log.index(f"PROMPT to gem (gemini {MODEL})") < log.index("REPLY from gem\necho: add")
    assert "REPLY CUT" not in log


async def test_work_sends_one_user_turn_with_the_output_cap_and_the_key_in_a_header(
    gem: GeminiEmployee, fake: FakeGemini, runlog: RunLog
) -> None:
    await gem.work(ask("hello", cap=77), runlog)

    (call,) = fake.requests
    assert call.path == f"/v1beta/models/{MODEL}:generateContent"
    assert call.headers["x-goog-api-key"] == KEY and "key" not in call.query
    assert call.body == {"contents": [{"parts": [{"text": "hello"}], "role": "user"}],
                         "generationConfig": {"maxOutputTokens": 77}}
    assert KEY not in runlog.path.read_text()


async def test_a_reply_cut_at_the_output_cap_is_noted_in_the_run_log(
    gem: GeminiEmployee, fake: FakeGemini, runlog: RunLog
) -> None:
    fake.script(MODEL, "one two three four five six")
    result = await gem.work(ask("count", cap=3), runlog)

    assert result.text == "one two three" and result.usage.tokens_out == 3
    assert "REPLY CUT from gem\nthe reply reached the output cap of 3 tokens" in (
        runlog.path.read_text())


async def test_a_blocked_prompt_is_a_failure_naming_the_reason(
    gem: GeminiEmployee, fake: FakeGemini, runlog: RunLog
) -> None:
    fake.block_next("PROHIBITED_CONTENT")
    with pytest.raises(EmployeeFailed, match="the prompt was blocked: PROHIBITED_CONTENT"):
        await gem.work(ask("something forbidden"), runlog)
    assert "BLOCKED gem" in runlog.path.read_text()


async def test_a_reply_stopped_by_safety_is_a_failure_naming_the_reason(
    gem: GeminiEmployee, fake: FakeGemini, runlog: RunLog
) -> None:
    fake.finish_next("SAFETY")
    with pytest.raises(EmployeeFailed, match="the reply was stopped: finish reason SAFETY"):
        await gem.work(ask("something risky"), runlog)


async def test_an_empty_reply_is_a_failure_not_an_empty_answer(
    gem: GeminiEmployee, fake: FakeGemini, runlog: RunLog
) -> None:
    fake.script(MODEL, "")
    with pytest.raises(EmployeeFailed, match="the reply is empty"):
        await gem.work(ask("say nothing"), runlog)


async def test_a_wrong_key_fails_naming_the_host_status_and_message(
    gem: GeminiEmployee, fake: FakeGemini, runlog: RunLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "AIza-wrong")
    with pytest.raises(EmployeeFailed) as failure:
        await gem.work(ask("hello"), runlog)
    message = str(failure.value)
    assert f"at 127.0.0.1:{fake.port}" in message and "'gem'" in message
    assert "HTTP 400 INVALID_ARGUMENT: API key not valid" in message
    assert "AIza-wrong" not in message and "AIza-wrong" not in runlog.path.read_text()
    assert "ERROR from gem" in runlog.path.read_text()


async def test_a_missing_key_variable_fails_naming_it_without_calling(
    gem: GeminiEmployee, fake: FakeGemini, runlog: RunLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(EmployeeFailed, match=rf"\${KEY_ENV}, which is not set"):
        await gem.work(ask("hello"), runlog)
    assert fake.requests == []


async def test_a_key_in_a_service_variable_is_refused_and_nothing_is_sent(
    fake: FakeGemini, runlog: RunLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A row hired before the hire refused AURA_* names must not leak the service's secrets.
    monkeypatch.setenv("aura_director_key", "director-secret")
    adapter = GeminiEmployee(employee(fake.url, key_env="aura_director_key"))
    try:
        with pytest.raises(EmployeeFailed, match="never given to an employee") as caught:
            await adapter.work(ask("hello"), runlog)
    finally:
        await adapter.aclose()
    assert "director-secret" not in str(caught.value)
    assert fake.requests == []


async def test_the_key_is_read_when_each_call_is_made(
    gem: GeminiEmployee, fake: FakeGemini, runlog: RunLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "AIza-old")
    with pytest.raises(EmployeeFailed, match="API key not valid"):
        await gem.work(ask("hello"), runlog)
    monkeypatch.setenv(KEY_ENV, KEY)  # rotated: no new adapter needed
    assert (await gem.work(ask("hello"), runlog)).text == "echo: hello"


async def test_an_unknown_model_fails_with_the_api_message(
    fake: FakeGemini, runlog: RunLog
) -> None:
    ghost = GeminiEmployee(employee(fake.url, model="gemini-0-nothing"))
    with pytest.raises(EmployeeFailed, match="HTTP 404 NOT_FOUND: models/gemini-0-nothing is"):
        await ghost.work(ask("anyone?"), runlog)
    await ghost.aclose()


async def test_work_slower_than_the_timeout_raises_employee_timeout(
    gem: GeminiEmployee, fake: FakeGemini, runlog: RunLog
) -> None:
    fake.delay(MODEL, 5)
    start = time.monotonic()
    with pytest.raises(EmployeeTimeout, match=r"did not answer within 0\.3s"):
        await gem.work(ask("slow one", timeout_s=0.3), runlog)
    assert time.monotonic() - start < 2
    assert "TIMEOUT gem" in runlog.path.read_text()


async def test_an_unreachable_server_fails_with_employee_failed(
    fake: FakeGemini, runlog: RunLog
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = GeminiEmployee(employee(f"http://127.0.0.1:{port}"))
    with pytest.raises(EmployeeFailed, match=f"at 127.0.0.1:{port}\\) could not answer") as exc:
        await adapter.work(ask("hello?"), runlog)
    await adapter.aclose()
    assert not isinstance(exc.value, EmployeeTimeout)


def test_thinking_tokens_count_as_output() -> None:
    from orchestra.employees.gemini import _usage

    usage = _usage(types.GenerateContentResponseUsageMetadata(
        prompt_token_count=10, candidates_token_count=5, thoughts_token_count=20))
    assert (usage.tokens_in, usage.tokens_out) == (10, 25)


# ---------------------------------------------------------------- factory and hiring


def test_factory_builds_gemini_employees_on_google_unless_they_name_a_url() -> None:
    plain = build_adapter(employee(""), ollama_url="http://x")
    own = build_adapter(employee("http://127.0.0.1:9"), ollama_url="http://x")
    assert isinstance(plain, GeminiEmployee) and plain.base_url == DEFAULT_BASE_URL
    assert isinstance(own, GeminiEmployee) and own.base_url == "http://127.0.0.1:9"


def test_a_gemini_employee_without_a_model_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="names no model"):
        GeminiEmployee(Employee(name="blank", adapter=Adapter.GEMINI))


@pytest.mark.parametrize("fields, message", [
    ({"model": None}, "a gemini employee needs a model"),
    ({"api_key_env": None}, "a gemini employee needs api_key_env"),
    ({"api_key_env": "AIzaSy-abc"}, "must name an environment variable, not hold a key"),
])
def test_hiring_a_gemini_employee_needs_a_model_and_a_key_variable(
    fields: dict[str, object], message: str
) -> None:
    base: dict[str, object] = {"name": "gem", "adapter": "gemini", "model": MODEL,
                               "api_key_env": "GEMINI_API_KEY"}
    with pytest.raises(InvalidInput, match=message):
        validate_hire(HireRequest(**{**base, **fields}))  # type: ignore[arg-type]
    hired = validate_hire(HireRequest(**base))  # type: ignore[arg-type]
    assert hired.adapter is Adapter.GEMINI and hired.api_key_env == "GEMINI_API_KEY"


# ------------------------------------------------------------------------ the fake


async def test_the_fake_streams_server_sent_events_to_the_official_client(
    fake: FakeGemini,
) -> None:
    fake.script(MODEL, "alpha beta gamma")
    client = genai.Client(vertexai=False, api_key=KEY, http_options=types.HttpOptions(
        base_url=fake.url, api_version="v1beta"))
    async with client.aio as aio:
        chunks = [c async for c in await aio.models.generate_content_stream(
            model=MODEL, contents="go")]
    assert "".join(c.text or "" for c in chunks) == "alpha beta gamma"
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata and last.usage_metadata.candidates_token_count == 3
    assert fake.requests[-1].query.get("alt") == "sse"


def test_the_fake_takes_the_key_as_a_query_parameter_and_refuses_none(
    fake: FakeGemini,
) -> None:
    url = f"{fake.url}/v1beta/models/{MODEL}:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi there"}]}]}
    answered = httpx.post(url, params={"key": KEY}, json=body)
    anonymous = httpx.post(url, json=body)
    assert answered.status_code == 200
    assert answered.json()["usageMetadata"]["promptTokenCount"] == 2
    assert anonymous.status_code == 403
    assert anonymous.json()["error"]["status"] == "PERMISSION_DENIED"
